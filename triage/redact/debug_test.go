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

func TestDebugGrid(t *testing.T) {
	if os.Getenv("DEBUGRED") == "" { t.Skip() }
	crop := image.Rect(130, 80, 370, 180)
	const s = 4
	for i := 1; i <= 35; i += 2 {
		var tiles []gocv.Mat
		for j := i; j <= i+1 && j <= 35; j++ {
			f := gocv.IMRead(fmt.Sprintf("/tmp/walk/f%02d.png", j), gocv.IMReadColor)
			roi := f.Region(crop)
			big := gocv.NewMat()
			gocv.Resize(roi, &big, image.Point{}, s, s, gocv.InterpolationCubic)
			canvas := gocv.NewMatWithSize(big.Rows()+30, big.Cols()+40, gocv.MatTypeCV8UC3)
			dst := canvas.Region(image.Rect(40, 30, 40+big.Cols(), 30+big.Rows()))
			big.CopyTo(&dst)
			for x := crop.Min.X; x <= crop.Max.X; x += 10 {
				px := 40 + (x-crop.Min.X)*s
				c := color.RGBA{0, 255, 255, 0}
				if x%50 == 0 { c = color.RGBA{255, 0, 255, 0} }
				gocv.Line(&canvas, image.Pt(px, 30), image.Pt(px, canvas.Rows()), c, 1)
				if x%20 == 0 { gocv.PutText(&canvas, fmt.Sprint(x), image.Pt(px-12, 20), gocv.FontHersheySimplex, 0.45, color.RGBA{255, 255, 255, 0}, 1) }
			}
			for y := crop.Min.Y; y <= crop.Max.Y; y += 10 {
				py := 30 + (y-crop.Min.Y)*s
				c := color.RGBA{0, 255, 255, 0}
				if y%50 == 0 { c = color.RGBA{255, 0, 255, 0} }
				gocv.Line(&canvas, image.Pt(40, py), image.Pt(canvas.Cols(), py), c, 1)
				if y%20 == 0 { gocv.PutText(&canvas, fmt.Sprint(y), image.Pt(2, py+5), gocv.FontHersheySimplex, 0.45, color.RGBA{255, 255, 255, 0}, 1) }
			}
			gocv.PutText(&canvas, fmt.Sprintf("frame %d", j-1), image.Pt(canvas.Cols()-150, 20), gocv.FontHersheySimplex, 0.6, color.RGBA{0, 255, 0, 0}, 2)
			tiles = append(tiles, canvas)
		}
		out := gocv.NewMat()
		if len(tiles) == 2 { gocv.Vconcat(tiles[0], tiles[1], &out) } else { out = tiles[0] }
		gocv.IMWrite(fmt.Sprintf("/tmp/walk/grid%02d.png", i-1), out)
	}
}

func TestDebugLabels(t *testing.T) {
	if os.Getenv("DEBUGRED") == "" { t.Skip() }
	labels := readLabels(t, "testdata/faces-walking.labels.txt")
	var tiles []gocv.Mat
	from := 0
	fmt.Sscan(os.Getenv("FROM"), &from)
	for i := from; i < from+6 && i < 35; i++ {
		f := gocv.IMRead(fmt.Sprintf("/tmp/walk/f%02d.png", i+1), gocv.IMReadColor)
		for _, r := range labels[i] { gocv.Rectangle(&f, r, color.RGBA{0, 255, 0, 0}, 1) }
		roi := f.Region(image.Rect(150, 85, 350, 155))
		big := gocv.NewMat()
		gocv.Resize(roi, &big, image.Point{}, 3, 3, gocv.InterpolationCubic)
		gocv.PutText(&big, fmt.Sprint(i), image.Pt(5, 30), gocv.FontHersheySimplex, 1, color.RGBA{255, 0, 0, 0}, 2)
		tiles = append(tiles, big)
	}
	out := tiles[0]
	for _, m := range tiles[1:] { n := gocv.NewMat(); gocv.Vconcat(out, m, &n); out = n }
	gocv.IMWrite(fmt.Sprintf("/tmp/walk/labels%02d.png", from), out)
}

