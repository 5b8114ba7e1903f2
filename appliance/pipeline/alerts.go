package pipeline

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

// AlertsConfig sends what a station's staff must hear about at once to
// webhooks: the configuration section "alerts".
type AlertsConfig struct {
	Webhooks []WebhookConfig `yaml:"webhooks"`
}

// WebhookConfig is one receiver of alerts (an on-call system, a chat
// bridge). Each alert is POSTed as JSON, signed with HMAC-SHA256 over
// "<timestamp>.<body>" with the shared secret, and retried with backoff
// until it is taken or too old.
type WebhookConfig struct {
	// Name identifies the receiver in logs and keeps its place in the
	// custody chain across restarts.
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
	// Secret or SecretFile (one of them) is the HMAC key the receiver
	// checks X-Edgetriage-Signature with.
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
	// Kinds limits what is sent: tamper, recording-gap, intake, health,
	// fork. None: all of them.
	Kinds []string `yaml:"kinds"`
	// GiveUpAfter is how old an alert may get while its delivery keeps
	// failing before it is dropped (logged); 24h when zero.
	GiveUpAfter time.Duration `yaml:"give_up_after"`
	// Timeout bounds one delivery attempt; 10s when zero.
	Timeout time.Duration `yaml:"timeout"`
}

// The kinds of alert, and the custody events they come from.
const (
	AlertTamper = "tamper"        // tamper-alert: lens covered, defocus, camera moved
	AlertGap    = "recording-gap" // gap-start and gap-end of an RTSP camera
	AlertIntake = "intake"        // intake-stopped and intake-resumed (disk at its reserve)
	AlertHealth = "health"        // a health alarm raised or cleared
	AlertFork   = "fork"          // a witness co-signed another history of the custody log
)

var alertKinds = []string{AlertTamper, AlertGap, AlertIntake, AlertHealth, AlertFork}

var webhookName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// Validate checks every webhook; messages name the key at fault.
func (c AlertsConfig) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, w := range c.Webhooks {
		key := fmt.Sprintf("'webhooks[%d]", i)
		if !webhookName.MatchString(w.Name) {
			errs = append(errs, fmt.Errorf("%s.name' %q: use 1-32 lower-case letters, digits, '_' or '-'", key, w.Name))
		}
		if seen[w.Name] {
			errs = append(errs, fmt.Errorf("%s.name' %q is used twice", key, w.Name))
		}
		seen[w.Name] = true
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s.url' must be an http(s) URL, got %q", key, w.URL))
		}
		if (w.Secret == "") == (w.SecretFile == "") {
			errs = append(errs, fmt.Errorf("%s': give secret or secret_file (one of them)", key))
		}
		for _, k := range w.Kinds {
			if !slices.Contains(alertKinds, k) {
				errs = append(errs, fmt.Errorf("%s.kinds' %q: want %s", key, k, strings.Join(alertKinds, ", ")))
			}
		}
		if w.GiveUpAfter < 0 || w.Timeout < 0 {
			errs = append(errs, fmt.Errorf("%s': give_up_after and timeout must not be negative", key))
		}
	}
	return errors.Join(errs...)
}

// AlertKind says which kind of alert a custody event is, if any, and its
// state (raised, cleared, started, ended, stopped, resumed).
func AlertKind(e evidence.CustodyEvent) (kind, state string, ok bool) {
	switch e.Action {
	case evidence.ActionTamperAlert:
		return AlertTamper, "raised", true
	case evidence.ActionGapStart:
		return AlertGap, "started", true
	case evidence.ActionGapEnd:
		return AlertGap, "ended", true
	case evidence.ActionIntakeStop:
		return AlertIntake, "stopped", true
	case evidence.ActionIntakeResume:
		return AlertIntake, "resumed", true
	case evidence.ActionAlarm:
		if e.Details["alarm"] == AlertFork {
			return AlertFork, e.Details["state"], true
		}
		return AlertHealth, e.Details["state"], true
	}
	return "", "", false
}

// Alert is the JSON body a webhook receives.
type Alert struct {
	// ID is the same on every retry: receivers drop what they have seen.
	ID      string            `json:"id"`
	Kind    string            `json:"kind"`
	State   string            `json:"state"`
	Time    time.Time         `json:"time"`
	Station string            `json:"station"` // the appliance key's fingerprint
	Actor   evidence.Actor    `json:"actor"`
	Item    evidence.Digest   `json:"item,omitzero"`
	Seq     uint64            `json:"custody_seq"`
	Details map[string]string `json:"details,omitempty"`
}

