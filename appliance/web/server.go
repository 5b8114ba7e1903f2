// Package web serves the station dashboard (embedded files at /), the JSON
// API under /api/v1/, live updates over server-sent events, evidence
// previews over WebRTC, and cameras' live views over WebRTC (WHEP, live.go).
// Every API route needs a session cookie or a bearer token; roles decide
// what each caller may do, and every preview and live view is a custody
// event.
//
// Routes (P = admin, staff, investigator; C = central token; I = admin,
// investigator). State changes need the X-CSRF-Token header with a session.
//
//	POST   /api/v1/login                    {user,password} -> cookies   (no auth)
//	POST   /api/v1/logout                   P C
//	GET    /api/v1/me                       P C
//	GET    /api/v1/items?q&source&officer&from&to&flag&hold&derived&limit   P C
//	GET    /api/v1/items/{digest}           P C  record, custody events, derived items, reviews
//	GET    /api/v1/items/{digest}/thumbnail P    bytes of a thumbnail item only (of an original: I only); first view a day is a custody event
//	POST   /api/v1/items/{digest}/export    I    {reason}: investigators only; Deps.Export, or 501
//	POST   /api/v1/items/{digest}/signoff   I    {note}: review-signed-off on a redacted copy, once its review queue is resolved
//	GET    /api/v1/items/{digest}/review    P    review queue, speech map and pending entries of the (latest) redacted copy
//	POST   /api/v1/items/{digest}/preview   P    application/sdp offer, or {offer,variant,reason};
//	                                             201 application/sdp answer, Location
//	GET    /api/v1/previews/{id}            P    state, position (own session; admin any)
//	POST   /api/v1/previews/{id}/control    P    {action: play|pause|seek, position}
//	DELETE /api/v1/previews/{id}            P    stop
//	POST   /api/v1/cameras/{source}/whep    P    WHEP: application/sdp offer -> 201 application/sdp
//	                                             answer, Location of the live view; camera id as {source}
//	DELETE /api/v1/cameras/{source}/whep/{id}  P  end the live view (own; admin any)
//	GET    /api/v1/status                   P    dock, cameras, sync, alarms (null: not configured)
//	GET    /api/v1/events                   P    SSE: "status" snapshots, "custody" events
//	GET    /api/v1/items/{digest}/redaction-edits  P   manual redaction edits of a master
//	PUT    /api/v1/items/{digest}/redaction-edits  I   replace them (JSON array); a new copy is rendered
//	POST   /api/v1/devices/{source}/assign  P    {officer, camera}: an unidentified device's items get them
//	GET    /api/v1/central/changes?after&limit      T   items whose record changed after custody event SEQ
//	GET    /api/v1/central/items/{digest}           T   the item record
//	GET    /api/v1/central/items/{digest}/manifest  T   the signed manifest
//	GET    /api/v1/central/items/{digest}/content   T   the bytes; Range supported
//	GET    /api/v1/central/items/{digest}/events    T   the item's custody events
//	POST   /api/v1/central/items/{digest}/challenge T   a fresh challenge for an ack (handover)
//	POST   /api/v1/central/items/{digest}/ack       T   {challenge, proof, manifest_sha256}: a signed receipt
//	GET    /healthz                         (no auth) the process is alive
//	GET    /readyz                          (no auth) 200 while serving, 503 while starting or stopping
//	GET    /metrics                         Deps.Metrics (its own bearer token), when set
//
// T is a central client's bearer token only: no session, no other role.
// Second-factor routes are listed in mfa.go, the admin API (accounts, tokens,
// sessions, holds, categories) in admin.go.
package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"

	"golang.org/x/mod/sumdb/note"

	"github.com/edgetriage/edgetriage/appliance/auth"
	"github.com/edgetriage/edgetriage/appliance/handover"
	"github.com/edgetriage/edgetriage/appliance/status"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

// DockReporter reports the dock bays.
type DockReporter interface{ DockStatus() []status.DockBay }

// CameraReporter reports the RTSP cameras.
type CameraReporter interface{ CameraStatus() []status.Camera }

// SyncReporter reports the sync outbox.
type SyncReporter interface{ SyncStatus() *status.Sync }

// HealthReporter reports current alarms.
type HealthReporter interface{ Alarms() []status.Alarm }

