package rtsp

import (
	"context"
	"encoding/json"

	"math"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/testkit"
)

func testConfig(t testing.TB, url string) Config {
	return Config{
		ID: "cam1", URL: url, Transport: TransportTCP, SpoolDir: t.TempDir(),
		SegmentLength: 2 * time.Second, Timeout: 2 * time.Second,
		BackoffMin: 200 * time.Millisecond, BackoffMax: 500 * time.Millisecond,
	}
}

// runRecorder starts r.Run and returns a function that stops it and waits.
func runRecorder(t testing.TB, r *Recorder) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return 30s after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func label(t testing.TB, it evidence.Item, k string) int64 {
	t.Helper()
	v, err := strconv.ParseInt(it.Labels[k], 10, 64)
	if err != nil {
		t.Fatalf("item %s: label %s=%q: %v", it.Digest.Short(), k, it.Labels[k], err)
	}
	return v
}

func byStart(items []evidence.Item) []evidence.Item {
	slices.SortFunc(items, func(a, b evidence.Item) int { return a.CapturedStart.Compare(b.CapturedStart) })
	return items
}

// checkSegments asserts what a user of the recordings relies on: every
// segment plays, holds the frames the camera sent for its time span, and
// consecutive segments of a session meet exactly.
func checkSegments(t *testing.T, v *testVault, srv *relayServer, path, codec string) []evidence.Item {
	t.Helper()
	items, _ := v.snapshot()
	items = byStart(items)
	for i, it := range items {
		p := probe(t, v.path(it.Digest))
		t.Logf("segment %d: %s..%s rtp_start=%s pts %s..%s frames=%s decoded=%d dur=%.3f ntp=%s", i, it.CapturedStart.Format("15:04:05.000"), it.CapturedEnd.Format("15:04:05.000"),
			it.Labels["rtp_start"], it.Labels["pts_start"], it.Labels["pts_end"], it.Labels["frames"], p.Frames, p.Duration, it.Labels["camera_ntp_start"])
		if p.Codec != codec {
			t.Errorf("segment %d: codec %q, want %q", i, p.Codec, codec)
		}
		if msg := decodeErrors(t, v.path(it.Digest)); msg != "" {
			t.Errorf("segment %d does not decode cleanly: %s", i, msg)
		}
		if got := label(t, it, "frames"); got != int64(p.Frames) {
			t.Errorf("segment %d: recorder counted %d frames, the decoder %d", i, got, p.Frames)
		}
		if srv != nil {
			sent := srv.sentFromTo(path, uint32(label(t, it, "rtp_start")), uint32(label(t, it, "rtp_last")))
			if d := p.Frames - sent; d < -1 || d > 1 {
				t.Errorf("segment %d: %d frames decoded, the camera sent %d from its first to its last", i, p.Frames, sent)
			}
		}
		if i == 0 || items[i-1].Labels["session"] != it.Labels["session"] {
			continue
		}
		prev := items[i-1]
		if !prev.CapturedEnd.Equal(it.CapturedStart) || label(t, prev, "pts_end") != label(t, it, "pts_start") {
			t.Errorf("segments %d and %d do not meet: %v..%v then %v (pts %s..%s then %s)", i-1, i,
				prev.CapturedStart, prev.CapturedEnd, it.CapturedStart, prev.Labels["pts_start"], prev.Labels["pts_end"], it.Labels["pts_start"])
		}
	}
	return items
}

