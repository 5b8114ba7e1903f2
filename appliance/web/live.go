package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/edgetriage/edgetriage/appliance/auth"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/capture/live"
)

// LiveCameras is the cameras' live streams; capture/live.Hubs in the
// daemon.
type LiveCameras interface {
	// Has says whether a camera of that id is configured.
	Has(camera string) bool
	// Join adds a viewer of camera once its stream plays.
	Join(ctx context.Context, camera string) (*live.Viewer, error)
}

// maxOffer bounds a WHEP offer; a browser's is a few kilobytes.
const maxOffer = 64 << 10

// liveView is one person's WebRTC view of one camera's live stream.
type liveView struct {
	id      string
	camera  string
	viewer  auth.Principal
	in      *live.Viewer
	srv     *Server
	log     *slog.Logger
	started time.Time

	pc    *webrtc.PeerConnection
	track *webrtc.TrackLocalStaticSample

	connected  chan struct{}
	done       chan struct{}
	stopOnce   sync.Once
	framesSent atomic.Int64
}

// readLiveOffer takes a WHEP request's SDP offer and checks that it can
// receive H.264 video, the only thing a live view sends.
func readLiveOffer(contentType string, body io.Reader) (string, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/sdp" {
		return "", &httpError{http.StatusUnsupportedMediaType, fmt.Sprintf("send the SDP offer as application/sdp (got content type %q)", contentType)}
	}
	raw, err := io.ReadAll(io.LimitReader(body, maxOffer+1))
	if err != nil {
		return "", &httpError{http.StatusBadRequest, "read offer: " + err.Error()}
	}
	if len(raw) > maxOffer {
		return "", &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("SDP offer is over %d bytes", maxOffer)}
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(string(raw)); err != nil {
		return "", &httpError{http.StatusBadRequest, "SDP offer: " + err.Error()}
	}
	if !offersH264(&sd) {
		return "", &httpError{http.StatusBadRequest, "the SDP offer receives no H.264 video; live view sends the camera's H.264 as it is"}
	}
	return string(raw), nil
}

func offersH264(sd *sdp.SessionDescription) bool {
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "video" {
			continue
		}
		for _, a := range md.Attributes {
			if a.Key == "rtpmap" && strings.Contains(strings.ToUpper(a.Value), " H264/90000") {
				return true
			}
		}
	}
	return false
}

func (s *Server) startLive(w http.ResponseWriter, r *http.Request) {
	viewer, _ := PrincipalFrom(r.Context())
	camera := r.PathValue("source")
	offer, err := readLiveOffer(r.Header.Get("Content-Type"), r.Body)
	var he *httpError
	if errors.As(err, &he) {
		writeError(w, he.status, he.msg)
		return
	}
	if s.deps.Live == nil || !s.deps.Live.Has(camera) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no camera %q is configured", camera))
		return
	}
	lv, answer, err := s.newLiveView(r.Context(), viewer, camera, offer, endedWith(r.Context()))
	if errors.As(err, &he) {
		writeError(w, he.status, he.msg)
		return
	}
	if err != nil {
		s.log.Error("start live view", "camera", camera, "err", err)
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Location", "/api/v1/cameras/"+camera+"/whep/"+lv.id)
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("X-Live-Stream", lv.in.Stream())
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, answer)
}

// newLiveView joins the camera's stream, answers the offer and records
// the start before the answer goes out, so no view happens off the record.
func (s *Server) newLiveView(ctx context.Context, viewer auth.Principal, camera, offer string, ended <-chan struct{}) (*liveView, string, error) {
	if err := s.admit(); err != nil {
		return nil, "", err
	}
	lv := &liveView{id: newID(), camera: camera, viewer: viewer, srv: s, started: time.Now(),
		connected: make(chan struct{}), done: make(chan struct{})}
	lv.log = s.log.With("live", lv.id, "viewer", viewer.Name, "camera", camera)
	answer, err := lv.setUp(ctx, offer)
	if err != nil {
		lv.abandon()
		return nil, "", err
	}
	ev := evidence.CustodyEvent{Actor: viewer.Actor(), Action: evidence.ActionLiveViewStart, Details: lv.details()}
	if _, err := s.deps.Vault.Append(ctx, ev); err != nil {
		lv.abandon()
		return nil, "", fmt.Errorf("record live view start: %w", err)
	}
	lv.log.Info("live view started", "stream", lv.in.Stream())
	s.launch(lv, ended, func() { s.lives[lv.id] = lv })
	return lv, answer, nil
}

func (lv *liveView) finished() <-chan struct{} { return lv.done }

