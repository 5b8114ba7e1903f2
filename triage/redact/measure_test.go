package redact

import (
	"image"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"
)

// BenchmarkFaceDetectors measures what each face detector contributes, on
// the Solvay photograph at the detection resolution Render uses (960 px
// wide) against its 29 reference faces, and on store-aisle.mp4 (shoppers
// seen from above and the side) as frames with any face found.
// Reported: found (references hit by a box), false (boxes on no reference),
// aisle-frames (store-aisle frames with a detection, of 67).
func BenchmarkFaceDetectors(b *testing.B) {
	refs := readRefBoxes(b, filepath.Join(footage, "faces-29-still.boxes.txt"))
	delete(refs, "detection_0")
	img := gocv.IMRead(filepath.Join(footage, "faces-29-still.png"), gocv.IMReadColor)
	defer img.Close()
	const scale = 0.75 // 1280 -> 960
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(img, &small, image.Point{}, scale, scale, gocv.InterpolationArea)
	aisle := decodeAll(b, filepath.Join(footage, "store-aisle.mp4"))
	defer closeAll(aisle)

	r := newRedactorT(b, Config{ProfileFaces: true})
	d := r.det
	variants := []struct {
		name string
		run  func(gocv.Mat) []Detection
	}{
		{"blazeface", func(m gocv.Mat) []Detection {
			dets, err := d.face.Detect(m)
			if err != nil {
				b.Fatal(err)
			}
			return nms(dets, 0.3)
		}},
		{"haar-profile", func(m gocv.Mat) []Detection {
			gocv.CvtColor(m, &d.grey, gocv.ColorBGRToGray)
			return nms(d.profiles(), 0.3)
		}},
		{"combined", func(m gocv.Mat) []Detection {
			dets, err := d.face.Detect(m)
			if err != nil {
				b.Fatal(err)
			}
			gocv.CvtColor(m, &d.grey, gocv.ColorBGRToGray)
			return nms(append(dets, d.profiles()...), 0.3)
		}},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			var found, falsePos, aisleFrames int
			for i := 0; i < b.N; i++ {
				dets := v.run(small)
				found, falsePos = scoreFaces(dets, refs, scale)
				aisleFrames = 0
				for _, f := range aisle {
					if len(v.run(f)) > 0 {
						aisleFrames++
					}
				}
			}
			b.ReportMetric(float64(found), "found/29")
			b.ReportMetric(float64(falsePos), "false")
			b.ReportMetric(float64(aisleFrames), "aisle-frames/67")
		})
	}
}

func scoreFaces(dets []Detection, refs map[string]image.Rectangle, scale float64) (found, falsePos int) {
	hit := map[string]bool{}
	for _, d := range dets {
		r := mapRect(d.Box, scale)
		matched := false
		for name, ref := range refs {
			if iou(r, ref) > 0.2 {
				hit[name], matched = true, true
			}
		}
		if !matched {
			falsePos++
		}
	}
	return len(hit), falsePos
}

func decodeAll(b testing.TB, path string) []gocv.Mat {
	b.Helper()
	vc, err := gocv.VideoCaptureFile(path)
	if err != nil {
		b.Fatal(err)
	}
	defer vc.Close()
	var out []gocv.Mat
	for {
		m := gocv.NewMat()
		if !vc.Read(&m) || m.Empty() {
			m.Close()
			return out
		}
		out = append(out, m)
	}
}

// BenchmarkPlateDetectors measures the two plate detectors: recall on the
// synthetic plate pasted into the parking-lot frame at widths from 24 to
// 96 px, and boxes per frame on footage without readable plates (the
// parking lot, every 10th frame, and the empty room), all of which are
// false positives that get covered needlessly.
func BenchmarkPlateDetectors(b *testing.B) {
	base := parkingFrame(b)
	defer base.Close()
	parking := decodeAll(b, filepath.Join(footage, "parking-cars.mp4"))
	defer closeAll(parking)
	room := decodeAll(b, filepath.Join(footage, "static-room.mp4"))
	defer closeAll(room)
	r := newRedactorT(b, Config{})
	d := r.det
	grey := gocv.NewMat()
	defer grey.Close()
	haar := func(g gocv.Mat) []Detection {
		var out []Detection
		for _, r := range d.plate.DetectMultiScaleWithParams(g, 1.1, 3, 0, image.Pt(24, 8), image.Pt(0, 0)) {
			out = append(out, Detection{Box: r})
		}
		return out
	}
	for _, v := range []struct {
		name string
		run  func(gocv.Mat) []Detection
	}{{"haar-russian-plate", haar}, {"plate-region", findPlateRegions}} {
		b.Run(v.name, func(b *testing.B) {
			var recall int
			var fpParking, fpRoom float64
			for i := 0; i < b.N; i++ {
				recall = 0
				for w := 24; w <= 96; w += 8 {
					frame, box := pastePlate(base, w)
					gocv.CvtColor(frame, &grey, gocv.ColorBGRToGray)
					for _, det := range v.run(grey) {
						if containedFraction(box, scaleRect(det.Box, 1.4)) > 0.9 {
							recall++
							break
						}
					}
					frame.Close()
				}
				fpParking = boxesPerFrame(parking, 10, &grey, v.run)
				fpRoom = boxesPerFrame(room, 1, &grey, v.run)
			}
			b.ReportMetric(float64(recall), "found/10-sizes")
			b.ReportMetric(fpParking, "boxes/parking-frame")
			b.ReportMetric(fpRoom, "boxes/room-frame")
		})
	}
}

func boxesPerFrame(frames []gocv.Mat, every int, grey *gocv.Mat, run func(gocv.Mat) []Detection) float64 {
	n, boxes := 0, 0
	for i := 0; i < len(frames); i += every {
		gocv.CvtColor(frames[i], grey, gocv.ColorBGRToGray)
		boxes += len(run(*grey))
		n++
	}
	return float64(boxes) / float64(n)
}

func parkingFrame(b *testing.B) gocv.Mat {
	b.Helper()
	png := filepath.Join(b.TempDir(), "frame.png")
	ffmpegT(b, "-ss", "8", "-i", filepath.Join(footage, "parking-cars.mp4"), "-frames:v", "1", png)
	m := gocv.IMRead(png, gocv.IMReadColor)
	if m.Empty() {
		b.Fatal("read parking frame")
	}
	return m
}

// pastePlate puts a synthetic plate w px wide (EU proportions, about 4:1)
// on the asphalt in the middle of a copy of frame.
func pastePlate(frame gocv.Mat, w int) (gocv.Mat, image.Rectangle) {
	h := max(8, w/4)
	out := frame.Clone()
	plate := syntheticPlate(w, h)
	defer plate.Close()
	box := image.Rect(380-w/2, 240-h/2, 380-w/2+w, 240-h/2+h)
	dst := out.Region(box)
	plate.CopyTo(&dst)
	dst.Close()
	return out, box
}
