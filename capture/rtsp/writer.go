package rtsp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
)

// videoParams are the parameter sets a segment header needs.
type videoParams struct {
	codec         string // "h264" or "h265"
	vps, sps, pps []byte
}

func (p videoParams) complete() bool {
	if p.codec == "h265" && len(p.vps) == 0 {
		return false
	}
	return len(p.sps) > 0 && len(p.pps) > 0
}

func (p videoParams) mp4Codec() fmp4.Codec {
	if p.codec == "h265" {
		return &fmp4.CodecH265{VPS: p.vps, SPS: p.sps, PPS: p.pps}
	}
	return &fmp4.CodecH264{SPS: p.sps, PPS: p.pps}
}

// update takes in-band parameter sets from an access unit and reports
// whether they differ from the ones in use.
func (p *videoParams) update(au [][]byte) bool {
	changed := false
	set := func(dst *[]byte, n []byte) {
		if !bytes.Equal(*dst, n) {
			changed = changed || len(*dst) > 0
			*dst = bytes.Clone(n)
		}
	}
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		if p.codec == "h265" {
			switch h265.NALUType((n[0] >> 1) & 0b111111) {
			case h265.NALUType_VPS_NUT:
				set(&p.vps, n)
			case h265.NALUType_SPS_NUT:
				set(&p.sps, n)
			case h265.NALUType_PPS_NUT:
				set(&p.pps, n)
			}
			continue
		}
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS:
			set(&p.sps, n)
		case h264.NALUTypePPS:
			set(&p.pps, n)
		}
	}
	return changed
}

// audioTrack describes the audio that is recorded, if any.
type audioTrack struct {
	name  string
	codec fmp4.Codec
	clock int64
}

// frameInfo is what arrives with every access unit.
type frameInfo struct {
	pts     int64 // decoded, in the media's clock rate
	rtpTS   uint32
	arrival time.Time
	ntp     time.Time // zero until the camera sent an RTCP sender report
}

type pendingVideo struct {
	dts, pts int64 // output timeline; dts from the extractor
	au       [][]byte
	key      bool
	info     frameInfo
}

type pendingAudio struct {
	pts     int64 // raw, audio clock
	payload []byte
	nominal int64
}

// openSegment is the segment currently being written.
type openSegment struct {
	file      *segmentFile
	base      string // spool path without extension
	meta      segMeta
	startDTS  int64 // output timeline, video clock
	audioZero int64 // raw audio time that is t=0 in the file
	audioNext uint64
}

// sessionWriter turns one RTSP session's access units into segments. Its
// methods are called from gortsplib's reader goroutines, one per media on
// UDP, so every entry point locks.
type sessionWriter struct {
	mu       sync.Mutex
	dir      string
	camera   string
	url      string
	segLen   time.Duration
	session  int64
	log      *slog.Logger
	vclock   int64
	params   videoParams
	audio    *audioTrack
	onFrame  func(at time.Time, bytes int, first bool)
	onClosed func(closedSegment)
	onEnd    func(wallEnd time.Time)
	onFail   func(error)
	onHole   func(error) // frames had to be skipped inside the session
	lost     *atomic.Uint64

	dtsx interface {
		Extract([][]byte, int64) (int64, error)
	}
	tl         timeline
	waitKey    bool
	needCut    bool
	pv         *pendingVideo
	aq         []pendingAudio // audio waiting for video to pass its time
	maxPTS     int64          // latest presentation time of recorded video
	seg        *openSegment
	segIndex   int
	anchorWall time.Time
	anchorPTS  int64
	recorded   bool
	err        error
}

func newSessionWriter(w *sessionWriter) *sessionWriter {
	w.tl.clock = w.vclock
	w.waitKey = true
	w.resetDTS()
	return w
}

func (w *sessionWriter) resetDTS() {
	if w.params.codec == "h265" {
		d := &h265.DTSExtractor{}
		d.Initialize()
		w.dtsx = d
		return
	}
	d := &h264.DTSExtractor{}
	d.Initialize()
	w.dtsx = d
}

