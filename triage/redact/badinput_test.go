package redact

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"gocv.io/x/gocv"
)

// Garbage and a truncated recording both fail with an error that names the
// file, leave nothing behind in the output directory, and never touch the
// master.
func TestBrokenInputClearError(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.mp4")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not a video "), 5000), 0o444); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(footage, "faces-walking.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.mp4")
	if err := os.WriteFile(truncated, src[:len(src)/3], 0o444); err != nil {
		t.Fatal(err)
	}
	r := newRedactorT(t, Config{})
	for _, master := range []string{garbage, truncated, filepath.Join(dir, "missing.mp4")} {
		t.Run(filepath.Base(master), func(t *testing.T) {
			before, _ := os.ReadFile(master)
			outDir := t.TempDir()
			_, err := r.Render(context.Background(), master, outDir, nil)
			if err == nil {
				t.Fatal("Render succeeded on a broken master")
			}
			t.Logf("error: %v", err)
			if !strings.Contains(err.Error(), filepath.Base(master)) {
				t.Errorf("error does not name the file: %v", err)
			}
			if left, _ := os.ReadDir(outDir); len(left) != 0 {
				t.Errorf("output directory holds %d files after a failed render", len(left))
			}
			if after, _ := os.ReadFile(master); !bytes.Equal(before, after) {
				t.Error("master changed")
			}
		})
	}

	// Asked to, the redactor renders what decodes of the truncated file and
	// tells the reviewer what is missing.
	partial := newRedactorT(t, Config{AllowIncomplete: true})
	_, err = r.Render(context.Background(), truncated, t.TempDir(), nil)
	if !errors.Is(err, ErrIncomplete) {
		t.Errorf("truncated master: %v, want ErrIncomplete", err)
	}
	out := renderT(t, partial, truncated, nil)
	var lg Log
	if err := json.Unmarshal(out.Log, &lg); err != nil {
		t.Fatal(err)
	}
	var flagged, queued bool
	for _, f := range lg.QA.Flags {
		flagged = flagged || (f.Reason == QAIncomplete && f.StartFrame == out.Summary.Frames && f.EndFrame == 34)
	}
	for _, e := range out.Summary.QA.Review.Entries {
		for _, w := range e.Why {
			queued = queued || (w.Reason == ReasonIncomplete && e.Rank == 1)
		}
	}
	if !queued {
		t.Errorf("the review queue does not put the missing end first: %+v", out.Summary.QA.Review)
	}
	if !flagged || out.Summary.Frames >= 35 || out.Summary.Frames == 0 {
		t.Errorf("partial render: %d frames, QA %+v", out.Summary.Frames, out.Summary.QA)
	}
}

// The empty room: nothing is found, the QA map says so, and the output is
// the master re-encoded: same frame count, every frame close to the master.
func TestNoFacesOutputUnchanged(t *testing.T) {
	master := filepath.Join(footage, "static-room.mp4")
	r := newRedactorT(t, Config{})
	out := renderT(t, r, master, nil)
	if !out.Summary.QA.NoneFound || out.Summary.Boxes != 0 {
		t.Errorf("QA none_found=%v boxes=%d on an empty room, want true and 0; flags %+v",
			out.Summary.QA.NoneFound, out.Summary.Boxes, out.Summary.QA.Flags)
	}
	if !strings.Contains(out.Summary.QA.Message, "no faces or plates found") {
		t.Errorf("QA message %q", out.Summary.QA.Message)
	}
	worst, frames := minPSNR(t, master, out.Path)
	if frames != 60 {
		t.Errorf("output has %d frames, master 60", frames)
	}
	if worst < 35 {
		t.Errorf("worst frame PSNR against the master %.1f dB, want >= 35 (re-encoding only)", worst)
	}
	t.Logf("worst PSNR %.1f dB over %d frames", worst, frames)
}

