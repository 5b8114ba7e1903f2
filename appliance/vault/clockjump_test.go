package vault

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// settableClock is the appliance clock a test sets back, as an admin or
// NTP would.
type settableClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *settableClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Millisecond)
	return c.now
}

func (c *settableClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// clockSetBack signs a checkpoint, sets the clock back an hour, optionally
// records the jump as the daemon's clock watch does, and signs again.
func clockSetBack(t *testing.T, recordJump bool) Report {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	clock := &settableClock{now: time.Now().Add(2 * time.Hour)}
	v, err := Open(ctx, dir, Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	v.Append(ctx, evidence.CustodyEvent{Actor: "user:staff", Action: evidence.ActionPreviewStart})
	if _, err := v.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	before := clock.Now()
	clock.add(-time.Hour)
	if recordJump {
		v.Append(ctx, evidence.CustodyEvent{Actor: "appliance:clock", Action: evidence.ActionClockJump, Details: map[string]string{
			"wall_before": before.UTC().Format(time.RFC3339Nano), "wall_after": clock.Now().UTC().Format(time.RFC3339Nano),
			"monotonic_elapsed": "5s", "jump": "-1h0m0s"}})
	}
	v.Append(ctx, evidence.CustodyEvent{Actor: "user:staff", Action: evidence.ActionPreviewStop})
	if _, err := v.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	return verifyPinned(t, dir, readPub(t, dir), 0)
}

func TestCheckpointTimesGoingBackAcrossARecordedClockJumpAreExplained(t *testing.T) {
	r := clockSetBack(t, true)
	if strings.Contains(findings(r), "run backwards") {
		t.Fatalf("a recorded clock jump did not explain the checkpoint times:\n%s", findings(r))
	}
	if len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "records the system clock set back by 1h0m0s") {
		t.Fatalf("notes %q", r.Notes)
	}
	// The same checkpoints without the recorded jump stay a finding.
	if r := clockSetBack(t, false); !strings.Contains(findings(r), "checkpoint times run backwards") || len(r.Notes) != 0 {
		t.Fatalf("without a clock-jump event: findings\n%s\nnotes %q", findings(r), r.Notes)
	}
}
