package redact

import (
	"context"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// make1080p30 builds the benchmark clip: faces-walking (real corridor
// footage, two people walking towards the camera) played three times over,
// upscaled to 1920x1080 and resampled to 30 fps: 8.75 s, 262 frames.
func make1080p30(b *testing.B) (string, int) {
	b.Helper()
	clip := filepath.Join(b.TempDir(), "walking-1080p30.mp4")
	ffmpegT(b, "-stream_loop", "2", "-i", filepath.Join(footage, "faces-walking.mp4"),
		"-vf", "scale=1920:1080:flags=bicubic,fps=30", "-c:v", "libx264", "-preset", "veryfast", "-bf", "0",
		"-pix_fmt", "yuv420p", clip)
	mi, err := probe(context.Background(), "ffprobe", clip)
	if err != nil {
		b.Fatal(err)
	}
	return clip, mi.Frames
}

// ffmpegReencode times the baseline: ffmpeg alone re-encoding the same
// clip with libx264 -preset veryfast. It returns wall and CPU seconds.
func ffmpegReencode(b *testing.B, clip string) (wall, cpu float64) {
	b.Helper()
	out := filepath.Join(b.TempDir(), "baseline.mp4")
	start, c0 := time.Now(), cpuSeconds()
	cmd := exec.Command("ffmpeg", "-v", "error", "-y", "-i", clip, "-c:v", "libx264", "-preset", "veryfast", out)
	if o, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("baseline re-encode: %v\n%s", err, o)
	}
	return time.Since(start).Seconds(), cpuSeconds() - c0
}

// cpuSeconds is the CPU time used by this process and its finished
// children (ffmpeg). Other jobs on a shared machine stretch wall time but
// not this, so it tells what an idle 2-core appliance would manage.
func cpuSeconds() float64 {
	var self, kids syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	ns := self.Utime.Nano() + self.Stime.Nano() + kids.Utime.Nano() + kids.Stime.Nano()
	return float64(ns) / 1e9
}

// make10People builds a 1080p30 crowd of ten: a 2x2 grid of 960x540
// cells, faces-walking (two people) and store-aisle (three), each also
// mirrored, looped to 8 s.
func make10People(b *testing.B) (string, int) {
	b.Helper()
	clip := filepath.Join(b.TempDir(), "ten-people-1080p30.mp4")
	walk, aisle := filepath.Join(footage, "faces-walking.mp4"), filepath.Join(footage, "store-aisle.mp4")
	ffmpegT(b, "-stream_loop", "3", "-i", walk, "-stream_loop", "2", "-i", aisle,
		"-filter_complex", "[0:v]fps=30,scale=960:540,split[w1][w2];[w2]hflip[w3];[1:v]fps=30,scale=960:540,split[a1][a2];[a2]hflip[a3];[w1][a1][a3][w3]xstack=inputs=4:layout=0_0|960_0|0_540|960_540[out]",
		"-map", "[out]", "-t", "8", "-c:v", "libx264", "-preset", "veryfast", "-bf", "0", "-pix_fmt", "yuv420p", clip)
	mi, err := probe(context.Background(), "ffprobe", clip)
	if err != nil {
		b.Fatal(err)
	}
	return clip, mi.Frames
}

// BenchmarkRedact1080p30 renders 1080p30 real footage with two people in
// frame (faces-walking, upscaled) and with ten (see make10People), and
// reports the ratio to real time (>= 1 keeps up with a camera), frames per
// second, and the ratio to a bare ffmpeg veryfast re-encode of the same
// clip measured in the same run. Wall time on a shared machine depends on
// the other jobs, so it also reports CPU seconds spent per second of video
// (self + ffmpeg): at or under 2 an idle 2-core appliance keeps up.
// "default" is the shipped Config, the CLI's and the daemon's.
func BenchmarkRedact1080p30(b *testing.B) {
	for _, scene := range []struct {
		name string
		make func(*testing.B) (string, int)
	}{{"2-people", make1080p30}, {"10-people", make10People}} {
		b.Run(scene.name, func(b *testing.B) {
			clip, frames := scene.make(b)
			baseSec, baseCPU := ffmpegReencode(b, clip)
			b.Run("default", func(b *testing.B) { benchRender(b, Config{}, clip, frames, baseSec, baseCPU) })
		})
	}
}

func benchRender(b *testing.B, cfg Config, clip string, frames int, baseSec, baseCPU float64) {
	r := newRedactorT(b, cfg)
	var redactSec, redactCPU float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start, c0 := time.Now(), cpuSeconds()
		out, err := r.Render(context.Background(), clip, b.TempDir(), nil)
		if err != nil {
			b.Fatal(err)
		}
		redactSec += time.Since(start).Seconds()
		redactCPU += cpuSeconds() - c0
		if out.Summary.Frames != frames {
			b.Fatalf("rendered %d frames, clip has %d", out.Summary.Frames, frames)
		}
	}
	n := float64(b.N * frames)
	video := n / 30
	b.ReportMetric(video/redactSec, "x-realtime")
	b.ReportMetric(n/redactSec, "redact-fps")
	b.ReportMetric(baseSec/(redactSec/float64(b.N)), "x-ffmpeg-veryfast")
	b.ReportMetric(redactCPU/video, "redact-cpu-s/video-s")
	b.ReportMetric(baseCPU/(video/float64(b.N)), "ffmpeg-cpu-s/video-s")
}
