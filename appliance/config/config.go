// Package config reads the appliance's configuration: embedded defaults,
// then a strictly parsed YAML file, then EDGETRIAGE_* environment overrides,
// then Validate. Every error names the key at fault.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/edgetriage/edgetriage/capture/dock"
	"github.com/edgetriage/edgetriage/capture/rtsp"
	"github.com/edgetriage/edgetriage/firmware"
	"github.com/edgetriage/edgetriage/hardware"
	"github.com/edgetriage/edgetriage/triage/motion"
	"github.com/edgetriage/edgetriage/triage/redact"
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
	// CheckpointInterval is how often the chain head is signed while running.
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	// ShutdownTimeout bounds an orderly stop; past it the daemon exits anyway.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	Retention       Retention     `yaml:"retention"`
	Metrics         Metrics       `yaml:"metrics"`
	Sync            Sync          `yaml:"sync"`
	// Dock is where docked body-worn cameras appear, and how each model is read.
	Dock dock.Config `yaml:"dock"`
	// Cameras are the CCTV cameras recorded over RTSP; none by default.
	Cameras []rtsp.Config `yaml:"cameras"`
	// Triage finds motion in new footage and decides what is flagged.
	Triage Triage `yaml:"triage"`
	// Redaction makes redacted working copies of flagged clips.
	Redaction Redaction `yaml:"redaction"`
	// Health thresholds raise alarms (dashboard, custody chain, metrics).
	Health hardware.Config `yaml:"health"`
	// Firmware: vendor keys, battery floor, rollout limit, where cameras take updates.
	Firmware firmware.Config `yaml:"firmware"`
}

// Sync sends evidence to central storage.
type Sync struct {
	// Target is "filesystem" (a directory such as an NFS mount; the
	// default, ./central) or "s3" (S3 with Object Lock).
	Target     string `yaml:"target"`
	Filesystem struct {
		Root string `yaml:"root"`
	} `yaml:"filesystem"`
	S3 struct {
		Endpoint  string `yaml:"endpoint"` // host:port
		Secure    bool   `yaml:"secure"`   // https
		Region    string `yaml:"region"`
		Bucket    string `yaml:"bucket"`
		AccessKey string `yaml:"access_key"`
		SecretKey string `yaml:"secret_key"`
		// Retention is the COMPLIANCE retention period of every object.
		Retention time.Duration `yaml:"retention"`
	} `yaml:"s3"`
	// BandwidthMBps caps upload bandwidth (megabytes per second); 0: none.
	BandwidthMBps float64 `yaml:"bandwidth_mbps"`
	// Windows limit non-urgent uploads to times of day ("22:00-06:00").
	Windows []string `yaml:"windows"`
	// Sources whose items are all sent (e.g. body-worn cameras: "dock").
	// Flagged items and "send now" requests are always sent.
	SendAllFrom []string `yaml:"send_all_from"`
}

// Metrics is the Prometheus endpoint at /metrics.
type Metrics struct {
	Enabled bool `yaml:"enabled"`
	// BearerToken, when set, must be presented by the scraper.
	BearerToken string `yaml:"bearer_token"`
}

