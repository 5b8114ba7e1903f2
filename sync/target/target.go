// Package target is the contract between the sync outbox and the places it
// copies evidence to (an S3 bucket with Object Lock, a directory on an NFS
// mount). It holds only types, the object key layout, error classes and a
// bandwidth-limited reader, so the outbox and every target can share them
// without depending on each other.
package target

import (
	"context"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// Object is one vault item to copy. Its digest and size were computed at
// ingest; targets send the digest as the expected checksum instead of hashing
// the file again before sending.
type Object struct {
	Digest evidence.Digest
	Size   int64
	// Path is the vault file; targets only read it.
	Path string
	// Manifest is written beside the object (see ManifestKey), byte for byte.
	Manifest []byte
	// Hold asks for a legal hold on the copy, on top of its retention.
	Hold bool
	// Progress, when set, is called with the number of bytes just sent.
	Progress func(n int64) `json:"-"`
}

// Receipt says what a target holds after Put or Verify.
type Receipt struct {
	Target      string    `json:"target"`
	Key         string    `json:"key"`
	ManifestKey string    `json:"manifest_key"`
	VersionID   string    `json:"version_id,omitempty"`
	Size        int64     `json:"size"`
	Checksum    string    `json:"checksum"` // as the target reports it
	RetainUntil time.Time `json:"retain_until,omitzero"`
	Hold        bool      `json:"hold,omitempty"`
	// Existing is true when the object was already there and nothing was sent.
	Existing bool `json:"existing,omitempty"`
	// PartsSent counts multipart parts sent by this call (0 for a single PUT).
	PartsSent int   `json:"parts_sent,omitempty"`
	BytesSent int64 `json:"bytes_sent"`
}

// Target is a place evidence is copied to. Put is idempotent: objects are
// keyed by digest, and a Put of an object that is already stored and intact
// sends nothing, so a retry after any failure never makes a second copy.
type Target interface {
	Name() string
	Put(ctx context.Context, obj Object, cp Checkpoints) (Receipt, error)
	// Verify checks the stored copy against obj's digest and size; rc is the
	// receipt Put returned, or the zero Receipt if it was lost.
	Verify(ctx context.Context, obj Object, rc Receipt) (Receipt, error)
}

// Part is one finished part of a multipart upload.
type Part struct {
	Number int    `json:"n"`
	Size   int64  `json:"size"`
	ETag   string `json:"etag"`
	SHA256 string `json:"sha256"` // base64, as S3 reports x-amz-checksum-sha256
}

// Checkpoint is the resumable state of a multipart upload.
type Checkpoint struct {
	Key      string `json:"key"`
	UploadID string `json:"upload_id"`
	PartSize int64  `json:"part_size"`
	Parts    []Part `json:"parts,omitempty"`
	// HashState is the SHA-256 state over Parts, in order, for uploads fed
	// from a stream that cannot be read again from the start (central's
	// pull); vault uploads re-read their file and leave it empty.
	HashState []byte `json:"hash_state,omitempty"`
}

// Checkpoints persists multipart progress per item so an upload survives a
// crash or restart of the appliance. The daemon stores them in its bbolt
// database; a target saves after every finished part and deletes the
// checkpoint once the object is complete.
type Checkpoints interface {
	LoadCheckpoint(ctx context.Context, d evidence.Digest) (cp Checkpoint, ok bool, err error)
	SaveCheckpoint(ctx context.Context, d evidence.Digest, cp Checkpoint) error
	DeleteCheckpoint(ctx context.Context, d evidence.Digest) error
}

// Key is where an item's bytes live on a target: content-addressed, so the
// same bytes always land on the same key. The two-character fan-out keeps
// directory targets from growing one huge directory.
func Key(d evidence.Digest) string {
	h := d.String()
	return "evidence/" + h[:2] + "/" + h
}

// ManifestKey is where the item's manifest lives, beside its bytes.
func ManifestKey(d evidence.Digest) string { return Key(d) + ".manifest.json" }

// Layout places an item's bytes on a target; the manifest goes beside them
// (key + ".manifest.json"). A station's push uses Key; central storage, which
// holds many stations in one bucket, uses Prefixed with the station's id.
type Layout func(d evidence.Digest) string

// Prefixed is the layout "<prefix>/<digest>".
func Prefixed(prefix string) Layout {
	return func(d evidence.Digest) string { return prefix + "/" + d.String() }
}
