package rtsp

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/testkit"
)

func TestRecordH265WithAAC(t *testing.T) {
	t.Parallel()
	clip := filepath.Join(t.TempDir(), "h265-aac.mp4")
	ffmpegMake(t, "-t", "6", "-i", footage("parking-cars.mp4"), "-c:v", "libx265", "-preset", "ultrafast",
		"-x265-params", "keyint=12:min-keyint=12:open-gop=0:log-level=error", "-tag:v", "hvc1", "-c:a", "copy", clip)
	srv, _ := servedClip(t, clip, nil)

	v := newTestVault(t)
	r, err := New(testConfig(t, srv.url("cam")), v, Options{})
	if err != nil {
		t.Fatal(err)
	}
	stop := runRecorder(t, r)
	testkit.WaitFor(t, "three sealed segments", 20*time.Second, func() bool { return r.Status().SegmentsSealed >= 3 })
	st := r.Status()
	if st.VideoCodec != "h265" || st.AudioCodec != "aac" || st.FPS < 10 || st.FPS > 15 || st.BitrateBPS <= 0 {
		t.Errorf("status %+v, want h265+aac at about 12.5 fps", st)
	}
	stop()
	items := checkSegments(t, v, srv, "cam", "hevc")
	for i, it := range items {
		if p := probe(t, v.path(it.Digest)); p.AudioCodec != "aac" {
			t.Errorf("segment %d has audio %q, want the camera's AAC", i, p.AudioCodec)
		}
	}
	v.verify(t)
}

// windowMotion reports motion in one stretch of time.
type windowMotion struct {
	mu       sync.Mutex
	from, to time.Time
}

func (m *windowMotion) MotionBetween(_ string, from, to time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return from.Before(m.to) && to.After(m.from)
}

func TestMotionModeKeepsOnlySegmentsNearMotion(t *testing.T) {
	t.Parallel()
	srv, _ := servedClip(t, footage("static-room.mp4"), nil)

	start := time.Now()
	motion := &windowMotion{from: start.Add(4 * time.Second), to: start.Add(4200 * time.Millisecond)}
	v := newTestVault(t)
	cfg := testConfig(t, srv.url("cam"))
	cfg.Mode, cfg.SegmentLength = ModeMotion, time.Second
	cfg.PreRoll, cfg.PostRoll = 500*time.Millisecond, 500*time.Millisecond
	r, err := New(cfg, v, Options{Motion: motion})
	if err != nil {
		t.Fatal(err)
	}
	stop := runRecorder(t, r)
	testkit.WaitFor(t, "segments well past the motion", 20*time.Second, func() bool { return r.Status().SegmentsDropped >= 5 })
	stop()
	items, _ := v.snapshot()
	if len(items) == 0 || len(items) > 3 {
		t.Fatalf("%d segments kept for 0.2s of motion with 0.5s pre/post roll and 1s segments", len(items))
	}
	for _, it := range items {
		if !motion.MotionBetween("", it.CapturedStart.Add(-cfg.PostRoll), it.CapturedEnd.Add(cfg.PreRoll)) {
			t.Errorf("segment %v..%v kept though far from motion", it.CapturedStart, it.CapturedEnd)
		}
	}
	if left, _ := os.ReadDir(filepath.Join(cfg.SpoolDir, "cam1")); len(left) != 0 {
		t.Errorf("dropped segments left %d files in the spool", len(left))
	}
}