// Config is how the web part runs; the zero value plus a Vault works on
// loopback.
type Config struct {
	// ICEAddr is the one UDP address every WebRTC preview uses
	// ("127.0.0.1:0" when empty: loopback only, port chosen by the kernel).
	ICEAddr string
	// PublicIPs are advertised as host candidates instead of the socket's
	// own address, for a station where the appliance sits behind NAT.
	PublicIPs []string
	// FFmpeg is the ffmpeg binary for transcoded previews ("ffmpeg").
	FFmpeg string
	// MaxPreviews bounds concurrent previews and live views together
	// (32); MaxTranscodes bounds the
	// ones that need ffmpeg (2, one per core of the station box).
	MaxPreviews   int
	MaxTranscodes int
	// WatermarkOriginals transcodes every preview of an original, even one
	// that could be passed through, so the viewer's name is burned into
	// all original footage shown (at the cost of CPU per view).
	WatermarkOriginals bool
	// Witnesses are the pinned keys (C2SP tlog-cosignature vkeys) of the
	// witnesses whose cosignatures of the custody log are kept.
	Witnesses []string
	// Auth tunes lockout and sessions when Deps.Auth is nil.
	Auth   auth.Options
	Logger *slog.Logger
}

// Deps are the appliance's parts the web server shows. Only Vault is
// required; a nil reporter is shown on the dashboard as "not configured".
type Deps struct {
	Vault *vault.Vault
	// Auth is the account service; nil makes one over Vault.State("auth").
	Auth    *auth.Service
	Dock    DockReporter
	Cameras CameraReporter
	Sync    SyncReporter
	Health  HealthReporter
	// Export, when set, serves POST /api/v1/items/{digest}/export for
	// investigators and admins (after authentication, role and CSRF
	// checks); the principal is in the request context (PrincipalFrom).
	Export http.Handler
	// Edits keeps manual redaction edits; nil answers 501.
	Edits RedactionEdits
	// Categories lists the item categories the station's retention knows
	// (retention.categories); nil or empty accepts any well-formed name.
	Categories func() []string
	// Ready says whether the daemon is serving, for /readyz; nil: always.
	Ready func() bool
	// Metrics, when set, serves GET /metrics (it checks its own token).
	Metrics http.Handler
	// Live is the cameras' live streams; nil: no camera can be watched live.
	Live LiveCameras
}

// Server is the web part of a running appliance.
type Server struct {
	cfg    Config
	deps   Deps
	auth   *auth.Service
	log    *slog.Logger
	rtc    *rtcEngine
	tmpDir string
	mux    *http.ServeMux

	witnesses      []note.Verifier
	thumbnailsSeen thumbnailsSeen
	transcodes     chan struct{}
	quit           chan struct{} // closed by Close: ends event streams
	mu             sync.Mutex
	previews       map[string]*preview  // recorded, running sessions
	lives          map[string]*liveView // recorded, running live views
	pending        int                  // sessions being set up, counted against MaxPreviews
	closed         bool
}

// New makes the server and opens the shared WebRTC UDP socket. Close it
// before closing the vault: ending previews writes custody events.
func New(cfg Config, deps Deps) (*Server, error) {
	if deps.Vault == nil {
		return nil, errors.New("web: Deps.Vault is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ICEAddr == "" {
		cfg.ICEAddr = "127.0.0.1:0"
	}
	if cfg.FFmpeg == "" {
		cfg.FFmpeg = "ffmpeg"
	}
	if cfg.MaxPreviews == 0 {
		cfg.MaxPreviews = 32
	}
	if cfg.MaxTranscodes == 0 {
		cfg.MaxTranscodes = 2
	}
	witnesses, err := witnessList(cfg.Witnesses)
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	a := deps.Auth
	if a == nil {
		opts := cfg.Auth
		if opts.Logger == nil {
			opts.Logger = cfg.Logger
		}
		a = auth.New(deps.Vault.State("auth"), deps.Vault, opts)
	}
	rtc, err := newRTCEngine(cfg.ICEAddr, cfg.PublicIPs)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "edgetriage-web-*")
	if err != nil {
		rtc.Close()
		return nil, fmt.Errorf("web: temp dir: %w", err)
	}
	s := &Server{cfg: cfg, deps: deps, auth: a, log: cfg.Logger, rtc: rtc, tmpDir: tmp, witnesses: witnesses,
		transcodes: make(chan struct{}, cfg.MaxTranscodes), quit: make(chan struct{}), previews: map[string]*preview{},
		lives: map[string]*liveView{}}
	s.mux = s.routes()
	return s, nil
}

