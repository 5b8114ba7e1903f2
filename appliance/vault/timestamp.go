package vault

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/evidence/custodylog"
)

// A checkpoint note of a size can be replaced (an idle tree is re-signed
// with a later time), so a token is kept with the exact note it stamped,
// not only beside whatever note holds that size now. The first token of a
// size is kept: it proves the earliest time.

func migrateTimestamps(tx *bolt.Tx) error {
	if _, err := tx.CreateBucketIfNotExists(bucketTimestamps); err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketTimestamps, err)
	}
	return nil
}

// Unstamped is the newest signed checkpoint when no TSA token covers its
// size yet; false when there is no checkpoint or it is already stamped.
func (v *Vault) Unstamped() (SignedCheckpoint, bool, error) {
	cp, err := v.LogCheckpoint(0)
	if errors.Is(err, ErrNotFound) {
		return cp, false, nil
	}
	if err != nil {
		return cp, false, err
	}
	var stamped bool
	err = v.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTimestamps)
		stamped = b != nil && b.Get(seqKey(uint64(cp.Size))) != nil
		return nil
	})
	return cp, !stamped, err
}

// StoreTimestamp keeps a TSA's token over a checkpoint note this vault
// signed. The caller has checked the token against the TSA's certificate;
// the vault checks the note is its own and matches its tree, so a token
// over anything else never enters the index.
func (v *Vault) StoreTimestamp(ctx context.Context, note, token []byte) error {
	c, _, err := custodylog.Open(note, v.pub)
	if err != nil {
		return fmt.Errorf("store timestamp: %w", err)
	}
	raw, err := json.Marshal(evidence.CheckpointTimestamp{Note: string(note), Token: token})
	if err != nil {
		return fmt.Errorf("store timestamp of checkpoint %d: %w", c.Size, err)
	}
	err = v.update(ctx, func(tx *bolt.Tx) error {
		root, err := tlog.TreeHash(c.Size, treeReader{tx.Bucket(bucketTree)})
		if err != nil {
			return err
		}
		if root != c.Root {
			return fmt.Errorf("the note does not match this vault's tree of %d events", c.Size)
		}
		b := tx.Bucket(bucketTimestamps)
		if b.Get(seqKey(uint64(c.Size))) != nil {
			return nil
		}
		return b.Put(seqKey(uint64(c.Size)), raw)
	})
	if err != nil {
		return fmt.Errorf("store timestamp of checkpoint %d: %w", c.Size, err)
	}
	return nil
}

// Timestamp is the TSA timestamp kept for the checkpoint of size, if any.
func (v *Vault) Timestamp(size int64) (evidence.CheckpointTimestamp, bool, error) {
	var out evidence.CheckpointTimestamp
	var found bool
	err := v.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTimestamps) // absent in an index opened for verification before schema 5
		if b == nil {
			return nil
		}
		raw := b.Get(seqKey(uint64(size)))
		if raw == nil {
			return nil
		}
		found = true
		return json.Unmarshal(raw, &out)
	})
	return out, found, err
}

// newestStampTx is the newest timestamp of a checkpoint no larger than
// size, with the proof that the tree of size extends it; nil for none.
func newestStampTx(tx *bolt.Tx, size int64) (*evidence.CheckpointTimestamp, error) {
	b := tx.Bucket(bucketTimestamps)
	if b == nil {
		return nil, nil
	}
	c := b.Cursor()
	k, raw := c.Seek(seqKey(uint64(size) + 1))
	if k == nil {
		k, raw = c.Last()
	} else {
		k, raw = c.Prev()
	}
	if k == nil {
		return nil, nil
	}
	var s evidence.CheckpointTimestamp
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("timestamp of checkpoint %d: %w", binary.BigEndian.Uint64(k), err)
	}
	stamped := int64(binary.BigEndian.Uint64(k))
	if stamped < size {
		proof, err := tlog.ProveTree(size, stamped, treeReader{tx.Bucket(bucketTree)})
		if err != nil {
			return nil, fmt.Errorf("consistency of checkpoint %d with %d: %w", stamped, size, err)
		}
		s.Consistency = custodylog.EncodeHashes(proof)
	}
	return &s, nil
}

// storedStamp is a timestamp as verify reads it from the index.
type storedStamp struct {
	size int64
	raw  []byte
}

func (v *Vault) readStamps() ([]storedStamp, error) {
	var out []storedStamp
	err := v.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTimestamps)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, raw []byte) error {
			out = append(out, storedStamp{int64(binary.BigEndian.Uint64(k)), bytes.Clone(raw)})
			return nil
		})
	})
	return out, err
}

// verifyStamps checks every kept timestamp: its note is a checkpoint of
// the log that matches the events, and its token stamps that note and
// verifies against the TSA certificates the caller trusts. A token moved
// from another checkpoint is named with the checkpoint it really stamps.
func (v *Vault) verifyStamps(r *Report, cs chainState, sigs logSignatures, key ed25519.PublicKey, roots *x509.CertPool) {
	notes := map[evidence.Digest]int64{}
	for _, raw := range sigs.checkpoints {
		if c, ok := noteBody(raw); ok {
			notes[custodylog.NoteHash(raw)] = c.Size
		}
	}
	for _, st := range sigs.stamps {
		var s evidence.CheckpointTimestamp
		if json.Unmarshal(st.raw, &s) == nil {
			notes[custodylog.NoteHash([]byte(s.Note))] = st.size
		}
	}
	for _, st := range sigs.stamps {
		r.Timestamps++
		if roots == nil {
			continue
		}
		if t, ok := v.checkStamp(r, cs, st, key, roots, notes); ok {
			r.TrustedTimes = append(r.TrustedTimes, t)
		}
	}
}

func (v *Vault) checkStamp(r *Report, cs chainState, st storedStamp, key ed25519.PublicKey, roots *x509.CertPool, notes map[evidence.Digest]int64) (custodylog.StampedCheckpoint, bool) {
	fail := func(format string, args ...any) (custodylog.StampedCheckpoint, bool) {
		r.add(Finding{Seq: uint64(st.size), What: fmt.Sprintf("the TSA timestamp of checkpoint %d: ", st.size) + fmt.Sprintf(format, args...)})
		return custodylog.StampedCheckpoint{}, false
	}
	var s evidence.CheckpointTimestamp
	if err := json.Unmarshal(st.raw, &s); err != nil {
		return fail("cannot be read: %v", err)
	}
	c, _, err := custodylog.Open([]byte(s.Note), key)
	switch {
	case err != nil:
		return fail("the note it stamps: %v", err)
	case c.Size != st.size:
		return fail("the note it stamps is the checkpoint of %d events", c.Size)
	case cs.roots[c.Size] != c.Root:
		return fail("the checkpoint it stamps does not match the events: the history up to event %d changed after the TSA saw it", c.Size)
	}
	tt, err := custodylog.CheckToken(s.Token, []byte(s.Note), roots)
	if errors.Is(err, custodylog.ErrOtherCheckpoint) {
		other := "no checkpoint this vault holds"
		if n, ok := notes[tt.Imprint]; ok {
			other = fmt.Sprintf("checkpoint %d", n)
		}
		return fail("refused: the token was issued by %s at %s for %s (note SHA-256 %s), not for checkpoint %d (note SHA-256 %s)",
			tt.TSA, tt.Time.Format(time.RFC3339), other, tt.Imprint, st.size, custodylog.NoteHash([]byte(s.Note)))
	}
	if err != nil {
		return fail("%v", err)
	}
	return custodylog.StampedCheckpoint{TrustedTime: tt, Size: c.Size}, true
}
