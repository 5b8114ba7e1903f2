package motion

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"slices"
	"time"

	"gocv.io/x/gocv"
)

// Box is a rectangle in normalised coordinates (0..1 of frame width/height).
type Box struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
	W float64 `json:"w"`
	H float64 `json:"h"`
}

// FrameStats is what the detector learned from one frame.
type FrameStats struct {
	// Score is the fraction of the unmasked frame covered by counted motion.
	Score float64
	Boxes []Box
	// Zones lists the configured zones the counted motion touched.
	Zones []string
	// Recalibrated is set when most of the frame changed at once and the
	// background was reset instead of reporting motion.
	Recalibrated bool
	// Similarity is, on a recalibration, the correlation (-1..1) between the
	// new frame and the background it replaced: high for a lighting change,
	// low when the camera now sees something else.
	Similarity float64
	// Warming is set while the background is still being learned.
	Warming bool
	// Strong is set when the run of motion this frame belongs to (motion
	// no further apart than the merge gap) has had a frame whose motion
	// stood out from the picture's own noise by confirmRatio: an event
	// needs one to be reported.
	Strong bool
	// Luma and Contrast are the mean and standard deviation of the small luma frame.
	Luma, Contrast float64
	// Sharpness is the variance of the Laplacian of the small luma frame.
	Sharpness float64
}

// Tuning constants. Time constants are in seconds of video, not frames, so
// the detector behaves the same at 5 and at 30 frames a second.
const (
	backgroundTau  = 10.0 // background learning: a parked object fades in over ~10 s
	recentTau      = 1.0  // the recent past: what stopped moving a second ago is not motion
	recentShare    = 0.6  // change against the recent past needs this share of the threshold
	persistenceTau = 5.0  // how long a pixel's motion history reaches back
	persistLimit   = 0.30 // a pixel moving more than this share of the recent past is nuisance
	contrastTau    = 30.0 // contrast statistics follow slow exposure drift only
	globalChange   = 0.55 // share of the frame that changed at once: recalibrate
	warmUp         = 2.0  // seconds spent learning the first background
	targetContrast = 48.0 // stddev the normalised frame is scaled to
	maxGain        = 4.0  // dark, flat scenes are not amplified beyond this
	blockSize      = 8    // work-frame pixels per side of a motion-history block
	sharpEvery     = 200 * time.Millisecond
	noiseTau       = 10.0 // how far back a block's noise level reaches
	noiseEvery     = 200 * time.Millisecond
	noisePrecision = 4.0
	// confirmRatio is how far, in a block, the change must stand out from
	// that block's usual change from one second to the next for motion to
	// be confirmed. Compression noise on a still, low-contrast scene (the
	// encoder sharpening texture after each keyframe, amplified by contrast
	// normalisation) reaches 5.5 times its block's noise level on the
	// still-scene clips of the tests; people and cars in the labelled
	// clips reach 11 at least, and 16 to 35 as a rule.
	confirmRatio = 8.0
	noiseCap     = 2.0 // a block's noise level counts up to this times the median block's
)

