package vault

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// ActorAppliance is the actor of events the vault writes on its own behalf.
const ActorAppliance evidence.Actor = "appliance"

// Options tune a vault; the zero value is right for the daemon.
type Options struct {
	Logger *slog.Logger
	// Prober fills in Media for media files; nil skips probing.
	Prober func(ctx context.Context, path string) (evidence.Media, error)
	// LockTimeout bounds the wait for another process holding the index.
	LockTimeout time.Duration
	// Now is the appliance clock; tests may pin it.
	Now func() time.Time
	// VerifyOnly opens the index read-only and changes nothing on disk: no
	// migration, no key creation, no crash clean-up, no checkpoint on close.
	// A replaced signing key is then reported by Verify instead of refused.
	VerifyOnly bool
}

// Vault is an open data directory. It is safe for concurrent use.
type Vault struct {
	dir    string
	db     *bolt.DB
	key    ed25519.PrivateKey
	pub    ed25519.PublicKey
	log    *slog.Logger
	probe  func(ctx context.Context, path string) (evidence.Media, error)
	now    func() time.Time
	commit groupCommit
	gate   intakeGate
	subs   subscribers
	chunks chunkPool // copy buffers of ingests
	// chainReads counts walks of the chain (Events), so a test can hold
	// that nothing polls it.
	chainReads atomic.Uint64

	verifyOnly bool
	keyErr     error // why the key file cannot be trusted, in verify-only mode
	keyCreated bool  // this open made the signing key
	stats      itemStats
	// withoutTree appends events to the chain only: for the benchmark that
	// measures what the Merkle tree costs, never set otherwise.
	withoutTree bool

	closeOnce sync.Once
	closeErr  error
}

// Open opens or creates the vault in dir, runs pending schema migrations,
// makes the signing key on first use, and removes what a crash left behind.
func Open(ctx context.Context, dir string, opts Options) (*Vault, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.LockTimeout == 0 {
		opts.LockTimeout = 3 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	for _, sub := range []string{"objects", "tmp", "keys"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o750); err != nil {
			return nil, fmt.Errorf("open vault %s: %w", dir, err)
		}
	}
	indexPath := filepath.Join(dir, "index.db")
	if opts.VerifyOnly {
		if _, err := os.Stat(indexPath); err != nil {
			return nil, fmt.Errorf("open vault %s: no index here: %w", dir, err)
		}
	}
	db, err := bolt.Open(indexPath, 0o600, &bolt.Options{Timeout: opts.LockTimeout, ReadOnly: opts.VerifyOnly})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("open vault %s: the index is locked by another edgetriage process (stop the daemon first)", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("open vault %s: %w", dir, err)
	}
	v := &Vault{dir: dir, db: db, log: opts.Logger, probe: opts.Prober, now: opts.Now, verifyOnly: opts.VerifyOnly}
	v.commit.v = v
	start := v.start
	if opts.VerifyOnly {
		start = v.startVerifyOnly
	}
	if err := start(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open vault %s: %w", dir, err)
	}
	return v, nil
}

func (v *Vault) start(ctx context.Context) error {
	headBefore, err := v.headIfAny()
	if err != nil {
		return err
	}
	applied, err := migrate(v.db, SchemaVersion())
	if err != nil {
		return err
	}
	if v.keyCreated, err = v.loadKey(); err != nil {
		return err
	}
	if err := v.bindKey(); err != nil {
		return err
	}
	if err := v.recordKey(ctx); err != nil {
		return err
	}
	for _, name := range applied {
		v.log.Info("index schema migrated", "migration", name)
	}
	if len(applied) > 0 && headBefore > 0 {
		if _, err := v.Append(ctx, evidence.CustodyEvent{Actor: ActorAppliance, Action: evidence.ActionAppliedMigrate,
			Details: map[string]string{"migrations": strings.Join(applied, "; "), "schema_version": fmt.Sprint(SchemaVersion())}}); err != nil {
			return err
		}
	}
	if err := v.recover(ctx); err != nil {
		return err
	}
	return v.countItems()
}

// headIfAny is the chain head's seq, or 0 for an index not yet created.
func (v *Vault) headIfAny() (uint64, error) {
	var seq uint64
	err := v.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketCustody) == nil {
			return nil
		}
		head, err := headTx(tx)
		seq = head.Seq
		return err
	})
	return seq, err
}

