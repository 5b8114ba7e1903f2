package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// MFA is an account's second factors as stored. CJIS asks AAL2 of people
// who see criminal justice information: a password and something held.
type MFA struct {
	// TOTPSecret is the RFC 6238 shared secret (SHA-1, 6 digits, 30 s:
	// what every authenticator app takes); TOTPStep is the newest time
	// step a code was accepted for, so each code works once.
	TOTPSecret string `json:"totp_secret,omitempty"`
	TOTPStep   int64  `json:"totp_last_step,omitempty"`
	// TOTPPending is a secret shown for enrolment and not yet confirmed
	// with a code from it.
	TOTPPending string `json:"totp_pending,omitempty"`
	// Recovery holds the SHA-256 of each unused one-time recovery code.
	Recovery []string `json:"recovery_sha256,omitempty"`
	// Keys are WebAuthn credentials (security keys, platform authenticators);
	// WebAuthnID is the random user handle they were made for.
	Keys       []WebAuthnKey `json:"webauthn,omitempty"`
	WebAuthnID []byte        `json:"webauthn_user,omitempty"`
	Enrolled   time.Time     `json:"enrolled,omitzero"`
}

// Has says whether the account has a second factor to log in with.
func (m MFA) Has() bool { return m.TOTPSecret != "" || len(m.Keys) > 0 }

// Factors names the account's second factors, for people and the audit.
func (m MFA) Factors() []string {
	var out []string
	if m.TOTPSecret != "" {
		out = append(out, "totp")
	}
	if len(m.Keys) > 0 {
		out = append(out, "webauthn")
	}
	return out
}

// totpOpts are the parameters authenticator apps assume; anything else
// (SHA-256, 8 digits) many of them silently get wrong.
var totpOpts = totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// recoveryCodes is how many one-time codes an enrolment hands out.
const recoveryCodes = 10

// TOTPEnrolment is what a person needs to add the appliance to an
// authenticator app: the secret (typed in) or the otpauth URL (scanned as
// the QR code).
type TOTPEnrolment struct {
	Secret string `json:"secret"`
	URL    string `json:"otpauth_url"`
	QRPNG  []byte `json:"qr_png"`
}

// BeginTOTP makes a new TOTP secret for the account and keeps it pending
// until ConfirmTOTP sees a code made from it. A second call replaces the
// pending secret, never one already confirmed.
func (s *Service) BeginTOTP(ctx context.Context, name string) (TOTPEnrolment, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.opt.Issuer, AccountName: name, SecretSize: 20,
		Period: totpOpts.Period, Digits: totpOpts.Digits, Algorithm: totpOpts.Algorithm})
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("totp secret for %s: %w", name, err)
	}
	if err := s.modify(ctx, name, func(u *User) error { u.MFA.TOTPPending = key.Secret(); return nil }); err != nil {
		return TOTPEnrolment{}, err
	}
	img, err := key.Image(256, 256)
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("totp QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return TOTPEnrolment{}, fmt.Errorf("totp QR code: %w", err)
	}
	return TOTPEnrolment{Secret: key.Secret(), URL: key.URL(), QRPNG: buf.Bytes()}, nil
}

// ErrNoPendingTOTP is a confirmation without BeginTOTP first.
var ErrNoPendingTOTP = errors.New("no TOTP enrolment in progress: start one first")

