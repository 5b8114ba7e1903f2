package pipeline

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

// Chain is what a follower reads: the custody chain, the vault's notice
// that it grew, and the follower's own durable state (its cursor).
// *vault.Vault is one.
type Chain interface {
	Events(from uint64, fn func(evidence.CustodyEvent) bool) error
	Subscribe() (<-chan struct{}, func())
	State(component string) *vault.KV
}

// Follower is a durable work queue derived from the custody chain: it walks
// events after a cursor it keeps in the vault's state, hands the ones it
// wants to a stage, and moves the cursor only past events the stage has
// finished. Because the queue is the chain itself, an item ingested just
// before a crash is never missed, and work resumes where it stopped. It
// reads the chain only when the vault says it grew, never on a timer.
type Follower struct {
	name  string // state bucket; one cursor per stage
	chain Chain
	log   *slog.Logger
	// wants picks the events the stage works on.
	wants func(evidence.CustodyEvent) bool
	// handle does the work. An error means "try again later" (the cursor
	// stays); work that failed for good (broken file) must be recorded by
	// handle and reported as done.
	handle func(ctx context.Context, e evidence.CustodyEvent) error

	// workers is how many events the stage handles at once (1 when
	// unset): see catchUpConcurrently.
	workers int

	drainOnce sync.Once
	drain     chan struct{}
}

func newFollower(name string, chain Chain, log *slog.Logger, wants func(evidence.CustodyEvent) bool,
	handle func(context.Context, evidence.CustodyEvent) error) *Follower {
	return &Follower{name: name, chain: chain, log: log, wants: wants, handle: handle, drain: make(chan struct{})}
}

func (f *Follower) Name() string { return f.name }

const cursorKey = "cursor"

// Cursor is the seq of the last event the stage is done with.
func (f *Follower) Cursor() (uint64, error) {
	raw, err := f.chain.State(f.name).Get(cursorKey)
	if err != nil || len(raw) != 8 {
		return 0, err
	}
	return binary.BigEndian.Uint64(raw), nil
}

func (f *Follower) setCursor(ctx context.Context, seq uint64) error {
	return f.chain.State(f.name).Put(ctx, cursorKey, binary.BigEndian.AppendUint64(nil, seq))
}

// inheritCursor starts the follower named to where the follower named from
// is, when to has no cursor of its own: a stage split in two goes on
// where the one stage was, rather than doing the whole chain again. It
// must run before either follower does, or from may have passed events
// meant for to.
func inheritCursor(ctx context.Context, chain Chain, to, from string) error {
	own, err := chain.State(to).Get(cursorKey)
	if err != nil || own != nil {
		return err
	}
	theirs, err := chain.State(from).Get(cursorKey)
	if err != nil || theirs == nil {
		return err
	}
	return chain.State(to).Put(ctx, cursorKey, theirs)
}

// Drain asks the stage to stop once the event in hand is done, without
// starting another; Run then returns nil. Shutdown drains the stages after
// intake has stopped, so no work is cut off half way unless the shutdown
// deadline cancels Run's context.
func (f *Follower) Drain() { f.drainOnce.Do(func() { close(f.drain) }) }

func (f *Follower) draining() bool {
	select {
	case <-f.drain:
		return true
	default:
		return false
	}
}

// Run works through the chain, then sleeps until the vault says it grew,
// until ctx ends or the stage is drained.
func (f *Follower) Run(ctx context.Context) error {
	// Subscribe before the first read, so an event appended between the
	// read and the wait still wakes the stage.
	grew, stop := f.chain.Subscribe()
	defer stop()
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
		case <-f.drain:
			return nil
		case <-grew:
		}
	}
}