// Handler serves the dashboard at / and the API under /api/v1/. The daemon
// keeps /healthz and /readyz on its own mux; more specific patterns win.
func (s *Server) Handler() http.Handler { return s.mux }

// Auth is the account service in use.
func (s *Server) Auth() *auth.Service { return s.auth }

// ICEAddr is the UDP address previews use.
func (s *Server) ICEAddr() net.Addr { return s.rtc.Addr() }

// Close ends every preview and live view (each leaves its stop event) and every event
// stream, and releases the UDP socket. Calling it twice is harmless. Event
// streams never go idle, so http.Server.Shutdown waits for them: register
// Close with Server.RegisterOnShutdown, or call it before Shutdown.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.quit)
	open := make([]*preview, 0, len(s.previews))
	for _, p := range s.previews {
		open = append(open, p)
	}
	lives := make([]*liveView, 0, len(s.lives))
	for _, lv := range s.lives {
		lives = append(lives, lv)
	}
	s.mu.Unlock()
	for _, p := range open {
		p.stop("appliance shutting down")
	}
	for _, lv := range lives {
		lv.stop("appliance shutting down")
	}
	err := s.rtc.Close()
	os.RemoveAll(s.tmpDir)
	return err
}

func (s *Server) forget(id string) {
	s.mu.Lock()
	delete(s.previews, id)
	s.mu.Unlock()
}

type (
	ctxKey        struct{}
	ctxSessionKey struct{}
)

// PrincipalFrom returns who an authenticated API request acts for.
func PrincipalFrom(ctx context.Context) (auth.Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(auth.Principal)
	return p, ok
}

// sessionFrom is the browser session a request came with; nil for a
// bearer token or the console.
func sessionFrom(ctx context.Context) *auth.Session {
	sess, _ := ctx.Value(ctxSessionKey{}).(*auth.Session)
	return sess
}

// endedWith is closed when the request's session ends; nil (never) for
// callers without one.
func endedWith(ctx context.Context) <-chan struct{} {
	if sess := sessionFrom(ctx); sess != nil {
		return sess.Done()
	}
	return nil
}

// audience is who may call a route. Central clients see items but not the
// dashboard's live feeds or previews.
type audience int

const (
	people         audience = iota // admin, staff, investigator
	anyone                         // people and central clients
	investigators                  // admin, investigator
	centralClients                 // central clients' bearer tokens only
	admins                         // admin only
	loggingIn                      // anyone, also a login still waiting for its second factor
)

func (a audience) admits(r auth.Role) bool {
	switch a {
	case centralClients:
		return r == auth.RoleCentral
	case admins:
		return r == auth.RoleAdmin
	case loggingIn:
		return true
	}
	switch r {
	case auth.RoleAdmin, auth.RoleInvestigator:
		return true
	case auth.RoleStaff:
		return a != investigators
	case auth.RoleCentral:
		return a == anyone
	}
	return false
}

