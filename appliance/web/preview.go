package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/edgetriage/edgetriage/appliance/auth"
	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// rtcEngine is the pion API every preview is made with: one UDP socket
// shared by all sessions (the station firewall opens one port) and loopback
// candidates allowed so a browser on the appliance itself can connect.
type rtcEngine struct {
	api  *webrtc.API
	conn net.PacketConn
	mux  ice.UDPMux
}

func newRTCEngine(addr string, publicIPs []string) (*rtcEngine, error) {
	conn, err := net.ListenPacket("udp4", addr)
	if err != nil {
		return nil, fmt.Errorf("webrtc: listen udp %s: %w", addr, err)
	}
	mux := webrtc.NewICEUDPMux(nil, conn)
	var se webrtc.SettingEngine
	se.SetICEUDPMux(mux)
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	// Browsers hide their host addresses behind mDNS names; the peer's
	// first STUN check reveals its address anyway, so no mDNS is needed.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	// A closed laptop lid should end a preview (and its custody record)
	// within seconds, not the default half minute.
	se.SetICETimeouts(4*time.Second, 8*time.Second, time.Second)
	if len(publicIPs) > 0 {
		se.SetNAT1To1IPs(publicIPs, webrtc.ICECandidateTypeHost)
	}
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("webrtc: codecs: %w", err)
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		conn.Close()
		return nil, fmt.Errorf("webrtc: interceptors: %w", err)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(reg))
	return &rtcEngine{api: api, conn: conn, mux: mux}, nil
}

// Addr is the UDP address all previews share.
func (e *rtcEngine) Addr() net.Addr { return e.conn.LocalAddr() }

// Close stops the shared UDP socket. The ICE mux closes the socket itself,
// so the socket's own "already closed" is not a failure.
func (e *rtcEngine) Close() error {
	muxErr := e.mux.Close()
	connErr := e.conn.Close()
	if errors.Is(connErr, net.ErrClosed) {
		connErr = nil
	}
	return errors.Join(muxErr, connErr)
}

// Preview variants.
const (
	VariantRedacted = "redacted"
	VariantOriginal = "original"
)

type control struct {
	Action   string  `json:"action"`             // play, pause, seek
	Position float64 `json:"position,omitempty"` // seconds, for seek
}

// PreviewStatus is what GET /api/v1/previews/{id} reports.
type PreviewStatus struct {
	ID         string          `json:"id"`
	Item       evidence.Digest `json:"item"`
	Shown      evidence.Digest `json:"shown"`
	Variant    string          `json:"variant"`
	Mode       string          `json:"mode"` // passthrough or transcode
	Viewer     string          `json:"viewer"`
	State      string          `json:"state"` // connecting, playing, paused, ended
	Position   float64         `json:"position_s"`
	Duration   float64         `json:"duration_s,omitempty"`
	FramesSent int64           `json:"frames_sent"`
}

// preview is one viewer's WebRTC session on one item.
type preview struct {
	id      string
	viewer  auth.Principal
	item    evidence.Item // what was asked for
	shown   evidence.Item // what is sent: the redacted copy or the original
	variant string
	reason  string
	mode    string
	path    string
	clip    *clip // nil when transcoding
	srv     *Server
	log     *slog.Logger
	started time.Time

	pc    *webrtc.PeerConnection
	track *webrtc.TrackLocalStaticSample
	src   source

	connected chan struct{}
	ctl       chan control
	done      chan struct{}
	stopOnce  sync.Once
	release   func()

	mu         sync.Mutex
	state      string
	pos        time.Duration
	framesSent int64
}

func (p *preview) status() PreviewStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := PreviewStatus{ID: p.id, Item: p.item.Digest, Shown: p.shown.Digest, Variant: p.variant, Mode: p.mode,
		Viewer: p.viewer.Name, State: p.state, Position: p.pos.Seconds(), FramesSent: p.framesSent}
	if p.clip != nil {
		st.Duration = p.clip.Duration().Seconds()
	} else {
		st.Duration = p.shown.Media.Duration
	}
	return st
}

func (p *preview) setState(state string, pos time.Duration) {
	p.mu.Lock()
	p.state, p.pos = state, pos
	p.mu.Unlock()
}

func (p *preview) open(pos time.Duration) (source, error) {
	if p.clip != nil {
		return p.clip.from(pos), nil
	}
	t, err := startTranscode(transcodeOptions{ffmpeg: p.srv.cfg.FFmpeg, path: p.path, start: pos,
		fps: p.shown.Media.FrameRate, tmpDir: p.srv.tmpDir,
		watermark: fmt.Sprintf("%s (%s) viewing %s", p.viewer.Name, p.viewer.Role, p.shown.Digest.Short())})
	if err != nil {
		return nil, err // not a nil *transcode in a non-nil source
	}
	return t, nil
}

// negotiate answers the browser's offer with the preview's track.
func (p *preview) negotiate(offer string) (string, error) {
	pc, track, answer, err := p.srv.rtc.sendH264(offer, "edgetriage-"+p.id, func(s webrtc.PeerConnectionState) {
		p.log.Debug("preview connection", "state", s.String())
		switch s {
		case webrtc.PeerConnectionStateConnected:
			select {
			case <-p.connected:
			default:
				close(p.connected)
			}
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed, webrtc.PeerConnectionStateDisconnected:
			go p.stop("connection " + s.String())
		}
	})
	p.pc, p.track = pc, track
	return answer, err
}

