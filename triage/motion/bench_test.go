package motion

import (
	"context"
	"fmt"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/triage/opencv"
	"gocv.io/x/gocv"

	"github.com/edgetriage/edgetriage/testkit"
)

// benchClip makes (once per machine, cached in the temp dir) a 57 minute
// 1080p H.264 clip from real footage, shaped like CCTV overnight: 28
// minutes of the empty room (played forwards and backwards so the loop has
// no jump), the first 25 s of the room clip (one person comes in, stands,
// goes out), 28 more minutes of empty room. 10 fps, x264 veryfast CRF 23,
// a keyframe every gop frames. The parts are encoded once and joined by
// stream copy, which keeps the generation to about two minutes.
func benchClip(b *testing.B, gop int) string {
	b.Helper()
	p := filepath.Join(os.TempDir(), fmt.Sprintf("edgetriage-motion-bench-v3-g%d.mp4", gop))
	if fi, err := os.Stat(p); err == nil && fi.Size() > 0 {
		return p
	}
	dir := b.TempDir()
	enc := []string{"-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-g", fmt.Sprint(gop), "-an"}
	still := filepath.Join(dir, "still.mp4")
	ffmpeg(b, append([]string{"-i", footage + "static-room.mp4", "-filter_complex",
		"[0:v]split[a][b];[b]reverse[r];[a][r]concat=n=2:v=1:a=0,loop=loop=19:size=120:start=0,setpts=N/10/TB," +
			"scale=1920:1080,fps=10,format=yuv420p[out]", "-map", "[out]"}, append(enc, still)...)...)
	person := filepath.Join(dir, "person.mp4")
	ffmpeg(b, append([]string{"-t", "25", "-i", footage + "room-people-enter-leave.mp4",
		"-vf", "scale=1920:1080,fps=10,format=yuv420p"}, append(enc, person)...)...)
	var list strings.Builder
	for i := range 15 {
		f := still
		if i == 7 {
			f = person
		}
		fmt.Fprintf(&list, "file '%s'\n", f)
	}
	listPath := filepath.Join(dir, "list.txt")
	if err := os.WriteFile(listPath, []byte(list.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	tmp := p + ".part.mp4"
	ffmpeg(b, "-f", "concat", "-safe", "0", "-i", listPath, "-c", "copy", tmp)
	if err := os.Rename(tmp, p); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkTriage1080p times, in the same run, ffmpeg's single-threaded
// decode of the clip, full-decode triage and prefiltered triage, and
// reports speed ratios against ffmpeg (higher is faster), in wall time and
// in CPU time (triage process plus its ffmpeg children), and the
// prefilter's event recall against full decoding. The prefilter's cost is
// dominated by decoding one keyframe per GOP, so it is measured at two
// keyframe intervals common in CCTV: 4 s and 8 s.
func BenchmarkTriage1080p(b *testing.B) {
	serialOpenCV(b)
	for _, gop := range []int{40, 80} {
		b.Run(fmt.Sprintf("gop=%ds", gop/10), func(b *testing.B) { benchTriage(b, benchClip(b, gop)) })
	}
}

// cpuTime is the CPU this process and its waited-for children have used:
// a triage's cost per camera, whatever threads it ran on, and less
// disturbed than wall time by whatever else the machine is doing.
func cpuTime() time.Duration {
	var self, kids syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	return time.Duration(self.Utime.Nano() + self.Stime.Nano() + kids.Utime.Nano() + kids.Stime.Nano())
}

// benchTriage reports medians over b.N rounds, each timing the three in
// turn, so a noisy neighbour slows one round rather than one contender.
func benchTriage(b *testing.B, clip string) {
	cfg := DefaultConfig()
	pcfg := cfg
	pcfg.Prefilter = true
	var tFF, tFull, tPre, rFull, rPre, rFullCPU, rPreCPU []float64
	var full, pre Result
	b.ResetTimer()
	for range b.N {
		c, start := cpuTime(), time.Now()
		if out, err := exec.Command("ffmpeg", "-v", "error", "-threads", "1", "-i", clip, "-f", "null", "-").CombinedOutput(); err != nil {
			b.Fatalf("ffmpeg decode: %v\n%s", err, out)
		}
		ff, cff := time.Since(start).Seconds(), (cpuTime() - c).Seconds()
		var err error
		c, start = cpuTime(), time.Now()
		if full, err = Analyze(context.Background(), clip, cfg); err != nil {
			b.Fatal(err)
		}
		fu, cfu := time.Since(start).Seconds(), (cpuTime() - c).Seconds()
		c, start = cpuTime(), time.Now()
		if pre, err = Analyze(context.Background(), clip, pcfg); err != nil {
			b.Fatal(err)
		}
		pr, cpr := time.Since(start).Seconds(), (cpuTime() - c).Seconds()
		b.Logf("round: ffmpeg %.1f s, full %.1f s (%.3f, cpu %.3f), prefilter %.2f s (%.2f, cpu %.2f)", ff, fu, ff/fu, cff/cfu, pr, ff/pr, cff/cpr)
		tFF, tFull, tPre = append(tFF, ff), append(tFull, fu), append(tPre, pr)
		rFull, rPre = append(rFull, ff/fu), append(rPre, ff/pr)
		rFullCPU, rPreCPU = append(rFullCPU, cff/cfu), append(rPreCPU, cff/cpr)
	}
	r, missed := recall(full.Events, pre.Events)
	if len(missed) > 0 {
		b.Logf("prefilter missed %s", spans(missed))
	}
	b.ReportMetric(median(tFF), "ffmpeg-s")
	b.ReportMetric(median(tFull), "full-s")
	b.ReportMetric(median(tPre), "prefilter-s")
	b.ReportMetric(median(rFull), "full/ffmpeg")
	b.ReportMetric(median(rPre), "prefilter/ffmpeg")
	b.ReportMetric(median(rFullCPU), "full/ffmpeg-cpu")
	b.ReportMetric(median(rPreCPU), "prefilter/ffmpeg-cpu")
	b.ReportMetric(r, "recall")
	b.ReportMetric(float64(len(full.Events)), "events")
	if pre.Prefilter != nil {
		b.ReportMetric(pre.Prefilter.SkippedSeconds/full.Duration, "skipped-share")
	}
}

// BenchmarkDetector times the detector alone on the room clip's frames,
// already decoded and shrunk to the work size as the ffmpeg child
// delivers them: the per-frame cost triage adds to decoding. One op is the
// whole clip, so `make bench`'s single round means something.
func BenchmarkDetector(b *testing.B) {
	var frames []gocv.Mat
	ws := workSize(image.Pt(1920, 1080), DefaultConfig().WorkHeight)
	_, _, err := ffDecode(context.Background(), footage+"room-people-enter-leave.mp4", ws.X, ws.Y, 0, func(m gocv.Mat, _ float64) {
		frames = append(frames, m.Clone())
	})
	if err != nil || len(frames) == 0 {
		b.Fatalf("decode: %v (%d frames)", err, len(frames))
	}
	defer func() {
		for i := range frames {
			frames[i].Close()
		}
	}()
	d, err := NewDetector(DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	serialOpenCV(b)
	b.ResetTimer()
	t := time.Duration(0)
	cpu0 := processCPU()
	for range b.N {
		for _, f := range frames {
			// 10 frames a second, looping: the clip's time keeps going forward.
			d.Process(f, t)
			t += 100 * time.Millisecond
		}
	}
	cpu := processCPU() - cpu0
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N*len(frames)), "ms/frame")
	// CPU time is what the detector costs a station; on a busy machine the
	// wall clock also counts waiting for a core.
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N*len(frames)), "cpu-ms/frame")
}

