package central

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// Config is central's configuration file (central.yaml).
type Config struct {
	// WorkerID names this worker in leases and logs (default host-pid).
	WorkerID string `yaml:"worker_id"`
	Database struct {
		DSN    string `yaml:"dsn"`
		DSNEnv string `yaml:"dsn_env"`
	} `yaml:"database"`
	Storage Storage       `yaml:"storage"`
	Witness WitnessConfig `yaml:"witness"`
	HTTP    struct {
		Addr string `yaml:"addr"`
	} `yaml:"http"`
	// LeaseTTL is how long a station stays with a worker that stops
	// renewing (a dead worker's stations move after this).
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// PollInterval is how often an idle station's feed is read again.
	PollInterval time.Duration `yaml:"poll_interval"`
	// SilentAfter raises the silent alarm for a station not heard from.
	SilentAfter time.Duration `yaml:"silent_after"`
	// Pull is what central pulls from every station unless a station says
	// otherwise: by default what a station's sync policy sends (flagged
	// items and dock footage).
	Pull     evidence.PullFilter `yaml:"pull"`
	Stations []Station           `yaml:"stations"`
}

// Storage is central's S3 bucket with Object Lock.
type Storage struct {
	Endpoint     string        `yaml:"endpoint"`
	Secure       bool          `yaml:"secure"`
	Region       string        `yaml:"region"`
	Bucket       string        `yaml:"bucket"`
	AccessKey    string        `yaml:"access_key"`
	SecretKey    string        `yaml:"secret_key"`
	SecretKeyEnv string        `yaml:"secret_key_env"`
	Retention    time.Duration `yaml:"retention"`
	// PartSizeMB and MultipartThresholdMB shape multipart uploads (16 and
	// 64 by default); a worker that dies mid-item leaves whole parts behind
	// that the next worker does not fetch again.
	PartSizeMB           int64 `yaml:"part_size_mb"`
	MultipartThresholdMB int64 `yaml:"multipart_threshold_mb"`
	// BandwidthMBps caps this worker's writes to central storage (0: none).
	BandwidthMBps float64 `yaml:"bandwidth_mbps"`
}

// WitnessConfig is central's key for co-signing the stations' custody
// log checkpoints. Stations pin its verifier key (`edgetriage central
// witness-key` prints it) in their 'witnesses'.
type WitnessConfig struct {
	// Name is on every cosignature; a station's verify reports "cosigned
	// by <name>" (default "central").
	Name string `yaml:"name"`
	// KeyFile holds the Ed25519 seed in hex, mode 0600; it is made at first
	// start if absent. Every worker of one central must use the same key:
	// copy the file to each. A relative path is relative to the
	// configuration file (default witness.key beside it).
	KeyFile string `yaml:"key_file"`
}

// Station is one appliance of the fleet.
type Station struct {
	ID  string `yaml:"id"`
	URL string `yaml:"url"`
	// The central client token the station issued (`edgetriage user token`),
	// from a file or an environment variable, never inline.
	TokenFile string `yaml:"token_file"`
	TokenEnv  string `yaml:"token_env"`
	// PublicKey is the station's Ed25519 key in hex (the fingerprint its
	// admin wrote down at installation); everything the station signs is
	// checked against it and nothing else.
	PublicKey string               `yaml:"public_key"`
	Pull      *evidence.PullFilter `yaml:"pull"`
	// PushBucket names the bucket, on central's S3 server, that the
	// station's own sync pushes to (keys evidence/xx/<digest>): an item
	// found there intact is copied in place instead of fetched again.
	PushBucket string `yaml:"push_bucket"`
}

// Defaults.
const (
	DefaultHTTPAddr     = "127.0.0.1:8090"
	DefaultLeaseTTL     = 30 * time.Second
	DefaultPollInterval = 5 * time.Second
	DefaultSilentAfter  = 10 * time.Minute
	DefaultWitnessName  = "central"
	DefaultWitnessKey   = "witness.key"
)

