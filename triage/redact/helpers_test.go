package redact

import (
	"bufio"
	"context"
	"fmt"
	"image"
	"math"
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
// per reference box, on how many frames it was covered, and on which not.
// It looks only at pixels: what a viewer of the output sees, whatever boxes
// the redactor thinks it drew (see isCovered).
func coverage(t testing.TB, master, output string, refs func(frame int) map[string]image.Rectangle) (frames int, covered map[string]int, seen map[string]int, missed map[string][]int) {
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
	covered, seen, missed = map[string]int{}, map[string]int{}, map[string][]int{}
	for ; ; frames++ {
		okM, okO := vm.Read(&fm), vo.Read(&fo)
		if !okM || fm.Empty() {
			if okO && !fo.Empty() {
				t.Fatalf("output has more frames than the master (%d)", frames)
			}
			return frames, covered, seen, missed
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
			} else {
				missed[name] = append(missed[name], frames)
			}
		}
	}
}

// laplacian is the signed fine detail of a frame's grey levels.
func laplacian(bgr gocv.Mat, dst *gocv.Mat) {
	g := gocv.NewMat()
	defer g.Close()
	gocv.CvtColor(bgr, &g, gocv.ColorBGRToGray)
	gocv.Laplacian(g, dst, gocv.MatTypeCV32F, 3, 1, 0, gocv.BorderDefault)
}

// isCovered splits r into a 3x3 grid and calls r uncovered if in any cell
// the master's fine detail survives in the output: the output still has
// most of the detail energy AND that detail is the master's (normalised
// correlation of the two Laplacians). Energy alone would also count the
// edge a cover draws across a flat cheek, or H.264 ringing next to a hard
// edge; correlation alone is noisy on a few pixels of flat skin.
func isCovered(lm, lo gocv.Mat, r image.Rectangle) bool {
	r = r.Intersect(image.Rect(0, 0, lm.Cols(), lm.Rows()))
	if r.Dx() < 3 || r.Dy() < 3 {
		return true
	}
	for cy := 0; cy < 3; cy++ {
		for cx := 0; cx < 3; cx++ {
			c := image.Rect(r.Min.X+cx*r.Dx()/3, r.Min.Y+cy*r.Dy()/3, r.Min.X+(cx+1)*r.Dx()/3, r.Min.Y+(cy+1)*r.Dy()/3)
			em, eo, ncc := cellStats(lm, lo, c)
			// H.264 alone leaves a detail level of 4 to 8 on smooth
			// areas; an uncovered face cell keeps 20 to 110, correlated.
			if eo > 0.35*em+8 && ncc > 0.35 {
				return false
			}
		}
	}
	return true
}

// cellStats returns the mean absolute Laplacian of master and output in c
// and their normalised cross-correlation.
func cellStats(lm, lo gocv.Mat, c image.Rectangle) (em, eo, ncc float64) {
	var sm, so, smm, soo, smo float64
	n := 0
	for y := c.Min.Y; y < c.Max.Y; y++ {
		for x := c.Min.X; x < c.Max.X; x++ {
			a, b := float64(lm.GetFloatAt(y, x)), float64(lo.GetFloatAt(y, x))
			em += math.Abs(a)
			eo += math.Abs(b)
			sm += a
			so += b
			smm += a * a
			soo += b * b
			smo += a * b
			n++
		}
	}
	fn := float64(n)
	cov := smo/fn - sm/fn*so/fn
	vm, vo := smm/fn-sq(sm/fn), soo/fn-sq(so/fn)
	if vm <= 0 || vo <= 0 {
		return em / fn, eo / fn, 0
	}
	return em / fn, eo / fn, cov / math.Sqrt(vm*vo)
}

func sq(x float64) float64 { return x * x }

func meanIn(m gocv.Mat, r image.Rectangle) float64 {
	roi := m.Region(r)
	defer roi.Close()
	return roi.Mean().Val1
}

// readLabels reads "frame name x0 y0 x1 y1" lines; # starts a comment.
func readLabels(t testing.TB, path string) map[int]map[string]image.Rectangle {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]map[string]image.Rectangle{}
	for n, line := range strings.Split(string(b), "\n") {
		line, _, _ = strings.Cut(line, "#")
		fs := strings.Fields(line)
		if len(fs) == 0 {
			continue
		}
		if len(fs) != 6 {
			t.Fatalf("%s:%d: want frame name x0 y0 x1 y1", path, n+1)
		}
		var v [5]int
		for i, s := range append([]string{fs[0]}, fs[2:]...) {
			if v[i], err = strconv.Atoi(s); err != nil {
				t.Fatalf("%s:%d: %v", path, n+1, err)
			}
		}
		if out[v[0]] == nil {
			out[v[0]] = map[string]image.Rectangle{}
		}
		out[v[0]][fs[1]] = image.Rect(v[1], v[2], v[3], v[4])
	}
	return out
}
