// Package auth keeps the appliance's accounts: people (admin, staff,
// investigator) with argon2id passwords, second factors (TOTP, one-time
// recovery codes, WebAuthn keys) and browser sessions, and machine clients
// (central) with bearer tokens stored only as hashes. Logins are rate
// limited per client address, an account locks after repeated wrong
// passwords, and every login outcome and every change of an account or a
// token is a custody event.
//
// Accounts live in the vault's durable state space "auth":
//
//	user/<name>            JSON User (password hash, role, second factors, lockout counters)
//	token/<sha256 hex>     JSON Token (client name, role central, expiry)
//	session/<sha256 hex>   JSON storedSession (who, stage, CSRF hash, times)
//
// Sessions are stored under the hash of their cookie, so a copy of the index
// gives nobody a way in, and they survive a restart of the daemon until they
// expire (12 hours) or go unused (30 minutes).
package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// Role decides what an account may see and do.
type Role string

// The roles. Central is for machine clients with bearer tokens.
const (
	RoleAdmin        Role = "admin"
	RoleStaff        Role = "staff"
	RoleInvestigator Role = "investigator"
	RoleCentral      Role = "central"
	// RoleConsole is whoever reaches the daemon's local admin socket: root
	// or a member of the edgetriage group at the station's console. It is
	// no account; the operating system vouched for it.
	RoleConsole Role = "console"
)

// ParseRole accepts the name of a role a person can hold.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleAdmin, RoleStaff, RoleInvestigator:
		return r, nil
	case RoleCentral:
		return "", errors.New("role central is for machine clients: create a token instead")
	}
	return "", fmt.Errorf("unknown role %q: want admin, staff or investigator", s)
}

// User is a person's account as stored.
type User struct {
	Name        string    `json:"name"`
	Role        Role      `json:"role"`
	Hash        string    `json:"hash"`
	Disabled    bool      `json:"disabled,omitempty"`
	Created     time.Time `json:"created"`
	Failures    int       `json:"failures,omitempty"`
	LockedUntil time.Time `json:"locked_until,omitzero"`
	MFA         MFA       `json:"mfa,omitzero"`
}

// Token is a machine client's credential as stored (the secret itself is
// never kept, only its SHA-256). Names are unique, so a token is listed and
// revoked by the name of the client that holds it.
type Token struct {
	Name    string    `json:"name"`
	Role    Role      `json:"role"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires,omitzero"`
}

// ExpiresAt is when the token stops working. Tokens made before tokens
// expired get the default lifetime from their creation.
func (t Token) ExpiresAt() time.Time {
	if t.Expires.IsZero() {
		return t.Created.Add(DefaultTokenTTL)
	}
	return t.Expires
}

// DefaultTokenTTL is how long a central token lives unless told otherwise.
const DefaultTokenTTL = 180 * 24 * time.Hour

// Store is the durable key-value space the accounts live in; *vault.KV
// satisfies it.
type Store interface {
	Get(key string) ([]byte, error)
	Put(ctx context.Context, key string, val []byte) error
	Delete(ctx context.Context, key string) error
	Scan(prefix string, fn func(key string, val []byte) bool) error
}

// Auditor records login outcomes in the custody chain; *vault.Vault
// satisfies it.
type Auditor interface {
	Append(ctx context.Context, events ...evidence.CustodyEvent) ([]evidence.CustodyEvent, error)
}

