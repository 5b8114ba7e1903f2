package appliance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/time/rate"

	"github.com/edgetriage/edgetriage/appliance/config"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/sync/fsdir"
	"github.com/edgetriage/edgetriage/sync/outbox"
	"github.com/edgetriage/edgetriage/sync/s3"
	"github.com/edgetriage/edgetriage/sync/target"
)

// outboxStore keeps the outbox in the vault's durable state: one entry per
// item ("e/<digest>") and multipart progress ("cp/<digest>").
type outboxStore struct {
	kv *vault.KV
}

func newOutboxStore(v *vault.Vault) *outboxStore { return &outboxStore{kv: v.State("outbox")} }

func (s *outboxStore) entry(d evidence.Digest) (outbox.Entry, bool, error) {
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

func (s *outboxStore) Update(ctx context.Context, e outbox.Entry) error {
	raw, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return s.kv.Put(ctx, "e/"+e.Digest.String(), raw)
}

func (s *outboxStore) List(context.Context) ([]outbox.Entry, error) {
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

func (s *outboxStore) Due(ctx context.Context, now time.Time, limit int) ([]outbox.Entry, error) {
	all, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	return outbox.SelectDue(all, now, limit), nil
}

func (s *outboxStore) LoadCheckpoint(_ context.Context, d evidence.Digest) (target.Checkpoint, bool, error) {
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

func (s *outboxStore) SaveCheckpoint(ctx context.Context, d evidence.Digest, cp target.Checkpoint) error {
	raw, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	return s.kv.Put(ctx, "cp/"+d.String(), raw)
}

func (s *outboxStore) DeleteCheckpoint(ctx context.Context, d evidence.Digest) error {
	return s.kv.Delete(ctx, "cp/"+d.String())
}

// enqueue puts d in the outbox unless it is there already; urgent ("send
// now") upgrades an entry that is still waiting.
func (s *outboxStore) enqueue(ctx context.Context, it evidence.Item, urgent bool, now time.Time) (bool, error) {
	e, found, err := s.entry(it.Digest)
	if err != nil {
		return false, err
	}
	if found {
		if !urgent || e.Urgent || e.State != outbox.StateQueued {
			return false, nil
		}
		e.Urgent = true
		return false, s.Update(ctx, e)
	}
	return true, s.Update(ctx, outbox.Entry{Digest: it.Digest, Size: it.Size, State: outbox.StateQueued,
		Urgent: urgent, QueuedAt: now, UpdatedAt: now})
}

// vaultSource gives the outbox what it uploads: the vault file and the
// signed manifest that goes beside it.
type vaultSource struct{ vault *vault.Vault }

func (s vaultSource) Object(ctx context.Context, d evidence.Digest) (target.Object, error) {
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

// newSyncTarget builds the configured central target.
func newSyncTarget(cfg config.Sync, log *slog.Logger) (target.Target, error) {
	var limiter *rate.Limiter
	if cfg.BandwidthMBps > 0 {
		bps := cfg.BandwidthMBps * 1e6
		limiter = rate.NewLimiter(rate.Limit(bps), int(max(bps/10, 64<<10)))
	}
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

// syncPolicy decides which items go to central storage, following the
// custody chain: items from the configured sources on ingest, flagged items
// when flagged. Derived items (thumbnails, redaction logs) travel with their
// master's manifest only when they are themselves flagged.
type syncPolicy struct {
	vault   *vault.Vault
	store   *outboxStore
	sendAll []string
	kick    func()
	log     *slog.Logger
}

func (p *syncPolicy) follower(log *slog.Logger) *follower {
	return &follower{name: "sync-policy", vault: p.vault, log: log, poll: time.Second,
		wants: func(e evidence.CustodyEvent) bool {
			return !e.Item.IsZero() && (e.Action == evidence.ActionIngested || e.Action == evidence.ActionFlagged ||
				e.Action == evidence.ActionUploadVerified || e.Action == evidence.ActionRedacted)
		},
		handle: p.handle}
}

func (p *syncPolicy) handle(ctx context.Context, e evidence.CustodyEvent) error {
	it, err := p.vault.Item(e.Item)
	if err != nil {
		return err
	}
	switch e.Action {
	case evidence.ActionUploadVerified:
		return p.markSynced(ctx, it, e)
	case evidence.ActionFlagged:
		return p.send(ctx, it, false, "flagged: "+it.Labels[evidence.LabelFlagged])
	case evidence.ActionRedacted:
		return p.sendRedactedCopy(ctx, it, e)
	}
	if it.Parent.IsZero() && slices.Contains(p.sendAll, sourceClass(it)) && it.Labels[evidence.LabelNeverSync] == "" {
		return p.send(ctx, it, false, "policy: every item from "+sourceClass(it))
	}
	return nil
}

// sendRedactedCopy sends the redacted copy of a flagged clip after it:
// central storage discloses from the copy and keeps the master as evidence.
func (p *syncPolicy) sendRedactedCopy(ctx context.Context, master evidence.Item, e evidence.CustodyEvent) error {
	if master.Labels[evidence.LabelFlagged] == "" || master.Labels[evidence.LabelNeverSync] != "" {
		return nil
	}
	d, err := evidence.ParseDigest(e.Details["redacted_copy"])
	if err != nil {
		return fmt.Errorf("redacted event %d: %w", e.Seq, err)
	}
	copyItem, err := p.vault.Item(d)
	if err != nil {
		return err
	}
	return p.send(ctx, copyItem, false, "redacted copy of flagged "+master.Digest.String())
}

// sourceClass is the kind of source an item came from ("dock", "rtsp",
// "cli", "derived"), which sync policy is written in terms of.
func sourceClass(it evidence.Item) string { return it.Origin() }

func (p *syncPolicy) send(ctx context.Context, it evidence.Item, urgent bool, why string) error {
	added, err := p.store.enqueue(ctx, it, urgent, time.Now().UTC())
	if err != nil || !added {
		return err
	}
	if _, err := p.vault.Append(ctx, evidence.CustodyEvent{Actor: "appliance:sync", Action: evidence.ActionQueuedForSync,
		Item: it.Digest, Details: map[string]string{"reason": why}}); err != nil {
		return err
	}
	if p.kick != nil {
		p.kick()
	}
	return nil
}

// markSynced labels an item once central storage holds a verified copy, so
// the dashboard and retention can see it without reading the outbox.
func (p *syncPolicy) markSynced(ctx context.Context, it evidence.Item, e evidence.CustodyEvent) error {
	if it.Labels[evidence.LabelSynced] != "" {
		return nil
	}
	where := e.Details["target"]
	if where == "" {
		where = "central"
	}
	_, err := p.vault.UpdateItem(ctx, it.Digest, vault.Change{Actor: "appliance:sync", Action: evidence.ActionRecordChanged,
		Details: map[string]string{"label": evidence.LabelSynced},
		Apply: func(i *evidence.Item) error {
			if i.Labels == nil {
				i.Labels = map[string]string{}
			}
			i.Labels[evidence.LabelSynced] = where + " " + e.Time.UTC().Format(time.RFC3339)
			return nil
		}})
	return err
}
