package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/web"
)

func previewStatus(t *testing.T, c *client, location string) web.PreviewStatus {
	t.Helper()
	res := c.do("GET", location, nil, false)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("preview status: %d %s", res.StatusCode, readAll(res))
	}
	var st web.PreviewStatus
	json.NewDecoder(res.Body).Decode(&st)
	res.Body.Close()
	return st
}

func TestRedactedPreviewPassthroughWithControls(t *testing.T) {
	f := newFixture(t, web.Config{})
	staff := f.login(t, "sam", staffPass)
	v, res := staff.startViewer(f.master.Digest, "", "")
	if v == nil {
		t.Fatalf("start: %d %s", res.StatusCode, readAll(res))
	}
	defer v.pc.Close()
	if v.mode != "passthrough" || res.Header.Get("X-Preview-Shown") != f.redacted.Digest.String() {
		t.Fatalf("staff preview: mode %q shown %s, want passthrough of the redacted copy", v.mode, res.Header.Get("X-Preview-Shown"))
	}
	v.waitPackets(t, 20, 5*time.Second)

	// Someone else cannot steer or stop it.
	inv := f.login(t, "ivy", invPass)
	if res := inv.do("DELETE", v.location, nil, true); res.StatusCode != http.StatusNotFound {
		t.Errorf("another user stopping the preview: %d", res.StatusCode)
	}

	res = staff.do("POST", v.location+"/control", map[string]any{"action": "pause"}, true)
	if body := readAll(res); res.StatusCode != http.StatusAccepted {
		t.Fatalf("pause: %d %s", res.StatusCode, body)
	}
	time.Sleep(300 * time.Millisecond)
	paused := previewStatus(t, staff, v.location)
	time.Sleep(500 * time.Millisecond)
	if again := previewStatus(t, staff, v.location); again.FramesSent != paused.FramesSent || again.State != "paused" {
		t.Fatalf("frames kept flowing while paused: %+v then %+v", paused, again)
	}
	res = staff.do("POST", v.location+"/control", map[string]any{"action": "seek", "position": 1.9}, true)
	if body := readAll(res); res.StatusCode != http.StatusAccepted {
		t.Fatalf("seek: %d %s", res.StatusCode, body)
	}
	time.Sleep(200 * time.Millisecond)
	st := previewStatus(t, staff, v.location)
	// Keyframes every 12 frames (1 s): a seek to 1.9 s restarts at 1.0 s.
	if st.FramesSent <= paused.FramesSent || st.Position < 1.0 || st.Position > 2.9 {
		t.Fatalf("after seek to 1.9 s: %+v", st)
	}

	// Play on after the end starts over from the beginning.
	deadline := time.Now().Add(5 * time.Second)
	for previewStatus(t, staff, v.location).State != "ended" {
		if time.Now().After(deadline) {
			t.Fatalf("clip never ended: %+v", previewStatus(t, staff, v.location))
		}
		time.Sleep(100 * time.Millisecond)
	}
	readAll(staff.do("POST", v.location+"/control", map[string]any{"action": "play"}, true))
	time.Sleep(200 * time.Millisecond)
	if st := previewStatus(t, staff, v.location); st.State != "playing" || st.Position > 1.5 {
		t.Fatalf("play after the end: %+v", st)
	}

	res = staff.do("DELETE", v.location, nil, true)
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("stop: %d %s", res.StatusCode, readAll(res))
	}
	starts := eventsOf(t, f.v, f.master.Digest, evidence.ActionPreviewStart)
	stops := eventsOf(t, f.v, f.master.Digest, evidence.ActionPreviewStop)
	if len(starts) != 1 || len(stops) != 1 {
		t.Fatalf("custody: %d starts, %d stops", len(starts), len(stops))
	}
	if s := starts[0]; s.Actor != "user:sam" || s.Details["variant"] != "redacted" || s.Details["shown"] != f.redacted.Digest.String() {
		t.Errorf("start event: %+v", s)
	}
	if s := stops[0]; s.Details["cause"] != "stopped by viewer" || s.Details["session"] != starts[0].Details["session"] {
		t.Errorf("stop event: %+v", s)
	}
}