// withParams prefixes a keyframe with the parameter sets when the camera
// sent them only in the SDP: the DTS extractor reads them from the stream.
// Only the extractor sees this copy; samples are stored as received.
func (w *sessionWriter) withParams(au [][]byte, key bool) [][]byte {
	if !key {
		return au
	}
	var ps [][]byte
	if w.params.codec == "h265" {
		ps = [][]byte{w.params.vps, w.params.sps, w.params.pps}
	} else {
		ps = [][]byte{w.params.sps, w.params.pps}
	}
	return append(ps, au...)
}

func (w *sessionWriter) isKey(au [][]byte) bool {
	if w.params.codec == "h265" {
		return h265.IsRandomAccess(au)
	}
	return h264.IsRandomAccess(au)
}

// video handles one access unit of the video track.
func (w *sessionWriter) video(au [][]byte, fi frameInfo) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return
	}
	if w.params.update(au) && w.seg != nil {
		w.log.Info("camera changed its video parameters; cutting the segment at the next keyframe")
		w.needCut = true
	}
	key := w.isKey(au)
	if w.waitKey && (!key || !w.params.complete()) {
		return
	}
	pts, jumped := w.tl.place(fi.pts, fi.arrival)
	if jumped {
		w.log.Warn("camera clock jumped; timeline kept continuous", "raw_pts", fi.pts, "placed", pts)
	}
	dts, err := w.dtsx.Extract(w.withParams(au, key), pts)
	if err != nil {
		// The segment ends here rather than carry a hole of unknown length;
		// the next one starts at the next keyframe.
		w.log.Warn("cannot order frames; ending the segment and waiting for the next keyframe", "err", err)
		w.resetDTS()
		w.waitKey = true
		if w.seg != nil {
			w.endSegment()
			// The frames until the next keyframe are lost: that is a gap,
			// closed by the next recorded frame.
			w.onHole(fmt.Errorf("camera stream unreadable until the next keyframe: %w", err))
			w.recorded = false
		}
		return
	}
	w.waitKey = false
	cur := &pendingVideo{dts: dts, pts: pts, au: au, key: key, info: fi}
	if err := w.step(cur); err != nil {
		w.fail(err)
		return
	}
	size := 0
	for _, n := range au {
		size += len(n)
	}
	w.onFrame(fi.arrival, size, !w.recorded)
	w.recorded = true
}

// step writes the previous frame, now that its duration is known, and
// starts a new segment when cur is a keyframe and the segment is long enough.
func (w *sessionWriter) step(cur *pendingVideo) error {
	if w.pv != nil {
		if err := w.writeVideo(w.pv, max(cur.dts-w.pv.dts, 1)); err != nil {
			return err
		}
	}
	long := w.seg != nil && cur.dts-w.seg.startDTS >= int64(w.segLen.Seconds()*float64(w.vclock))
	if cur.key && (w.seg == nil || long || w.needCut) {
		w.drainAudio(cur.pts)
		if err := w.closeSegment(cur.pts, cur.info); err != nil {
			return err
		}
		if err := w.openSegment(cur); err != nil {
			return err
		}
		w.needCut = false
	}
	w.pv = cur
	// In a closed GOP no later frame is presented before the latest one
	// seen, so audio up to it belongs to this segment.
	w.maxPTS = max(w.maxPTS, cur.pts)
	w.drainAudio(w.maxPTS)
	return nil
}

