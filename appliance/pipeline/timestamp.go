package pipeline

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence/custodylog"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/hardware"
)

// CustodyConfig is the custody log's trusted time: the TSA that stamps its
// checkpoints, and the watch on the system clock.
type CustodyConfig struct {
	Timestamp TimestampConfig `yaml:"timestamp"`
	Clock     ClockConfig     `yaml:"clock"`
}

// DefaultCustody stamps nothing (no TSA is configured) and watches the clock.
func DefaultCustody() CustodyConfig {
	return CustodyConfig{Timestamp: TimestampConfig{Interval: 10 * time.Minute, AlarmAfter: time.Hour}, Clock: DefaultClock()}
}

// Validate names the key at fault, below custody.
func (c CustodyConfig) Validate() error {
	return errors.Join(c.Timestamp.Validate(), c.Clock.Validate())
}

// TimestampConfig is where checkpoints get an RFC 3161 timestamp. Off
// while URL is empty.
type TimestampConfig struct {
	// URL is the time-stamp authority's HTTP(S) endpoint.
	URL string `yaml:"url"`
	// CACert is a PEM file of the CA certificate(s) the TSA's certificate
	// must chain to; tokens that do not are never stored.
	CACert string `yaml:"ca_cert"`
	// Interval is how often the newest checkpoint is stamped.
	Interval time.Duration `yaml:"interval"`
	// AlarmAfter is how long the TSA may fail before a health alarm.
	AlarmAfter time.Duration `yaml:"alarm_after"`
}

// Enabled reports whether a TSA is configured.
func (c TimestampConfig) Enabled() bool { return c.URL != "" }

// Validate names the key at fault, below custody.
func (c TimestampConfig) Validate() error {
	if !c.Enabled() {
		return nil
	}
	var errs []error
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("'timestamp.url' must be an http or https URL, got %q", c.URL))
	}
	if c.CACert == "" {
		errs = append(errs, errors.New("'timestamp.ca_cert' must name the TSA's CA certificate (PEM) when 'timestamp.url' is set"))
	} else if _, err := c.Roots(); err != nil {
		errs = append(errs, fmt.Errorf("'timestamp.ca_cert': %w", err))
	}
	if c.Interval <= 0 {
		errs = append(errs, errors.New("'timestamp.interval' must be greater than zero"))
	}
	if c.AlarmAfter <= 0 {
		errs = append(errs, errors.New("'timestamp.alarm_after' must be greater than zero"))
	}
	return errors.Join(errs...)
}

// Roots reads the CA certificates the TSA's tokens must chain to.
func (c TimestampConfig) Roots() (*x509.CertPool, error) {
	return custodylog.ReadCertPool(c.CACert)
}

// StampVault is what the stamper needs of the vault.
type StampVault interface {
	Unstamped() (vault.SignedCheckpoint, bool, error)
	StoreTimestamp(ctx context.Context, note, token []byte) error
}

// Stamper has the newest checkpoint timestamped by the TSA every interval.
// A TSA that is down is retried sooner, and raises a health alarm once it
// has failed for AlarmAfter; custody appends never wait for it.
type Stamper struct {
	cfg    TimestampConfig
	roots  *x509.CertPool
	vault  StampVault
	alarms hardware.AlarmSink
	client *http.Client
	log    *slog.Logger

	mu           sync.Mutex
	failingSince time.Time
	lastErr      error
	alarm        *hardware.Alarm
}

// NewStamper stamps v's checkpoints as cfg says; alarms may be nil.
func NewStamper(cfg TimestampConfig, v StampVault, alarms hardware.AlarmSink, log *slog.Logger) (*Stamper, error) {
	roots, err := cfg.Roots()
	if err != nil {
		return nil, fmt.Errorf("custody.timestamp.ca_cert: %w", err)
	}
	return &Stamper{cfg: cfg, roots: roots, vault: v, alarms: alarms, log: log.With("part", "timestamper"),
		client: &http.Client{Timeout: 30 * time.Second}}, nil
}

