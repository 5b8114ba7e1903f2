package redact

import (
	"encoding/json"
	"image"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"
)

// parkingCarFree are the frame ranges [from, to) of parking-cars.mp4 with no
// car in view (from the clip tiled at one frame a second, with half a
// second's margin to the nearest car): wet asphalt, painted bays, arrows.
var parkingCarFree = [][2]int{{0, 44}, {119, 181}, {244, 306}, {357, 377}}

func carFree(i int) bool {
	for _, r := range parkingCarFree {
		if i >= r[0] && i < r[1] {
			return true
		}
	}
	return false
}

// plateFalseArea is the share of the frame that plate boxes cover on the
// car-free frames of lg, and on how many of those frames any plate box is.
func plateFalseArea(lg Log, frameArea int) (share float64, framesWithBoxes, frames int) {
	for _, r := range parkingCarFree {
		frames += r[1] - r[0]
	}
	var area int
	for _, f := range lg.BoxFrames {
		if !carFree(f.Index) {
			continue
		}
		var plates []LogBox
		for _, b := range f.Boxes {
			if b.Kind == KindPlate {
				plates = append(plates, b)
			}
		}
		if len(plates) == 0 {
			continue
		}
		framesWithBoxes++
		for _, a := range coverAreas(plates) {
			area += a.Dx() * a.Dy()
		}
	}
	return float64(area) / float64(frames*frameArea), framesWithBoxes, frames
}

// The parking lot under the daemon's defaults. The six hand-labelled plates
// (testdata/parking-plates.labels.txt: 22-35 px wide, visible but not
// legible) are a known gap: only the grey car's, on both of its frames, is
// covered (the same two before the vehicle and character checks); the
// white car's and the red car's are not found at that size. On the 188
// car-free frames (painted bays and arrows on wet asphalt) plate boxes
// cover 0.003% of the frame, on one frame; the test allows 0.01%.
func TestPlatesOnParkingLot(t *testing.T) {
	master := filepath.Join(footage, "parking-cars.mp4")
	labels := readLabels(t, filepath.Join("testdata", "parking-plates.labels.txt"))
	r := newRedactorT(t, Realtime())
	out := renderT(t, r, master, nil)
	var lg Log
	if err := json.Unmarshal(out.Log, &lg); err != nil {
		t.Fatal(err)
	}
	_, covered, seen, missed := coverage(t, master, out.Path, func(i int) map[string]image.Rectangle { return labels[i] })
	t.Logf("labelled plates covered: %v of %v; missed on frames %v", covered, seen, missed)
	if covered["grey"] != seen["grey"] {
		t.Errorf("the grey car's plate is covered on %d of %d labelled frames, not on %v", covered["grey"], seen["grey"], missed["grey"])
	}
	share, withBoxes, frames := plateFalseArea(lg, 768*432)
	t.Logf("car-free frames: plate boxes on %d of %d, covering %.3f%% of the frame", withBoxes, frames, 100*share)
	if share > 0.0001 {
		t.Errorf("plate boxes cover %.3f%% of the car-free frames (%d of %d frames), want at most 0.01%%", 100*share, withBoxes, frames)
	}
}

// Legible plates on real cars: a synthetic plate 40 to 72 px wide (EU
// proportions, readable characters) pasted over each labelled plate of the
// parking lot, found on its frame by the plate path as the daemon runs it
// (vehicles not known beforehand). Here 29 of 30 (0.97): the grey car's
// plate at 40 px on frame 200 is missed, the car, seen from above, scored
// 0.12 as a vehicle, and of its characters (5 px high) only one stands
// alone. (28 of 30 before characters run together in pairs were counted,
// which cost nothing on the texture of TestPlateTextureFalseArea.)
func TestLegiblePlatesOnCarsFound(t *testing.T) {
	labels := readLabels(t, filepath.Join("testdata", "parking-plates.labels.txt"))
	frames := decodeAll(t, filepath.Join(footage, "parking-cars.mp4"))
	defer closeAll(frames)
	r := newRedactorT(t, Realtime())
	var found, tried int
	for i, plates := range labels {
		for name, at := range plates {
			for w := 40; w <= 72; w += 8 {
				tried++
				frame, box := pastePlateAt(frames[i], at, w)
				r.det.reset()
				dets := platesOnly(t, r.det, frame)
				frame.Close()
				if platesCover(dets, box, r.cfg.PlateEnlarge) {
					found++
				} else {
					t.Logf("frame %d, %s's plate %d px wide at %v: not found", i, name, w, box)
				}
			}
		}
	}
	t.Logf("legible plates found: %d of %d", found, tried)
	if float64(found) < 0.95*float64(tried) {
		t.Errorf("legible plates found on %d of %d tries, want at least 95%%", found, tried)
	}
}

