package appliance

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/edgetriage/edgetriage/appliance/config"
	"github.com/edgetriage/edgetriage/appliance/evidence/custodylog"
	"github.com/edgetriage/edgetriage/appliance/pipeline"
	"github.com/edgetriage/edgetriage/capture/rtsp"
	"github.com/edgetriage/edgetriage/hardware"
	"github.com/edgetriage/edgetriage/testkit"
)

// alertInbox is an on-call system's webhook: it keeps the alerts whose
// signature checks out.
type alertInbox struct {
	mu     sync.Mutex
	kinds  map[string]bool
	forged int
}

func (in *alertInbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	in.mu.Lock()
	defer in.mu.Unlock()
	if r.Header.Get("X-Edgetriage-Signature") != pipeline.Sign([]byte("on-call secret"), r.Header.Get("X-Edgetriage-Timestamp"), body) {
		in.forged++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var a pipeline.Alert
	json.Unmarshal(body, &a)
	in.kinds[a.Kind+"/"+a.State] = true
}

func (in *alertInbox) has(kinds ...string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, k := range kinds {
		if !in.kinds[k] {
			return false
		}
	}
	return true
}

// The running station tells its webhook of what went wrong, from the
// parts that notice: a camera that cannot be reached, intake stopped at the
// disk reserve, a health alarm, and a witness holding another history.
func TestStationAlertsReachTheWebhook(t *testing.T) {
	inbox := &alertInbox{kinds: map[string]bool{}}
	hook := httptest.NewServer(inbox)
	defer hook.Close()
	_, hqKey, _ := ed25519.GenerateKey(nil)
	hq, err := custodylog.NewWitness("central-hq", hqKey)
	if err != nil {
		t.Fatal(err)
	}
	d, base := startDaemon(t, func(c *config.Config) {
		c.Alerts.Webhooks = []pipeline.WebhookConfig{{Name: "on-call", URL: hook.URL, Secret: "on-call secret"}}
		c.Cameras = []rtsp.Config{(rtsp.Config{ID: "yard", URL: "rtsp://127.0.0.1:9/nothing-here", Transport: rtsp.TransportTCP,
			SpoolDir: filepath.Join(c.DataDir, "spool")}).WithDefaults()}
		c.Retention.ReserveMB = 1 << 40 // no disk has that much free: intake stops
		c.Retention.Interval = 200 * time.Millisecond
		c.Health.Interval = 200 * time.Millisecond
		c.Health.DiskUsedPercent = hardware.Threshold{Raise: 0.001, Clear: 0.0005}
		c.Witnesses = []string{hq.VerifierKey()}
	})
	ctx := context.Background()
	token, _, err := d.auth.AddToken(ctx, "user:admin", "hq", 0)
	if err != nil {
		t.Fatal(err)
	}
	// A cosigned checkpoint of another tree: a fork.
	size, _, err := d.vault.TreeHead()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := os.ReadFile(filepath.Join(d.cfg.DataDir, "keys", "appliance.key"))
	raw, _ := hex.DecodeString(strings.TrimSpace(string(seed)))
	forged, _ := custodylog.Sign(ed25519.NewKeyFromSeed(raw), custodylog.Checkpoint{Origin: custodylog.Origin(d.vault.PublicKey()),
		Size: size, Root: tlog.Hash{7}, Time: time.Now()})
	_, cosigned, err := hq.Cosign(d.vault.PublicKey(), nil, forged, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := centralClientT{t: t, base: base, token: token}
	if resp, b := c.do("POST", "/api/v1/central/log/cosignature", cosigned, nil); resp.StatusCode != http.StatusConflict {
		t.Fatalf("a cosignature of another history: %s %s", resp.Status, b)
	}
	testkit.WaitFor(t, "the four alerts at the webhook", 60*time.Second, func() bool {
		return inbox.has("recording-gap/started", "intake/stopped", "health/raised", "fork/raised")
	})
	inbox.mu.Lock()
	defer inbox.mu.Unlock()
	if inbox.forged > 0 {
		t.Fatalf("%d deliveries with a bad signature", inbox.forged)
	}
}
