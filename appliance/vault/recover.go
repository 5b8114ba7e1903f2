package vault

import (
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// recover removes what an interrupted ingest left: staged copies in tmp/,
// and objects that were placed but whose record never committed. An object
// is only removed when no record and no custody event names it, so bytes
// whose record was deleted behind the vault's back stay for verify to report.
func (v *Vault) recover() error {
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
		if it, err := v.Item(d); err == nil && it.State == evidence.StateRemoved {
			v.log.Info("finishing an interrupted removal", "digest", d.String())
			return os.Remove(path)
		}
		named, err := v.named(d)
		if err != nil || named {
			return err
		}
		v.log.Warn("removing object whose ingest never committed", "digest", d.String())
		return os.Remove(path)
	})
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
