package vault

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// recover clears what an interrupted write left: staged copies in tmp/ are
// removed (they were never evidence), a removal whose record was committed
// but whose file survived is finished, and an object that no record and no
// custody event names is moved to quarantine/ with a custody event, never
// deleted: it is either an ingest cut short before its record committed, or
// the trace of a history that was removed behind the vault's back.
func (v *Vault) recover(ctx context.Context) error {
	tmp := filepath.Join(v.dir, "tmp")
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	for _, e := range entries {
		p := filepath.Join(tmp, e.Name())
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("recover: remove %s: %w", p, err)
		}
		v.log.Info("removed unfinished ingest", "path", p)
	}
	return v.eachObject(func(d evidence.Digest, path string) error {
		removed, err := v.removalCommitted(d)
		if err != nil {
			return err
		}
		if removed {
			v.log.Info("finishing an interrupted removal", "digest", d.String())
			return os.Remove(path)
		}
		named, err := v.named(d)
		if err != nil || named {
			return err
		}
		return v.quarantine(ctx, d, path)
	})
}

// removalCommitted reports whether d's stored record is in state removed
// and is exactly the record its newest custody event, a removal, vouched
// for; a record edited to "removed" behind the vault's back does not get
// its bytes deleted.
func (v *Vault) removalCommitted(d evidence.Digest) (bool, error) {
	var ok bool
	err := v.db.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketItems).Get(d[:])
		if raw == nil {
			return nil
		}
		it, _, err := getItemTx(tx, d)
		if err != nil || it.State != evidence.StateRemoved {
			return nil
		}
		last, err := lastItemEventTx(tx, d)
		if err != nil || last == nil {
			return err
		}
		ok = last.Action == evidence.ActionRemoved && last.Details["record"] == evidence.DigestBytes(raw).String()
		return nil
	})
	return ok, err
}

func (v *Vault) quarantine(ctx context.Context, d evidence.Digest, path string) error {
	dir := filepath.Join(v.dir, "quarantine")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	dst := filepath.Join(dir, d.String())
	if err := os.Rename(path, dst); err != nil {
		return fmt.Errorf("recover: quarantine %s: %w", d.Short(), err)
	}
	v.log.Warn("object named by no record or custody event moved to quarantine", "digest", d.String(), "path", dst)
	_, err := v.Append(ctx, evidence.CustodyEvent{Actor: ActorAppliance, Action: evidence.ActionQuarantined, Item: d,
		Details: map[string]string{"path": filepath.Join("quarantine", d.String()),
			"reason": "no record and no custody event name these bytes: an ingest cut short before its record committed, or history removed behind the vault's back"}})
	return err
}

// named reports whether any record or custody event mentions d.
func (v *Vault) named(d evidence.Digest) (bool, error) {
	var named bool
	err := v.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketItems).Get(d[:]) != nil {
			named = true
			return nil
		}
		k, _ := tx.Bucket(bucketItemEvents).Cursor().Seek(d[:])
		named = k != nil && [32]byte(k[:32]) == d
		return nil
	})
	return named, err
}

// eachObject calls fn for every file under objects/ whose name is a digest;
// anything else there is reported as a stray.
func (v *Vault) eachObject(fn func(d evidence.Digest, path string) error) error {
	root := filepath.Join(v.dir, "objects")
	return filepath.WalkDir(root, func(path string, de os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if de.IsDir() {
			return nil
		}
		d, perr := evidence.ParseDigest(de.Name())
		if perr != nil {
			return fmt.Errorf("stray file %s in the object store", path)
		}
		return fn(d, path)
	})
}
