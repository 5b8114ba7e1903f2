package redact

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
)

// Default locations of the cascades Debian's opencv-data installs.
const (
	DefaultProfileCascade = "/usr/share/opencv4/haarcascades/haarcascade_profileface.xml"
	DefaultPlateCascade   = "/usr/share/opencv4/haarcascades/haarcascade_russian_plate_number.xml"
)

// How people are covered; see Config.People.
const (
	PeopleFaces = "faces"
	PeopleHeads = "heads"
	PeopleWhole = "whole-person"
)

// Config tunes detection, tracking, rendering and the QA map. The zero value
// of every field means its default; see Defaults.
type Config struct {
	// DetectMaxSide caps the longer side of the frame the detectors see;
	// boxes are mapped back to full resolution. Default 960. (Enlarging
	// small frames was tried: BlazeFace then draws tighter boxes on small
	// faces, which covers them worse.)
	DetectMaxSide int
	// FaceMaxSide caps the longer side of the frame the face detector
	// sees (after DetectMaxSide). Default 576: BlazeFace runs on 256 px
	// tiles, so its cost grows with the area it sees (15 tiles at 960x540,
	// 8 at 640x360, 6 at 576x324), and under People: heads a face too small
	// for it at that size (under about 67 px high on 1080p) is covered with
	// the head the person detector finds. Plates are looked for at
	// DetectMaxSide.
	FaceMaxSide int
	// DetectEvery runs the detectors on every Nth frame and tracks in
	// between. 0 picks N so that detection runs about DetectPerSecond
	// times a second of video.
	DetectEvery     int
	DetectPerSecond float64 // default 2
	// MinFaceScore is BlazeFace's score threshold, 0..1. Default 0.5.
	MinFaceScore float32
	// ProfileFaces adds opencv-data's Haar profile-face cascade to
	// BlazeFace. It is off by default: measured here (BenchmarkFaceDetectors)
	// it found 1 of the 29 Solvay faces and nothing on store-aisle where
	// BlazeFace already finds faces on 58 of 67 frames, while costing about
	// 110 ms of CPU per detection frame.
	ProfileFaces bool
	// People says how people are covered besides their detected faces:
	// PeopleHeads (the default) also covers the head of every person the
	// person detector finds, so someone too far away or turned away for
	// a face to be found is covered all the same; PeopleWhole covers
	// whole people; PeopleFaces covers faces only (the person detector
	// does not run).
	People string
	// PersonMinScore is the person detector's score threshold, 0..1.
	// Default 0.3: its scores are IoU-aware (GFL) and run low (seated
	// people 0.6-0.75, a cyclist seen from above 0.39, shelving 0.25-0.27
	// on the frames tried).
	PersonMinScore float32
	// PersonPerSecond is how often the person detector runs (it costs
	// several times BlazeFace: tiles of 416 px). Default 0.5; people are
	// tracked and their boxes interpolated in between, and held for one
	// interval before the first and after the last detection.
	PersonPerSecond float64
	// PersonMaxSide caps the longer side of the frame the person detector
	// sees (after DetectMaxSide). Default 768: a standard-definition
	// CCTV frame is seen whole, where people at 40-60 px need it; a 1080p
	// frame at 0.4 (two tiles), where it finds people from about 100 px.
	PersonMaxSide int
	// NoPlates switches plate detection off.
	NoPlates       bool
	ProfileCascade string // default DefaultProfileCascade
	PlateCascade   string // default DefaultPlateCascade

	// FaceEnlarge grows a face box about its centre before covering, so
	// hair, ears and chin go too. Default 1.7.
	FaceEnlarge  float64
	PlateEnlarge float64 // default 1.4
	// PadSeconds holds a box this long before a track's first and after
	// its last detection. Default 0.4.
	PadSeconds float64
	// MaxGapSeconds is how long a track survives without a detection
	// before a new one starts. Default 1.
	MaxGapSeconds float64

	// QALowScore flags detections below this confidence. Default 0.7.
	QALowScore float32
	// QALongGapSeconds flags interpolation across missed detections
	// longer than this. Default 0.5.
	QALongGapSeconds float64

	// ReviewPerTenMinutes caps the review queue: at most this many entries
	// per started ten minutes of video, the riskiest kept. Default 20.
	ReviewPerTenMinutes int

	// AllowIncomplete renders what decodes of a truncated or corrupt
	// master (and flags it in the QA map) instead of failing.
	AllowIncomplete bool

	// MuteAudio drops the master's audio instead of copying it.
	MuteAudio bool
	// Preset is libx264's speed preset. Default "ultrafast" (about twice
	// the bytes of veryfast at the same CRF, about half its CPU).
	Preset string
	CRF    int    // default 23
	FFmpeg string // default "ffmpeg" on $PATH
	// FFprobe default "ffprobe" on $PATH.
	FFprobe string
	Logger  *slog.Logger
}

// Realtime is the daemon's profile (redaction.fast, on by default): the
// defaults, which the CLI uses too. On 1080p30 (BenchmarkRedact1080p30)
// they spent 1.27-1.34 CPU seconds per second of video with two people in
// frame and 1.44-1.66 with ten, against 1.51-1.66 and 1.89-2.19 for the
// real-time profile before it (BlazeFace at 960 px, BGR frames to the
// encoder, the vehicle detector out of turn on most detection frames),
// run alternately with it on a machine loaded five times over its two
// cores; an idle two-core station has 2 CPU seconds a second. (Those
// figures are with faces at 640 px; 576 px, the default since, measured
// 1.19 and 1.35-1.49 beside them.)
func Realtime() Config { return Config{} }

