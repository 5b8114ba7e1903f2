package pipeline

import (
	"errors"
	"fmt"
	"time"

	"github.com/edgetriage/edgetriage/sync/outbox"
	"github.com/edgetriage/edgetriage/triage/motion"
	"github.com/edgetriage/edgetriage/triage/redact"
)

// The configuration sections of the pipeline's stages and policies, each
// with its defaults and its Validate; appliance/config composes them into
// the station's YAML (under sync, retention, triage and redaction) and
// prefixes their keys in its messages.

// SyncConfig sends evidence to central storage.
type SyncConfig struct {
	// Target is "filesystem" (a directory such as an NFS mount; the
	// default, ./synced) or "s3" (S3 with Object Lock).
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
	// BandwidthBitsPerSecond caps upload bandwidth; 0: none. Bits, as
	// network links are sold and measured.
	BandwidthBitsPerSecond int64 `yaml:"bandwidth_bits_per_second"`
	// BandwidthMBps is the old key (megabytes per second, easily read as
	// megabits): still honoured so upgraded stations keep their cap, with a
	// deprecation warning.
	BandwidthMBps float64 `yaml:"bandwidth_mbps"`
	// Windows limit non-urgent uploads to times of day ("22:00-06:00").
	Windows []string `yaml:"windows"`
	// Sources whose items are all sent (e.g. body-worn cameras: "dock").
	// Flagged items and "send now" requests are always sent.
	SendAllFrom []string `yaml:"send_all_from"`
}

// UploadBitsPerSecond is the upload cap in bits per second, from whichever
// key sets it; 0: none.
func (s SyncConfig) UploadBitsPerSecond() float64 {
	if s.BandwidthMBps > 0 {
		return s.BandwidthMBps * 8e6
	}
	return float64(s.BandwidthBitsPerSecond)
}

// Deprecations names the keys of s that still work but should be changed.
func (s SyncConfig) Deprecations() []string {
	if s.BandwidthMBps == 0 {
		return nil
	}
	return []string{fmt.Sprintf("'bandwidth_mbps' is deprecated: write 'bandwidth_bits_per_second: %.0f' (the same cap)", s.UploadBitsPerSecond())}
}

