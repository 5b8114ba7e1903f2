package rtsp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// Recorder records one camera. Create it with New; Run it once.
type Recorder struct {
	cfg   Config
	vault Vault
	opt   Options
	log   *slog.Logger
	actor evidence.Actor
	dir   string

	mu sync.Mutex
	st status

	jobs chan job // set while Run is running

	previousCodec string // video codec of the last session; only supervise touches it
}

// New checks cfg and returns a recorder for it.
func New(cfg Config, vault Vault, opt Options) (*Recorder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	if vault == nil {
		return nil, fmt.Errorf("camera %s: no vault to record into", cfg.ID)
	}
	if cfg.Mode == ModeMotion && opt.Motion == nil {
		return nil, fmt.Errorf("camera %s: 'mode' motion needs a motion signal", cfg.ID)
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.DrainTimeout <= 0 {
		opt.DrainTimeout = defaultDrainTimeout
	}
	r := &Recorder{
		cfg: cfg, vault: vault, opt: opt,
		log:   opt.Logger.With("camera", cfg.ID),
		actor: evidence.Actor("camera:" + cfg.ID),
		dir:   filepath.Join(cfg.SpoolDir, cfg.ID),
	}
	r.st.state = StateIdle
	return r, nil
}

// Config returns the recorder's configuration with defaults applied.
func (r *Recorder) Config() Config { return r.cfg }

// Run records until ctx ends. It never gives up on the camera: failures
// open a gap and are retried with capped exponential backoff. It returns an
// error only when the spool directory cannot be used.
func (r *Recorder) Run(ctx context.Context) error {
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return fmt.Errorf("camera %s: spool: %w", r.cfg.ID, err)
	}
	// Work already recorded must reach the vault even while shutting down.
	drainCtx, cancelDrain := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelDrain()
	leftovers, err := r.leftovers()
	if err != nil {
		return fmt.Errorf("camera %s: %w", r.cfg.ID, err)
	}
	r.jobs = make(chan job, 256)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.custodyWorker(drainCtx, r.jobs)
	}()
	// What an earlier run left goes first, so the chain keeps time order.
	for _, base := range leftovers {
		r.enqueue(job{leftover: base})
	}

	r.supervise(ctx)

	r.closeGap(time.Now(), "recorder stopped")
	close(r.jobs)
	stopDrain := context.AfterFunc(ctx, func() {
		// Give the vault a bounded time to take what is left.
		time.AfterFunc(r.opt.DrainTimeout, cancelDrain)
	})
	defer stopDrain()
	<-done
	r.setState(StateStopped)
	return nil
}

const defaultDrainTimeout = 15 * time.Second

// supervise runs sessions until ctx ends.
func (r *Recorder) supervise(ctx context.Context) {
	wait := r.cfg.BackoffMin
	var session int64
	for ctx.Err() == nil {
		session++
		r.setState(StateConnecting)
		started := time.Now()
		recorded, err := r.runSession(ctx, session)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("stream ended")
		}
		reason := classify(err)
		r.log.Warn("camera session ended", "reason", reason, "err", r.scrub(err), "after", time.Since(started).Round(time.Millisecond))
		r.noteError(reason, err)
		r.openGap(reason, err)
		if recorded {
			wait = r.cfg.BackoffMin
		}
		r.setState(StateWaiting)
		if !sleepCtx(ctx, jitter(wait)) {
			return
		}
		wait = min(wait*2, r.cfg.BackoffMax)
	}
}

// jitter spreads reconnects of many cameras after a shared outage: the wait
// is between half and all of d.
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (r *Recorder) enqueue(j job) {
	r.jobs <- j
}

// openGap starts a gap at the last recorded frame (or now, if nothing was
// recorded yet) unless one is open already.
func (r *Recorder) openGap(reason string, cause error) {
	r.mu.Lock()
	if r.st.gap != nil {
		r.st.gap.Attempts++
		r.st.gap.LastReason = reason
		r.mu.Unlock()
		return
	}
	// The gap starts where the recording stops: the end of the last
	// segment, which with B-frames lies a little after the arrival of the
	// last frame.
	start := r.st.lastFrame
	if r.st.recordedUntil.After(start) {
		start = r.st.recordedUntil
	}
	if start.IsZero() || start.Before(r.st.runStart) {
		start = time.Now()
	}
	msg := r.scrub(cause)
	g := &Gap{Start: start, Reason: reason, Error: msg, Attempts: 1, LastReason: reason}
	r.st.gap = g
	r.st.gapsOpened++
	r.mu.Unlock()
	r.log.Warn("gap in recording started", "reason", reason, "start", start)
	r.enqueue(job{event: &evidence.CustodyEvent{Actor: r.actor, Action: evidence.ActionGapStart, Details: map[string]string{
		"camera": r.cfg.ID, "reason": reason, "error": msg, "start": start.UTC().Format(time.RFC3339Nano),
	}}})
}

// scrub renders an error without the camera's password, in case a library
// put the URL into its message: errors end up in logs, the API and the
// custody chain.
func (r *Recorder) scrub(err error) string {
	msg := err.Error()
	if u, perr := url.Parse(r.cfg.URL); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "***")
		}
	}
	return msg
}

// closeGap ends the open gap, if any, at the given moment.
func (r *Recorder) closeGap(end time.Time, how string) {
	r.mu.Lock()
	g := r.st.gap
	if g == nil {
		r.mu.Unlock()
		return
	}
	r.st.gap = nil
	g.End = end
	r.st.gaps = append(r.st.gaps, *g)
	r.st.pruneGaps()
	r.mu.Unlock()
	r.log.Info("gap in recording ended", "reason", g.Reason, "start", g.Start, "end", end, "duration", end.Sub(g.Start).Round(time.Millisecond), "how", how)
	r.enqueue(job{event: &evidence.CustodyEvent{Actor: r.actor, Action: evidence.ActionGapEnd, Details: map[string]string{
		"camera": r.cfg.ID, "reason": g.Reason, "last_reason": g.LastReason, "ended_by": how,
		"start": g.Start.UTC().Format(time.RFC3339Nano), "end": end.UTC().Format(time.RFC3339Nano),
		"duration_s": fmt.Sprintf("%.3f", end.Sub(g.Start).Seconds()), "attempts": fmt.Sprint(g.Attempts),
	}}})
}
