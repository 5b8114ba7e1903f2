package redact

import (
	"bufio"
	"context"
	"fmt"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gocv.io/x/gocv"
)

const footage = "../../testdata/footage"

// ffmpegT runs ffmpeg for test fixtures and fails the test on error.
func ffmpegT(t testing.TB, args ...string) {
	t.Helper()
	cmd := exec.Command("ffmpeg", append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// loopStill makes a clip of a still image, as a camera pointed at a
// photograph would record it.
func loopStill(t testing.TB, png string, seconds, fps int) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "still.mp4")
	ffmpegT(t, "-loop", "1", "-framerate", fmt.Sprint(fps), "-i", png, "-t", fmt.Sprint(seconds),
		"-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", out)
	return out
}

func newRedactorT(t testing.TB, cfg Config) *Redactor {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func renderT(t testing.TB, r *Redactor, master string, edits []ManualEdit) Output {
	t.Helper()
	out, err := r.Render(context.Background(), master, t.TempDir(), edits)
	if err != nil {
		t.Fatalf("Render %s: %v", master, err)
	}
	return out
}

// readRefBoxes reads a ViSP boxes file: a name line, then four corner
// points as "row col" lines, per box.
func readRefBoxes(t testing.TB, path string) map[string]image.Rectangle {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	boxes := map[string]image.Rectangle{}
	var name string
	var pts []image.Point
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		switch len(fs) {
		case 0:
		case 1:
			name, pts = fs[0], nil
		case 2:
			row, err1 := strconv.Atoi(fs[0])
			col, err2 := strconv.Atoi(fs[1])
			if err1 != nil || err2 != nil {
				t.Fatalf("%s: bad line %q", path, sc.Text())
			}
			pts = append(pts, image.Pt(col, row))
			if len(pts) == 4 {
				r := image.Rectangle{Min: pts[0], Max: pts[0]}
				for _, p := range pts[1:] {
					r = r.Union(image.Rectangle{Min: p, Max: p.Add(image.Pt(1, 1))})
				}
				boxes[name] = r
			}
		}
	}
	return boxes
}

// coverage compares the output with the master frame by frame and reports,
// per reference box, on how many frames it was covered. A box counts as
// covered when the fine detail (mean absolute Laplacian) in each cell of a
// 3x3 grid over it collapsed against the master: that is what a viewer of
// the output sees, whatever boxes the redactor thinks it drew.
func coverage(t testing.TB, master, output string, refs func(frame int) map[string]image.Rectangle) (frames int, covered map[string]int, seen map[string]int) {
	t.Helper()
	vm, err := gocv.VideoCaptureFile(master)
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	vo, err := gocv.VideoCaptureFile(output)
	if err != nil {
		t.Fatal(err)
	}
	defer vo.Close()
	fm, fo := gocv.NewMat(), gocv.NewMat()
	defer fm.Close()
	defer fo.Close()
	lm, lo := gocv.NewMat(), gocv.NewMat()
	defer lm.Close()
	defer lo.Close()
	covered, seen = map[string]int{}, map[string]int{}
	for ; ; frames++ {
		okM, okO := vm.Read(&fm), vo.Read(&fo)
		if !okM || fm.Empty() {
			if okO && !fo.Empty() {
				t.Fatalf("output has more frames than the master (%d)", frames)
			}
			return frames, covered, seen
		}
		if !okO || fo.Empty() {
			t.Fatalf("output ends at frame %d, master goes on", frames)
		}
		laplacian(fm, &lm)
		laplacian(fo, &lo)
		for name, r := range refs(frames) {
			seen[name]++
			if isCovered(lm, lo, r) {
				covered[name]++
			}
		}
	}
}

func laplacian(bgr gocv.Mat, dst *gocv.Mat) {
	g := gocv.NewMat()
	defer g.Close()
	gocv.CvtColor(bgr, &g, gocv.ColorBGRToGray)
	l := gocv.NewMat()
	defer l.Close()
	gocv.Laplacian(g, &l, gocv.MatTypeCV16S, 3, 1, 0, gocv.BorderDefault)
	gocv.ConvertScaleAbs(l, dst, 1, 0)
}

func isCovered(lm, lo gocv.Mat, r image.Rectangle) bool {
	r = r.Intersect(image.Rect(0, 0, lm.Cols(), lm.Rows()))
	if r.Dx() < 3 || r.Dy() < 3 {
		return true
	}
	if meanIn(lo, r) > 0.3*meanIn(lm, r) {
		return false
	}
	for cy := 0; cy < 3; cy++ {
		for cx := 0; cx < 3; cx++ {
			c := image.Rect(r.Min.X+cx*r.Dx()/3, r.Min.Y+cy*r.Dy()/3, r.Min.X+(cx+1)*r.Dx()/3, r.Min.Y+(cy+1)*r.Dy()/3)
			em, eo := meanIn(lm, c), meanIn(lo, c)
			// H.264 leaves a detail level of about 4 to 8 on a smooth
			// area, a little more where two covers meet; beyond that
			// allowance a cell must lose most of its detail. An uncovered
			// face cell keeps all of it (40 to 110 here).
			if eo > 0.35*em+8 {
				return false
			}
		}
	}
	return true
}

func meanIn(m gocv.Mat, r image.Rectangle) float64 {
	roi := m.Region(r)
	defer roi.Close()
	return roi.Mean().Val1
}
