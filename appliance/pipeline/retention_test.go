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
	"sync"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/config"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
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
	acked := map[string]string{evidence.LabelCentralAck: "hq 2026-01-01", evidence.LabelSynced: "s3"}
	var ackedItems []evidence.Digest
	for range 4 {
		d, err := ingestRandom(t, v, 5, acked, false)
		if err != nil {
			t.Fatal(err)
		}
		ackedItems = append(ackedItems, d)
	}
	keep := map[evidence.Digest]string{}
	must := func(d evidence.Digest, err error) evidence.Digest {
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	keep[must(ingestRandom(t, v, 5, acked, true))] = "held"
	keep[must(ingestRandom(t, v, 5, nil, false))] = "unsynced"
	keep[must(ingestRandom(t, v, 5, map[string]string{evidence.LabelSynced: "s3"}, false))] = "synced, not acknowledged"
	keep[must(ingestRandom(t, v, 5, map[string]string{evidence.LabelFlagged: "event in zone door"}, false))] = "flagged"

	r := &Retention{Vault: v, Usage: StatfsUsage, Log: slog.New(slog.DiscardHandler), Now: clock.Now,
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
		v.UpdateItem(ctx, d, vault.Change{Actor: "central:hq", Action: evidence.ActionCentralAcknowledged,
			Apply: func(i *evidence.Item) error { i.Labels = acked; return nil }})
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
