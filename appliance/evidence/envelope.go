package evidence

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// An envelope carries a signed payload of a named type. The signature
// covers a domain tag, the type and the payload's exact bytes, so no signed
// thing of one type can be passed off as another (a receipt as a
// manifest), and a verifier never depends on how its JSON library orders or
// spaces things.
type Envelope struct {
	Type      string          `json:"type"`
	Payload   json.RawMessage `json:"payload"`
	KeyID     string          `json:"key_id"`
	Signature string          `json:"signature"` // hex Ed25519
}

// Envelope types.
const (
	TypeManifest = "edgetriage-manifest-v2"
	TypeReceipt  = "edgetriage-receipt-v2"
)

func envelopeMessage(typ string, payload []byte) []byte {
	msg := make([]byte, 0, len(typ)+len(payload)+32)
	msg = append(msg, "edgetriage-envelope-v1\n"...)
	msg = append(msg, typ...)
	msg = append(msg, '\n')
	return append(msg, payload...)
}

// Seal encodes v and signs it as a payload of type typ.
func Seal(key ed25519.PrivateKey, typ string, v any) ([]byte, error) {
	payload, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", typ, err)
	}
	pub := key.Public().(ed25519.PublicKey)
	return json.Marshal(Envelope{Type: typ, Payload: payload, KeyID: KeyID(pub),
		Signature: hex.EncodeToString(ed25519.Sign(key, envelopeMessage(typ, payload)))})
}

// ErrEnvelope is wrapped by every envelope that does not open.
var ErrEnvelope = errors.New("signed envelope does not verify")

// ReadEnvelope decodes an envelope without checking it.
func ReadEnvelope(raw []byte) (Envelope, error) {
	var env Envelope
	if err := json.Unmarshal(raw, &env); err != nil || env.Type == "" {
		return env, fmt.Errorf("not a signed envelope: %v: %w", err, ErrEnvelope)
	}
	return env, nil
}

// Open checks that the envelope is of type typ and signed by key, and
// returns its payload.
func (env Envelope) Open(typ string, key ed25519.PublicKey) ([]byte, error) {
	if env.Type != typ {
		return nil, fmt.Errorf("a %q where a %q was expected: %w", env.Type, typ, ErrEnvelope)
	}
	sig, err := hex.DecodeString(env.Signature)
	if err != nil || env.KeyID != KeyID(key) || !ed25519.Verify(key, envelopeMessage(env.Type, env.Payload), sig) {
		return nil, fmt.Errorf("%s signature does not verify with key %s: %w", typ, KeyID(key), ErrEnvelope)
	}
	return env.Payload, nil
}
