package live

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/edgetriage/edgetriage/testkit"
)

func footage(name string) string { return filepath.Join("..", "..", "testdata", "footage", name) }

// liveClip cuts a few seconds of a clip and encodes them as a camera would
// send them to a browser-friendly stream: H.264 baseline, no B-frames, a
// keyframe every second.
func liveClip(t *testing.T, src string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "live.mp4")
	cmd := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-t", "6", "-i", src, "-an",
		"-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "baseline", "-g", "12", "-keyint_min", "12", "-sc_threshold", "0", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	return out
}

func camera(t *testing.T, srv *testkit.RTSPServer, path, clip string) Camera {
	t.Helper()
	srv.Publish(t, path, clip)
	return Camera{ID: path, URL: srv.URL(path)}
}

func newHubs(t *testing.T, cams ...Camera) *Hubs {
	h := New(cams, Options{Linger: 300 * time.Millisecond, Timeout: 5 * time.Second})
	t.Cleanup(h.Close)
	return h
}

func next(t *testing.T, v *Viewer) AccessUnit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	au, err := v.Next(ctx)
	if err != nil {
		t.Fatalf("next access unit: %v", err)
	}
	return au
}

// firstPicture checks that a viewer's stream starts where a decoder can:
// a keyframe with its SPS and PPS. It returns the SPS.
func firstPicture(t *testing.T, au AccessUnit) h264.SPS {
	t.Helper()
	if !au.Key {
		t.Fatalf("first access unit is not a keyframe")
	}
	var sps h264.SPS
	hasSPS, hasPPS := false, false
	for _, n := range au.NALUs {
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS:
			hasSPS = sps.Unmarshal(n) == nil
		case h264.NALUTypePPS:
			hasPPS = true
		}
	}
	if !hasSPS || !hasPPS {
		t.Fatalf("first keyframe carries SPS %v, PPS %v; a joining decoder needs both", hasSPS, hasPPS)
	}
	return sps
}

func TestViewersOfOneCameraShareOneSession(t *testing.T) {
	t.Parallel()
	srv := testkit.StartRTSP(t)
	hubs := newHubs(t, camera(t, srv, "yard", liveClip(t, footage("parking-cars.mp4"))))

	viewers := make([]*Viewer, 8)
	var wg sync.WaitGroup
	errs := make(chan error, len(viewers))
	for i := range viewers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := hubs.Join(context.Background(), "yard")
			viewers[i] = v
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range viewers {
		if sps := firstPicture(t, next(t, v)); sps.Width() != 768 {
			t.Errorf("viewer sees a %dx%d picture, the camera sends 768x432", sps.Width(), sps.Height())
		}
		for range 5 {
			next(t, v)
		}
		if v.Stream() != "main" {
			t.Errorf("viewer gets the %s stream of a camera whose main stream is playable", v.Stream())
		}
	}
	if now, total := srv.Readers("yard"); now != 1 || total != 1 {
		t.Errorf("8 viewers: the camera has %d readers (%d sessions so far), want 1", now, total)
	}

	for _, v := range viewers[:7] {
		v.Leave()
	}
	time.Sleep(600 * time.Millisecond) // twice the linger
	if now, _ := srv.Readers("yard"); now != 1 {
		t.Errorf("with one viewer left the camera has %d readers, want 1", now)
	}
	viewers[7].Leave()
	testkit.WaitFor(t, "the camera's session to close after the last viewer left", 5*time.Second, func() bool {
		now, _ := srv.Readers("yard")
		return now == 0
	})
	v, err := hubs.Join(context.Background(), "yard")
	if err != nil {
		t.Fatal(err)
	}
	firstPicture(t, next(t, v))
	if now, total := srv.Readers("yard"); now != 1 || total != 2 {
		t.Errorf("a viewer after the session closed: %d readers, %d sessions so far; want a new one", now, total)
	}
}

