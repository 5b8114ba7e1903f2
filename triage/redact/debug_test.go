package redact

import (
	"image"
	"image/color"
	"os"
	"path/filepath"
	"testing"
	"time"
	"fmt"
	"encoding/json"

	"gocv.io/x/gocv"
)

func TestDebugSolvay(t *testing.T) {
	if os.Getenv("DEBUGRED") == "" { t.Skip() }
	master := loopStill(t, filepath.Join(footage, "faces-29-still.png"), 1, 10)
	refs := readRefBoxes(t, filepath.Join(footage, "faces-29-still.boxes.txt"))
	r := newRedactorT(t, Config{})
	img := gocv.IMRead(filepath.Join(footage, "faces-29-still.png"), gocv.IMReadColor)
	small := gocv.NewMat()
	gocv.Resize(img, &small, image.Point{}, 0.75, 0.75, gocv.InterpolationArea)
	t0 := time.Now(); r.det.face.Detect(small); fmt.Println("blaze", time.Since(t0))
	gocv.CvtColor(small, &r.det.grey, gocv.ColorBGRToGray)
	t0 = time.Now(); p := r.det.profiles(); fmt.Println("profile", time.Since(t0), len(p))
	t0 = time.Now(); pl := r.det.plate.DetectMultiScaleWithParams(r.det.grey, 1.1, 3, 0, image.Pt(24, 8), image.Pt(0, 0)); fmt.Println("plate haar", time.Since(t0), len(pl))
	t0 = time.Now(); pr := findPlateRegions(r.det.grey); fmt.Println("plate region", time.Since(t0), len(pr))
	out := renderT(t, r, master, nil)
	vc, _ := gocv.VideoCaptureFile(out.Path)
	f := gocv.NewMat()
	vc.Read(&f)
	for _, b := range refs { gocv.Rectangle(&f, b, color.RGBA{255, 0, 0, 0}, 1) }
	gocv.IMWrite("/tmp/solvay-out.png", f)
}

func TestDebugCells(t *testing.T) {
	if os.Getenv("DEBUGRED") == "" { t.Skip() }
	master := loopStill(t, filepath.Join(footage, "faces-29-still.png"), 1, 10)
	refs := readRefBoxes(t, filepath.Join(footage, "faces-29-still.boxes.txt"))
	r := newRedactorT(t, Config{})
	out := renderT(t, r, master, nil)
	var lg Log
	json.Unmarshal(out.Log, &lg)
	vm, _ := gocv.VideoCaptureFile(master)
	vo, _ := gocv.VideoCaptureFile(out.Path)
	fm, fo, lm, lo := gocv.NewMat(), gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	vm.Read(&fm); vo.Read(&fo)
	laplacian(fm, &lm); laplacian(fo, &lo)
	for _, name := range []string{"detection_2", "detection_10", "detection_15"} {
		rr := refs[name]
		fmt.Println(name, rr)
		for _, b := range lg.BoxFrames[0].Boxes { if b.Box.Rect().Overlaps(rr) { fmt.Println("  box", b.Box.Rect(), b.Detector, b.Score) } }
		for cy := 0; cy < 3; cy++ {
			for cx := 0; cx < 3; cx++ {
				c := image.Rect(rr.Min.X+cx*rr.Dx()/3, rr.Min.Y+cy*rr.Dy()/3, rr.Min.X+(cx+1)*rr.Dx()/3, rr.Min.Y+(cy+1)*rr.Dy()/3)
				fmt.Printf("  %.1f/%.1f", meanIn(lm, c), meanIn(lo, c))
			}
			fmt.Println()
		}
	}
}

func TestDebugFrames(t *testing.T) {
	if os.Getenv("DEBUGRED") == "" { t.Skip() }
	master := loopStill(t, filepath.Join(footage, "faces-29-still.png"), 3, 10)
	refs := readRefBoxes(t, filepath.Join(footage, "faces-29-still.boxes.txt"))
	r := newRedactorT(t, Config{})
	out := renderT(t, r, master, nil)
	var lg Log
	json.Unmarshal(out.Log, &lg)
	vm, _ := gocv.VideoCaptureFile(master)
	vo, _ := gocv.VideoCaptureFile(out.Path)
	fm, fo, lm, lo := gocv.NewMat(), gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	for i := 0; vm.Read(&fm) && vo.Read(&fo); i++ {
	laplacian(fm, &lm); laplacian(fo, &lo)
	for _, name := range []string{"detection_2", "detection_10", "detection_15"} {
		rr := refs[name]
		if isCovered(lm, lo, rr) { continue }
		fmt.Println(i, name, rr, meanIn(lm, rr), meanIn(lo, rr))
		for _, b := range lg.BoxFrames[i].Boxes { if b.Box.Rect().Overlaps(rr) { fmt.Println("  box", b.Box.Rect(), b.Detector, b.Score, b.Source) } }
		for cy := 0; cy < 3; cy++ {
			for cx := 0; cx < 3; cx++ {
				c := image.Rect(rr.Min.X+cx*rr.Dx()/3, rr.Min.Y+cy*rr.Dy()/3, rr.Min.X+(cx+1)*rr.Dx()/3, rr.Min.Y+(cy+1)*rr.Dy()/3)
				fmt.Printf("  %.1f/%.1f", meanIn(lm, c), meanIn(lo, c))
			}
			fmt.Println()
		}
	}
	}
}
