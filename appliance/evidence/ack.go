package evidence

import (
	"crypto/sha256"
	"fmt"
	"io"
)

// An item's digest is public (the changes feed shows it), so echoing it
// proves nothing. An acknowledgement instead answers a fresh challenge
// from the appliance with a hash only a holder of every byte can compute.
const (
	// AckChallengeSize is the length in bytes of an ack challenge.
	AckChallengeSize = 32
	ackProofTag      = "edgetriage-ack-v1\n"
)

// AckProof is SHA-256 over a domain tag, the challenge and the whole
// content read from r: the proof of possession an acknowledgement carries.
func AckProof(challenge []byte, content io.Reader) (Digest, error) {
	if len(challenge) != AckChallengeSize {
		return Digest{}, fmt.Errorf("ack challenge: want %d bytes, got %d", AckChallengeSize, len(challenge))
	}
	h := sha256.New()
	h.Write([]byte(ackProofTag))
	h.Write(challenge)
	if _, err := io.Copy(h, content); err != nil {
		return Digest{}, fmt.Errorf("ack proof: %w", err)
	}
	return Digest(h.Sum(nil)), nil
}
