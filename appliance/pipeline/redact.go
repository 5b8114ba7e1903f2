package pipeline

import (
	"context"
	"errors"
	"log/slog"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/triage/redact"
)

// RedactStage makes a redacted copy of every flagged video master, once.
// A clip that cannot be redacted (undecodable) is recorded as such and the
// stage moves on; it never blocks ingest or sync.
// Manual edits ("redaction-edited") always render a new copy with them.
type RedactStage struct {
	vault *vault.Vault
	cfg   RedactionConfig
	log   *slog.Logger
	edits RedactionEdits
}

// NewRedactStage is the redaction stage as a follower of v's custody chain.
func NewRedactStage(v *vault.Vault, cfg RedactionConfig, log *slog.Logger) *Follower {
	s := &RedactStage{vault: v, cfg: cfg, log: log, edits: NewRedactionEdits(v)}
	return newFollower("redact", s.vault, s.log,
		func(e evidence.CustodyEvent) bool {
			return (e.Action == evidence.ActionFlagged || e.Action == evidence.ActionRedactionEdited) && !e.Item.IsZero()
		},
		s.handle)
}

func (s *RedactStage) handle(ctx context.Context, e evidence.CustodyEvent) error {
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
	edits, err := s.edits.Get(it.Digest)
	if err != nil {
		return err
	}
	r, err := redact.New(s.cfg.Redactor(it.Source))
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = Redact(ctx, s.vault, r, it.Digest, edits, "appliance:redact")
	if err == nil || ctx.Err() != nil {
		return err
	}
	if errors.Is(err, ErrNotStored) {
		return nil
	}
	s.log.Warn("redaction failed; the clip stays unredacted", "digest", it.Digest.String(), "err", err)
	_, aerr := s.vault.Append(ctx, evidence.CustodyEvent{Actor: "appliance:redact", Action: evidence.ActionRedacted, Item: it.Digest,
		Details: map[string]string{"result": "failed", "error": err.Error()}})
	return aerr
}

func (s *RedactStage) alreadyRedacted(d evidence.Digest) bool {
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
