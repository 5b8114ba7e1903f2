package pipeline

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

// Follower is a durable work queue derived from the custody chain: it walks
// events after a cursor it keeps in the vault's state, hands the ones it
// wants to a stage, and moves the cursor only past events the stage has
// finished. Because the queue is the chain itself, an item ingested just
// before a crash is never missed, and work resumes where it stopped.
type Follower struct {
	name  string // state key; one cursor per stage
	vault *vault.Vault
	log   *slog.Logger
	// wants picks the events the stage works on.
	wants func(evidence.CustodyEvent) bool
	// handle does the work. An error means "try again later" (the cursor
	// stays); work that failed for good (broken file) must be recorded by
	// handle and reported as done.
	handle func(ctx context.Context, e evidence.CustodyEvent) error
	// poll is how often the chain is checked for new events.
	poll time.Duration
}

func (f *Follower) Name() string { return f.name }

func (f *Follower) cursorKey() string { return "cursor" }

// Cursor is the seq of the last event the stage is done with.
func (f *Follower) Cursor() (uint64, error) {
	raw, err := f.vault.State(f.name).Get(f.cursorKey())
	if err != nil || len(raw) != 8 {
		return 0, err
	}
	return binary.BigEndian.Uint64(raw), nil
}

func (f *Follower) setCursor(ctx context.Context, seq uint64) error {
	return f.vault.State(f.name).Put(ctx, f.cursorKey(), binary.BigEndian.AppendUint64(nil, seq))
}

// Run works through the chain, then waits for more, until ctx ends.
func (f *Follower) Run(ctx context.Context) error {
	t := time.NewTicker(f.poll)
	defer t.Stop()
	for {
		if err := f.catchUp(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("%s: %w", f.name, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// catchUp handles every wanted event after the cursor, one at a time.
func (f *Follower) catchUp(ctx context.Context) error {
	for {
		from, err := f.Cursor()
		if err != nil {
			return err
		}
		var batch []evidence.CustodyEvent
		if err := f.vault.Events(from+1, func(e evidence.CustodyEvent) bool {
			batch = append(batch, e)
			return len(batch) < 256
		}); err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		for _, e := range batch {
			if !f.wants(e) {
				continue
			}
			// Persist the cursor up to just before this event first, so the
			// events skipped on the way are not read again after a crash.
			if err := f.setCursor(ctx, e.Seq-1); err != nil {
				return err
			}
			if err := f.handle(ctx, e); err != nil {
				return fmt.Errorf("event %d: %w", e.Seq, err)
			}
			if err := f.setCursor(ctx, e.Seq); err != nil {
				return err
			}
		}
		if err := f.setCursor(ctx, batch[len(batch)-1].Seq); err != nil {
			return err
		}
	}
}
