package motion

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"os"
	"os/exec"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	ff "github.com/edgetriage/edgetriage/media/ffmpeg" // the tests name a helper ffmpeg
	"gocv.io/x/gocv"
)

// Result is the triage of one clip.
type Result struct {
	Path string `json:"path"`
	// Duration is the decoded length in seconds.
	Duration float64 `json:"duration"`
	Width    int     `json:"width"`
	Height   int     `json:"height"`
	// Frames is the number of frames in the clip; Decoded how many of them
	// were fully decoded (fewer when the prefilter skipped still stretches).
	Frames  int     `json:"frames"`
	Decoded int     `json:"decoded"`
	Events  []Event `json:"events"`
	Alerts  []Alert `json:"alerts"`
	// Prefilter describes the compressed-domain pass, when it ran.
	Prefilter *PrefilterReport `json:"prefilter,omitempty"`
}

// ErrUndecodable marks footage the decoder cannot read (or can read only in
// part). Test for it with errors.Is; errors.As gives the *DecodeError.
var ErrUndecodable = errors.New("undecodable video")

// DecodeError says why a clip could not be (fully) analysed. The footage is
// still evidence: the daemon records Reason with the item and moves on.
type DecodeError struct {
	Path   string
	Reason string // the decoder's complaint, or what was observed
	// Frames is how many frames were analysed before the failure; the
	// Result returned with the error covers those.
	Frames int
	Empty  bool // the file has no bytes at all
}

// Problem is the marking the daemon records on the item.
func (e *DecodeError) Problem() evidence.Problem {
	code := evidence.ProblemUndecodable
	if e.Empty {
		code = evidence.ProblemEmpty
	}
	return evidence.Problem{Code: code, Detail: e.Error()}
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("decode %s: %s", e.Path, e.Reason)
}

// Unwrap lets errors.Is(err, ErrUndecodable) match.
func (e *DecodeError) Unwrap() error { return ErrUndecodable }

const thumbWidth = 480

// Analyze triages the video file at path: motion events, tamper alerts.
// Broken input gives a *DecodeError (and the partial Result for a
// truncated clip); ctx cancels a long analysis between frames.
func Analyze(ctx context.Context, path string, cfg Config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, fmt.Errorf("motion config: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return Result{}, fmt.Errorf("analyze %s: %w", path, err)
	}
	if fi.Size() == 0 {
		return Result{Path: path}, &DecodeError{Path: path, Reason: "empty file (0 bytes)", Empty: true}
	}
	// A playlist or list names other files; no decoder may see it.
	if _, err := ff.File(path); errors.Is(err, ff.ErrRefused) {
		return Result{Path: path}, &DecodeError{Path: path, Reason: err.Error()}
	}
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		// Without ffmpeg (not a supported install, but no reason to fail)
		// OpenCV decodes, converting full frames to BGR, which is slower.
		return analyzeFull(ctx, path, cfg)
	}
	if cfg.Prefilter {
		res, err := analyzePrefiltered(ctx, path, cfg)
		if !errors.Is(err, errNoPrefilter) {
			return res, cancelled(ctx, path, err)
		}
	}
	res, err := analyzeFFmpeg(ctx, path, cfg)
	return res, cancelled(ctx, path, err)
}

// cancelled says so when ctx ended the analysis: a decoder killed by the
// context fails with "signal: killed", which is not why it stopped.
func cancelled(ctx context.Context, path string, err error) error {
	if err == nil || ctx.Err() == nil || errors.Is(err, ctx.Err()) {
		return err
	}
	return fmt.Errorf("analyze %s: %w (%v)", path, ctx.Err(), err)
}

func analyzeFull(ctx context.Context, path string, cfg Config) (Result, error) {
	src, err := ff.ForOpenCV(path)
	if err != nil {
		return Result{Path: path}, &DecodeError{Path: path, Reason: err.Error()}
	}
	vc, err := gocv.VideoCaptureFileWithAPI(src, gocv.VideoCaptureFFmpeg)
	if err != nil {
		if vc != nil {
			vc.Close()
		}
		return Result{Path: path}, &DecodeError{Path: path, Reason: "cannot open: " + probe(ctx, path)}
	}
	defer vc.Close()
	a, err := newAnalyzer(path, cfg)
	if err != nil {
		return Result{}, err
	}
	defer a.close()
	a.keepPeaks = true
	fps := vc.Get(gocv.VideoCaptureFPS)
	expect := int(vc.Get(gocv.VideoCaptureFrameCount))

	eachFrame(ctx, vc, func(f decodedFrame) {
		a.feed(f.m, frameTime(f.posSec, f.index, fps, a.lastT))
	})
	if err := ctx.Err(); err != nil {
		return a.finish(), fmt.Errorf("analyze %s: %w", path, err)
	}
	res := a.finish()
	if res.Decoded == 0 {
		return res, &DecodeError{Path: path, Reason: "no frame could be decoded: " + probe(ctx, path)}
	}
	res.Frames = res.Decoded
	// The frame count is duration times nominal rate, so compare durations:
	// variable-rate files have fewer frames than it suggests.
	if want := float64(expect) / fps; fps > 0 && expect > 0 && res.Duration < 0.9*want-1 {
		return res, &DecodeError{Path: path, Frames: res.Decoded,
			Reason: fmt.Sprintf("stream ends at %.1f s of %.1f s (truncated or corrupt)", res.Duration, want)}
	}
	return res, nil
}

