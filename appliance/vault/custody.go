package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"sync"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/evidence/custodylog"
)

// ErrReadOnly is returned by writes to a vault opened for verification.
var ErrReadOnly = errors.New("vault opened for verification only")

// Append adds events to the custody chain and returns them as stored, with
// Seq, Time, Prev and Hash filled in. Callers set Actor, Action, Item and
// Details; any Time they set is replaced by the appliance clock so the chain
// reads in order (a time the event is about belongs in Details).
//
// Concurrent callers are committed together in one transaction, so the chain
// costs one fsync per group rather than one per event.
func (v *Vault) Append(ctx context.Context, events ...evidence.CustodyEvent) ([]evidence.CustodyEvent, error) {
	var stored []evidence.CustodyEvent
	err := v.update(ctx, func(tx *bolt.Tx) error {
		var err error
		stored, err = v.appendTx(tx, events)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("append custody events: %w", err)
	}
	return stored, nil
}

func (v *Vault) appendTx(tx *bolt.Tx, events []evidence.CustodyEvent) ([]evidence.CustodyEvent, error) {
	chain := tx.Bucket(bucketCustody)
	idx := tx.Bucket(bucketItemEvents)
	head, err := headTx(tx)
	if err != nil {
		return nil, err
	}
	out := make([]evidence.CustodyEvent, 0, len(events))
	if len(events) > 0 {
		tx.OnCommit(v.notifyAppended)
	}
	for _, e := range events {
		if e.Actor == "" || e.Action == "" {
			panic("vault: custody event without actor or action")
		}
		e.V = evidence.EventFormat
		e.Seq = head.Seq + 1
		e.Time = v.now().UTC()
		e.Prev = head.Hash
		e.Details = maps.Clone(e.Details)
		if !e.Item.IsZero() {
			last, err := lastItemEventTx(tx, e.Item)
			if err != nil {
				return nil, err
			}
			if last != nil {
				e.ItemPrev = last.Hash
			}
		}
		e = e.Sanitized()
		e.Hash = e.ComputeHash()
		raw, err := encodeEvent(e)
		if err != nil {
			return nil, err
		}
		if err := chain.Put(seqKey(e.Seq), raw); err != nil {
			return nil, fmt.Errorf("store event %d: %w", e.Seq, err)
		}
		if !v.withoutTree {
			if err := addLeafTx(tx, e); err != nil {
				return nil, err
			}
		}
		if !e.Item.IsZero() {
			if err := idx.Put(itemEventKey(e.Item, e.Seq), nil); err != nil {
				return nil, fmt.Errorf("index event %d: %w", e.Seq, err)
			}
		}
		head = e
		out = append(out, e)
	}
	return out, nil
}

// encodeEvent is the one stored form of an event. It is checked to decode
// to an event with the same hash: an event whose stored form disagreed with
// its hash would break the chain for good, so it is refused instead.
func encodeEvent(e evidence.CustodyEvent) ([]byte, error) {
	raw, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode event %d: %w", e.Seq, err)
	}
	if isASCII(raw) {
		// JSON carries ASCII exactly both ways; the check is for the rest.
		return raw, nil
	}
	back, err := decodeEvent(raw)
	if err != nil || back.ComputeHash() != e.Hash {
		return nil, fmt.Errorf("event %d (%s): its stored form would not match its hash; refusing to store it", e.Seq, e.Action)
	}
	return raw, nil
}

func headTx(tx *bolt.Tx) (evidence.CustodyEvent, error) {
	_, raw := tx.Bucket(bucketCustody).Cursor().Last()
	if raw == nil {
		return evidence.CustodyEvent{}, nil
	}
	return decodeEvent(raw)
}

func decodeEvent(raw []byte) (evidence.CustodyEvent, error) {
	var e evidence.CustodyEvent
	if err := json.Unmarshal(raw, &e); err != nil {
		return e, fmt.Errorf("decode custody event: %w", err)
	}
	return e, nil
}

// Head is the newest event of the chain (zero Seq when the chain is empty).
func (v *Vault) Head() (evidence.CustodyEvent, error) {
	var head evidence.CustodyEvent
	err := v.db.View(func(tx *bolt.Tx) error {
		var err error
		head, err = headTx(tx)
		return err
	})
	return head, err
}

// Events calls fn for every event from seq from onwards, in order, until fn
// returns false. Events are decoded copies; fn may keep them. fn runs inside
// a read transaction and must not call the vault: a nested read deadlocks
// once a writer waits to grow the index.
func (v *Vault) Events(from uint64, fn func(evidence.CustodyEvent) bool) error {
	v.chainReads.Add(1)
	return v.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketCustody).Cursor()
		for k, raw := c.Seek(seqKey(from)); k != nil; k, raw = c.Next() {
			e, err := decodeEvent(raw)
			if err != nil {
				return fmt.Errorf("event %x: %w", k, err)
			}
			if !fn(e) {
				return nil
			}
		}
		return nil
	})
}

// ItemEvents returns the custody events that name item d, in chain order.
func (v *Vault) ItemEvents(d evidence.Digest) ([]evidence.CustodyEvent, error) {
	var out []evidence.CustodyEvent
	err := v.db.View(func(tx *bolt.Tx) error {
		var err error
		out, err = itemEventsTx(tx, d)
		return err
	})
	return out, err
}

