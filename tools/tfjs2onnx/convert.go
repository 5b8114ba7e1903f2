package main

import (
	"fmt"
	"slices"
	"strings"
)

// onnxNode is one ONNX operator; attrs hold int64, []int64, float32 or
// string values.
type onnxNode struct {
	op      string
	inputs  []string
	outputs []string
	attrs   map[string]any
}

type graph struct {
	nodes   []*onnxNode
	inits   map[string]tensor // constants; int data is written as INT64
	input   string
	inShape []int64
	outputs []string
	shapes  map[string][]int64 // static shape of every converted tensor, TF layout
}

type converter struct {
	m    *model
	g    *graph
	done map[string]bool
	seq  int
}

var (
	toNCHW = []int64{0, 3, 1, 2}
	toNHWC = []int64{0, 2, 3, 1}
)

func convert(m *model, outputs []string) (*graph, error) {
	c := &converter{m: m, done: map[string]bool{},
		g: &graph{inits: map[string]tensor{}, shapes: map[string][]int64{}, outputs: outputs}}
	for _, o := range outputs {
		if err := c.visit(o); err != nil {
			return nil, err
		}
	}
	if c.g.input == "" {
		return nil, fmt.Errorf("the outputs depend on no input placeholder")
	}
	return c.g, nil
}

func (c *converter) tmp(base string) string {
	c.seq++
	return fmt.Sprintf("%s__%d", base, c.seq)
}

func (c *converter) emit(op string, in []string, out string, attrs map[string]any) {
	c.g.nodes = append(c.g.nodes, &onnxNode{op: op, inputs: in, outputs: []string{out}, attrs: attrs})
}

// visit converts the node that produces name, after its inputs.
func (c *converter) visit(name string) error {
	name = strings.TrimPrefix(name, "^")
	if c.done[name] {
		return nil
	}
	c.done[name] = true
	if t, ok := c.m.consts[name]; ok {
		c.g.inits[name] = t
		c.g.shapes[name] = t.shape
		return nil
	}
	n := c.m.nodes[name]
	if n == nil {
		return fmt.Errorf("no node or weight named %q", name)
	}
	for _, in := range n.Input {
		if _, isConst := c.m.consts[in]; isConst {
			continue // read directly by the op that needs it
		}
		if err := c.visit(in); err != nil {
			return err
		}
	}
	if err := c.node(n); err != nil {
		return fmt.Errorf("%s (%s): %w", n.Name, n.Op, err)
	}
	return nil
}

func (c *converter) constInts(name string) ([]int64, error) {
	t, ok := c.m.consts[name]
	if !ok || t.i == nil {
		return nil, fmt.Errorf("input %q must be a constant int tensor", name)
	}
	out := make([]int64, len(t.i))
	for i, v := range t.i {
		out[i] = int64(v)
	}
	return out, nil
}

func (c *converter) node(n *tfNode) error {
	g := c.g
	switch n.Op {
	case "Placeholder":
		for _, d := range n.Attr["shape"].Shape.Dim {
			var v int64
			fmt.Sscan(d.Size, &v)
			g.inShape = append(g.inShape, v)
		}
		g.input = n.Name
		g.shapes[n.Name] = g.inShape
	case "Identity":
		c.emit("Identity", n.Input[:1], n.Name, nil)
		g.shapes[n.Name] = g.shapes[n.Input[0]]
	case "Transpose":
		perm, err := c.constInts(n.Input[1])
		if err != nil {
			return err
		}
		c.emit("Transpose", n.Input[:1], n.Name, map[string]any{"perm": perm})
		g.shapes[n.Name] = permute(g.shapes[n.Input[0]], perm)
	case "Pad", "PadV2":
		return c.pad(n)
	case "LeakyRelu":
		c.emit("LeakyRelu", n.Input[:1], n.Name, map[string]any{"alpha": float32(*n.Attr["alpha"].F)})
		g.shapes[n.Name] = g.shapes[n.Input[0]]
	case "Add", "AddV2":
		return c.add(n)
	case "Conv2D":
		return c.conv(n, n.Name, "")
	case "MaxPool":
		return c.maxPool(n)
	case "ConcatV2":
		return c.concat(n)
	case "ResizeBilinear":
		return c.resize(n)
	default:
		return fmt.Errorf("op not supported")
	}
	return nil
}

func permute(s, perm []int64) []int64 {
	out := make([]int64, len(perm))
	for i, p := range perm {
		out[i] = s[p]
	}
	return out
}