// Retention decides when local copies may go. Only items central storage
// holds and has acknowledged (or that policy keeps local-only and that have
// expired) are ever removed; flagged, unsynced and held items never are.
type Retention struct {
	// Above HighWatermarkPercent of the data volume used, removable local
	// copies go oldest first until usage is below LowWatermarkPercent.
	HighWatermarkPercent float64 `yaml:"high_watermark_percent"`
	LowWatermarkPercent  float64 `yaml:"low_watermark_percent"`
	// Below ReserveMB free, new intake stops (with an alarm) until space
	// returns; stored evidence is never touched to make room.
	ReserveMB int64 `yaml:"reserve_mb"`
	// Interval between checks of the disk.
	Interval time.Duration `yaml:"interval"`
	// Categories maps a category (item label) to how long an acknowledged
	// item of it is kept locally even when the disk has room.
	Categories map[string]time.Duration `yaml:"categories"`
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

// Triage is motion triage of new footage and the flag rules.
type Triage struct {
	// Enabled runs motion triage on every new video.
	Enabled bool `yaml:"enabled"`
	// Motion is the detector configuration for every source; see
	// triage/motion.Config.
	Motion motion.Config `yaml:"motion"`
	// Sources holds per-camera configurations (masks, zones, sensitivity),
	// by source id (RTSP camera id or body camera serial). Keys left out
	// (or zero) inherit from motion; prefilter is on if either says so.
	Sources map[string]motion.Config `yaml:"sources"`
	// Flag decides which items are flagged (sent to central, redacted).
	Flag motion.FlagRules `yaml:"flag"`
}

// For is the motion configuration for items from source.
func (t Triage) For(source string) motion.Config {
	if c, ok := t.Sources[source]; ok {
		return c
	}
	return t.Motion
}

// Redaction decides when redacted copies are made.
type Redaction struct {
	// OnFlag renders a redacted copy of every flagged video as soon as it
	// is flagged, so investigators can preview it at once.
	OnFlag bool `yaml:"on_flag"`
	// Fast uses fewer detections per second and a faster encoder, to keep
	// up with real time on a small station CPU; tracking covers the frames
	// in between.
	Fast bool `yaml:"fast"`
	// MuteAudio drops the audio from redacted copies.
	MuteAudio bool `yaml:"mute_audio"`
	// People is how people are covered besides their faces: "heads"
	// (the default: the head of every person found, however far or
	// turned away), "whole-person", or "faces" (faces only).
	People string `yaml:"people"`
	// Sources overrides settings per source id (RTSP camera id, body
	// camera serial, "dock"); keys left out inherit from above.
	Sources map[string]RedactionSource `yaml:"sources"`
}

// RedactionSource is what one source may set differently.
type RedactionSource struct {
	People string `yaml:"people"`
}

// PeopleFor is how people from source are covered.
func (r Redaction) PeopleFor(source string) string {
	if s, ok := r.Sources[source]; ok && s.People != "" {
		return s.People
	}
	if r.People != "" {
		return r.People
	}
	return redact.PeopleHeads
}

func (r Redaction) validate() []error {
	var errs []error
	check := func(key, v string) {
		switch v {
		case "", redact.PeopleFaces, redact.PeopleHeads, redact.PeopleWhole:
		default:
			errs = append(errs, fmt.Errorf("'%s' must be %s, %s or %s, got %q", key, redact.PeopleFaces, redact.PeopleHeads, redact.PeopleWhole, v))
		}
	}
	check("redaction.people", r.People)
	for src, s := range r.Sources {
		check("redaction.sources."+src+".people", s.People)
	}
	return errs
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
		ShutdownTimeout:    15 * time.Second,
		Retention: Retention{HighWatermarkPercent: 85, LowWatermarkPercent: 75, ReserveMB: 1024,
			Interval: 30 * time.Second},
		Metrics:   Metrics{Enabled: true},
		Sync:      defaultSync(),
		Health:    hardware.DefaultConfig(),
		Redaction: Redaction{OnFlag: true, Fast: true},
		Triage:    Triage{Enabled: true, Motion: motion.DefaultConfig()},
		Firmware:  firmware.DefaultConfig(),
	}
}

