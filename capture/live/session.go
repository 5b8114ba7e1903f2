package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"

	"github.com/edgetriage/edgetriage/media/rtspdesc"
)

// hub is one camera's fan-out. Its session goroutine (run) is started by
// the first viewer and cancelled a linger after the last one left.
type hub struct {
	cam  Camera
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	viewers map[*Viewer]struct{}
	cancel  context.CancelFunc // of the running session loop; nil when none runs
	gen     int                // which session loop is current: late packets of an old one are ignored
	linger  *time.Timer
	attempt *attempt // the current connection attempt
	stream  string   // "main" or "sub", once playing
	check   orderCheck
	// mainRefused is why the main stream cannot be played, once its
	// frames showed it (an SPS need not say it has B-frames): later
	// sessions go to the sub-stream straight away, or are refused.
	mainRefused error
	refusedAt   time.Time
	sps         []byte
	pps         []byte
	gop         []AccessUnit // since the last keyframe; nil when unknown or too long
	closed      bool
}

// orderCheck watches a new session's first frames after a keyframe for
// B-frames (presentation times going back): the session counts as playing
// only once framesToCheck of them came in order.
type orderCheck struct {
	done    bool
	started bool
	seen    int
	last    time.Duration
	abort   func() // ends the session whose frames are checked
	refused error
}

// recheckMain is how long a main stream seen to have B-frames is passed
// over before it is tried again.
const recheckMain = 10 * time.Minute

// framesToCheck is enough to see a B-frame: in decode order it comes
// second after a keyframe at the latest (I P B, or I B with an open GOP).
const framesToCheck = 2

// attempt is one connection to the camera; done is closed when it plays
// (err nil) or failed.
type attempt struct {
	done chan struct{}
	err  error
}

func newAttempt() *attempt { return &attempt{done: make(chan struct{})} }

func (a *attempt) finish(err error) {
	select {
	case <-a.done:
	default:
		a.err = err
		close(a.done)
	}
}

func newHub(c Camera, opts Options) *hub {
	return &hub{cam: c, opts: opts, log: opts.Logger.With("camera", c.ID, "part", "live"), viewers: map[*Viewer]struct{}{}}
}

func (h *hub) join(ctx context.Context) (*Viewer, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	v := newViewer(h)
	h.viewers[v] = struct{}{}
	if h.linger != nil {
		h.linger.Stop()
		h.linger = nil
	}
	if h.cancel == nil {
		h.start()
	}
	a := h.attempt
	h.mu.Unlock()

	select {
	case <-a.done:
	case <-ctx.Done():
		v.Leave()
		return nil, ctx.Err()
	}
	if a.err != nil {
		v.Leave()
		return nil, a.err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	v.stream = h.stream
	// The current group of pictures first, so the picture shows at once;
	// the hub's lock keeps the session from sending in between.
	for _, au := range h.gop {
		au.Cached = true
		v.ch <- au
	}
	v.needKey = len(h.gop) == 0
	v.attached = true
	return v, nil
}

// start runs a new session loop. Called with h.mu held.
func (h *hub) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.gen++
	h.attempt = newAttempt()
	h.gop = nil
	go h.run(ctx, h.gen)
}

func (h *hub) leave(v *Viewer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.viewers[v]; !ok {
		return
	}
	delete(h.viewers, v)
	v.end()
	if len(h.viewers) == 0 && h.cancel != nil && !h.closed {
		h.linger = time.AfterFunc(h.opts.Linger, h.idle)
	}
}

// idle closes the session when nobody came back during the linger.
func (h *hub) idle() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.viewers) > 0 || h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel, h.gop = nil, nil
	h.log.Info("live session closed: no viewers")
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	if h.linger != nil {
		h.linger.Stop()
	}
	if h.cancel != nil {
		h.cancel()
		h.cancel = nil
	}
	if h.attempt != nil {
		h.attempt.finish(ErrClosed)
	}
	for v := range h.viewers {
		v.end()
		delete(h.viewers, v)
	}
}

