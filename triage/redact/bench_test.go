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

// BenchmarkRedact1080p30 renders 1080p30 real footage and reports frames
// per second, the ratio to real time (>= 1 keeps up with a camera), and the
// ratio to a bare ffmpeg veryfast re-encode of the same clip measured in the
// same run. Wall time on a shared machine depends on the other jobs, so it
// also reports CPU seconds spent per second of video (self + ffmpeg): at or
// under 2 an idle 2-core appliance keeps up with the camera.
// "default" is the shipped Config; "realtime" is Realtime(), which trades
// detection rate and encoder effort for speed.
func BenchmarkRedact1080p30(b *testing.B) {
	clip, frames := make1080p30(b)
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"default", Config{}},
		{"realtime", Realtime()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := newRedactorT(b, tc.cfg)
			var redactSec, redactCPU, baseSec, baseCPU float64
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
				b.StopTimer()
				w, c := ffmpegReencode(b, clip)
				baseSec += w
				baseCPU += c
				b.StartTimer()
			}
			n := float64(b.N * frames)
			video := n / 30
			fps := n / redactSec
			b.ReportMetric(fps, "redact-fps")
			b.ReportMetric(fps/30, "x-realtime")
			b.ReportMetric(n/baseSec, "ffmpeg-veryfast-fps")
			b.ReportMetric(baseSec/redactSec, "x-ffmpeg-veryfast")
			b.ReportMetric(redactCPU/video, "redact-cpu-s/video-s")
			b.ReportMetric(baseCPU/video, "ffmpeg-cpu-s/video-s")
		})
	}
}