// catchUp handles every wanted event after the cursor, one at a time. The
// cursor is written once per handled event, after it, and once more at the
// end of a batch when events the stage skipped follow the last one it
// handled.
func (f *Follower) catchUp(ctx context.Context) error {
	if f.workers > 1 {
		return f.catchUpConcurrently(ctx)
	}
	for {
		from, batch, err := f.nextBatch()
		if err != nil || len(batch) == 0 {
			return err
		}
		done := from
		for _, e := range batch {
			if !f.wants(e) {
				continue
			}
			if f.draining() {
				return f.advance(ctx, done, e.Seq-1)
			}
			if err := f.handle(ctx, e); err != nil {
				return fmt.Errorf("event %d: %w", e.Seq, err)
			}
			if err := f.setCursor(ctx, e.Seq); err != nil {
				return err
			}
			done = e.Seq
		}
		if err := f.advance(ctx, done, batch[len(batch)-1].Seq); err != nil {
			return err
		}
	}
}

// nextBatch reads the cursor and up to 256 events after it.
func (f *Follower) nextBatch() (from uint64, batch []evidence.CustodyEvent, err error) {
	if from, err = f.Cursor(); err != nil {
		return 0, nil, err
	}
	err = f.chain.Events(from+1, func(e evidence.CustodyEvent) bool {
		batch = append(batch, e)
		return len(batch) < 256
	})
	return from, batch, err
}

// advance moves the cursor from written to seq when they differ.
func (f *Follower) advance(ctx context.Context, written, seq uint64) error {
	if seq == written {
		return nil
	}
	return f.setCursor(ctx, seq)
}

// catchUpConcurrently is catchUp handling up to f.workers wanted events at
// once, for a stage whose work waits more than it computes (a decoder
// given a small share of a loaded machine's cores): one slow event no
// longer holds back the quick ones after it. The cursor still says "done
// up to here": it moves over the events finished in a row, so after a
// crash the events finished beyond it, at most workers-1, are handled
// again, as the one in hand always was.
func (f *Follower) catchUpConcurrently(ctx context.Context) error {
	for {
		from, batch, err := f.nextBatch()
		if err != nil || len(batch) == 0 {
			return err
		}
		if whole, err := f.handleBatch(ctx, from, batch); err != nil || !whole {
			return err
		}
	}
}

// handleBatch handles the wanted events of batch, f.workers at a time, and
// moves the cursor from over what is done. whole is false when the stage
// was drained part way.
func (f *Follower) handleBatch(ctx context.Context, from uint64, batch []evidence.CustodyEvent) (whole bool, err error) {
	type outcome struct {
		i   int
		err error
	}
	finished := make([]bool, len(batch))
	outcomes := make(chan outcome)
	inFlight, next, written := 0, 0, from
	var failed error
	collect := func() error {
		o := <-outcomes
		inFlight--
		if o.err != nil {
			failed = cmp.Or(failed, fmt.Errorf("event %d: %w", batch[o.i].Seq, o.err))
		} else {
			finished[o.i] = true
		}
		for next < len(batch) && finished[next] {
			next++
		}
		if next == 0 || batch[next-1].Seq == written {
			return nil
		}
		written = batch[next-1].Seq
		return f.setCursor(ctx, written)
	}
	whole = true
	var cursorErr error
	for i, e := range batch {
		if failed != nil || cursorErr != nil || f.draining() {
			whole = false
			break
		}
		if !f.wants(e) {
			finished[i] = true
			continue
		}
		for inFlight >= f.workers && cursorErr == nil {
			cursorErr = collect()
		}
		if failed != nil || cursorErr != nil {
			whole = false
			break
		}
		inFlight++
		go func() { outcomes <- outcome{i, f.handle(ctx, e)} }()
	}
	for inFlight > 0 {
		cursorErr = cmp.Or(cursorErr, collect())
	}
	for next < len(batch) && finished[next] {
		next++
	}
	if next > 0 && batch[next-1].Seq != written && cursorErr == nil {
		cursorErr = f.setCursor(ctx, batch[next-1].Seq)
	}
	if err := errors.Join(failed, cursorErr); err != nil {
		return false, err
	}
	return whole, nil
}
