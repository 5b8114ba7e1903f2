package rtsp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/pion/rtp"

	"github.com/edgetriage/edgetriage/media/rtspdesc"
)

// runSession connects once and records until the stream fails or ctx ends.
// It reports whether any frame was recorded.
func (r *Recorder) runSession(ctx context.Context, session int64) (bool, error) {
	u, err := base.ParseURL(r.cfg.URL)
	if err != nil {
		return false, fmt.Errorf("parse camera url: %w", err)
	}
	c := &gortsplib.Client{
		Scheme:       u.Scheme,
		Host:         u.Host,
		ReadTimeout:  r.cfg.Timeout,
		WriteTimeout: r.cfg.Timeout,
		Transport:    clientTransport(r.cfg.Transport),
		// With "auto", a camera whose UDP packets never arrive is retried
		// over TCP within the same session.
		OnTransportSwitch: func(error) { r.setTransport("tcp") },
	}
	// Lost packets make frames go missing inside a segment; they are
	// counted into the segment's labels and the status, never silent.
	var lost atomic.Uint64
	c.OnPacketsLost = func(n uint64) {
		lost.Add(n)
		r.notePacketsLost(n)
	}
	if err := c.Start2(); err != nil {
		return false, fmt.Errorf("start rtsp client: %w", err)
	}
	stop := context.AfterFunc(ctx, c.Close)
	defer stop()

	w, err := r.setupSession(ctx, c, u, session, &lost)
	if err != nil {
		c.Close()
		return false, err
	}
	if _, err := c.Play(nil); err != nil {
		c.Close()
		w.finish()
		return w.recorded, fmt.Errorf("play: %w", err)
	}
	r.log.Info("camera connected", "url", redactURL(r.cfg.URL), "video", w.params.codec, "session", session)
	err = c.Wait()
	c.Close()
	if ferr := w.finish(); ferr != nil {
		err = fmt.Errorf("%w: %w", errWrite, ferr)
	}
	return w.recorded, err
}

// noteTransport records what the camera agreed to in SETUP, which with
// "auto" may be either.
func (r *Recorder) noteTransport(h []string) {
	if len(h) > 0 && strings.Contains(strings.ToUpper(h[0]), "TCP") {
		r.setTransport("tcp")
		return
	}
	r.setTransport("udp")
}

func (r *Recorder) setTransport(t string) {
	r.mu.Lock()
	r.st.transport = t
	r.mu.Unlock()
}

func clientTransport(t Transport) *gortsplib.Transport {
	var v gortsplib.Transport
	switch t {
	case TransportTCP:
		v = gortsplib.TransportTCP
	case TransportUDP:
		v = gortsplib.TransportUDP
	default:
		return nil
	}
	return &v
}

// setupSession describes the stream, picks what to record and wires the
// packet callbacks to a sessionWriter.
func (r *Recorder) setupSession(ctx context.Context, c *gortsplib.Client, u *base.URL, session int64, lost *atomic.Uint64) (*sessionWriter, error) {
	desc, _, err := c.Describe(u)
	if err != nil {
		return nil, fmt.Errorf("describe: %w", err)
	}
	w := &sessionWriter{
		dir: r.dir, camera: r.cfg.ID, url: redactURL(r.cfg.URL), segLen: r.cfg.SegmentLength,
		session: session, log: r.log.With("session", session),
		onFrame:  r.noteFrame,
		onClosed: func(cs closedSegment) { r.enqueue(job{seg: &cs}) },
		onFail:   func(error) { go c.Close() },
		onEnd:    r.noteRecordedUntil,
		onHole:   func(err error) { r.openGap(ReasonStreamError, err) },
		lost:     lost,
	}
	vmedia, wireVideo, err := r.setupVideo(c, desc, w)
	if err != nil {
		return nil, err
	}
	amedia, wireAudio, audioName, skipped := r.setupAudio(c, desc, w)
	r.noteCodecs(w.params.codec, audioName, skipped)
	if r.previousCodec != "" && r.previousCodec != w.params.codec {
		r.log.Warn("camera's video codec changed", "was", r.previousCodec, "now", w.params.codec)
	}
	r.previousCodec = w.params.codec
	newSessionWriter(w)
	res, err := c.Setup(desc.BaseURL, vmedia, 0, 0)
	if err != nil {
		return nil, fmt.Errorf("setup video: %w", err)
	}
	r.noteTransport(res.Header["Transport"])
	wireVideo()
	if amedia != nil {
		if _, err := c.Setup(desc.BaseURL, amedia, 0, 0); err != nil {
			r.log.Warn("audio setup failed; recording video only", "err", err)
			w.audio = nil
		} else {
			wireAudio()
		}
	}
	return w, ctx.Err()
}

