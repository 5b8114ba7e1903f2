package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// Cookie and header names shared with the dashboard's script.
const (
	SessionCookie = "et_session"
	CSRFCookie    = "et_csrf"
	CSRFHeader    = "X-CSRF-Token"
)

// Login checks a password and opens a session. remote is the client
// address: attempts are throttled per address and per address and name,
// successes are custody events, failures are summed into one event per
// address a minute (see throttle.go).
func (s *Service) Login(ctx context.Context, name, password, remote string) (*Session, error) {
	host, now := hostOf(remote), s.opt.Now()
	name = evidence.TruncateText(name, 128)
	if err := s.admit(host, name, now); err != nil {
		outcome := "rate-limited"
		if errors.Is(err, ErrLocked) {
			outcome = "locked"
		}
		s.noteFailure(host, name, outcome, now)
		return nil, err
	}
	u, outcome, err := s.checkLogin(name, password)
	s.noteOutcome(host, name, err == nil, now)
	if err != nil {
		// Logged with the summary, not one line each: a flood must not
		// fill the disk through the log either.
		s.noteFailure(host, name, outcome, now)
		return nil, err
	}
	s.recordSuccess(ctx, u.Name, remote)
	sess := &Session{Principal: Principal{Name: u.Name, Role: u.Role}, Token: randomToken(), CSRF: randomToken(),
		Created: now, Expires: now.Add(s.opt.SessionTTL), lastSeen: now, done: make(chan struct{})}
	s.mu.Lock()
	s.sweepLocked(now)
	s.sessions[sess.Token] = sess
	s.mu.Unlock()
	return sess, nil
}

// checkLogin returns the account and the outcome word for the audit. An
// unknown name and a wrong password get the same answer and cost the same
// time, so names cannot be probed.
func (s *Service) checkLogin(name, password string) (User, string, error) {
	u, err := s.load(name)
	if errors.Is(err, ErrNoUser) {
		s.burnHash(password)
		return User{}, "failure", ErrBadCredentials
	}
	if err != nil {
		return User{}, "error", err
	}
	ok, err := checkPassword(u.Hash, password)
	switch {
	case err != nil:
		return User{}, "error", err
	case !ok:
		return User{}, "failure", ErrBadCredentials
	case u.Disabled:
		return User{}, "disabled", ErrDisabled
	}
	return u, "success", nil
}

func (s *Service) burnHash(password string) {
	s.mu.Lock()
	if s.dummy == "" {
		s.dummy, _ = hashPassword(randomToken())
	}
	d := s.dummy
	s.mu.Unlock()
	checkPassword(d, password)
}

func (s *Service) recordSuccess(ctx context.Context, name, remote string) {
	s.opt.Logger.Info("login", "user", name, "result", "success", "remote", remote)
	if s.audit == nil {
		return
	}
	ev := evidence.CustodyEvent{Actor: evidence.Actor("user:" + name), Action: evidence.ActionLogin,
		Details: map[string]string{"result": "success", "remote": remote}}
	if _, err := s.audit.Append(ctx, ev); err != nil {
		s.opt.Logger.Error("record login in custody chain", "user", name, "err", err)
	}
}

// sweepLocked forgets sessions that ended unnoticed (tabs closed without
// logging out), so the table stays the size of the live ones.
func (s *Service) sweepLocked(now time.Time) {
	for tok, sess := range s.sessions {
		if now.After(sess.Expires) || now.Sub(sess.lastSeen) > s.opt.IdleTTL {
			s.endLocked(tok)
		}
	}
}

// endLocked forgets a session and tells whatever it holds open (event
// streams, previews) to stop.
func (s *Service) endLocked(token string) {
	if sess, ok := s.sessions[token]; ok {
		delete(s.sessions, token)
		close(sess.done)
	}
}

// Logout ends a session.
func (s *Service) Logout(token string) {
	s.mu.Lock()
	s.endLocked(token)
	s.mu.Unlock()
}

func (s *Service) endSessionsOf(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok, sess := range s.sessions {
		if sess.Name == name {
			s.endLocked(tok)
		}
	}
}

// forgetGuesses lifts every address's lockout of name (a password reset).
func (s *Service) forgetGuesses(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.guesses {
		if k.name == name {
			delete(s.guesses, k)
		}
	}
}

// Session returns the live session of token and marks it used.
func (s *Service) Session(token string) (*Session, bool) {
	now := s.opt.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[token]
	if !ok {
		return nil, false
	}
	if now.After(sess.Expires) || now.Sub(sess.lastSeen) > s.opt.IdleTTL {
		s.endLocked(token)
		return nil, false
	}
	sess.lastSeen = now
	return sess, true
}

// Authenticate finds who made r: a bearer token, or a session cookie. The
// session is nil for bearer requests, which carry no ambient credential and
// so need no CSRF token.
func (s *Service) Authenticate(r *http.Request) (Principal, *Session, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		secret, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return Principal{}, nil, false
		}
		p, ok := s.Bearer(strings.TrimSpace(secret))
		return p, nil, ok
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return Principal{}, nil, false
	}
	sess, ok := s.Session(c.Value)
	if !ok {
		return Principal{}, nil, false
	}
	return sess.Principal, sess, true
}

// ErrCSRF is the refusal of a state change without the session's token.
var ErrCSRF = errors.New("missing or wrong CSRF token (send the et_csrf cookie's value in the X-CSRF-Token header)")

// CheckCSRF is the double-submit check: the header must carry the token
// bound to the session, which a cross-site page can neither read nor set.
func CheckCSRF(r *http.Request, sess *Session) error {
	if sess == nil {
		return nil
	}
	got := r.Header.Get(CSRFHeader)
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRF)) != 1 {
		return ErrCSRF
	}
	return nil
}

// SetCookies gives the browser its session (HttpOnly) and the CSRF token
// (readable by the page's script). Secure follows the connection so that
// plain HTTP on loopback still works.
func SetCookies(w http.ResponseWriter, r *http.Request, sess *Session) {
	secure := r.TLS != nil
	maxAge := int(time.Until(sess.Expires).Seconds())
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: sess.Token, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode})
	http.SetCookie(w, &http.Cookie{Name: CSRFCookie, Value: sess.CSRF, Path: "/", MaxAge: maxAge,
		Secure: secure, SameSite: http.SameSiteStrictMode})
}

// ClearCookies removes both cookies.
func ClearCookies(w http.ResponseWriter, r *http.Request) {
	for _, name := range []string{SessionCookie, CSRFCookie} {
		http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1,
			HttpOnly: name == SessionCookie, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	}
}

// String is for logs; it never shows the secrets.
func (s *Session) String() string {
	return fmt.Sprintf("session of %s (%s)", s.Name, s.Role)
}
