package custodylog

// Trusted time. A checkpoint's own time line is the appliance's clock, and
// whoever holds the appliance can set that clock. An RFC 3161 time-stamp
// authority (TSA) signs "this hash existed by T" with a key the appliance
// does not hold: a token over a checkpoint note proves the tree of that
// size (and so every event in it) existed by T, to anyone who trusts the
// TSA's certificate.

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"time"

	"github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// ErrTimestamp is wrapped by every token that does not verify.
var ErrTimestamp = errors.New("timestamp does not verify")

// ErrOtherCheckpoint is wrapped when a token is valid but stamps another
// note than the checkpoint it is offered for.
var ErrOtherCheckpoint = errors.New("the token stamps another checkpoint")

// TrustedTime is what a verified token proves: its note existed by Time,
// according to the TSA whose certificate subject is TSA.
type TrustedTime struct {
	Time time.Time
	TSA  string
	// Imprint is the SHA-256 the token stamps (the note's hash).
	Imprint evidence.Digest
}

// NoteHash is what the TSA is asked to stamp: SHA-256 of the signed note
// exactly as stored, signature lines included.
func NoteHash(note []byte) evidence.Digest { return sha256.Sum256(note) }

// TimestampRequest is an RFC 3161 request over note's hash that asks for
// the TSA's certificate in the token (so it verifies offline) and carries
// a fresh nonce (so an old reply cannot be replayed as this one's).
func TimestampRequest(note []byte) ([]byte, *big.Int, error) {
	nonce, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, nil, fmt.Errorf("timestamp request: %w", err)
	}
	h := NoteHash(note)
	req := timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: h[:], Certificates: true, Nonce: nonce}
	raw, err := req.Marshal()
	if err != nil {
		return nil, nil, fmt.Errorf("timestamp request: %w", err)
	}
	return raw, nonce, nil
}

// TimestampReply reads a TSA's reply to TimestampRequest(note): the token
// (DER) is returned only when it was granted, answers this request's
// nonce, stamps note, and verifies against roots, so nothing unverifiable
// is ever stored.
func TimestampReply(reply, note []byte, nonce *big.Int, roots *x509.CertPool) ([]byte, TrustedTime, error) {
	ts, err := guardParse(func() (*timestamp.Timestamp, error) { return timestamp.ParseResponse(reply) })
	if err != nil {
		return nil, TrustedTime{}, fmt.Errorf("TSA reply: %v: %w", err, ErrTimestamp)
	}
	if ts.Nonce == nil || ts.Nonce.Cmp(nonce) != 0 {
		return nil, TrustedTime{}, fmt.Errorf("TSA reply answers another request (nonce %v, sent %v): %w", ts.Nonce, nonce, ErrTimestamp)
	}
	tt, err := CheckToken(ts.RawToken, note, roots)
	if err != nil {
		return nil, tt, err
	}
	return bytes.Clone(ts.RawToken), tt, nil
}

// CheckToken verifies an RFC 3161 token (DER) as a stamp of note: the
// TSA's certificate chains to roots and is for time-stamping, the token's
// signature holds, and its message imprint is SHA-256 of note. A valid
// token over another note wraps ErrOtherCheckpoint and still returns what
// it stamps, so the caller can say which checkpoint it belongs to.
func CheckToken(token, note []byte, roots *x509.CertPool) (TrustedTime, error) {
	ts, err := guardParse(func() (*timestamp.Timestamp, error) { return timestamp.Parse(token) })
	if err != nil {
		return TrustedTime{}, fmt.Errorf("token unreadable or its signature does not hold: %v: %w", err, ErrTimestamp)
	}
	p7, err := guardParse(func() (*pkcs7.PKCS7, error) { return pkcs7.Parse(token) })
	if err != nil {
		return TrustedTime{}, fmt.Errorf("token unreadable: %v: %w", err, ErrTimestamp)
	}
	signer := p7.GetOnlySigner()
	if signer == nil {
		return TrustedTime{}, fmt.Errorf("the token carries no single TSA certificate: %w", ErrTimestamp)
	}
	tt := TrustedTime{Time: ts.Time.UTC(), TSA: signer.Subject.String()}
	copy(tt.Imprint[:], ts.HashedMessage)
	intermediates := x509.NewCertPool()
	for _, c := range p7.Certificates {
		intermediates.AddCert(c)
	}
	// The chain is judged at the time the TSA claims, so a token stays
	// valid after its TSA certificate expires, as RFC 3161 intends.
	err = p7.VerifyWithOpts(x509.VerifyOptions{Roots: roots, Intermediates: intermediates, CurrentTime: ts.Time,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}})
	if err != nil {
		return tt, fmt.Errorf("TSA %s is not trusted by the given certificate: %v: %w", tt.TSA, err, ErrTimestamp)
	}
	want := NoteHash(note)
	if ts.HashAlgorithm != crypto.SHA256 || !bytes.Equal(ts.HashedMessage, want[:]) {
		return tt, fmt.Errorf("it stamps SHA-256 %s, the checkpoint's note hashes to %s: %w",
			hex.EncodeToString(ts.HashedMessage), want, ErrOtherCheckpoint)
	}
	return tt, nil
}

