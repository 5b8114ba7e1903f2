package motion

import (
	"errors"
	"fmt"
	"time"
)

// Point is a position in the frame, X and Y from 0 (left/top) to 1 (right/bottom).
type Point struct {
	X float64 `json:"x" yaml:"x"`
	Y float64 `json:"y" yaml:"y"`
}

// Polygon is a closed outline in normalised coordinates.
type Polygon []Point

// Zone is a named area that matters, e.g. a door or a cell corridor.
type Zone struct {
	Name    string  `json:"name" yaml:"name"`
	Polygon Polygon `json:"polygon" yaml:"polygon"`
}

// Config is the motion configuration of one camera. The zero value is not
// valid; start from DefaultConfig.
type Config struct {
	// Masks are areas where motion is ignored (a clock overlay, a tree).
	Masks []Polygon `json:"masks,omitempty" yaml:"masks,omitempty"`
	// Zones are reported on each event that touches them.
	Zones []Zone `json:"zones,omitempty" yaml:"zones,omitempty"`
	// Sensitivity from 0 (only large, strong changes) to 1 (small, faint ones).
	Sensitivity float64 `json:"sensitivity" yaml:"sensitivity"`
	// MinEventLength drops events shorter than this.
	MinEventLength Duration `json:"min_event_length" yaml:"min_event_length"`
	// MergeGap joins events separated by less than this.
	MergeGap Duration `json:"merge_gap" yaml:"merge_gap"`
	// WorkHeight is the height in pixels of the frame the detector analyses.
	WorkHeight int `json:"work_height" yaml:"work_height"`
	// AnalysisFPS caps how many frames a second the detector analyses when
	// triaging a file; faster footage is thinned before it is shrunk. 5
	// (Frigate detects at 5) halves the work on 10 fps CCTV and finds every
	// hand-labelled event, but events lasting about MinEventLength may then
	// come out differently from a full decode and from the prefilter, whose
	// never-lose guarantee is tested at 0, the default: every frame.
	AnalysisFPS float64 `json:"analysis_fps" yaml:"analysis_fps"`
	// LiveAnalysisFPS is how many frames a second live analysis of an RTSP
	// camera decodes for the detector and the thumbnails. 5 (Frigate's
	// rate) finds every hand-labelled event, its onset within about half a
	// second, at a fraction of a full decode's CPU. 0 takes that default.
	LiveAnalysisFPS float64 `json:"live_analysis_fps" yaml:"live_analysis_fps"`
	// Prefilter enables the compressed-domain prefilter for H.264 in MP4.
	Prefilter bool `json:"prefilter" yaml:"prefilter"`
	// PrefilterMaxSpan is the longest stretch of video the prefilter judges
	// from its two bounding keyframes and its bit spending alone, without
	// decoding it: consecutive GOPs are grouped into spans up to this long,
	// and a stream with a longer GOP is fully decoded.
	PrefilterMaxSpan Duration `json:"prefilter_max_span" yaml:"prefilter_max_span"`
	// TempDir holds the prefilter's temporary elementary streams; empty means os.TempDir.
	TempDir string `json:"temp_dir,omitempty" yaml:"temp_dir,omitempty"`
	// Stream is no setting: it is what the caller already knows of the
	// file's video (the appliance's item record, probed once at ingest).
	// With a size set, Analyze does not run ffprobe to learn it again.
	Stream Stream `json:"-" yaml:"-"`
}

// Stream is a video stream's picture size and its file's duration.
type Stream struct {
	Width, Height int
	Duration      float64 // seconds
}

const defaultLiveFPS = 5.0

// DefaultConfig returns settings that suit a fixed indoor or outdoor camera.
func DefaultConfig() Config {
	return Config{
		Sensitivity:      0.5,
		MinEventLength:   Duration(time.Second),
		MergeGap:         Duration(2 * time.Second),
		WorkHeight:       180,
		LiveAnalysisFPS:  defaultLiveFPS,
		PrefilterMaxSpan: Duration(10 * time.Second),
	}
}

// Validate reports the first invalid setting, naming its key.
func (c Config) Validate() error {
	if c.Sensitivity < 0 || c.Sensitivity > 1 {
		return fmt.Errorf("'sensitivity' must be between 0 and 1, got %g", c.Sensitivity)
	}
	if c.MinEventLength < 0 {
		return errors.New("'min_event_length' must not be negative")
	}
	if c.MergeGap < 0 {
		return errors.New("'merge_gap' must not be negative")
	}
	if c.WorkHeight < 48 || c.WorkHeight > 1080 {
		return fmt.Errorf("'work_height' must be between 48 and 1080, got %d", c.WorkHeight)
	}
	if c.AnalysisFPS < 0 || c.AnalysisFPS > 240 {
		return fmt.Errorf("'analysis_fps' must be between 0 (every frame) and 240, got %g", c.AnalysisFPS)
	}
	if c.LiveAnalysisFPS < 0 || c.LiveAnalysisFPS > 60 {
		return fmt.Errorf("'live_analysis_fps' must be between 0 (the default, %g) and 60, got %g", defaultLiveFPS, c.LiveAnalysisFPS)
	}
	if c.Prefilter && c.PrefilterMaxSpan <= 0 {
		return errors.New("'prefilter_max_span' must be greater than zero")
	}
	for i, m := range c.Masks {
		if err := m.validate(); err != nil {
			return fmt.Errorf("'masks[%d]': %w", i, err)
		}
	}
	seen := map[string]bool{}
	for i, z := range c.Zones {
		if z.Name == "" {
			return fmt.Errorf("'zones[%d].name' must not be empty", i)
		}
		if seen[z.Name] {
			return fmt.Errorf("'zones[%d].name' %q is used twice", i, z.Name)
		}
		seen[z.Name] = true
		if err := z.Polygon.validate(); err != nil {
			return fmt.Errorf("'zones[%d].polygon': %w", i, err)
		}
	}
	return nil
}

func (p Polygon) validate() error {
	if len(p) < 3 {
		return fmt.Errorf("needs at least 3 points, got %d", len(p))
	}
	for i, pt := range p {
		if pt.X < 0 || pt.X > 1 || pt.Y < 0 || pt.Y > 1 {
			return fmt.Errorf("point %d (%g,%g) is outside 0..1", i, pt.X, pt.Y)
		}
	}
	return nil
}

// Duration is a time.Duration that reads and writes as "1.5s" in JSON and YAML.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalText writes the duration as Go duration text.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads Go duration text such as "1.5s" or "2m".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: %w", b, err)
	}
	*d = Duration(v)
	return nil
}