// ConfirmTOTP makes the pending secret the account's TOTP once code proves
// the authenticator holds it, and returns fresh recovery codes (shown
// once; only their hashes are kept). The code used here cannot log in.
// The enrolment is a custody event by actor.
func (s *Service) ConfirmTOTP(ctx context.Context, by evidence.Actor, name, code string) ([]string, error) {
	codes, hashes := newRecoveryCodes()
	now := s.opt.Now()
	err := s.modify(ctx, name, func(u *User) error {
		if u.MFA.TOTPPending == "" {
			return ErrNoPendingTOTP
		}
		step, ok := matchTOTP(u.MFA.TOTPPending, code, now, 0)
		if !ok {
			return fmt.Errorf("confirm TOTP for %s: %w (check the authenticator's clock)", name, ErrBadCode)
		}
		u.MFA.TOTPSecret, u.MFA.TOTPPending, u.MFA.TOTPStep = u.MFA.TOTPPending, "", step
		u.MFA.Recovery, u.MFA.Enrolled = hashes, now.UTC()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return codes, s.audited(ctx, by, evidence.ActionMFAEnrolled, map[string]string{"user": name, "factor": "totp", "recovery_codes": fmt.Sprint(recoveryCodes)})
}

// ResetMFA removes every second factor of an account (a lost phone) and
// ends its sessions; a role that needs one enrols again at the next login.
func (s *Service) ResetMFA(ctx context.Context, by evidence.Actor, name string) error {
	var had []string
	if err := s.modify(ctx, name, func(u *User) error { had, u.MFA = u.MFA.Factors(), MFA{}; return nil }); err != nil {
		return err
	}
	s.endSessionsOf(ctx, name)
	return s.audited(ctx, by, evidence.ActionMFAReset, map[string]string{"user": name, "removed": strings.Join(had, " ")})
}

// SecondFactor finishes a login waiting for a code: a TOTP code not used
// before, or a recovery code (then used up). It ends the pending session
// and returns a full one with new cookies; a wrong code counts like a
// wrong password, and too many end the pending login.
func (s *Service) SecondFactor(ctx context.Context, pending *Session, code, remote string) (*Session, error) {
	if pending.Stage != StageSecondFactor || !s.current(pending) {
		return nil, ErrLoginEnded
	}
	host, now := hostOf(remote), s.opt.Now()
	if err := s.admit(host, pending.Name, now); err != nil {
		s.noteFailure(host, pending.Name, "second-factor-throttled", now)
		return nil, err
	}
	var factor string
	var left int
	var u User
	err := s.modify(ctx, pending.Name, func(acc *User) error {
		if acc.Disabled {
			return ErrDisabled
		}
		var ok bool
		factor, ok = useCode(&acc.MFA, code, now)
		if !ok {
			return ErrBadCode
		}
		left, u = len(acc.MFA.Recovery), *acc
		return nil
	})
	s.noteOutcome(host, pending.Name, err == nil, s.opt.Now())
	if err != nil {
		s.noteFailure(host, pending.Name, "second-factor", now)
		s.countTry(ctx, pending)
		return nil, err
	}
	s.end(ctx, pending.id)
	extra := map[string]string{"factors": "password+" + factor}
	if factor == "recovery-code" {
		extra["recovery_codes_left"] = fmt.Sprint(left)
	}
	s.recordSuccess(ctx, u.Name, remote, extra)
	return s.newSession(ctx, u, StageFull)
}

// ErrLoginEnded is a second step for a login that is over: finished,
// ended after too many wrong codes, or expired.
var ErrLoginEnded = errors.New("this login has ended; give the password again")

// current says whether sess is still a live session of the service.
func (s *Service) current(sess *Session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[sess.id] == sess && s.live(sess, s.opt.Now())
}

// countTry ends a pending login after maxCodeTries wrong codes.
func (s *Service) countTry(ctx context.Context, pending *Session) {
	s.mu.Lock()
	pending.tries++
	over := pending.tries >= maxCodeTries
	s.mu.Unlock()
	if over {
		s.end(ctx, pending.id)
	}
}

// CompleteEnrolment turns a login that had to enrol into a full session
// once the account has a second factor; the enrolment just made is the
// factor it logged in with.
func (s *Service) CompleteEnrolment(ctx context.Context, pending *Session, remote string) (*Session, error) {
	if pending.Stage != StageEnrol || !s.current(pending) {
		return nil, ErrLoginEnded
	}
	u, err := s.load(pending.Name)
	if err != nil {
		return nil, err
	}
	if !u.MFA.Has() {
		return nil, errors.New("no second factor enrolled yet")
	}
	s.end(ctx, pending.id)
	s.recordSuccess(ctx, u.Name, remote, map[string]string{"factors": "password+" + strings.Join(u.MFA.Factors(), "+"), "enrolled": "now"})
	return s.newSession(ctx, u, StageFull)
}

// useCode accepts a TOTP code newer than the last one used, or an unused
// recovery code, and updates m so that neither works again.
func useCode(m *MFA, code string, now time.Time) (string, bool) {
	code = strings.Join(strings.Fields(code), "")
	if m.TOTPSecret != "" {
		if step, ok := matchTOTP(m.TOTPSecret, code, now, m.TOTPStep); ok {
			m.TOTPStep = step
			return "totp", true
		}
	}
	sum := recoveryHash(code)
	for i, h := range m.Recovery {
		if subtle.ConstantTimeCompare([]byte(h), []byte(sum)) == 1 {
			m.Recovery = append(m.Recovery[:i:i], m.Recovery[i+1:]...)
			return "recovery-code", true
		}
	}
	return "", false
}

// matchTOTP finds the time step code was made for, one step either side
// of now for clock drift, and refuses steps at or before last: a code seen
// once (over a shoulder, in a proxy's log) is spent.
func matchTOTP(secret, code string, now time.Time, last int64) (int64, bool) {
	if len(code) != totpOpts.Digits.Length() {
		return 0, false
	}
	step := now.Unix() / int64(totpOpts.Period)
	for _, st := range []int64{step - 1, step, step + 1} {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(st*int64(totpOpts.Period), 0), totpOpts)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return st, st > last
		}
	}
	return 0, false
}

// newRecoveryCodes makes one-time codes of 50 random bits each, written
// "abcde-fghij", and their hashes.
func newRecoveryCodes() (codes, hashes []string) {
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	for range recoveryCodes {
		raw := make([]byte, 7)
		rand.Read(raw)
		c := strings.ToLower(enc.EncodeToString(raw))[:10]
		codes = append(codes, c[:5]+"-"+c[5:])
		hashes = append(hashes, recoveryHash(c))
	}
	return codes, hashes
}

// recoveryHash hashes a recovery code as typed, without dashes or case.
func recoveryHash(code string) string {
	c := strings.ToLower(strings.ReplaceAll(code, "-", ""))
	sum := sha256.Sum256([]byte("edgetriage-recovery-v1\n" + c))
	return hex.EncodeToString(sum[:])
}
