package motion

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"math"
	"os"
	"slices"

	"gocv.io/x/gocv"
)

// The prefilter skips the decoding of stretches where nothing can have
// changed. It reads the MP4 sample tables (no decoding) to find the GOPs
// and groups consecutive GOPs into spans of at most PrefilterMaxSpan. It
// decodes only the keyframes that start spans (each an IDR picture,
// decodable alone, written to a temporary H.264 elementary stream), and
// then fully decodes only the GOPs where
//   - the two keyframes that bound the GOP's span differ (same thresholds
//     as the detector, made more sensitive), or
//   - the bits the encoder spent on the GOP's predicted frames deviate from
//     the recent GOPs in EITHER direction, or one frame bursts above the
//     rest of its GOP (rate control can make still scenes expensive and
//     busy ones cheap, so no direction is trusted to mean "still"),
//
// plus the GOP either side of each, the first and the last. In a skipped
// span the detector sees only the keyframe that starts it, which keeps its
// background current. Whenever the prefilter is unsure (not H.264 in MP4,
// open GOPs, a GOP longer than PrefilterMaxSpan, a frame count that does
// not match) it gives up and the caller decodes everything.
//
// What it cannot see: motion that starts and ends inside one span, leaves
// both of its keyframes identical and costs the encoder no more than the
// GOPs around it. Under a capped bit rate a small object (a car a tenth of
// the frame wide) costs too little to tell: then only the keyframes can
// find it. A span is the stretch judged from its two ends, so a stream of
// 4 s GOPs judged in 8 s spans is seen no worse than one of 8 s GOPs
// would be; spans are what keeps the prefilter's cost from being that of
// decoding every keyframe when keyframes are frequent. Keep
// PrefilterMaxSpan at or below MinEventLength plus a few seconds where
// such events matter.

// errNoPrefilter means the prefilter cannot vouch for this file; Analyze
// then decodes everything.
var errNoPrefilter = errors.New("prefilter not applicable")

// PrefilterReport says what the compressed-domain pass decided.
type PrefilterReport struct {
	GOPs        int `json:"gops"`
	DecodedGOPs int `json:"decoded_gops"`
	// Keyframes is how many keyframes were decoded to judge the GOPs.
	Keyframes int `json:"keyframes"`
	// SkippedSeconds of video were judged still without full decoding.
	SkippedSeconds float64 `json:"skipped_seconds"`
}

const (
	prefilterChunk = 120 // GOPs judged together; bounds the keyframes held in memory
	kfSensitivity  = 0.6 // keyframe difference threshold as a share of the detector's
	sizeDeviation  = 1.6 // a GOP's bit rate this far from its neighbours' is suspect
	sizeBurst      = 2.0 // a GOP whose third largest frame grew this much against its neighbours' is suspect
	// Only GOPs whose bit rate and third largest frame stay this close to
	// their neighbours' may share a span: a still scene's noise costs the
	// same from GOP to GOP; anything between steady and suspect has its
	// own keyframes compared.
	steadyDeviation = 1.25
	steadyBurst     = 1.4
	sizeHistory     = 8
	// Below this many bytes per second per 100 pixels a change in a GOP's
	// bit rate is encoder noise, not content.
	sizeFloorPer100Px = 1.0
)

type gop struct {
	first, end int     // sample indices [first, end) in decode order
	start      float64 // keyframe presentation time, seconds from the clip start
	dur        float64
	pRate      float64 // weighed bytes (frameCost) per second of its predicted frames
	p3         float64 // weighed bytes of its third largest predicted frame
	order      []int   // sample indices in presentation order
}