func (w *sessionWriter) writeVideo(p *pendingVideo, dur int64) error {
	if w.seg == nil {
		return nil
	}
	var s fmp4.Sample
	var err error
	if w.params.codec == "h265" {
		err = s.FillH265(int32(p.pts-p.dts), p.au)
	} else {
		err = s.FillH264(int32(p.pts-p.dts), p.au)
	}
	if err != nil {
		return fmt.Errorf("pack video sample: %w", err)
	}
	s.Duration = uint32(dur)
	f := w.seg.file
	f.video.add(&s, uint64(p.dts-w.seg.startDTS))
	m := &w.seg.meta
	m.Frames++
	m.RTPLast = p.info.rtpTS
	m.PTSEnd = max(m.PTSEnd, p.pts+dur)
	m.WallEnd = w.wallAt(m.PTSEnd)
	if !p.info.ntp.IsZero() {
		m.NTPEnd = p.info.ntp.Add(w.ticks(dur))
	}
	if f.video.next-f.video.base >= uint64(w.vclock) {
		return f.flush()
	}
	return nil
}

func (w *sessionWriter) ticks(d int64) time.Duration {
	return time.Duration(float64(d) / float64(w.vclock) * float64(time.Second))
}

// wallAt converts an output presentation time to the appliance clock. The anchor
// is the arrival of the session's first recorded frame; it is moved when the
// camera's clock and ours drift apart by more than a second, so segment
// times stay contiguous yet never far from the truth.
func (w *sessionWriter) wallAt(pts int64) time.Time {
	return w.anchorWall.Add(w.ticks(pts - w.anchorPTS))
}

func (w *sessionWriter) openSegment(cur *pendingVideo) error {
	if w.anchorWall.IsZero() || cur.info.arrival.Sub(w.wallAt(cur.pts)).Abs() > time.Second {
		w.anchorWall, w.anchorPTS = cur.info.arrival, cur.pts
	}
	start := w.wallAt(cur.pts)
	w.segIndex++
	base := filepath.Join(w.dir, fmt.Sprintf("%s-s%d-%04d", start.UTC().Format("20060102T150405.000000000Z"), w.session, w.segIndex))
	meta := segMeta{
		Camera: w.camera, URL: w.url, Session: w.session, Index: w.segIndex,
		VideoCodec: w.params.codec, ClockRate: w.vclock,
		WallStart: start, WallEnd: start, PTSStart: cur.pts, PTSEnd: cur.pts,
		RTPStart: cur.info.rtpTS, NTPStart: cur.info.ntp, ClockJumps: w.tl.jumps, PacketsLost: w.lost.Load(),
	}
	init := fmp4.Init{Tracks: []*fmp4.InitTrack{{ID: videoTrackID, TimeScale: uint32(w.vclock), Codec: w.params.mp4Codec()}}}
	if w.audio != nil {
		meta.AudioCodec = w.audio.name
		init.Tracks = append(init.Tracks, &fmp4.InitTrack{ID: audioTrackID, TimeScale: uint32(w.audio.clock), Codec: w.audio.codec})
	}
	// The metadata goes first: a spool file without it could not be told
	// apart from debris.
	if err := writeMeta(base, meta); err != nil {
		return err
	}
	label, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("encode segment label: %w", err)
	}
	f, err := createSegmentFile(base+partExt, &init, label)
	if err != nil {
		os.Remove(base + metaExt)
		return err
	}
	rawDTS := cur.dts - w.tl.shift()
	w.seg = &openSegment{file: f, base: base, meta: meta, startDTS: cur.dts}
	if w.audio != nil {
		w.seg.audioZero = rawDTS * w.audio.clock / w.vclock
	}
	return nil
}