func TestOriginalPreviewTranscodedForInvestigator(t *testing.T) {
	f := newFixture(t, web.Config{})
	inv := f.login(t, "ivy", invPass)
	v, res := inv.startViewer(f.master.Digest, "original", "case 2026/114, assault outside station")
	if v == nil {
		t.Fatalf("start: %d %s", res.StatusCode, readAll(res))
	}
	defer v.pc.Close()
	// The master has B-frames: it must be re-encoded, never passed through.
	if v.mode != "transcode" || res.Header.Get("X-Preview-Shown") != f.master.Digest.String() {
		t.Fatalf("original preview: mode %q shown %s", v.mode, res.Header.Get("X-Preview-Shown"))
	}
	v.waitPackets(t, 20, 10*time.Second)
	starts := eventsOf(t, f.v, f.master.Digest, evidence.ActionPreviewStart)
	if len(starts) != 1 || starts[0].Details["reason"] != "case 2026/114, assault outside station" ||
		starts[0].Details["variant"] != "original" || starts[0].Actor != "user:ivy" {
		t.Fatalf("start events: %+v", starts)
	}
	// A seek restarts ffmpeg at the new position.
	before := previewStatus(t, inv, v.location)
	res = inv.do("POST", v.location+"/control", map[string]any{"action": "seek", "position": 2.0}, true)
	if body := readAll(res); res.StatusCode != http.StatusAccepted {
		t.Fatalf("seek: %d %s", res.StatusCode, body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := previewStatus(t, inv, v.location)
		if st.FramesSent > before.FramesSent+2 && st.Position >= 2.0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after seek to 2 s: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Shutting the server down ends the session on the record.
	f.web.Close()
	stops := eventsOf(t, f.v, f.master.Digest, evidence.ActionPreviewStop)
	if len(stops) != 1 || stops[0].Details["cause"] != "appliance shutting down" {
		t.Fatalf("stop events after Close: %+v", stops)
	}
}

func TestViewerGoneEndsPreview(t *testing.T) {
	f := newFixture(t, web.Config{})
	staff := f.login(t, "sam", staffPass)
	v, res := staff.startViewer(f.master.Digest, "redacted", "")
	if v == nil {
		t.Fatalf("start: %d %s", res.StatusCode, readAll(res))
	}
	v.waitPackets(t, 5, 5*time.Second)
	v.pc.Close() // the browser tab is closed without a DELETE
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if len(eventsOf(t, f.v, f.master.Digest, evidence.ActionPreviewStop)) == 1 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("no preview-stop event after the viewer went away")
}

func TestBrokenFootageGivesClearError(t *testing.T) {
	f := newFixture(t, web.Config{})
	raw, err := os.ReadFile(filepath.Join(footage, "faces-walking.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "truncated.mp4")
	os.WriteFile(cut, raw[:1000], 0o644)
	broken, _, err := f.v.IngestFile(context.Background(), cut, evidence.Intake{Actor: "dock:bay-1", Source: "bwv-0042"})
	if err != nil {
		t.Fatal(err)
	}
	inv := f.login(t, "ivy", invPass)
	v, res := inv.startViewer(broken.Digest, "original", "case 7")
	if v != nil {
		v.pc.Close()
		t.Fatal("a truncated clip started a preview")
	}
	if body := readAll(res); res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "cannot be previewed") {
		t.Fatalf("truncated clip: %d %s", res.StatusCode, body)
	}
	if n := len(eventsOf(t, f.v, broken.Digest, evidence.ActionPreviewStart)); n != 0 {
		t.Fatalf("%d preview-start events for a preview that never ran", n)
	}
}

// A plain WHEP client posts the bare offer and gets the redacted copy.
func TestPlainWHEPOffer(t *testing.T) {
	f := newFixture(t, web.Config{})
	c := f.login(t, "sam", staffPass)
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
	offer, _ := pc.CreateOffer(nil)
	gathered := webrtc.GatheringCompletePromise(pc)
	pc.SetLocalDescription(offer)
	<-gathered
	req, _ := http.NewRequest("POST", f.http.URL+"/api/v1/items/"+f.master.Digest.String()+"/preview", strings.NewReader(pc.LocalDescription().SDP))
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("X-CSRF-Token", c.csrf)
	res, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated || res.Header.Get("Content-Type") != "application/sdp" || !strings.HasPrefix(res.Header.Get("Location"), "/api/v1/previews/") {
		t.Fatalf("WHEP POST: %d %s %s", res.StatusCode, res.Header, answer)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		t.Fatal(err)
	}
	if res.Header.Get("X-Preview-Shown") != f.redacted.Digest.String() {
		t.Fatalf("WHEP preview shows %s, want the redacted copy", res.Header.Get("X-Preview-Shown"))
	}
	if res := c.do("DELETE", res.Header.Get("Location"), nil, true); res.StatusCode != http.StatusNoContent {
		t.Fatalf("WHEP DELETE: %d", res.StatusCode)
	}
}

func TestPreviewLimits(t *testing.T) {
	f := newFixture(t, web.Config{MaxPreviews: 2, MaxTranscodes: 1})
	inv := f.login(t, "ivy", invPass)
	first, res := inv.startViewer(f.master.Digest, "original", "case 1")
	if first == nil {
		t.Fatalf("first transcode: %d %s", res.StatusCode, readAll(res))
	}
	defer first.pc.Close()
	if _, res := inv.startViewer(f.master.Digest, "original", "case 1"); res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("second transcode over the limit: %d %s", res.StatusCode, readAll(res))
	} else if body := readAll(res); !strings.Contains(body, "transcoding") {
		t.Fatalf("refusal does not say why: %s", body)
	}
	second, res := inv.startViewer(f.master.Digest, "redacted", "")
	if second == nil {
		t.Fatalf("passthrough next to a transcode: %d %s", res.StatusCode, readAll(res))
	}
	defer second.pc.Close()
	if _, res := inv.startViewer(f.master.Digest, "redacted", ""); res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third preview over MaxPreviews: %d %s", res.StatusCode, readAll(res))
	}
	// Stopping one frees its place.
	readAll(inv.do("DELETE", first.location, nil, true))
	third, res := inv.startViewer(f.master.Digest, "original", "case 1")
	if third == nil {
		t.Fatalf("after a stop: %d %s", res.StatusCode, readAll(res))
	}
	third.pc.Close()
}

func TestWatermarkOriginalsForcesTranscode(t *testing.T) {
	for _, force := range []bool{false, true} {
		f := newFixture(t, web.Config{WatermarkOriginals: force})
		parking, _, err := f.v.IngestFile(context.Background(), filepath.Join(footage, "parking-cars.mp4"),
			evidence.Intake{Actor: "rtsp:cam-yard", Source: "cctv-yard"})
		if err != nil {
			t.Fatal(err)
		}
		inv := f.login(t, "ivy", invPass)
		v, res := inv.startViewer(parking.Digest, "original", "case 9")
		if v == nil {
			t.Fatalf("start: %d %s", res.StatusCode, readAll(res))
		}
		want := map[bool]string{false: "passthrough", true: "transcode"}[force]
		if v.mode != want {
			t.Errorf("WatermarkOriginals=%v: original without B-frames previewed by %s, want %s", force, v.mode, want)
		}
		v.pc.Close()
	}
}
