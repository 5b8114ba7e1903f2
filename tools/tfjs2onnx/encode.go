package main

import (
	"encoding/binary"
	"math"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers and enums of onnx.proto that the encoder writes.
const (
	onnxFloat = 1
	onnxInt64 = 7

	attrFloat  = 1
	attrInt    = 2
	attrString = 3
	attrInts   = 7

	irVersion = 7
	opset     = 11 // Resize with sizes, Pad with pads as an input
)

func (g *graph) encode() []byte {
	var gr []byte
	for _, n := range g.nodes {
		gr = protowire.AppendTag(gr, 1, protowire.BytesType)
		gr = protowire.AppendBytes(gr, encodeNode(n))
	}
	gr = appendString(gr, 2, "tfjs2onnx")
	names := make([]string, 0, len(g.inits))
	for name := range g.inits {
		names = append(names, name)
	}
	slices.Sort(names) // the same input gives the same bytes
	for _, name := range names {
		gr = protowire.AppendTag(gr, 5, protowire.BytesType)
		gr = protowire.AppendBytes(gr, encodeTensor(name, g.inits[name]))
	}
	gr = protowire.AppendTag(gr, 11, protowire.BytesType)
	gr = protowire.AppendBytes(gr, valueInfo(g.input, g.inShape))
	for _, o := range g.outputs {
		gr = protowire.AppendTag(gr, 12, protowire.BytesType)
		gr = protowire.AppendBytes(gr, valueInfo(o, g.shapes[o]))
	}

	var m []byte
	m = protowire.AppendTag(m, 1, protowire.VarintType)
	m = protowire.AppendVarint(m, irVersion)
	m = appendString(m, 2, "edgetriage tools/tfjs2onnx")
	m = protowire.AppendTag(m, 7, protowire.BytesType)
	m = protowire.AppendBytes(m, gr)
	var op []byte
	op = appendString(op, 1, "")
	op = protowire.AppendTag(op, 2, protowire.VarintType)
	op = protowire.AppendVarint(op, opset)
	m = protowire.AppendTag(m, 8, protowire.BytesType)
	m = protowire.AppendBytes(m, op)
	return m
}

func appendString(b []byte, field protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, field, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func encodeNode(n *onnxNode) []byte {
	var b []byte
	for _, in := range n.inputs {
		b = appendString(b, 1, in)
	}
	for _, out := range n.outputs {
		b = appendString(b, 2, out)
	}
	b = appendString(b, 3, n.outputs[0])
	b = appendString(b, 4, n.op)
	keys := make([]string, 0, len(n.attrs))
	for k := range n.attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendBytes(b, encodeAttr(k, n.attrs[k]))
	}
	return b
}

func encodeAttr(name string, v any) []byte {
	b := appendString(nil, 1, name)
	var typ uint64
	switch v := v.(type) {
	case float32:
		b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(v))
		typ = attrFloat
	case int64:
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(v))
		typ = attrInt
	case string:
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		b = protowire.AppendBytes(b, []byte(v))
		typ = attrString
	case []int64:
		for _, x := range v {
			b = protowire.AppendTag(b, 8, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(x))
		}
		typ = attrInts
	default:
		panic("tfjs2onnx: attribute of unsupported type") // a converter bug
	}
	b = protowire.AppendTag(b, 20, protowire.VarintType)
	return protowire.AppendVarint(b, typ)
}

func encodeTensor(name string, t tensor) []byte {
	var b []byte
	for _, d := range t.shape {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(d))
	}
	var raw []byte
	typ := uint64(onnxFloat)
	if t.i != nil {
		typ = onnxInt64
		for _, v := range t.i {
			raw = binary.LittleEndian.AppendUint64(raw, uint64(int64(v)))
		}
	} else {
		for _, v := range t.f {
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
		}
	}
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, typ)
	b = appendString(b, 8, name)
	b = protowire.AppendTag(b, 9, protowire.BytesType)
	return protowire.AppendBytes(b, raw)
}

// valueInfo describes a float tensor, with a shape when one is given.
func valueInfo(name string, shape []int64) []byte {
	var tt []byte
	tt = protowire.AppendTag(tt, 1, protowire.VarintType)
	tt = protowire.AppendVarint(tt, onnxFloat)
	if shape != nil {
		var sh []byte
		for _, d := range shape {
			var dim []byte
			dim = protowire.AppendTag(dim, 1, protowire.VarintType)
			dim = protowire.AppendVarint(dim, uint64(d))
			sh = protowire.AppendTag(sh, 1, protowire.BytesType)
			sh = protowire.AppendBytes(sh, dim)
		}
		tt = protowire.AppendTag(tt, 2, protowire.BytesType)
		tt = protowire.AppendBytes(tt, sh)
	}
	var tp []byte
	tp = protowire.AppendTag(tp, 1, protowire.BytesType)
	tp = protowire.AppendBytes(tp, tt)
	b := appendString(nil, 1, name)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendBytes(b, tp)
}