func TestRecordH264SegmentsAcrossRTPWrap(t *testing.T) {
	t.Parallel()
	srv, _ := servedClip(t, footage("static-room.mp4"), func(s *relayServer) { s.wrapAfter = 4 * time.Second })

	v := newTestVault(t)
	var mu sync.Mutex
	var lines []string
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Second)
	defer cancel()
	err := RecordOnce(ctx, testConfig(t, srv.url("cam")), v, func(it evidence.Item) {
		mu.Lock()
		lines = append(lines, SealedLine(it))
		mu.Unlock()
	})
	if err != nil {
		t.Fatalf("RecordOnce: %v", err)
	}
	items := checkSegments(t, v, srv, "cam", "h264")
	if len(items) < 3 {
		t.Fatalf("%d segments in 9s of 2s segments", len(items))
	}
	wrapped := false
	for _, it := range items {
		start := uint64(label(t, it, "rtp_start"))
		if start+uint64(label(t, it, "pts_end")-label(t, it, "pts_start")) > math.MaxUint32 {
			wrapped = true
		}
		if it.Source != "cam1" || it.Labels["camera"] != "cam1" || it.Kind != evidence.KindVideo {
			t.Errorf("segment record does not name its camera: %+v", it)
		}
	}
	if !wrapped {
		t.Error("no segment spans the RTP timestamp wrap; the test did not test it")
	}
	if n := len(v.eventsOf(evidence.ActionSegmentSealed)); n != len(items) {
		t.Errorf("%d segment-sealed events for %d segments", n, len(items))
	}
	if n := len(v.eventsOf(evidence.ActionGapStart)); n != 0 {
		t.Errorf("%d gaps in an uninterrupted recording", n)
	}
	for _, e := range v.eventsOf(evidence.ActionSegmentSealed) {
		if e.Actor != "camera:cam1" {
			t.Errorf("seal event actor %q", e.Actor)
		}
	}
	v.verify(t)
	lineRE := regexp.MustCompile(`^[0-9a-f]{64}  \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ  \d+\.\d{3}$`)
	mu.Lock()
	defer mu.Unlock()
	if len(lines) != len(items) {
		t.Errorf("%d lines printed for %d segments", len(lines), len(items))
	}
	for _, l := range lines {
		if !lineRE.MatchString(l) {
			t.Errorf("sealed line %q is not '<sha256>  <start>  <duration>'", l)
		}
	}
}

func TestPublisherOutageIsOneGap(t *testing.T) {
	t.Parallel()
	srv, pub := servedClip(t, footage("static-room.mp4"), nil)

	v := newTestVault(t)
	cfg := testConfig(t, srv.url("cam"))
	cfg.BackoffMax = 250 * time.Millisecond // the gap's end is measured against the restart
	r, err := New(cfg, v, Options{})
	if err != nil {
		t.Fatal(err)
	}
	stop := runRecorder(t, r)
	testkit.WaitFor(t, "first sealed segment", 15*time.Second, func() bool { return r.Status().SegmentsSealed >= 1 })

	killedAt := time.Now()
	pub.kill()
	testkit.WaitFor(t, "the recorder to notice the outage", 5*time.Second, func() bool { return r.Status().OpenGap != nil })
	time.Sleep(time.Until(killedAt.Add(5 * time.Second)))
	restartedAt := time.Now()
	startPublisher(t, footage("static-room.mp4"), srv.url("cam"))
	testkit.WaitFor(t, "recording to resume", 15*time.Second, func() bool {
		st := r.Status()
		return st.OpenGap == nil && st.State == StateRecording
	})
	testkit.WaitFor(t, "a segment after the outage", 15*time.Second, func() bool {
		items, _ := v.snapshot()
		return slices.ContainsFunc(items, func(it evidence.Item) bool { return it.CapturedStart.After(restartedAt) })
	})
	stop()

	starts, ends := v.eventsOf(evidence.ActionGapStart), v.eventsOf(evidence.ActionGapEnd)
	if len(starts) != 1 || len(ends) != 1 {
		t.Fatalf("%d gap-start and %d gap-end events for one outage", len(starts), len(ends))
	}
	gapStart, _ := time.Parse(time.RFC3339Nano, ends[0].Details["start"])
	gapEnd, _ := time.Parse(time.RFC3339Nano, ends[0].Details["end"])
	t.Logf("outage %v..%v, gap %v..%v (%s)", killedAt.Format("15:04:05.000"), restartedAt.Format("15:04:05.000"),
		gapStart.Format("15:04:05.000"), gapEnd.Format("15:04:05.000"), starts[0].Details["reason"])
	if d := gapStart.Sub(killedAt); d.Abs() > time.Second {
		t.Errorf("gap starts %v from the moment the camera went away", d)
	}
	// The camera is back when its first frame leaves the server again.
	back := srv.firstSentAfter("cam", restartedAt)
	t.Logf("camera back at %v", back.Format("15:04:05.000"))
	// Recording can restart only on a keyframe: up to one GOP (1s in
	// this clip) plus the reconnect wait after the camera is back.
	if d := gapEnd.Sub(back); d < 0 || d > 1500*time.Millisecond {
		t.Errorf("gap ends %v after the camera came back at %v", d, back.Format("15:04:05.000"))
	}
	if starts[0].Details["reason"] != ReasonEOF {
		t.Errorf("gap reason %q, want %q", starts[0].Details["reason"], ReasonEOF)
	}
	st := r.Status()
	if len(st.Gaps24h) != 1 || st.Gaps24h[0].End.IsZero() {
		t.Errorf("status lists gaps %+v, want the one closed gap", st.Gaps24h)
	}
	items := checkSegments(t, v, srv, "cam", "h264")
	for _, it := range items {
		if it.CapturedEnd.After(gapStart.Add(10*time.Millisecond)) && it.CapturedStart.Before(gapEnd) {
			t.Errorf("segment %v..%v overlaps the gap", it.CapturedStart, it.CapturedEnd)
		}
	}
	v.verify(t)
}

