package evidence

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Action names what a custody event records.
type Action string

// Custody actions. Each package that moves evidence uses these names so the
// chain reads the same whoever wrote it.
const (
	// vault
	ActionIngested       Action = "ingested"        // new bytes stored
	ActionIngestedAgain  Action = "ingested-again"  // the same bytes arrived again from somewhere
	ActionRecordChanged  Action = "record-changed"  // a mutable field of the record changed
	ActionRemoved        Action = "removed"         // local copy deleted (retention), record kept
	ActionAppliedMigrate Action = "schema-migrated" // the index schema moved forward
	ActionKeyCreated     Action = "key-created"     // the appliance's signing key was made
	ActionVaultClosed    Action = "vault-closed"    // the vault was closed in order; nothing follows until it is opened again
	ActionQuarantined    Action = "quarantined"     // bytes no record names were moved aside at start-up, not deleted

	// dock
	ActionDocked             Action = "docked"
	ActionOffloadStarted     Action = "offload-started"
	ActionFileOffloaded      Action = "file-offloaded"
	ActionVerified           Action = "verified"
	ActionReleased           Action = "released"
	ActionUndocked           Action = "undocked"
	ActionOffloadInterrupted Action = "offload-interrupted"
	ActionFileUnreadable     Action = "file-unreadable"

	// rtsp
	ActionSegmentSealed Action = "segment-sealed"
	ActionGapStart      Action = "gap-start"
	ActionGapEnd        Action = "gap-end"

	// triage
	ActionTriaged         Action = "triaged"
	ActionFlagged         Action = "flagged"
	ActionRedacted        Action = "redacted"
	ActionRedactionEdited Action = "redaction-edited" // manual regions changed; a new copy follows
	ActionReviewSignedOff Action = "review-signed-off"
	ActionTamperAlert     Action = "tamper-alert"

	// sync and central
	ActionQueuedForSync       Action = "queued-for-sync"
	ActionUploaded            Action = "uploaded"
	ActionUploadVerified      Action = "upload-verified"
	ActionCentralAcknowledged Action = "central-acknowledged"
	ActionCentralPulled       Action = "central-pulled" // a central client downloaded the bytes
	ActionExported            Action = "exported"

	// people and the appliance
	ActionPreviewStart    Action = "preview-start"
	ActionPreviewStop     Action = "preview-stop"
	ActionThumbnailViewed Action = "thumbnail-viewed" // first look today of a person at a thumbnail
	ActionLiveViewStart   Action = "live-view-start"  // a person began watching a camera live (details: camera, session, stream)
	ActionLiveViewStop    Action = "live-view-stop"   // ... and stopped (details: camera, session, cause, watched_s)
	ActionLogin           Action = "login"
	ActionAlarm           Action = "alarm"
	ActionIntakeStop      Action = "intake-stopped"
	ActionIntakeResume    Action = "intake-resumed"
	ActionClockJump       Action = "clock-jump" // the wall clock moved against the monotonic clock (details: both readings)
	ActionFirmware        Action = "firmware"
	ActionTokenIssued     Action = "token-issued"  // a central client was given a bearer token
	ActionTokenRevoked    Action = "token-revoked" // ... and it was taken away

	// administration
	ActionAccountCreated Action = "account-created" // a person's account was made
	ActionAccountChanged Action = "account-changed" // password, role, disabled or enabled; details say which
	ActionMFAEnrolled    Action = "mfa-enrolled"    // a second factor was added to an account
	ActionMFAReset       Action = "mfa-reset"       // an account's second factors were removed
	ActionConfigReloaded Action = "config-reloaded" // the running daemon took a new configuration
	ActionBackupMade     Action = "backup-made"     // a consistent copy of the index was taken
	ActionVaultRestored  Action = "vault-restored"  // this index was restored from a backup
)

// Actor names who or what caused an event: "appliance", "user:alice",
// "dock:bay-3", "camera:yard", "central:hq".
type Actor string

