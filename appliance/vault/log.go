package vault

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/evidence/custodylog"
)

// The custody chain is also an RFC 6962 Merkle tree (custodylog): leaf n
// is event n+1. Its stored hashes (tlog's layout: every complete subtree's
// hash once) live in the bucket "tree", appended in the transaction that
// appends the event, so the tree never lags the chain.

// treeReader reads stored hashes inside a transaction; hashes put earlier
// in the same transaction are seen.
type treeReader struct{ b *bolt.Bucket }

func (r treeReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		v := r.b.Get(seqKey(uint64(x)))
		if len(v) != tlog.HashSize {
			return nil, fmt.Errorf("tree hash %d is missing", x)
		}
		copy(out[i][:], v)
	}
	return out, nil
}

// addLeafTx appends event e's leaf to the tree (e.Seq-1 leaves before it).
func addLeafTx(tx *bolt.Tx, e evidence.CustodyEvent) error {
	b := tx.Bucket(bucketTree)
	n := int64(e.Seq - 1)
	hashes, err := tlog.StoredHashesForRecordHash(n, custodylog.LeafHash(e), treeReader{b})
	if err != nil {
		return fmt.Errorf("tree leaf %d: %w", n, err)
	}
	first := tlog.StoredHashIndex(0, n)
	for i, h := range hashes {
		if err := b.Put(seqKey(uint64(first+int64(i))), bytes.Clone(h[:])); err != nil {
			return fmt.Errorf("tree leaf %d: %w", n, err)
		}
	}
	return nil
}

// migrateTree builds the tree over a chain written before it existed. The
// events keep the format they were written in: the tree only adds leaves.
func migrateTree(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketTree, bucketLogCheckpoints, bucketCosignatures} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	c := tx.Bucket(bucketCustody).Cursor()
	for k, raw := c.First(); k != nil; k, raw = c.Next() {
		e, err := decodeEvent(raw)
		if err != nil {
			return fmt.Errorf("event %x: %w", k, err)
		}
		if e.Seq != binary.BigEndian.Uint64(k) {
			return fmt.Errorf("event stored at %x claims to be event %d: verify the vault before migrating", k, e.Seq)
		}
		if err := addLeafTx(tx, e); err != nil {
			return err
		}
	}
	return nil
}

// TreeHead is the tree's size and root hash now.
func (v *Vault) TreeHead() (int64, tlog.Hash, error) {
	var size int64
	var root tlog.Hash
	err := v.db.View(func(tx *bolt.Tx) error {
		head, err := headTx(tx)
		if err != nil {
			return err
		}
		size = int64(head.Seq)
		root, err = tlog.TreeHash(size, treeReader{tx.Bucket(bucketTree)})
		return err
	})
	return size, root, err
}

// ConsistencyProof proves the tree of size newer extends the tree of size
// older (tlog's proof: the hashes in RFC 6962 order).
func (v *Vault) ConsistencyProof(older, newer int64) ([]tlog.Hash, error) {
	var proof tlog.TreeProof
	err := v.db.View(func(tx *bolt.Tx) error {
		head, err := headTx(tx)
		if err != nil {
			return err
		}
		if older < 1 || older > newer || newer > int64(head.Seq) {
			return fmt.Errorf("consistency from %d to %d: sizes must be 1 <= old <= new <= %d: %w", older, newer, head.Seq, ErrBadProofRequest)
		}
		proof, err = tlog.ProveTree(newer, older, treeReader{tx.Bucket(bucketTree)})
		return err
	})
	return proof, err
}

// ErrBadProofRequest is returned for a proof of sizes the tree cannot give.
var ErrBadProofRequest = errors.New("no such proof")

// itemProofsTx proves item d's events in the tree of size: the newest of
// them always; older events only where the newer one does not chain to
// them (events written before the tree carry no item_prev link).
func itemProofsTx(tx *bolt.Tx, events []evidence.CustodyEvent, size int64) ([]evidence.EventProof, error) {
	var out []evidence.EventProof
	r := treeReader{tx.Bucket(bucketTree)}
	for i := len(events) - 1; i >= 0; i-- {
		e := events[i]
		linked := i+1 < len(events) && events[i+1].V == evidence.EventFormat && events[i+1].ItemPrev == e.Hash
		if linked {
			continue
		}
		p, err := tlog.ProveRecord(size, int64(e.Seq-1), r)
		if err != nil {
			return nil, fmt.Errorf("inclusion proof of event %d in %d: %w", e.Seq, size, err)
		}
		out = append(out, evidence.EventProof{Seq: e.Seq, Hashes: custodylog.EncodeHashes(p)})
	}
	return out, nil
}