func TestWrongPasswordIsReportedAndRetried(t *testing.T) {
	t.Parallel()
	srv, _ := servedClip(t, footage("static-room.mp4"), func(s *relayServer) { s.user, s.pass = "admin", "right-secret" })

	v := newTestVault(t)
	cfg := testConfig(t, "rtsp://admin:wrong-secret@"+srv.addr+"/cam")
	r, err := New(cfg, v, Options{})
	if err != nil {
		t.Fatal(err)
	}
	stop := runRecorder(t, r)
	testkit.WaitFor(t, "three attempts", 15*time.Second, func() bool { return r.Status().Sessions >= 3 })
	st := r.Status()
	if st.LastErrorReason != ReasonUnauthorized || !strings.Contains(st.LastError, "401") {
		t.Errorf("status error %q (%s), want a 401 marked unauthorized", st.LastError, st.LastErrorReason)
	}
	if strings.Contains(st.LastError+st.URL, "wrong-secret") {
		t.Errorf("status shows the password: %+v", st)
	}
	if st.OpenGap == nil || st.OpenGap.Reason != ReasonUnauthorized {
		t.Errorf("open gap %+v, want one for unauthorized", st.OpenGap)
	}
	js, err := json.Marshal(st)
	if err != nil || !strings.Contains(string(js), `"last_error_reason":"unauthorized"`) || !strings.Contains(string(js), `"gaps_24h":[{`) {
		t.Errorf("status JSON for the API: %s (%v)", js, err)
	}
	stop()
	if n := len(v.eventsOf(evidence.ActionGapStart)); n != 1 {
		t.Errorf("%d gap-start events, want 1 however often the camera was retried", n)
	}
	if items, _ := v.snapshot(); len(items) != 0 {
		t.Errorf("%d items recorded without the password", len(items))
	}
}

func TestUnreachableCamerasAreRetried(t *testing.T) {
	t.Parallel()
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // accepted, never answered
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()
	refusedPort := freePort(t)

	for _, tc := range []struct {
		name, url, reason string
	}{
		{"silent", "rtsp://" + silent.Addr().String() + "/cam", ReasonTimeout},
		{"refused", "rtsp://127.0.0.1:" + strconv.Itoa(refusedPort) + "/cam", ReasonRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newTestVault(t)
			cfg := testConfig(t, tc.url)
			cfg.Timeout = 500 * time.Millisecond
			r, err := New(cfg, v, Options{})
			if err != nil {
				t.Fatal(err)
			}
			stop := runRecorder(t, r)
			testkit.WaitFor(t, "three attempts", 20*time.Second, func() bool { return r.Status().Sessions >= 3 })
			st := r.Status()
			if st.LastErrorReason != tc.reason {
				t.Errorf("reason %q (%s), want %q", st.LastErrorReason, st.LastError, tc.reason)
			}
			stop()
			starts := v.eventsOf(evidence.ActionGapStart)
			if len(starts) != 1 || starts[0].Details["reason"] != tc.reason {
				t.Errorf("gap-start events %+v, want one with reason %s", starts, tc.reason)
			}
			if r.Status().State != StateStopped {
				t.Errorf("state after stop: %s", r.Status().State)
			}
		})
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	good := Config{ID: "yard", URL: "rtsp://u:p@10.0.0.5/stream1", SpoolDir: "/tmp/x"}
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for field, mut := range map[string]func(*Config){
		"'id'":          func(c *Config) { c.ID = "../etc" },
		"'url'":         func(c *Config) { c.URL = "http://cam/stream" },
		"'transport'":   func(c *Config) { c.Transport = "quic" },
		"'mode'":        func(c *Config) { c.Mode = "sometimes" },
		"'backoff_max'": func(c *Config) { c.BackoffMin, c.BackoffMax = time.Minute, time.Second },
		"'spool_dir'":   func(c *Config) { c.SpoolDir = "" },
	} {
		c := good
		mut(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("bad %s: error %v does not name it", field, err)
		}
	}
	c := good
	c.URL = "rtsp://u:topsecret@[bad"
	if err := c.Validate(); err == nil || strings.Contains(err.Error(), "topsecret") {
		t.Errorf("bad url error %v must exist and not show the password", err)
	}
	if _, err := New(Config{ID: "m", URL: good.URL, SpoolDir: "/tmp", Mode: ModeMotion}, newTestVault(t), Options{}); err == nil {
		t.Error("motion mode without a motion signal accepted")
	}
}

