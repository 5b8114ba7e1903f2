package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
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
	newFollower := func(v *vault.Vault) *Follower {
		return &Follower{name: "test-stage", vault: v, log: slog.New(slog.DiscardHandler), poll: 10 * time.Millisecond,
			wants: func(e evidence.CustodyEvent) bool { return e.Action == evidence.ActionIngested },
			handle: func(_ context.Context, e evidence.CustodyEvent) error {
				if e.Item == failOnce {
					failOnce = evidence.Digest{}
					return errors.New("transient")
				}
				handled[e.Item]++
				return nil
			}}
	}
	if err := newFollower(v).catchUp(ctx); err == nil {
		t.Fatal("a failing handler did not stop the stage")
	}
	// The daemon restarts: new vault handle, new follower, same state.
	v.Close()
	v, err = vault.Open(ctx, dir, vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	f := newFollower(v)
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
