package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// Cookie and header names shared with the dashboard's script.
const (
	SessionCookie = "et_session"
	CSRFCookie    = "et_csrf"
	CSRFHeader    = "X-CSRF-Token"
)

// Stage is how far a session has got through the login.
type Stage string

// A session in any stage but StageFull may only finish its login: answer
// the second factor, or enrol one.
const (
	StageFull         Stage = ""              // logged in
	StageSecondFactor Stage = "second-factor" // password right; a code or key is wanted
	StageEnrol        Stage = "enrol"         // password right; the role needs a second factor, and the account has none yet
)

// pendingTTL bounds a half-finished login: long enough to fetch a phone
// and enrol, short enough that a forgotten one does not linger.
const pendingTTL = 10 * time.Minute

// maxCodeTries is how many wrong codes one pending login may send before it
// is ended and the password must be given again.
const maxCodeTries = 5

// Session is a browser's login.
type Session struct {
	Principal
	Stage Stage
	// Token and CSRF are the cookies' values; they are known only when the
	// session was just made (the store keeps their hashes).
	Token    string
	CSRF     string
	Created  time.Time
	Expires  time.Time
	id       string // hex SHA-256 of Token: the key it is stored and found under
	csrfHash [32]byte
	lastSeen time.Time
	savedAt  time.Time // lastSeen as stored; it is stored again only once it moved on
	tries    int
	ceremony *webauthn.SessionData // a security key's challenge in flight
	done     chan struct{}
}

// Done is closed when the session ends (logout, expiry, the account
// disabled or changed): whatever it keeps open must stop then.
func (s *Session) Done() <-chan struct{} { return s.done }

// String is for logs; it never shows the secrets.
func (s *Session) String() string {
	return fmt.Sprintf("session of %s (%s)", s.Name, s.Role)
}

// Login checks a password and opens a session: a full one, or, for an
// account with a second factor (or whose role needs one), a pending one
// that SecondFactor or an enrolment finishes. remote is the client address:
// attempts are throttled per address and per address and name, successes
// are custody events, failures are summed into one event per address a
// minute (see throttle.go).
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
	s.noteOutcome(host, name, err == nil, s.opt.Now())
	if err != nil {
		// Logged with the summary, not one line each: a flood must not
		// fill the disk through the log either.
		s.noteFailure(host, name, outcome, now)
		return nil, err
	}
	stage := StageFull
	switch {
	case u.MFA.Has():
		stage = StageSecondFactor
	case s.mfaRequired(u.Role):
		stage = StageEnrol
	default:
		s.recordSuccess(ctx, u.Name, remote, map[string]string{"factors": "password"})
	}
	return s.newSession(ctx, u, stage)
}

func (s *Service) mfaRequired(r Role) bool {
	roles := s.mfaRoles.Load()
	return roles != nil && slices.Contains(*roles, r)
}

// SetMFARequired changes which roles need a second factor (a reload of the
// policy); it applies from the next login on.
func (s *Service) SetMFARequired(roles []Role) {
	roles = slices.Clone(roles)
	s.mfaRoles.Store(&roles)
}

// MFARequired says whether accounts of role r must use a second factor.
func (s *Service) MFARequired(r Role) bool { return s.mfaRequired(r) }

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

func (s *Service) recordSuccess(ctx context.Context, name, remote string, extra map[string]string) {
	s.opt.Logger.Info("login", "user", name, "result", "success", "remote", remote, "factors", extra["factors"])
	if s.audit == nil {
		return
	}
	details := map[string]string{"result": "success", "remote": remote}
	for k, v := range extra {
		details[k] = v
	}
	ev := evidence.CustodyEvent{Actor: evidence.Actor("user:" + name), Action: evidence.ActionLogin, Details: details}
	if _, err := s.audit.Append(ctx, ev); err != nil {
		s.opt.Logger.Error("record login in custody chain", "user", name, "err", err)
	}
}

// newSession makes, stores and registers a session of u in stage.
func (s *Service) newSession(ctx context.Context, u User, stage Stage) (*Session, error) {
	now := s.opt.Now()
	ttl := s.opt.SessionTTL
	if stage != StageFull {
		ttl = min(ttl, pendingTTL)
	}
	sess := &Session{Principal: Principal{Name: u.Name, Role: u.Role}, Stage: stage, Token: randomToken(), CSRF: randomToken(),
		Created: now, Expires: now.Add(ttl), lastSeen: now, savedAt: now, done: make(chan struct{})}
	sess.id = sessionID(sess.Token)
	sess.csrfHash = sha256.Sum256([]byte(sess.CSRF))
	if err := s.storeSession(ctx, sess); err != nil {
		return nil, err
	}
	s.mu.Lock()
	ended := s.sweepLocked(now)
	s.sessions[sess.id] = sess
	s.mu.Unlock()
	s.forgetStored(ctx, ended)
	return sess, nil
}

