// Package config reads the appliance's configuration: embedded defaults,
// then a strictly parsed YAML file, then EDGETRIAGE_* environment overrides,
// then Validate. Every error names the key at fault.
package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/edgetriage/edgetriage/appliance/auth"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/evidence/custodylog"
	"github.com/edgetriage/edgetriage/appliance/pipeline"
	"github.com/edgetriage/edgetriage/capture/dock"
	"github.com/edgetriage/edgetriage/capture/rtsp"
	"github.com/edgetriage/edgetriage/firmware"
	"github.com/edgetriage/edgetriage/hardware"
)

// Config is the whole appliance configuration. Field tags are the YAML keys;
// the environment override of a key is EDGETRIAGE_ followed by its path in
// upper case with dots as underscores (http.addr -> EDGETRIAGE_HTTP_ADDR).
type Config struct {
	// DataDir holds the vault: objects, index, signing key.
	DataDir string `yaml:"data_dir"`
	HTTP    HTTP   `yaml:"http"`
	WebRTC  WebRTC `yaml:"webrtc"`
	Log     Log    `yaml:"log"`
	// KeyFingerprint pins the appliance's signing key (the fingerprint shown
	// at first start): with it set, the daemon refuses to run on a vault
	// whose key was replaced.
	KeyFingerprint string `yaml:"key_fingerprint"`
	// Witnesses are the keys of the witnesses (central) whose cosignatures
	// of the custody log's checkpoints this appliance keeps, in the C2SP
	// tlog-cosignature verifier-key form "name+hash+base64"
	// (`edgetriage central` prints its own).
	Witnesses []string `yaml:"witnesses"`
	// CheckpointInterval is how often the chain head is signed while running.
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	// Custody is the custody log's trusted time: an RFC 3161 TSA that
	// stamps checkpoints (off by default) and the system clock's watch.
	Custody pipeline.CustodyConfig `yaml:"custody"`
	// ShutdownTimeout bounds an orderly stop; past it the daemon exits anyway.
	ShutdownTimeout time.Duration            `yaml:"shutdown_timeout"`
	Retention       pipeline.RetentionConfig `yaml:"retention"`
	Metrics         Metrics                  `yaml:"metrics"`
	Sync            pipeline.SyncConfig      `yaml:"sync"`
	// Dock is where docked body-worn cameras appear, and how each model is read.
	Dock dock.Config `yaml:"dock"`
	// Cameras are the CCTV cameras recorded over RTSP; none by default.
	Cameras []rtsp.Config `yaml:"cameras"`
	// Triage finds motion in new footage and decides what is flagged.
	Triage pipeline.TriageConfig `yaml:"triage"`
	// Redaction makes redacted working copies of flagged clips.
	Redaction pipeline.RedactionConfig `yaml:"redaction"`
	// Health thresholds raise alarms (dashboard, custody chain, metrics).
	Health hardware.Config `yaml:"health"`
	// Firmware: vendor keys, battery floor, rollout limit, where cameras take updates.
	Firmware firmware.Config `yaml:"firmware"`
	// Auth is the login policy: which roles need a second factor.
	Auth auth.Policy `yaml:"auth"`
	// Alerts are webhooks told of tamper alerts, recording gaps, intake
	// stops, health alarms and forks of the custody log.
	Alerts pipeline.AlertsConfig `yaml:"alerts"`
}

// Metrics is the Prometheus endpoint at /metrics.
type Metrics struct {
	Enabled bool `yaml:"enabled"`
	// BearerToken, when set, must be presented by the scraper.
	BearerToken string `yaml:"bearer_token"`
}

// HTTP is the API and dashboard listener.
type HTTP struct {
	Addr string `yaml:"addr"`
	// TLS is "auto" (a self-signed certificate made on first start, or
	// TLSCert/TLSKey when set) or "off" (plain HTTP, allowed on loopback only).
	TLS     string `yaml:"tls"`
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
}

// WebRTC is how browser previews reach the appliance.
type WebRTC struct {
	// UDPAddr is the one UDP socket all previews share.
	UDPAddr string `yaml:"udp_addr"`
	// PublicIPs are advertised to browsers when the appliance is behind NAT.
	PublicIPs []string `yaml:"public_ips"`
	// WatermarkOriginals burns the viewer's name into every original shown,
	// even one that could be passed through.
	WatermarkOriginals bool `yaml:"watermark_originals"`
}

