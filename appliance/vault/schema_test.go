package vault

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/evidence/custodylog"
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

// A vault written by v0.1 (hash chain, JSON checkpoints, no tree) opens:
// the migration builds the Merkle tree over its events without changing
// one, the old checkpoints still verify, new events chain to the old ones
// per item, and a manifest of an item ingested under v0.1 proves its old
// events one by one and its new ones through the item's own chain.
func TestMigrationBuildsTheTreeOverAV01Vault(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../../testdata/custody/v0.1-vault")); err != nil {
		t.Fatal(err)
	}
	pub := readPub(t, dir)
	var before []evidence.CustodyEvent
	func() {
		db, err := bolt.Open(filepath.Join(dir, "index.db"), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		db.View(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketCustody).ForEach(func(_, raw []byte) error {
				e, _ := decodeEvent(raw)
				before = append(before, e)
				return nil
			})
		})
	}()
	v := openVault(t, dir)
	ctx := context.Background()
	size, root, err := v.TreeHead()
	if err != nil || size != int64(len(before))+1 {
		t.Fatalf("tree after migration: %d events, %v; the chain had %d, then the migration's own", size, err, len(before))
	}
	for i, e := range before {
		if after, _ := v.eventAt(e.Seq); after.Hash != e.Hash || after.V != 0 {
			t.Fatalf("event %d changed in the migration", i+1)
		}
	}
	rebuilt := treeFactory.NewEmptyRange(0)
	v.Events(1, func(e evidence.CustodyEvent) bool {
		leaf := custodylog.LeafHash(e)
		rebuilt.Append(leaf[:], nil)
		return true
	})
	if want, _ := rebuilt.GetRootHash(nil); string(want) != string(root[:]) {
		t.Fatal("the migrated tree is not the tree of the chain's events")
	}
	static, _ := evidence.ParseDigest("b20680d2796bea0df0290df1fc9aa50a1ce8b1064bac637d255188ba6be1a773")
	if _, err := v.UpdateItem(ctx, static, Change{Actor: "user:sgt", Action: evidence.ActionRecordChanged,
		Apply: func(it *evidence.Item) error { it.Labels = map[string]string{"category": "theft"}; return nil }}); err != nil {
		t.Fatal(err)
	}
	evs, _ := v.ItemEvents(static)
	if last := evs[len(evs)-1]; last.V != evidence.EventFormat || last.ItemPrev != evs[len(evs)-2].Hash {
		t.Fatalf("the first event after the migration does not chain to the item's v0.1 events: %+v", last)
	}
	signed, err := v.Manifest(ctx, static)
	if err != nil {
		t.Fatal(err)
	}
	m, err := custodylog.VerifyManifest(signed, pub)
	if err != nil || m.Item.Digest != static || m.Item.Labels["category"] != "theft" {
		t.Fatalf("manifest of an item ingested under v0.1: %v", err)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if r := verifyPinned(t, dir, pub, 0); !r.OK() || r.Checkpoints < 3 {
		t.Fatalf("verify after the migration (%d checkpoints):\n%s", r.Checkpoints, findings(r))
	}
}