func platesCover(dets []Detection, box image.Rectangle, enlarge float64) bool {
	for _, d := range dets {
		if d.Kind == KindPlate && containedFraction(box, scaleRect(d.Box, enlarge)) > 0.9 {
			return true
		}
	}
	return false
}

// pastePlateAt puts a synthetic plate w px wide, centred on the labelled
// plate at, into a copy of frame.
func pastePlateAt(frame gocv.Mat, at image.Rectangle, w int) (gocv.Mat, image.Rectangle) {
	h := max(10, w/4)
	c := image.Pt((at.Min.X+at.Max.X)/2, (at.Min.Y+at.Max.Y)/2)
	box := image.Rect(c.X-w/2, c.Y-h/2, c.X-w/2+w, c.Y-h/2+h).Intersect(image.Rect(0, 0, frame.Cols(), frame.Rows()))
	out := frame.Clone()
	plate := syntheticPlate(box.Dx(), box.Dy())
	defer plate.Close()
	dst := out.Region(box)
	plate.CopyTo(&dst)
	dst.Close()
	return out, box
}

// On footage with texture but no vehicle (a tree through a window, shop
// shelves, a room with a door and posters), every fifth frame: what the
// two plate detectors propose covers 0.032% of the frame on average
// (0.007% before their fill threshold was loosened for plates that take in
// a strip of bumper), and what the redactor keeps of it nothing here; the
// test allows a tenth of the candidates' area.
func TestPlateTextureFalseArea(t *testing.T) {
	r := newRedactorT(t, Realtime())
	grey := gocv.NewMat()
	defer grey.Close()
	var frames, rawArea, keptArea, pixels int
	for _, clip := range []string{"tree-nuisance.avi", "store-aisle.mp4", "room-people-enter-leave.mp4"} {
		all := decodeAll(t, filepath.Join(footage, clip))
		var clipRaw, clipKept int
		for i := 0; i < len(all); i += 5 {
			frames++
			pixels += all[i].Rows() * all[i].Cols()
			gocv.CvtColor(all[i], &grey, gocv.ColorBGRToGray)
			clipRaw += boxArea(rawPlateCandidates(r.det, grey))
			clipKept += boxArea(platesOnly(t, r.det, all[i]))
		}
		t.Logf("%s: candidates' area %d px, kept %d px", clip, clipRaw, clipKept)
		rawArea, keptArea = rawArea+clipRaw, keptArea+clipKept
		closeAll(all)
	}
	raw, kept := float64(rawArea)/float64(pixels), float64(keptArea)/float64(pixels)
	t.Logf("%d frames: candidates cover %.4f%% of the frame, kept boxes %.4f%%", frames, 100*raw, 100*kept)
	if raw == 0 {
		t.Fatal("no candidates at all: the footage no longer tests the filter")
	}
	if kept > raw/10 {
		t.Errorf("kept plate boxes cover %.4f%% of frames without vehicles, want at most a tenth of the candidates' %.4f%%", 100*kept, 100*raw)
	}
}

// platesOnly runs the plate path of Detect alone (the face detector
// would triple the test's time), as on a frame without a person run.
func platesOnly(t *testing.T, d *detectors, bgr gocv.Mat) []Detection {
	t.Helper()
	gocv.CvtColor(bgr, &d.grey, gocv.ColorBGRToGray)
	d.vehiclesFresh = false
	dets, err := d.plates(bgr)
	if err != nil {
		t.Fatal(err)
	}
	return dets
}

// rawPlateCandidates is what both plate detectors propose, unfiltered.
func rawPlateCandidates(d *detectors, grey gocv.Mat) []Detection {
	var c []Detection
	for _, b := range d.plate.DetectMultiScaleWithParams(grey, 1.1, 3, 0, image.Pt(24, 8), image.Pt(0, 0)) {
		c = append(c, Detection{Box: b, Score: 0.6, Detector: DetectorHaarPlate})
	}
	return nms(append(c, findPlateRegions(grey)...), 0.3)
}

func boxArea(dets []Detection) int {
	a := 0
	for _, d := range dets {
		a += d.Box.Dx() * d.Box.Dy()
	}
	return a
}