func isStateChange(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// guard authenticates, checks the role, and on state changes checks the
// CSRF token and that the request did not come from another site.
func (s *Server) guard(who audience, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, sess, ok := s.auth.Authenticate(r)
		if who == centralClients && (!ok || sess != nil || p.Role != auth.RoleCentral) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="edgetriage central"`)
			writeError(w, http.StatusUnauthorized, "a central client token is required")
			return
		}
		if !ok {
			writeError(w, http.StatusUnauthorized, "log in first (session cookie or bearer token required)")
			return
		}
		if sess != nil && sess.Stage != auth.StageFull && who != loggingIn {
			writeJSON(w, http.StatusForbidden, map[string]string{"stage": string(sess.Stage),
				"error": "finish logging in first: " + stageHint(sess.Stage)})
			return
		}
		if !who.admits(p.Role) {
			writeError(w, http.StatusForbidden, fmt.Sprintf("role %s may not do this", p.Role))
			return
		}
		if isStateChange(r.Method) {
			if err := checkOrigin(r); err != nil {
				writeError(w, http.StatusForbidden, err.Error())
				return
			}
			if err := auth.CheckCSRF(r, sess); err != nil {
				writeError(w, http.StatusForbidden, err.Error())
				return
			}
		}
		ctx := context.WithValue(r.Context(), ctxKey{}, p)
		if sess != nil {
			ctx = context.WithValue(ctx, ctxSessionKey{}, sess)
		}
		h(w, r.WithContext(ctx))
	}
}

func stageHint(st auth.Stage) string {
	if st == auth.StageEnrol {
		return "your role needs a second factor; enrol one (an authenticator app or a security key)"
	}
	return "give the code from your authenticator app, a recovery code, or use your security key"
}

// checkOrigin refuses a state change whose Origin names another host; a
// missing Origin (non-browser clients) is left to the CSRF token.
func checkOrigin(r *http.Request) error {
	o := r.Header.Get("Origin")
	if o == "" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || u.Host != r.Host {
		return fmt.Errorf("cross-site request from %q refused", o)
	}
	return nil
}

func (s *Server) routes() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("POST /api/v1/login", s.login)
	m.HandleFunc("POST /api/v1/logout", s.guard(loggingIn, s.logout))
	m.HandleFunc("GET /api/v1/me", s.guard(loggingIn, s.me))
	s.mfaRoutes(m)
	s.adminRoutes(m)
	m.HandleFunc("GET /api/v1/items", s.guard(anyone, s.listItems))
	m.HandleFunc("GET /api/v1/items/{digest}", s.guard(anyone, s.itemDetail))
	m.HandleFunc("GET /api/v1/items/{digest}/thumbnail", s.guard(people, s.thumbnail))
	m.HandleFunc("POST /api/v1/items/{digest}/export", s.guard(investigators, s.export))
	m.HandleFunc("POST /api/v1/items/{digest}/signoff", s.guard(investigators, s.signOff))
	m.HandleFunc("GET /api/v1/items/{digest}/review", s.guard(people, s.reviewOf))
	m.HandleFunc("POST /api/v1/items/{digest}/preview", s.guard(people, s.startPreview))
	m.HandleFunc("GET /api/v1/previews/{id}", s.guard(people, s.previewStatus))
	m.HandleFunc("POST /api/v1/previews/{id}/control", s.guard(people, s.previewControl))
	m.HandleFunc("DELETE /api/v1/previews/{id}", s.guard(people, s.stopPreview))
	m.HandleFunc("POST /api/v1/cameras/{source}/whep", s.guard(people, s.startLive))
	m.HandleFunc("DELETE /api/v1/cameras/{source}/whep/{id}", s.guard(people, s.stopLive))
	m.HandleFunc("GET /api/v1/status", s.guard(people, s.status))
	m.HandleFunc("GET /api/v1/events", s.guard(people, s.events))
	m.HandleFunc("GET /api/v1/items/{digest}/redaction-edits", s.guard(people, s.redactionEdits))
	m.HandleFunc("PUT /api/v1/items/{digest}/redaction-edits", s.guard(investigators, s.putRedactionEdits))
	m.HandleFunc("POST /api/v1/devices/{source}/assign", s.guard(people, s.assignDevice))
	(&centralAPI{vault: s.deps.Vault, desk: handover.New(s.deps.Vault, s.deps.Vault.State("handover"), nil), witnesses: s.witnesses,
		log: s.log}).register(m, s.guard)
	m.HandleFunc("GET /healthz", s.healthz)
	m.HandleFunc("GET /readyz", s.readyz)
	if s.deps.Metrics != nil {
		m.Handle("GET /metrics", s.deps.Metrics)
	}
	// Anything else under the API is refused the same way before it is
	// found missing, so the route list cannot be probed without a login.
	m.HandleFunc("/api/v1/", s.guard(anyone, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API route")
	}))
	m.Handle("/", staticHandler())
	return m
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// healthz answers without authentication: it says only that the process is
// alive, so monitoring can reach it and it reveals nothing.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz says whether the daemon is serving: the vault is open and intake
// running. It is 503 while starting and while shutting down.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if s.deps.Ready != nil && !s.deps.Ready() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
