// Package evidence holds the domain types every part of edgetriage shares:
// items, their digests, and the custody events that record every move of
// evidence. It imports nothing of the project so that capture, triage, sync,
// firmware and hardware can depend on it without depending on each other.
package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
)

// DigestSize is the length in bytes of a SHA-256 digest.
const DigestSize = sha256.Size

// Digest is the SHA-256 of an item's bytes; it is the item's identity.
type Digest [DigestSize]byte

// ParseDigest reads a digest from its 64-character lowercase or uppercase
// hexadecimal form.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	if len(s) != 2*DigestSize {
		return d, fmt.Errorf("digest %q: want %d hex characters, got %d", s, 2*DigestSize, len(s))
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return d, fmt.Errorf("digest %q: %w", s, err)
	}
	return d, nil
}

// String returns the lowercase hexadecimal form used everywhere a digest is
// shown or stored as text.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// Short is the first 12 hex characters, for logs and progress lines.
func (d Digest) Short() string { return d.String()[:12] }

// IsZero reports whether d is unset; the all-zero digest names no item.
func (d Digest) IsZero() bool { return d == Digest{} }

// MarshalText makes a digest appear as hex in JSON and YAML.
func (d Digest) MarshalText() ([]byte, error) {
	if d.IsZero() {
		return []byte{}, nil
	}
	return []byte(d.String()), nil
}

// UnmarshalText accepts the hex form; an empty string is the zero digest.
func (d *Digest) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*d = Digest{}
		return nil
	}
	parsed, err := ParseDigest(string(b))
	if err != nil {
		return err
	}
	*d = parsed
	return nil
}

// Hasher accumulates a digest over bytes as they pass through it, so a copy
// and its hash need only one read of the source.
type Hasher struct {
	h hash.Hash
	n int64
}

// NewHasher starts an empty digest.
func NewHasher() *Hasher { return &Hasher{h: sha256.New()} }

// Write adds p to the digest; it never fails.
func (h *Hasher) Write(p []byte) (int, error) {
	h.n += int64(len(p))
	return h.h.Write(p)
}

// Size is the number of bytes hashed so far.
func (h *Hasher) Size() int64 { return h.n }

// Sum returns the digest of everything written so far.
func (h *Hasher) Sum() Digest {
	var d Digest
	copy(d[:], h.h.Sum(nil))
	return d
}

// DigestOf hashes everything r yields.
func DigestOf(r io.Reader) (Digest, int64, error) {
	h := NewHasher()
	if _, err := io.Copy(h, r); err != nil {
		return Digest{}, h.Size(), err
	}
	return h.Sum(), h.Size(), nil
}

// DigestBytes hashes b.
func DigestBytes(b []byte) Digest { return sha256.Sum256(b) }
