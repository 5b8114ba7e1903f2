package auth

import (
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
)

// WebAuthnKey is a registered WebAuthn credential: a security key or the
// browser's platform authenticator.
type WebAuthnKey struct {
	Name       string              `json:"name"`
	Credential webauthn.Credential `json:"credential"`
	Added      time.Time           `json:"added"`
}
