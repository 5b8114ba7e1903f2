package vault

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// Finding is one thing verify found wrong. Item or Seq names the culprit.
type Finding struct {
	Item evidence.Digest `json:"item,omitzero"`
	Seq  uint64          `json:"seq,omitempty"`
	What string          `json:"what"`
}

func (f Finding) String() string {
	switch {
	case !f.Item.IsZero():
		return fmt.Sprintf("item %s: %s", f.Item, f.What)
	case f.Seq != 0:
		return fmt.Sprintf("event %d: %s", f.Seq, f.What)
	}
	return f.What
}

// Report is the outcome of Verify.
type Report struct {
	Items       int       `json:"items"`
	Removed     int       `json:"removed"`
	Bytes       int64     `json:"bytes"`
	Events      uint64    `json:"events"`
	Checkpoints int       `json:"checkpoints"`
	Findings    []Finding `json:"findings,omitempty"`
}

// OK reports whether nothing was found wrong.
func (r Report) OK() bool { return len(r.Findings) == 0 }

func (r *Report) add(f Finding) { r.Findings = append(r.Findings, f) }

// chainState is what walking the chain learns for checking the rest.
type chainState struct {
	hashes     map[uint64]evidence.Digest
	lastRecord map[evidence.Digest]evidence.Digest
	recordSeq  map[evidence.Digest]uint64
	key        ed25519.PublicKey
}

// Verify re-hashes every stored item, walks the whole custody chain, checks
// every checkpoint signature, and checks every record against the record
// hash its newest custody event carries. progress, when not nil, is told the
// bytes hashed so far.
func (v *Vault) Verify(ctx context.Context, progress func(hashed int64)) (Report, error) {
	var r Report
	if v.keyErr != nil {
		r.add(Finding{What: v.keyErr.Error()})
	}
	cs, err := v.verifyChain(&r)
	if err != nil {
		return r, err
	}
	if err := v.verifyCheckpoints(&r, cs); err != nil {
		return r, err
	}
	if err := v.verifyItems(ctx, &r, cs, progress); err != nil {
		return r, err
	}
	return r, nil
}

func (v *Vault) verifyChain(r *Report) (chainState, error) {
	cs := chainState{hashes: map[uint64]evidence.Digest{}, lastRecord: map[evidence.Digest]evidence.Digest{},
		recordSeq: map[evidence.Digest]uint64{}}
	err := v.db.View(func(tx *bolt.Tx) error {
		var prev *evidence.CustodyEvent
		return tx.Bucket(bucketCustody).ForEach(func(k, raw []byte) error {
			r.Events++
			keySeq := binary.BigEndian.Uint64(k)
			e, err := decodeEvent(raw)
			if err != nil {
				r.add(Finding{Seq: keySeq, What: "cannot be read: " + err.Error()})
				return nil
			}
			v.checkEvent(r, &cs, prev, keySeq, e)
			prev = &e
			return nil
		})
	})
	return cs, err
}

func (v *Vault) checkEvent(r *Report, cs *chainState, prev *evidence.CustodyEvent, keySeq uint64, e evidence.CustodyEvent) {
	if e.Seq != keySeq {
		r.add(Finding{Seq: keySeq, What: fmt.Sprintf("stored at position %d but claims to be event %d (events moved)", keySeq, e.Seq)})
	}
	if prev == nil && e.Seq != 1 {
		r.add(Finding{Seq: e.Seq, What: "the chain does not start at event 1"})
	}
	if err := evidence.CheckLink(prev, e); err != nil {
		msg := strings.TrimSuffix(err.Error(), ": "+evidence.ErrChainBroken.Error())
		r.add(Finding{Seq: e.Seq, What: strings.TrimPrefix(msg, fmt.Sprintf("event %d: ", e.Seq))})
	}
	cs.hashes[keySeq] = e.Hash
	if e.Action == evidence.ActionKeyCreated && cs.key == nil {
		if raw, err := hex.DecodeString(e.Details["public_key"]); err == nil && len(raw) == ed25519.PublicKeySize {
			cs.key = ed25519.PublicKey(raw)
		}
	}
	if rec, ok := e.Details["record"]; ok && !e.Item.IsZero() {
		d, err := evidence.ParseDigest(rec)
		if err != nil {
			r.add(Finding{Seq: e.Seq, What: "record hash unreadable"})
			return
		}
		cs.lastRecord[e.Item] = d
		cs.recordSeq[e.Item] = e.Seq
	}
}