// Webhook delivers alerts to one receiver, in custody-chain order, once
// each at least: it follows the chain with its own cursor, so alerts raised
// while the receiver (or the appliance) was down are sent when it is back.
type Webhook struct {
	*Follower
	cfg     WebhookConfig
	secret  []byte
	station string
	client  *http.Client
	log     *slog.Logger
}

// NewWebhook prepares a receiver. One that has never run starts at the
// chain's head: a new receiver is told what happens from now on, not the
// station's whole history.
func NewWebhook(ctx context.Context, v *vault.Vault, cfg WebhookConfig, log *slog.Logger) (*Webhook, error) {
	secret := []byte(cfg.Secret)
	if cfg.SecretFile != "" {
		raw, err := os.ReadFile(cfg.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("webhook %s: secret_file: %w", cfg.Name, err)
		}
		secret = bytes.TrimSpace(raw)
	}
	if len(secret) == 0 {
		return nil, fmt.Errorf("webhook %s: the secret is empty", cfg.Name)
	}
	if cfg.GiveUpAfter == 0 {
		cfg.GiveUpAfter = 24 * time.Hour
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	w := &Webhook{cfg: cfg, secret: secret, station: evidence.Fingerprint(v.PublicKey()), client: &http.Client{Timeout: cfg.Timeout},
		log: log.With("webhook", cfg.Name)}
	w.Follower = newFollower("alerts:"+cfg.Name, v, log, w.wants, w.deliver)
	if err := w.startAtHead(ctx, v); err != nil {
		return nil, fmt.Errorf("webhook %s: %w", cfg.Name, err)
	}
	return w, nil
}

func (w *Webhook) startAtHead(ctx context.Context, v *vault.Vault) error {
	raw, err := v.State(w.name).Get(cursorKey)
	if err != nil || raw != nil {
		return err
	}
	head, err := v.Head()
	if err != nil {
		return err
	}
	return w.setCursor(ctx, head.Seq)
}

func (w *Webhook) wants(e evidence.CustodyEvent) bool {
	kind, _, ok := AlertKind(e)
	return ok && (len(w.cfg.Kinds) == 0 || slices.Contains(w.cfg.Kinds, kind))
}

// deliver sends one alert until the receiver takes it, backing off from a
// second up to five minutes; an alert older than GiveUpAfter is dropped
// with an error in the log, so one dead receiver cannot hold the rest back
// for ever.
func (w *Webhook) deliver(ctx context.Context, e evidence.CustodyEvent) error {
	body, err := w.body(e)
	if err != nil {
		return err
	}
	backoff := time.Second
	for {
		err := w.post(ctx, body)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Since(e.Time) > w.cfg.GiveUpAfter {
			w.log.Error("alert not delivered; giving up on it", "seq", e.Seq, "action", e.Action, "err", err)
			return nil
		}
		w.log.Warn("alert not delivered; retrying", "seq", e.Seq, "in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Minute)
	}
}

func (w *Webhook) body(e evidence.CustodyEvent) ([]byte, error) {
	kind, state, _ := AlertKind(e)
	a := Alert{ID: fmt.Sprintf("%s:%d", w.station, e.Seq), Kind: kind, State: state, Time: e.Time, Station: w.station,
		Actor: e.Actor, Item: e.Item, Seq: e.Seq, Details: e.Details}
	return json.Marshal(a)
}

// Sign is the signature a receiver expects in X-Edgetriage-Signature:
// "sha256=" and the hex HMAC-SHA256 of "<timestamp>.<body>". The timestamp
// (X-Edgetriage-Timestamp, Unix seconds) is signed too, so a receiver can
// refuse an old delivery replayed.
func Sign(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp + "."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func (w *Webhook) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "edgetriage-alerts")
	req.Header.Set("X-Edgetriage-Timestamp", ts)
	req.Header.Set("X-Edgetriage-Signature", Sign(w.secret, ts, body))
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return fmt.Errorf("%s answered %s: %s", w.cfg.URL, resp.Status, bytes.TrimSpace(msg))
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return nil
}