// Detector turns frames into motion statistics. It is not safe for
// concurrent use; Close releases its OpenCV memory.
type Detector struct {
	cfg     Config
	size    image.Point // work frame size, set by the first frame
	grid    image.Point // size of the per-block motion history
	started bool
	first   time.Duration
	last    time.Duration

	mean, std float64 // contrast statistics, smoothed
	refMedian float64 // median luma of the background, for exposure compensation

	// cur is this frame's luma at work size: the caller's frame or gray;
	// borrowed, never closed.
	cur                        gocv.Mat
	sharp                      float64 // last measured sharpness, at sharpAt
	sharpAt                    time.Duration
	sharpOK                    bool
	small, gray, norm, blurred gocv.Mat
	bg, bg8, diff, thresh      gocv.Mat
	recent, recent8            gocv.Mat
	persist, nuisance, motion  gocv.Mat
	active                     gocv.Mat // 255 where motion counts (outside masks)
	activeArea                 float64
	zones                      []gocv.Mat
	kernel                     gocv.Mat
	lap                        gocv.Mat
	tmp                        gocv.Mat
	scalarMean, scalarStd      gocv.Mat
	ncc, blk                   gocv.Mat
	// bgDiff and recDiff are this frame's absolute difference from the
	// background and from the recent past; noise is each block's usual
	// recDiff (seconds-smoothed), strength the per-block change that
	// counts, both on the motion-history grid.
	bgDiff, recDiff                  gocv.Mat // 8U, work size
	noiseIn, noiseBlk, noise, bar    gocv.Mat // 32F: work size, then grid
	strength, strengthBlk, strengthF gocv.Mat // 8U work size, 8U grid, 32F grid
	confirm, motionBlk               gocv.Mat // 8U grid
	noiseBuf                         []float32
	noiseAt                          time.Duration // when noise was last learnt
	lastMotion                       time.Duration // the last frame with counted motion
	runStrong                        bool          // the run of motion up to lastMotion stood out
	none                             gocv.Mat      // an empty mask argument
}

// NewDetector validates cfg and returns a detector; the working resolution
// follows from the first frame.
func NewDetector(cfg Config) (*Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("motion config: %w", err)
	}
	d := &Detector{cfg: cfg}
	for _, m := range []*gocv.Mat{&d.small, &d.gray, &d.norm, &d.blurred, &d.bg, &d.bg8, &d.diff, &d.recent, &d.recent8,
		&d.thresh, &d.persist, &d.nuisance, &d.motion, &d.active, &d.lap, &d.tmp,
		&d.scalarMean, &d.scalarStd, &d.ncc, &d.blk, &d.none, &d.bgDiff, &d.recDiff, &d.noiseIn, &d.noiseBlk, &d.noise, &d.bar,
		&d.strength, &d.strengthBlk, &d.strengthF, &d.confirm, &d.motionBlk} {
		*m = gocv.NewMat()
	}
	d.kernel = gocv.GetStructuringElement(gocv.MorphRect, image.Pt(3, 3))
	return d, nil
}

// Close releases the detector's OpenCV memory.
func (d *Detector) Close() error {
	for _, m := range []*gocv.Mat{&d.small, &d.gray, &d.norm, &d.blurred, &d.bg, &d.bg8, &d.diff, &d.recent, &d.recent8,
		&d.thresh, &d.persist, &d.nuisance, &d.motion, &d.active, &d.lap, &d.tmp,
		&d.scalarMean, &d.scalarStd, &d.ncc, &d.blk, &d.none, &d.kernel, &d.bgDiff, &d.recDiff, &d.noiseIn, &d.noiseBlk, &d.noise, &d.bar,
		&d.strength, &d.strengthBlk, &d.strengthF, &d.confirm, &d.motionBlk} {
		m.Close()
	}
	for i := range d.zones {
		d.zones[i].Close()
	}
	d.zones = nil
	return nil
}

func (d *Detector) threshold() float32 { return float32(40 - 30*d.cfg.Sensitivity) }

func (d *Detector) minArea() float64 {
	return (0.0016 - 0.0012*d.cfg.Sensitivity) * float64(d.size.X*d.size.Y)
}

// workSize is the size the detector analyses frames of size in at. A frame
// already of that size maps to itself, so callers may pre-shrink frames.
func workSize(in image.Point, height int) image.Point {
	h := min(height, in.Y)
	w := int(math.Round(float64(h)*float64(in.X)/float64(in.Y))) &^ 1
	return image.Pt(w, h)
}

