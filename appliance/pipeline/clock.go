package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/hardware"
)

// Every custody event and checkpoint carries the appliance's wall-clock
// time. A clock that is not synchronised makes those times doubtful, and a
// clock that jumps (set by hand, or stepped by NTP) makes checkpoint
// times run backwards or leap; the watch raises an alarm for the first
// and records the second in the custody chain, both readings included, so
// verify and a court can tell a corrected clock from a rewritten history.

// ClockConfig is custody.clock.
type ClockConfig struct {
	// CheckEvery is how often the wall clock is compared with the
	// monotonic clock and the kernel's synchronisation state read.
	CheckEvery time.Duration `yaml:"check_every"`
	// JumpThreshold is the smallest disagreement recorded as a jump.
	JumpThreshold time.Duration `yaml:"jump_threshold"`
	// AlarmUnsynchronised raises an alarm while the kernel says the clock
	// is not synchronised (adjtimex: STA_UNSYNC, or maxerror at its limit).
	AlarmUnsynchronised bool `yaml:"alarm_unsynchronised"`
}

// DefaultClock checks every five seconds, records jumps of two seconds or
// more, and alarms on an unsynchronised clock.
func DefaultClock() ClockConfig {
	return ClockConfig{CheckEvery: 5 * time.Second, JumpThreshold: 2 * time.Second, AlarmUnsynchronised: true}
}

// Validate names the key at fault, below custody.
func (c ClockConfig) Validate() error {
	var errs []error
	if c.CheckEvery <= 0 {
		errs = append(errs, errors.New("'clock.check_every' must be greater than zero"))
	}
	if c.JumpThreshold <= 0 {
		errs = append(errs, errors.New("'clock.jump_threshold' must be greater than zero"))
	}
	return errors.Join(errs...)
}

// ClockSync is the kernel's view of the system clock.
type ClockSync struct {
	Synchronised bool
	// MaxError is the kernel's bound on the clock's error.
	MaxError time.Duration
}

// ClockSource reads the clocks. The system's is SystemClock; a test feeds
// its own readings, since a real jump needs CAP_SYS_TIME and would move
// the clock of the whole machine.
type ClockSource interface {
	// Now is the wall clock and the monotonic clock, read together.
	Now() (wall time.Time, mono time.Duration)
	Sync() (ClockSync, error)
}

// SystemClock reads the kernel's clocks.
type SystemClock struct{ start time.Time }

// NewSystemClock starts a monotonic reference now.
func NewSystemClock() SystemClock { return SystemClock{start: time.Now()} }

func (c SystemClock) Now() (time.Time, time.Duration) {
	now := time.Now()
	return now.Round(0), now.Sub(c.start)
}

// maxErrorLimit is the kernel's NTP_PHASE_LIMIT bound on maxerror (16 s in
// microseconds): at it, nothing has disciplined the clock for a long time.
const maxErrorLimit = 16_000_000

// Sync reads adjtimex without changing anything (modes 0 needs no
// privilege).
func (SystemClock) Sync() (ClockSync, error) {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return ClockSync{}, fmt.Errorf("adjtimex: %w", err)
	}
	unsync := tx.Status&unix.STA_UNSYNC != 0 || state == unix.TIME_ERROR || tx.Maxerror >= maxErrorLimit
	return ClockSync{Synchronised: !unsync, MaxError: time.Duration(tx.Maxerror) * time.Microsecond}, nil
}

// ClockAppender is where clock jumps are recorded: the custody chain.
type ClockAppender interface {
	Append(ctx context.Context, events ...evidence.CustodyEvent) ([]evidence.CustodyEvent, error)
}

// ClockWatch raises the unsynchronised-clock alarm and records jumps.
type ClockWatch struct {
	cfg     ClockConfig
	src     ClockSource
	custody ClockAppender
	alarms  hardware.AlarmSink
	log     *slog.Logger

	mu    sync.Mutex
	alarm *hardware.Alarm
}

// NewClockWatch watches src; alarms may be nil.
func NewClockWatch(cfg ClockConfig, src ClockSource, custody ClockAppender, alarms hardware.AlarmSink, log *slog.Logger) *ClockWatch {
	return &ClockWatch{cfg: cfg, src: src, custody: custody, alarms: alarms, log: log.With("part", "clock")}
}

func (w *ClockWatch) Name() string { return "clock" }

// Run checks every CheckEvery until ctx ends. A reading that cannot be
// recorded ends Run with the error, for the supervisor to restart it.
func (w *ClockWatch) Run(ctx context.Context) error {
	wall, mono := w.src.Now()
	if err := w.checkSync(ctx); err != nil {
		return err
	}
	t := time.NewTicker(w.cfg.CheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		nowWall, nowMono := w.src.Now()
		if err := w.checkJump(ctx, wall, nowWall, nowMono-mono); err != nil {
			return err
		}
		wall, mono = nowWall, nowMono
		if err := w.checkSync(ctx); err != nil {
			return err
		}
	}
}

// checkJump records a jump: the wall clock moved by more or less than the
// monotonic clock (which nothing can set) over the same stretch.
func (w *ClockWatch) checkJump(ctx context.Context, before, after time.Time, elapsed time.Duration) error {
	jump := after.Sub(before) - elapsed
	if jump.Abs() < w.cfg.JumpThreshold {
		return nil
	}
	w.log.Warn("system clock jumped", "by", jump, "wall_before", before, "wall_after", after, "monotonic_elapsed", elapsed)
	_, err := w.custody.Append(ctx, evidence.CustodyEvent{Actor: "appliance:clock", Action: evidence.ActionClockJump,
		Details: map[string]string{
			"wall_before":       before.UTC().Format(time.RFC3339Nano),
			"wall_after":        after.UTC().Format(time.RFC3339Nano),
			"monotonic_elapsed": elapsed.String(),
			"jump":              jump.String(),
		}})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("record clock jump of %s: %w", jump, err)
	}
	return nil
}

func (w *ClockWatch) checkSync(ctx context.Context) error {
	if !w.cfg.AlarmUnsynchronised {
		return nil
	}
	st, err := w.src.Sync()
	if err != nil {
		w.log.Warn("clock state unreadable", "err", err)
		return nil
	}
	now, _ := w.src.Now()
	w.mu.Lock()
	var change *hardware.Alarm
	switch {
	case !st.Synchronised && w.alarm == nil:
		w.alarm = &hardware.Alarm{Name: "clock_unsynchronised", Active: true, Value: st.MaxError.Seconds(), Since: now, At: now,
			Message: fmt.Sprintf("the system clock is not synchronised (max error %s): custody times are the appliance's own word", st.MaxError)}
		change = w.alarm
	case st.Synchronised && w.alarm != nil:
		c := *w.alarm
		c.Active, c.At, c.Value, c.Message = false, now, st.MaxError.Seconds(), "the system clock is synchronised again"
		w.alarm, change = nil, &c
	}
	w.mu.Unlock()
	if change == nil || w.alarms == nil {
		return nil
	}
	if err := w.alarms.AlarmChanged(ctx, *change); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// Alarms are the watch's raised alarms, for the dashboard.
func (w *ClockWatch) Alarms() []hardware.Alarm {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.alarm == nil {
		return nil
	}
	return []hardware.Alarm{*w.alarm}
}