// Options tune the service; zero values get the defaults noted.
type Options struct {
	MaxFailures int           // wrong passwords in a row before lockout (10)
	LockFor     time.Duration // how long a locked account stays locked (15m)
	SessionTTL  time.Duration // absolute session lifetime (12h, one shift)
	IdleTTL     time.Duration // session ends after this long unused (30m)
	LoginRate   rate.Limit    // login attempts per second per client address (1)
	LoginBurst  int           // attempts a client may make at once (20)
	// MFARequired are the roles that must log in with a second factor; an
	// account of such a role without one is made to enrol at its next
	// login. None by default here; the station's configuration asks it of
	// admins and investigators.
	MFARequired []Role
	// Issuer names the appliance in authenticator apps ("edgetriage").
	Issuer string
	Now    func() time.Time
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.MaxFailures == 0 {
		o.MaxFailures = 10
	}
	if o.LockFor == 0 {
		o.LockFor = 15 * time.Minute
	}
	if o.SessionTTL == 0 {
		o.SessionTTL = 12 * time.Hour
	}
	if o.IdleTTL == 0 {
		o.IdleTTL = 30 * time.Minute
	}
	if o.LoginRate == 0 {
		o.LoginRate = 1
	}
	if o.LoginBurst == 0 {
		o.LoginBurst = 20
	}
	if o.Issuer == "" {
		o.Issuer = "edgetriage"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Errors a login can end with. ErrBadCredentials covers both an unknown
// name and a wrong password so that names cannot be probed.
var (
	ErrBadCredentials = errors.New("wrong user name or password")
	ErrLocked         = errors.New("too many wrong passwords for this name from this address; try again later or ask an admin to reset the password")
	ErrDisabled       = errors.New("account disabled")
	ErrRateLimited    = errors.New("too many login attempts from this address; wait a moment")
	ErrNoUser         = errors.New("no such user")
	ErrExists         = errors.New("user already exists")
	ErrBadCode        = errors.New("wrong or already used code")
)

// Principal is who a request acts for.
type Principal struct {
	Name string `json:"name"`
	Role Role   `json:"role"`
}

// Actor is the principal's name in custody events.
func (p Principal) Actor() evidence.Actor {
	switch p.Role {
	case RoleCentral:
		return evidence.Actor("central:" + p.Name)
	case RoleConsole:
		return evidence.Actor("console:" + p.Name)
	}
	return evidence.Actor("user:" + p.Name)
}

// Service is the account store, session table and login throttle. It is
// safe for concurrent use.
type Service struct {
	store Store
	audit Auditor
	opt   Options

	mu       sync.Mutex
	sessions map[string]*Session
	limiters map[string]*rate.Limiter
	guesses  map[guessKey]guesses
	failures map[string]*failureSummary
	// userMu serialises read-modify-write of accounts.
	userMu   sync.Mutex
	dummy    string
	mfaRoles atomic.Pointer[[]Role]
}

// New makes the service over store; audit may be nil only in tools that
// never log anyone in.
func New(store Store, audit Auditor, opt Options) *Service {
	opt.defaults()
	s := &Service{store: store, audit: audit, opt: opt, sessions: map[string]*Session{}, limiters: map[string]*rate.Limiter{},
		guesses: map[guessKey]guesses{}, failures: map[string]*failureSummary{}}
	s.SetMFARequired(opt.MFARequired)
	return s
}

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

func userKey(name string) string { return "user/" + name }

func (s *Service) load(name string) (User, error) {
	raw, err := s.store.Get(userKey(name))
	if err != nil {
		return User{}, fmt.Errorf("read user %s: %w", name, err)
	}
	if raw == nil {
		return User{}, fmt.Errorf("user %s: %w", name, ErrNoUser)
	}
	var u User
	if err := json.Unmarshal(raw, &u); err != nil {
		return User{}, fmt.Errorf("decode user %s: %w", name, err)
	}
	return u, nil
}

func (s *Service) save(ctx context.Context, u User) error {
	raw, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("encode user %s: %w", u.Name, err)
	}
	if err := s.store.Put(ctx, userKey(u.Name), raw); err != nil {
		return fmt.Errorf("store user %s: %w", u.Name, err)
	}
	return nil
}

// AddUser creates a person's account; the creation is a custody event by
// actor.
func (s *Service) AddUser(ctx context.Context, by evidence.Actor, name string, role Role, password string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("user name %q: use 1-64 lower-case letters, digits, '.', '_' or '-'", name)
	}
	if _, err := ParseRole(string(role)); err != nil {
		return err
	}
	if len(password) < MinPasswordLen {
		return fmt.Errorf("password for %s: at least %d characters", name, MinPasswordLen)
	}
	s.userMu.Lock()
	defer s.userMu.Unlock()
	if _, err := s.load(name); err == nil {
		return fmt.Errorf("add user %s: %w", name, ErrExists)
	} else if !errors.Is(err, ErrNoUser) {
		return err
	}
	hash, err := hashPassword(password)
	if err != nil {
		return err
	}
	if err := s.save(ctx, User{Name: name, Role: role, Hash: hash, Created: s.opt.Now().UTC()}); err != nil {
		return err
	}
	return s.audited(ctx, by, evidence.ActionAccountCreated, map[string]string{"user": name, "role": string(role)})
}

