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
		Cfg: RetentionConfig{HighWatermarkPercent: 70, LowWatermarkPercent: 60, ReserveMB: 6, Interval: time.Second}}
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
	rep, err := vr.Verify(ctx, vault.VerifyOptions{})
	if err != nil || !rep.OK() || rep.Removed == 0 {
		t.Fatalf("verify after retention: removed %d, %v %v", rep.Removed, rep.Findings, err)
	}
}

// Each rule of the documented retention policy, one case each: which
// stored items a pass may remove.
func TestRetentionRules(t *testing.T) {
	ctx := context.Background()
	clock := &steppingClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	v, err := vault.Open(ctx, t.TempDir(), vault.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	cases := []struct {
		rule      string
		labels    map[string]string
		acked     bool
		hold      bool
		removable bool
	}{
		{"acknowledged by central: may go", nil, true, false, true},
		{"acknowledged but held: stays", nil, true, true, false},
		{"acknowledged but flagged: stays (an ack is never enough for a flagged clip)", map[string]string{evidence.LabelFlagged: "zone door"}, true, false, false},
		{"pushed to central but not acknowledged: stays", map[string]string{evidence.LabelSynced: "s3"}, false, false, false},
		{"never sent anywhere: stays", nil, false, false, false},
		{"local-only by policy, category expired: may go", map[string]string{evidence.LabelNeverSync: "policy", evidence.LabelCategory: "traffic"}, false, false, true},
		{"local-only by policy, category not expired: stays", map[string]string{evidence.LabelNeverSync: "policy", evidence.LabelCategory: "serious"}, false, false, false},
		{"local-only, category expired, but flagged: stays", map[string]string{evidence.LabelNeverSync: "policy", evidence.LabelCategory: "traffic", evidence.LabelFlagged: "staff"}, false, false, false},
		{"local-only, category expired, but held: stays", map[string]string{evidence.LabelNeverSync: "policy", evidence.LabelCategory: "traffic"}, false, true, false},
	}
	rule := map[evidence.Digest]int{}
	for i, c := range cases {
		// Distinct bytes per case: the rule's own name.
		it, _, err := v.IngestReader(ctx, strings.NewReader(c.rule), evidence.Intake{Source: "cam", Labels: c.labels})
		if err != nil {
			t.Fatal(err)
		}
		if c.hold {
			v.UpdateItem(ctx, it.Digest, vault.Change{Actor: "user:sgt", Action: evidence.ActionRecordChanged,
				Apply: func(i *evidence.Item) error { i.Hold = true; return nil }})
		}
		if c.acked {
			if _, err := v.Acknowledge(ctx, it.Digest, vault.Acknowledgement{Central: "hq"}); err != nil {
				t.Fatal(err)
			}
		}
		rule[it.Digest] = i
	}
	store := NewOutboxStore(v)
	if err := NewSyncPolicy(v, store, nil, nil, slog.New(slog.DiscardHandler)).Follower().catchUp(ctx); err != nil {
		t.Fatal(err)
	}
	r := &Retention{Vault: v, Acks: store, Now: func() time.Time { return clock.Now().Add(48 * time.Hour) },
		Cfg: RetentionConfig{Categories: map[string]time.Duration{"traffic": time.Hour, "serious": 24 * 365 * time.Hour}}}
	got, err := r.removable()
	if err != nil {
		t.Fatal(err)
	}
	removable := map[int]bool{}
	for _, it := range got {
		if i, ok := rule[it.Digest]; ok {
			removable[i] = true
		}
	}
	for i, c := range cases {
		if removable[i] != c.removable {
			t.Errorf("%s: removable = %v", c.rule, removable[i])
		}
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
		if _, err := v.Acknowledge(ctx, it.Digest, vault.Acknowledgement{Central: "hq"}); err != nil {
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
