package motion

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/testkit"
)

func startLiveSource(t *testing.T, id, url string) *LiveSource {
	t.Helper()
	src, err := NewLiveSource(id, url, DefaultConfig(), LiveSourceOptions{BackoffMin: 200 * time.Millisecond, BackoffMax: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	return src
}

func spanString(iv []Interval, origin time.Time) string {
	var b strings.Builder
	for _, i := range iv {
		fmt.Fprintf(&b, "[%.1f..%.1f] ", i.From.Sub(origin).Seconds(), i.To.Sub(origin).Seconds())
	}
	return b.String()
}

// TestLiveSourceReportsOnsetWithinTwoSeconds streams the first two
// entrances of the labelled room clip from a real RTSP server and checks
// that the live source, a real RTSP client, turns motion on within 2 s of
// each labelled entrance (measured from when the server relayed the clip's
// start, so network and decoding delay count), and not in the empty room
// before.
func TestLiveSourceReportsOnsetWithinTwoSeconds(t *testing.T) {
	t.Parallel()
	srv := testkit.StartRTSP(t)
	srv.PublishOnce(t, "sub", footage+"room-people-enter-leave.mp4", "-t", "27")
	t0 := srv.FirstPacket(t, "sub")
	src := startLiveSource(t, "room", srv.URL("sub"))
	labels := loadLabels(t)["room-people-enter-leave.mp4"][:2]
	last := labels[len(labels)-1]
	time.Sleep(time.Until(t0.Add(time.Duration((last.Enter + 3) * float64(time.Second)))))

	got := src.Motion()
	t.Logf("motion %s(s from clip start), watched %s", spanString(got, t0), spanString(src.Watched(), t0))
	for _, l := range labels {
		enter := t0.Add(time.Duration(l.Enter * float64(time.Second)))
		ok := false
		for _, m := range got {
			if !m.From.Before(enter.Add(-500*time.Millisecond)) && !m.From.After(enter.Add(2*time.Second)) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("%s entering at %.1f s: no onset within 2 s", l.What, l.Enter)
		}
	}
	if len(got) > 0 && got[0].From.Before(t0.Add(5*time.Second)) {
		t.Errorf("motion at %.1f s in the empty room", got[0].From.Sub(t0).Seconds())
	}
	// What the recorder asks: the empty room holds nothing (it is watched
	// from about 4 s on: connecting, the next keyframe, probing, 2 s of
	// learning the scene; later on a busy machine), the first entrance
	// does.
	// A source that never starts fails; one that starts after the empty
	// room (a machine with ten times as many runnable threads as cores
	// took 7 s) leaves nothing of it to ask about.
	w := src.Watched()
	emptyUntil := t0.Add(5500 * time.Millisecond)
	switch {
	case len(w) == 0 || w[0].From.After(t0.Add(10*time.Second)):
		t.Fatalf("the source took more than 10 s to start watching (watched %s)", spanString(w, t0))
	case w[0].From.After(emptyUntil):
		t.Logf("the source started watching at %.1f s, after the empty room: its check is skipped", w[0].From.Sub(t0).Seconds())
	case src.MotionBetween("room", w[0].From, emptyUntil):
		t.Errorf("MotionBetween: motion reported for the empty room up to 5.5 s (watched %s)", spanString(w, t0))
	}
	if !src.MotionBetween("room", t0.Add(6*time.Second), t0.Add(9*time.Second)) {
		t.Error("MotionBetween: no motion reported for 6-9 s, when the first person walks in")
	}
}

// TestLiveSourceStaticRoomAndCameraDrop streams an empty room: no motion.
// Then the camera drops and comes back: the source reconnects on its own,
// and the stretch it could not watch counts as motion, so a motion-only
// recorder keeps rather than drops what nobody analysed.
func TestLiveSourceStaticRoomAndCameraDrop(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clip := filepath.Join(dir, "static-loop.mp4")
	// Forwards then backwards, so the loop has no jump; 24 s.
	ffmpeg(t, "-i", footage+"static-room.mp4", "-filter_complex",
		"[0:v]split[a][b];[b]reverse[r];[a][r]concat=n=2:v=1:a=0,loop=loop=1:size=120:start=0,setpts=N/10/TB,format=yuv420p[out]",
		"-map", "[out]", "-c:v", "libx264", "-preset", "ultrafast", "-g", "20", "-an", clip)
	srv := testkit.StartRTSP(t)
	kill := srv.PublishOnce(t, "cam", clip)
	t0 := srv.FirstPacket(t, "cam")
	src := startLiveSource(t, "static", srv.URL("cam"))
	time.Sleep(time.Until(t0.Add(12 * time.Second)))
	if got := src.Motion(); len(got) > 0 {
		t.Errorf("motion in the empty room: %s", spanString(got, t0))
	}
	if src.MotionBetween("static", t0.Add(7*time.Second), t0.Add(11*time.Second)) {
		t.Errorf("MotionBetween reports motion for the empty room (watched %s)", spanString(src.Watched(), t0))
	}

	kill()
	down := time.Now()
	time.Sleep(3 * time.Second)
	srv.PublishOnce(t, "cam", clip)
	t1 := srv.FirstPacket(t, "cam")
	deadline := time.Now().Add(15 * time.Second)
	for {
		w := src.Watched()
		if n := len(w); n > 0 && w[n-1].From.After(t1) && w[n-1].To.Sub(w[n-1].From) > 3*time.Second {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no frames after the camera came back (watched %s)", spanString(w, t0))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !src.MotionBetween("static", down.Add(500*time.Millisecond), t1) {
		t.Error("MotionBetween: the stretch the camera was down counts as still; it was never watched")
	}
	if got := src.Motion(); len(got) > 0 {
		t.Errorf("motion in the empty room after reconnecting: %s", spanString(got, t0))
	}
}

// TestWindowAfterTheCameraStopped: at shutdown the cameras stop first and
// triage then drains, asking the stopped source about the last segments.
// Stopped while someone walks in, it must still answer with the motion
// and its thumbnail (the daemon crashed here once, encoding the second
// being filled from buffers already freed).
func TestWindowAfterTheCameraStopped(t *testing.T) {
	t.Parallel()
	srv := testkit.StartRTSP(t)
	srv.PublishOnce(t, "cam", footage+"room-people-enter-leave.mp4", "-t", "14")
	t0 := srv.FirstPacket(t, "cam")
	src, err := NewLiveSource("room", srv.URL("cam"), DefaultConfig(), LiveSourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for len(src.Motion()) == 0 || time.Since(src.Motion()[0].From) < 1500*time.Millisecond {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no motion 20 s after the stream started (watched %s)", spanString(src.Watched(), t0))
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	w := src.Window(t0, time.Now())
	if len(w.Result.Events) == 0 {
		t.Fatalf("the stopped source forgot the motion it saw: %+v (motion %s)", w.Result, spanString(src.Motion(), t0))
	}
	for _, e := range w.Result.Events {
		if len(e.Thumbnail) == 0 {
			t.Errorf("event %.1f-%.1f s has no thumbnail", e.Start, e.End)
		}
	}
}