// setup sizes the work buffers and draws masks and zones.
func (d *Detector) setup(size image.Point) {
	d.size = size
	w, h := size.X, size.Y
	d.grid = image.Pt((w+blockSize-1)/blockSize, (h+blockSize-1)/blockSize)
	d.active.Close()
	d.active = gocv.NewMatWithSizeFromScalar(gocv.NewScalar(255, 0, 0, 0), h, w, gocv.MatTypeCV8U)
	for _, m := range d.cfg.Masks {
		fillPolygon(&d.active, m, d.size, color.RGBA{})
	}
	d.activeArea = math.Max(1, float64(gocv.CountNonZero(d.active)))
	for i := range d.zones {
		d.zones[i].Close()
	}
	d.zones = d.zones[:0]
	for _, z := range d.cfg.Zones {
		m := gocv.Zeros(h, w, gocv.MatTypeCV8U)
		fillPolygon(&m, z.Polygon, d.size, color.RGBA{R: 255, G: 255, B: 255, A: 255})
		d.zones = append(d.zones, m)
	}
	d.started = false
	d.sharpOK = false
}

func fillPolygon(m *gocv.Mat, p Polygon, size image.Point, c color.RGBA) {
	pts := make([]image.Point, len(p))
	for i, q := range p {
		pts[i] = image.Pt(int(math.Round(q.X*float64(size.X-1))), int(math.Round(q.Y*float64(size.Y-1))))
	}
	pv := gocv.NewPointsVectorFromPoints([][]image.Point{pts})
	defer pv.Close()
	gocv.FillPoly(m, pv, c)
}

// Process analyses one frame (BGR or grey, any size) taken at t from the
// start of the stream. Frames must come in time order.
func (d *Detector) Process(frame gocv.Mat, t time.Duration) FrameStats {
	if ws := workSize(image.Pt(frame.Cols(), frame.Rows()), d.cfg.WorkHeight); ws != d.size {
		d.setup(ws)
	}
	d.cur = d.toGray(frame)
	var st FrameStats
	gocv.MeanStdDev(d.cur, &d.scalarMean, &d.scalarStd)
	st.Luma = d.scalarMean.GetDoubleAt(0, 0)
	st.Contrast = d.scalarStd.GetDoubleAt(0, 0)
	st.Sharpness = d.sharpness(t)

	dt := 0.0
	if d.started {
		dt = math.Max(0, (t - d.last).Seconds())
	}
	d.last = t
	d.normalise(st.Luma, st.Contrast, dt)
	if !d.started {
		d.start(t)
		st.Warming = true
		return st
	}
	age := (t - d.first).Seconds()
	st.Warming = age < warmUp

	d.bg.ConvertTo(&d.bg8, gocv.MatTypeCV8U)
	gocv.AbsDiff(d.blurred, d.bg8, &d.bgDiff)
	gocv.Threshold(d.bgDiff, &d.thresh, d.threshold(), 255, gocv.ThresholdBinary)
	gocv.BitwiseAnd(d.thresh, d.active, &d.thresh)
	changed := float64(gocv.CountNonZero(d.thresh)) / d.activeArea
	if changed > globalChange && !st.Warming {
		st.Recalibrated = true
		st.Similarity = d.similarity()
		d.blurred.ConvertTo(&d.bg, gocv.MatTypeCV32F)
		d.blurred.ConvertTo(&d.recent, gocv.MatTypeCV32F)
		d.persist.SetTo(gocv.NewScalar(0, 0, 0, 0))
		return st
	}

	d.learn(dt, age, st.Warming)
	if st.Warming {
		return st
	}
	d.moving(dt)
	d.learnNoise(t, age-warmUp)
	d.contours(&st)
	if len(st.Boxes) > 0 {
		st.Strong = d.confirmRun(t)
	}
	return st
}

// confirmRun reports whether the run of motion this frame belongs to
// (motion no further apart than the merge gap, the rule events are made
// by) has stood out from the noise, checking this frame only while it has
// not: one strong frame is all an event needs.
func (d *Detector) confirmRun(t time.Duration) bool {
	if t-d.lastMotion > d.cfg.MergeGap.D() {
		d.runStrong = false
	}
	d.lastMotion = t
	if !d.runStrong {
		d.runStrong = d.strong()
	}
	return d.runStrong
}

