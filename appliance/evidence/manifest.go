package evidence

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// ManifestFormat names the manifest layout; a verifier refuses others.
const ManifestFormat = "edgetriage-manifest-v1"

// Manifest is what an appliance says about one item when it hands it on, to
// central storage or in an export bundle: the record, every custody event
// of the item, and the chain links from its first event up to a signed
// checkpoint, so a third party can check the record and its history against
// the appliance's key without the appliance's database.
type Manifest struct {
	Format     string         `json:"format"`
	KeyID      string         `json:"key_id"`
	PublicKey  string         `json:"public_key"` // hex; pin it with --pubkey to prove origin
	Item       Item           `json:"item"`
	Events     []CustodyEvent `json:"events"`
	Links      []ChainLink    `json:"links"`
	Checkpoint Checkpoint     `json:"checkpoint"`
}

// SignedManifest carries a manifest's exact bytes and the appliance's
// signature over them. Signing bytes, not a re-encoding, means a verifier
// never depends on how its JSON library orders or spaces things.
type SignedManifest struct {
	Manifest  json.RawMessage `json:"manifest"`
	KeyID     string          `json:"key_id"`
	Signature string          `json:"signature"` // hex Ed25519 over Manifest
}

// SignManifest encodes and signs m.
func SignManifest(key ed25519.PrivateKey, m Manifest) ([]byte, error) {
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	env := SignedManifest{Manifest: raw, KeyID: m.KeyID, Signature: hex.EncodeToString(ed25519.Sign(key, raw))}
	// Not indented: indenting would re-format the signed bytes.
	return json.Marshal(env)
}

// ErrManifest is wrapped by every manifest verification failure.
var ErrManifest = errors.New("manifest does not verify")

// VerifyManifest checks a signed manifest and returns what it says. pinned,
// when not nil, is the appliance key the caller trusts; without it the key
// inside the manifest is used, which proves integrity but not origin.
func VerifyManifest(signed []byte, pinned ed25519.PublicKey) (Manifest, error) {
	var env SignedManifest
	if err := json.Unmarshal(signed, &env); err != nil {
		return Manifest{}, fmt.Errorf("read signed manifest: %w: %w", err, ErrManifest)
	}
	var m Manifest
	if err := json.Unmarshal(env.Manifest, &m); err != nil {
		return m, fmt.Errorf("read manifest: %w: %w", err, ErrManifest)
	}
	if m.Format != ManifestFormat {
		return m, fmt.Errorf("manifest format %q, want %q: %w", m.Format, ManifestFormat, ErrManifest)
	}
	key, err := manifestKey(m, env, pinned)
	if err != nil {
		return m, err
	}
	sig, err := hex.DecodeString(env.Signature)
	if err != nil || !ed25519.Verify(key, env.Manifest, sig) {
		return m, fmt.Errorf("manifest signature does not verify with key %s: %w", KeyID(key), ErrManifest)
	}
	if err := VerifyCheckpoint(key, m.Checkpoint); err != nil {
		return m, fmt.Errorf("%w: %w", err, ErrManifest)
	}
	if err := m.checkHistory(); err != nil {
		return m, fmt.Errorf("%w: %w", err, ErrManifest)
	}
	return m, nil
}

// Key is the public key the manifest says signed it, nil when unreadable.
// It proves nothing about origin until compared with a pinned key.
func (m Manifest) Key() ed25519.PublicKey {
	raw, err := hex.DecodeString(m.PublicKey)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil
	}
	return ed25519.PublicKey(raw)
}

func manifestKey(m Manifest, env SignedManifest, pinned ed25519.PublicKey) (ed25519.PublicKey, error) {
	embedded := m.Key()
	if embedded == nil {
		return nil, fmt.Errorf("manifest public key unreadable: %w", ErrManifest)
	}
	if id := KeyID(embedded); m.KeyID != id || env.KeyID != id {
		return nil, fmt.Errorf("manifest names key id %q (envelope %q) but carries key %s: %w", m.KeyID, env.KeyID, id, ErrManifest)
	}
	if pinned != nil && !pinned.Equal(embedded) {
		return nil, fmt.Errorf("manifest was made by key %s, not the pinned key %s: %w", KeyID(embedded), KeyID(pinned), ErrManifest)
	}
	return embedded, nil
}

// checkHistory proves the item's events sit in the chain the checkpoint
// signed, and that the record is the one its last event vouched for.
func (m Manifest) checkHistory() error {
	if len(m.Links) == 0 || len(m.Events) == 0 {
		return errors.New("manifest has no custody history")
	}
	bySeq := make(map[uint64]ChainLink, len(m.Links))
	for i, l := range m.Links {
		if !l.Valid() {
			return fmt.Errorf("chain link %d does not hash to itself", l.Seq)
		}
		if i > 0 && (l.Seq != m.Links[i-1].Seq+1 || l.Prev != m.Links[i-1].Hash) {
			return fmt.Errorf("chain link %d does not follow link %d", l.Seq, m.Links[i-1].Seq)
		}
		bySeq[l.Seq] = l
	}
	last := m.Links[len(m.Links)-1]
	if last.Seq != m.Checkpoint.Seq || last.Hash != m.Checkpoint.Head {
		return fmt.Errorf("chain links end at event %d, the checkpoint signs event %d", last.Seq, m.Checkpoint.Seq)
	}
	var record string
	for _, e := range m.Events {
		l, ok := bySeq[e.Seq]
		if !ok || e.Item != m.Item.Digest || l.Content != e.ContentHash() || l.Hash != e.Hash {
			return fmt.Errorf("custody event %d is not the event the chain holds at that place", e.Seq)
		}
		if r, ok := e.Details["record"]; ok {
			record = r
		}
	}
	if record != m.Item.RecordHash().String() {
		return errors.New("item record differs from the record its custody events vouch for")
	}
	return nil
}

// ManifestV2 is what the appliance says about one item since the custody
// log became a Merkle tree: the record exactly as stored, every custody
// event of the item, a signed checkpoint of the log, and inclusion proofs.
// The item's events chain to each other (ItemPrev), so one proof of the
// newest proves them all; events written before the tree have a proof
// each. Proofs grow with the logarithm of the log, not with its length.
// It travels sealed in an envelope of type TypeManifest.
type ManifestV2 struct {
	PublicKey  string          `json:"public_key"` // hex; pin it to prove origin
	Record     json.RawMessage `json:"record"`     // the item record's stored bytes
	Events     []CustodyEvent  `json:"events"`
	Checkpoint string          `json:"checkpoint"` // C2SP signed note of the log
	Proofs     []EventProof    `json:"proofs"`
	// Timestamp, when the appliance had one, is a TSA's RFC 3161 token
	// over a checkpoint of the log no larger than Checkpoint's, with the
	// proof that Checkpoint's tree extends it.
	Timestamp *CheckpointTimestamp `json:"timestamp,omitempty"`
}

// CheckpointTimestamp is a trusted time for a checkpoint: Token is a
// time-stamp authority's RFC 3161 token (DER) over SHA-256 of Note, the
// appliance's signed checkpoint note. Consistency proves a later
// checkpoint's tree extends Note's (base64 hashes, RFC 6962 order; empty
// when both are the same size).
type CheckpointTimestamp struct {
	Note        string   `json:"note"`
	Token       []byte   `json:"token"`
	Consistency []string `json:"consistency,omitempty"`
}

// EventProof proves event Seq is leaf Seq-1 of the checkpoint's tree.
type EventProof struct {
	Seq    uint64   `json:"seq"`
	Hashes []string `json:"hashes"` // base64, RFC 6962 order
}