// setupVideo picks the video track; the returned function registers its
// packet callback, which gortsplib accepts only after SETUP.
func (r *Recorder) setupVideo(c *gortsplib.Client, desc *description.Session, w *sessionWriter) (*description.Media, func(), error) {
	var h264f *format.H264
	if m := desc.FindFormat(&h264f); m != nil {
		dec, err := h264f.CreateDecoder()
		if err != nil {
			return nil, nil, fmt.Errorf("h264 decoder: %w", err)
		}
		sps, pps := h264f.SafeParams()
		w.params = videoParams{codec: "h264", sps: sps, pps: pps}
		w.vclock = int64(h264f.ClockRate())
		return m, func() {
			c.OnPacketRTP(m, h264f, videoCallback(c, m, w, func(p *rtp.Packet) ([][]byte, error) {
				au, err := dec.Decode(p)
				if errors.Is(err, rtph264.ErrMorePacketsNeeded) || errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious) {
					return nil, nil
				}
				return au, err
			}))
		}, nil
	}
	var h265f *format.H265
	if m := desc.FindFormat(&h265f); m != nil {
		dec, err := h265f.CreateDecoder()
		if err != nil {
			return nil, nil, fmt.Errorf("h265 decoder: %w", err)
		}
		vps, sps, pps := h265f.SafeParams()
		w.params = videoParams{codec: "h265", vps: vps, sps: sps, pps: pps}
		w.vclock = int64(h265f.ClockRate())
		return m, func() {
			c.OnPacketRTP(m, h265f, videoCallback(c, m, w, func(p *rtp.Packet) ([][]byte, error) {
				au, err := dec.Decode(p)
				if errors.Is(err, rtph265.ErrMorePacketsNeeded) || errors.Is(err, rtph265.ErrNonStartingPacketAndNoPrevious) {
					return nil, nil
				}
				return au, err
			}))
		}, nil
	}
	if r.previousCodec != "" {
		return nil, nil, fmt.Errorf("%w: was %s, the stream now offers %s", errCodecChange, r.previousCodec, rtspdesc.Codecs(desc))
	}
	return nil, nil, fmt.Errorf("%w (it offers %s)", errUnsupported, rtspdesc.Codecs(desc))
}

func videoCallback(c *gortsplib.Client, m *description.Media, w *sessionWriter, decode func(*rtp.Packet) ([][]byte, error)) func(*rtp.Packet) {
	return func(p *rtp.Packet) {
		arrival := time.Now()
		// Every packet goes through the time decoder, in order: it unrolls
		// RTP wrap-around and starts only on a packet whose PTS equals its
		// DTS, which may be the first packet of an access unit, not the last.
		pts, ok := c.PacketPTS2(m, p)
		au, err := decode(p)
		if err != nil {
			w.log.Debug("video packet dropped", "err", err)
			return
		}
		if au == nil || !ok {
			return
		}
		ntp, _ := c.PacketNTP(m, p)
		w.video(au, frameInfo{pts: pts, rtpTS: p.Timestamp, arrival: arrival, ntp: ntp})
	}
}

// setupAudio picks an audio track fMP4 can carry as it is. G.711 and others
// would need transcoding, which a recorder of evidence does not do.
func (r *Recorder) setupAudio(c *gortsplib.Client, desc *description.Session, w *sessionWriter) (*description.Media, func(), string, string) {
	var aacf *format.MPEG4Audio
	if m := desc.FindFormat(&aacf); m != nil && aacf.Config != nil {
		dec, err := aacf.CreateDecoder()
		if err == nil {
			clock := int64(aacf.ClockRate())
			w.audio = &audioTrack{name: "aac", codec: &fmp4.CodecMPEG4Audio{Config: *aacf.Config}, clock: clock}
			return m, func() {
				c.OnPacketRTP(m, aacf, func(p *rtp.Packet) {
					pts, ok := c.PacketPTS2(m, p)
					aus, err := dec.Decode(p)
					if err != nil || !ok {
						return
					}
					for i, au := range aus {
						w.audioAU(au, pts+int64(i)*mpeg4audio.SamplesPerAccessUnit, mpeg4audio.SamplesPerAccessUnit)
					}
				})
			}, "aac", ""
		}
	}
	var opusf *format.Opus
	if m := desc.FindFormat(&opusf); m != nil {
		dec, err := opusf.CreateDecoder()
		if err == nil {
			w.audio = &audioTrack{name: "opus", codec: &fmp4.CodecOpus{ChannelCount: opusf.ChannelCount}, clock: int64(opusf.ClockRate())}
			return m, func() {
				c.OnPacketRTP(m, opusf, func(p *rtp.Packet) {
					pts, ok := c.PacketPTS2(m, p)
					pkt, err := dec.Decode(p)
					if err != nil || !ok {
						return
					}
					w.audioAU(pkt, pts, opus.PacketDuration2(pkt))
				})
			}, "opus", ""
		}
	}
	skipped := ""
	for _, m := range desc.Medias {
		if m.Type == description.MediaTypeAudio {
			skipped = fmt.Sprintf("audio %s cannot be stored in fMP4 without transcoding; recording video only", rtspdesc.Codecs(&description.Session{Medias: []*description.Media{m}}))
		}
	}
	if skipped != "" {
		r.log.Warn(skipped)
	}
	return nil, nil, "", skipped
}