// processCPU is the user and system time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serialOpenCV runs OpenCV's loops on the calling thread for the rest of
// the benchmark, as the edgetriage binary does.
func serialOpenCV(b *testing.B) {
	prev := opencv.Threads()
	opencv.SetThreads(1)
	b.Cleanup(func() { opencv.SetThreads(prev) })
}

// liveBenchCameras is how many cameras BenchmarkLiveAnalysis watches at
// once: enough that their decoders and detectors compete for the cores as
// a station's do.
const liveBenchCameras = 8

// subStream makes (once per machine, cached in the temp dir) a camera's
// sub-stream from real footage: the car park, cars coming and going, at
// 640x360, 12.5 fps, about 500 kbit/s under a rate cap, a keyframe every
// 2 s and no B-frames, 60 s long, for an ffmpeg publisher to loop by
// stream copy.
func subStream(b *testing.B) string {
	b.Helper()
	p := filepath.Join(os.TempDir(), "edgetriage-motion-substream-v1.mp4")
	if fi, err := os.Stat(p); err == nil && fi.Size() > 0 {
		return p
	}
	tmp := p + ".part.mp4"
	ffmpeg(b, "-stream_loop", "1", "-i", footage+"parking-cars.mp4", "-an", "-vf", "scale=640:360",
		"-c:v", "libx264", "-preset", "veryfast", "-b:v", "500k", "-maxrate", "500k", "-bufsize", "1000k",
		"-g", "25", "-bf", "0", tmp)
	if err := os.Rename(tmp, p); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkLiveAnalysis watches liveBenchCameras sub-streams (640x360
// car park, served by a real RTSP server fed by ffmpeg publishers) with
// live sources for 30 s per op and reports what live analysis costs a
// camera, in percent of one core: its ffmpeg decoder, and the detector and
// thumbnails on its analysing thread (each source's own accounting, so the
// in-process RTSP server and the publishers are not counted).
func BenchmarkLiveAnalysis(b *testing.B) {
	clip := subStream(b)
	srv := testkit.StartRTSP(b)
	var srcs []*LiveSource
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for i := range liveBenchCameras {
		path := fmt.Sprintf("cam%d", i)
		srv.PublishNiced(b, path, clip)
		src, err := NewLiveSource(path, srv.URL(path), DefaultConfig(), LiveSourceOptions{})
		if err != nil {
			b.Fatal(err)
		}
		srcs = append(srcs, src)
		wg.Go(func() { src.Run(ctx) })
	}
	serialOpenCV(b)
	time.Sleep(5 * time.Second) // connected, past the scene's learning
	b.ResetTimer()
	before := make([]LiveStats, len(srcs))
	for i, s := range srcs {
		before[i] = s.Stats()
	}
	start := time.Now()
	for range b.N {
		time.Sleep(30 * time.Second)
	}
	wall := time.Since(start)
	b.StopTimer()
	var decode, analysis time.Duration
	var frames int64
	for i, s := range srcs {
		st := s.Stats()
		decode += st.DecodeCPU - before[i].DecodeCPU
		analysis += st.AnalysisCPU - before[i].AnalysisCPU
		frames += st.Frames - before[i].Frames
	}
	perCamera := func(d time.Duration) float64 { return d.Seconds() / wall.Seconds() / liveBenchCameras * 100 }
	b.ReportMetric(perCamera(decode), "decode-%core/camera")
	b.ReportMetric(perCamera(analysis), "analysis-%core/camera")
	b.ReportMetric(float64(frames)/wall.Seconds()/liveBenchCameras, "frames/s/camera")
	b.ReportMetric(0, "ns/op")
}
