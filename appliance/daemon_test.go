package appliance

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/config"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/testkit"
)

// startDaemon runs a daemon on a kernel-chosen port until the test ends.
func startDaemon(t *testing.T, mutate func(*config.Config)) (*Daemon, string) {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Sync.Filesystem.Root = t.TempDir()
	cfg.Dock.Root = t.TempDir()
	cfg.WebRTC.UDPAddr = "127.0.0.1:0"
	// Second factors have their own tests (auth, web, console_test.go);
	// here people log in with a password.
	cfg.Auth.MFARequiredRoles = nil
	if mutate != nil {
		mutate(&cfg)
	}
	d := New(cfg, slog.New(slog.DiscardHandler))
	d.Version = "test-build"
	addr := make(chan string, 1)
	d.Listening = func(a string) { addr <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon stopped with %v", err)
		}
	})
	select {
	case a := <-addr:
		return d, "http://" + a
	case err := <-done:
		done <- err // for the cleanup, which waits for it
		t.Fatalf("daemon did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not start in time")
	}
	return nil, ""
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func metricValue(t *testing.T, body, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("series %s not scraped", series)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

func TestMetricsScrapedWithToken(t *testing.T) {
	d, base := startDaemon(t, func(c *config.Config) { c.Metrics.BearerToken = "scrape-secret" })
	_, _, err := d.vault.IngestReader(context.Background(), strings.NewReader("clip bytes"),
		evidence.Intake{Source: "cam", Labels: map[string]string{"origin": "dock"}})
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the first health sample", 20*time.Second, func() bool { return !d.health.Last().Time.IsZero() })
	if code, _ := get(t, base+"/metrics", ""); code != http.StatusUnauthorized {
		t.Fatalf("metrics without token: %d", code)
	}
	code, body := get(t, base+"/metrics", "scrape-secret")
	if code != http.StatusOK {
		t.Fatalf("metrics: %d %s", code, body)
	}
	if n := metricValue(t, body, `edgetriage_vault_items{state="stored"}`); n != 1 {
		t.Errorf("stored items %v", n)
	}
	if n := metricValue(t, body, "edgetriage_vault_stored_bytes"); n != float64(len("clip bytes")) {
		t.Errorf("stored bytes %v", n)
	}
	if n := metricValue(t, body, "edgetriage_custody_events_total"); n < 2 {
		t.Errorf("custody events %v", n)
	}
	if metricValue(t, body, "edgetriage_intake_stopped") != 0 {
		t.Error("intake reported stopped")
	}
	if metricValue(t, body, `edgetriage_build_info{goversion="`+runtime.Version()+`",version="test-build"}`) != 1 {
		t.Error("build info")
	}
	checkPrometheusNaming(t, body)
	if backlog := metricValue(t, body, `edgetriage_stage_backlog_events{stage="sync-policy"}`); backlog < 0 {
		t.Errorf("sync policy backlog %v", backlog)
	}
	testkit.WaitFor(t, "the clip to be queued for sync", 20*time.Second, func() bool {
		_, body := get(t, base+"/metrics", "scrape-secret")
		return strings.Contains(body, "edgetriage_sync_items{state=")
	})
	if code, _ := get(t, base+"/healthz", ""); code != http.StatusOK {
		t.Errorf("healthz needs no token: %d", code)
	}
}

func TestDashboardMountedAndFirstAdminMade(t *testing.T) {
	d, base := startDaemon(t, nil)
	code, body := get(t, base+"/", "")
	if code != http.StatusOK || !strings.Contains(strings.ToLower(body), "<html") {
		t.Fatalf("dashboard: %d %.80s", code, body)
	}
	for _, path := range []string{"/api/v1/items", "/api/v1/status", "/api/v1/central/changes"} {
		if code, _ := get(t, base+path, ""); code != http.StatusUnauthorized {
			t.Errorf("%s without credentials: %d", path, code)
		}
	}
	users, err := d.auth.Users()
	if err != nil || len(users) != 1 || users[0].Name != "admin" {
		t.Fatalf("first start accounts: %+v %v", users, err)
	}
}

// Stopping the daemon stops intake, lets the stages finish the clip in
// hand, and only then closes the vault: a clip being triaged when the
// station is told to stop comes back triaged, not abandoned half way.
func TestShutdownFinishesTheClipInHand(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Sync.Filesystem.Root = t.TempDir()
	cfg.Dock.Root = t.TempDir()
	cfg.WebRTC.UDPAddr = "127.0.0.1:0"
	cfg.ShutdownTimeout = 2 * time.Minute
	d := New(cfg, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	listening := make(chan struct{})
	d.Listening = func(string) { close(listening) }
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	<-listening
	clip, _, err := d.vault.IngestFile(ctx, filepath.Join(testFootage, "parking-cars.mp4"), evidence.Intake{Source: "yard"})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // triage has the clip in hand
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("daemon stopped with %v", err)
	}
	v, err := OpenVault(context.Background(), cfg.DataDir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	evs, _ := v.ItemEvents(clip.Digest)
	for _, e := range evs {
		if e.Action == evidence.ActionTriaged {
			return
		}
	}
	t.Fatalf("the clip in hand at shutdown was not triaged: %+v", evs)
}

// The first admin's password is left in a file only root can read, and
// never in the log, which is shipped off the box and kept; the log names
// the file and the signing key's fingerprint instead.
func TestFirstAdminPasswordIsNotLogged(t *testing.T) {
	var logged strings.Builder
	var mu sync.Mutex
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Sync.Filesystem.Root = t.TempDir()
	cfg.Dock.Root = t.TempDir()
	cfg.WebRTC.UDPAddr = "127.0.0.1:0"
	d := New(cfg, slog.New(slog.NewTextHandler(lockedWriter{&mu, &logged}, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	d.Listening = func(a string) { addr <- a }
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	<-addr
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(cfg.DataDir, FirstAdminPasswordFile)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v %v", fi, err)
	}
	raw, _ := os.ReadFile(path)
	password := strings.TrimSpace(string(raw))
	mu.Lock()
	log := logged.String()
	mu.Unlock()
	if len(password) < 16 || strings.Contains(log, password) {
		t.Fatalf("the first admin's password %q is in the log:\n%s", password, log)
	}
	if !strings.Contains(log, path) || !strings.Contains(log, "fingerprint=") {
		t.Fatalf("the log does not say where the password is or which key signs:\n%s", log)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// With key_fingerprint pinned in the configuration, a daemon given a vault
// signed by any other key refuses to start rather than sign with it.
func TestPinnedFingerprintRefusesAnotherKey(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.WebRTC.UDPAddr = "127.0.0.1:0"
	cfg.KeyFingerprint = strings.Repeat("ab", 32)
	err := New(cfg, slog.New(slog.DiscardHandler)).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "key_fingerprint") {
		t.Fatalf("a daemon on another key than the pinned one: %v", err)
	}
}
