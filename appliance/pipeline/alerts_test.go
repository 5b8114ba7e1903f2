package pipeline

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/testkit"
)

// receiver is an alert webhook that checks signatures and can be made to
// fail for a while.
type receiver struct {
	secret []byte
	mu     sync.Mutex
	fail   int // answer 503 to this many more deliveries
	got    []Alert
	tries  int
	bad    []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ts := r.Header.Get("X-Edgetriage-Timestamp")
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.tries++
	if !hmac.Equal([]byte(r.Header.Get("X-Edgetriage-Signature")), []byte(Sign(rc.secret, ts, body))) {
		rc.bad = append(rc.bad, "signature")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if sec, err := strconv.ParseInt(ts, 10, 64); err != nil || time.Since(time.Unix(sec, 0)) > time.Minute {
		rc.bad = append(rc.bad, "timestamp "+ts)
	}
	if rc.fail > 0 {
		rc.fail--
		http.Error(w, "on-call system restarting", http.StatusServiceUnavailable)
		return
	}
	var a Alert
	if err := json.Unmarshal(body, &a); err != nil {
		rc.bad = append(rc.bad, err.Error())
	}
	rc.got = append(rc.got, a)
}

func (rc *receiver) alerts() []Alert {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Alert(nil), rc.got...)
}

// Every kind of alert reaches the webhook, signed, in chain order, once
// each, through a receiver that fails at first; a receiver added later
// hears only what happens from then on; kinds filter.
func TestWebhookDeliversSignedAlertsWithRetries(t *testing.T) {
	ctx := context.Background()
	v, err := vault.Open(ctx, t.TempDir(), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := v.Append(ctx, evidence.CustodyEvent{Actor: "camera:old", Action: evidence.ActionGapStart}); err != nil {
		t.Fatal(err)
	}
	rc := &receiver{secret: []byte("shared secret"), fail: 2}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	w, err := NewWebhook(ctx, v, WebhookConfig{Name: "ops", URL: srv.URL, Secret: "shared secret"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	tampers := &receiver{secret: []byte("other")}
	srv2 := httptest.NewServer(tampers)
	defer srv2.Close()
	w2, err := NewWebhook(ctx, v, WebhookConfig{Name: "cctv-desk", URL: srv2.URL, Secret: "other", Kinds: []string{AlertTamper}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go w.Run(runCtx)
	go w2.Run(runCtx)

	events := []evidence.CustodyEvent{
		{Actor: "camera:yard", Action: evidence.ActionTamperAlert, Details: map[string]string{"kind": "covered"}},
		{Actor: "camera:yard", Action: evidence.ActionGapStart, Details: map[string]string{"reason": "connection refused"}},
		{Actor: "appliance:retention", Action: evidence.ActionIntakeStop, Details: map[string]string{"reason": "disk full"}},
		{Actor: "appliance:health", Action: evidence.ActionAlarm, Details: map[string]string{"alarm": "temperature_c", "state": "raised"}},
		{Actor: "appliance:custody-log", Action: evidence.ActionAlarm, Details: map[string]string{"alarm": "fork", "state": "raised"}},
		{Actor: "camera:yard", Action: evidence.ActionGapEnd},
		{Actor: "user:ada", Action: evidence.ActionLogin}, // not an alert
	}
	for _, e := range events {
		if _, err := v.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	testkit.WaitFor(t, "six alerts delivered", 30*time.Second, func() bool { return len(rc.alerts()) >= 6 })
	var got []string
	for _, a := range rc.alerts() {
		got = append(got, a.Kind+"/"+a.State)
		if a.Station != evidence.Fingerprint(v.PublicKey()) || !strings.HasSuffix(a.ID, ":"+strconv.FormatUint(a.Seq, 10)) {
			t.Errorf("alert %+v", a)
		}
	}
	want := "tamper/raised recording-gap/started intake/stopped health/raised fork/raised recording-gap/ended"
	if strings.Join(got, " ") != want {
		t.Fatalf("alerts\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	rc.mu.Lock()
	tries, bad := rc.tries, rc.bad
	rc.mu.Unlock()
	if tries != 8 || len(bad) > 0 {
		t.Fatalf("%d deliveries for 6 alerts after 2 refusals; problems %v", tries, bad)
	}
	testkit.WaitFor(t, "the tamper alert at the CCTV desk", 10*time.Second, func() bool { return len(tampers.alerts()) == 1 })
	time.Sleep(300 * time.Millisecond)
	if a := tampers.alerts(); len(a) != 1 || a[0].Kind != AlertTamper {
		t.Fatalf("the tamper-only webhook got %+v", a)
	}
}

func TestAlertsConfigNamesTheKeyAtFault(t *testing.T) {
	for _, c := range []struct {
		cfg  WebhookConfig
		want string
	}{
		{WebhookConfig{Name: "Ops!", URL: "https://x/y", Secret: "s"}, "'webhooks[0].name'"},
		{WebhookConfig{Name: "ops", URL: "ftp://x/y", Secret: "s"}, "'webhooks[0].url'"},
		{WebhookConfig{Name: "ops", URL: "https://x/y"}, "secret or secret_file"},
		{WebhookConfig{Name: "ops", URL: "https://x/y", Secret: "s", Kinds: []string{"fire"}}, "'webhooks[0].kinds' \"fire\""},
	} {
		err := AlertsConfig{Webhooks: []WebhookConfig{c.cfg}}.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want it to name %s", c.cfg, err, c.want)
		}
	}
	two := WebhookConfig{Name: "ops", URL: "https://x/y", Secret: "s"}
	if err := (AlertsConfig{Webhooks: []WebhookConfig{two, two}}).Validate(); err == nil || !strings.Contains(err.Error(), "used twice") {
		t.Errorf("two webhooks named ops: %v", err)
	}
}
