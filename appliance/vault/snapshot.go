package vault

import (
	"encoding/json"
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// Snapshot is what a copy of the index holds.
type Snapshot struct {
	// Head is the newest custody event in the copy.
	Head uint64
	// Size is the copy's length in bytes.
	Size int64
	// Stored are the items whose bytes the vault held, as of the copy.
	Stored []evidence.Digest
}

// WriteSnapshot writes a consistent copy of the index (bbolt's Tx.WriteTo
// in one read transaction: every record, event and checkpoint as of one
// moment) while the vault stays in use for intake. start is told the
// copy's size first (an archive needs it before the bytes) and returns
// where to write it.
func (v *Vault) WriteSnapshot(start func(size int64) (io.Writer, error)) (Snapshot, error) {
	var snap Snapshot
	err := v.db.View(func(tx *bolt.Tx) error {
		head, err := headTx(tx)
		if err != nil {
			return err
		}
		snap.Head = head.Seq
		c := tx.Bucket(bucketItems).Cursor()
		for k, raw := c.First(); k != nil; k, raw = c.Next() {
			var it evidence.Item
			if err := json.Unmarshal(raw, &it); err != nil {
				return fmt.Errorf("decode item %x: %w", k, err)
			}
			if it.State == evidence.StateStored {
				snap.Stored = append(snap.Stored, it.Digest)
			}
		}
		snap.Size = tx.Size()
		w, err := start(snap.Size)
		if err != nil {
			return err
		}
		_, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return snap, fmt.Errorf("snapshot of the index: %w", err)
	}
	return snap, nil
}