func analyzePrefiltered(ctx context.Context, path string, cfg Config) (Result, error) {
	tr, err := readAVCTrack(path)
	if err != nil {
		slog.Debug("prefilter: full decode", "path", path, "reason", err)
		return Result{}, errNoPrefilter
	}
	f, err := os.Open(path)
	if err != nil {
		return Result{}, fmt.Errorf("analyze %s: %w", path, err)
	}
	defer f.Close()
	costs, err := readFrameCosts(f, tr)
	var gops []gop
	if err == nil {
		gops, err = splitGOPs(tr, costs, cfg.PrefilterMaxSpan.D().Seconds())
	}
	if err == nil && (tr.width <= 0 || tr.height <= 0) {
		err = errors.New("no frame size in the sample entry")
	}
	if err != nil {
		slog.Debug("prefilter: full decode", "path", path, "reason", err)
		return Result{}, errNoPrefilter
	}
	a, err := newAnalyzer(path, cfg)
	if err != nil {
		return Result{}, err
	}
	defer a.close()
	p := &prefilter{ctx: ctx, cfg: cfg, f: f, tr: tr, gops: gops, a: a,
		rep: &PrefilterReport{GOPs: len(gops)}, tmpDir: cfg.TempDir}
	if err := p.run(); err != nil {
		if errors.Is(err, errNoPrefilter) {
			slog.Debug("prefilter: full decode", "path", path, "reason", err)
		}
		return Result{}, err
	}
	res := a.finish()
	res.Width, res.Height = tr.width, tr.height
	res.Frames = len(tr.samples)
	addThumbnails(ctx, path, streamInfo{width: tr.width, height: tr.height}, res.Events)
	res.Prefilter = p.rep
	res.Prefilter.SkippedSeconds = round3(res.Prefilter.SkippedSeconds)
	return res, nil
}

// readFrameCosts reads what the encoder spent on each predicted frame
// (slicehdr.go); keyframes are left zero.
func readFrameCosts(f io.ReaderAt, tr *avcTrack) ([]frameCost, error) {
	ps := newParamSets()
	for _, p := range tr.params {
		if err := ps.add(p); err != nil {
			return nil, err
		}
	}
	costs := make([]frameCost, len(tr.samples))
	buf := make([]byte, tr.lengthSize+sliceHeaderBytes)
	for i, s := range tr.samples {
		if s.sync {
			continue
		}
		c, err := readFrameCost(f, s.offset, s.size, tr.lengthSize, ps, buf)
		if err != nil {
			return nil, fmt.Errorf("sample %d: %w", i, err)
		}
		costs[i] = c
	}
	return costs, nil
}

// splitGOPs groups samples by keyframe and refuses streams it cannot vouch for.
func splitGOPs(tr *avcTrack, costs []frameCost, maxGOP float64) ([]gop, error) {
	s := tr.samples
	if !s[0].sync {
		return nil, errors.New("first sample is not a keyframe")
	}
	cts0 := s[0].cts
	for _, x := range s {
		cts0 = min(cts0, x.cts)
	}
	ts := float64(tr.timescale)
	var gops []gop
	for i := 0; i < len(s); {
		j := i + 1
		for j < len(s) && !s[j].sync {
			j++
		}
		g := gop{first: i, end: j, start: float64(s[i].cts-cts0) / ts}
		for k := i; k < j; k++ {
			if s[k].cts < s[i].cts {
				return nil, fmt.Errorf("open GOP at sample %d", i)
			}
			g.order = append(g.order, k)
		}
		slices.SortFunc(g.order, func(x, y int) int { return int(s[x].cts - s[y].cts) })
		gops = append(gops, g)
		i = j
	}
	if len(gops) < 3 {
		return nil, fmt.Errorf("only %d keyframes", len(gops))
	}
	for i := range gops {
		g := &gops[i]
		next := float64(s[len(s)-1].cts-cts0+(s[len(s)-1].dts-s[max(0, len(s)-2)].dts)) / ts
		if i+1 < len(gops) {
			next = gops[i+1].start
		}
		g.dur = next - g.start
		if g.dur > maxGOP {
			return nil, fmt.Errorf("GOP at %.1f s lasts %.1f s, longer than %.1f s", g.start, g.dur, maxGOP)
		}
		var sizes []float64
		var sum float64
		for k := g.first + 1; k < g.end; k++ {
			sizes = append(sizes, costs[k].weighed())
			sum += costs[k].weighed()
		}
		if g.dur > 0 {
			g.pRate = sum / g.dur
		}
		g.p3 = thirdLargest(sizes)
	}
	return gops, nil
}

