package rtsp

import (
	"bufio"
	"context"
	"fmt"
	"github.com/edgetriage/edgetriage/testkit"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const benchStreams = 16

// helperRelay is the camera side of the benchmark, in its own process so
// that the benchmark's CPU figures hold only the recorders: an RTSP server
// with benchStreams ffmpeg publishers of the same 1080p clip.
func helperRelay() int {
	t := &helperTB{}
	srv := startRelay(t, nil)
	for i := range benchStreams {
		startPublisher(t, os.Getenv("HELPER_CLIP"), srv.url(fmt.Sprintf("cam%d", i)))
	}
	for i := range benchStreams {
		srv.waitPublished(t, fmt.Sprintf("cam%d", i), 30*time.Second)
	}
	fmt.Printf("ready %s\n", srv.addr)
	// Run until the benchmark closes our stdin.
	bufio.NewReader(os.Stdin).ReadString('\n')
	t.cleanup()
	return 0
}

// helperTB lets the test servers run outside a test.
type helperTB struct {
	testing.TB
	cleanups []func()
}

func (h *helperTB) Helper()                   {}
func (h *helperTB) Cleanup(f func())          { h.cleanups = append(h.cleanups, f) }
func (h *helperTB) Fatal(args ...any)         { fmt.Fprintln(os.Stderr, args...); os.Exit(1) }
func (h *helperTB) Fatalf(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...); os.Exit(1) }
func (h *helperTB) cleanup() {
	for i := len(h.cleanups) - 1; i >= 0; i-- {
		h.cleanups[i]()
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU reads another process's user+system time from /proc.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// BenchmarkSixteenStreams records benchStreams 1080p ~4 Mbit/s streams at
// once over loopback and reports the recorder's CPU per stream as a
// percentage of one core; the goal is under 2. The relay process's own
// CPU per stream is reported alongside as a yardstick measured in the same
// run: it moves the same packets without writing them.
func BenchmarkSixteenStreams(b *testing.B) {
	clip := filepath.Join(b.TempDir(), "1080p.mp4")
	ffmpegMake(b, "-t", "8", "-i", footage("parking-cars.mp4"), "-an", "-vf", "scale=1920:1080",
		"-c:v", "libx264", "-preset", "veryfast", "-b:v", "4M", "-maxrate", "4M", "-bufsize", "8M", "-g", "25", clip)

	relay := exec.Command(os.Args[0], "-test.run=^$")
	relay.Env = append(os.Environ(), helperEnv+"=relay", "HELPER_CLIP="+clip)
	stdin, _ := relay.StdinPipe()
	stdout, _ := relay.StdoutPipe()
	relay.Stderr = os.Stderr
	if err := relay.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { relay.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			relay.Process.Kill()
		}
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
	if err != nil || !ok {
		b.Fatalf("relay did not start: %q %v", line, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait() // the recorders seal their last segments before the temp dirs go
	defer cancel()
	var recs []*Recorder
	spool := b.TempDir()
	for i := range benchStreams {
		cfg := Config{ID: fmt.Sprintf("cam%d", i), URL: fmt.Sprintf("rtsp://%s/cam%d", addr, i), SpoolDir: spool, Transport: TransportTCP}
		r, err := New(cfg, newTestVault(b), Options{})
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, r)
		wg.Go(func() { r.Run(ctx) })
	}
	testkit.WaitFor(b, "all streams recording", 30*time.Second, func() bool {
		for _, r := range recs {
			if r.Status().State != StateRecording {
				return false
			}
		}
		return true
	})
	time.Sleep(2 * time.Second) // let connection set-up settle

	b.ResetTimer()
	start, cpu0, relay0 := time.Now(), cpuTime(), procCPU(relay.Process.Pid)
	for range b.N {
		time.Sleep(10 * time.Second)
	}
	wall, cpu, relayCPU := time.Since(start), cpuTime()-cpu0, procCPU(relay.Process.Pid)-relay0
	b.StopTimer()

	var bits, fps float64
	for _, r := range recs {
		st := r.Status()
		bits += st.BitrateBPS
		fps += st.FPS
		if st.State != StateRecording {
			b.Errorf("%s stopped recording: %+v", st.Camera, st)
		}
	}
	perStream := func(d time.Duration) float64 { return d.Seconds() / wall.Seconds() / benchStreams * 100 }
	b.ReportMetric(perStream(cpu), "%core/stream")
	b.ReportMetric(perStream(relayCPU), "relay-%core/stream")
	b.ReportMetric(bits/benchStreams/1e6, "Mbit/s/stream")
	b.ReportMetric(fps/benchStreams, "fps/stream")
	b.ReportMetric(0, "ns/op")
}