// learn updates the per-block motion history and the background, and
// derives from the history before this frame which areas are nuisance, so
// that new motion is never hidden by itself. History is kept per block, not
// per pixel: a leaf never moves the same pixels twice, but it keeps moving
// within the same few blocks.
func (d *Detector) learn(dt, age float64, warming bool) {
	gocv.Threshold(d.persist, &d.tmp, persistLimit*255, 255, gocv.ThresholdBinary)
	d.tmp.ConvertTo(&d.blk, gocv.MatTypeCV8U)
	gocv.Dilate(d.blk, &d.blk, d.kernel)
	gocv.Resize(d.blk, &d.nuisance, d.size, 0, 0, gocv.InterpolationNearestNeighbor)
	gocv.Resize(d.thresh, &d.blk, d.grid, 0, 0, gocv.InterpolationArea)
	gocv.Threshold(d.blk, &d.blk, 0, 255, gocv.ThresholdBinary)
	beta := rate(dt, persistenceTau)
	alpha := rate(dt, backgroundTau)
	if age > 0 && age < persistenceTau {
		// An exact running mean until the history is long enough.
		beta = math.Max(beta, dt/age)
	}
	if warming {
		// Learn fast while warming, so the first seconds set the scene:
		// each frame weighs as one of ten a second would in a running mean.
		alpha = math.Max(alpha, 1/math.Max(1, age*10))
	}
	gocv.AccumulatedWeighted(d.blk, &d.persist, beta)
	gocv.AccumulatedWeighted(d.blurred, &d.bg, alpha)
}

// moving keeps in d.motion only what differs from the background (d.thresh)
// and also from the last second, outside nuisance areas: a person standing
// still, or the ghost left where a parked object was, stops counting within
// about a second.
func (d *Detector) moving(dt float64) {
	d.recent.ConvertTo(&d.recent8, gocv.MatTypeCV8U)
	gocv.AbsDiff(d.blurred, d.recent8, &d.recDiff)
	gocv.Threshold(d.recDiff, &d.diff, d.threshold()*recentShare, 255, gocv.ThresholdBinary)
	gocv.AccumulatedWeighted(d.blurred, &d.recent, rate(dt, recentTau))
	gocv.BitwiseAnd(d.thresh, d.diff, &d.motion)
	gocv.BitwiseNot(d.nuisance, &d.nuisance)
	gocv.BitwiseAnd(d.motion, d.nuisance, &d.motion)
	gocv.DilateWithParams(d.motion, &d.motion, d.kernel, image.Pt(-1, -1), 2, gocv.BorderConstant, color.RGBA{})
}

// learnNoise updates each block's noise level: its mean change against
// the recent past, scaled like the threshold it is compared with, smoothed
// over noiseTau; age is how long it has been learning. Everything that
// changes feeds it, motion included: a person crossing a block raises it
// for a few seconds by a tenth of their own contrast, which still leaves
// the next person standing out. A level smoothed over seconds needs no
// more than noiseEvery's samples, whatever the frame rate.
func (d *Detector) learnNoise(t time.Duration, age float64) {
	fresh := d.noise.Empty() || d.noise.Cols() != d.grid.X || d.noise.Rows() != d.grid.Y || age <= 0
	if !fresh && t-d.noiseAt < noiseEvery {
		return
	}
	dt := (t - d.noiseAt).Seconds()
	d.noiseAt = t
	// Averaged in 8 bits at noisePrecision times the scale, which keeps
	// the fraction a small level needs and is cheap; a block whose mean
	// saturates is in motion, not noisy, and counts as the cap.
	d.recDiff.ConvertToWithParams(&d.noiseIn, gocv.MatTypeCV8U, noisePrecision/recentShare, 0)
	gocv.Resize(d.noiseIn, &d.noiseIn, d.grid, 0, 0, gocv.InterpolationArea)
	d.noiseIn.ConvertToWithParams(&d.noiseBlk, gocv.MatTypeCV32F, 1/noisePrecision, 0)
	if fresh {
		d.noiseBlk.CopyTo(&d.noise)
		return
	}
	k := rate(dt, noiseTau)
	if age < noiseTau {
		k = math.Max(k, dt/age) // an exact running mean until the history is long enough
	}
	gocv.AccumulatedWeighted(d.noiseBlk, &d.noise, k)
}

