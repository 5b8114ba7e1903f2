package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/testkit"
)

func TestFollowerHandlesEachItemOnceAcrossFailuresAndRestarts(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	v, err := vault.Open(ctx, dir, vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"one", "two", "three"} {
		if _, _, err := v.IngestReader(ctx, strings.NewReader(s), evidence.Intake{Source: "cam"}); err != nil {
			t.Fatal(err)
		}
	}
	handled := map[evidence.Digest]int{}
	failOnce := evidence.DigestBytes([]byte("two"))
	stage := func(v *vault.Vault) *Follower {
		return newFollower("test-stage", v, slog.New(slog.DiscardHandler),
			func(e evidence.CustodyEvent) bool { return e.Action == evidence.ActionIngested },
			func(_ context.Context, e evidence.CustodyEvent) error {
				if e.Item == failOnce {
					failOnce = evidence.Digest{}
					return errors.New("transient")
				}
				handled[e.Item]++
				return nil
			})
	}
	if err := stage(v).catchUp(ctx); err == nil {
		t.Fatal("a failing handler did not stop the stage")
	}
	// The daemon restarts: new vault handle, new follower, same state.
	v.Close()
	v, err = vault.Open(ctx, dir, vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	f := stage(v)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.Run(runCtx) }()
	if _, _, err := v.IngestReader(ctx, strings.NewReader("four"), evidence.Intake{Source: "cam"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		cur, _ := f.Cursor()
		head, _ := v.Head()
		if cur == head.Seq {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"one", "two", "three", "four"} {
		if n := handled[evidence.DigestBytes([]byte(s))]; n != 1 {
			t.Errorf("%q handled %d times", s, n)
		}
	}
}

// countingChain is the real vault, counting how often the chain is read.
type countingChain struct {
	*vault.Vault
	reads atomic.Int64
}

func (c *countingChain) Events(from uint64, fn func(evidence.CustodyEvent) bool) error {
	c.reads.Add(1)
	return c.Vault.Events(from, fn)
}

// A stage reads the chain when the vault says it grew, and not at all while
// the station is idle; a drained stage finishes the event in hand and takes
// no other.
func TestFollowerReadsTheChainOnlyWhenItGrows(t *testing.T) {
	ctx := context.Background()
	v, err := vault.Open(ctx, t.TempDir(), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	chain := &countingChain{Vault: v}
	var handled atomic.Int64
	release := make(chan struct{})
	f := newFollower("test-stage", chain, slog.New(slog.DiscardHandler),
		func(e evidence.CustodyEvent) bool { return e.Action == evidence.ActionIngested },
		func(_ context.Context, e evidence.CustodyEvent) error {
			if handled.Add(1) == 3 {
				<-release
			}
			return nil
		})
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	ingest := func(s string) {
		t.Helper()
		if _, _, err := v.IngestReader(ctx, strings.NewReader(s), evidence.Intake{Source: "cam"}); err != nil {
			t.Fatal(err)
		}
	}
	caughtUp := func() bool {
		cur, _ := f.Cursor()
		head, _ := v.Head()
		return cur == head.Seq
	}
	ingest("one")
	testkit.WaitFor(t, "the first item to be handled", 10*time.Second, caughtUp)
	idleFrom := chain.reads.Load()
	time.Sleep(2 * time.Second)
	if n := chain.reads.Load() - idleFrom; n != 0 {
		t.Fatalf("the chain was read %d times in 2 s of idling", n)
	}
	ingest("two")
	testkit.WaitFor(t, "the second item to be handled without polling", 10*time.Second, caughtUp)
	if handled.Load() != 2 || chain.reads.Load() == idleFrom {
		t.Fatalf("handled %d, reads %d -> %d", handled.Load(), idleFrom, chain.reads.Load())
	}

	ingest("three")
	testkit.WaitFor(t, "the third item to be in hand", 10*time.Second, func() bool { return handled.Load() == 3 })
	ingest("four")
	f.Drain()
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("drained stage: %v", err)
	}
	cur, _ := f.Cursor()
	if handled.Load() != 3 || cur < 1 {
		t.Fatalf("after the drain: handled %d, cursor %d", handled.Load(), cur)
	}
	evs, _ := v.ItemEvents(evidence.DigestBytes([]byte("three")))
	if cur < evs[0].Seq {
		t.Fatalf("cursor %d is before the event in hand at the drain (%d): it would be handled twice", cur, evs[0].Seq)
	}
}

// A follower handling several events at once passes a slow one: the
// events after it are done while it is in hand, the cursor waits before it
// until it is done (a crash then redoes it and what followed, never skips
// it), and every event is handled once.
func TestConcurrentFollowerPassesASlowEvent(t *testing.T) {
	ctx := context.Background()
	v, err := vault.Open(ctx, t.TempDir(), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	seqOf := map[string]uint64{}
	for _, s := range []string{"slow", "a", "b", "c"} {
		it, _, err := v.IngestReader(ctx, strings.NewReader(s), evidence.Intake{Source: "cam"})
		if err != nil {
			t.Fatal(err)
		}
		events, _ := v.ItemEvents(it.Digest)
		seqOf[s] = events[0].Seq
	}
	slow := evidence.DigestBytes([]byte("slow"))
	release := make(chan struct{})
	var mu sync.Mutex
	handled := map[evidence.Digest]int{}
	f := newFollower("test-stage", v, slog.New(slog.DiscardHandler),
		func(e evidence.CustodyEvent) bool { return e.Action == evidence.ActionIngested },
		func(_ context.Context, e evidence.CustodyEvent) error {
			if e.Item == slow {
				<-release
			}
			mu.Lock()
			defer mu.Unlock()
			handled[e.Item]++
			return nil
		})
	f.workers = 3
	count := func(s string) int {
		mu.Lock()
		defer mu.Unlock()
		return handled[evidence.DigestBytes([]byte(s))]
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.Run(runCtx) }()
	waitUntil(t, "a, b and c handled while the slow one is in hand", func() bool { return count("a")+count("b")+count("c") == 3 })
	if cur, _ := f.Cursor(); cur >= seqOf["slow"] {
		t.Fatalf("cursor %d passed the slow event %d still in hand", cur, seqOf["slow"])
	}
	close(release)
	waitUntil(t, "the cursor at the head", func() bool {
		cur, _ := f.Cursor()
		head, _ := v.Head()
		return cur == head.Seq
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"slow", "a", "b", "c"} {
		if n := count(s); n != 1 {
			t.Errorf("%q handled %d times", s, n)
		}
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s", what)
		}
	}
}
