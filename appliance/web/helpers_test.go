package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/edgetriage/edgetriage/appliance/auth"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/media"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/appliance/web"
	"github.com/edgetriage/edgetriage/triage/redact"
)

const footage = "../../testdata/footage"

// Passwords of the test accounts.
const (
	adminPass = "admin-password-1"
	staffPass = "staff-password-1"
	invPass   = "investigator-pw-1"
)

// fixture is a running web server over a real vault holding a body-cam
// clip with B-frames (the master) and a B-frame-free redacted copy of it.
type fixture struct {
	v        *vault.Vault
	web      *web.Server
	http     *httptest.Server
	master   evidence.Item
	redacted evidence.Item
	plain    evidence.Item // a second master with no redacted copy
}

// fixtureReviewEntry is the one entry of the fixture's review queue.
const fixtureReviewEntry = "f10-gap-t1"

// redactedClip is made once for the whole test binary by TestMain.
var redactedClip string

// TestMain makes an H.264 main-profile copy without B-frames, standing in
// for the redaction step's output (blurred, re-encoded), shared by all tests.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "edgetriage-webtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	redactedClip = filepath.Join(dir, "faces-walking-redacted.mp4")
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", filepath.Join(footage, "faces-walking.mp4"),
		"-an", "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main", "-bf", "0", "-g", "12",
		"-vf", "boxblur=8", redactedClip)
	if b, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "ffmpeg: %v: %s\n", err, b)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func newFixture(t testing.TB, cfg web.Config, with ...func(*web.Deps)) *fixture {
	t.Helper()
	ctx := context.Background()
	v, err := vault.Open(ctx, t.TempDir(), vault.Options{Prober: media.Probe})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{v: v}
	start := time.Date(2026, 3, 1, 7, 30, 0, 0, time.UTC)
	f.master, _, err = v.IngestFile(ctx, filepath.Join(footage, "faces-walking.mp4"), evidence.Intake{
		Actor: "dock:bay-1", Source: "bwv-0042", Officer: "pc-1234", CapturedStart: start,
		Labels: map[string]string{evidence.LabelFlagged: "event 0.2-1.5 s touches zone \"person\"", evidence.LabelFlagPrefix + "person": "event 0.2-1.5 s touches zone \"person\"", "motion.segments": "0.2-1.5,2.0-2.8"}})
	if err != nil {
		t.Fatal(err)
	}
	f.redacted, _, err = v.IngestFile(ctx, redactedClip, evidence.Intake{Actor: "triage:redact", Source: "bwv-0042",
		Officer: "pc-1234", Parent: f.master.Digest, Relation: "redacted", CapturedStart: start})
	if err != nil {
		t.Fatal(err)
	}
	// The copy's redaction log, as the redactor writes it, with one stop
	// in its review queue.
	lg, _ := json.Marshal(redact.Log{Version: 1, Master: f.master.Digest, Output: f.redacted.Digest, Frames: 35, FPS: 12,
		Speech: redact.SpeechMap{Method: "test", Spans: []redact.Span{{Start: 0.3, End: 1.1}, {Start: 1.9, End: 2.6}}}, QA: redact.QA{Review: redact.Review{
			Cap: 20, Message: "1 stops ranked by risk",
			Entries: []redact.ReviewEntry{{ID: fixtureReviewEntry, Rank: 1, Risk: 4.5, Start: 0.5, End: 1.2, Frame: 10, Time: 0.833,
				Boxes: []redact.ReviewBox{{Track: 1, Kind: redact.KindFace, Box: redact.Box{X: 200, Y: 60, W: 28, H: 28}}},
				Why:   []redact.ReviewCause{{Reason: redact.ReasonGap, Track: 1, Text: "face track 1 (28 px) missed on 2 detection frames for 0.7 s; its box was interpolated"}}}},
		}}})
	if _, _, err = v.IngestReader(ctx, bytes.NewReader(lg), evidence.Intake{Actor: "triage:redact", Kind: evidence.KindRedactionLog,
		Source: "bwv-0042", Parent: f.redacted.Digest, Relation: redact.RelationRedactionLog}); err != nil {
		t.Fatal(err)
	}
	f.plain, _, err = v.IngestFile(ctx, filepath.Join(footage, "static-room.mp4"), evidence.Intake{
		Actor: "rtsp:cam-lobby", Source: "cctv-lobby", CapturedStart: start.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Auth.LoginBurst == 0 {
		cfg.Auth.LoginBurst = 100
	}
	deps := web.Deps{Vault: v}
	for _, fn := range with {
		fn(&deps)
	}
	f.web, err = web.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		name string
		role auth.Role
		pass string
	}{{"ada", auth.RoleAdmin, adminPass}, {"sam", auth.RoleStaff, staffPass}, {"ivy", auth.RoleInvestigator, invPass}} {
		if err := f.web.Auth().AddUser(ctx, "appliance:test", u.name, u.role, u.pass); err != nil {
			t.Fatal(err)
		}
	}
	f.http = httptest.NewServer(f.web.Handler())
	t.Cleanup(func() {
		f.http.Close()
		f.web.Close()
		v.Close()
	})
	return f
}

// client is a logged-in API user with a cookie jar, like the dashboard.
type client struct {
	t    testing.TB
	base string
	hc   *http.Client
	csrf string
}

func (f *fixture) login(t testing.TB, user, pass string) *client {
	t.Helper()
	c := f.anon(t)
	res := c.do("POST", "/api/v1/login", map[string]string{"user": user, "password": pass}, false)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("login %s: %d %s", user, res.StatusCode, readAll(res))
	}
	res.Body.Close()
	for _, ck := range res.Cookies() {
		if ck.Name == auth.CSRFCookie {
			c.csrf = ck.Value
		}
	}
	return c
}

