package central

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// verifyReceiptDoc checks a stored receipt (the station's answer to the
// ack, as central kept it) against the station's pinned key.
func verifyReceiptDoc(raw []byte, key ed25519.PublicKey) (evidence.Receipt, error) {
	var sr evidence.SignedReceipt
	if err := json.Unmarshal(raw, &sr); err != nil {
		return evidence.Receipt{}, fmt.Errorf("read receipt: %w", err)
	}
	return evidence.VerifyReceipt(key, sr)
}