// RetentionConfig decides when local copies may go. Only items central storage
// holds and has acknowledged (or that policy keeps local-only and that have
// expired) are ever removed; flagged, unsynced and held items never are.
type RetentionConfig struct {
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

// TriageConfig is motion triage of new footage and the flag rules.
type TriageConfig struct {
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
	// CCTVPrefilter turns the compressed-domain prefilter on for the RTSP
	// segments file triage decodes again (those with time live analysis
	// did not watch), whatever the motion section says: CCTV footage is
	// mostly still, which is what the prefilter skips.
	CCTVPrefilter bool `yaml:"cctv_prefilter"`
}

// For is the motion configuration for items from source.
func (t TriageConfig) For(source string) motion.Config {
	if c, ok := t.Sources[source]; ok {
		return c
	}
	return t.Motion
}

// RedactionConfig decides when redacted copies are made.
type RedactionConfig struct {
	// OnFlag renders a redacted copy of every flagged video as soon as it
	// is flagged, so investigators can preview it at once.
	OnFlag bool `yaml:"on_flag"`
	// Fast (the default) uses the redactor's defaults, which keep up with
	// real time on a small station CPU; false uses redact.Thorough: more
	// detections per second, faces looked for at a higher resolution and
	// a slower encoder, for stations that redact in the background.
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
func (r RedactionConfig) PeopleFor(source string) string {
	if s, ok := r.Sources[source]; ok && s.People != "" {
		return s.People
	}
	if r.People != "" {
		return r.People
	}
	return redact.PeopleHeads
}

// DefaultSync sends every body-worn clip to ./synced.
func DefaultSync() SyncConfig {
	s := SyncConfig{Target: "filesystem", SendAllFrom: []string{"dock"}}
	s.Filesystem.Root = "./synced"
	s.S3.Region = "us-east-1"
	s.S3.Retention = 7 * 365 * 24 * time.Hour
	return s
}

// DefaultRetention keeps the disk between 75 and 85 percent and 1 GiB free.
func DefaultRetention() RetentionConfig {
	return RetentionConfig{HighWatermarkPercent: 85, LowWatermarkPercent: 75, ReserveMB: 1024, Interval: 30 * time.Second}
}

// DefaultTriage triages every new video with the detector's defaults, and
// RTSP segments not watched live with the prefilter.
func DefaultTriage() TriageConfig {
	return TriageConfig{Enabled: true, Motion: motion.DefaultConfig(), CCTVPrefilter: true}
}

// DefaultRedaction redacts every flagged clip at once, fast.
func DefaultRedaction() RedactionConfig { return RedactionConfig{OnFlag: true, Fast: true} }

// Defaults fills per-source sections from the common one: keys left out
// (or zero) inherit, and the prefilter is on if either says so.
func (t *TriageConfig) Defaults() {
	for src, over := range t.Sources {
		t.Sources[src] = inheritMotion(t.Motion, over)
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
	if over.LiveAnalysisFPS == 0 {
		over.LiveAnalysisFPS = base.LiveAnalysisFPS
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

// Redactor is the redactor's configuration this section asks for items
// from source.
func (r RedactionConfig) Redactor(source string) redact.Config {
	cfg := redact.Thorough()
	if r.Fast {
		cfg = redact.Realtime()
	}
	cfg.MuteAudio = r.MuteAudio
	cfg.People = r.PeopleFor(source)
	return cfg
}

// Validate checks the section; keys are named from the section down.
func (r RedactionConfig) Validate() error {
	var errs []error
	check := func(key, v string) {
		switch v {
		case "", redact.PeopleFaces, redact.PeopleHeads, redact.PeopleWhole:
		default:
			errs = append(errs, fmt.Errorf("'%s' must be %s, %s or %s, got %q", key, redact.PeopleFaces, redact.PeopleHeads, redact.PeopleWhole, v))
		}
	}
	check("people", r.People)
	for src, s := range r.Sources {
		check("sources."+src+".people", s.People)
	}
	return errors.Join(errs...)
}

// Validate checks the section; keys are named from the section down.
func (r RetentionConfig) Validate() error {
	var errs []error
	if r.HighWatermarkPercent <= 0 || r.HighWatermarkPercent > 100 {
		errs = append(errs, fmt.Errorf("'high_watermark_percent' must be in (0, 100], got %v", r.HighWatermarkPercent))
	}
	if r.LowWatermarkPercent <= 0 || r.LowWatermarkPercent >= r.HighWatermarkPercent {
		errs = append(errs, fmt.Errorf("'low_watermark_percent' must be above zero and below the high watermark, got %v", r.LowWatermarkPercent))
	}
	if r.ReserveMB < 0 {
		errs = append(errs, errors.New("'reserve_mb' must not be negative"))
	}
	if r.Interval <= 0 {
		errs = append(errs, errors.New("'interval' must be greater than zero"))
	}
	for cat, keep := range r.Categories {
		if keep <= 0 {
			errs = append(errs, fmt.Errorf("'categories.%s' must be greater than zero", cat))
		}
	}
	return errors.Join(errs...)
}

// Validate checks the section; keys are named from the section down.
func (t TriageConfig) Validate() error {
	var errs []error
	if err := t.Motion.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("'motion': %w", err))
	}
	for src, c := range t.Sources {
		if err := c.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("'sources.%s': %w", src, err))
		}
	}
	if err := t.Flag.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("'flag': %w", err))
	}
	return errors.Join(errs...)
}

// Validate checks the section; keys are named from the section down.
func (s SyncConfig) Validate() error {
	var errs []error
	switch s.Target {
	case "filesystem":
		if s.Filesystem.Root == "" {
			errs = append(errs, errors.New("'filesystem.root' must be set for the filesystem target"))
		}
	case "s3":
		for key, val := range map[string]string{"endpoint": s.S3.Endpoint, "bucket": s.S3.Bucket,
			"access_key": s.S3.AccessKey, "secret_key": s.S3.SecretKey} {
			if val == "" {
				errs = append(errs, fmt.Errorf("'s3.%s' must be set for the s3 target", key))
			}
		}
		if s.S3.Retention <= 0 {
			errs = append(errs, errors.New("'s3.retention' must be greater than zero"))
		}
	default:
		errs = append(errs, fmt.Errorf("'target' must be filesystem or s3, got %q", s.Target))
	}
	if _, err := outbox.ParseWindows(s.Windows); err != nil {
		errs = append(errs, fmt.Errorf("'windows': %w", err))
	}
	if s.BandwidthBitsPerSecond < 0 {
		errs = append(errs, errors.New("'bandwidth_bits_per_second' must not be negative"))
	}
	if s.BandwidthMBps < 0 {
		errs = append(errs, errors.New("'bandwidth_mbps' must not be negative"))
	}
	if s.BandwidthMBps != 0 && s.BandwidthBitsPerSecond != 0 {
		errs = append(errs, errors.New("'bandwidth_mbps' is the old name of 'bandwidth_bits_per_second': set only the new one"))
	}
	return errors.Join(errs...)
}