func TestDebugWalkOut(t *testing.T) {
	if os.Getenv("DEBUGRED") == "" { t.Skip() }
	labels := readLabels(t, "testdata/faces-walking.labels.txt")
	master := filepath.Join(footage, "faces-walking.mp4")
	r := newRedactorT(t, Config{})
	out := renderT(t, r, master, nil)
	var lg Log
	json.Unmarshal(out.Log, &lg)
	vo, _ := gocv.VideoCaptureFile(out.Path)
	vm, _ := gocv.VideoCaptureFile(master)
	f, fm := gocv.NewMat(), gocv.NewMat()
	lm, lo := gocv.NewMat(), gocv.NewMat()
	var tiles []gocv.Mat
	for i := 0; vo.Read(&f) && vm.Read(&fm); i++ {
		laplacian(fm, &lm); laplacian(f, &lo)
		for _, fr := range lg.BoxFrames { if fr.Index == i { for _, b := range fr.Boxes { if b.Detected != nil { fmt.Println(i, b.Box, *b.Detected, b.Detector, b.Score, b.Source, b.Track) } } } }
		for n, r := range labels[i] {
			if !isCovered(lm, lo, r) { fmt.Println("  MISS", n, r, meanIn(lm, r), meanIn(lo, r))
				for cy := 0; cy < 3; cy++ {
					for cx := 0; cx < 3; cx++ {
						c := image.Rect(r.Min.X+cx*r.Dx()/3, r.Min.Y+cy*r.Dy()/3, r.Min.X+(cx+1)*r.Dx()/3, r.Min.Y+(cy+1)*r.Dy()/3)
						a, b, n := cellStats(lm, lo, c)
						fmt.Printf("  %.1f/%.1f/%.2f", a, b, n)
					}
					fmt.Println()
				}
			}
		}
		if i%6 != 0 && i != 34 && i != 10 { continue }
		for _, r := range labels[i] { gocv.Rectangle(&f, r, color.RGBA{0, 255, 0, 0}, 1) }
		roi := f.Region(image.Rect(150, 85, 350, 155))
		big := gocv.NewMat()
		gocv.Resize(roi, &big, image.Point{}, 3, 3, gocv.InterpolationCubic)
		gocv.PutText(&big, fmt.Sprint(i), image.Pt(5, 30), gocv.FontHersheySimplex, 1, color.RGBA{255, 0, 0, 0}, 2)
		tiles = append(tiles, big)
	}
	o := tiles[0]
	for _, m := range tiles[1:] { n := gocv.NewMat(); gocv.Vconcat(o, m, &n); o = n }
	gocv.IMWrite("/tmp/walk/out.png", o)
}

func TestDebugMan0(t *testing.T) {
	if os.Getenv("DEBUGRED") == "" { t.Skip() }
	master := filepath.Join(footage, "faces-walking.mp4")
	r := newRedactorT(t, Config{})
	out := renderT(t, r, master, nil)
	vo, _ := gocv.VideoCaptureFile(out.Path)
	vm, _ := gocv.VideoCaptureFile(master)
	f, fm := gocv.NewMat(), gocv.NewMat()
	vo.Read(&f); vm.Read(&fm)
	crop := image.Rect(310, 90, 360, 135)
	a, b := fm.Region(crop), f.Region(crop)
	ba, bb := gocv.NewMat(), gocv.NewMat()
	gocv.Resize(a, &ba, image.Point{}, 8, 8, gocv.InterpolationNearestNeighbor)
	gocv.Resize(b, &bb, image.Point{}, 8, 8, gocv.InterpolationNearestNeighbor)
	o := gocv.NewMat()
	gocv.Hconcat(ba, bb, &o)
	gocv.Rectangle(&o, image.Rect((329-310)*8, (104-90)*8, (344-310)*8, (121-90)*8), color.RGBA{0, 255, 0, 0}, 1)
	gocv.IMWrite("/tmp/walk/man0.png", o)
}