func itemEventsTx(tx *bolt.Tx, d evidence.Digest) ([]evidence.CustodyEvent, error) {
	var out []evidence.CustodyEvent
	c := tx.Bucket(bucketItemEvents).Cursor()
	chain := tx.Bucket(bucketCustody)
	for k, _ := c.Seek(d[:]); k != nil && [32]byte(k[:32]) == d; k, _ = c.Next() {
		raw := chain.Get(k[32:])
		if raw == nil {
			return nil, fmt.Errorf("item %s: indexed event %x is missing from the chain", d.Short(), k[32:])
		}
		e, err := decodeEvent(raw)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Checkpoint signs the tree of every event so far (a C2SP checkpoint note)
// and stores it. A tree already signed is signed again with the current
// time, in place of its older checkpoint: the newest checkpoint's time then
// says when the vault was last seen whole, which is what lets verify notice
// a chain cut short together with its later checkpoints.
func (v *Vault) Checkpoint(ctx context.Context) (SignedCheckpoint, error) {
	var out SignedCheckpoint
	err := v.update(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = v.checkpointTx(tx)
		return err
	})
	if err != nil {
		return out, fmt.Errorf("checkpoint: %w", err)
	}
	return out, nil
}

func (v *Vault) checkpointTx(tx *bolt.Tx) (SignedCheckpoint, error) {
	head, err := headTx(tx)
	if err != nil || head.Seq == 0 {
		return SignedCheckpoint{}, err
	}
	size := int64(head.Seq)
	root, err := tlog.TreeHash(size, treeReader{tx.Bucket(bucketTree)})
	if err != nil {
		return SignedCheckpoint{}, err
	}
	c := custodylog.Checkpoint{Origin: custodylog.Origin(v.pub), Size: size, Root: root, Time: v.now().UTC()}
	signed, err := custodylog.Sign(v.key, c)
	if err != nil {
		return SignedCheckpoint{}, err
	}
	return SignedCheckpoint{Checkpoint: c, Signed: signed}, tx.Bucket(bucketLogCheckpoints).Put(seqKey(uint64(size)), signed)
}

// update runs fn in a write transaction shared with whatever other writes
// are waiting, and returns fn's own outcome.
func (v *Vault) update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if v.verifyOnly {
		return ErrReadOnly
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return v.commit.run(fn)
}

// groupCommit gathers writes that arrive while a transaction is being
// committed and commits them together in the next one. One waiting caller
// leads: it commits batches until its own write is done, then hands the lead
// to the oldest caller still waiting, so nobody waits forever and no
// background goroutine is needed.
type groupCommit struct {
	v       *Vault
	mu      sync.Mutex
	pending []*commitJob
	leading bool
}

type commitJob struct {
	fn      func(tx *bolt.Tx) error
	done    chan error
	promote chan struct{}
}

func (g *groupCommit) run(fn func(tx *bolt.Tx) error) error {
	j := &commitJob{fn: fn, done: make(chan error, 1), promote: make(chan struct{})}
	g.mu.Lock()
	g.pending = append(g.pending, j)
	if g.leading {
		g.mu.Unlock()
		select {
		case err := <-j.done:
			return err
		case <-j.promote:
		}
		g.mu.Lock()
	}
	g.leading = true
	g.lead(j)
	return <-j.done
}

// lead is called with g.mu held and returns with it released.
func (g *groupCommit) lead(own *commitJob) {
	for {
		batch := g.pending
		g.pending = nil
		g.mu.Unlock()
		g.commitBatch(batch)
		g.mu.Lock()
		if len(own.done) > 0 {
			break
		}
	}
	if len(g.pending) > 0 {
		close(g.pending[0].promote)
	} else {
		g.leading = false
	}
	g.mu.Unlock()
}

func (g *groupCommit) commitBatch(batch []*commitJob) {
	if len(batch) == 0 {
		return
	}
	err := g.v.db.Update(func(tx *bolt.Tx) error {
		for _, j := range batch {
			if err := j.fn(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil || len(batch) == 1 {
		for _, j := range batch {
			j.done <- err
		}
		return
	}
	// One write failed and took the others down with it: commit each alone
	// so only the failing one sees its error.
	for _, j := range batch {
		j.done <- g.v.db.Update(j.fn)
	}
}

// lastItemEventTx is the newest custody event that names d, nil for none.
func lastItemEventTx(tx *bolt.Tx, d evidence.Digest) (*evidence.CustodyEvent, error) {
	c := tx.Bucket(bucketItemEvents).Cursor()
	end := itemEventKey(d, math.MaxUint64)
	k, _ := c.Seek(end)
	switch {
	case k == nil:
		k, _ = c.Last()
	case !bytes.Equal(k, end):
		k, _ = c.Prev()
	}
	if k == nil || [32]byte(k[:32]) != d {
		return nil, nil
	}
	raw := tx.Bucket(bucketCustody).Get(k[32:])
	if raw == nil {
		return nil, fmt.Errorf("item %s: indexed event %x is missing from the chain", d.Short(), k[32:])
	}
	e, err := decodeEvent(raw)
	return &e, err
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