// strong reports whether, in some block touched by this frame's counted
// motion, the change (against the background and the recent past alike)
// stands out from the block's noise level by confirmRatio. The comparison
// is of block means, not pixels: compression noise lights up a few pixels
// of a block at a time, a moving object most of them. A block's noise
// level counts up to noiseCap times the median block's, so that motion
// which began before the detector did (a short clip full of it) does not
// hide itself.
func (d *Detector) strong() bool {
	// The recent past is compared at recentShare of the threshold; scale
	// its difference alike, so both count the same.
	d.recDiff.ConvertToWithParams(&d.strength, gocv.MatTypeCV8U, 1/recentShare, 0)
	gocv.Min(d.bgDiff, d.strength, &d.strength)
	gocv.Resize(d.strength, &d.strengthBlk, d.grid, 0, 0, gocv.InterpolationArea)
	d.strengthBlk.ConvertTo(&d.strengthF, gocv.MatTypeCV32F)
	gocv.Threshold(d.noise, &d.bar, float32(noiseCap*d.medianNoise()), 0, gocv.ThresholdTrunc)
	// The bar is confirmRatio * (noise + 1): the 1 keeps a clean scene's
	// bar above zero, where the threshold decides alone.
	d.bar.ConvertToWithParams(&d.bar, gocv.MatTypeCV32F, confirmRatio, confirmRatio)
	gocv.Compare(d.strengthF, d.bar, &d.confirm, gocv.CompareGE)
	gocv.Resize(d.motion, &d.motionBlk, d.grid, 0, 0, gocv.InterpolationArea)
	gocv.BitwiseAnd(d.confirm, d.motionBlk, &d.confirm)
	return gocv.CountNonZero(d.confirm) > 0
}

func (d *Detector) medianNoise() float64 {
	v, err := d.noise.DataPtrFloat32()
	if err != nil || len(v) == 0 {
		return 0
	}
	d.noiseBuf = append(d.noiseBuf[:0], v...)
	slices.Sort(d.noiseBuf)
	return float64(d.noiseBuf[len(d.noiseBuf)/2])
}

// median8 returns the median of a single-channel 8-bit Mat.
func median8(m gocv.Mat) float64 {
	b, err := m.DataPtrUint8()
	if err != nil || len(b) == 0 {
		return 0
	}
	var hist [256]int
	for _, v := range b {
		hist[v]++
	}
	half, n := len(b)/2, 0
	for v, c := range hist {
		n += c
		if n > half {
			return float64(v)
		}
	}
	return 255
}

func rate(dt, tau float64) float64 { return 1 - math.Exp(-dt/tau) }

func (d *Detector) start(t time.Duration) {
	d.blurred.ConvertTo(&d.bg, gocv.MatTypeCV32F)
	d.blurred.ConvertTo(&d.recent, gocv.MatTypeCV32F)
	d.persist.Close()
	d.persist = gocv.Zeros(d.grid.Y, d.grid.X, gocv.MatTypeCV32F)
	d.started = true
	d.first = t
}