// StampedCheckpoint is what a checkpoint's timestamp proved.
type StampedCheckpoint struct {
	TrustedTime
	Size int64 // the checkpoint stamped
}

// String is what the stamp proves, as verify prints it.
func (s StampedCheckpoint) String() string {
	return fmt.Sprintf("checkpoint %d existed by %s (TSA %s)", s.Size, s.Time.Format(time.RFC3339), s.TSA)
}

// VerifyCheckpointTimestamp checks a timestamp carried with checkpoint c
// (in a manifest): its note is a checkpoint of key's log, c's tree extends
// that note's tree, and the token stamps the note and verifies against
// roots. It returns the size stamped and when it existed.
func VerifyCheckpointTimestamp(s evidence.CheckpointTimestamp, c Checkpoint, key ed25519.PublicKey, roots *x509.CertPool) (StampedCheckpoint, error) {
	stamped, _, err := Open([]byte(s.Note), key)
	if err != nil {
		return StampedCheckpoint{}, fmt.Errorf("the timestamped checkpoint: %w", err)
	}
	out := StampedCheckpoint{Size: stamped.Size}
	if err := stampExtendedBy(s, c, stamped); err != nil {
		return out, err
	}
	tt, err := CheckToken(s.Token, []byte(s.Note), roots)
	out.TrustedTime = tt
	if err != nil {
		return out, fmt.Errorf("timestamp of checkpoint %d: %w", stamped.Size, err)
	}
	return out, nil
}

func stampExtendedBy(s evidence.CheckpointTimestamp, c, stamped Checkpoint) error {
	if stamped.Size > c.Size {
		return fmt.Errorf("the timestamped checkpoint of %d events is newer than the manifest's of %d: %w", stamped.Size, c.Size, ErrTimestamp)
	}
	if stamped.Size == c.Size {
		if stamped.Root != c.Root {
			return fmt.Errorf("the timestamped checkpoint of %d events has another root than the manifest's: %w", c.Size, ErrTimestamp)
		}
		return nil
	}
	proof, err := DecodeHashes(s.Consistency)
	if err != nil {
		return fmt.Errorf("timestamp consistency proof: %v: %w", err, ErrTimestamp)
	}
	if err := tlog.CheckTree(proof, c.Size, c.Root, stamped.Size, stamped.Root); err != nil {
		return fmt.Errorf("the manifest's checkpoint of %d events does not extend the timestamped one of %d: %v: %w", c.Size, stamped.Size, err, ErrTimestamp)
	}
	return nil
}

// guardParse runs a parser of the pkcs7 library, whose BER reader panics
// on some malformed input (found by FuzzTimestampToken: "0\x82"). A token
// comes from a TSA or a bundle, so bad bytes are an error to report, never
// a crash of verify or the daemon.
func guardParse[T any](parse func() (T, error)) (out T, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed ASN.1 (the parser gave up: %v)", p)
		}
	}()
	return parse()
}

// ReadCertPool reads a PEM file of certificates (a TSA's CA) into a pool.
func ReadCertPool(path string) (*x509.CertPool, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(raw) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}