func minPSNR(t *testing.T, a, b string) (float64, int) {
	t.Helper()
	va, err := gocv.VideoCaptureFile(a)
	if err != nil {
		t.Fatal(err)
	}
	defer va.Close()
	vb, err := gocv.VideoCaptureFile(b)
	if err != nil {
		t.Fatal(err)
	}
	defer vb.Close()
	fa, fb := gocv.NewMat(), gocv.NewMat()
	defer fa.Close()
	defer fb.Close()
	worst, n := 1000.0, 0
	for va.Read(&fa) && !fa.Empty() {
		if !vb.Read(&fb) || fb.Empty() {
			t.Fatalf("output ends at frame %d", n)
		}
		worst = min(worst, psnr(fa, fb))
		n++
	}
	if vb.Read(&fb) && !fb.Empty() {
		t.Fatalf("output has more than the master's %d frames", n)
	}
	return worst, n
}

// A 4K clip (faces-walking scaled 8x, half a second to hold test time):
// detection runs at reduced resolution and the boxes are mapped back; the
// labelled faces are covered.
func Test4KClip(t *testing.T) {
	master := filepath.Join(t.TempDir(), "walking-4k.mp4")
	ffmpegT(t, "-i", filepath.Join(footage, "faces-walking.mp4"), "-t", "0.5", "-vf", "scale=3840:2160",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", master)
	labels := readLabels(t, "testdata/faces-walking.labels.txt")
	r := newRedactorT(t, Config{Preset: "ultrafast"})
	out := renderT(t, r, master, nil)
	if out.Summary.Width != 3840 || out.Summary.Height != 2160 {
		t.Errorf("output %dx%d, want 3840x2160", out.Summary.Width, out.Summary.Height)
	}
	checkLabelsCovered(t, master, out.Path, labels, func(r image.Rectangle) image.Rectangle { return image.Rectangle{Min: r.Min.Mul(8), Max: r.Max.Mul(8)} })
}

// A portrait clip (faces-walking cropped to the two people and scaled to
// 408x540) keeps its shape and its faces are covered; so does the same clip
// stored the way phones record portrait video: pixels turned sideways plus
// a rotation tag, which the decoder applies.
func TestPortraitClip(t *testing.T) {
	dir := t.TempDir()
	upright := filepath.Join(dir, "walking-portrait.mp4")
	ffmpegT(t, "-i", filepath.Join(footage, "faces-walking.mp4"), "-t", "1", "-vf", "crop=204:270:150:0,scale=408:540",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", upright)
	sideways := filepath.Join(dir, "sideways.mp4")
	ffmpegT(t, "-i", upright, "-vf", "transpose=1", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", sideways)
	tagged := filepath.Join(dir, "walking-portrait-rotated.mp4")
	ffmpegT(t, "-i", sideways, "-c", "copy", "-metadata:s:v:0", "rotate=90", tagged)

	labels := readLabels(t, "testdata/faces-walking.labels.txt")
	r := newRedactorT(t, Config{})
	for _, master := range []string{upright, tagged} {
		t.Run(filepath.Base(master), func(t *testing.T) {
			out := renderT(t, r, master, nil)
			if out.Summary.Width != 408 || out.Summary.Height != 540 {
				t.Errorf("output %dx%d, want 408x540", out.Summary.Width, out.Summary.Height)
			}
			// The output is compared with the upright clip, which is what a
			// player shows for the tagged one (OpenCV 4.6 would decode the
			// tagged clip upside down).
			checkLabelsCovered(t, upright, out.Path, labels, func(r image.Rectangle) image.Rectangle {
				r = r.Sub(image.Pt(150, 0))
				return image.Rectangle{Min: r.Min.Mul(2), Max: r.Max.Mul(2)}
			})
		})
	}
}

func checkLabelsCovered(t *testing.T, master, output string, labels map[int]map[string]image.Rectangle, mapBox func(image.Rectangle) image.Rectangle) {
	t.Helper()
	frames, covered, seen, missed := coverage(t, master, output, func(f int) map[string]image.Rectangle {
		m := map[string]image.Rectangle{}
		for k, r := range labels[f] {
			m[k] = mapBox(r)
		}
		return m
	})
	for _, who := range []string{"woman", "man"} {
		if seen[who] != frames || covered[who] != frames {
			t.Errorf("%s covered on %d of %d frames; not on %v", who, covered[who], frames, missed[who])
		}
	}
}

// The master is only read; the summary's digests are those of the files.
func TestDigestsAndMasterUntouched(t *testing.T) {
	master := filepath.Join(footage, "faces-walking.mp4")
	before, err := digestFile(master)
	if err != nil {
		t.Fatal(err)
	}
	r := newRedactorT(t, Config{})
	out := renderT(t, r, master, nil)
	after, _ := digestFile(master)
	if before != after || out.Summary.Master != before {
		t.Errorf("master digest before %s after %s summary %s", before.Short(), after.Short(), out.Summary.Master.Short())
	}
	got, _ := digestFile(out.Path)
	if got != out.Summary.Digest {
		t.Errorf("summary digest %s, file %s", out.Summary.Digest.Short(), got.Short())
	}
	if evidence.DigestBytes(out.Log) != out.Summary.LogDigest {
		t.Error("summary log digest does not match the log bytes")
	}
	// The CLI prints the summary; its JSON leads with the new item's digest.
	js, err := json.Marshal(out.Summary)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(js), `{"digest":"`+got.String()+`"`) {
		t.Errorf("summary JSON starts %q", string(js)[:80])
	}
	var lg Log
	if err := json.Unmarshal(out.Log, &lg); err != nil {
		t.Fatal(err)
	}
	if lg.Master != before || lg.Output != got || lg.Frames != 35 {
		t.Errorf("log master %s output %s frames %d", lg.Master.Short(), lg.Output.Short(), lg.Frames)
	}
	video, logItem := out.Intakes()
	if video.Parent != before || logItem.Parent != got || logItem.Kind != evidence.KindRedactionLog {
		t.Errorf("intakes do not link copy to master and log to copy: %+v %+v", video, logItem)
	}
	checkBrowserPlayable(t, out.Path)
}

// checkBrowserPlayable wants H.264 in yuv420p without B-frames, with the
// index (moov) before the media data.
func checkBrowserPlayable(t *testing.T, path string) {
	t.Helper()
	outp, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
		"stream=codec_name,pix_fmt,has_b_frames", "-of", "default=nw=1", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"codec_name=h264", "pix_fmt=yuv420p", "has_b_frames=0"} {
		if !strings.Contains(string(outp), want) {
			t.Errorf("%s: ffprobe says %q, want %s", filepath.Base(path), outp, want)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	moov, mdat := bytes.Index(b, []byte("moov")), bytes.Index(b, []byte("mdat"))
	if moov < 0 || mdat < 0 || moov > mdat {
		t.Errorf("moov at %d, mdat at %d: not faststart", moov, mdat)
	}
}

func TestConfigValidate(t *testing.T) {
	_, err := New(Config{DetectMaxSide: 100, CRF: 60, ProfileFaces: true, ProfileCascade: "/nonexistent.xml"})
	if err == nil {
		t.Fatal("New accepted a bad config")
	}
	for _, key := range []string{"'DetectMaxSide'", "'CRF'", "'ProfileCascade'"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error does not name %s: %v", key, err)
		}
	}
	r := newRedactorT(t, Config{})
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Render(context.Background(), "x.mp4", t.TempDir(), nil); err == nil || errors.Is(err, ErrNoFrames) {
		t.Errorf("Render after Close: %v", err)
	}
}

func psnr(a, b gocv.Mat) float64 {
	l2 := gocv.NormWithMats(a, b, gocv.NormL2)
	n := float64(a.Rows() * a.Cols() * a.Channels())
	mse := l2 * l2 / n
	if mse == 0 {
		return 100
	}
	return 10 * math.Log10(255*255/mse)
}

// Cancelling a render stops both passes and ffmpeg, reports the
// cancellation and leaves no partial file; the redactor stays usable.
func TestRenderCancelled(t *testing.T) {
	master := filepath.Join(footage, "parking-cars.mp4")
	r := newRedactorT(t, Config{})
	outDir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := r.Render(ctx, master, outDir, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Render under a 0.5 s deadline: %v", err)
	}
	if left, _ := os.ReadDir(outDir); len(left) != 0 {
		t.Errorf("%d files left after a cancelled render", len(left))
	}
	renderT(t, r, filepath.Join(footage, "faces-walking.mp4"), nil)
}
