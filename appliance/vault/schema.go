package vault

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketMeta        = []byte("meta")
	bucketItems       = []byte("items")
	bucketCustody     = []byte("custody")
	bucketCheckpoints = []byte("checkpoints")
	bucketItemEvents  = []byte("item_events")
	bucketState       = []byte("state")
	// schema 4: the custody log's Merkle tree, its signed checkpoints, and
	// witnesses' cosignatures of them.
	bucketTree           = []byte("tree")
	bucketLogCheckpoints = []byte("log_checkpoints")
	bucketCosignatures   = []byte("cosignatures")
	// schema 5: TSA timestamps of checkpoints.
	bucketTimestamps = []byte("timestamps")

	keySchemaVersion = []byte("schema_version")
	keyApplianceID   = []byte("appliance_id")
	keyKeyRecorded   = []byte("key_recorded")
)

// migration moves the index from schema version N-1 to N, where N is its
// position in migrations plus one. Migrations only ever get appended.
type migration struct {
	name  string
	apply func(tx *bolt.Tx) error
}

var migrations = []migration{
	{"create items, custody, checkpoints", migrateCreateCore},
	{"index custody events by item", migrateItemEvents},
	{"add durable component state", migrateState},
	{"build the custody log's Merkle tree", migrateTree},
	{"add TSA timestamps of checkpoints", migrateTimestamps},
}

// SchemaVersion is the version an index has once every migration has run.
func SchemaVersion() uint64 { return uint64(len(migrations)) }

func migrateCreateCore(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketMeta, bucketItems, bucketCustody, bucketCheckpoints} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// migrateItemEvents builds the per-item event index from the chain that
// schema 1 already holds, so old databases answer item history queries too.
func migrateItemEvents(tx *bolt.Tx) error {
	idx, err := tx.CreateBucketIfNotExists(bucketItemEvents)
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketItemEvents, err)
	}
	return tx.Bucket(bucketCustody).ForEach(func(k, v []byte) error {
		ev, err := decodeEvent(v)
		if err != nil {
			return fmt.Errorf("event %x: %w", k, err)
		}
		if ev.Item.IsZero() {
			return nil
		}
		return idx.Put(itemEventKey(ev.Item, ev.Seq), nil)
	})
}

func migrateState(tx *bolt.Tx) error {
	if _, err := tx.CreateBucketIfNotExists(bucketState); err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketState, err)
	}
	return nil
}

func schemaVersion(tx *bolt.Tx) uint64 {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return 0
	}
	v := meta.Get(keySchemaVersion)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// migrate runs every migration the index has not had yet, each in its own
// transaction with the version bump, so a crash leaves a consistent version.
func migrate(db *bolt.DB, upTo uint64) (applied []string, err error) {
	for {
		var name string
		err := db.Update(func(tx *bolt.Tx) error {
			v := schemaVersion(tx)
			if v > uint64(len(migrations)) {
				return fmt.Errorf("index schema version %d is newer than this program knows (%d): upgrade edgetriage", v, len(migrations))
			}
			if v >= upTo {
				return nil
			}
			m := migrations[v]
			if err := m.apply(tx); err != nil {
				return fmt.Errorf("migration %d (%s): %w", v+1, m.name, err)
			}
			name = m.name
			return tx.Bucket(bucketMeta).Put(keySchemaVersion, binary.BigEndian.AppendUint64(nil, v+1))
		})
		if err != nil {
			return applied, err
		}
		if name == "" {
			return applied, nil
		}
		applied = append(applied, name)
	}
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func itemEventKey(d [32]byte, seq uint64) []byte {
	k := make([]byte, 0, 40)
	k = append(k, d[:]...)
	return binary.BigEndian.AppendUint64(k, seq)
}
