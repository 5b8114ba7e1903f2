package vault

import (
	"encoding/binary"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

func openBolt(t *testing.T) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "index.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func version(t *testing.T, db *bolt.DB) uint64 {
	var v uint64
	db.View(func(tx *bolt.Tx) error { v = schemaVersion(tx); return nil })
	return v
}

func TestMigration1CreatesCoreBuckets(t *testing.T) {
	db := openBolt(t)
	if _, err := migrate(db, 1); err != nil {
		t.Fatal(err)
	}
	if v := version(t, db); v != 1 {
		t.Fatalf("version %d after migration 1", v)
	}
	db.View(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketItems, bucketCustody, bucketCheckpoints} {
			if tx.Bucket(b) == nil {
				t.Errorf("bucket %s missing", b)
			}
		}
		return nil
	})
}

// A schema-1 index already holds a chain; migration 2 must index it by item.
func TestMigration2IndexesExistingChainByItem(t *testing.T) {
	db := openBolt(t)
	if _, err := migrate(db, 1); err != nil {
		t.Fatal(err)
	}
	item := evidence.DigestBytes([]byte("clip"))
	db.Update(func(tx *bolt.Tx) error {
		var prev evidence.Digest
		for seq := uint64(1); seq <= 3; seq++ {
			e := evidence.CustodyEvent{Seq: seq, Time: time.Unix(int64(seq), 0).UTC(), Actor: "appliance", Action: evidence.ActionIngested, Prev: prev}
			if seq != 2 {
				e.Item = item
			}
			e.Hash = e.ComputeHash()
			prev = e.Hash
			raw, _ := json.Marshal(e)
			tx.Bucket(bucketCustody).Put(seqKey(seq), raw)
		}
		return nil
	})
	applied, err := migrate(db, 2)
	if err != nil || len(applied) != 1 {
		t.Fatalf("migration 2: %v %v", applied, err)
	}
	var seqs []uint64
	db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketItemEvents).ForEach(func(k, _ []byte) error {
			if [32]byte(k[:32]) == item {
				seqs = append(seqs, binary.BigEndian.Uint64(k[32:]))
			}
			return nil
		})
	})
	if len(seqs) != 2 || seqs[0] != 1 || seqs[1] != 3 {
		t.Fatalf("indexed events %v, want [1 3]", seqs)
	}
}

func TestMigration3AddsStateBucket(t *testing.T) {
	db := openBolt(t)
	if _, err := migrate(db, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := migrate(db, 3); err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketState) == nil {
			t.Error("state bucket missing after migration 3")
		}
		return nil
	})
	if v := version(t, db); v != 3 {
		t.Fatalf("version %d", v)
	}
}

func TestMigrationsAreIdempotentAndRefuseNewerIndex(t *testing.T) {
	db := openBolt(t)
	if _, err := migrate(db, SchemaVersion()); err != nil {
		t.Fatal(err)
	}
	if applied, err := migrate(db, SchemaVersion()); err != nil || len(applied) != 0 {
		t.Fatalf("second run applied %v, %v", applied, err)
	}
	db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchemaVersion, binary.BigEndian.AppendUint64(nil, SchemaVersion()+1))
	})
	if _, err := migrate(db, SchemaVersion()); err == nil || !strings.Contains(err.Error(), "newer than this program") {
		t.Fatalf("newer index: %v", err)
	}
}
