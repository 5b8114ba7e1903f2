package pull

import (
	"encoding/hex"
	"fmt"
)

func decodeHex(s string, n int) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != n {
		return nil, fmt.Errorf("want %d bytes in hex, got %q", n, s)
	}
	return b, nil
}

func hexString(b []byte) string { return hex.EncodeToString(b) }
