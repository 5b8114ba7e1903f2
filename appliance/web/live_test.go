package web_test

import (
	"bytes"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/edgetriage/edgetriage/appliance/auth"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/status"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/appliance/web"
	"github.com/edgetriage/edgetriage/capture/live"
	"github.com/edgetriage/edgetriage/capture/rtsp"
	"github.com/edgetriage/edgetriage/testkit"
)

// cameraClip encodes a few seconds of a clip the way a CCTV camera's
// browser-friendly stream comes: H.264 baseline, no B-frames, a keyframe
// every second.
func cameraClip(t *testing.T, name string, fps int) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "camera-"+name)
	cmd := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-t", "6", "-i", filepath.Join(footage, name), "-an",
		"-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "baseline", "-g", strconv.Itoa(fps), "-keyint_min", strconv.Itoa(fps), "-sc_threshold", "0", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	return out
}

// stationCameras is two real cameras: the yard (768x432) and the corridor
// (480x270), served by the test RTSP server, with their live hubs.
type stationCameras struct {
	rtsp *testkit.RTSPServer
	hubs *live.Hubs
}

func newStationCameras(t *testing.T) stationCameras {
	t.Helper()
	srv := testkit.StartRTSP(t)
	srv.Publish(t, "yard", cameraClip(t, "parking-cars.mp4", 12))
	srv.Publish(t, "corridor", cameraClip(t, "store-aisle.mp4", 15))
	hubs := live.New([]live.Camera{{ID: "yard", URL: srv.URL("yard")}, {ID: "corridor", URL: srv.URL("corridor")}},
		live.Options{Linger: 500 * time.Millisecond})
	t.Cleanup(hubs.Close)
	return stationCameras{rtsp: srv, hubs: hubs}
}

// CameraStatus is what the recorders would report of the two cameras,
// for the dashboard's camera panel.
func (s stationCameras) CameraStatus() []status.Camera {
	return []status.Camera{{Name: "yard", State: rtsp.StateRecording, Gaps: []status.Gap{}},
		{Name: "corridor", State: rtsp.StateRecording, Gaps: []status.Gap{}}}
}

func (s stationCameras) wire(d *web.Deps) { d.Live, d.Cameras = s.hubs, s }

// liveEvents lists the live view events of the custody chain.
func liveEvents(t testing.TB, v *vault.Vault) (starts, stops []evidence.CustodyEvent) {
	t.Helper()
	err := v.Events(0, func(e evidence.CustodyEvent) bool {
		switch e.Action {
		case evidence.ActionLiveViewStart:
			starts = append(starts, e)
		case evidence.ActionLiveViewStop:
			stops = append(stops, e)
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return starts, stops
}

// liveViewer is an in-process pion receiver of a live view: a real WebRTC
// peer, for where a browser per viewer would be too heavy.
type liveViewer struct {
	pc       *webrtc.PeerConnection
	location string
	stream   string
	mu       sync.Mutex
	packets  int
}

// watch starts a live view over WHEP; a refusal is returned as the
// response, with a nil viewer.
func (c *client) watch(camera string) (*liveViewer, *http.Response) {
	c.t.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		c.t.Fatal(err)
	}
	lv := &liveViewer{pc: pc}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		buf := make([]byte, 1500)
		for {
			if _, _, err := tr.Read(buf); err != nil {
				return
			}
			lv.mu.Lock()
			lv.packets++
			lv.mu.Unlock()
		}
	})
	localOffer(c.t, pc)
	res := c.raw("POST", "/api/v1/cameras/"+camera+"/whep", "application/sdp", []byte(pc.LocalDescription().SDP))
	if res.StatusCode != http.StatusCreated {
		pc.Close()
		return nil, res
	}
	answer, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		c.t.Fatal(err)
	}
	lv.location, lv.stream = res.Header.Get("Location"), res.Header.Get("X-Live-Stream")
	c.t.Cleanup(func() { pc.Close() })
	return lv, res
}

func (lv *liveViewer) waitPackets(t testing.TB, n int) {
	t.Helper()
	testkit.WaitFor(t, "RTP packets of the live view", 10*time.Second, func() bool {
		lv.mu.Lock()
		defer lv.mu.Unlock()
		return lv.packets >= n
	})
}

// raw sends body as it is, with the session's CSRF token.
func (c *client) raw(method, path, contentType string, body []byte) *http.Response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set(auth.CSRFHeader, c.csrf)
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	return res
}