// Thorough looks for faces half as often again, for people twice as often,
// at a face detection resolution half as large again, and encodes with
// libx264's veryfast preset: slower than real time on a two-core station,
// for a copy made offline where a face seen for under half a second or a
// face 40-60 px high on 1080p must be found by the face detector itself.
func Thorough() Config {
	return Config{DetectPerSecond: 3, PersonPerSecond: 1, FaceMaxSide: 960, Preset: "veryfast"}
}

// withDefaults fills unset fields.
func (c Config) withDefaults() Config {
	setDefault(&c.DetectMaxSide, 960)
	setDefault(&c.FaceMaxSide, 576)
	setDefault(&c.DetectPerSecond, 2)
	setDefault(&c.MinFaceScore, 0.5)
	setDefault(&c.People, PeopleHeads)
	setDefault(&c.PersonMinScore, 0.3)
	setDefault(&c.PersonPerSecond, 0.5)
	setDefault(&c.PersonMaxSide, 768)
	setDefault(&c.ProfileCascade, DefaultProfileCascade)
	setDefault(&c.PlateCascade, DefaultPlateCascade)
	setDefault(&c.FaceEnlarge, 1.7)
	setDefault(&c.PlateEnlarge, 1.4)
	setDefault(&c.PadSeconds, 0.4)
	setDefault(&c.MaxGapSeconds, 1)
	setDefault(&c.QALowScore, 0.7)
	setDefault(&c.QALongGapSeconds, 0.5)
	setDefault(&c.ReviewPerTenMinutes, 20)
	setDefault(&c.Preset, "ultrafast")
	setDefault(&c.CRF, 23)
	setDefault(&c.FFmpeg, "ffmpeg")
	setDefault(&c.FFprobe, "ffprobe")
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// Validate reports every out-of-range setting.
func (c Config) Validate() error {
	var errs []error
	if c.DetectMaxSide < 256 {
		errs = append(errs, fmt.Errorf("'DetectMaxSide' must be at least 256 (one model tile), got %d", c.DetectMaxSide))
	}
	if c.FaceMaxSide < bfSize {
		errs = append(errs, fmt.Errorf("'FaceMaxSide' must be at least %d (one model tile), got %d", bfSize, c.FaceMaxSide))
	}
	if c.DetectEvery < 0 {
		errs = append(errs, fmt.Errorf("'DetectEvery' must not be negative, got %d", c.DetectEvery))
	}
	if c.DetectPerSecond <= 0 {
		errs = append(errs, fmt.Errorf("'DetectPerSecond' must be greater than zero"))
	}
	if c.MinFaceScore <= 0 || c.MinFaceScore >= 1 {
		errs = append(errs, fmt.Errorf("'MinFaceScore' must be between 0 and 1, got %v", c.MinFaceScore))
	}
	switch c.People {
	case PeopleFaces, PeopleHeads, PeopleWhole:
	default:
		errs = append(errs, fmt.Errorf("'People' must be one of %s, %s, %s, got %q", PeopleFaces, PeopleHeads, PeopleWhole, c.People))
	}
	if c.PersonMinScore <= 0 || c.PersonMinScore >= 1 {
		errs = append(errs, fmt.Errorf("'PersonMinScore' must be between 0 and 1, got %v", c.PersonMinScore))
	}
	if c.PersonMaxSide < ndSize {
		errs = append(errs, fmt.Errorf("'PersonMaxSide' must be at least %d (one model tile), got %d", ndSize, c.PersonMaxSide))
	}
	if c.PersonPerSecond <= 0 {
		errs = append(errs, fmt.Errorf("'PersonPerSecond' must be greater than zero"))
	}
	if c.FaceEnlarge < 1 || c.PlateEnlarge < 1 {
		errs = append(errs, fmt.Errorf("'FaceEnlarge' and 'PlateEnlarge' must be at least 1"))
	}
	if c.PadSeconds < 0 || c.MaxGapSeconds < 0 || c.QALongGapSeconds < 0 {
		errs = append(errs, fmt.Errorf("'PadSeconds', 'MaxGapSeconds' and 'QALongGapSeconds' must not be negative"))
	}
	if c.ReviewPerTenMinutes < 1 {
		errs = append(errs, fmt.Errorf("'ReviewPerTenMinutes' must be at least 1, got %d", c.ReviewPerTenMinutes))
	}
	if c.CRF < 0 || c.CRF > 51 {
		errs = append(errs, fmt.Errorf("'CRF' must be between 0 and 51, got %d", c.CRF))
	}
	if c.ProfileFaces {
		errs = append(errs, fileExists("ProfileCascade", c.ProfileCascade))
	}
	if !c.NoPlates {
		errs = append(errs, fileExists("PlateCascade", c.PlateCascade))
	}
	for name, bin := range map[string]string{"FFmpeg": c.FFmpeg, "FFprobe": c.FFprobe} {
		if _, err := exec.LookPath(bin); err != nil {
			errs = append(errs, fmt.Errorf("'%s': %w", name, err))
		}
	}
	return errors.Join(errs...)
}

func fileExists(key, path string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("'%s': %w (install opencv-data)", key, err)
	}
	return nil
}
