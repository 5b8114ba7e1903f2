package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

// SyncPolicy decides which items go to central storage, following the
// custody chain: items from the configured sources on ingest, flagged items
// when flagged. Derived items (thumbnails, redaction logs) travel with their
// master's manifest only when they are themselves flagged. It also records
// central's acknowledgement of an item in the outbox, the one place sync
// state is kept.
type SyncPolicy struct {
	vault   *vault.Vault
	store   *OutboxStore
	sendAll []string
	kick    func()
	log     *slog.Logger
}

// NewSyncPolicy sends to store the items of the sources in sendAll and
// every flagged item; kick, when set, wakes the outbox worker.
func NewSyncPolicy(v *vault.Vault, store *OutboxStore, sendAll []string, kick func(), log *slog.Logger) *SyncPolicy {
	return &SyncPolicy{vault: v, store: store, sendAll: sendAll, kick: kick, log: log}
}

// Follower is the policy as a follower of the custody chain.
func (p *SyncPolicy) Follower() *Follower {
	return newFollower("sync-policy", p.vault, p.log,
		func(e evidence.CustodyEvent) bool {
			return !e.Item.IsZero() && (e.Action == evidence.ActionIngested || e.Action == evidence.ActionFlagged ||
				e.Action == evidence.ActionCentralAcknowledged || e.Action == evidence.ActionRedacted)
		},
		p.handle)
}

func (p *SyncPolicy) handle(ctx context.Context, e evidence.CustodyEvent) error {
	it, err := p.vault.Item(e.Item)
	if err != nil {
		return err
	}
	switch e.Action {
	case evidence.ActionCentralAcknowledged:
		return p.store.acknowledge(ctx, it, e.Time)
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
func (p *SyncPolicy) sendRedactedCopy(ctx context.Context, master evidence.Item, e evidence.CustodyEvent) error {
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

// SendNow queues an item for central storage ahead of upload windows.
func (p *SyncPolicy) SendNow(ctx context.Context, d evidence.Digest, actor evidence.Actor) error {
	it, err := p.vault.Item(d)
	if err != nil {
		return err
	}
	return p.send(ctx, it, true, "send now by "+string(actor))
}

func (p *SyncPolicy) send(ctx context.Context, it evidence.Item, urgent bool, why string) error {
	added, err := p.store.enqueue(ctx, it, urgent, time.Now().UTC(), func() error {
		_, err := p.vault.Append(ctx, evidence.CustodyEvent{Actor: "appliance:sync", Action: evidence.ActionQueuedForSync,
			Item: it.Digest, Details: map[string]string{"reason": why}})
		return err
	})
	if err != nil || !added {
		return err
	}
	if p.kick != nil {
		p.kick()
	}
	return nil
}
