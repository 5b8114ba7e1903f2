package pipeline

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

// fedClock is a clock the test moves: a real jump needs CAP_SYS_TIME and
// would move the whole machine's clock.
type fedClock struct {
	mu   sync.Mutex
	wall time.Time
	mono time.Duration
	sync ClockSync
}

func (c *fedClock) Now() (time.Time, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wall, c.mono
}

func (c *fedClock) Sync() (ClockSync, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sync, nil
}

// advance moves the monotonic clock by elapsed and the wall clock by
// elapsed+jump.
func (c *fedClock) advance(elapsed, jump time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mono += elapsed
	c.wall = c.wall.Add(elapsed + jump)
}

func (c *fedClock) setSynchronised(ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sync = ClockSync{Synchronised: ok, MaxError: 16 * time.Second}
	if ok {
		c.sync.MaxError = 20 * time.Millisecond
	}
}

func clockEvents(t *testing.T, v *vault.Vault) []evidence.CustodyEvent {
	t.Helper()
	var out []evidence.CustodyEvent
	v.Events(1, func(e evidence.CustodyEvent) bool {
		if e.Action == evidence.ActionClockJump {
			out = append(out, e)
		}
		return true
	})
	return out
}

func TestClockJumpIsRecordedWithBothReadingsAndUnsyncedClockAlarmed(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v, err := vault.Open(ctx, t.TempDir(), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	start := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	clock := &fedClock{wall: start}
	clock.setSynchronised(false)
	log := slog.New(slog.DiscardHandler)
	cfg := ClockConfig{CheckEvery: 10 * time.Millisecond, JumpThreshold: 2 * time.Second, AlarmUnsynchronised: true}
	w := NewClockWatch(cfg, clock, v, NewAlarmRecorder(v, log), log)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	waitFor(t, "unsynchronised alarm", 5*time.Second, func() bool { return len(alarmEvents(t, v, "clock_unsynchronised")) == 1 })
	// Drift under the threshold is not a jump; an hour back is.
	clock.advance(5*time.Second, 1500*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	if got := clockEvents(t, v); len(got) != 0 {
		t.Fatalf("1.5 s of drift recorded as a jump: %+v", got)
	}
	clock.advance(10*time.Second, -time.Hour)
	waitFor(t, "clock-jump event", 5*time.Second, func() bool { return len(clockEvents(t, v)) == 1 })
	e := clockEvents(t, v)[0]
	want := map[string]string{
		"wall_before":       start.Add(6500 * time.Millisecond).Format(time.RFC3339Nano),
		"wall_after":        start.Add(16500*time.Millisecond - time.Hour).Format(time.RFC3339Nano),
		"monotonic_elapsed": "10s",
		"jump":              "-1h0m0s",
	}
	for k, val := range want {
		if e.Details[k] != val {
			t.Errorf("clock-jump %s = %q, want %q (all: %v)", k, e.Details[k], val, e.Details)
		}
	}
	clock.setSynchronised(true)
	waitFor(t, "alarm cleared", 5*time.Second, func() bool { return len(alarmEvents(t, v, "clock_unsynchronised")) == 2 })
	if len(w.Alarms()) != 0 {
		t.Fatalf("alarm still shown: %+v", w.Alarms())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// This machine's own clocks, read for real: a steady clock shows no jump,
// and adjtimex answers without privileges.
func TestSystemClockIsReadWithoutFalseJumps(t *testing.T) {
	c := NewSystemClock()
	if _, err := c.Sync(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	v, err := vault.Open(context.Background(), t.TempDir(), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	cfg := ClockConfig{CheckEvery: 10 * time.Millisecond, JumpThreshold: 100 * time.Millisecond}
	if err := NewClockWatch(cfg, c, v, nil, slog.New(slog.DiscardHandler)).Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := clockEvents(t, v); len(got) != 0 {
		t.Fatalf("a steady clock recorded jumps: %+v", got)
	}
}
