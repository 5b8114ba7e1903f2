package redact

import (
	_ "embed"
	"fmt"
	"image"
	"image/color"
	"math"

	"gocv.io/x/gocv"
)

// The model ships inside the binary so that an appliance never fetches
// anything at run time; see models/NOTICE.md for its origin and licence.
//
//go:embed models/face_detection_back_256x256_barracuda.onnx
var blazeFaceONNX []byte

// minFaceSide is about the smallest face (px high, at detection
// resolution) BlazeFace finds reliably here: the 20-35 px faces of
// faces-walking are found on every detection frame, smaller ones come and go.
const minFaceSide = 20

const (
	bfSize = 256
	// bfMargin is the black border added around a frame before tiling.
	bfMargin = 32
	// MediaPipe's "back" model grid: stride 16 with 2 anchors per cell, and
	// stride 32 with 6 anchors per cell (three layers of two folded into one).
	bfCells16   = 16
	bfPerCell16 = 2
	bfCells8    = 8
	bfPerCell8  = 6
)

// blazeFace runs MediaPipe's BlazeFace "back" model on 256x256 tiles. The
// model is trained on faces that fill a good part of its input, so a whole
// frame squeezed to 256x256 finds nothing; overlapping tiles at the frame's
// (reduced) resolution keep small CCTV faces at the size it was trained on.
type blazeFace struct {
	net       gocv.Net
	minScore  float32
	outScores [2]string // [grid16, grid8]
	outBoxes  [2]string
	anchors   []gocv.Point2f
	input     gocv.Mat
}

func newBlazeFace(minScore float32) (*blazeFace, error) {
	net, err := gocv.ReadNetFromONNXBytes(blazeFaceONNX)
	if err != nil {
		return nil, fmt.Errorf("load embedded BlazeFace model: %w", err)
	}
	if net.Empty() {
		return nil, fmt.Errorf("load embedded BlazeFace model: empty network")
	}
	net.SetPreferableBackend(gocv.NetBackendOpenCV)
	net.SetPreferableTarget(gocv.NetTargetCPU)
	b := &blazeFace{net: net, minScore: minScore, anchors: bfAnchors()}
	if err := b.identifyOutputs(); err != nil {
		net.Close()
		return nil, err
	}
	return b, nil
}

func (b *blazeFace) Close() error {
	b.input.Close()
	return b.net.Close()
}

// identifyOutputs tells the four unnamed outputs apart by their shapes, which
// the model fixes, instead of trusting an export's output order.
func (b *blazeFace) identifyOutputs() error {
	names := b.net.GetLayerNames()
	var outs []string
	for _, id := range b.net.GetUnconnectedOutLayers() {
		outs = append(outs, names[id-1])
	}
	blank := gocv.NewMatWithSizes([]int{1, bfSize, bfSize, 3}, gocv.MatTypeCV32F)
	defer blank.Close()
	b.net.SetInput(blank, "")
	mats := b.net.ForwardLayers(outs)
	defer closeAll(mats)
	found := 0
	for i, m := range mats {
		sz := m.Size()
		n, last := 1, sz[len(sz)-1]
		for _, s := range sz {
			n *= s
		}
		switch {
		case n == 512 && last == 1:
			b.outScores[0] = outs[i]
		case n == 384 && last == 1:
			b.outScores[1] = outs[i]
		case n == 512*16:
			b.outBoxes[0] = outs[i]
		case n == 384*16:
			b.outBoxes[1] = outs[i]
		default:
			return fmt.Errorf("BlazeFace output %s has unexpected shape %v", outs[i], sz)
		}
		found++
	}
	if found != 4 || b.outScores[0] == "" || b.outScores[1] == "" || b.outBoxes[0] == "" || b.outBoxes[1] == "" {
		return fmt.Errorf("BlazeFace: expected 4 outputs (2 score, 2 box grids), got %v", outs)
	}
	return nil
}

func closeAll(ms []gocv.Mat) {
	for i := range ms {
		ms[i].Close()
	}
}

// bfAnchors lists anchor centres (unit-size anchors, in 0..1 tile units) in
// the order the model emits them: row-major cells, anchors of a cell adjacent.
func bfAnchors() []gocv.Point2f {
	var a []gocv.Point2f
	for _, g := range []struct{ cells, per int }{{bfCells16, bfPerCell16}, {bfCells8, bfPerCell8}} {
		for y := 0; y < g.cells; y++ {
			for x := 0; x < g.cells; x++ {
				c := gocv.Point2f{X: (float32(x) + 0.5) / float32(g.cells), Y: (float32(y) + 0.5) / float32(g.cells)}
				for k := 0; k < g.per; k++ {
					a = append(a, c)
				}
			}
		}
	}
	return a
}

