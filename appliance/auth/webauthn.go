package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// WebAuthnKey is a registered WebAuthn credential: a security key or the
// browser's platform authenticator.
type WebAuthnKey struct {
	Name       string              `json:"name"`
	Credential webauthn.Credential `json:"credential"`
	Added      time.Time           `json:"added"`
}

// ErrNoWebAuthnHere is an origin WebAuthn cannot be used from: browsers
// accept only a domain name (or localhost) as the relying party, never an
// IP address, so a station reached as https://10.1.2.3 offers TOTP only.
var ErrNoWebAuthnHere = errors.New("security keys need the dashboard to be reached by a host name (https://station-name/ or http://localhost), not an IP address")

// RelyingParty is the appliance as WebAuthn sees it when the dashboard is
// reached at origin ("https://station-12.example"). A key registered at
// one host name works only there: the browser binds it to the name.
func RelyingParty(origin string) (*webauthn.WebAuthn, error) {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("origin %q: %w", origin, ErrNoWebAuthnHere)
	}
	host := u.Hostname()
	if net.ParseIP(host) != nil {
		return nil, ErrNoWebAuthnHere
	}
	if u.Scheme != "https" && host != "localhost" {
		return nil, errors.New("security keys need the dashboard over https (http.tls: auto)")
	}
	return webauthn.New(&webauthn.Config{RPID: host, RPDisplayName: "edgetriage station", RPOrigins: []string{u.Scheme + "://" + u.Host}})
}

// waUser shows an account to the WebAuthn library.
type waUser struct{ u *User }

func (w waUser) WebAuthnID() []byte          { return w.u.MFA.WebAuthnID }
func (w waUser) WebAuthnName() string        { return w.u.Name }
func (w waUser) WebAuthnDisplayName() string { return w.u.Name }
func (w waUser) WebAuthnCredentials() []webauthn.Credential {
	out := make([]webauthn.Credential, 0, len(w.u.MFA.Keys))
	for _, k := range w.u.MFA.Keys {
		out = append(out, k.Credential)
	}
	return out
}

// ceremony keeps a WebAuthn challenge with the session that asked for it,
// until the browser's answer comes back (or the session ends).
func (s *Service) setCeremony(sess *Session, data *webauthn.SessionData) {
	s.mu.Lock()
	sess.ceremony = data
	s.mu.Unlock()
}

func (s *Service) takeCeremony(sess *Session) (*webauthn.SessionData, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	data := sess.ceremony
	sess.ceremony = nil
	if data == nil {
		return nil, errors.New("no security key request in progress: start again")
	}
	return data, nil
}

// BeginKeyRegistration asks the browser to make a credential for the
// session's own account.
func (s *Service) BeginKeyRegistration(ctx context.Context, sess *Session, rp *webauthn.WebAuthn) (*protocol.CredentialCreation, error) {
	var u User
	err := s.modify(ctx, sess.Name, func(acc *User) error {
		if len(acc.MFA.WebAuthnID) == 0 {
			// The user handle is random, not the name: authenticators
			// may show or keep it.
			acc.MFA.WebAuthnID = make([]byte, 32)
			rand.Read(acc.MFA.WebAuthnID)
		}
		u = *acc
		return nil
	})
	if err != nil {
		return nil, err
	}
	var exclude []protocol.CredentialDescriptor
	for _, c := range (waUser{&u}).WebAuthnCredentials() {
		exclude = append(exclude, c.Descriptor())
	}
	creation, data, err := rp.BeginRegistration(waUser{&u}, webauthn.WithExclusions(exclude),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{UserVerification: protocol.VerificationPreferred}))
	if err != nil {
		return nil, fmt.Errorf("security key registration: %w", err)
	}
	s.setCeremony(sess, data)
	return creation, nil
}

