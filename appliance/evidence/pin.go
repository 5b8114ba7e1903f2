package evidence

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ErrNotPinned is a signature that checks out against a key the verifier
// was not told to trust: it proves the data was not changed since that
// key signed it, not who signed it.
var ErrNotPinned = errors.New("signature valid but signer not pinned")

// KeyPin is the appliance key a verifier trusts, given from outside what
// it checks: the whole public key, or only its fingerprint.
type KeyPin struct {
	Key         ed25519.PublicKey
	Fingerprint string
}

// ParseKeyPin reads a pin from a public key in hex and/or a fingerprint as
// printed at first start; both empty is no pin (every check then fails
// with ErrNotPinned).
func ParseKeyPin(publicKeyHex, fingerprint string) (KeyPin, error) {
	var pin KeyPin
	if publicKeyHex != "" {
		key, err := ParsePublicKey(publicKeyHex)
		if err != nil {
			return pin, err
		}
		pin.Key = key
	}
	if fingerprint != "" {
		fp, err := ParseFingerprint(fingerprint)
		if err != nil {
			return pin, err
		}
		pin.Fingerprint = fp
	}
	if pin.Key != nil && pin.Fingerprint != "" && Fingerprint(pin.Key) != pin.Fingerprint {
		return pin, errors.New("the public key and the fingerprint name different keys")
	}
	return pin, nil
}

// ParsePublicKey reads an Ed25519 public key written as hex.
func ParsePublicKey(text string) (ed25519.PublicKey, error) {
	raw, err := hex.DecodeString(strings.TrimSpace(text))
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key: want %d hex characters", 2*ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(raw), nil
}

// Set says whether anything is pinned.
func (p KeyPin) Set() bool { return p.Key != nil || p.Fingerprint != "" }

// Check says whether key is the pinned one.
func (p KeyPin) Check(key ed25519.PublicKey) error {
	switch {
	case !p.Set():
		return ErrNotPinned
	case p.Key != nil && !p.Key.Equal(key):
		return fmt.Errorf("signed by key %s, not the pinned key %s", Fingerprint(key), Fingerprint(p.Key))
	case p.Fingerprint != "" && p.Fingerprint != Fingerprint(key):
		return fmt.Errorf("signed by key %s, not the pinned fingerprint %s", Fingerprint(key), p.Fingerprint)
	}
	return nil
}