// CustodyEvent is one link of the custody chain. Hash covers every other
// field through a canonical encoding, and Prev is the Hash of the event before
// it, so an edit, deletion or reordering anywhere breaks the chain.
type CustodyEvent struct {
	// V is the event's format: 0 (written before version 2) or 2, whose
	// content also covers ItemPrev.
	V       int               `json:"v,omitempty"`
	Seq     uint64            `json:"seq"`
	Time    time.Time         `json:"time"`
	Actor   Actor             `json:"actor"`
	Action  Action            `json:"action"`
	Item    Digest            `json:"item,omitzero"`
	Details map[string]string `json:"details,omitempty"`
	// ItemPrev is the hash of the previous event naming the same item
	// (zero for its first): an item's history is a chain of its own, so one
	// inclusion proof of its newest event proves all of them.
	ItemPrev Digest `json:"item_prev,omitzero"`
	Prev     Digest `json:"prev"`
	Hash     Digest `json:"hash"`
}

// EventFormat is the format the vault writes events in.
const EventFormat = 2

// ContentHash covers everything an event says (all but Prev and Hash).
// The encoding is fixed here rather than left to a serialiser so that it
// never changes under us: a domain tag, then each field length-prefixed,
// details sorted by key. The tag names the format, so an event cannot be
// passed off as the other format.
func (e CustodyEvent) ContentHash() Digest {
	var buf []byte
	if e.V == 2 {
		buf = appendField(buf, []byte("edgetriage-custody-v2"))
	} else {
		buf = appendField(buf, []byte("edgetriage-custody-v1"))
	}
	buf = binary.BigEndian.AppendUint64(buf, e.Seq)
	buf = appendField(buf, []byte(e.Time.UTC().Format(time.RFC3339Nano)))
	buf = appendField(buf, []byte(e.Actor))
	buf = appendField(buf, []byte(e.Action))
	buf = append(buf, e.Item[:]...)
	if e.V == 2 {
		buf = append(buf, e.ItemPrev[:]...)
	}
	keys := make([]string, 0, len(e.Details))
	for k := range e.Details {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(keys)))
	for _, k := range keys {
		buf = appendField(buf, []byte(k))
		buf = appendField(buf, []byte(e.Details[k]))
	}
	return sha256.Sum256(buf)
}

// ComputeHash returns the hash the event must carry: a link over its seq,
// its content hash and the previous event's hash. Because content enters
// only through its hash, a stretch of chain can be proven to someone (an
// export, central storage) as links alone, without showing what the events
// in between say about other people's evidence.
func (e CustodyEvent) ComputeHash() Digest {
	return linkHash(e.Seq, e.ContentHash(), e.Prev)
}

func linkHash(seq uint64, content, prev Digest) Digest {
	var buf []byte
	buf = appendField(buf, []byte("edgetriage-link-v1"))
	buf = binary.BigEndian.AppendUint64(buf, seq)
	buf = append(buf, content[:]...)
	buf = append(buf, prev[:]...)
	return sha256.Sum256(buf)
}

// ChainLink is an event reduced to what proves its place in the chain.
type ChainLink struct {
	Seq     uint64 `json:"seq"`
	Content Digest `json:"content"`
	Prev    Digest `json:"prev"`
	Hash    Digest `json:"hash"`
}

// Link reduces e to its chain link.
func (e CustodyEvent) Link() ChainLink {
	return ChainLink{Seq: e.Seq, Content: e.ContentHash(), Prev: e.Prev, Hash: e.Hash}
}

// Valid reports whether the link's hash is right for its seq, content and prev.
func (l ChainLink) Valid() bool { return linkHash(l.Seq, l.Content, l.Prev) == l.Hash }

func appendField(buf, field []byte) []byte {
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(field)))
	return append(buf, field...)
}

// ErrChainBroken is wrapped by every chain check failure.
var ErrChainBroken = errors.New("custody chain broken")