// closeSegment finishes the open segment; end is the presentation time
// where the next segment starts.
func (w *sessionWriter) closeSegment(end int64, fi frameInfo) error {
	seg := w.seg
	if seg == nil {
		return nil
	}
	w.seg = nil
	// On a disk error the segment is handed on as interrupted: what reached
	// the disk is still evidence and is salvaged, never deleted.
	interrupted := func(err error) error {
		w.onClosed(closedSegment{base: seg.base, meta: seg.meta, partial: true})
		return err
	}
	if err := seg.file.close(); err != nil {
		return interrupted(err)
	}
	seg.meta.PTSEnd = end
	seg.meta.WallEnd = w.wallAt(end)
	seg.meta.ClockJumps = w.tl.jumps - seg.meta.ClockJumps
	seg.meta.PacketsLost = w.lost.Load() - seg.meta.PacketsLost
	if seg.meta.NTPEnd.IsZero() && !fi.ntp.IsZero() {
		seg.meta.NTPEnd = fi.ntp
	}
	seg.meta.Closed = true
	w.onEnd(seg.meta.WallEnd)
	if err := os.Rename(seg.file.path, seg.base+segExt); err != nil {
		return interrupted(fmt.Errorf("finish segment: %w", err))
	}
	if err := writeMeta(seg.base, seg.meta); err != nil {
		return interrupted(err)
	}
	w.onClosed(closedSegment{base: seg.base, meta: seg.meta})
	return nil
}

// audioAU queues one audio access unit. Cameras send audio ahead of
// B-frame video, so audio is held until the video has passed its time and
// then goes to the segment whose video covers it.
func (w *sessionWriter) audioAU(payload []byte, pts int64, nominal int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil || w.audio == nil {
		return
	}
	const maxQueued = 1000 // about 20s of AAC; more means video stopped
	if len(w.aq) >= maxQueued {
		w.aq = w.aq[1:]
	}
	w.aq = append(w.aq, pendingAudio{pts: pts, payload: payload, nominal: nominal})
}

// audioAt maps a raw audio time to the video output timeline.
func (w *sessionWriter) audioAt(pts int64) int64 {
	return pts*w.vclock/w.audio.clock + w.tl.shift()
}

// drainAudio moves queued audio presented before limit into the open
// segment; audio from before the segment started is dropped.
func (w *sessionWriter) drainAudio(limit int64) {
	if w.audio == nil {
		return
	}
	n := 0
	for n < len(w.aq) && w.audioAt(w.aq[n].pts) < limit {
		e := w.aq[n]
		if w.seg != nil && w.audioAt(e.pts) >= w.seg.meta.PTSStart {
			dur := e.nominal
			if n+1 < len(w.aq) {
				if d := w.aq[n+1].pts - e.pts; d > 0 && d < w.audio.clock {
					dur = d
				}
			}
			w.appendAudio(w.seg, e, dur)
		}
		n++
	}
	w.aq = w.aq[n:]
}

func (w *sessionWriter) appendAudio(seg *openSegment, p pendingAudio, dur int64) {
	at := max(p.pts-seg.audioZero, 0)
	dts := max(uint64(at), seg.audioNext)
	if n := len(seg.file.audio.samples); n > 0 {
		dts = seg.file.audio.next
	}
	seg.file.audio.add(&fmp4.Sample{Duration: uint32(dur), Payload: p.payload}, dts)
	seg.audioNext = dts + uint64(dur)
}

// finish closes the open segment when the session ends.
func (w *sessionWriter) finish() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	return w.endSegment()
}

// endSegment closes the open segment after its last frame, which gets one
// frame duration since no next frame tells its length.
func (w *sessionWriter) endSegment() error {
	defer func() { w.pv = nil }()
	if w.pv == nil || w.seg == nil {
		return nil
	}
	dur := w.tl.frameDur
	if dur <= 0 {
		dur = w.vclock / 25
	}
	if err := w.writeVideo(w.pv, dur); err != nil {
		w.fail(err)
		return err
	}
	w.drainAudio(w.seg.meta.PTSEnd)
	if err := w.closeSegment(w.seg.meta.PTSEnd, w.pv.info); err != nil {
		w.fail(err)
		return err
	}
	return nil
}

// fail stops writing after a disk error; the partial segment stays in the
// spool for recovery, which marks it interrupted.
func (w *sessionWriter) fail(err error) {
	w.err = err
	if w.seg != nil {
		w.seg.file.abort()
		w.onClosed(closedSegment{base: w.seg.base, meta: w.seg.meta, partial: true})
		w.seg = nil
	}
	w.log.Error("segment writing failed", "err", err)
	w.onFail(err)
}