// run keeps the camera's session up while it has viewers: a dropped
// connection is retried with capped backoff, the viewers waiting.
func (h *hub) run(ctx context.Context, gen int) {
	backoff := time.Second
	for {
		err := h.session(ctx, gen)
		if ctx.Err() != nil {
			return
		}
		h.log.Warn("live session ended", "err", err)
		h.mu.Lock()
		if h.gen != gen {
			h.mu.Unlock()
			return
		}
		if errors.Is(err, ErrNotPlayable) && h.stream == "main" && h.cam.SubStreamURL != "" {
			// The main stream showed B-frames: the sub-stream at once, in
			// the same attempt, for the viewers already waiting.
			h.mu.Unlock()
			continue
		}
		h.attempt.finish(err)
		h.attempt = newAttempt()
		h.gop = nil
		for v := range h.viewers {
			v.needKey = true
		}
		h.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// session connects once, to the first of the camera's streams a browser
// can play, and relays it until it fails or ctx ends.
func (h *hub) session(ctx context.Context, gen int) error {
	c, m, f, stream, err := h.connect()
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, c.Close)
	defer stop()
	dec, err := f.CreateDecoder()
	if err != nil {
		return fmt.Errorf("camera %s: h264 decoder: %w", h.cam.ID, err)
	}
	c.OnPacketRTP(m, f, func(pkt *rtp.Packet) {
		// Every packet goes through the time decoder, in order: it
		// unrolls the RTP clock from the first one it sees.
		pts, ptsOK := c.PacketPTS2(m, pkt)
		au, err := dec.Decode(pkt)
		if err != nil || len(au) == 0 {
			if err != nil && !errors.Is(err, rtph264.ErrMorePacketsNeeded) && !errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious) {
				h.log.Debug("live packet", "err", err)
			}
			return
		}
		if !ptsOK {
			return
		}
		h.relay(gen, au, time.Duration(pts)*time.Second/time.Duration(f.ClockRate()))
	})
	sps, pps := f.SafeParams()
	h.mu.Lock()
	if h.gen == gen {
		h.sps, h.pps, h.stream = sps, pps, stream
		h.check = orderCheck{abort: c.Close}
		h.gop = nil // a group of pictures of the session before (perhaps the other stream)
	}
	h.mu.Unlock()
	// A stream whose SPS rules B-frames out plays at once, so the viewer's
	// WebRTC handshake overlaps the wait for the camera's next keyframe.
	if orderKnown(sps) {
		h.mu.Lock()
		if h.gen == gen {
			h.check.done = true
			h.attempt.finish(nil)
		}
		h.mu.Unlock()
	}
	if _, err := c.Play(nil); err != nil {
		return fmt.Errorf("camera %s: play: %w", h.cam.ID, err)
	}
	h.log.Info("live session playing", "stream", stream)
	err = c.Wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gen == gen && h.check.refused != nil {
		if stream == "main" {
			h.mainRefused, h.refusedAt = h.check.refused, time.Now()
		}
		return h.check.refused
	}
	return err
}

// checkOrder passes au through the session's order check; it reports
// false when the stream turned out to have B-frames, and ends the session.
// Called with h.mu held.
func (h *hub) checkOrder(au AccessUnit) bool {
	ck := &h.check
	switch {
	case ck.done:
		return true
	case au.Key:
		ck.started, ck.seen, ck.last = true, 0, au.PTS
		return true
	case !ck.started:
		return true
	case au.PTS < ck.last:
		ck.refused = fmt.Errorf("%w: the %s stream has B-frames (frames arrive out of presentation order), which stall the browser's decoder",
			ErrNotPlayable, h.stream)
		// Not here: Close waits for the packet callback this runs in.
		go ck.abort()
		return false
	}
	ck.last = au.PTS
	ck.seen++
	if ck.seen >= framesToCheck {
		ck.done = true
		h.attempt.finish(nil)
	}
	return true
}

// connect opens the main stream when a browser can play it, else the
// sub-stream; the client returned is set up but not yet playing.
func (h *hub) connect() (*gortsplib.Client, *description.Media, *format.H264, string, error) {
	h.mu.Lock()
	mainErr := h.mainRefused
	// The camera's setup may have been changed since: look again now and
	// then.
	if time.Since(h.refusedAt) > recheckMain {
		mainErr = nil
	}
	h.mu.Unlock()
	var (
		c *gortsplib.Client
		m *description.Media
		f *format.H264
	)
	if mainErr == nil {
		c, m, f, mainErr = h.open(h.cam.URL)
		if mainErr == nil {
			return c, m, f, "main", nil
		}
	}
	if h.cam.SubStreamURL == "" || !errors.Is(mainErr, ErrNotPlayable) {
		return nil, nil, nil, "", mainErr
	}
	c, m, f, subErr := h.open(h.cam.SubStreamURL)
	if subErr != nil {
		return nil, nil, nil, "", fmt.Errorf("%w; sub-stream: %w", mainErr, subErr)
	}
	h.log.Info("live view uses the sub-stream", "main", mainErr)
	return c, m, f, "sub", nil
}

