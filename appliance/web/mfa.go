package web

import (
	"encoding/base64"
	"errors"
	"net/http"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/edgetriage/edgetriage/appliance/auth"
)

// Second factors, for people logging in and for their own enrolment. These
// routes also take a session whose login is not finished (see Stage).
//
//	POST /api/v1/login/code          {code}: a TOTP or recovery code finishes a login
//	POST /api/v1/me/totp             a new TOTP secret to enrol: {secret, otpauth_url, qr}
//	POST /api/v1/me/totp/confirm     {code} from the new secret: enrolled; {recovery_codes} shown once
func (s *Server) mfaRoutes(m *http.ServeMux) {
	m.HandleFunc("POST /api/v1/login/code", s.guard(loggingIn, s.loginCode))
	m.HandleFunc("POST /api/v1/me/totp", s.guard(loggingIn, s.beginTOTP))
	m.HandleFunc("POST /api/v1/me/totp/confirm", s.guard(loggingIn, s.confirmTOTP))
	s.webauthnRoutes(m)
}

// ownSession is the caller's browser session, in one of the given stages.
func ownSession(w http.ResponseWriter, r *http.Request, stages ...auth.Stage) (*auth.Session, bool) {
	sess := sessionFrom(r.Context())
	if sess == nil {
		writeError(w, http.StatusForbidden, "only a person logged in with a browser session can do this")
		return nil, false
	}
	for _, st := range stages {
		if sess.Stage == st {
			return sess, true
		}
	}
	msg := "finish logging in first: " + stageHint(sess.Stage)
	if sess.Stage == auth.StageFull {
		msg = "this login is complete already"
	}
	writeJSON(w, http.StatusConflict, map[string]string{"stage": string(sess.Stage), "error": msg})
	return nil, false
}

func (s *Server) loginCode(w http.ResponseWriter, r *http.Request) {
	sess, ok := ownSession(w, r, auth.StageSecondFactor)
	if !ok {
		return
	}
	var req struct {
		Code string `json:"code"`
	}
	if err := readBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.secondFactor(w, r, sess, req.Code)
}

// secondFactor finishes a pending login with a code and gives the browser
// the full session's cookies.
func (s *Server) secondFactor(w http.ResponseWriter, r *http.Request, pending *auth.Session, code string) {
	full, err := s.auth.SecondFactor(r.Context(), pending, code, r.RemoteAddr)
	if err != nil {
		s.refuseSecondStep(w, err)
		return
	}
	auth.SetCookies(w, r, full)
	writeJSON(w, http.StatusOK, s.meBody(r, full.Principal, full))
}

func (s *Server) refuseSecondStep(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, auth.ErrRateLimited), errors.Is(err, auth.ErrLocked):
		w.Header().Set("Retry-After", "30")
		writeError(w, http.StatusTooManyRequests, err.Error())
	case errors.Is(err, auth.ErrBadCode), errors.Is(err, auth.ErrLoginEnded), errors.Is(err, auth.ErrDisabled):
		writeError(w, http.StatusUnauthorized, err.Error())
	default:
		s.log.Error("second factor", "err", err)
		writeError(w, http.StatusInternalServerError, "login failed on the appliance; see its log")
	}
}

// beginTOTP starts an enrolment for the caller's own account: during a
// login that must enrol, or from a complete login (a new phone). A login
// waiting for its second factor cannot add another.
func (s *Server) beginTOTP(w http.ResponseWriter, r *http.Request) {
	sess, ok := ownSession(w, r, auth.StageEnrol, auth.StageFull)
	if !ok {
		return
	}
	enr, err := s.auth.BeginTOTP(r.Context(), sess.Name)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"secret": enr.Secret, "otpauth_url": enr.URL,
		"qr": "data:image/png;base64," + base64.StdEncoding.EncodeToString(enr.QRPNG)})
}