// CheckLink verifies that e is intact and follows prev (nil for the first
// event of a chain or slice whose predecessor is unknown).
func CheckLink(prev *CustodyEvent, e CustodyEvent) error {
	if e.V != 0 && e.V != EventFormat {
		return fmt.Errorf("event %d: unknown event format %d: %w", e.Seq, e.V, ErrChainBroken)
	}
	if got := e.ComputeHash(); got != e.Hash {
		return fmt.Errorf("event %d: content does not match its hash: %w", e.Seq, ErrChainBroken)
	}
	if prev == nil {
		return nil
	}
	if e.Seq != prev.Seq+1 {
		return fmt.Errorf("event %d follows event %d: sequence gap: %w", e.Seq, prev.Seq, ErrChainBroken)
	}
	if e.Prev != prev.Hash {
		return fmt.Errorf("event %d: previous-hash does not match event %d: %w", e.Seq, prev.Seq, ErrChainBroken)
	}
	return nil
}

// Checkpoint is the appliance's signature over the chain head: whoever holds
// the public key can check that every event up to Seq is as it was signed.
type Checkpoint struct {
	Seq       uint64    `json:"seq"`
	Head      Digest    `json:"head"`
	Time      time.Time `json:"time"`
	KeyID     string    `json:"key_id"`
	Signature []byte    `json:"signature"`
}

// KeyID is a short, stable name for a public key: the first 16 hex
// characters of its SHA-256. It names a key; it is too short to pin one.
func KeyID(pub ed25519.PublicKey) string {
	return Fingerprint(pub)[:16]
}

// Fingerprint is the whole SHA-256 of a public key in hex: what an admin
// writes down at first start and central pins, so that a verifier never
// has to trust a key it reads from the data it checks.
func Fingerprint(pub ed25519.PublicKey) string {
	return DigestBytes(pub).String()
}

// ParseFingerprint accepts a fingerprint as printed, with or without
// spaces or colons between groups, in either case.
func ParseFingerprint(s string) (string, error) {
	clean := strings.ToLower(strings.NewReplacer(" ", "", ":", "", "-", "").Replace(strings.TrimSpace(s)))
	if _, err := ParseDigest(clean); err != nil {
		return "", fmt.Errorf("key fingerprint %q: want the 64 hex characters printed at first start", s)
	}
	return clean, nil
}

// HoldsReplacementCharacter reports whether any text of the event holds
// U+FFFD, which is what a JSON encoder puts where bytes were not UTF-8.
func (e CustodyEvent) HoldsReplacementCharacter() bool {
	has := func(s string) bool { return strings.ContainsRune(s, utf8.RuneError) }
	if has(string(e.Actor)) || has(string(e.Action)) {
		return true
	}
	for k, v := range e.Details {
		if has(k) || has(v) {
			return true
		}
	}
	return false
}

func (c Checkpoint) message() []byte {
	var buf []byte
	buf = appendField(buf, []byte("edgetriage-checkpoint-v1"))
	buf = binary.BigEndian.AppendUint64(buf, c.Seq)
	buf = append(buf, c.Head[:]...)
	buf = appendField(buf, []byte(c.Time.UTC().Format(time.RFC3339Nano)))
	return appendField(buf, []byte(c.KeyID))
}

// SignCheckpoint signs the head event of a chain.
func SignCheckpoint(key ed25519.PrivateKey, head CustodyEvent, at time.Time) Checkpoint {
	pub := key.Public().(ed25519.PublicKey)
	c := Checkpoint{Seq: head.Seq, Head: head.Hash, Time: at.UTC(), KeyID: KeyID(pub)}
	c.Signature = ed25519.Sign(key, c.message())
	return c
}

// VerifyCheckpoint checks c's signature with pub.
func VerifyCheckpoint(pub ed25519.PublicKey, c Checkpoint) error {
	if c.KeyID != KeyID(pub) {
		return fmt.Errorf("checkpoint at event %d: signed by key %s, not by %s", c.Seq, c.KeyID, KeyID(pub))
	}
	if !ed25519.Verify(pub, c.message(), c.Signature) {
		return fmt.Errorf("checkpoint at event %d: signature does not verify", c.Seq)
	}
	return nil
}
