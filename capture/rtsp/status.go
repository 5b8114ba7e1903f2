package rtsp

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// Recorder states.
const (
	StateIdle       = "idle"
	StateConnecting = "connecting"
	StateRecording  = "recording"
	StateWaiting    = "waiting-to-reconnect"
	StateStopped    = "stopped"
)

// Gap reasons, as they appear in gap-start events and in Status.
const (
	ReasonTimeout      = "timeout"
	ReasonUnauthorized = "unauthorized" // 401: wrong user or password
	ReasonRefused      = "connection-refused"
	ReasonEOF          = "eof" // the camera closed the connection
	ReasonCodecChange  = "codec-change"
	ReasonNoStream     = "no-stream"   // the server has nothing at this path (404 and kin)
	ReasonUnsupported  = "unsupported" // no H.264/H.265 video in the stream
	ReasonWriteFailed  = "write-failed"
	ReasonStreamError  = "stream-error" // frames that could not be put in order; skipped to the next keyframe
	ReasonError        = "error"
)

// errCodecChange and errUnsupported end sessions for reasons of our own.
var (
	errCodecChange = errors.New("the camera's video codec changed")
	errUnsupported = errors.New("no H.264 or H.265 video in the stream")
	errWrite       = errors.New("writing the segment failed")
)

// classify names the reason a session failed.
func classify(err error) string {
	var bad liberrors.ErrClientBadStatusCode
	var nerr net.Error
	switch {
	case errors.Is(err, errCodecChange):
		return ReasonCodecChange
	case errors.Is(err, errUnsupported):
		return ReasonUnsupported
	case errors.Is(err, errWrite):
		return ReasonWriteFailed
	case errors.As(err, &bad) && bad.Code == base.StatusUnauthorized:
		return ReasonUnauthorized
	case errors.As(err, &bad):
		return ReasonNoStream
	case errors.Is(err, syscall.ECONNREFUSED):
		return ReasonRefused
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, net.ErrClosed), errors.Is(err, syscall.EPIPE):
		return ReasonEOF
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &nerr) && nerr.Timeout():
		return ReasonTimeout
	case isTimeoutText(err):
		return ReasonTimeout
	}
	return ReasonError
}

// gortsplib reports stream silence as its own error types, not as a net
// error.
func isTimeoutText(err error) bool {
	var t1 liberrors.ErrClientTCPTimeout
	var t2 liberrors.ErrClientUDPTimeout
	var t3 liberrors.ErrClientRequestTimedOut
	return errors.As(err, &t1) || errors.As(err, &t2) || errors.As(err, &t3)
}

// Gap is a stretch of time the camera was not recorded.
type Gap struct {
	Start      time.Time `json:"start"`
	End        time.Time `json:"end,omitzero"` // zero while the gap is open
	Reason     string    `json:"reason"`
	LastReason string    `json:"last_reason"`
	Error      string    `json:"error"`
	Attempts   int       `json:"attempts"`
}

// Status is a snapshot of a recorder for the HTTP API.
type Status struct {
	Camera          string    `json:"camera"`
	URL             string    `json:"url"` // without password
	State           string    `json:"state"`
	Mode            Mode      `json:"mode"`
	Transport       string    `json:"transport,omitempty"` // tcp or udp, as agreed with the camera
	VideoCodec      string    `json:"video_codec,omitempty"`
	AudioCodec      string    `json:"audio_codec,omitempty"`
	AudioSkipped    string    `json:"audio_skipped,omitempty"` // why audio present in the stream is not recorded
	BitrateBPS      float64   `json:"bitrate_bps"`
	FPS             float64   `json:"fps"`
	LastFrame       time.Time `json:"last_frame,omitzero"`
	LastError       string    `json:"last_error,omitempty"`
	LastErrorReason string    `json:"last_error_reason,omitempty"`
	LastErrorAt     time.Time `json:"last_error_at,omitzero"`
	Sessions        int       `json:"sessions"`
	PacketsLost     uint64    `json:"packets_lost"` // RTP packets lost since Run started
	SegmentsSealed  int       `json:"segments_sealed"`
	SegmentsDropped int       `json:"segments_dropped"` // motion mode: outside motion
	LastSegment     string    `json:"last_segment,omitempty"`
	// LastSegmentAt is when the last segment was sealed.
	LastSegmentAt time.Time `json:"last_segment_at,omitzero"`
	// Frames and Bytes count video received since Run started; GapsOpened
	// counts outages since then (counters: rates are their derivatives).
	Frames     uint64 `json:"frames"`
	Bytes      uint64 `json:"bytes"`
	GapsOpened int    `json:"gaps_opened"`
	OpenGap    *Gap   `json:"open_gap,omitempty"`
	Gaps24h    []Gap  `json:"gaps_24h"` // closed and open gaps that touch the last 24 hours
}