func (c *converter) pad(n *tfNode) error {
	p, err := c.constInts(n.Input[1])
	if err != nil {
		return err
	}
	rank := len(p) / 2
	pads := make([]int64, 2*rank)
	shape := slices.Clone(c.g.shapes[n.Input[0]])
	for d := 0; d < rank; d++ {
		pads[d], pads[rank+d] = p[2*d], p[2*d+1]
		shape[d] += p[2*d] + p[2*d+1]
	}
	padsName := n.Name + "__pads"
	c.g.inits[padsName] = tensor{shape: []int64{int64(2 * rank)}, i: int32s(pads)}
	in := []string{n.Input[0], padsName}
	if n.Op == "PadV2" {
		v, ok := c.m.consts[n.Input[2]]
		if !ok || len(v.f) != 1 {
			return fmt.Errorf("constant_values must be a float scalar")
		}
		// OpenCV pads max-pooling inputs with this; -inf and the float16
		// widening of a large negative number pool the same.
		c.g.inits[n.Input[2]] = tensor{shape: []int64{}, f: v.f}
		in = append(in, n.Input[2])
	}
	c.emit("Pad", in, n.Name, map[string]any{"mode": "constant"})
	c.g.shapes[n.Name] = shape
	return nil
}

func int32s(v []int64) []int32 {
	out := make([]int32, len(v))
	for i, x := range v {
		out[i] = int32(x)
	}
	return out
}

// add folds a constant bias that follows a convolution into the
// convolution; anything else is an element-wise Add.
func (c *converter) add(n *tfNode) error {
	a, b := n.Input[0], n.Input[1]
	if bias, ok := c.m.consts[b]; ok {
		if conv := c.m.nodes[a]; conv != nil && conv.Op == "Conv2D" && len(bias.shape) == 1 {
			return c.conv(conv, n.Name, b)
		}
		return fmt.Errorf("Add of a constant that is not a convolution bias")
	}
	c.emit("Add", []string{a, b}, n.Name, nil)
	c.g.shapes[n.Name] = c.g.shapes[a]
	return nil
}

// conv writes an NHWC Conv2D as transpose, NCHW Conv (with bias, if given),
// transpose back. Its output is named out.
func (c *converter) conv(n *tfNode, out, bias string) error {
	if f := n.Attr["data_format"].str(); f != "NHWC" && f != "" {
		return fmt.Errorf("data_format %s not supported", f)
	}
	w, ok := c.m.consts[n.Input[1]]
	if !ok || len(w.shape) != 4 {
		return fmt.Errorf("filter %s must be a constant HWIO tensor", n.Input[1])
	}
	kh, kw, ci, co := w.shape[0], w.shape[1], w.shape[2], w.shape[3]
	oihw := make([]float32, len(w.f))
	for h := int64(0); h < kh; h++ {
		for x := int64(0); x < kw; x++ {
			for i := int64(0); i < ci; i++ {
				for o := int64(0); o < co; o++ {
					oihw[((o*ci+i)*kh+h)*kw+x] = w.f[((h*kw+x)*ci+i)*co+o]
				}
			}
		}
	}
	wName := n.Input[1] + "__oihw"
	c.g.inits[wName] = tensor{shape: []int64{co, ci, kh, kw}, f: oihw}
	strides := n.Attr["strides"].ints()
	dil := n.Attr["dilations"].ints()
	if len(dil) == 0 {
		dil = []int64{1, 1, 1, 1}
	}
	attrs := map[string]any{"kernel_shape": []int64{kh, kw}, "strides": strides[1:3], "dilations": dil[1:3]}
	in := c.g.shapes[n.Input[0]]
	shape := []int64{in[0], 0, 0, co}
	switch pad := n.Attr["padding"].str(); pad {
	case "VALID":
		shape[1] = (in[1]-dil[1]*(kh-1)-1)/strides[1] + 1
		shape[2] = (in[2]-dil[2]*(kw-1)-1)/strides[2] + 1
	case "SAME":
		attrs["auto_pad"] = "SAME_UPPER"
		shape[1] = (in[1] + strides[1] - 1) / strides[1]
		shape[2] = (in[2] + strides[2] - 1) / strides[2]
	default:
		return fmt.Errorf("padding %q not supported", pad)
	}
	inputs := []string{c.nchw(n.Input[0]), wName}
	if bias != "" {
		c.g.inits[bias] = c.m.consts[bias]
		inputs = append(inputs, bias)
	}
	mid := c.tmp(out)
	c.emit("Conv", inputs, mid, attrs)
	c.emit("Transpose", []string{mid}, out, map[string]any{"perm": toNHWC})
	c.g.shapes[out] = shape
	return nil
}

// nchw emits a transpose of an NHWC tensor to NCHW and names its output.
func (c *converter) nchw(name string) string {
	t := c.tmp(name)
	c.emit("Transpose", []string{name}, t, map[string]any{"perm": toNCHW})
	return t
}