// The WHEP endpoint's refusals: each names what was wrong, and none opens
// a session to the camera or writes a custody event.
func TestLiveRefusals(t *testing.T) {
	cams := newStationCameras(t)
	f := newFixture(t, web.Config{}, cams.wire)
	sam := f.login(t, "sam", staffPass)
	_, videoOffer := offerSDP(t)
	for _, tc := range []struct {
		name, path, ctype string
		body              []byte
		status            int
		says              string
	}{
		{"unknown camera", "/api/v1/cameras/roof/whep", "application/sdp", videoOffer, http.StatusNotFound, "roof"},
		{"JSON body", "/api/v1/cameras/yard/whep", "application/json", []byte(`{"offer":"x"}`), http.StatusUnsupportedMediaType, "application/sdp"},
		{"no body", "/api/v1/cameras/yard/whep", "application/sdp", nil, http.StatusBadRequest, "SDP offer"},
		{"not SDP", "/api/v1/cameras/yard/whep", "application/sdp", []byte("hello camera"), http.StatusBadRequest, "SDP offer"},
		{"audio only", "/api/v1/cameras/yard/whep", "application/sdp", audioOnlyOffer(t), http.StatusBadRequest, "H.264"},
		{"too big", "/api/v1/cameras/yard/whep", "application/sdp", append(bytes.Repeat([]byte("a=x\r\n"), 20000), videoOffer...), http.StatusRequestEntityTooLarge, "bytes"},
	} {
		res := sam.raw("POST", tc.path, tc.ctype, tc.body)
		body := readAll(res)
		if res.StatusCode != tc.status || !strings.Contains(body, tc.says) {
			t.Errorf("%s: %d %s; want %d naming %s", tc.name, res.StatusCode, body, tc.status, tc.says)
		}
	}
	if _, total := cams.rtsp.Readers("yard"); total != 0 {
		t.Errorf("refused requests opened %d sessions to the camera", total)
	}
	if starts, _ := liveEvents(t, f.v); len(starts) != 0 {
		t.Errorf("refused requests recorded %d live views", len(starts))
	}
	if res := f.anon(t).raw("POST", "/api/v1/cameras/yard/whep", "application/sdp", videoOffer); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("live view without logging in: %d", res.StatusCode)
	}
}

// offerSDP is a real receive-only H.264 offer from a pion peer.
func offerSDP(t *testing.T) (*webrtc.PeerConnection, []byte) {
	t.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pc, []byte(offer.SDP)
}

func audioOnlyOffer(t *testing.T) []byte {
	t.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(offer.SDP)
}

// A live view lasts no longer than its viewer's login: logging out, or an
// admin disabling the account, ends it with a stop event saying so. A
// viewer can end only their own view (an admin any).
func TestLiveViewEndsWithLogin(t *testing.T) {
	cams := newStationCameras(t)
	f := newFixture(t, web.Config{}, cams.wire)
	sam, ivy, ada := f.login(t, "sam", staffPass), f.login(t, "ivy", invPass), f.login(t, "ada", adminPass)
	samView, res := sam.watch("yard")
	if samView == nil {
		t.Fatalf("staff live view: %d %s", res.StatusCode, readAll(res))
	}
	ivyView, res := ivy.watch("yard")
	if ivyView == nil {
		t.Fatalf("investigator live view: %d %s", res.StatusCode, readAll(res))
	}
	samView.waitPackets(t, 20)
	ivyView.waitPackets(t, 20)
	if res := sam.raw("DELETE", ivyView.location, "", nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("staff ending an investigator's live view: %d", res.StatusCode)
	}
	expect(t, sam.do("POST", "/api/v1/logout", nil, true), http.StatusOK, "sam logs out")
	expect(t, ada.do("PATCH", "/api/v1/admin/users/ivy", map[string]bool{"disabled": true}, true), http.StatusOK, "disabling ivy")
	testkit.WaitFor(t, "two live view stop events", 10*time.Second, func() bool {
		_, stops := liveEvents(t, f.v)
		return len(stops) == 2
	})
	starts, stops := liveEvents(t, f.v)
	for _, e := range append(starts, stops...) {
		if e.Details["camera"] != "yard" || e.Details["session"] == "" || e.Details["stream"] != "main" {
			t.Errorf("%s event details %v: want camera yard, a session id, the main stream", e.Action, e.Details)
		}
	}
	for _, e := range stops {
		if e.Details["cause"] != "viewer's session ended" {
			t.Errorf("%s's view ended with cause %q, want the session's end", e.Actor, e.Details["cause"])
		}
	}
	testkit.WaitFor(t, "the camera's session to close after both views ended", 10*time.Second, func() bool {
		now, _ := cams.rtsp.Readers("yard")
		return now == 0
	})
}