// FinishKeyRegistration checks the browser's new credential and adds it to
// the account under name. The first second factor of an account comes with
// recovery codes, returned once. The enrolment is a custody event by actor.
func (s *Service) FinishKeyRegistration(ctx context.Context, by evidence.Actor, sess *Session, rp *webauthn.WebAuthn, r *http.Request, name string) ([]string, error) {
	data, err := s.takeCeremony(sess)
	if err != nil {
		return nil, err
	}
	u, err := s.load(sess.Name)
	if err != nil {
		return nil, err
	}
	cred, err := rp.FinishRegistration(waUser{&u}, *data, r)
	if err != nil {
		return nil, fmt.Errorf("security key registration refused: %w", describe(err))
	}
	if name == "" {
		name = fmt.Sprintf("key %d", len(u.MFA.Keys)+1)
	}
	name = evidence.TruncateText(name, 64)
	var codes []string
	err = s.modify(ctx, sess.Name, func(acc *User) error {
		acc.MFA.Keys = append(acc.MFA.Keys, WebAuthnKey{Name: name, Credential: *cred, Added: s.opt.Now().UTC()})
		if len(acc.MFA.Recovery) == 0 {
			codes, acc.MFA.Recovery = newRecoveryCodes()
		}
		acc.MFA.Enrolled = s.opt.Now().UTC()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return codes, s.audited(ctx, by, evidence.ActionMFAEnrolled, map[string]string{"user": sess.Name, "factor": "webauthn", "key": name})
}

// BeginKeyLogin asks the browser to sign a challenge with one of the
// account's keys, for a login waiting for its second factor.
func (s *Service) BeginKeyLogin(pending *Session, rp *webauthn.WebAuthn) (*protocol.CredentialAssertion, error) {
	if pending.Stage != StageSecondFactor || !s.current(pending) {
		return nil, ErrLoginEnded
	}
	u, err := s.load(pending.Name)
	if err != nil {
		return nil, err
	}
	if len(u.MFA.Keys) == 0 {
		return nil, errors.New("this account has no security key; use a code")
	}
	assertion, data, err := rp.BeginLogin(waUser{&u}, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, fmt.Errorf("security key login: %w", err)
	}
	s.setCeremony(pending, data)
	return assertion, nil
}

// FinishKeyLogin checks the signed challenge and, like SecondFactor, turns
// the pending login into a full session. A key whose signature counter went
// backwards (a cloned key) is refused.
func (s *Service) FinishKeyLogin(ctx context.Context, pending *Session, rp *webauthn.WebAuthn, r *http.Request, remote string) (*Session, error) {
	if pending.Stage != StageSecondFactor || !s.current(pending) {
		return nil, ErrLoginEnded
	}
	host, now := hostOf(remote), s.opt.Now()
	if err := s.admit(host, pending.Name, now); err != nil {
		return nil, err
	}
	data, err := s.takeCeremony(pending)
	if err != nil {
		return nil, err
	}
	u, err := s.load(pending.Name)
	if err != nil {
		return nil, err
	}
	cred, err := rp.FinishLogin(waUser{&u}, *data, r)
	if err == nil && cred.Authenticator.CloneWarning {
		err = errors.New("the key's signature counter went backwards: it may have been cloned; ask an admin")
	}
	s.noteOutcome(host, pending.Name, err == nil, s.opt.Now())
	if err != nil {
		s.noteFailure(host, pending.Name, "second-factor", now)
		s.countTry(ctx, pending)
		return nil, fmt.Errorf("%w: %w", ErrBadCode, describe(err))
	}
	var keyName string
	err = s.modify(ctx, pending.Name, func(acc *User) error {
		if acc.Disabled {
			return ErrDisabled
		}
		for i, k := range acc.MFA.Keys {
			if bytes.Equal(k.Credential.ID, cred.ID) {
				acc.MFA.Keys[i].Credential.Authenticator = cred.Authenticator
				keyName = k.Name
			}
		}
		u = *acc
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.end(ctx, pending.id)
	s.recordSuccess(ctx, u.Name, remote, map[string]string{"factors": "password+webauthn", "key": keyName})
	return s.newSession(ctx, u, StageFull)
}

// describe brings out the library's detailed reason, which its short
// error text leaves off.
func describe(err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.DevInfo != "" {
		return fmt.Errorf("%s (%s)", pe.Details, pe.DevInfo)
	}
	return err
}
