package evidence

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Receipt is the appliance's signed answer to a central acknowledgement:
// proof for central that the appliance agreed on the digest and recorded
// the hand-over at event Seq.
type Receipt struct {
	Digest    Digest    `json:"digest"`
	Time      time.Time `json:"time"`
	Appliance string    `json:"appliance_key_id"`
	Central   string    `json:"central_id"`
	Seq       uint64    `json:"custody_seq"`
	// Manifest is the hash of the signed manifest central verified, and
	// Proof its answer to the appliance's challenge (see AckProof).
	Manifest Digest `json:"manifest_sha256,omitzero"`
	Proof    Digest `json:"proof,omitzero"`
}

// SignedReceipt is a receipt as the appliance hands it out: a signed
// envelope of type TypeReceipt.
type SignedReceipt = json.RawMessage

// SignReceipt encodes and signs r.
func SignReceipt(key ed25519.PrivateKey, r Receipt) (SignedReceipt, error) {
	return Seal(key, TypeReceipt, r)
}

// legacyReceipt is how receipts were signed before envelopes: bare bytes
// and a signature with no type, which VerifyReceipt still accepts.
type legacyReceipt struct {
	Receipt   json.RawMessage `json:"receipt"`
	Signature string          `json:"signature"`
}

// VerifyReceipt checks a receipt against the appliance key and returns it.
func VerifyReceipt(pub ed25519.PublicKey, signed []byte) (Receipt, error) {
	var r Receipt
	payload, err := receiptPayload(pub, signed)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(payload, &r); err != nil {
		return r, fmt.Errorf("read receipt: %w", err)
	}
	return r, nil
}

func receiptPayload(pub ed25519.PublicKey, signed []byte) ([]byte, error) {
	if env, err := ReadEnvelope(signed); err == nil {
		return env.Open(TypeReceipt, pub)
	}
	var old legacyReceipt
	if err := json.Unmarshal(signed, &old); err != nil {
		return nil, fmt.Errorf("read receipt: %w", err)
	}
	sig, err := hex.DecodeString(old.Signature)
	if err != nil || !ed25519.Verify(pub, old.Receipt, sig) {
		return nil, fmt.Errorf("receipt signature does not verify with key %s", KeyID(pub))
	}
	return old.Receipt, nil
}