func defaultSync() Sync {
	s := Sync{Target: "filesystem", SendAllFrom: []string{"dock"}}
	s.Filesystem.Root = "./central"
	s.S3.Region = "us-east-1"
	s.S3.Retention = 7 * 365 * 24 * time.Hour
	return s
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

// deriveDefaults fills in defaults that depend on other keys.
func (c *Config) deriveDefaults() {
	c.Dock.Defaults()
	for src, over := range c.Triage.Sources {
		c.Triage.Sources[src] = inheritMotion(c.Triage.Motion, over)
	}
	for i := range c.Cameras {
		if c.Cameras[i].SpoolDir == "" {
			c.Cameras[i].SpoolDir = filepath.Join(c.DataDir, "spool")
		}
		c.Cameras[i] = c.Cameras[i].WithDefaults()
	}
}

func inheritMotion(base, over motion.Config) motion.Config {
	if over.Masks == nil {
		over.Masks = base.Masks
	}
	if over.Zones == nil {
		over.Zones = base.Zones
	}
	if over.Sensitivity == 0 {
		over.Sensitivity = base.Sensitivity
	}
	if over.MinEventLength == 0 {
		over.MinEventLength = base.MinEventLength
	}
	if over.MergeGap == 0 {
		over.MergeGap = base.MergeGap
	}
	if over.WorkHeight == 0 {
		over.WorkHeight = base.WorkHeight
	}
	if over.AnalysisFPS == 0 {
		over.AnalysisFPS = base.AnalysisFPS
	}
	if over.PrefilterMaxSpan == 0 {
		over.PrefilterMaxSpan = base.PrefilterMaxSpan
	}
	if over.TempDir == "" {
		over.TempDir = base.TempDir
	}
	over.Prefilter = over.Prefilter || base.Prefilter
	return over
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
	errs = append(errs, c.Retention.validate()...)
	errs = append(errs, c.Sync.validate()...)
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
	errs = append(errs, c.Triage.validate()...)
	errs = append(errs, c.Redaction.validate()...)
	if err := c.Health.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Firmware.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (r Retention) validate() []error {
	var errs []error
	if r.HighWatermarkPercent <= 0 || r.HighWatermarkPercent > 100 {
		errs = append(errs, fmt.Errorf("'retention.high_watermark_percent' must be in (0, 100], got %v", r.HighWatermarkPercent))
	}
	if r.LowWatermarkPercent <= 0 || r.LowWatermarkPercent >= r.HighWatermarkPercent {
		errs = append(errs, fmt.Errorf("'retention.low_watermark_percent' must be above zero and below the high watermark, got %v", r.LowWatermarkPercent))
	}
	if r.ReserveMB < 0 {
		errs = append(errs, errors.New("'retention.reserve_mb' must not be negative"))
	}
	if r.Interval <= 0 {
		errs = append(errs, errors.New("'retention.interval' must be greater than zero"))
	}
	for cat, keep := range r.Categories {
		if keep <= 0 {
			errs = append(errs, fmt.Errorf("'retention.categories.%s' must be greater than zero", cat))
		}
	}
	return errs
}

func (t Triage) validate() []error {
	var errs []error
	if err := t.Motion.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("'triage.motion': %w", err))
	}
	for src, c := range t.Sources {
		if err := c.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("'triage.sources.%s': %w", src, err))
		}
	}
	if err := t.Flag.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("'triage.flag': %w", err))
	}
	return errs
}

func (s Sync) validate() []error {
	var errs []error
	switch s.Target {
	case "filesystem":
		if s.Filesystem.Root == "" {
			errs = append(errs, errors.New("'sync.filesystem.root' must be set for the filesystem target"))
		}
	case "s3":
		for key, val := range map[string]string{"endpoint": s.S3.Endpoint, "bucket": s.S3.Bucket,
			"access_key": s.S3.AccessKey, "secret_key": s.S3.SecretKey} {
			if val == "" {
				errs = append(errs, fmt.Errorf("'sync.s3.%s' must be set for the s3 target", key))
			}
		}
		if s.S3.Retention <= 0 {
			errs = append(errs, errors.New("'sync.s3.retention' must be greater than zero"))
		}
	default:
		errs = append(errs, fmt.Errorf("'sync.target' must be filesystem or s3, got %q", s.Target))
	}
	if s.BandwidthMBps < 0 {
		errs = append(errs, errors.New("'sync.bandwidth_mbps' must not be negative"))
	}
	return errs
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
		if f.Kind() == reflect.Struct {
			collectFields(f, key+"_", out)
			continue
		}
		out[key] = f
	}
}

func setScalar(f reflect.Value, val string) error {
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
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return err
		}
		f.SetInt(n)
	case reflect.Float64:
		n, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return err
		}
		f.SetFloat(n)
	default:
		return fmt.Errorf("cannot be set from the environment (%s); use the config file", f.Kind())
	}
	return nil
}
