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

// SignedReceipt carries the receipt's exact bytes and their signature.
type SignedReceipt struct {
	Receipt   json.RawMessage `json:"receipt"`
	Signature string          `json:"signature"`
}

// SignReceipt encodes and signs r.
func SignReceipt(key ed25519.PrivateKey, r Receipt) (SignedReceipt, error) {
	raw, err := json.Marshal(r)
	if err != nil {
		return SignedReceipt{}, fmt.Errorf("encode receipt: %w", err)
	}
	return SignedReceipt{Receipt: raw, Signature: hex.EncodeToString(ed25519.Sign(key, raw))}, nil
}

// VerifyReceipt checks a receipt against the appliance key and returns it.
func VerifyReceipt(pub ed25519.PublicKey, s SignedReceipt) (Receipt, error) {
	var r Receipt
	sig, err := hex.DecodeString(s.Signature)
	if err != nil || !ed25519.Verify(pub, s.Receipt, sig) {
		return r, fmt.Errorf("receipt signature does not verify with key %s", KeyID(pub))
	}
	if err := json.Unmarshal(s.Receipt, &r); err != nil {
		return r, fmt.Errorf("read receipt: %w", err)
	}
	return r, nil
}