// toGray returns the frame as luma of the work size: the frame itself when
// the decoder already delivered that (ffmpeg does), else d.gray.
func (d *Detector) toGray(frame gocv.Mat) gocv.Mat {
	if frame.Channels() == 1 && frame.Cols() == d.size.X && frame.Rows() == d.size.Y {
		return frame
	}
	gocv.Resize(frame, &d.small, d.size, 0, 0, gocv.InterpolationLinear)
	if d.small.Channels() == 3 {
		gocv.CvtColor(d.small, &d.gray, gocv.ColorBGRToGray)
	} else {
		d.small.CopyTo(&d.gray)
	}
	return d.gray
}

// normalise scales the frame to a fixed contrast using smoothed statistics,
// so a dim scene is judged like a bright one without amplifying each
// frame's own noise, then blurs it.
//
// Auto exposure (a white car darkens a whole car park) is undone first: the
// frame is scaled so its median luma matches the slowly learned median of
// the background. The median ignores the object that triggered the change.
func (d *Detector) normalise(mean, std, dt float64) {
	med := math.Max(1, median8(d.cur))
	if !d.started {
		d.refMedian = med
	}
	k := math.Min(3, math.Max(1.0/3, d.refMedian/med))
	mean, std = mean*k, std*k
	if !d.started {
		d.mean, d.std = mean, std
	} else {
		r := rate(dt, contrastTau)
		d.mean += r * (mean - d.mean)
		d.std += r * (std - d.std)
		d.refMedian += rate(dt, backgroundTau) * (med - d.refMedian)
	}
	gain := math.Min(maxGain, targetContrast/math.Max(d.std, 1))
	d.cur.ConvertToWithParams(&d.norm, gocv.MatTypeCV8U, float32(gain*k), float32(128-d.mean*gain))
	gocv.GaussianBlur(d.norm, &d.blurred, image.Pt(5, 5), 0, 0, gocv.BorderReplicate)
}

// sharpness is measured at most every sharpEvery of video: only the
// defocus alert reads it, and that needs a condition to hold for 1.5 s.
func (d *Detector) sharpness(t time.Duration) float64 {
	if d.sharpOK && t >= d.sharpAt && t-d.sharpAt < sharpEvery {
		return d.sharp
	}
	gocv.Laplacian(d.cur, &d.lap, gocv.MatTypeCV16S, 3, 1, 0, gocv.BorderReplicate)
	gocv.MeanStdDev(d.lap, &d.scalarMean, &d.scalarStd)
	s := d.scalarStd.GetDoubleAt(0, 0)
	d.sharp, d.sharpAt, d.sharpOK = s*s, t, true
	return d.sharp
}

func (d *Detector) similarity() float64 {
	gocv.MatchTemplate(d.blurred, d.bg8, &d.ncc, gocv.TmCcoeffNormed, d.none)
	if d.ncc.Empty() {
		return 0
	}
	return float64(d.ncc.GetFloatAt(0, 0))
}

func (d *Detector) contours(st *FrameStats) {
	cs := gocv.FindContours(d.motion, gocv.RetrievalExternal, gocv.ChainApproxSimple)
	defer cs.Close()
	minArea := d.minArea()
	var area float64
	for i := 0; i < cs.Size(); i++ {
		c := cs.At(i)
		a := gocv.ContourArea(c)
		if a < minArea {
			continue
		}
		area += a
		r := gocv.BoundingRect(c)
		st.Boxes = append(st.Boxes, Box{
			X: float64(r.Min.X) / float64(d.size.X), Y: float64(r.Min.Y) / float64(d.size.Y),
			W: float64(r.Dx()) / float64(d.size.X), H: float64(r.Dy()) / float64(d.size.Y),
		})
	}
	st.Score = math.Min(1, area/d.activeArea)
	if len(st.Boxes) == 0 {
		return
	}
	for i, z := range d.zones {
		gocv.BitwiseAnd(d.motion, z, &d.tmp)
		if gocv.CountNonZero(d.tmp) > 0 {
			st.Zones = append(st.Zones, d.cfg.Zones[i].Name)
		}
	}
}
