package custodylog

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// ManifestReport is what a verified manifest (either format) established.
type ManifestReport struct {
	Format     string // evidence.TypeManifest, or evidence.ManifestFormat for the old chain-link manifests
	Item       evidence.Item
	Events     []evidence.CustodyEvent
	Key        ed25519.PublicKey // the signer; proof of origin only when it was pinned
	Checkpoint Checkpoint        // v2: the log checkpoint the events are proven in
	Size       int64             // the number of events the checkpoint covers
	ProofBytes int               // v2: the bytes of checkpoint and proofs
	// Timestamp is the TSA token the manifest carries, unchecked: only
	// VerifyCheckpointTimestamp with the TSA's certificate gives it weight.
	Timestamp *evidence.CheckpointTimestamp
}

// VerifyManifest checks a signed manifest of either format: a v2 envelope
// (inclusion proofs in a log checkpoint) or a v1 manifest (chain links),
// which stays verifiable because copies of it sit in Object Lock and in
// bundles already handed over. pinned, when not nil, is the appliance key
// the caller trusts; without it the embedded key is used, which proves
// integrity but not origin (callers say so).
func VerifyManifest(signed []byte, pinned ed25519.PublicKey) (ManifestReport, error) {
	env, err := evidence.ReadEnvelope(signed)
	if err != nil {
		m, err := evidence.VerifyManifest(signed, pinned)
		if err != nil {
			return ManifestReport{}, err
		}
		return ManifestReport{Format: evidence.ManifestFormat, Item: m.Item, Events: m.Events, Key: m.Key(),
			Size: int64(m.Checkpoint.Seq)}, nil
	}
	var m evidence.ManifestV2
	if err := json.Unmarshal(env.Payload, &m); err != nil {
		return ManifestReport{}, fmt.Errorf("read manifest: %v: %w", err, evidence.ErrManifest)
	}
	key, err := manifestKey(m, pinned)
	if err != nil {
		return ManifestReport{}, err
	}
	if _, err := env.Open(evidence.TypeManifest, key); err != nil {
		return ManifestReport{}, fmt.Errorf("%v: %w", err, evidence.ErrManifest)
	}
	rep, err := checkManifestV2(m, key)
	if err != nil {
		return rep, fmt.Errorf("%v: %w", err, evidence.ErrManifest)
	}
	return rep, nil
}

func manifestKey(m evidence.ManifestV2, pinned ed25519.PublicKey) (ed25519.PublicKey, error) {
	raw, err := hex.DecodeString(m.PublicKey)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("manifest public key unreadable: %w", evidence.ErrManifest)
	}
	embedded := ed25519.PublicKey(raw)
	if pinned != nil && !pinned.Equal(embedded) {
		return nil, fmt.Errorf("manifest was made by key %s, not the pinned key %s: %w", evidence.KeyID(embedded), evidence.KeyID(pinned), evidence.ErrManifest)
	}
	return embedded, nil
}

// checkManifestV2 proves the record, the events and their place in the
// signed log.
func checkManifestV2(m evidence.ManifestV2, key ed25519.PublicKey) (ManifestReport, error) {
	rep := ManifestReport{Format: evidence.TypeManifest, Events: m.Events, Key: key, Timestamp: m.Timestamp}
	if err := json.Unmarshal(m.Record, &rep.Item); err != nil {
		return rep, fmt.Errorf("item record unreadable: %v", err)
	}
	c, _, err := Open([]byte(m.Checkpoint), key)
	if err != nil {
		return rep, err
	}
	rep.Checkpoint, rep.Size = c, c.Size
	rep.ProofBytes = len(m.Checkpoint)
	if err := checkRecord(m, rep.Item); err != nil {
		return rep, err
	}
	proofs := map[uint64][]tlog.Hash{}
	for _, p := range m.Proofs {
		hs, err := DecodeHashes(p.Hashes)
		if err != nil {
			return rep, err
		}
		proofs[p.Seq] = hs
		rep.ProofBytes += len(hs) * tlog.HashSize
	}
	return rep, proveEvents(m.Events, proofs, c)
}

// checkRecord holds the record to the hash its newest vouching event
// carries, over its exact stored bytes.
func checkRecord(m evidence.ManifestV2, it evidence.Item) error {
	if len(m.Events) == 0 {
		return errors.New("manifest has no custody history")
	}
	var record string
	for _, e := range m.Events {
		if e.Item != it.Digest {
			return fmt.Errorf("custody event %d names item %s, not %s", e.Seq, e.Item.Short(), it.Digest.Short())
		}
		if r, ok := e.Details["record"]; ok {
			record = r
		}
	}
	if record != evidence.DigestBytes(bytes.TrimSpace(m.Record)).String() {
		return errors.New("item record differs from the record its custody events vouch for")
	}
	return nil
}

// proveEvents checks each event hashes to itself and is proven: by an
// inclusion proof in the checkpoint's tree, or by the next event of the
// item naming it as its predecessor. The newest must have a proof. Events
// in the item's own chain must all be there: one left out breaks it.
func proveEvents(events []evidence.CustodyEvent, proofs map[uint64][]tlog.Hash, c Checkpoint) error {
	for i, e := range events {
		if err := evidence.CheckLink(nil, e); err != nil {
			return err
		}
		if i > 0 && e.Seq <= events[i-1].Seq {
			return fmt.Errorf("custody events out of order at %d", e.Seq)
		}
		if int64(e.Seq) > c.Size {
			return fmt.Errorf("custody event %d is after the checkpoint of %d events", e.Seq, c.Size)
		}
		var before evidence.Digest
		if i > 0 {
			before = events[i-1].Hash
		}
		if e.V == evidence.EventFormat && e.ItemPrev != before {
			return fmt.Errorf("custody event %d follows another event of the item than the manifest shows: events were left out", e.Seq)
		}
	}
	for i := len(events) - 1; i >= 0; i-- {
		e := events[i]
		if p, ok := proofs[e.Seq]; ok {
			if err := tlog.CheckRecord(p, c.Size, c.Root, int64(e.Seq-1), LeafHash(e)); err != nil {
				return fmt.Errorf("custody event %d is not the event the log holds at that place: %v", e.Seq, err)
			}
			continue
		}
		if i+1 == len(events) || events[i+1].V != evidence.EventFormat {
			return fmt.Errorf("custody event %d is proven neither by an inclusion proof nor by the next event of the item", e.Seq)
		}
	}
	return nil
}