// Log sets the daemon's log output.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// Default is the configuration the appliance runs on with no file at all.
func Default() Config {
	return Config{
		DataDir:            "./data",
		HTTP:               HTTP{Addr: "127.0.0.1:8080", TLS: "off"},
		WebRTC:             WebRTC{UDPAddr: "127.0.0.1:8189"},
		Log:                Log{Level: "info", Format: "text"},
		CheckpointInterval: time.Minute,
		Custody:            pipeline.DefaultCustody(),
		ShutdownTimeout:    15 * time.Second,
		Retention:          pipeline.DefaultRetention(),
		Metrics:            Metrics{Enabled: true},
		Sync:               pipeline.DefaultSync(),
		Health:             hardware.DefaultConfig(),
		Redaction:          pipeline.DefaultRedaction(),
		Triage:             pipeline.DefaultTriage(),
		Firmware:           firmware.DefaultConfig(),
		Auth:               auth.DefaultPolicy(),
	}
}

// Load builds the configuration from defaults, the file at path (none when
// path is empty) and the environment, and validates it.
func Load(path string, environ []string) (Config, error) {
	cfg := Default()
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("config: %w", err)
		}
		if err := Parse(raw, &cfg); err != nil {
			return cfg, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := applyEnv(&cfg, environ); err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	cfg.deriveDefaults()
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

// Parse decodes YAML over cfg, refusing keys it does not know. Each error
// names the line and the dotted key at fault.
func Parse(raw []byte, cfg *Config) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	err := dec.Decode(cfg)
	var typeErr *yaml.TypeError
	if !errors.As(err, &typeErr) {
		return err
	}
	msgs := make([]string, 0, len(typeErr.Errors))
	for _, m := range typeErr.Errors {
		msgs = append(msgs, nameKey(&root, m))
	}
	return errors.New(strings.Join(msgs, "; "))
}

// nameKey adds the dotted key path to a yaml.v3 message of the form
// "line N: ...", which gives the line but not the key.
func nameKey(root *yaml.Node, msg string) string {
	var line int
	if _, err := fmt.Sscanf(msg, "line %d:", &line); err != nil {
		return msg
	}
	if path := keyAtLine(root, line, ""); path != "" {
		return fmt.Sprintf("key '%s' (%s)", path, msg)
	}
	return msg
}

func keyAtLine(n *yaml.Node, line int, prefix string) string {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			if p := keyAtLine(c, line, prefix); p != "" {
				return p
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			path := prefix + k.Value
			if k.Line == line {
				return path
			}
			if p := keyAtLine(v, line, path+"."); p != "" {
				return p
			}
		}
	}
	return ""
}

// Deprecations names the keys of c that still work under an old name or
// unit and should be changed; the daemon logs each at start.
func (c Config) Deprecations() []string {
	var out []string
	for _, d := range c.Sync.Deprecations() {
		out = append(out, "sync: "+d)
	}
	return out
}

// deriveDefaults fills in defaults that depend on other keys.
func (c *Config) deriveDefaults() {
	c.Dock.Defaults()
	c.Triage.Defaults()
	for i := range c.Cameras {
		if c.Cameras[i].SpoolDir == "" {
			c.Cameras[i].SpoolDir = filepath.Join(c.DataDir, "spool")
		}
		c.Cameras[i] = c.Cameras[i].WithDefaults()
	}
}