func (h *hub) open(rawURL string) (*gortsplib.Client, *description.Media, *format.H264, error) {
	u, err := base.ParseURL(rawURL)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("camera %s: parse url: %w", h.cam.ID, err)
	}
	shown := redact(u)
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, ReadTimeout: h.opts.Timeout, WriteTimeout: h.opts.Timeout,
		OnTransportSwitch: func(err error) { h.log.Debug("live session over TCP", "why", err) },
		// A lost packet spoils its frame; the browser's decoder conceals it
		// until the next keyframe.
		OnPacketsLost: func(n uint64) { h.log.Debug("live packets lost", "n", n) },
	}
	if err := c.Start2(); err != nil {
		return nil, nil, nil, fmt.Errorf("camera %s: connect %s: %w", h.cam.ID, shown, err)
	}
	m, f, err := h.describe(c, u)
	if err != nil {
		c.Close()
		return nil, nil, nil, fmt.Errorf("camera %s: %s: %w", h.cam.ID, shown, err)
	}
	return c, m, f, nil
}

func (h *hub) describe(c *gortsplib.Client, u *base.URL) (*description.Media, *format.H264, error) {
	desc, _, err := c.Describe(u)
	if err != nil {
		return nil, nil, fmt.Errorf("describe: %w", err)
	}
	var f *format.H264
	m := desc.FindFormat(&f)
	if m == nil {
		return nil, nil, fmt.Errorf("%w: no H.264 video (it offers %s)", ErrNotPlayable, rtspdesc.Codecs(desc))
	}
	sps, _ := f.SafeParams()
	if err := Playable(sps); err != nil {
		return nil, nil, err
	}
	if _, err := c.Setup(desc.BaseURL, m, 0, 0); err != nil {
		return nil, nil, fmt.Errorf("setup: %w", err)
	}
	return m, f, nil
}

// Playable says whether an H.264 stream with this SPS can be sent to a
// browser's WebRTC decoder as it is. An SPS the camera leaves out of its
// SDP is judged playable: the stream itself will carry it.
func Playable(sps []byte) error {
	if len(sps) == 0 {
		return nil
	}
	var s h264.SPS
	if err := s.Unmarshal(sps); err != nil {
		return fmt.Errorf("%w: unreadable SPS: %v", ErrNotPlayable, err)
	}
	switch s.ProfileIdc {
	case 66, 77, 100: // baseline, main, high
	default:
		return fmt.Errorf("%w: H.264 profile %d (WebRTC decoders take baseline, main and high)", ErrNotPlayable, s.ProfileIdc)
	}
	if s.VUI != nil && s.VUI.BitstreamRestriction != nil && s.VUI.BitstreamRestriction.MaxNumReorderFrames > 0 {
		return fmt.Errorf("%w: the stream has B-frames, which stall the browser's decoder", ErrNotPlayable)
	}
	return nil
}

// orderKnown says whether an SPS (one Playable accepted) rules B-frames
// out: the baseline profile has none, and a bitstream restriction states
// how many frames may be reordered. Otherwise only the frames can tell.
func orderKnown(sps []byte) bool {
	var s h264.SPS
	if len(sps) == 0 || s.Unmarshal(sps) != nil {
		return false
	}
	return s.ProfileIdc == 66 || (s.VUI != nil && s.VUI.BitstreamRestriction != nil)
}

// redact drops credentials so a URL can go into errors and logs.
func redact(u *base.URL) string {
	v := url.URL(*u)
	v.User = nil
	return v.String()
}

// relay passes one access unit from session gen to the viewers and keeps
// the current group of pictures for viewers still to join.
func (h *hub) relay(gen int, nalus [][]byte, pts time.Duration) {
	au := AccessUnit{PTS: pts, NALUs: make([][]byte, 0, len(nalus)+2)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gen != gen {
		return
	}
	// The packet buffers belong to the RTSP client.
	own := make([][]byte, 0, len(nalus))
	for _, n := range nalus {
		if len(n) > 0 {
			own = append(own, append([]byte(nil), n...))
		}
	}
	hasSPS, hasPPS := false, false
	for _, n := range own {
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS:
			h.sps, hasSPS = n, true
		case h264.NALUTypePPS:
			h.pps, hasPPS = n, true
		case h264.NALUTypeIDR:
			au.Key = true
		}
	}
	// A keyframe carries its parameter sets, so a viewer starting on it
	// needs nothing sent before.
	if au.Key && !hasSPS && h.sps != nil {
		au.NALUs = append(au.NALUs, h.sps)
	}
	if au.Key && !hasPPS && h.pps != nil {
		au.NALUs = append(au.NALUs, h.pps)
	}
	au.NALUs = append(au.NALUs, own...)
	if !h.checkOrder(au) {
		return
	}
	switch {
	case au.Key:
		h.gop = []AccessUnit{au}
	case h.gop != nil && len(h.gop) < h.opts.MaxGOP:
		h.gop = append(h.gop, au)
	default:
		h.gop = nil // too long to keep: joiners wait for the next keyframe
	}
	for v := range h.viewers {
		v.offer(au)
	}
}