func (c *converter) maxPool(n *tfNode) error {
	if n.Attr["padding"].str() != "VALID" {
		return fmt.Errorf("only VALID max pooling is supported")
	}
	k, s := n.Attr["ksize"].ints(), n.Attr["strides"].ints()
	in := c.g.shapes[n.Input[0]]
	mid := c.tmp(n.Name)
	c.emit("MaxPool", []string{c.nchw(n.Input[0])}, mid, map[string]any{"kernel_shape": k[1:3], "strides": s[1:3]})
	c.emit("Transpose", []string{mid}, n.Name, map[string]any{"perm": toNHWC})
	c.g.shapes[n.Name] = []int64{in[0], (in[1]-k[1])/s[1] + 1, (in[2]-k[2])/s[2] + 1, in[3]}
	return nil
}

func (c *converter) concat(n *tfNode) error {
	inputs := n.Input[:len(n.Input)-1]
	axis, err := c.constInts(n.Input[len(n.Input)-1])
	if err != nil {
		return err
	}
	shape := slices.Clone(c.g.shapes[inputs[0]])
	if axis[0] < 0 {
		axis[0] += int64(len(shape))
	}
	for _, in := range inputs[1:] {
		shape[axis[0]] += c.g.shapes[in][axis[0]]
	}
	c.emit("Concat", inputs, n.Name, map[string]any{"axis": axis[0]})
	c.g.shapes[n.Name] = shape
	return nil
}

func (c *converter) resize(n *tfNode) error {
	if n.Attr["align_corners"].B {
		return fmt.Errorf("align_corners is not supported")
	}
	size, err := c.constInts(n.Input[1])
	if err != nil {
		return err
	}
	in := c.g.shapes[n.Input[0]]
	mode := "asymmetric"
	if n.Attr["half_pixel_centers"].B {
		mode = "half_pixel"
	}
	roi, scales, sizes := n.Name+"__roi", n.Name+"__scales", n.Name+"__sizes"
	c.g.inits[roi] = tensor{shape: []int64{0}, f: []float32{}}
	c.g.inits[scales] = tensor{shape: []int64{0}, f: []float32{}}
	c.g.inits[sizes] = tensor{shape: []int64{4}, i: []int32{int32(in[0]), int32(in[3]), int32(size[0]), int32(size[1])}}
	mid := c.tmp(n.Name)
	c.emit("Resize", []string{c.nchw(n.Input[0]), roi, scales, sizes}, mid,
		map[string]any{"mode": "linear", "coordinate_transformation_mode": mode})
	c.emit("Transpose", []string{mid}, n.Name, map[string]any{"perm": toNHWC})
	c.g.shapes[n.Name] = []int64{in[0], size[0], size[1], in[3]}
	return nil
}

// cancelTransposes removes pairs of transposes that undo each other, by
// pointing the second one's readers at the first one's input.
func (g *graph) cancelTransposes() {
	producer := map[string]*onnxNode{}
	for _, n := range g.nodes {
		producer[n.outputs[0]] = n
	}
	alias := map[string]string{}
	for _, n := range g.nodes {
		if n.op != "Transpose" {
			continue
		}
		first := producer[resolve(alias, n.inputs[0])]
		if first == nil || first.op != "Transpose" {
			continue
		}
		p1, p2 := first.attrs["perm"].([]int64), n.attrs["perm"].([]int64)
		identity := len(p1) == len(p2)
		for i := range p2 {
			identity = identity && p1[p2[i]] == int64(i)
		}
		if identity {
			alias[n.outputs[0]] = resolve(alias, first.inputs[0])
		}
	}
	g.nodes = slices.DeleteFunc(g.nodes, func(n *onnxNode) bool { _, gone := alias[n.outputs[0]]; return gone })
	for _, n := range g.nodes {
		for i, in := range n.inputs {
			n.inputs[i] = resolve(alias, in)
		}
	}
	// A graph output that was an alias becomes the name of what it
	// aliases: rename that tensor everywhere.
	for _, o := range g.outputs {
		target := resolve(alias, o)
		if target == o {
			continue
		}
		for _, n := range g.nodes {
			for i := range n.inputs {
				if n.inputs[i] == target {
					n.inputs[i] = o
				}
			}
			if n.outputs[0] == target {
				n.outputs[0] = o
			}
		}
	}
}

func resolve(alias map[string]string, name string) string {
	for {
		a, ok := alias[name]
		if !ok {
			return name
		}
		name = a
	}
}

// prune drops nodes and constants no output depends on.
func (g *graph) prune() {
	needed := map[string]bool{}
	for _, o := range g.outputs {
		needed[o] = true
	}
	var kept []*onnxNode
	for i := len(g.nodes) - 1; i >= 0; i-- {
		n := g.nodes[i]
		if !needed[n.outputs[0]] {
			continue
		}
		kept = append(kept, n)
		for _, in := range n.inputs {
			needed[in] = true
		}
	}
	slices.Reverse(kept)
	g.nodes = kept
	for name := range g.inits {
		if !needed[name] {
			delete(g.inits, name)
		}
	}
}
