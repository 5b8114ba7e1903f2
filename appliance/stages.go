package appliance

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/edgetriage/edgetriage/appliance/config"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/triage/redact"
)

// redactStage makes a redacted copy of every flagged video master, once.
// A clip that cannot be redacted (undecodable) is recorded as such and the
// stage moves on; it never blocks ingest or sync.
// Manual edits ("redaction-edited") always render a new copy with them.
type redactStage struct {
	vault *vault.Vault
	cfg   config.Redaction
	log   *slog.Logger
	edits func(evidence.Digest) ([]redact.ManualEdit, error)
}

func (s *redactStage) follower() *follower {
	return &follower{name: "redact", vault: s.vault, log: s.log, poll: time.Second,
		wants: func(e evidence.CustodyEvent) bool {
			return (e.Action == evidence.ActionFlagged || e.Action == evidence.ActionRedactionEdited) && !e.Item.IsZero()
		},
		handle: s.handle}
}

func (s *redactStage) handle(ctx context.Context, e evidence.CustodyEvent) error {
	it, err := s.vault.Item(e.Item)
	if err != nil {
		return err
	}
	if it.Kind != evidence.KindVideo || !it.Parent.IsZero() || it.State != evidence.StateStored {
		return nil
	}
	if e.Action == evidence.ActionFlagged && s.alreadyRedacted(it.Digest) {
		return nil
	}
	edits, err := s.edits(it.Digest)
	if err != nil {
		return err
	}
	cfg := redact.Config{}
	if s.cfg.Fast {
		cfg = redact.Realtime()
	}
	cfg.MuteAudio = s.cfg.MuteAudio
	r, err := redact.New(cfg)
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = Redact(ctx, s.vault, r, it.Digest, edits, "appliance:redact")
	if err == nil || ctx.Err() != nil {
		return err
	}
	if errors.Is(err, errNotStored) {
		return nil
	}
	s.log.Warn("redaction failed; the clip stays unredacted", "digest", it.Digest.String(), "err", err)
	_, aerr := s.vault.Append(ctx, evidence.CustodyEvent{Actor: "appliance:redact", Action: evidence.ActionRedacted, Item: it.Digest,
		Details: map[string]string{"result": "failed", "error": err.Error()}})
	return aerr
}

func (s *redactStage) alreadyRedacted(d evidence.Digest) bool {
	evs, err := s.vault.ItemEvents(d)
	if err != nil {
		return false
	}
	for _, e := range evs {
		if e.Action == evidence.ActionRedacted {
			return true
		}
	}
	return false
}

// Flag marks an item for central storage and redaction, with the reason,
// in one record change whose custody event is the flag decision.
func Flag(ctx context.Context, v *vault.Vault, d evidence.Digest, actor evidence.Actor, reason string) (evidence.Item, error) {
	return v.UpdateItem(ctx, d, vault.Change{Actor: actor, Action: evidence.ActionFlagged,
		Details: map[string]string{"reason": reason},
		Apply: func(it *evidence.Item) error {
			if it.Labels == nil {
				it.Labels = map[string]string{}
			}
			if prev := it.Labels[evidence.LabelFlagged]; prev != "" && prev != reason {
				reason = prev + "; " + reason
			}
			it.Labels[evidence.LabelFlagged] = reason
			return nil
		}})
}