func TestTimelineAbsorbsClockJumps(t *testing.T) {
	tl := timeline{clock: 90000}
	at := time.Unix(1000, 0)
	var outs []int64
	raws := []int64{0, 9000, 18000, 27000, 27000 + 3600*90000, 27000 + 3600*90000 + 9000, 5000, 14000}
	for _, raw := range raws {
		out, _ := tl.place(raw, at)
		outs = append(outs, out)
		at = at.Add(100 * time.Millisecond)
	}
	for i := 1; i < len(outs); i++ {
		if outs[i]-outs[i-1] != 9000 {
			t.Fatalf("output timeline %v: step %d is %d, want one frame (9000)", outs, i, outs[i]-outs[i-1])
		}
	}
	if tl.jumps != 2 {
		t.Errorf("%d jumps counted, want 2 (one forward, one back)", tl.jumps)
	}
	// A network stall delivers late frames in a burst: not a jump.
	tl2 := timeline{clock: 90000}
	tl2.place(0, at)
	if out, j := tl2.place(9000, at.Add(3*time.Second)); j || out != 9000 {
		t.Errorf("late frame after a stall placed at %d (jump %v)", out, j)
	}
	if out, j := tl2.place(18000, at.Add(3*time.Second)); j || out != 18000 {
		t.Errorf("burst frame placed at %d (jump %v)", out, j)
	}
}

func TestCameraClockJumpsKeepSegmentsContinuous(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		by   time.Duration
	}{{"forward", time.Hour}, {"back", -time.Hour}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := servedClip(t, footage("static-room.mp4"), func(s *relayServer) { s.jumpAfter, s.jumpBy = 3*time.Second, tc.by })
			v := newTestVault(t)
			ctx, cancel := context.WithTimeout(context.Background(), 7*time.Second)
			defer cancel()
			if err := RecordOnce(ctx, testConfig(t, srv.url("cam")), v, nil); err != nil {
				t.Fatalf("RecordOnce: %v", err)
			}
			items := checkSegments(t, v, srv, "cam", "h264")
			jumps := 0
			for _, it := range items {
				if it.Labels["clock_jumps"] != "" {
					jumps += int(label(t, it, "clock_jumps"))
				}
				if d := it.CapturedEnd.Sub(it.CapturedStart); d > 4*time.Second || d <= 0 {
					t.Errorf("segment claims %v; the jump leaked into its times", d)
				}
			}
			if jumps != 1 {
				t.Errorf("%d clock jumps noted in the segments, want 1", jumps)
			}
			if n := len(v.eventsOf(evidence.ActionGapStart)); n != 0 {
				t.Errorf("%d gaps: a clock jump is not an outage", n)
			}
		})
	}
}

func TestPacketLossIsNotedNotSilent(t *testing.T) {
	t.Parallel()
	srv, _ := servedClip(t, footage("static-room.mp4"), func(s *relayServer) { s.dropAfter, s.dropCount = 3*time.Second, 12 })
	v := newTestVault(t)
	r, err := New(testConfig(t, srv.url("cam")), v, Options{})
	if err != nil {
		t.Fatal(err)
	}
	stop := runRecorder(t, r)
	testkit.WaitFor(t, "three sealed segments", 20*time.Second, func() bool { return r.Status().SegmentsSealed >= 3 })
	st := r.Status()
	stop()
	if st.PacketsLost != 12 {
		t.Errorf("status counts %d lost packets, want 12", st.PacketsLost)
	}
	items, _ := v.snapshot()
	var lost int64
	for _, it := range items {
		if it.Labels["rtp_packets_lost"] != "" {
			lost += label(t, it, "rtp_packets_lost")
		}
	}
	if lost != 12 {
		t.Errorf("segment labels account for %d lost packets, want 12", lost)
	}
}