func (lv *liveView) setUp(ctx context.Context, offer string) (string, error) {
	joinCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	in, err := lv.srv.deps.Live.Join(joinCtx, lv.camera)
	switch {
	case errors.Is(err, live.ErrUnknownCamera):
		return "", &httpError{http.StatusNotFound, err.Error()}
	case errors.Is(err, live.ErrNotPlayable):
		return "", &httpError{http.StatusUnprocessableEntity, err.Error()}
	case errors.Is(err, live.ErrClosed):
		return "", &httpError{http.StatusServiceUnavailable, "live view of this camera is closing; try again"}
	case err != nil:
		return "", &httpError{http.StatusBadGateway, "the camera cannot be reached: " + err.Error()}
	}
	lv.in = in
	pc, track, answer, err := lv.srv.rtc.sendH264(offer, "edgetriage-live-"+lv.id, lv.onState)
	lv.pc, lv.track = pc, track
	if errors.Is(err, errBadOffer) {
		return "", &httpError{http.StatusBadRequest, err.Error()}
	}
	return answer, err
}

func (lv *liveView) onState(st webrtc.PeerConnectionState) {
	lv.log.Debug("live connection", "state", st.String())
	switch st {
	case webrtc.PeerConnectionStateConnected:
		select {
		case <-lv.connected:
		default:
			close(lv.connected)
		}
	case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed, webrtc.PeerConnectionStateDisconnected:
		go lv.stop("connection " + st.String())
	}
}

// abandon undoes a view that never started: no start was recorded, so no
// stop is either.
func (lv *liveView) abandon() {
	if lv.pc != nil {
		lv.pc.Close()
	}
	if lv.in != nil {
		lv.in.Leave()
	}
	lv.srv.mu.Lock()
	lv.srv.pending--
	lv.srv.mu.Unlock()
}

// defaultFrameGap times a frame whose gap to the one before is unknown
// (the first) or nonsense (the camera's clock jumped, or it reconnected).
const defaultFrameGap = 40 * time.Millisecond

// run sends the camera's access units as they arrive. The frames a viewer
// gets on joining (the current group of pictures) are already in the past:
// they go out a millisecond apart, so the browser decodes up to now at once
// instead of replaying the last seconds.
func (lv *liveView) run() {
	select {
	case <-lv.connected:
	case <-lv.done:
		return
	case <-time.After(20 * time.Second):
		lv.stop("browser never connected")
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-lv.done
		cancel()
	}()
	var prev time.Duration
	first := true
	for {
		au, err := lv.in.Next(ctx)
		if err != nil {
			if ctx.Err() == nil {
				lv.stop("camera's live stream closed")
			}
			return
		}
		gap := au.PTS - prev
		switch {
		case au.Cached:
			gap = time.Millisecond
		case first || gap <= 0 || gap > time.Second:
			gap = defaultFrameGap
		}
		first, prev = false, au.PTS
		data, err := h264.AnnexB(au.NALUs).Marshal()
		if err != nil {
			lv.log.Warn("live access unit", "err", err)
			continue
		}
		if err := lv.track.WriteSample(media.Sample{Data: data, Duration: gap}); err != nil && !errors.Is(err, io.ErrClosedPipe) {
			lv.log.Warn("live write", "err", err)
		}
		lv.framesSent.Add(1)
	}
}

// stop ends the view once, whatever asked first (the viewer, a dead
// connection, logout, shutdown), and records the end in the custody chain.
func (lv *liveView) stop(cause string) {
	lv.stopOnce.Do(func() {
		close(lv.done)
		if lv.pc != nil {
			lv.pc.Close()
		}
		lv.in.Leave()
		lv.srv.mu.Lock()
		delete(lv.srv.lives, lv.id)
		lv.srv.mu.Unlock()
		details := lv.details()
		details["cause"] = cause
		details["watched_s"] = fmt.Sprintf("%.1f", time.Since(lv.started).Seconds())
		details["frames_sent"] = fmt.Sprint(lv.framesSent.Load())
		details["frames_skipped"] = fmt.Sprint(lv.in.Dropped())
		ev := evidence.CustodyEvent{Actor: lv.viewer.Actor(), Action: evidence.ActionLiveViewStop, Details: details}
		if _, err := lv.srv.deps.Vault.Append(context.Background(), ev); err != nil {
			lv.log.Error("record live view stop", "err", err)
		}
		lv.log.Info("live view stopped", "cause", cause)
	})
}

func (lv *liveView) details() map[string]string {
	return map[string]string{"camera": lv.camera, "session": lv.id, "stream": lv.in.Stream()}
}

// stopLive ends a live view: the caller's own, or any for an admin.
func (s *Server) stopLive(w http.ResponseWriter, r *http.Request) {
	viewer, _ := PrincipalFrom(r.Context())
	s.mu.Lock()
	lv := s.lives[r.PathValue("id")]
	s.mu.Unlock()
	if lv == nil || lv.camera != r.PathValue("source") || (lv.viewer.Name != viewer.Name && viewer.Role != auth.RoleAdmin) {
		writeError(w, http.StatusNotFound, "no such live view")
		return
	}
	lv.stop("stopped by viewer")
	w.WriteHeader(http.StatusNoContent)
}