var (
	stationID = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	// A note signer's name: no spaces, no '+' (C2SP signed-note).
	witnessName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

// LoadConfig reads path strictly (unknown keys are errors naming the key)
// and checks it.
func LoadConfig(path string) (Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	if c.Witness.KeyFile == "" {
		c.Witness.KeyFile = DefaultWitnessKey
	}
	if !filepath.IsAbs(c.Witness.KeyFile) {
		c.Witness.KeyFile = filepath.Join(filepath.Dir(path), c.Witness.KeyFile)
	}
	if err := c.fill(); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

func (c *Config) fill() error {
	if c.WorkerID == "" {
		host, _ := os.Hostname()
		c.WorkerID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if c.HTTP.Addr == "" {
		c.HTTP.Addr = DefaultHTTPAddr
	}
	c.LeaseTTL = orDefault(c.LeaseTTL, DefaultLeaseTTL)
	c.PollInterval = orDefault(c.PollInterval, DefaultPollInterval)
	c.SilentAfter = orDefault(c.SilentAfter, DefaultSilentAfter)
	if c.Witness.Name == "" {
		c.Witness.Name = DefaultWitnessName
	}
	if c.Pull.IsZero() {
		c.Pull = evidence.PullFilter{Flagged: true, Origins: []string{"dock"}}
	}
	if c.Database.DSNEnv != "" {
		c.Database.DSN = os.Getenv(c.Database.DSNEnv)
	}
	if c.Storage.SecretKeyEnv != "" {
		c.Storage.SecretKey = os.Getenv(c.Storage.SecretKeyEnv)
	}
	return c.validate()
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func (c *Config) validate() error {
	var errs []error
	if c.Database.DSN == "" {
		errs = append(errs, errors.New("'database.dsn' (or the variable 'database.dsn_env' names) is empty"))
	}
	if c.Storage.Endpoint == "" || c.Storage.Bucket == "" {
		errs = append(errs, errors.New("'storage.endpoint' and 'storage.bucket' must be set"))
	}
	if c.Storage.Retention <= 0 {
		errs = append(errs, errors.New("'storage.retention' must be greater than zero"))
	}
	if c.LeaseTTL < time.Second || c.PollInterval <= 0 || c.SilentAfter <= 0 {
		errs = append(errs, errors.New("'lease_ttl' must be at least 1s, 'poll_interval' and 'silent_after' greater than zero"))
	}
	if !witnessName.MatchString(c.Witness.Name) {
		errs = append(errs, fmt.Errorf("'witness.name' %q must be 1-64 letters, digits, '.', '_' or '-' (it is on every cosignature)", c.Witness.Name))
	}
	if c.Witness.KeyFile == "" {
		errs = append(errs, errors.New("'witness.key_file' is empty"))
	}
	if len(c.Stations) == 0 {
		errs = append(errs, errors.New("'stations' is empty"))
	}
	seen := map[string]bool{}
	for i, s := range c.Stations {
		if err := s.validate(); err != nil {
			errs = append(errs, fmt.Errorf("'stations[%d]': %w", i, err))
		}
		if seen[s.ID] {
			errs = append(errs, fmt.Errorf("'stations[%d].id' %q is used twice", i, s.ID))
		}
		seen[s.ID] = true
	}
	return errors.Join(errs...)
}

func (s Station) validate() error {
	switch {
	case !stationID.MatchString(s.ID):
		return fmt.Errorf("'id' %q must be 1-63 lower-case letters, digits and dashes (it is the S3 key prefix)", s.ID)
	case !strings.HasPrefix(s.URL, "http://") && !strings.HasPrefix(s.URL, "https://"):
		return fmt.Errorf("'url' %q must be http(s)://host:port", s.URL)
	case (s.TokenFile == "") == (s.TokenEnv == ""):
		return errors.New("exactly one of 'token_file' and 'token_env' must be set")
	}
	_, err := s.Key()
	return err
}

// Key is the station's pinned public key.
func (s Station) Key() (ed25519.PublicKey, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s.PublicKey))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("'public_key' must be the station's Ed25519 public key in hex (%d bytes)", ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// Token reads the station's token from its file or variable.
func (s Station) Token() (string, error) {
	if s.TokenEnv != "" {
		if t := os.Getenv(s.TokenEnv); t != "" {
			return t, nil
		}
		return "", fmt.Errorf("station %s: variable %s is empty", s.ID, s.TokenEnv)
	}
	b, err := os.ReadFile(s.TokenFile)
	if err != nil {
		return "", fmt.Errorf("station %s: token: %w", s.ID, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Filter is what central pulls from this station.
func (c Config) Filter(s Station) evidence.PullFilter {
	if s.Pull != nil {
		return *s.Pull
	}
	return c.Pull
}