// thirdLargest is the size of the GOP's third largest predicted frame:
// one or two big frames are the encoder's own rhythm (a re-encode of
// footage whose source had short GOPs pulses like that), three or more
// mean something passed through.
func thirdLargest(sizes []float64) float64 {
	if len(sizes) < 3 {
		return 0
	}
	c := slices.Clone(sizes)
	slices.Sort(c)
	return c[len(c)-3]
}

func median(v []float64) float64 {
	c := slices.Clone(v)
	slices.Sort(c)
	return c[len(c)/2]
}

type prefilter struct {
	ctx    context.Context
	cfg    Config
	f      *os.File
	tr     *avcTrack
	gops   []gop
	a      *analyzer
	rep    *PrefilterReport
	tmpDir string
	// spans holds the first GOP of each span; the last GOP is a span alone.
	spans []int
	// spanOf is the span of each GOP.
	spanOf []int
	// spanChanged[s] is set when the keyframes bounding span s differ.
	spanChanged []bool
}

func (p *prefilter) run() error {
	suspect, steady := p.judgeBits()
	p.spans, p.spanOf = groupSpans(p.gops, steady, p.cfg.PrefilterMaxSpan.D().Seconds())
	p.spanChanged = make([]bool, len(p.spans))
	for c := 0; c < len(p.spans); c += prefilterChunk {
		if err := p.ctx.Err(); err != nil {
			return fmt.Errorf("analyze %s: %w", p.f.Name(), err)
		}
		if err := p.chunk(c, min(len(p.spans), c+prefilterChunk), suspect); err != nil {
			return err
		}
	}
	return nil
}

// groupSpans groups consecutive steady GOPs into spans of at most maxSpan
// seconds and returns the first GOP of each span and the span of each GOP.
// A GOP that is not steady, and the last GOP (always decoded), are spans
// of their own.
func groupSpans(gops []gop, steady []bool, maxSpan float64) (starts, spanOf []int) {
	spanOf = make([]int, len(gops))
	for g := 0; g < len(gops); {
		starts = append(starts, g)
		d := 0.0
		for first := g; g == first || g < len(gops)-1 && steady[first] && steady[g] && d+gops[g].dur <= maxSpan; g++ {
			d += gops[g].dur
			spanOf[g] = len(starts) - 1
		}
	}
	return starts, spanOf
}

// spanEnd is the GOP after span s.
func (p *prefilter) spanEnd(s int) int {
	if s+1 < len(p.spans) {
		return p.spans[s+1]
	}
	return len(p.gops)
}

// judgeBits marks, from the encoder's bit spending alone, the GOPs that
// stand out from the recent ones (suspect) and those that match them
// closely (steady).
func (p *prefilter) judgeBits() (suspect, steady []bool) {
	suspect, steady = make([]bool, len(p.gops)), make([]bool, len(p.gops))
	floor := float64(p.tr.width*p.tr.height) / 100 * sizeFloorPer100Px
	var rates, p3s []float64
	for i, g := range p.gops {
		if len(rates) > 0 {
			ref, ref3 := median(rates), median(p3s)
			off := g.pRate > sizeDeviation*ref || g.pRate < ref/sizeDeviation
			suspect[i] = off && math.Abs(g.pRate-ref) > floor ||
				g.p3 > sizeBurst*ref3 && g.p3-ref3 > floor/10
			steady[i] = len(rates) >= sizeHistory/2 && !suspect[i] &&
				g.pRate <= steadyDeviation*ref && g.pRate >= ref/steadyDeviation && g.p3 <= steadyBurst*ref3
		}
		rates, p3s = append(rates, g.pRate), append(p3s, g.p3)
		if len(rates) > sizeHistory {
			rates, p3s = rates[1:], p3s[1:]
		}
	}
	return suspect, steady
}