// sendH264 answers a browser's offer with one H.264 video track for
// previews and live views alike. ICE candidates are gathered before
// answering (no trickle) since the only candidate is the one shared
// socket. The peer connection is returned even on failure, for the caller
// to close.
func (e *rtcEngine) sendH264(offer, streamID string, onState func(webrtc.PeerConnectionState)) (*webrtc.PeerConnection, *webrtc.TrackLocalStaticSample, string, error) {
	pc, err := e.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, nil, "", fmt.Errorf("new peer connection: %w", err)
	}
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, "video", streamID)
	if err != nil {
		return pc, nil, "", fmt.Errorf("new track: %w", err)
	}
	sender, err := pc.AddTrack(track)
	if err != nil {
		return pc, track, "", fmt.Errorf("add track: %w", err)
	}
	// RTCP must be read for the NACK and report interceptors to work.
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := sender.Read(buf); err != nil {
				return
			}
		}
	}()
	pc.OnConnectionStateChange(onState)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return pc, track, "", fmt.Errorf("%w: %v", errBadOffer, err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return pc, track, "", fmt.Errorf("%w: %v", errBadOffer, err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return pc, track, "", fmt.Errorf("set local description: %w", err)
	}
	select {
	case <-gathered:
	case <-time.After(5 * time.Second):
		return pc, track, "", errors.New("ICE gathering did not finish")
	}
	return pc, track, pc.LocalDescription().SDP, nil
}

var errBadOffer = errors.New("unusable SDP offer")

// run paces frames to the viewer at the clip's own rate until stopped.
// A ticker, not Sleep, so the time spent reading and sending a frame does
// not stretch the clip.
func (p *preview) run() {
	defer p.closeSource()
	select {
	case <-p.connected:
	case <-p.done:
		return
	case <-time.After(20 * time.Second):
		p.stop("browser never connected")
		return
	}
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	playing := true
	send := func() {
		f, err := p.src.next()
		if err == io.EOF {
			playing = false
			p.setState("ended", p.curPos())
			return
		}
		if err != nil {
			p.log.Error("preview source", "err", err)
			playing = false
			p.setState("ended", p.curPos())
			return
		}
		if err := p.track.WriteSample(media.Sample{Data: f.data, Duration: f.dur}); err != nil && !errors.Is(err, io.ErrClosedPipe) {
			p.log.Warn("preview write", "err", err)
		}
		p.mu.Lock()
		p.state, p.pos = "playing", f.pos+f.dur
		p.framesSent++
		p.mu.Unlock()
		if f.dur > 0 {
			ticker.Reset(f.dur)
		}
	}
	send() // the first frame goes out at once: it is the keyframe the viewer waits for
	for {
		select {
		case <-p.done:
			return
		case c := <-p.ctl:
			playing = p.apply(c, playing)
			if playing {
				send()
			}
		case <-ticker.C:
			if playing {
				send()
			}
		}
	}
}

// closeSource is called by the goroutine that owns the source.
func (p *preview) closeSource() {
	if p.src != nil {
		p.src.Close()
	}
	if p.clip != nil {
		p.clip.Close()
	}
}

func (p *preview) curPos() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pos
}

// apply handles play, pause and seek; a seek restarts the source at the
// keyframe at or before the wanted time.
func (p *preview) apply(c control, playing bool) bool {
	switch c.Action {
	case "pause":
		p.setState("paused", p.curPos())
		return false
	case "play":
		if p.status().State == "ended" {
			return p.reopen(0)
		}
		return true
	case "seek":
		return p.reopen(time.Duration(c.Position * float64(time.Second)))
	}
	return playing
}

func (p *preview) reopen(pos time.Duration) bool {
	src, err := p.open(max(pos, 0))
	if err != nil {
		p.log.Error("preview seek", "err", err)
		return false
	}
	p.src.Close()
	p.src = src
	p.setState("playing", pos)
	return true
}

// stop ends the session once, whatever asked first (the viewer, a dead
// connection, shutdown), and records the end in the custody chain.
func (p *preview) stop(cause string) {
	p.stopOnce.Do(func() {
		close(p.done)
		if p.pc != nil {
			p.pc.Close()
		}
		if p.release != nil {
			p.release()
		}
		p.srv.forget(p.id)
		st := p.status()
		details := p.details()
		details["cause"] = cause
		details["watched_s"] = fmt.Sprintf("%.1f", time.Since(p.started).Seconds())
		details["frames_sent"] = fmt.Sprint(st.FramesSent)
		ev := evidence.CustodyEvent{Actor: p.viewer.Actor(), Action: evidence.ActionPreviewStop, Item: p.item.Digest, Details: details}
		if _, err := p.srv.deps.Vault.Append(context.Background(), ev); err != nil {
			p.log.Error("record preview stop", "err", err)
		}
		p.log.Info("preview stopped", "cause", cause)
	})
}

func (p *preview) details() map[string]string {
	d := map[string]string{"variant": p.variant, "session": p.id, "mode": p.mode, "shown": p.shown.Digest.String()}
	if p.reason != "" {
		d["reason"] = p.reason
	}
	return d
}