// SignedCheckpoint is a checkpoint note as stored, and what it says.
type SignedCheckpoint struct {
	custodylog.Checkpoint
	Signed []byte
}

// LogCheckpoint is the newest signed checkpoint (size 0 for none), or the
// one of exactly the given size when size > 0.
func (v *Vault) LogCheckpoint(size int64) (SignedCheckpoint, error) {
	var out SignedCheckpoint
	err := v.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLogCheckpoints)
		var raw []byte
		if size > 0 {
			raw = b.Get(seqKey(uint64(size)))
		} else {
			_, raw = b.Cursor().Last()
		}
		if raw == nil {
			return fmt.Errorf("no signed checkpoint of size %d: %w", size, ErrNotFound)
		}
		c, _, err := custodylog.Open(raw, v.pub)
		out = SignedCheckpoint{Checkpoint: c, Signed: bytes.Clone(raw)}
		return err
	})
	return out, err
}

// ErrFork is returned when a witness's co-signed checkpoint does not match
// the tree this vault holds at that size.
var ErrFork = errors.New("the witness saw another history")

// StoreCosignature keeps a checkpoint a witness co-signed, after checking
// that the appliance signed it and that it matches this vault's own tree at
// its size. known are the witnesses the configuration pins; a cosignature
// by anyone else is refused.
func (v *Vault) StoreCosignature(ctx context.Context, cosigned []byte, known ...note.Verifier) ([]custodylog.Cosignature, error) {
	c, sigs, err := custodylog.Cosignatures(cosigned, v.pub, known...)
	if err != nil {
		return nil, err
	}
	if len(sigs) == 0 {
		return nil, fmt.Errorf("the checkpoint carries no cosignature by a witness this appliance pins: %w", custodylog.ErrCheckpoint)
	}
	err = v.update(ctx, func(tx *bolt.Tx) error {
		head, err := headTx(tx)
		if err != nil {
			return err
		}
		if c.Size > int64(head.Seq) {
			return fmt.Errorf("the witness co-signed %d events, this vault has %d: %w", c.Size, head.Seq, ErrFork)
		}
		root, err := tlog.TreeHash(c.Size, treeReader{tx.Bucket(bucketTree)})
		if err != nil {
			return err
		}
		if root != c.Root {
			return fmt.Errorf("the witness co-signed another tree of %d events than this vault holds: %w", c.Size, ErrFork)
		}
		b := tx.Bucket(bucketCosignatures)
		for _, s := range sigs {
			if err := b.Put(cosignatureKey(c.Size, s.Witness), cosigned); err != nil {
				return err
			}
		}
		return nil
	})
	return sigs, err
}

func cosignatureKey(size int64, witness string) []byte {
	return append(seqKey(uint64(size)), witness...)
}

// eventAt reads one event of the chain.
func (v *Vault) eventAt(seq uint64) (evidence.CustodyEvent, error) {
	var e evidence.CustodyEvent
	err := v.db.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketCustody).Get(seqKey(seq))
		if raw == nil {
			return fmt.Errorf("event %d: %w", seq, ErrNotFound)
		}
		var err error
		e, err = decodeEvent(raw)
		return err
	})
	return e, err
}

// ItemProofs proves item d's custody events up to size in the tree of that
// size (size 0: the newest signed checkpoint's), with that checkpoint.
func (v *Vault) ItemProofs(d evidence.Digest, size int64) (SignedCheckpoint, []evidence.CustodyEvent, []evidence.EventProof, error) {
	cp, err := v.LogCheckpoint(size)
	if err != nil {
		return cp, nil, nil, err
	}
	var events []evidence.CustodyEvent
	var proofs []evidence.EventProof
	err = v.db.View(func(tx *bolt.Tx) error {
		all, err := itemEventsTx(tx, d)
		if err != nil {
			return err
		}
		for _, e := range all {
			if int64(e.Seq) <= cp.Size {
				events = append(events, e)
			}
		}
		if len(events) == 0 {
			return fmt.Errorf("item %s has no custody event in the first %d: %w", d.Short(), cp.Size, ErrNotFound)
		}
		proofs, err = itemProofsTx(tx, events, cp.Size)
		return err
	})
	return cp, events, proofs, err
}