// chunk judges and analyses spans [from, to).
func (p *prefilter) chunk(from, to int, suspect []bool) error {
	// Keyframes up to to+1 bound every span up to to, one past the chunk,
	// so a change just after the chunk widens the decoded set into it.
	kfTo := min(to+2, len(p.spans))
	var kfIdx []int
	for s := from; s < kfTo; s++ {
		kfIdx = append(kfIdx, p.gops[p.spans[s]].first)
	}
	kfs, err := p.decodeKeyframes(kfIdx)
	if err != nil {
		return err
	}
	defer func() {
		for i := range kfs {
			kfs[i].Close()
		}
	}()
	p.rep.Keyframes += len(kfs)
	for s := from; s < min(to+1, len(p.spans)); s++ {
		k := s - from
		p.spanChanged[s] = s+1 >= len(p.spans) || k+1 >= len(kfs) || p.keyframesDiffer(kfs[k], kfs[k+1])
	}
	gFrom, gTo := p.spans[from], p.spanEnd(to-1)
	decode := make([]bool, gTo-gFrom)
	for g := gFrom; g < gTo; g++ {
		d := g == 0 || g == len(p.gops)-1
		// Its neighbours too: motion's head or tail may leave the next
		// keyframe pair looking alike, and the detector needs the context.
		for _, n := range []int{g - 1, g, g + 1} {
			if n >= 0 && n < len(p.gops) && (p.spanChanged[p.spanOf[n]] || suspect[n]) {
				d = true
			}
		}
		decode[g-gFrom] = d
	}
	return p.analyse(gFrom, gTo, decode, func(g int) *gocv.Mat {
		if s := p.spanOf[g]; p.spans[s] == g {
			return &kfs[s-from]
		}
		return nil
	})
}

// decodeKeyframes decodes the given sync samples and returns them shrunk to
// the detector's working size.
func (p *prefilter) decodeKeyframes(idx []int) ([]gocv.Mat, error) {
	tmp, cleanup, err := p.writeStream(idx)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	var out []gocv.Mat
	ws := p.workSize()
	_, _, err = ffDecode(p.ctx, tmp, ws.X, ws.Y, 0, func(m gocv.Mat, _ float64) {
		out = append(out, m.Clone())
	})
	if err != nil {
		for i := range out {
			out[i].Close()
		}
		return nil, err
	}
	if err := p.ctx.Err(); err != nil {
		for i := range out {
			out[i].Close()
		}
		return nil, fmt.Errorf("analyze %s: %w", p.f.Name(), err)
	}
	if len(out) != len(idx) {
		for i := range out {
			out[i].Close()
		}
		return nil, fmt.Errorf("%w: %d of %d keyframes decoded", errNoPrefilter, len(out), len(idx))
	}
	return out, nil
}

// workSize is the size frames are decoded at: the detector's.
func (p *prefilter) workSize() image.Point {
	return workSize(image.Pt(p.tr.width, p.tr.height), p.cfg.WorkHeight)
}

// keyframesDiffer compares two keyframes the way the detector compares a
// frame with its background, only more sensitively, after undoing a global
// exposure change.
func (p *prefilter) keyframesDiffer(x, y gocv.Mat) bool {
	gx, gy, diff := gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	defer gx.Close()
	defer gy.Close()
	defer diff.Close()
	x.CopyTo(&gx)
	y.CopyTo(&gy)
	if mx, my := median8(gx), median8(gy); mx > 0 && my > 0 {
		gy.ConvertToWithParams(&gy, gocv.MatTypeCV8U, float32(mx/my), 0)
	}
	gocv.GaussianBlur(gx, &gx, image.Pt(5, 5), 0, 0, gocv.BorderReplicate)
	gocv.GaussianBlur(gy, &gy, image.Pt(5, 5), 0, 0, gocv.BorderReplicate)
	gocv.AbsDiff(gx, gy, &diff)
	d := Detector{cfg: p.cfg, size: image.Pt(x.Cols(), x.Rows())}
	gocv.Threshold(diff, &diff, d.threshold()*kfSensitivity, 255, gocv.ThresholdBinary)
	cs := gocv.FindContours(diff, gocv.RetrievalExternal, gocv.ChainApproxSimple)
	defer cs.Close()
	minArea := d.minArea() * kfSensitivity
	for i := 0; i < cs.Size(); i++ {
		if gocv.ContourArea(cs.At(i)) >= minArea {
			return true
		}
	}
	return false
}

