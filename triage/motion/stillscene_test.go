package motion

import (
	"context"
	"image"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

// stillScene writes the still-scene clip of issue 19 into dir: the empty
// car park of parking-cars.mp4 (one frame, 10 s in) held for 30 s at
// 10 fps, its low contrast lowered further, with a camera's temporal noise,
// encoded the way a cheap camera's rate control treats it: x264 at
// 500 kbit/s with a VBV buffer of half a second, a keyframe every 10 s and
// no B-frames. A keyframe spends the buffer, so the P-frames after it start
// at about 100 bytes and grow to several KB within the second as the
// encoder goes back to coding texture and noise: nothing moves, but the
// picture's fine detail keeps changing. Before the detector weighed change
// against each block's own noise, contrast normalisation turned that into
// one to three "events" of boxes scattered over the frame. One thread
// keeps x264's output the same on every run.
func stillScene(t testing.TB, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "still-scene.mp4")
	ffmpeg(t, "-ss", "10", "-i", footage+"parking-cars.mp4", "-frames:v", "1", filepath.Join(dir, "frame.png"))
	ffmpeg(t, "-loop", "1", "-framerate", "10", "-t", "30", "-i", filepath.Join(dir, "frame.png"),
		"-vf", "eq=contrast=0.4,noise=alls=4:allf=t,format=yuv420p", "-an",
		"-c:v", "libx264", "-threads", "1", "-preset", "veryfast",
		"-b:v", "500k", "-maxrate", "500k", "-bufsize", "250k", "-g", "100", "-bf", "0", "-sc_threshold", "0", p)
	return p
}

// packetSizes lists the clip's video packets: size and whether a keyframe.
func packetSizes(t testing.TB, path string) (sizes []int, key []bool) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "packet=size,flags", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	for _, line := range strings.Fields(string(out)) {
		size, flags, _ := strings.Cut(line, ",")
		n, err := strconv.Atoi(size)
		if err != nil {
			t.Fatalf("ffprobe packet line %q", line)
		}
		sizes = append(sizes, n)
		key = append(key, strings.Contains(flags, "K"))
	}
	return sizes, key
}

// rawMotionFrames counts the frames in which the detector sees any motion
// at all, confirmed or not.
func rawMotionFrames(t testing.TB, path string) int {
	t.Helper()
	si, err := probeVideo(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	det, err := NewDetector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer det.Close()
	ws := workSize(image.Pt(si.width, si.height), cfg.WorkHeight)
	n := 0
	if _, _, err := ffDecode(context.Background(), path, ws.X, ws.Y, 0, func(m gocv.Mat, at float64) {
		if st := det.Process(m, time.Duration(at*float64(time.Second))); len(st.Boxes) > 0 {
			n++
		}
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestStillSceneHasNoEvents: nothing moves in the still-scene clip, so
// triage reports nothing, however it decodes. The clip must be what it is
// meant to be (P-frames growing from almost nothing after a keyframe) and
// must still make the detector see scattered change, or the test would
// pass on footage that never troubled it.
func TestStillSceneHasNoEvents(t *testing.T) {
	t.Parallel()
	clip := stillScene(t, t.TempDir())
	sizes, key := packetSizes(t, clip)
	ramp := false
	for i := range len(sizes) - 10 {
		if key[i] && sizes[i+1] < 1000 && max(sizes[i+2], sizes[i+3], sizes[i+4], sizes[i+5], sizes[i+6]) > 4000 {
			ramp = true
		}
	}
	if !ramp {
		t.Fatalf("the clip has no keyframe followed by a nearly empty P-frame and growing ones: %v", sizes[:20])
	}
	if n := rawMotionFrames(t, clip); n < 10 {
		t.Fatalf("the detector sees change in only %d frames: the clip no longer provokes it", n)
	}
	for name, mutate := range map[string]func(*Config){
		"full decode":    func(*Config) {},
		"analysis_fps 5": func(c *Config) { c.AnalysisFPS = 5 },
		"prefilter":      func(c *Config) { c.Prefilter = true },
	} {
		cfg := DefaultConfig()
		mutate(&cfg)
		res, err := Analyze(context.Background(), clip, cfg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(res.Events) != 0 || len(res.Alerts) != 0 {
			t.Errorf("%s: still scene gives events %s alerts %+v", name, spans(res.Events), res.Alerts)
		}
	}
}