func (s *Stamper) Name() string { return "timestamper" }

// Run stamps until ctx ends. A failed attempt is retried after a tenth of
// the interval (at least a second), so a short TSA outage costs little.
func (s *Stamper) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		wait := s.cfg.Interval
		if err := s.stampNewest(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.failed(ctx, err)
			wait = max(s.cfg.Interval/10, time.Second)
		} else {
			s.succeeded(ctx)
		}
		t.Reset(wait)
	}
}

// stampNewest stamps the newest checkpoint unless it already has a token.
func (s *Stamper) stampNewest(ctx context.Context) error {
	cp, unstamped, err := s.vault.Unstamped()
	if err != nil || !unstamped {
		return err
	}
	token, tt, err := s.request(ctx, cp.Signed)
	if err != nil {
		return fmt.Errorf("timestamp checkpoint %d at %s: %w", cp.Size, s.cfg.URL, err)
	}
	if err := s.vault.StoreTimestamp(ctx, cp.Signed, token); err != nil {
		return err
	}
	s.log.Info("checkpoint timestamped", "size", cp.Size, "tsa", tt.TSA, "time", tt.Time)
	return nil
}

// request sends one RFC 3161 query and checks the reply before anything
// is stored.
func (s *Stamper) request(ctx context.Context, note []byte) ([]byte, custodylog.TrustedTime, error) {
	query, nonce, err := custodylog.TimestampRequest(note)
	if err != nil {
		return nil, custodylog.TrustedTime{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL, bytes.NewReader(query))
	if err != nil {
		return nil, custodylog.TrustedTime{}, err
	}
	req.Header.Set("Content-Type", "application/timestamp-query")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, custodylog.TrustedTime{}, err
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, custodylog.TrustedTime{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, custodylog.TrustedTime{}, fmt.Errorf("TSA answered %s", resp.Status)
	}
	return custodylog.TimestampReply(reply, note, nonce, s.roots)
}

func (s *Stamper) failed(ctx context.Context, err error) {
	s.log.Warn("TSA timestamp failed; retrying", "err", err)
	s.mu.Lock()
	now := time.Now()
	if s.failingSince.IsZero() {
		s.failingSince = now
	}
	s.lastErr = err
	var raise *hardware.Alarm
	if s.alarm == nil && now.Sub(s.failingSince) >= s.cfg.AlarmAfter {
		down := now.Sub(s.failingSince)
		s.alarm = &hardware.Alarm{Name: "tsa_unreachable", Active: true, Value: down.Seconds(), Threshold: s.cfg.AlarmAfter.Seconds(),
			Since: s.failingSince, At: now, Message: fmt.Sprintf("checkpoints are not timestamped: the TSA has failed for %s: %v", down.Round(time.Second), err)}
		raise = s.alarm
	}
	s.mu.Unlock()
	s.notify(ctx, raise)
}

func (s *Stamper) succeeded(ctx context.Context) {
	s.mu.Lock()
	var clear *hardware.Alarm
	if s.alarm != nil {
		c := *s.alarm
		c.Active, c.At, c.Message = false, time.Now(), "the TSA timestamps checkpoints again"
		clear = &c
	}
	s.failingSince, s.lastErr, s.alarm = time.Time{}, nil, nil
	s.mu.Unlock()
	s.notify(ctx, clear)
}

func (s *Stamper) notify(ctx context.Context, a *hardware.Alarm) {
	if a == nil || s.alarms == nil {
		return
	}
	if err := s.alarms.AlarmChanged(ctx, *a); err != nil && ctx.Err() == nil {
		s.log.Error("record TSA alarm", "err", err)
	}
}

// Alarms are the stamper's raised alarms, for the dashboard.
func (s *Stamper) Alarms() []hardware.Alarm {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.alarm == nil {
		return nil
	}
	return []hardware.Alarm{*s.alarm}
}