// frameTime prefers the container's timestamp and falls back to the frame
// rate when the timestamp is missing or runs backwards.
func frameTime(t float64, i int, fps, last float64) float64 {
	if i > 0 && t <= last || math.IsNaN(t) {
		if fps > 0 && fps < 1000 {
			return math.Max(float64(i)/fps, last+1/fps)
		}
		return last + 0.04
	}
	return t
}

// probe asks ffprobe why a file does not decode; its message is what the
// operator needs to see.
func probe(ctx context.Context, path string) string {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	info, err := ff.ProbeFile(ctx, path, ff.ProbeOptions{})
	v, hasVideo := info.Video()
	switch msg := cleanMsg(info.Complaint, path); {
	case err != nil:
		return err.Error()
	case msg != "":
		return msg
	case !hasVideo:
		return "no video stream"
	default:
		return "decoder could not read video stream (" + v.Codec + ")"
	}
}

// analyzer runs the detector, segmenter and tamper watch over frames in
// time order, whichever way they were decoded.
type analyzer struct {
	det *Detector
	seg segmenter
	tp  *tamper
	// peak is a copy of the open event's peak frame, thumbnail-sized, kept
	// only when frames arrive in colour (OpenCV decoding); ffmpeg decoding
	// delivers luma and the thumbnails are cut from the file afterwards.
	peak      gocv.Mat
	keepPeaks bool
	res       Result
	lastT     float64
	n         int
	thin      thinner
}

// thinner keeps the first frame of each 1/fps slot of the clip's time. The
// slots are fixed to the clip, not to the last frame kept, so a full decode
// and the prefilter (which decodes only some GOPs) analyse the same frames.
// ffmpeg applies the same rule before shrinking (see thinning).
type thinner struct {
	fps  float64
	slot float64
	any  bool
}

func (th *thinner) keep(t float64) bool {
	if th.fps <= 0 {
		return true
	}
	slot := math.Floor(t*th.fps + slotSlack)
	if th.any && slot <= th.slot {
		return false
	}
	th.slot, th.any = slot, true
	return true
}

// slotSlack puts a frame that is due but a rounding error early into its
// slot.
const slotSlack = 0.001

func newAnalyzer(path string, cfg Config) (*analyzer, error) {
	det, err := NewDetector(cfg)
	if err != nil {
		return nil, err
	}
	a := &analyzer{det: det, tp: newTamper(), peak: gocv.NewMat(), res: Result{Path: path}, thin: thinner{fps: cfg.AnalysisFPS}}
	a.seg = segmenter{minLen: cfg.MinEventLength.D().Seconds(), gap: cfg.MergeGap.D().Seconds(), onClose: a.thumbnail}
	return a, nil
}

func (a *analyzer) close() {
	a.det.Close()
	a.peak.Close()
}

func (a *analyzer) feed(frame gocv.Mat, t float64) {
	if !a.thin.keep(t) {
		return
	}
	dt := 0.0
	if a.n > 0 {
		dt = t - a.lastT
	}
	if a.n == 0 {
		a.res.Width, a.res.Height = frame.Cols(), frame.Rows()
	}
	a.n++
	a.res.Decoded++
	a.lastT = t
	st := a.det.Process(frame, time.Duration(t*float64(time.Second)))
	a.res.Alerts = append(a.res.Alerts, a.tp.update(t, dt, st)...)
	if a.seg.add(t, st) && a.keepPeaks {
		a.keepPeak(frame)
	}
}

func (a *analyzer) keepPeak(frame gocv.Mat) {
	if frame.Cols() <= thumbWidth {
		frame.CopyTo(&a.peak)
		return
	}
	h := frame.Rows() * thumbWidth / frame.Cols()
	gocv.Resize(frame, &a.peak, image.Pt(thumbWidth, h), 0, 0, gocv.InterpolationArea)
}

func (a *analyzer) thumbnail(e *Event) {
	if a.peak.Empty() {
		return
	}
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, a.peak, []int{gocv.IMWriteJpegQuality, 85})
	if err != nil {
		return
	}
	defer buf.Close()
	e.Thumbnail = bytes.Clone(buf.GetBytes())
}

func (a *analyzer) finish() Result {
	a.res.Events = a.seg.finish()
	if a.res.Events == nil {
		a.res.Events = []Event{}
	}
	if a.res.Alerts == nil {
		a.res.Alerts = []Alert{}
	}
	a.res.Duration = round3(a.lastT)
	return a.res
}