// A viewer who joins a running session starts with the camera's current
// group of pictures, not at its next keyframe: the picture shows at once.
func TestJoinerGetsCurrentPictureAtOnce(t *testing.T) {
	t.Parallel()
	srv := testkit.StartRTSP(t)
	hubs := newHubs(t, camera(t, srv, "lobby", liveClip(t, footage("parking-cars.mp4"))))
	first, err := hubs.Join(context.Background(), "lobby")
	if err != nil {
		t.Fatal(err)
	}
	defer first.Leave()
	firstPicture(t, next(t, first))
	var last AccessUnit
	for range 4 { // past the keyframe, into its group of pictures
		last = next(t, first)
	}
	if last.Key {
		t.Fatal("clip has a keyframe every 12 frames; got one 4 frames after another")
	}

	joiner, err := hubs.Join(context.Background(), "lobby")
	if err != nil {
		t.Fatal(err)
	}
	defer joiner.Leave()
	au := next(t, joiner)
	firstPicture(t, au)
	if !au.Cached {
		t.Fatal("joiner's first access unit is not from the current group of pictures")
	}
	cached := 1
	for au.Cached {
		au = next(t, joiner)
		cached++
	}
	if cached < 5 {
		t.Errorf("joiner got %d access units of the current group; the first viewer had seen 5 of it", cached)
	}
	if au.PTS <= last.PTS-200*time.Millisecond {
		t.Errorf("after the cached frames the joiner is at %v, behind the live %v", au.PTS, last.PTS)
	}
}

func TestEachCameraItsOwnPicture(t *testing.T) {
	t.Parallel()
	srv := testkit.StartRTSP(t)
	hubs := newHubs(t, camera(t, srv, "yard", liveClip(t, footage("parking-cars.mp4"))),
		camera(t, srv, "corridor", liveClip(t, footage("store-aisle.mp4"))))
	yard, err := hubs.Join(context.Background(), "yard")
	if err != nil {
		t.Fatal(err)
	}
	corridor, err := hubs.Join(context.Background(), "corridor")
	if err != nil {
		t.Fatal(err)
	}
	if sps := firstPicture(t, next(t, corridor)); sps.Width() != 480 {
		t.Errorf("corridor viewer sees %d px wide pictures, the corridor camera sends 480", sps.Width())
	}
	if sps := firstPicture(t, next(t, yard)); sps.Width() != 768 {
		t.Errorf("yard viewer sees %d px wide pictures, the yard camera sends 768", sps.Width())
	}
	if _, err := hubs.Join(context.Background(), "roof"); !errors.Is(err, ErrUnknownCamera) {
		t.Errorf("joining an unconfigured camera: %v, want ErrUnknownCamera", err)
	}
}

// A main stream with B-frames stalls the browser's decoder: the camera's
// sub-stream is shown instead, and without one the viewer is told why.
// The aisle's SPS says it has B-frames; the room's does not (main profile
// without bitstream restrictions), and only its frames show it.
func TestSubStreamWhenMainHasBFrames(t *testing.T) {
	t.Parallel()
	srv := testkit.StartRTSP(t)
	srv.Publish(t, "aisle", footage("store-aisle.mp4")) // high profile, B-frames in its SPS
	srv.Publish(t, "room", footage("static-room.mp4"))  // main profile, B-frames unannounced
	srv.Publish(t, "sub", liveClip(t, footage("store-aisle.mp4")))
	hubs := newHubs(t, Camera{ID: "aisle", URL: srv.URL("aisle"), SubStreamURL: srv.URL("sub")},
		Camera{ID: "room", URL: srv.URL("room"), SubStreamURL: srv.URL("sub")},
		Camera{ID: "aisle-nosub", URL: srv.URL("aisle")}, Camera{ID: "room-nosub", URL: srv.URL("room")})
	for _, id := range []string{"aisle", "room"} {
		v, err := hubs.Join(context.Background(), id)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if v.Stream() != "sub" {
			t.Errorf("%s viewer gets the %s stream; the main one has B-frames", id, v.Stream())
		}
		if sps := firstPicture(t, next(t, v)); sps.Width() != 480 {
			t.Errorf("%s viewer sees %d px wide pictures, the sub-stream is 480", id, sps.Width())
		}
		v.Leave()
	}
	for _, id := range []string{"aisle-nosub", "room-nosub"} {
		if _, err := hubs.Join(context.Background(), id); !errors.Is(err, ErrNotPlayable) || !strings.Contains(err.Error(), "B-frames") {
			t.Errorf("%s, a camera with only a B-frame stream: %v, want ErrNotPlayable naming B-frames", id, err)
		}
	}
	testkit.WaitFor(t, "no session left on the unplayable main streams", 5*time.Second, func() bool {
		aisle, _ := srv.Readers("aisle")
		room, _ := srv.Readers("room")
		return aisle+room == 0
	})
}

func TestCameraDownIsAnError(t *testing.T) {
	t.Parallel()
	hubs := newHubs(t, Camera{ID: "gone", URL: "rtsp://127.0.0.1:1/none"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := hubs.Join(ctx, "gone"); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("joining a camera nobody answers for: %v, want its connection error", err)
	}
}
