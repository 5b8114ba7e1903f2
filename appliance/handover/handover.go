// Package handover decides when a central client's acknowledgement of an
// item proves that central holds it. An item's digest is public (the
// changes feed shows it), so an ack that echoes it proves nothing; yet an
// ack releases camera files (release policy after-ack) and lets retention
// remove the local copy. So an ack must answer a fresh challenge with a
// hash only a holder of every byte can compute, name a manifest this
// appliance served to that client, and come from a client that downloaded
// the whole item here or whose bytes the station's own push verified.
//
// What it keeps, in the vault's state space "handover":
//
//	served/<client>/<digest>    JSON byte ranges of the item served to that client
//	manifest/<client>/<digest>  JSON hashes of the manifests served to that client
//
// Challenges live in memory for ChallengeTTL: a restart only means central
// asks again.
package handover

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

// ChallengeTTL is how long a challenge can be answered: long enough to hash
// a large clip from central's storage, short enough that none piles up.
const ChallengeTTL = 30 * time.Minute

// manifestsKept bounds the manifest hashes remembered per client and item.
const manifestsKept = 16

// Store is the durable state space; *vault.KV satisfies it.
type Store interface {
	Get(key string) ([]byte, error)
	Put(ctx context.Context, key string, val []byte) error
}

// Vault is what the desk needs of the vault; *vault.Vault satisfies it.
type Vault interface {
	Item(d evidence.Digest) (evidence.Item, error)
	OpenObject(d evidence.Digest) (*os.File, error)
	Acknowledge(ctx context.Context, d evidence.Digest, ack vault.Acknowledgement) (evidence.SignedReceipt, error)
	ItemEvents(d evidence.Digest) ([]evidence.CustodyEvent, error)
}

// Desk issues challenges, remembers what each client was served, and
// checks acknowledgements. It is safe for concurrent use.
type Desk struct {
	vault Vault
	store Store
	now   func() time.Time

	mu         sync.Mutex
	challenges map[challengeKey]challenge
	// served serialises read-modify-write of one client's ranges.
	served sync.Mutex
}

type challengeKey struct {
	client string
	item   evidence.Digest
}

type challenge struct {
	nonce   []byte
	expires time.Time
}

// New makes a desk over the vault and its state space.
func New(v Vault, store Store, now func() time.Time) *Desk {
	if now == nil {
		now = time.Now
	}
	return &Desk{vault: v, store: store, now: now, challenges: map[challengeKey]challenge{}}
}

// Challenge is what a client must hash together with the item's bytes.
type Challenge struct {
	Challenge string    `json:"challenge"` // hex
	ExpiresAt time.Time `json:"expires_at"`
}

// Challenge issues a fresh challenge for client and item, replacing any
// earlier one of theirs for the item.
func (d *Desk) Challenge(client string, item evidence.Digest) (Challenge, error) {
	nonce := make([]byte, evidence.AckChallengeSize)
	if _, err := rand.Read(nonce); err != nil {
		return Challenge{}, fmt.Errorf("challenge: %w", err)
	}
	now := d.now()
	c := challenge{nonce: nonce, expires: now.Add(ChallengeTTL)}
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, old := range d.challenges {
		if now.After(old.expires) {
			delete(d.challenges, k)
		}
	}
	d.challenges[challengeKey{client, item}] = c
	return Challenge{Challenge: hex.EncodeToString(nonce), ExpiresAt: c.expires.UTC()}, nil
}

// take removes and returns the client's live challenge for item.
func (d *Desk) take(client string, item evidence.Digest, given []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := challengeKey{client, item}
	c, ok := d.challenges[k]
	switch {
	case !ok:
		return fmt.Errorf("no challenge was issued to %s for this item (ask for one first): %w", client, ErrRefused)
	case d.now().After(c.expires):
		delete(d.challenges, k)
		return fmt.Errorf("the challenge expired at %s: %w", c.expires.UTC().Format(time.RFC3339), ErrRefused)
	case subtle.ConstantTimeCompare(c.nonce, given) != 1:
		return fmt.Errorf("that is not the challenge issued for this item: %w", ErrRefused)
	}
	delete(d.challenges, k)
	return nil
}

// ErrRefused is wrapped by every refused acknowledgement.
var ErrRefused = errors.New("acknowledgement refused")

// Ack is what central sends to acknowledge an item.
type Ack struct {
	Challenge string `json:"challenge"`       // hex, as issued
	Proof     string `json:"proof"`           // hex evidence.AckProof over the challenge and the content
	Manifest  string `json:"manifest_sha256"` // hex SHA-256 of the signed manifest bytes as served
}

