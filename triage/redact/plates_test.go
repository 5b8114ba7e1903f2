package redact

import (
	"encoding/json"
	"image"
	"image/color"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"
)

// syntheticPlate draws a European-style plate: black characters on white
// with a dark rim, w x h pixels. No footage here has a readable plate, so
// the plate tests paste this one into real frames.
func syntheticPlate(w, h int) gocv.Mat {
	p := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(235, 235, 235, 0), h, w, gocv.MatTypeCV8UC3)
	gocv.Rectangle(&p, image.Rect(0, 0, w, h), color.RGBA{20, 20, 20, 0}, 1)
	text := "AB 123 CD"
	unit := gocv.GetTextSize(text, gocv.FontHersheyDuplex, 1, 1)
	scale := min(0.6*float64(h)/float64(unit.Y), 0.9*float64(w)/float64(unit.X))
	sz := gocv.GetTextSize(text, gocv.FontHersheyDuplex, scale, 1)
	org := image.Pt((w-sz.X)/2, (h+sz.Y)/2)
	gocv.PutText(&p, text, org, gocv.FontHersheyDuplex, scale, color.RGBA{10, 10, 10, 0}, 1)
	return p
}

// composedPlateClip takes the frame at 8 s of parking-cars.mp4 (a white car
// leaving the lot, its real plate a few unreadable pixels), pastes a
// synthetic plate over the car's rear at a known place, and loops it for a
// second. It returns the clip and the plate's box.
func composedPlateClip(t *testing.T, w, h int) (string, image.Rectangle) {
	t.Helper()
	dir := t.TempDir()
	framePNG := filepath.Join(dir, "frame.png")
	ffmpegT(t, "-ss", "8", "-i", filepath.Join(footage, "parking-cars.mp4"), "-frames:v", "1", framePNG)
	frame := gocv.IMRead(framePNG, gocv.IMReadColor)
	defer frame.Close()
	if frame.Empty() {
		t.Fatal("could not read the extracted frame")
	}
	plate := syntheticPlate(w, h)
	defer plate.Close()
	// The car's real plate is centred at about (341, 42).
	box := image.Rect(341-w/2, 42-h/2, 341-w/2+w, 42-h/2+h)
	dst := frame.Region(box)
	plate.CopyTo(&dst)
	dst.Close()
	composed := filepath.Join(dir, "composed.png")
	if !gocv.IMWrite(composed, frame) {
		t.Fatal("write composed frame")
	}
	clip := filepath.Join(dir, "plate.mp4")
	ffmpegT(t, "-loop", "1", "-framerate", "12.5", "-i", composed, "-t", "1", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", clip)
	return clip, box
}

// A synthetic plate pasted into a real parking-lot frame (see
// composedPlateClip) is covered on every frame; with plate detection off it
// is not, which shows both that the plate detectors did it and that the
// pixel check can tell.
func TestSyntheticPlateCovered(t *testing.T) {
	master, box := composedPlateClip(t, 52, 13)
	plateOnly := func(int) map[string]image.Rectangle { return map[string]image.Rectangle{"plate": box} }

	r := newRedactorT(t, Config{})
	out := renderT(t, r, master, nil)
	frames, covered, _, missed := coverage(t, master, out.Path, plateOnly)
	if frames == 0 || covered["plate"] != frames {
		t.Errorf("plate %v covered on %d of %d frames; not on %v", box, covered["plate"], frames, missed["plate"])
	}
	if out.Summary.PlateTracks == 0 {
		t.Errorf("summary reports no plate tracks")
	}
	var lg Log
	if err := json.Unmarshal(out.Log, &lg); err != nil {
		t.Fatal(err)
	}
	by := map[Detector]int{}
	for _, f := range lg.BoxFrames {
		for _, b := range f.Boxes {
			if b.Kind == KindPlate && b.Source == SourceDetected && b.Box.Rect().Overlaps(box) {
				by[b.Detector]++
			}
		}
	}
	t.Logf("detections over the plate by detector: %v", by)

	off := newRedactorT(t, Config{NoPlates: true})
	outOff := renderT(t, off, master, nil)
	if _, c, _, _ := coverage(t, master, outOff.Path, plateOnly); c["plate"] != 0 {
		t.Errorf("with plate detection off the plate still counts as covered on %d frames", c["plate"])
	}
}