// confirmTOTP finishes the enrolment with a code from the new secret; a
// login that had to enrol becomes a complete one, with new cookies.
func (s *Server) confirmTOTP(w http.ResponseWriter, r *http.Request) {
	sess, ok := ownSession(w, r, auth.StageEnrol, auth.StageFull)
	if !ok {
		return
	}
	var req struct {
		Code string `json:"code"`
	}
	if err := readBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	codes, err := s.auth.ConfirmTOTP(r.Context(), sess.Actor(), sess.Name, req.Code)
	switch {
	case errors.Is(err, auth.ErrBadCode), errors.Is(err, auth.ErrNoPendingTOTP):
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.factorAdded(w, r, sess, codes)
}

// WebAuthn, where the browser offers it and the dashboard is reached by a
// host name (see auth.RelyingParty):
//
//	POST /api/v1/me/webauthn/register          a credential creation request for the caller's account
//	POST /api/v1/me/webauthn/register/finish?name=KEY   the browser's new credential: enrolled
//	POST /api/v1/login/webauthn                a challenge for a login waiting for its second factor
//	POST /api/v1/login/webauthn/finish         the signed challenge: logged in
func (s *Server) webauthnRoutes(m *http.ServeMux) {
	m.HandleFunc("POST /api/v1/me/webauthn/register", s.guard(loggingIn, s.beginKeyRegistration))
	m.HandleFunc("POST /api/v1/me/webauthn/register/finish", s.guard(loggingIn, s.finishKeyRegistration))
	m.HandleFunc("POST /api/v1/login/webauthn", s.guard(loggingIn, s.beginKeyLogin))
	m.HandleFunc("POST /api/v1/login/webauthn/finish", s.guard(loggingIn, s.finishKeyLogin))
}

// requestOrigin is the origin the browser reached the dashboard at.
func requestOrigin(r *http.Request) string {
	if r.TLS != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

func (s *Server) relyingParty(w http.ResponseWriter, r *http.Request) (*webauthn.WebAuthn, bool) {
	rp, err := auth.RelyingParty(requestOrigin(r))
	if err != nil {
		writeError(w, http.StatusConflict, err.Error())
		return nil, false
	}
	return rp, true
}

func (s *Server) beginKeyRegistration(w http.ResponseWriter, r *http.Request) {
	sess, ok := ownSession(w, r, auth.StageEnrol, auth.StageFull)
	if !ok {
		return
	}
	rp, ok := s.relyingParty(w, r)
	if !ok {
		return
	}
	creation, err := s.auth.BeginKeyRegistration(r.Context(), sess, rp)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, creation)
}

func (s *Server) finishKeyRegistration(w http.ResponseWriter, r *http.Request) {
	sess, ok := ownSession(w, r, auth.StageEnrol, auth.StageFull)
	if !ok {
		return
	}
	rp, ok := s.relyingParty(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	codes, err := s.auth.FinishKeyRegistration(r.Context(), sess.Actor(), sess, rp, r, r.URL.Query().Get("name"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.factorAdded(w, r, sess, codes)
}

func (s *Server) beginKeyLogin(w http.ResponseWriter, r *http.Request) {
	sess, ok := ownSession(w, r, auth.StageSecondFactor)
	if !ok {
		return
	}
	rp, ok := s.relyingParty(w, r)
	if !ok {
		return
	}
	assertion, err := s.auth.BeginKeyLogin(sess, rp)
	if err != nil {
		s.refuseSecondStep(w, err)
		return
	}
	writeJSON(w, http.StatusOK, assertion)
}

func (s *Server) finishKeyLogin(w http.ResponseWriter, r *http.Request) {
	sess, ok := ownSession(w, r, auth.StageSecondFactor)
	if !ok {
		return
	}
	rp, ok := s.relyingParty(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	full, err := s.auth.FinishKeyLogin(r.Context(), sess, rp, r, r.RemoteAddr)
	if err != nil {
		s.refuseSecondStep(w, err)
		return
	}
	auth.SetCookies(w, r, full)
	writeJSON(w, http.StatusOK, s.meBody(r, full.Principal, full))
}

// factorAdded answers a second factor's enrolment with its recovery codes;
// a login that was waiting for it becomes a full session.
func (s *Server) factorAdded(w http.ResponseWriter, r *http.Request, sess *auth.Session, codes []string) {
	body := map[string]any{"recovery_codes": codes}
	if sess.Stage == auth.StageEnrol {
		full, err := s.auth.CompleteEnrolment(r.Context(), sess, r.RemoteAddr)
		if err != nil {
			s.refuseSecondStep(w, err)
			return
		}
		auth.SetCookies(w, r, full)
		sess = full
	}
	body["me"] = s.meBody(r, sess.Principal, sess)
	writeJSON(w, http.StatusOK, body)
}