// analyse feeds GOPs [from, to) to the analyzer: decoded GOPs frame by
// frame, skipped ones as their keyframe where keyframe(g) has it decoded
// (it has for the first GOP of each span), in presentation order.
func (p *prefilter) analyse(from, to int, decode []bool, keyframe func(g int) *gocv.Mat) error {
	ts := float64(p.tr.timescale)
	cts0 := p.tr.samples[0].cts
	for _, s := range p.tr.samples {
		cts0 = min(cts0, s.cts)
	}
	// The timeline: a sample index for a frame to decode, or -1-g for the
	// keyframe of skipped GOP g.
	var idx, timeline []int
	for g := from; g < to; g++ {
		if !decode[g-from] {
			timeline = append(timeline, -1-g)
			continue
		}
		p.rep.DecodedGOPs++
		idx = append(idx, p.gops[g].order...)
		timeline = append(timeline, p.gops[g].order...)
	}
	next := 0
	feedSkipped := func() {
		for ; next < len(timeline) && timeline[next] < 0; next++ {
			g := -1 - timeline[next]
			if kf := keyframe(g); kf != nil {
				p.a.feed(*kf, p.gops[g].start)
			}
			p.rep.SkippedSeconds += p.gops[g].dur
		}
	}
	if len(idx) > 0 {
		slices.Sort(idx) // decode order for the elementary stream
		tmp, cleanup, err := p.writeStream(idx)
		if err != nil {
			return err
		}
		defer cleanup()
		ws := p.workSize()
		n, _, err := ffDecode(p.ctx, tmp, ws.X, ws.Y, 0, func(m gocv.Mat, _ float64) {
			feedSkipped()
			if next < len(timeline) {
				p.a.feed(m, float64(p.tr.samples[timeline[next]].cts-cts0)/ts)
				next++
			}
		})
		if err != nil {
			return err
		}
		if err := p.ctx.Err(); err != nil {
			return fmt.Errorf("analyze %s: %w", p.f.Name(), err)
		}
		if n != len(idx) {
			return fmt.Errorf("%w: %d of %d frames decoded from the selected GOPs", errNoPrefilter, n, len(idx))
		}
	}
	feedSkipped()
	return nil
}

// writeStream writes the given samples (decode order, whole GOPs or lone
// keyframes) as an Annex B elementary stream to a temporary file.
func (p *prefilter) writeStream(idx []int) (string, func(), error) {
	tmp, err := os.CreateTemp(p.tmpDir, "edgetriage-prefilter-*.h264")
	if err != nil {
		return "", nil, fmt.Errorf("prefilter temp file: %w", err)
	}
	remove := func() { os.Remove(tmp.Name()) }
	w := bufio.NewWriterSize(tmp, 1<<20)
	err = p.writeAnnexB(w, idx)
	if err == nil {
		err = w.Flush()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		remove()
		return "", nil, fmt.Errorf("prefilter %s: %w", p.f.Name(), err)
	}
	return tmp.Name(), remove, nil
}

var startCode = []byte{0, 0, 0, 1}

func (p *prefilter) writeAnnexB(w io.Writer, idx []int) error {
	var buf []byte
	for _, k := range idx {
		s := p.tr.samples[k]
		if s.sync {
			for _, ps := range p.tr.params {
				if _, err := w.Write(startCode); err != nil {
					return err
				}
				if _, err := w.Write(ps); err != nil {
					return err
				}
			}
		}
		buf = slices.Grow(buf[:0], int(s.size))[:s.size]
		if _, err := p.f.ReadAt(buf, s.offset); err != nil {
			return fmt.Errorf("read sample %d: %w", k, err)
		}
		for b := buf; len(b) > 0; {
			if len(b) < p.tr.lengthSize {
				return fmt.Errorf("sample %d: truncated NAL length", k)
			}
			n := 0
			for _, c := range b[:p.tr.lengthSize] {
				n = n<<8 | int(c)
			}
			b = b[p.tr.lengthSize:]
			if n > len(b) {
				return fmt.Errorf("sample %d: NAL of %d bytes overruns the sample", k, n)
			}
			if _, err := w.Write(startCode); err != nil {
				return err
			}
			if _, err := w.Write(b[:n]); err != nil {
				return err
			}
			b = b[n:]
		}
	}
	return nil
}