// Acknowledge checks an ack and records it; the answer is the appliance's
// signed receipt. Anything missing or wrong is refused with ErrRefused and
// nothing is recorded.
func (d *Desk) Acknowledge(ctx context.Context, client string, item evidence.Digest, a Ack) (evidence.SignedReceipt, error) {
	nonce, err1 := hex.DecodeString(a.Challenge)
	proof, err2 := evidence.ParseDigest(a.Proof)
	manifest, err3 := evidence.ParseDigest(a.Manifest)
	if err := errors.Join(err1, err2, err3); err != nil {
		return evidence.SignedReceipt{}, fmt.Errorf("ack must carry hex 'challenge', 'proof' and 'manifest_sha256': %v: %w", err, ErrRefused)
	}
	it, err := d.vault.Item(item)
	if err != nil {
		return evidence.SignedReceipt{}, err
	}
	if err := d.checkReceived(client, it); err != nil {
		return evidence.SignedReceipt{}, err
	}
	if err := d.checkManifest(client, item, manifest); err != nil {
		return evidence.SignedReceipt{}, err
	}
	if err := d.take(client, item, nonce); err != nil {
		return evidence.SignedReceipt{}, err
	}
	want, err := d.expectedProof(it, nonce)
	if err != nil {
		return evidence.SignedReceipt{}, err
	}
	if subtle.ConstantTimeCompare(want[:], proof[:]) != 1 {
		return evidence.SignedReceipt{}, fmt.Errorf("the proof does not match the item's bytes: central does not hold them whole: %w", ErrRefused)
	}
	return d.vault.Acknowledge(ctx, item, vault.Acknowledgement{Central: client, Manifest: manifest, Proof: proof})
}

func (d *Desk) expectedProof(it evidence.Item, nonce []byte) (evidence.Digest, error) {
	if it.State != evidence.StateStored {
		return evidence.Digest{}, fmt.Errorf("the local copy was %s; the proof cannot be checked: %w", it.State, ErrRefused)
	}
	f, err := d.vault.OpenObject(it.Digest)
	if err != nil {
		return evidence.Digest{}, err
	}
	defer f.Close()
	return evidence.AckProof(nonce, f)
}

// checkReceived refuses a client that never got the whole item: neither
// downloaded here in full nor pushed by the station and verified at the
// target (central then verifies that copy in place).
func (d *Desk) checkReceived(client string, it evidence.Item) error {
	// The push's verification is on the item's record as an upload-verified
	// event (the outbox keeps no label on the item).
	events, err := d.vault.ItemEvents(it.Digest)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(events, func(e evidence.CustodyEvent) bool { return e.Action == evidence.ActionUploadVerified }) {
		return nil
	}
	ranges, err := d.servedRanges(client, it.Digest)
	if err != nil {
		return err
	}
	if missing := ranges.missing(it.Size); missing > 0 {
		return fmt.Errorf("%s downloaded %d of %d bytes of this item here and the station has not pushed it: %w",
			client, it.Size-missing, it.Size, ErrRefused)
	}
	return nil
}

func (d *Desk) checkManifest(client string, item evidence.Digest, manifest evidence.Digest) error {
	served, err := d.servedManifests(client, item)
	if err != nil {
		return err
	}
	if !slices.Contains(served, manifest) {
		return fmt.Errorf("manifest %s was never served to %s for this item: %w", manifest.Short(), client, ErrRefused)
	}
	return nil
}

func servedKey(client string, item evidence.Digest) string {
	return "served/" + client + "/" + item.String()
}
func manifestKey(client string, item evidence.Digest) string {
	return "manifest/" + client + "/" + item.String()
}

// ServedManifest remembers that client was given a manifest of item.
func (d *Desk) ServedManifest(ctx context.Context, client string, item evidence.Digest, signed []byte) error {
	d.served.Lock()
	defer d.served.Unlock()
	hashes, err := d.servedManifests(client, item)
	if err != nil {
		return err
	}
	h := evidence.DigestBytes(signed)
	if slices.Contains(hashes, h) {
		return nil
	}
	hashes = append(hashes, h)
	if len(hashes) > manifestsKept {
		hashes = hashes[len(hashes)-manifestsKept:]
	}
	return d.putJSON(ctx, manifestKey(client, item), hashes)
}

// Served remembers that bytes [start, end) of item went to client in full.
func (d *Desk) Served(ctx context.Context, client string, item evidence.Digest, start, end int64) error {
	if end <= start {
		return nil
	}
	d.served.Lock()
	defer d.served.Unlock()
	ranges, err := d.servedRanges(client, item)
	if err != nil {
		return err
	}
	return d.putJSON(ctx, servedKey(client, item), ranges.add(start, end))
}

func (d *Desk) servedManifests(client string, item evidence.Digest) ([]evidence.Digest, error) {
	var out []evidence.Digest
	return out, d.getJSON(manifestKey(client, item), &out)
}

func (d *Desk) servedRanges(client string, item evidence.Digest) (byteRanges, error) {
	var out byteRanges
	return out, d.getJSON(servedKey(client, item), &out)
}

func (d *Desk) getJSON(key string, v any) error {
	raw, err := d.store.Get(key)
	if err != nil || raw == nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("handover state %s: %w", key, err)
	}
	return nil
}

func (d *Desk) putJSON(ctx context.Context, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return d.store.Put(ctx, key, raw)
}

// byteRanges are disjoint, sorted [start, end) pairs.
type byteRanges [][2]int64

func (rs byteRanges) add(start, end int64) byteRanges {
	out := append(slices.Clone(rs), [2]int64{start, end})
	slices.SortFunc(out, func(a, b [2]int64) int { return cmp.Compare(a[0], b[0]) })
	merged := out[:1]
	for _, r := range out[1:] {
		last := &merged[len(merged)-1]
		if r[0] <= last[1] {
			last[1] = max(last[1], r[1])
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

// missing is how many bytes of [0, size) the ranges do not cover.
func (rs byteRanges) missing(size int64) int64 {
	covered := int64(0)
	for _, r := range rs {
		covered += max(0, min(r[1], size)-max(r[0], 0))
	}
	return size - covered
}