func sessionID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// live says whether a session is still within its lifetimes at now.
func (s *Service) live(sess *Session, now time.Time) bool {
	return !now.After(sess.Expires) && now.Sub(sess.lastSeen) <= s.opt.IdleTTL
}

// sweepLocked forgets sessions that ended unnoticed (tabs closed without
// logging out), so the table stays the size of the live ones; it returns
// their ids for the store.
func (s *Service) sweepLocked(now time.Time) []string {
	var ended []string
	for id, sess := range s.sessions {
		if !s.live(sess, now) {
			s.endLocked(id)
			ended = append(ended, id)
		}
	}
	return ended
}

// endLocked forgets a session and tells whatever it holds open (event
// streams, previews) to stop.
func (s *Service) endLocked(id string) {
	if sess, ok := s.sessions[id]; ok {
		delete(s.sessions, id)
		close(sess.done)
	}
}

// end ends sessions by id, in memory and in the store.
func (s *Service) end(ctx context.Context, ids ...string) {
	s.mu.Lock()
	for _, id := range ids {
		s.endLocked(id)
	}
	s.mu.Unlock()
	s.forgetStored(ctx, ids)
}

// Logout ends the session whose cookie is token.
func (s *Service) Logout(ctx context.Context, token string) {
	s.end(ctx, sessionID(token))
}

// endSessionsOf ends every session of an account, stored ones included.
func (s *Service) endSessionsOf(ctx context.Context, name string) {
	ids, err := s.storedSessionsOf(name)
	if err != nil {
		s.opt.Logger.Error("list sessions to end", "user", name, "err", err)
	}
	s.mu.Lock()
	for id, sess := range s.sessions {
		if sess.Name == name {
			ids = append(ids, id)
		}
	}
	s.mu.Unlock()
	s.end(ctx, ids...)
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

// Session returns the live session of token and marks it used. A session
// not in memory (the daemon restarted) is read back from the store.
func (s *Service) Session(token string) (*Session, bool) {
	if token == "" {
		return nil, false
	}
	now, id := s.opt.Now(), sessionID(token)
	s.mu.Lock()
	sess, ok := s.sessions[id]
	s.mu.Unlock()
	if !ok {
		if sess, ok = s.restoreSession(id); !ok {
			return nil, false
		}
	}
	s.mu.Lock()
	alive := s.live(sess, now)
	save := alive && now.Sub(sess.savedAt) > s.opt.IdleTTL/10
	if alive {
		sess.lastSeen = now
	}
	if save {
		sess.savedAt = now
	}
	s.mu.Unlock()
	if !alive {
		s.end(context.Background(), id)
		return nil, false
	}
	if save {
		// Not every request: a write per click would cost a commit each.
		// A restart loses at most a tenth of the idle time, ending the
		// session sooner, never later.
		if err := s.storeSession(context.Background(), sess); err != nil {
			s.opt.Logger.Warn("note session use", "user", sess.Name, "err", err)
		}
	}
	return sess, true
}

// restoreSession loads a stored session into memory, unless its account
// was disabled or given another role meanwhile.
func (s *Service) restoreSession(id string) (*Session, bool) {
	sess, err := s.loadSession(id)
	if err != nil || sess == nil {
		return nil, false
	}
	u, err := s.load(sess.Name)
	if err != nil || u.Disabled || u.Role != sess.Role {
		s.forgetStored(context.Background(), []string{id})
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.sessions[id]; ok {
		return cur, true // another request restored it first
	}
	s.sessions[id] = sess
	return sess, true
}

// Authenticate finds who made r: a bearer token, or a session cookie. The
// session is nil for bearer requests, which carry no ambient credential and
// so need no CSRF token. A session still logging in is returned with its
// stage; it is for the caller to let it finish the login and nothing else.
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
	sum := sha256.Sum256([]byte(got))
	if got == "" || subtle.ConstantTimeCompare(sum[:], sess.csrfHash[:]) != 1 {
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