// status is the mutable state behind Status, guarded by Recorder.mu.
type status struct {
	state         string
	runStart      time.Time
	videoCodec    string
	transport     string
	audioCodec    string
	audioSkipped  string
	lastFrame     time.Time
	recordedUntil time.Time
	lastErr       string
	lastReason    string
	lastErrAt     time.Time
	sessions      int
	packetsLost   uint64
	sealed        int
	dropped       int
	lastSegment   evidence.Digest
	lastSealedAt  time.Time
	frames, bytes uint64
	gapsOpened    int
	gap           *Gap
	gaps          []Gap

	rateStart    time.Time
	rateBytes    int
	rateFrames   int
	bitrate, fps float64
}

const rateWindow = 2 * time.Second

// pruneGaps forgets closed gaps that ended more than a day ago; the custody
// chain keeps them for good.
func (st *status) pruneGaps() {
	cutoff := time.Now().Add(-24 * time.Hour)
	st.gaps = slices.DeleteFunc(st.gaps, func(g Gap) bool { return g.End.Before(cutoff) })
}

// Status returns a snapshot; it is safe to call from any goroutine.
func (r *Recorder) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := &r.st
	s := Status{
		Camera: r.cfg.ID, URL: redactURL(r.cfg.URL), State: st.state, Mode: r.cfg.Mode,
		Transport: st.transport, VideoCodec: st.videoCodec, AudioCodec: st.audioCodec, AudioSkipped: st.audioSkipped,
		LastFrame: st.lastFrame, LastErrorReason: st.lastReason, LastErrorAt: st.lastErrAt,
		Sessions: st.sessions, PacketsLost: st.packetsLost, SegmentsSealed: st.sealed, SegmentsDropped: st.dropped,
		LastSegmentAt: st.lastSealedAt, Frames: st.frames, Bytes: st.bytes, GapsOpened: st.gapsOpened,
	}
	s.LastError = st.lastErr
	if !st.lastSegment.IsZero() {
		s.LastSegment = st.lastSegment.String()
	}
	if st.state == StateRecording && time.Since(st.lastFrame) < rateWindow*2 {
		s.BitrateBPS, s.FPS = st.bitrate, st.fps
	}
	st.pruneGaps()
	s.Gaps24h = slices.Clone(st.gaps)
	if st.gap != nil {
		g := *st.gap
		s.OpenGap = &g
		s.Gaps24h = append(s.Gaps24h, g)
	}
	if s.Gaps24h == nil {
		s.Gaps24h = []Gap{}
	}
	return s
}

func (r *Recorder) setState(s string) {
	r.mu.Lock()
	r.st.state = s
	if s == StateConnecting {
		r.st.sessions++
		if r.st.runStart.IsZero() {
			r.st.runStart = time.Now()
		}
	}
	r.mu.Unlock()
}

func (r *Recorder) noteError(reason string, err error) {
	r.mu.Lock()
	r.st.lastErr, r.st.lastReason, r.st.lastErrAt = r.scrub(err), reason, time.Now()
	r.mu.Unlock()
}

func (r *Recorder) noteSealed(it evidence.Item) {
	r.mu.Lock()
	r.st.sealed++
	r.st.lastSegment = it.Digest
	r.st.lastSealedAt = time.Now()
	r.mu.Unlock()
}

func (r *Recorder) noteRecordedUntil(t time.Time) {
	r.mu.Lock()
	r.st.recordedUntil = t
	r.mu.Unlock()
}

func (r *Recorder) notePacketsLost(n uint64) {
	r.mu.Lock()
	r.st.packetsLost += n
	r.mu.Unlock()
}

func (r *Recorder) noteDropped() {
	r.mu.Lock()
	r.st.dropped++
	r.mu.Unlock()
}

func (r *Recorder) noteCodecs(video, audio, skipped string) {
	r.mu.Lock()
	r.st.videoCodec, r.st.audioCodec, r.st.audioSkipped = video, audio, skipped
	r.mu.Unlock()
}

// noteFrame counts a recorded video frame; the first of a session ends the
// gap, if one is open.
func (r *Recorder) noteFrame(at time.Time, size int, first bool) {
	r.mu.Lock()
	st := &r.st
	st.lastFrame = at
	st.state = StateRecording
	if st.rateStart.IsZero() || first {
		st.rateStart, st.rateBytes, st.rateFrames = at, 0, 0
	}
	st.rateBytes += size
	st.rateFrames++
	st.frames++
	st.bytes += uint64(size)
	if el := at.Sub(st.rateStart); el >= rateWindow {
		st.bitrate = float64(st.rateBytes*8) / el.Seconds()
		st.fps = float64(st.rateFrames) / el.Seconds()
		st.rateStart, st.rateBytes, st.rateFrames = at, 0, 0
	}
	r.mu.Unlock()
	if first {
		r.closeGap(at, "recording resumed")
	}
}
