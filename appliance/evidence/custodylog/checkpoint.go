// Package custodylog makes the custody chain a log others can hold the
// appliance to: an RFC 6962 Merkle tree over the events (one leaf per
// event, its chain hash as the leaf's data), checkpoints of the tree in the
// C2SP tlog-checkpoint signed-note format, inclusion proofs (an event is
// in a checkpoint), consistency proofs (a later checkpoint extends an
// earlier one), and the witness side: checking a new checkpoint against the
// last one seen and co-signing it (C2SP tlog-cosignature).
//
// A local verify can never convict whoever holds the appliance's key:
// they can rewrite history and sign it again. A checkpoint that a witness
// (central) has seen and co-signed can't be rewritten that way: any later
// history must extend it, or the two signed checkpoints together prove the
// fork.
//
// It builds on golang.org/x/mod/sumdb (tlog, note), the code Go's checksum
// database runs on, and github.com/transparency-dev/formats for the
// checkpoint and cosignature formats CT witnesses use.
package custodylog

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// LeafHash is the tree's leaf for an event: SHA-256(0x00 || event hash).
// The event hash already commits to the event's seq, content and
// predecessor, so the leaf needs nothing else.
func LeafHash(e evidence.CustodyEvent) tlog.Hash { return tlog.RecordHash(e.Hash[:]) }

// Origin names an appliance's log in its checkpoints. It is derived from
// the key, so two appliances never share one, and it survives a rename.
func Origin(pub ed25519.PublicKey) string { return "edgetriage.appliance/" + evidence.KeyID(pub) }

// Checkpoint is what a signed checkpoint says: the tree of Size events
// has root Root, as the appliance saw it at Time.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
	Time   time.Time
}

// timeExtension is the one extension line a checkpoint carries (C2SP
// allows them after the root; witnesses ignore them): when it was signed.
const timeExtension = "time "

// Body is the checkpoint's note text, in the C2SP tlog-checkpoint layout.
func (c Checkpoint) Body() string {
	return fmt.Sprintf("%s\n%d\n%s\n%s%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]),
		timeExtension, c.Time.UTC().Format(time.RFC3339Nano))
}

// ParseBody reads a checkpoint note's text.
func ParseBody(text string) (Checkpoint, error) {
	lines := strings.Split(text, "\n")
	if len(lines) < 4 || lines[len(lines)-1] != "" {
		return Checkpoint{}, errors.New("checkpoint: want origin, size, root hash and a time, one per line")
	}
	var c Checkpoint
	c.Origin = lines[0]
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || c.Origin == "" {
		return c, fmt.Errorf("checkpoint: bad origin %q or size %q", lines[0], lines[1])
	}
	c.Size = size
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return c, fmt.Errorf("checkpoint: root hash %q is not %d bytes of base64", lines[2], tlog.HashSize)
	}
	copy(c.Root[:], root)
	for _, ext := range lines[3 : len(lines)-1] {
		if t, ok := strings.CutPrefix(ext, timeExtension); ok {
			if c.Time, err = time.Parse(time.RFC3339Nano, t); err != nil {
				return c, fmt.Errorf("checkpoint: time %q: %w", t, err)
			}
		}
	}
	return c, nil
}

// signerKey is the note library's text form of an Ed25519 signing key.
func signerKey(name string, key ed25519.PrivateKey) (string, error) {
	vkey, err := note.NewEd25519VerifierKey(name, key.Public().(ed25519.PublicKey))
	if err != nil {
		return "", err
	}
	parts := strings.Split(vkey, "+")
	seed := append([]byte{1}, key.Seed()...) // 1: note's Ed25519 algorithm
	return "PRIVATE+KEY+" + name + "+" + parts[1] + "+" + base64.StdEncoding.EncodeToString(seed), nil
}

// Verifier checks an appliance's checkpoint signatures.
func Verifier(pub ed25519.PublicKey) (note.Verifier, error) {
	vkey, err := note.NewEd25519VerifierKey(Origin(pub), pub)
	if err != nil {
		return nil, err
	}
	return note.NewVerifier(vkey)
}

// Sign signs a checkpoint with the appliance's key.
func Sign(key ed25519.PrivateKey, c Checkpoint) ([]byte, error) {
	skey, err := signerKey(c.Origin, key)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	return note.Sign(&note.Note{Text: c.Body()}, s)
}

// ErrCheckpoint is wrapped by every checkpoint that does not verify.
var ErrCheckpoint = errors.New("checkpoint does not verify")

// Open checks a signed checkpoint against the appliance's key and returns
// what it says and the signatures of the others (witnesses) among known
// that verified. Signatures by keys not in known are ignored.
func Open(signed []byte, pub ed25519.PublicKey, witnesses ...note.Verifier) (Checkpoint, []note.Signature, error) {
	own, err := Verifier(pub)
	if err != nil {
		return Checkpoint{}, nil, err
	}
	n, err := note.Open(signed, note.VerifierList(append([]note.Verifier{own}, witnesses...)...))
	if err != nil {
		return Checkpoint{}, nil, fmt.Errorf("%v: %w", err, ErrCheckpoint)
	}
	var signedByAppliance bool
	var others []note.Signature
	for _, s := range n.Sigs {
		if s.Name == own.Name() && s.Hash == own.KeyHash() {
			signedByAppliance = true
			continue
		}
		others = append(others, s)
	}
	if !signedByAppliance {
		return Checkpoint{}, nil, fmt.Errorf("not signed by appliance key %s: %w", evidence.KeyID(pub), ErrCheckpoint)
	}
	c, err := ParseBody(n.Text)
	if err != nil {
		return c, nil, fmt.Errorf("%v: %w", err, ErrCheckpoint)
	}
	if c.Origin != Origin(pub) {
		return c, nil, fmt.Errorf("origin %q is not this appliance's log %q: %w", c.Origin, Origin(pub), ErrCheckpoint)
	}
	return c, others, nil
}

// Fingerprint is the hash of a checkpoint's text, what a witness and the
// appliance use to name "the checkpoint of size N we both saw".
func Fingerprint(body string) evidence.Digest { return sha256.Sum256([]byte(body)) }

// EncodeHashes and DecodeHashes carry proofs in JSON as base64 strings.
func EncodeHashes(hs []tlog.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = base64.StdEncoding.EncodeToString(h[:])
	}
	return out
}

// DecodeHashes reads proof hashes as EncodeHashes writes them.
func DecodeHashes(ss []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(ss))
	for i, s := range ss {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) != tlog.HashSize {
			return nil, fmt.Errorf("proof hash %d is not %d bytes of base64", i, tlog.HashSize)
		}
		copy(out[i][:], b)
	}
	return out, nil
}

// cosignatureTime reads the time a witness put in its C2SP
// tlog-cosignature/v1 signature (its first 8 bytes, big-endian seconds).
func cosignatureTime(sig note.Signature) (time.Time, error) {
	raw, err := base64.StdEncoding.DecodeString(sig.Base64)
	if err != nil || len(raw) < 4+8 {
		return time.Time{}, fmt.Errorf("cosignature of %s is not a tlog-cosignature/v1 signature", sig.Name)
	}
	return time.Unix(int64(binary.BigEndian.Uint64(raw[4:12])), 0).UTC(), nil
}

// sameText reports whether two signed notes carry the same checkpoint.
func sameText(a, b []byte) bool {
	ta, _, _ := bytes.Cut(a, []byte("\n\n"))
	tb, _, _ := bytes.Cut(b, []byte("\n\n"))
	return bytes.Equal(ta, tb)
}
