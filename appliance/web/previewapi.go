package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/edgetriage/edgetriage/appliance/auth"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/media/ffmpeg"
)

// previewRequest is the JSON form of a preview start; a bare
// application/sdp body (plain WHEP) asks for the redacted copy.
type previewRequest struct {
	Offer   string `json:"offer"`
	Variant string `json:"variant"`
	Reason  string `json:"reason"`
}

func readPreviewRequest(r *http.Request) (previewRequest, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return previewRequest{}, err
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var req previewRequest
	switch mt {
	case "application/sdp":
		req.Offer = string(body)
	case "application/json":
		if err := json.Unmarshal(body, &req); err != nil {
			return req, fmt.Errorf("preview request: %w", err)
		}
	default:
		return req, errors.New("send the SDP offer as application/sdp, or {offer, variant, reason} as application/json")
	}
	if req.Variant == "" {
		req.Variant = VariantRedacted
	}
	req.Reason = strings.TrimSpace(req.Reason)
	if strings.TrimSpace(req.Offer) == "" {
		return req, errors.New("no SDP offer")
	}
	return req, nil
}

// httpError carries the status a refusal is answered with.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

// chooseShown applies the viewing policy: the redacted copy by default;
// the original only for an investigator who gives a reason.
func (s *Server) chooseShown(it evidence.Item, viewer auth.Principal, variant, reason string) (evidence.Item, error) {
	switch variant {
	case VariantOriginal:
		if viewer.Role != auth.RoleInvestigator {
			return it, &httpError{http.StatusForbidden, "only investigators may view original footage; the redacted copy is available to you"}
		}
		if reason == "" {
			return it, &httpError{http.StatusBadRequest, "viewing the original needs a reason (case or incident reference); it is recorded in the custody chain"}
		}
		return it, nil
	case VariantRedacted:
		if it.Relation == VariantRedacted {
			return it, nil
		}
		kids, err := s.derived(it.Digest)
		if err != nil {
			return it, err
		}
		for i := len(kids) - 1; i >= 0; i-- {
			if kids[i].Relation == VariantRedacted && kids[i].Kind == evidence.KindVideo && kids[i].State == evidence.StateStored {
				return kids[i], nil
			}
		}
		msg := "no redacted copy of this item exists yet, so it cannot be previewed; only an investigator may view the original, with a reason"
		if viewer.Role == auth.RoleInvestigator {
			msg = "no redacted copy of this item exists yet; ask for the original and give a reason"
		}
		return it, &httpError{http.StatusConflict, msg}
	}
	return it, &httpError{http.StatusBadRequest, fmt.Sprintf("variant %q: want redacted or original", variant)}
}

func newID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Server) startPreview(w http.ResponseWriter, r *http.Request) {
	viewer, _ := PrincipalFrom(r.Context())
	it, ok := s.lookup(w, r)
	if !ok {
		return
	}
	req, err := readPreviewRequest(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	shown, err := s.chooseShown(it, viewer, req.Variant, req.Reason)
	var he *httpError
	if errors.As(err, &he) {
		writeError(w, he.status, he.msg)
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if shown.Kind != evidence.KindVideo {
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("item is %s, not video; only video can be previewed", shown.Kind))
		return
	}
	if shown.State != evidence.StateStored {
		writeError(w, http.StatusGone, "the bytes of this item are no longer on the appliance (removed by retention); fetch it from central storage")
		return
	}
	p, answer, err := s.newPreview(r.Context(), viewer, it, shown, req, endedWith(r.Context()))
	if errors.As(err, &he) {
		writeError(w, he.status, he.msg)
		return
	}
	if err != nil {
		s.log.Error("start preview", "item", it.Digest.Short(), "err", err)
		status := http.StatusInternalServerError
		if errors.Is(err, errBadOffer) {
			status = http.StatusBadRequest
		}
		writeError(w, status, err.Error())
		return
	}
	w.Header().Set("Location", "/api/v1/previews/"+p.id)
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("X-Preview-Mode", p.mode)
	w.Header().Set("X-Preview-Shown", p.shown.Digest.String())
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, answer)
}

// newPreview sets a session up; the start is recorded in the custody chain
// before the answer goes out, so no view can happen off the record.
func (s *Server) newPreview(ctx context.Context, viewer auth.Principal, it, shown evidence.Item, req previewRequest, ended <-chan struct{}) (*preview, string, error) {
	p := &preview{id: newID(), viewer: viewer, item: it, shown: shown, variant: req.Variant, reason: req.Reason,
		path: s.deps.Vault.ObjectPath(shown.Digest), srv: s, started: time.Now(), state: "connecting",
		connected: make(chan struct{}), ctl: make(chan control, 8), done: make(chan struct{})}
	p.log = s.log.With("preview", p.id, "viewer", viewer.Name, "item", it.Digest.Short(), "variant", req.Variant)
	if err := s.admit(); err != nil {
		return nil, "", err
	}
	answer, err := s.setUp(p, req.Offer)
	if err != nil {
		s.abandon(p)
		return nil, "", err
	}
	ev := evidence.CustodyEvent{Actor: viewer.Actor(), Action: evidence.ActionPreviewStart, Item: it.Digest, Details: p.details()}
	if _, err := s.deps.Vault.Append(ctx, ev); err != nil {
		s.abandon(p)
		return nil, "", fmt.Errorf("record preview start: %w", err)
	}
	p.log.Info("preview started", "mode", p.mode, "reason", p.reason)
	s.launch(p, ended, func() { s.previews[p.id] = p })
	return p, answer, nil
}