func (v *Vault) verifyCheckpoints(r *Report, cs chainState) error {
	if cs.key == nil {
		r.add(Finding{What: "the chain names no signing key (key-created event missing or altered)"})
		return nil
	}
	return v.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCheckpoints).ForEach(func(k, raw []byte) error {
			r.Checkpoints++
			var cp evidence.Checkpoint
			if err := json.Unmarshal(raw, &cp); err != nil {
				r.add(Finding{What: fmt.Sprintf("checkpoint %x cannot be read: %v", k, err)})
				return nil
			}
			if err := evidence.VerifyCheckpoint(cs.key, cp); err != nil {
				r.add(Finding{Seq: cp.Seq, What: err.Error()})
				return nil
			}
			head, ok := cs.hashes[cp.Seq]
			switch {
			case !ok:
				r.add(Finding{Seq: cp.Seq, What: "signed by a checkpoint but missing from the chain"})
			case head != cp.Head:
				r.add(Finding{Seq: cp.Seq, What: "differs from the event the checkpoint signed"})
			}
			return nil
		})
	})
}

func (v *Vault) verifyItems(ctx context.Context, r *Report, cs chainState, progress func(int64)) error {
	seen := map[evidence.Digest]bool{}
	var items []evidence.Item
	err := v.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketItems).ForEach(func(k, raw []byte) error {
			var it evidence.Item
			if err := json.Unmarshal(raw, &it); err != nil || [32]byte(k) != it.Digest {
				r.add(Finding{Item: evidence.Digest(k), What: "record cannot be read or is filed under another digest"})
				return nil
			}
			items = append(items, it)
			return nil
		})
	})
	if err != nil {
		return err
	}
	var hashed int64
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return err
		}
		seen[it.Digest] = true
		r.Items++
		v.checkRecord(r, cs, it)
		if it.State == evidence.StateRemoved {
			r.Removed++
			continue
		}
		hashed += v.checkBytes(r, it)
		if progress != nil {
			progress(hashed)
		}
	}
	r.Bytes = hashed
	for d, seq := range cs.recordSeq {
		if !seen[d] {
			r.add(Finding{Item: d, What: fmt.Sprintf("record missing from the index (its last event is %d)", seq)})
		}
	}
	return v.eachObject(func(d evidence.Digest, path string) error {
		if !seen[d] && cs.recordSeq[d] == 0 {
			r.add(Finding{Item: d, What: "file in the object store has no record and no custody event"})
		}
		return nil
	})
}

func (v *Vault) checkRecord(r *Report, cs chainState, it evidence.Item) {
	want, ok := cs.lastRecord[it.Digest]
	switch {
	case !ok:
		r.add(Finding{Item: it.Digest, What: "record has no custody event"})
	case it.RecordHash() != want:
		r.add(Finding{Item: it.Digest, What: fmt.Sprintf("record differs from the one event %d recorded (edited outside the vault)", cs.recordSeq[it.Digest])})
	}
}

// checkBytes re-hashes an item's file and returns the bytes read.
func (v *Vault) checkBytes(r *Report, it evidence.Item) int64 {
	f, err := os.Open(v.ObjectPath(it.Digest))
	if errors.Is(err, fs.ErrNotExist) {
		r.add(Finding{Item: it.Digest, What: "file is missing from the object store"})
		return 0
	}
	if err != nil {
		r.add(Finding{Item: it.Digest, What: "file cannot be opened: " + err.Error()})
		return 0
	}
	defer f.Close()
	got, n, err := evidence.DigestOf(f)
	switch {
	case err != nil:
		r.add(Finding{Item: it.Digest, What: "file cannot be read: " + err.Error()})
	case n != it.Size:
		r.add(Finding{Item: it.Digest, What: fmt.Sprintf("file has %d bytes, the record says %d", n, it.Size)})
	case got != it.Digest:
		r.add(Finding{Item: it.Digest, What: "file content does not match its digest (now " + got.Short() + ")"})
	}
	return n
}