// SetPassword replaces a password, lifts any lockout and ends the account's
// sessions (whoever knew the old password is logged out).
func (s *Service) SetPassword(ctx context.Context, by evidence.Actor, name, password string) error {
	if len(password) < MinPasswordLen {
		return fmt.Errorf("password for %s: at least %d characters", name, MinPasswordLen)
	}
	hash, err := hashPassword(password)
	if err != nil {
		return err
	}
	if err := s.modify(ctx, name, func(u *User) error {
		u.Hash, u.Failures, u.LockedUntil = hash, 0, time.Time{}
		return nil
	}); err != nil {
		return err
	}
	s.forgetGuesses(name)
	s.endSessionsOf(ctx, name)
	return s.audited(ctx, by, evidence.ActionAccountChanged, map[string]string{"user": name, "change": "password"})
}

// SetDisabled disables or re-enables an account; disabling ends its sessions.
func (s *Service) SetDisabled(ctx context.Context, by evidence.Actor, name string, disabled bool) error {
	if err := s.modify(ctx, name, func(u *User) error { u.Disabled = disabled; return nil }); err != nil {
		return err
	}
	change := "enabled"
	if disabled {
		change = "disabled"
		s.endSessionsOf(ctx, name)
	}
	return s.audited(ctx, by, evidence.ActionAccountChanged, map[string]string{"user": name, "change": change})
}

// SetRole gives an account another role and ends its sessions, which carry
// the old one.
func (s *Service) SetRole(ctx context.Context, by evidence.Actor, name string, role Role) error {
	if _, err := ParseRole(string(role)); err != nil {
		return err
	}
	var old Role
	if err := s.modify(ctx, name, func(u *User) error { old, u.Role = u.Role, role; return nil }); err != nil {
		return err
	}
	s.endSessionsOf(ctx, name)
	return s.audited(ctx, by, evidence.ActionAccountChanged, map[string]string{"user": name, "change": "role", "from": string(old), "to": string(role)})
}

// modify is a read-modify-write of one account; fn's error abandons it.
func (s *Service) modify(ctx context.Context, name string, fn func(*User) error) error {
	s.userMu.Lock()
	defer s.userMu.Unlock()
	u, err := s.load(name)
	if err != nil {
		return err
	}
	if err := fn(&u); err != nil {
		return err
	}
	return s.save(ctx, u)
}

// User returns the stored account of name.
func (s *Service) User(name string) (User, error) { return s.load(name) }

// UserInfo is an account as admins see it: never its secrets.
type UserInfo struct {
	Name        string    `json:"name"`
	Role        Role      `json:"role"`
	Disabled    bool      `json:"disabled"`
	Created     time.Time `json:"created"`
	Factors     []string  `json:"second_factors"`
	MFARequired bool      `json:"second_factor_required"`
	// RecoveryLeft is how many unused recovery codes the account holds.
	RecoveryLeft int `json:"recovery_codes_left"`
}

// Info is what admins may see of u.
func (s *Service) Info(u User) UserInfo {
	return UserInfo{Name: u.Name, Role: u.Role, Disabled: u.Disabled, Created: u.Created, Factors: u.MFA.Factors(),
		MFARequired: s.mfaRequired(u.Role), RecoveryLeft: len(u.MFA.Recovery)}
}

// Users lists every account in name order.
func (s *Service) Users() ([]User, error) {
	var out []User
	var decodeErr error
	err := s.store.Scan("user/", func(_ string, val []byte) bool {
		var u User
		if decodeErr = json.Unmarshal(val, &u); decodeErr != nil {
			return false
		}
		out = append(out, u)
		return true
	})
	return out, errors.Join(err, decodeErr)
}

func tokenKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "token/" + hex.EncodeToString(sum[:])
}

// AddToken creates a bearer token for a machine client, valid for ttl
// (DefaultTokenTTL when zero), and returns the secret; it is shown once and
// only its hash is stored. The issue is a custody event by actor.
func (s *Service) AddToken(ctx context.Context, by evidence.Actor, name string, ttl time.Duration) (string, Token, error) {
	if !validName.MatchString(name) {
		return "", Token{}, fmt.Errorf("client name %q: use 1-64 lower-case letters, digits, '.', '_' or '-'", name)
	}
	if ttl <= 0 {
		ttl = DefaultTokenTTL
	}
	s.userMu.Lock()
	defer s.userMu.Unlock()
	existing, err := s.tokenKeysNamed(name)
	if err != nil {
		return "", Token{}, err
	}
	if len(existing) > 0 {
		return "", Token{}, fmt.Errorf("a token named %s exists already (revoke it first): %w", name, ErrExists)
	}
	now := s.opt.Now().UTC()
	tok := Token{Name: name, Role: RoleCentral, Created: now, Expires: now.Add(ttl)}
	secret := "et_" + randomToken()
	raw, err := json.Marshal(tok)
	if err != nil {
		return "", Token{}, err
	}
	if err := s.store.Put(ctx, tokenKey(secret), raw); err != nil {
		return "", Token{}, fmt.Errorf("store token for %s: %w", name, err)
	}
	return secret, tok, s.audited(ctx, by, evidence.ActionTokenIssued, map[string]string{"client": name, "expires": tok.Expires.Format(time.RFC3339)})
}

// Tokens lists every central token (never their secrets) in name order.
func (s *Service) Tokens() ([]Token, error) {
	var out []Token
	var decodeErr error
	err := s.store.Scan("token/", func(_ string, val []byte) bool {
		var t Token
		if decodeErr = json.Unmarshal(val, &t); decodeErr != nil {
			return false
		}
		out = append(out, t)
		return true
	})
	slices.SortFunc(out, func(a, b Token) int { return strings.Compare(a.Name, b.Name) })
	return out, errors.Join(err, decodeErr)
}

// RevokeToken deletes the token of the named client; the revocation is a
// custody event by actor.
func (s *Service) RevokeToken(ctx context.Context, by evidence.Actor, name string) error {
	s.userMu.Lock()
	defer s.userMu.Unlock()
	keys, err := s.tokenKeysNamed(name)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return fmt.Errorf("no token named %s", name)
	}
	for _, k := range keys {
		if err := s.store.Delete(ctx, k); err != nil {
			return fmt.Errorf("revoke token of %s: %w", name, err)
		}
	}
	return s.audited(ctx, by, evidence.ActionTokenRevoked, map[string]string{"client": name})
}

func (s *Service) tokenKeysNamed(name string) ([]string, error) {
	var keys []string
	err := s.store.Scan("token/", func(k string, val []byte) bool {
		var t Token
		if json.Unmarshal(val, &t) == nil && t.Name == name {
			keys = append(keys, k)
		}
		return true
	})
	return keys, err
}

// audited records an account or token change in the custody chain.
func (s *Service) audited(ctx context.Context, by evidence.Actor, action evidence.Action, details map[string]string) error {
	if s.audit == nil {
		return nil
	}
	if by == "" {
		by = "appliance"
	}
	if _, err := s.audit.Append(ctx, evidence.CustodyEvent{Actor: by, Action: action, Details: details}); err != nil {
		return fmt.Errorf("record %s: %w", action, err)
	}
	return nil
}

// Bearer resolves a bearer token to its client.
func (s *Service) Bearer(secret string) (Principal, bool) {
	if secret == "" {
		return Principal{}, false
	}
	raw, err := s.store.Get(tokenKey(secret))
	if err != nil || raw == nil {
		return Principal{}, false
	}
	var t Token
	if json.Unmarshal(raw, &t) != nil || !s.opt.Now().Before(t.ExpiresAt()) {
		return Principal{}, false
	}
	return Principal{Name: t.Name, Role: t.Role}, true
}