func TestInteropGStreamerRTSPServer(t *testing.T) {
	t.Parallel()
	python := "/usr/bin/python3" // Debian's, which has the GObject bindings
	if _, err := os.Stat(python); err != nil {
		python = "python3"
	}
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clip, _ := filepath.Abs(footage("static-room.mp4"))
	gst := exec.CommandContext(ctx, python, "testdata/gst_rtsp_server.py", "127.0.0.1", itoa(port), "/cam", clip)
	gst.Stderr = &testLogWriter{t: t, prefix: "gst-rtsp-server: "}
	if err := gst.Start(); err != nil {
		t.Fatalf("start gst-rtsp-server: %v", err)
	}
	defer gst.Wait()
	defer cancel()
	testkit.WaitFor(t, "gst-rtsp-server to listen", 15*time.Second, func() bool {
		c, err := netDial("127.0.0.1:" + itoa(port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	for _, tr := range []Transport{TransportAuto, TransportTCP} {
		t.Run(string(tr), func(t *testing.T) {
			v := newTestVault(t)
			cfg := testConfig(t, "rtsp://127.0.0.1:"+itoa(port)+"/cam")
			cfg.Transport = tr
			r, err := New(cfg, v, Options{})
			if err != nil {
				t.Fatal(err)
			}
			stop := runRecorder(t, r)
			time.Sleep(5 * time.Second)
			if got, want := r.Status().Transport, map[Transport]string{TransportAuto: "udp", TransportTCP: "tcp"}[tr]; got != want {
				t.Errorf("transport %q agreed, want %q", got, want)
			}
			stop()
			items := checkSegments(t, v, nil, "", "h264")
			if len(items) < 2 {
				t.Fatalf("%d segments from 5s of 2s segments", len(items))
			}
			for i, it := range items {
				// The server plays the 10 fps clip once from its start.
				want := it.CapturedEnd.Sub(it.CapturedStart).Seconds() * 10
				if got := float64(label(t, it, "frames")); got < want-1.5 || got > want+1.5 {
					t.Errorf("segment %d: %v frames for %.2fs at 10 fps", i, got, want/10)
				}
			}
			if n := len(v.eventsOf(evidence.ActionGapStart)); n != 0 {
				t.Errorf("%d gaps recording from gst-rtsp-server", n)
			}
			v.verify(t)
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func netDial(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, time.Second) }

func TestAudioCodecs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, encoder, ext string
		recorded           string // codec in the segments; empty: skipped
	}{
		{"opus", "libopus", "mkv", "opus"},
		{"g711", "pcm_mulaw", "mkv", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clip := filepath.Join(t.TempDir(), "clip."+tc.ext)
			ffmpegMake(t, "-t", "6", "-i", footage("parking-cars.mp4"), "-c:v", "copy", "-c:a", tc.encoder, "-ar", map[string]string{"opus": "48000", "g711": "8000"}[tc.name], "-ac", "1", clip)
			srv, _ := servedClip(t, clip, nil)
			v := newTestVault(t)
			r, err := New(testConfig(t, srv.url("cam")), v, Options{})
			if err != nil {
				t.Fatal(err)
			}
			stop := runRecorder(t, r)
			testkit.WaitFor(t, "a sealed segment", 20*time.Second, func() bool { return r.Status().SegmentsSealed >= 1 })
			st := r.Status()
			stop()
			if tc.recorded == "" && (st.AudioCodec != "" || !strings.Contains(st.AudioSkipped, "without transcoding")) {
				t.Errorf("status %+v: G.711 must be reported as skipped", st)
			}
			if tc.recorded != "" && st.AudioCodec != tc.recorded {
				t.Errorf("status audio %q, want %q", st.AudioCodec, tc.recorded)
			}
			items, _ := v.snapshot()
			for i, it := range items {
				p := probe(t, v.path(it.Digest))
				if p.Codec != "h264" || p.AudioCodec != tc.recorded {
					t.Errorf("segment %d: video %q audio %q, want h264 and %q", i, p.Codec, p.AudioCodec, tc.recorded)
				}
				if msg := decodeErrors(t, v.path(it.Digest)); msg != "" {
					t.Errorf("segment %d does not decode cleanly: %s", i, msg)
				}
			}
		})
	}
}

func TestCodecChangeIsReported(t *testing.T) {
	t.Parallel()
	mjpeg := filepath.Join(t.TempDir(), "mjpeg.mkv")
	ffmpegMake(t, "-i", footage("static-room.mp4"), "-c:v", "mjpeg", "-q:v", "8", mjpeg)
	srv, pub := servedClip(t, footage("static-room.mp4"), nil)
	v := newTestVault(t)
	r, err := New(testConfig(t, srv.url("cam")), v, Options{})
	if err != nil {
		t.Fatal(err)
	}
	stop := runRecorder(t, r)
	testkit.WaitFor(t, "recording", 15*time.Second, func() bool { return r.Status().State == StateRecording })

	// Someone reconfigures the camera to MJPEG, which is not recorded.
	pub.kill()
	startPublisher(t, mjpeg, srv.url("cam"))
	testkit.WaitFor(t, "the codec change to be noticed", 15*time.Second, func() bool {
		return r.Status().LastErrorReason == ReasonCodecChange
	})
	st := r.Status()
	if st.OpenGap == nil || st.OpenGap.LastReason != ReasonCodecChange || !strings.Contains(st.LastError, "h264") {
		t.Errorf("status %+v: want an open gap whose last reason is the codec change from h264", st)
	}
	stop()
	ends := v.eventsOf(evidence.ActionGapEnd)
	if len(ends) != 1 || ends[0].Details["last_reason"] != ReasonCodecChange {
		t.Errorf("gap-end events %+v, want one naming the codec change", ends)
	}
}