// recordKey puts the public key into the chain once, in the same
// transaction as the mark that says it is there, so a crash between making
// the key file and recording it is mended on the next open.
func (v *Vault) recordKey(ctx context.Context) error {
	return v.update(ctx, func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta.Get(keyKeyRecorded) != nil {
			return nil
		}
		ev := evidence.CustodyEvent{Actor: ActorAppliance, Action: evidence.ActionKeyCreated,
			Details: map[string]string{"key_id": evidence.KeyID(v.pub), "public_key": hex.EncodeToString(v.pub)}}
		if _, err := v.appendTx(tx, []evidence.CustodyEvent{ev}); err != nil {
			return err
		}
		return meta.Put(keyKeyRecorded, []byte(evidence.KeyID(v.pub)))
	})
}

func (v *Vault) startVerifyOnly(context.Context) error {
	var version uint64
	v.db.View(func(tx *bolt.Tx) error { version = schemaVersion(tx); return nil })
	if version != SchemaVersion() {
		return fmt.Errorf("index schema version %d, this program verifies %d: start the daemon once to migrate", version, SchemaVersion())
	}
	if _, err := os.Stat(v.keyPath()); err != nil {
		v.keyErr = fmt.Errorf("signing key %s: %w", v.keyPath(), err)
		return nil
	}
	if _, err := v.loadKey(); err != nil {
		v.keyErr = err
		return nil
	}
	var bound []byte
	v.db.View(func(tx *bolt.Tx) error { bound = bytes.Clone(tx.Bucket(bucketMeta).Get(keyApplianceID)); return nil })
	if id := evidence.KeyID(v.pub); string(bound) != id {
		v.keyErr = fmt.Errorf("signing key %s (id %s) is not the key this vault was created with (id %s): %w", v.keyPath(), id, bound, ErrKeyMismatch)
	}
	return nil
}

// bindKey records which key the chain belongs to the first time, and from
// then on refuses to sign with any other: a replaced key file must not quietly
// start signing evidence.
func (v *Vault) bindKey() error {
	id := []byte(evidence.KeyID(v.pub))
	return v.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		bound := meta.Get(keyApplianceID)
		if bound == nil {
			return meta.Put(keyApplianceID, id)
		}
		if !bytes.Equal(bound, id) {
			return fmt.Errorf("signing key %s in %s is not the key %s this vault was created with: %w",
				id, v.keyPath(), bound, ErrKeyMismatch)
		}
		return nil
	})
}

// ErrKeyMismatch means the key file was replaced; the vault opens read-only
// for verify in that case so the replacement can be reported, not used.
var ErrKeyMismatch = errors.New("signing key replaced")

// Close records that the vault was closed in order, signs a checkpoint of
// that event, and closes the index. A chain whose head is not such an event
// was left by a crash, or cut short: verify tells them apart from a clean
// stop by this event. Calling Close more than once is harmless.
func (v *Vault) Close() error {
	v.closeOnce.Do(func() {
		var err error
		if !v.verifyOnly {
			_, err = v.Append(context.Background(), evidence.CustodyEvent{Actor: ActorAppliance, Action: evidence.ActionVaultClosed})
			if err == nil {
				_, err = v.Checkpoint(context.Background())
			}
		}
		v.closeErr = errors.Join(err, v.db.Close())
	})
	return v.closeErr
}

// Dir is the data directory.
func (v *Vault) Dir() string { return v.dir }

// KeyCreated reports whether this open made the signing key (first start).
func (v *Vault) KeyCreated() bool { return v.keyCreated }

// PublicKey is the appliance's checkpoint-signing key.
func (v *Vault) PublicKey() ed25519.PublicKey { return v.pub }

// ObjectPath is where the bytes of d live, whether or not they are there.
func (v *Vault) ObjectPath(d evidence.Digest) string {
	hx := d.String()
	return filepath.Join(v.dir, "objects", hx[:2], hx)
}

// OpenObject opens the stored bytes of d for reading.
func (v *Vault) OpenObject(d evidence.Digest) (*os.File, error) {
	f, err := os.Open(v.ObjectPath(d))
	if err != nil {
		return nil, fmt.Errorf("open item %s: %w", d.Short(), err)
	}
	return f, nil
}

// DB gives the daemon the index for its own durable state buckets. Only the
// appliance packages may use it; see the bucket tree in doc.go.
func (v *Vault) DB() *bolt.DB { return v.db }