// viewing is a preview or a live view whose start is on the record.
type viewing interface {
	run()
	stop(cause string)
	finished() <-chan struct{}
}

// launch runs a recorded view, ends it with the viewer's login, and lists
// it (list runs under s.mu) unless the appliance is closing. Only a
// recorded view is listed, so Close never stops one whose start is not yet
// on the record.
func (s *Server) launch(v viewing, ended <-chan struct{}, list func()) {
	go v.run()
	go func() {
		select {
		case <-ended:
			v.stop("viewer's session ended")
		case <-v.finished():
		}
	}()
	s.mu.Lock()
	s.pending--
	closed := s.closed
	if !closed {
		list()
	}
	s.mu.Unlock()
	if closed {
		v.stop("appliance shutting down")
	}
}

func (p *preview) finished() <-chan struct{} { return p.done }

// admit counts a session being set up against MaxPreviews, which bounds
// previews and live views together: both cost the same to send.
func (s *Server) admit() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return &httpError{http.StatusServiceUnavailable, "the appliance is shutting down"}
	}
	if n := len(s.previews) + len(s.lives) + s.pending; n >= s.cfg.MaxPreviews {
		return &httpError{http.StatusServiceUnavailable, fmt.Sprintf("%d previews are running, the most this appliance serves; try again shortly", n)}
	}
	s.pending++
	return nil
}

// setUp picks passthrough or transcode, opens the source (so ffmpeg starts
// while ICE connects) and answers the offer.
func (s *Server) setUp(p *preview, offer string) (string, error) {
	cl, err := openClip(p.path)
	if err == nil && p.variant == VariantOriginal && s.cfg.WatermarkOriginals {
		cl.Close()
		cl, err = nil, fmt.Errorf("originals are watermarked: %w", errNeedsTranscode)
	}
	switch {
	case err == nil:
		p.clip, p.mode = cl, "passthrough"
	case errors.Is(err, errNeedsTranscode):
		p.log.Debug("transcoding preview", "why", err)
		select {
		case s.transcodes <- struct{}{}:
			p.release = func() { <-s.transcodes }
		default:
			return "", &httpError{http.StatusServiceUnavailable, "this clip needs transcoding and the appliance is already transcoding as many previews as it can; try again shortly"}
		}
		p.mode = "transcode"
	default:
		return "", err
	}
	if p.src, err = p.open(0); err != nil {
		if errors.Is(err, ffmpeg.ErrRefused) {
			return "", &httpError{http.StatusUnprocessableEntity, "this footage cannot be previewed: " + err.Error()}
		}
		return "", err
	}
	// The first frame is read now so that footage the decoder refuses is
	// a clear error to the viewer, not a black video.
	first, err := p.src.next()
	if err == io.EOF {
		err = errors.New("no video frames in it")
	}
	if err != nil {
		return "", &httpError{http.StatusUnprocessableEntity, "this footage cannot be previewed: " + err.Error()}
	}
	p.src = &peeked{source: p.src, first: &first}
	return p.negotiate(offer)
}

// peeked hands out a frame read ahead before the rest of its source.
type peeked struct {
	source
	first *frame
}

func (p *peeked) next() (frame, error) {
	if f := p.first; f != nil {
		p.first = nil
		return *f, nil
	}
	return p.source.next()
}

// abandon undoes a session that never started: no start was recorded, so
// no stop is either.
func (s *Server) abandon(p *preview) {
	if p.pc != nil {
		p.pc.Close()
	}
	p.closeSource()
	if p.release != nil {
		p.release()
	}
	s.mu.Lock()
	s.pending--
	s.mu.Unlock()
}

// ownPreview finds a session the caller may control: their own, or any
// for an admin.
func (s *Server) ownPreview(w http.ResponseWriter, r *http.Request) (*preview, bool) {
	viewer, _ := PrincipalFrom(r.Context())
	s.mu.Lock()
	p := s.previews[r.PathValue("id")]
	s.mu.Unlock()
	if p == nil || (p.viewer.Name != viewer.Name && viewer.Role != auth.RoleAdmin) {
		writeError(w, http.StatusNotFound, "no such preview session")
		return nil, false
	}
	return p, true
}

func (s *Server) previewStatus(w http.ResponseWriter, r *http.Request) {
	if p, ok := s.ownPreview(w, r); ok {
		writeJSON(w, http.StatusOK, p.status())
	}
}

func (s *Server) previewControl(w http.ResponseWriter, r *http.Request) {
	p, ok := s.ownPreview(w, r)
	if !ok {
		return
	}
	var c control
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&c); err != nil {
		writeError(w, http.StatusBadRequest, "control: "+err.Error())
		return
	}
	switch c.Action {
	case "play", "pause":
	case "seek":
		if c.Position < 0 {
			writeError(w, http.StatusBadRequest, "seek position must not be negative")
			return
		}
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("action %q: want play, pause or seek", c.Action))
		return
	}
	select {
	case p.ctl <- c:
	case <-p.done:
		writeError(w, http.StatusGone, "the preview has ended")
		return
	case <-time.After(2 * time.Second):
		writeError(w, http.StatusServiceUnavailable, "the preview is busy; try again")
		return
	}
	writeJSON(w, http.StatusAccepted, p.status())
}

func (s *Server) stopPreview(w http.ResponseWriter, r *http.Request) {
	p, ok := s.ownPreview(w, r)
	if !ok {
		return
	}
	p.stop("stopped by viewer")
	w.WriteHeader(http.StatusNoContent)
}
