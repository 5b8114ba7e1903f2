package pipeline

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/config"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/sync/outbox"
)

// smallDisk mounts a tmpfs of the given size, a disk that really fills up.
func smallDisk(t *testing.T, mb int) string {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("mounting a small tmpfs needs root (CI runs as root)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+itoa(mb)+"m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

func itoa(n int) string { return strconv.Itoa(n) }

// steppingClock advances a minute per reading so ingest order is age order.
type steppingClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *steppingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Minute)
	return c.t
}

func ingestRandom(t *testing.T, v *vault.Vault, mb int, labels map[string]string, hold bool) (evidence.Digest, error) {
	t.Helper()
	it, _, err := v.IngestReader(context.Background(), io.LimitReader(rand.Reader, int64(mb)<<20), evidence.Intake{Source: "cam", Labels: labels})
	if err != nil {
		return evidence.Digest{}, err
	}
	if hold {
		_, err = v.UpdateItem(context.Background(), it.Digest, vault.Change{Actor: "user:sgt", Action: evidence.ActionRecordChanged,
			Apply: func(i *evidence.Item) error { i.Hold = true; return nil }})
	}
	return it.Digest, err
}

func TestRetentionRemovesOnlyAckedOldestFirstAndStopsIntakeAtReserve(t *testing.T) {
	dir := smallDisk(t, 48)
	ctx := context.Background()
	clock := &steppingClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	v, err := vault.Open(ctx, dir, vault.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	store := NewOutboxStore(v)
	ack := func(d evidence.Digest) {
		t.Helper()
		it, _ := v.Item(d)
		if err := store.acknowledge(ctx, it, clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	var ackedItems []evidence.Digest
	for range 4 {
		d, err := ingestRandom(t, v, 5, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		ack(d)
		ackedItems = append(ackedItems, d)
	}
	keep := map[evidence.Digest]string{}
	must := func(d evidence.Digest, err error) evidence.Digest {
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	held := must(ingestRandom(t, v, 5, nil, true))
	ack(held)
	keep[held] = "held"
	keep[must(ingestRandom(t, v, 5, nil, false))] = "unsynced"
	verified := must(ingestRandom(t, v, 5, nil, false))
	if err := store.Update(ctx, outbox.Entry{Digest: verified, State: outbox.StateVerified}); err != nil {
		t.Fatal(err)
	}
	keep[verified] = "synced, not acknowledged"
	keep[must(ingestRandom(t, v, 5, map[string]string{evidence.LabelFlagged: "event in zone door"}, false))] = "flagged"

	r := &Retention{Vault: v, Usage: StatfsUsage, Acks: store, Log: slog.New(slog.DiscardHandler), Now: clock.Now,
		Cfg: config.Retention{HighWatermarkPercent: 70, LowWatermarkPercent: 60, ReserveMB: 6, Interval: time.Second}}
	res, err := r.sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Removed) != 3 || res.Removed[0] != ackedItems[0] || res.Removed[1] != ackedItems[1] || res.Removed[2] != ackedItems[2] {
		t.Fatalf("removed %v, want the three oldest acknowledged items %v", res.Removed, ackedItems[:3])
	}
	if res.UsedPercent > 60 {
		t.Fatalf("still %.1f%% used after relief", res.UsedPercent)
	}

	// Fill with unsynced footage until the reserve stops intake.
	var unsynced []evidence.Digest
	for i := 0; ; i++ {
		if err := r.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		d, err := ingestRandom(t, v, 4, nil, false)
		if errors.Is(err, vault.ErrIntakeStopped) {
			break
		}
		if err != nil {
			t.Fatalf("ingest %d failed before intake was stopped: %v", i, err)
		}
		unsynced = append(unsynced, d)
		if i > 20 {
			t.Fatal("intake never stopped")
		}
	}
	for _, d := range append(unsynced, keysOf(keep)...) {
		it, _ := v.Item(d)
		if it.State != evidence.StateStored {
			t.Fatalf("%s (%s) was removed", d.Short(), keep[d])
		}
		if _, err := os.Stat(v.ObjectPath(d)); err != nil {
			t.Fatalf("%s (%s) lost its bytes: %v", d.Short(), keep[d], err)
		}
	}

	// Central acknowledges the unsynced footage; space comes back and intake resumes.
	for _, d := range unsynced {
		ack(d)
	}
	r.Cfg.LowWatermarkPercent = 30
	if err := r.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if reason := v.IntakeStopped(); reason != "" {
		t.Fatalf("intake still stopped: %s", reason)
	}
	var actions []evidence.Action
	v.Events(1, func(e evidence.CustodyEvent) bool {
		if e.Action == evidence.ActionIntakeStop || e.Action == evidence.ActionIntakeResume {
			actions = append(actions, e.Action)
		}
		return true
	})
	if len(actions) != 2 || actions[0] != evidence.ActionIntakeStop || actions[1] != evidence.ActionIntakeResume {
		t.Fatalf("intake events %v", actions)
	}
	v.Close()
	vr, err := vault.Open(ctx, dir, vault.Options{VerifyOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer vr.Close()
	rep, err := vr.Verify(ctx, nil)
	if err != nil || !rep.OK() || rep.Removed == 0 {
		t.Fatalf("verify after retention: removed %d, %v %v", rep.Removed, rep.Findings, err)
	}
}

func keysOf(m map[evidence.Digest]string) []evidence.Digest {
	var out []evidence.Digest
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Central's acknowledgement is kept in the outbox, whatever order it
// arrives in: it is final against an upload that finishes after it, and it
// is recorded for an item central pulled without it being queued.
func TestOutboxKeepsCentralAcknowledgement(t *testing.T) {
	ctx := context.Background()
	v, err := vault.Open(ctx, t.TempDir(), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	store := NewOutboxStore(v)
	policy := NewSyncPolicy(v, store, []string{"dock"}, nil, slog.New(slog.DiscardHandler))
	queued, _, _ := v.IngestReader(ctx, strings.NewReader("queued clip"), evidence.Intake{Source: "bwv", Labels: map[string]string{"origin": "dock"}})
	pulled, _, _ := v.IngestReader(ctx, strings.NewReader("pulled clip"), evidence.Intake{Source: "cli"})
	run := func() {
		t.Helper()
		if err := policy.Follower().catchUp(ctx); err != nil {
			t.Fatal(err)
		}
	}
	run()
	if e, found, _ := store.entry(queued.Digest); !found || e.State != outbox.StateQueued {
		t.Fatalf("dock clip not queued: %+v", e)
	}
	if store.Acknowledged(queued.Digest) || store.Acknowledged(pulled.Digest) {
		t.Fatal("acknowledged before central said so")
	}
	for _, it := range []evidence.Item{queued, pulled} {
		if _, err := v.Acknowledge(ctx, it.Digest, it.Digest, "hq"); err != nil {
			t.Fatal(err)
		}
	}
	run()
	// The worker finishes the upload it had started after the ack.
	e, _, _ := store.entry(queued.Digest)
	e.State = outbox.StateVerified
	if err := store.Update(ctx, e); err != nil {
		t.Fatal(err)
	}
	if !store.Acknowledged(queued.Digest) || !store.Acknowledged(pulled.Digest) {
		t.Fatal("central's acknowledgement was lost")
	}
}
