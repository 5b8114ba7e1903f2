// Package rtsp records CCTV cameras that speak RTSP into fragmented MP4
// segments, stream-copied (never decoded), sealed into the vault with their
// times, and keeps a custody record of every moment it could not record.
//
// One Recorder serves one camera. Its Run never gives up on the camera: a
// failed connection, a stalled stream or a camera that is down at start-up
// opens a gap (a gap-start custody event with its reason), and the recorder
// keeps reconnecting with capped exponential backoff until frames flow again
// (gap-end). Segments are written to a spool directory first; a segment left
// behind by a killed daemon is recovered and sealed, marked interrupted, the
// next time the camera's recorder starts.
//
// The spool, per camera:
//
//	<spool_dir>/<camera id>/
//	    <start>-s<session>-<n>.json      what is known of the segment; written first
//	    <start>-s<session>-<n>.mp4.part  being written: ftyp, moov, a uuid label
//	                                     box, then one moof+mdat per second
//	    <start>-s<session>-<n>.mp4       closed and fsynced, waiting for the vault
//
// Custody events, all with actor "camera:<id>", appended in the order things
// happened by one worker per recorder: the vault's own ingest event for each
// segment, then segment-sealed (item digest, start, end); gap-start (reason,
// error, start) and gap-end (start, end, duration, attempts, last reason).
package rtsp

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"
)

// Transport selects how RTP travels from the camera.
type Transport string

// Transports. Auto tries UDP and falls back to TCP, which is what most
// cameras behind NAT or a firewall end up needing.
const (
	TransportAuto Transport = "auto"
	TransportTCP  Transport = "tcp"
	TransportUDP  Transport = "udp"
)

// Mode says which segments are kept.
type Mode string

// Modes. In motion mode a segment is sealed only when the motion signal was
// active during it or within PreRoll after / PostRoll before it.
const (
	ModeContinuous Mode = "continuous"
	ModeMotion     Mode = "motion"
)

// Config is one camera's recording setup. Zero durations take the defaults
// documented on each field.
type Config struct {
	// ID names the camera in file names, custody events ("camera:<ID>") and
	// the vault's Source field: letters, digits, '.', '_' and '-'.
	ID string `json:"id" yaml:"id"`
	// URL is the main stream, credentials included:
	// rtsp://user:pass@host:554/path.
	URL string `json:"url" yaml:"url"`
	// SubStreamURL is an optional low-resolution stream for analysis; the
	// recorder does not record it, it only carries it for the daemon.
	SubStreamURL string    `json:"sub_stream_url,omitempty" yaml:"sub_stream_url,omitempty"`
	Transport    Transport `json:"transport,omitempty" yaml:"transport,omitempty"` // default auto
	// SpoolDir holds segments while they are written; it must be on the
	// same machine, ideally the same file system as the vault.
	SpoolDir string `json:"spool_dir" yaml:"spool_dir"`
	// SegmentLength is the target length; a segment is cut on the first
	// keyframe at or after it. Default 10s.
	SegmentLength time.Duration `json:"segment_length,omitempty" yaml:"segment_length,omitempty"`
	Mode          Mode          `json:"mode,omitempty" yaml:"mode,omitempty"` // default continuous
	PreRoll       time.Duration `json:"pre_roll,omitempty" yaml:"pre_roll,omitempty"`
	PostRoll      time.Duration `json:"post_roll,omitempty" yaml:"post_roll,omitempty"`
	// Timeout bounds every RTSP request and the silence tolerated on an
	// open stream. Default 10s.
	Timeout time.Duration `json:"timeout,omitempty" yaml:"timeout,omitempty"`
	// BackoffMin and BackoffMax bound the wait between reconnects; the wait
	// doubles after every failed attempt, with jitter. Defaults 1s and 30s.
	BackoffMin time.Duration `json:"backoff_min,omitempty" yaml:"backoff_min,omitempty"`
	BackoffMax time.Duration `json:"backoff_max,omitempty" yaml:"backoff_max,omitempty"`
}

const (
	defaultSegmentLength = 10 * time.Second
	defaultTimeout       = 10 * time.Second
	defaultBackoffMin    = time.Second
	defaultBackoffMax    = 30 * time.Second
)

var validID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	if c.Transport == "" {
		c.Transport = TransportAuto
	}
	if c.Mode == "" {
		c.Mode = ModeContinuous
	}
	if c.SegmentLength == 0 {
		c.SegmentLength = defaultSegmentLength
	}
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	if c.BackoffMin == 0 {
		c.BackoffMin = defaultBackoffMin
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = max(defaultBackoffMax, c.BackoffMin)
	}
	return c
}

// Validate reports the first thing wrong with c, naming the field.
func (c Config) Validate() error {
	if !validID.MatchString(c.ID) {
		return fmt.Errorf("camera 'id' %q must be 1-64 letters, digits, '.', '_' or '-'", c.ID)
	}
	if err := validURL(c.URL); err != nil {
		return fmt.Errorf("camera %s: 'url': %w", c.ID, err)
	}
	if c.SubStreamURL != "" {
		if err := validURL(c.SubStreamURL); err != nil {
			return fmt.Errorf("camera %s: 'sub_stream_url': %w", c.ID, err)
		}
	}
	if c.SpoolDir == "" {
		return fmt.Errorf("camera %s: 'spool_dir' must be set", c.ID)
	}
	var errs []error
	switch c.Transport {
	case "", TransportAuto, TransportTCP, TransportUDP:
	default:
		errs = append(errs, fmt.Errorf("'transport' %q must be tcp, udp or auto", c.Transport))
	}
	switch c.Mode {
	case "", ModeContinuous, ModeMotion:
	default:
		errs = append(errs, fmt.Errorf("'mode' %q must be continuous or motion", c.Mode))
	}
	for name, d := range map[string]time.Duration{"segment_length": c.SegmentLength, "timeout": c.Timeout,
		"backoff_min": c.BackoffMin, "backoff_max": c.BackoffMax, "pre_roll": c.PreRoll, "post_roll": c.PostRoll} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("'%s' must not be negative", name))
		}
	}
	if c.BackoffMax != 0 && c.BackoffMax < c.BackoffMin {
		errs = append(errs, errors.New("'backoff_max' must not be less than 'backoff_min'"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("camera %s: %w", c.ID, err)
	}
	return nil
}

func validURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a URL")
	}
	if u.Scheme != "rtsp" && u.Scheme != "rtsps" {
		return fmt.Errorf("scheme %q must be rtsp or rtsps", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("host missing")
	}
	return nil
}

// redactURL drops the password so a URL can go into logs and labels.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable url)"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	return u.String()
}
