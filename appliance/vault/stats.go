package vault

import (
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// ItemStats are running totals of the index, for /metrics: counted once
// when the vault opens and kept up to date by every record write after it
// commits, so a scrape never walks the index.
type ItemStats struct {
	Stored      int64
	Removed     int64
	StoredBytes int64
}

type itemStats struct {
	mu sync.Mutex
	s  ItemStats
}

// Stats returns the running totals.
func (v *Vault) Stats() ItemStats {
	v.stats.mu.Lock()
	defer v.stats.mu.Unlock()
	return v.stats.s
}

// contribution is what one record adds to the totals.
func contribution(it evidence.Item, present bool) ItemStats {
	switch {
	case !present:
		return ItemStats{}
	case it.State == evidence.StateStored:
		return ItemStats{Stored: 1, StoredBytes: it.Size}
	case it.State == evidence.StateRemoved:
		return ItemStats{Removed: 1}
	}
	return ItemStats{}
}

func (v *Vault) addStats(delta ItemStats) {
	v.stats.mu.Lock()
	defer v.stats.mu.Unlock()
	v.stats.s.Stored += delta.Stored
	v.stats.s.Removed += delta.Removed
	v.stats.s.StoredBytes += delta.StoredBytes
}

// trackRecordTx updates the totals for a record replacing old (found or
// not) once tx commits; a transaction rolled back changes nothing.
func (v *Vault) trackRecordTx(tx *bolt.Tx, old evidence.Item, found bool, now evidence.Item) {
	before, after := contribution(old, found), contribution(now, true)
	delta := ItemStats{Stored: after.Stored - before.Stored, Removed: after.Removed - before.Removed,
		StoredBytes: after.StoredBytes - before.StoredBytes}
	tx.OnCommit(func() { v.addStats(delta) })
}

// countItems sets the totals from the index, at open.
func (v *Vault) countItems() error {
	var s ItemStats
	err := v.Items(func(it evidence.Item) bool {
		c := contribution(it, true)
		s.Stored, s.Removed, s.StoredBytes = s.Stored+c.Stored, s.Removed+c.Removed, s.StoredBytes+c.StoredBytes
		return true
	})
	v.stats.mu.Lock()
	v.stats.s = s
	v.stats.mu.Unlock()
	return err
}