// tileOrigins places tiles of size t over a span of length n with a stride of
// about 3/4 of a tile, the last tile flush with the far edge.
func tileOrigins(n, t int) []int {
	if n <= t {
		return []int{0}
	}
	stride := t * 3 / 4
	var o []int
	for p := 0; ; p += stride {
		if p+t >= n {
			o = append(o, n-t)
			return o
		}
		o = append(o, p)
	}
}

// Detect finds faces in a BGR image and returns boxes in its coordinates,
// not yet merged across tiles.
func (b *blazeFace) Detect(bgr gocv.Mat) ([]Detection, error) {
	rgb := gocv.NewMat()
	defer rgb.Close()
	// A margin of black around the frame gives a face at the frame's edge
	// the context the model needs (it misses faces cut by the tile edge),
	// and frames smaller than a tile are padded, not stretched, so faces
	// keep the scale the model expects.
	padX := bfMargin + max(0, bfSize-2*bfMargin-bgr.Cols())
	padY := bfMargin + max(0, bfSize-2*bfMargin-bgr.Rows())
	padded := gocv.NewMat()
	defer padded.Close()
	gocv.CopyMakeBorder(bgr, &padded, bfMargin, padY, bfMargin, padX, gocv.BorderConstant, color.RGBA{})
	src := padded
	gocv.CvtColor(src, &rgb, gocv.ColorBGRToRGB)
	f := gocv.NewMat()
	defer f.Close()
	rgb.ConvertToWithParams(&f, gocv.MatTypeCV32FC3, 1.0/127.5, -1)

	var dets []Detection
	for _, y0 := range tileOrigins(f.Rows(), bfSize) {
		for _, x0 := range tileOrigins(f.Cols(), bfSize) {
			d, err := b.detectTile(f, image.Pt(x0, y0))
			if err != nil {
				return nil, err
			}
			dets = append(dets, d...)
		}
	}
	clip := image.Rect(0, 0, bgr.Cols(), bgr.Rows())
	out := dets[:0]
	for _, d := range dets {
		d.Box = d.Box.Sub(image.Pt(bfMargin, bfMargin)).Intersect(clip)
		if !d.Box.Empty() {
			out = append(out, d)
		}
	}
	return out, nil
}

func (b *blazeFace) detectTile(f gocv.Mat, at image.Point) ([]Detection, error) {
	roi := f.Region(image.Rect(at.X, at.Y, at.X+bfSize, at.Y+bfSize))
	tile := roi.Clone() // the NHWC blob needs contiguous rows
	roi.Close()
	defer tile.Close()
	data, err := tile.DataPtrFloat32()
	if err != nil {
		return nil, fmt.Errorf("BlazeFace tile: %w", err)
	}
	blob, err := gocv.NewMatWithSizesFromBytes([]int{1, bfSize, bfSize, 3}, gocv.MatTypeCV32F, float32Bytes(data))
	if err != nil {
		return nil, fmt.Errorf("BlazeFace blob: %w", err)
	}
	defer blob.Close()
	b.net.SetInput(blob, "")
	outs := b.net.ForwardLayers([]string{b.outScores[0], b.outBoxes[0], b.outScores[1], b.outBoxes[1]})
	defer closeAll(outs)

	var dets []Detection
	base := 0
	for g := 0; g < 2; g++ {
		scores, err := outs[2*g].DataPtrFloat32()
		if err != nil {
			return nil, fmt.Errorf("BlazeFace scores: %w", err)
		}
		boxes, err := outs[2*g+1].DataPtrFloat32()
		if err != nil {
			return nil, fmt.Errorf("BlazeFace boxes: %w", err)
		}
		for i, logit := range scores {
			s := sigmoid(logit)
			if s < b.minScore {
				continue
			}
			r := boxes[16*i : 16*i+4]
			a := b.anchors[base+i]
			cx := float64(a.X)*bfSize + float64(r[0])
			cy := float64(a.Y)*bfSize + float64(r[1])
			w, h := float64(r[2]), float64(r[3])
			box := image.Rect(int(cx-w/2), int(cy-h/2), int(math.Ceil(cx+w/2)), int(math.Ceil(cy+h/2))).Add(at)
			dets = append(dets, Detection{Box: box, Score: s, Detector: DetectorBlazeFace, Kind: KindFace})
		}
		base += len(scores)
	}
	return dets, nil
}

func sigmoid(x float32) float32 {
	x = min(max(x, -100), 100)
	return float32(1 / (1 + math.Exp(-float64(x))))
}