// Validate checks values a YAML decoder cannot.
func (c Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.DataDir) == "" {
		errs = append(errs, errors.New("'data_dir' must not be empty"))
	}
	if _, port, err := net.SplitHostPort(c.HTTP.Addr); err != nil || port == "" {
		errs = append(errs, fmt.Errorf("'http.addr' must be host:port, got %q", c.HTTP.Addr))
	}
	for i, w := range c.Witnesses {
		if _, err := custodylog.WitnessVerifier(w); err != nil {
			errs = append(errs, fmt.Errorf("'witnesses[%d]': %w", i, err))
		}
	}
	if c.KeyFingerprint != "" {
		if _, err := evidence.ParseFingerprint(c.KeyFingerprint); err != nil {
			errs = append(errs, fmt.Errorf("'key_fingerprint': %w", err))
		}
	}
	if c.HTTP.TLS != "auto" && c.HTTP.TLS != "off" {
		errs = append(errs, fmt.Errorf("'http.tls' must be auto or off, got %q", c.HTTP.TLS))
	}
	if (c.HTTP.TLSCert == "") != (c.HTTP.TLSKey == "") {
		errs = append(errs, errors.New("'http.tls_cert' and 'http.tls_key' go together"))
	}
	if _, _, err := net.SplitHostPort(c.WebRTC.UDPAddr); err != nil {
		errs = append(errs, fmt.Errorf("'webrtc.udp_addr' must be host:port, got %q", c.WebRTC.UDPAddr))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("'log.level' must be debug, info, warn or error, got %q", c.Log.Level))
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		errs = append(errs, fmt.Errorf("'log.format' must be text or json, got %q", c.Log.Format))
	}
	if c.CheckpointInterval <= 0 {
		errs = append(errs, errors.New("'checkpoint_interval' must be greater than zero"))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("'shutdown_timeout' must be greater than zero"))
	}
	for _, s := range []struct {
		name    string
		section interface{ Validate() error }
	}{{"custody", c.Custody}, {"retention", c.Retention}, {"sync", c.Sync}, {"triage", c.Triage}, {"redaction", c.Redaction}, {"auth", c.Auth}, {"alerts", c.Alerts}} {
		if err := s.section.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("'%s': %w", s.name, err))
		}
	}
	if err := c.Dock.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("'dock': %w", err))
	}
	seen := map[string]bool{}
	for i, cam := range c.Cameras {
		if err := cam.WithDefaults().Validate(); err != nil {
			errs = append(errs, fmt.Errorf("'cameras[%d]' (%s): %w", i, cam.ID, err))
		}
		if seen[cam.ID] {
			errs = append(errs, fmt.Errorf("'cameras[%d].id' %q is used twice", i, cam.ID))
		}
		seen[cam.ID] = true
	}
	if err := c.Health.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Firmware.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// applyEnv sets scalar fields from EDGETRIAGE_* variables. An unknown
// EDGETRIAGE_ variable is an error, like an unknown key in the file, so a
// typo never silently leaves a default in place; only EDGETRIAGE_TEST_*,
// the test tooling's own, are left alone.
func applyEnv(cfg *Config, environ []string) error {
	fields := map[string]reflect.Value{}
	collectFields(reflect.ValueOf(cfg).Elem(), "", fields)
	var errs []error
	for _, kv := range environ {
		name, val, _ := strings.Cut(kv, "=")
		// EDGETRIAGE_TEST_* belong to the test tooling (the S3 test server).
		if !strings.HasPrefix(name, "EDGETRIAGE_") || strings.HasPrefix(name, "EDGETRIAGE_TEST_") {
			continue
		}
		key := strings.ToLower(strings.TrimPrefix(name, "EDGETRIAGE_"))
		f, ok := fields[key]
		if !ok {
			errs = append(errs, fmt.Errorf("environment variable %s names no configuration key", name))
			continue
		}
		if err := setScalar(f, val); err != nil {
			errs = append(errs, fmt.Errorf("environment variable %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

func collectFields(v reflect.Value, prefix string, out map[string]reflect.Value) {
	t := v.Type()
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		key := prefix + tag
		f := v.Field(i)
		_, selfParsing := f.Addr().Interface().(encoding.TextUnmarshaler)
		if f.Kind() == reflect.Struct && !selfParsing {
			collectFields(f, key+"_", out)
			continue
		}
		out[key] = f
	}
}

// setScalar parses val into f: a type of the project's own that reads
// itself from text (motion's durations, say) does, then time.Duration, then
// each basic kind by its width.
func setScalar(f reflect.Value, val string) error {
	if u, ok := f.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(val))
	}
	if f.Type() == reflect.TypeOf(time.Duration(0)) {
		d, err := time.ParseDuration(val)
		if err != nil {
			return err
		}
		f.SetInt(int64(d))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(val)
	case reflect.Bool:
		b, err := strconv.ParseBool(val)
		if err != nil {
			return err
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(val, 10, f.Type().Bits())
		if err != nil {
			return err
		}
		f.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(val, 10, f.Type().Bits())
		if err != nil {
			return err
		}
		f.SetUint(n)
	case reflect.Float32, reflect.Float64:
		n, err := strconv.ParseFloat(val, f.Type().Bits())
		if err != nil {
			return err
		}
		f.SetFloat(n)
	default:
		return fmt.Errorf("cannot be set from the environment (%s); use the config file", f.Kind())
	}
	return nil
}
