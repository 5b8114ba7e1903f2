package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/sync/fsdir"
	"github.com/edgetriage/edgetriage/sync/outbox"
	"github.com/edgetriage/edgetriage/sync/s3"
	"github.com/edgetriage/edgetriage/sync/target"
)

// OutboxStore keeps the outbox in the vault's durable state: one entry per
// item ("e/<digest>") and multipart progress ("cp/<digest>"). It is the one
// place that says how far an item is on its way to central storage, up to
// central's acknowledgement, which dock release and retention read here.
type OutboxStore struct {
	kv *vault.KV
	// mu makes each read-modify-write of an entry whole: the worker
	// finishing an upload and central's acknowledgement may meet.
	mu sync.Mutex
}

// NewOutboxStore keeps the outbox in v's state.
func NewOutboxStore(v *vault.Vault) *OutboxStore { return &OutboxStore{kv: v.State("outbox")} }

func (s *OutboxStore) entry(d evidence.Digest) (outbox.Entry, bool, error) {
	raw, err := s.kv.Get("e/" + d.String())
	if err != nil || raw == nil {
		return outbox.Entry{}, false, err
	}
	var e outbox.Entry
	if err := json.Unmarshal(raw, &e); err != nil {
		return e, false, fmt.Errorf("outbox entry %s: %w", d.Short(), err)
	}
	return e, true, nil
}

// Update stores the worker's view of an entry. Acknowledged is final: an
// upload that finishes after central acknowledged the item (it may pull
// items itself) does not move the entry back.
func (s *OutboxStore) Update(ctx context.Context, e outbox.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.State != outbox.StateAcknowledged {
		if cur, found, err := s.entry(e.Digest); err == nil && found && cur.State == outbox.StateAcknowledged {
			e.State = outbox.StateAcknowledged
		}
	}
	return s.put(ctx, e)
}

func (s *OutboxStore) put(ctx context.Context, e outbox.Entry) error {
	raw, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return s.kv.Put(ctx, "e/"+e.Digest.String(), raw)
}

func (s *OutboxStore) List(context.Context) ([]outbox.Entry, error) {
	var out []outbox.Entry
	var decodeErr error
	err := s.kv.Scan("e/", func(_ string, val []byte) bool {
		var e outbox.Entry
		if decodeErr = json.Unmarshal(val, &e); decodeErr != nil {
			return false
		}
		out = append(out, e)
		return true
	})
	return out, errors.Join(err, decodeErr)
}

func (s *OutboxStore) Due(ctx context.Context, now time.Time, limit int) ([]outbox.Entry, error) {
	all, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	return outbox.SelectDue(all, now, limit), nil
}

func (s *OutboxStore) LoadCheckpoint(_ context.Context, d evidence.Digest) (target.Checkpoint, bool, error) {
	raw, err := s.kv.Get("cp/" + d.String())
	if err != nil || raw == nil {
		return target.Checkpoint{}, false, err
	}
	var cp target.Checkpoint
	if err := json.Unmarshal(raw, &cp); err != nil {
		return cp, false, fmt.Errorf("multipart checkpoint %s: %w", d.Short(), err)
	}
	return cp, true, nil
}

func (s *OutboxStore) SaveCheckpoint(ctx context.Context, d evidence.Digest, cp target.Checkpoint) error {
	raw, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	return s.kv.Put(ctx, "cp/"+d.String(), raw)
}

func (s *OutboxStore) DeleteCheckpoint(ctx context.Context, d evidence.Digest) error {
	return s.kv.Delete(ctx, "cp/"+d.String())
}

// enqueue puts d in the outbox unless it is there already; urgent ("send
// now") upgrades an entry that is still waiting.
//
// record writes the custody event of a new entry before the entry itself:
// a stop between the two then leaves an event and no entry, and the
// policy, handling the same event again after the restart, queues it
// (recording it once more) rather than leaving an upload that no custody
// event says was queued.
func (s *OutboxStore) enqueue(ctx context.Context, it evidence.Item, urgent bool, now time.Time, record func() error) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, found, err := s.entry(it.Digest)
	if err != nil {
		return false, err
	}
	if found {
		if !urgent || e.Urgent || e.State != outbox.StateQueued {
			return false, nil
		}
		e.Urgent = true
		return false, s.put(ctx, e)
	}
	if err := record(); err != nil {
		return false, err
	}
	return true, s.put(ctx, outbox.Entry{Digest: it.Digest, Size: it.Size, State: outbox.StateQueued,
		Urgent: urgent, QueuedAt: now, UpdatedAt: now})
}

// acknowledge records that central acknowledged it: the last state of its
// entry, made for an item central pulled without it being queued.
func (s *OutboxStore) acknowledge(ctx context.Context, it evidence.Item, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, found, err := s.entry(it.Digest)
	if err != nil {
		return err
	}
	if !found {
		e = outbox.Entry{Digest: it.Digest, Size: it.Size, QueuedAt: at}
	}
	if e.State == outbox.StateAcknowledged {
		return nil
	}
	e.State, e.UpdatedAt, e.LastError, e.ErrorClass, e.NextAttempt = outbox.StateAcknowledged, at, "", "", time.Time{}
	return s.put(ctx, e)
}

// Acknowledged reports whether central has acknowledged d; the dock's
// release-after-ack policy and retention ask this.
func (s *OutboxStore) Acknowledged(d evidence.Digest) bool {
	e, found, err := s.entry(d)
	return err == nil && found && e.State == outbox.StateAcknowledged
}

// OutboxSource gives the outbox what it uploads: the vault file and the
// signed manifest that goes beside it.
type OutboxSource struct{ vault *vault.Vault }

// NewOutboxSource hands the outbox v's files and manifests.
func NewOutboxSource(v *vault.Vault) OutboxSource { return OutboxSource{vault: v} }

func (s OutboxSource) Object(ctx context.Context, d evidence.Digest) (target.Object, error) {
	it, err := s.vault.Item(d)
	if err != nil {
		return target.Object{}, err
	}
	if it.State != evidence.StateStored {
		return target.Object{}, fmt.Errorf("item %s: local copy %s", d.Short(), it.State)
	}
	m, err := s.vault.Manifest(ctx, d)
	if err != nil {
		return target.Object{}, err
	}
	return target.Object{Digest: d, Size: it.Size, Path: s.vault.ObjectPath(d), Manifest: m, Hold: it.Hold}, nil
}

// NewSyncTarget builds the configured central target.
func NewSyncTarget(cfg SyncConfig, log *slog.Logger) (target.Target, error) {
	limiter := target.NewLimiter(cfg.UploadBitsPerSecond() / 8)
	switch cfg.Target {
	case "s3":
		return s3.New(s3.Config{Endpoint: cfg.S3.Endpoint, Secure: cfg.S3.Secure, Region: cfg.S3.Region,
			AccessKey: cfg.S3.AccessKey, SecretKey: cfg.S3.SecretKey, Bucket: cfg.S3.Bucket,
			Retention: cfg.S3.Retention, Limiter: limiter, Logger: log})
	default:
		root, err := filepath.Abs(cfg.Filesystem.Root)
		if err != nil {
			return nil, fmt.Errorf("sync.filesystem.root: %w", err)
		}
		if err := os.MkdirAll(root, 0o750); err != nil {
			return nil, fmt.Errorf("sync.filesystem.root: %w", err)
		}
		return fsdir.New(fsdir.Config{Root: root, Limiter: limiter, Logger: log})
	}
}