func (f *fixture) anon(t testing.TB) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: f.http.URL, hc: &http.Client{Jar: jar, Timeout: 20 * time.Second}}
}

// do sends body as JSON (or raw when it is a string with a content type
// given via the path's form), with the CSRF header when csrf is true.
func (c *client) do(method, path string, body any, csrf bool) *http.Response {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if csrf {
		req.Header.Set(auth.CSRFHeader, c.csrf)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	return res
}

func readAll(res *http.Response) string {
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return strings.TrimSpace(string(b))
}

// viewer is an in-process pion receiver: a real WebRTC peer, used where a
// browser per session would be too heavy.
type viewer struct {
	pc       *webrtc.PeerConnection
	location string
	mode     string
	mu       sync.Mutex
	packets  int
	bytes    int
	firstRTP time.Time
	started  time.Time
}

func (c *client) startViewer(digest evidence.Digest, variant, reason string) (*viewer, *http.Response) {
	c.t.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		c.t.Fatal(err)
	}
	v := &viewer{pc: pc, started: time.Now()}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		buf := make([]byte, 1500)
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			v.mu.Lock()
			if v.packets == 0 {
				v.firstRTP = time.Now()
			}
			v.packets++
			v.bytes += n
			v.mu.Unlock()
		}
	})
	localOffer(c.t, pc)
	res := c.do("POST", "/api/v1/items/"+digest.String()+"/preview",
		map[string]string{"offer": pc.LocalDescription().SDP, "variant": variant, "reason": reason}, true)
	if res.StatusCode != http.StatusCreated {
		pc.Close()
		return nil, res
	}
	raw, _ := io.ReadAll(res.Body) // untrimmed: SDP ends with CRLF
	res.Body.Close()
	answer := string(raw)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		c.t.Fatal(err)
	}
	v.location, v.mode = res.Header.Get("Location"), res.Header.Get("X-Preview-Mode")
	return v, res
}

func (v *viewer) counts() (int, int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.packets, v.bytes
}

func (v *viewer) waitPackets(t testing.TB, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if p, _ := v.counts(); p >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	p, _ := v.counts()
	t.Fatalf("viewer got %d RTP packets in %s, want %d", p, within, n)
}

func eventsOf(t testing.TB, v *vault.Vault, d evidence.Digest, action evidence.Action) []evidence.CustodyEvent {
	t.Helper()
	evs, err := v.ItemEvents(d)
	if err != nil {
		t.Fatal(err)
	}
	var out []evidence.CustodyEvent
	for _, e := range evs {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// localOffer makes pc's offer its local description with every ICE
// candidate gathered in it, as a WHEP or preview client sends it.
func localOffer(t testing.TB, pc *webrtc.PeerConnection) {
	t.Helper()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
}
