package main

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
)

// tfNode is one node of the GraphDef that a TensorFlow.js graph model
// carries as JSON.
type tfNode struct {
	Name  string            `json:"name"`
	Op    string            `json:"op"`
	Input []string          `json:"input"`
	Attr  map[string]tfAttr `json:"attr"`
}

type tfAttr struct {
	S    string   `json:"s"` // base64 in the JSON mapping of protobuf bytes
	I    string   `json:"i"`
	F    *float64 `json:"f"`
	B    bool     `json:"b"`
	List struct {
		I []string `json:"i"`
	} `json:"list"`
	Shape struct {
		Dim []struct {
			Size string `json:"size"`
		} `json:"dim"`
	} `json:"shape"`
}

func (a tfAttr) str() string {
	b, err := base64.StdEncoding.DecodeString(a.S)
	if err != nil {
		return a.S
	}
	return string(b)
}

func (a tfAttr) ints() []int64 {
	out := make([]int64, len(a.List.I))
	for i, s := range a.List.I {
		fmt.Sscan(s, &out[i])
	}
	return out
}

// tensor is a constant of the model: float32 or int32 data with a shape.
type tensor struct {
	shape []int64
	f     []float32
	i     []int32
}

type model struct {
	nodes  map[string]*tfNode
	consts map[string]tensor
}

type weightSpec struct {
	Name         string  `json:"name"`
	Shape        []int64 `json:"shape"`
	Dtype        string  `json:"dtype"`
	Quantization *struct {
		Dtype string  `json:"dtype"`
		Scale float32 `json:"scale"`
		Min   float32 `json:"min"`
	} `json:"quantization"`
}

func loadModel(path string) (*model, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Format   string `json:"format"`
		Topology struct {
			Node []*tfNode `json:"node"`
		} `json:"modelTopology"`
		Manifest []struct {
			Paths   []string     `json:"paths"`
			Weights []weightSpec `json:"weights"`
		} `json:"weightsManifest"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if doc.Format != "graph-model" {
		return nil, fmt.Errorf("%s: format %q, want graph-model", path, doc.Format)
	}
	m := &model{nodes: map[string]*tfNode{}, consts: map[string]tensor{}}
	for _, n := range doc.Topology.Node {
		m.nodes[n.Name] = n
	}
	for _, group := range doc.Manifest {
		var data []byte
		for _, p := range group.Paths {
			b, err := os.ReadFile(filepath.Join(filepath.Dir(path), p))
			if err != nil {
				return nil, err
			}
			data = append(data, b...)
		}
		for _, w := range group.Weights {
			t, n, err := decodeWeight(w, data)
			if err != nil {
				return nil, fmt.Errorf("weight %s: %w", w.Name, err)
			}
			m.consts[w.Name] = t
			data = data[n:]
		}
	}
	return m, nil
}

func decodeWeight(w weightSpec, data []byte) (tensor, int, error) {
	count := 1
	for _, d := range w.Shape {
		count *= int(d)
	}
	t := tensor{shape: w.Shape}
	if w.Dtype == "int32" {
		t.i = []int32{}
	}
	stored := w.Dtype
	if w.Quantization != nil {
		stored = w.Quantization.Dtype
	}
	size := map[string]int{"float32": 4, "int32": 4, "float16": 2, "uint8": 1, "uint16": 2}[stored]
	if size == 0 {
		return t, 0, fmt.Errorf("unsupported stored type %s", stored)
	}
	n := count * size
	if len(data) < n {
		return t, 0, fmt.Errorf("weights file too short: need %d bytes, have %d", n, len(data))
	}
	for k := 0; k < count; k++ {
		b := data[k*size:]
		switch stored {
		case "float32":
			t.f = append(t.f, math.Float32frombits(binary.LittleEndian.Uint32(b)))
		case "int32":
			t.i = append(t.i, int32(binary.LittleEndian.Uint32(b)))
		case "float16":
			t.f = append(t.f, half(binary.LittleEndian.Uint16(b)))
		case "uint8":
			t.f = append(t.f, float32(b[0])*w.Quantization.Scale+w.Quantization.Min)
		case "uint16":
			t.f = append(t.f, float32(binary.LittleEndian.Uint16(b))*w.Quantization.Scale+w.Quantization.Min)
		}
	}
	if w.Dtype == "int32" && stored != "int32" {
		return t, 0, fmt.Errorf("quantised int32 weights are not supported")
	}
	return t, n, nil
}

// half widens an IEEE 754 binary16 value exactly.
func half(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0 && frac == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		f := float32(frac) / 1024 * float32(math.Pow(2, -14))
		if sign != 0 {
			return -f
		}
		return f
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | frac<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | frac<<13)
}
