// Package auth keeps the appliance's accounts: people (admin, staff,
// investigator) with argon2id passwords and browser sessions, and machine
// clients (central) with bearer tokens stored only as hashes. Logins are
// rate limited per client address, an account locks after repeated wrong
// passwords, and every login outcome is a custody event.
//
// Accounts live in the vault's durable state space "auth":
//
//	user/<name>          JSON User (password hash, role, lockout counters)
//	token/<sha256 hex>   JSON Token (client name, role central)
//
// Sessions are kept in memory only: a restart logs everyone out, which is
// the safe direction for a station PC.
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
	"sync"
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
}

// Token is a machine client's credential as stored (the secret itself is
// never kept, only its SHA-256).
type Token struct {
	Name    string    `json:"name"`
	Role    Role      `json:"role"`
	Created time.Time `json:"created"`
}

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
	Now         func() time.Time
	Logger      *slog.Logger
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
	ErrLocked         = errors.New("account locked after too many wrong passwords; try again later or ask an admin to reset the password")
	ErrDisabled       = errors.New("account disabled")
	ErrRateLimited    = errors.New("too many login attempts from this address; wait a moment")
	ErrNoUser         = errors.New("no such user")
	ErrExists         = errors.New("user already exists")
)

// Principal is who a request acts for.
type Principal struct {
	Name string `json:"name"`
	Role Role   `json:"role"`
}

// Actor is the principal's name in custody events.
func (p Principal) Actor() evidence.Actor {
	if p.Role == RoleCentral {
		return evidence.Actor("central:" + p.Name)
	}
	return evidence.Actor("user:" + p.Name)
}

// Session is a logged-in browser.
type Session struct {
	Principal
	Token    string
	CSRF     string
	Created  time.Time
	Expires  time.Time
	lastSeen time.Time
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
	// userMu serialises read-modify-write of one account's counters.
	userMu sync.Mutex
	dummy  string
}

// New makes the service over store; audit may be nil only in tools that
// never log anyone in.
func New(store Store, audit Auditor, opt Options) *Service {
	opt.defaults()
	return &Service{store: store, audit: audit, opt: opt,
		sessions: map[string]*Session{}, limiters: map[string]*rate.Limiter{}}
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

// AddUser creates a person's account.
func (s *Service) AddUser(ctx context.Context, name string, role Role, password string) error {
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
	return s.save(ctx, User{Name: name, Role: role, Hash: hash, Created: s.opt.Now().UTC()})
}

// SetPassword replaces a password and lifts any lockout.
func (s *Service) SetPassword(ctx context.Context, name, password string) error {
	if len(password) < MinPasswordLen {
		return fmt.Errorf("password for %s: at least %d characters", name, MinPasswordLen)
	}
	hash, err := hashPassword(password)
	if err != nil {
		return err
	}
	return s.modify(ctx, name, func(u *User) {
		u.Hash, u.Failures, u.LockedUntil = hash, 0, time.Time{}
	})
}

// SetDisabled disables or re-enables an account; disabling ends its sessions.
func (s *Service) SetDisabled(ctx context.Context, name string, disabled bool) error {
	if err := s.modify(ctx, name, func(u *User) { u.Disabled = disabled }); err != nil {
		return err
	}
	if disabled {
		s.endSessionsOf(name)
	}
	return nil
}

func (s *Service) modify(ctx context.Context, name string, fn func(*User)) error {
	s.userMu.Lock()
	defer s.userMu.Unlock()
	u, err := s.load(name)
	if err != nil {
		return err
	}
	fn(&u)
	return s.save(ctx, u)
}

// User returns the stored account of name.
func (s *Service) User(name string) (User, error) { return s.load(name) }

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

// AddToken creates a bearer token for a machine client and returns the
// secret; it is shown once and only its hash is stored.
func (s *Service) AddToken(ctx context.Context, name string) (string, error) {
	if !validName.MatchString(name) {
		return "", fmt.Errorf("client name %q: use 1-64 lower-case letters, digits, '.', '_' or '-'", name)
	}
	secret := "et_" + randomToken()
	raw, err := json.Marshal(Token{Name: name, Role: RoleCentral, Created: s.opt.Now().UTC()})
	if err != nil {
		return "", err
	}
	if err := s.store.Put(ctx, tokenKey(secret), raw); err != nil {
		return "", fmt.Errorf("store token for %s: %w", name, err)
	}
	return secret, nil
}

// RevokeToken deletes a token by its secret.
func (s *Service) RevokeToken(ctx context.Context, secret string) error {
	return s.store.Delete(ctx, tokenKey(secret))
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
	if json.Unmarshal(raw, &t) != nil {
		return Principal{}, false
	}
	return Principal{Name: t.Name, Role: t.Role}, true
}
