// Package supervisor runs the daemon's long-running parts in groups that
// start together and stop together, so the daemon can stop intake, drain
// the pipeline's stages and only then close the vault. A part that fails
// is restarted after a capped, jittered backoff; a part can also say that
// it must not be restarted, or that the whole daemon must stop.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Part is a long-running part of the daemon. Run returns nil when ctx ends
// or the part has finished for good, and an error when it failed.
type Part interface {
	Name() string
	Run(ctx context.Context) error
}

// Drainer is a part that can finish the work in hand and take no more
// (a pipeline stage); Run then returns nil.
type Drainer interface {
	Part
	Drain()
}

// Errors a part returns, wrapped, to steer its supervisor. A leaf package,
// which may not import this one, says the same with an error that has a
// method DoNotRestart() bool or StopEverything() bool answering true.
var (
	ErrDoNotRestart   = errors.New("do not restart")
	ErrStopEverything = errors.New("stop everything")
)

// DoNotRestart marks err as a failure that a restart cannot mend (a bad
// configuration): the part stays stopped, the rest of the daemon runs on.
func DoNotRestart(err error) error { return fmt.Errorf("%w (%w)", err, ErrDoNotRestart) }

// StopEverything marks err as a failure the daemon cannot run on with
// (the vault's disk gone): every part is stopped in order.
func StopEverything(err error) error { return fmt.Errorf("%w (%w)", err, ErrStopEverything) }

func says(err error, sentinel error, method func(error) bool) bool {
	if errors.Is(err, sentinel) {
		return true
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if method(e) {
			return true
		}
	}
	return false
}

func doNotRestart(err error) bool {
	return says(err, ErrDoNotRestart, func(e error) bool {
		d, ok := e.(interface{ DoNotRestart() bool })
		return ok && d.DoNotRestart()
	})
}

func stopEverything(err error) bool {
	return says(err, ErrStopEverything, func(e error) bool {
		d, ok := e.(interface{ StopEverything() bool })
		return ok && d.StopEverything()
	})
}

// Options tune a supervisor.
type Options struct {
	// Backoff is the first wait before a failed part is restarted; it
	// doubles up to 60 times that, and resets once a part has run for five
	// times the cap. Zero means one second.
	Backoff time.Duration
	Logger  *slog.Logger
	// StopEverything is called (once per failure) when a part says the
	// daemon must stop.
	StopEverything func(error)
}

// Supervisor starts groups of parts.
type Supervisor struct {
	opts Options
}

// New makes a supervisor.
func New(opts Options) *Supervisor {
	if opts.Backoff == 0 {
		opts.Backoff = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.StopEverything == nil {
		opts.StopEverything = func(error) {}
	}
	return &Supervisor{opts: opts}
}

// Group is parts started together; Stop ends them together. Parts can be
// added and removed while it runs (a camera added or changed at a reload),
// each by its name, which is unique in the group.
type Group struct {
	name   string
	sup    *Supervisor
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	parts   map[string]*member
	stopped bool // no part may join any more
}

// member is one running part and how to stop it alone.
type member struct {
	part   Part
	cancel context.CancelFunc
	done   chan struct{}
}

// Start runs each part under supervision until the group is stopped. The
// group's context is its own: the caller's ending does not stop it, so the
// daemon decides the order parts stop in. Part names must be unique; a
// second part of a name is not started (and logged).
func (s *Supervisor) Start(name string, parts ...Part) *Group {
	ctx, cancel := context.WithCancel(context.Background())
	g := &Group{name: name, sup: s, ctx: ctx, cancel: cancel, parts: map[string]*member{}}
	for _, p := range parts {
		if err := g.Add(p); err != nil {
			s.opts.Logger.Error("part not started", "group", name, "err", err)
		}
	}
	return g
}

// Add starts one more part in the running group.
func (g *Group) Add(p Part) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return fmt.Errorf("%s is stopping: %s not started", g.name, p.Name())
	}
	if _, ok := g.parts[p.Name()]; ok {
		return fmt.Errorf("%s: a part named %s runs already", g.name, p.Name())
	}
	ctx, cancel := context.WithCancel(g.ctx)
	m := &member{part: p, cancel: cancel, done: make(chan struct{})}
	g.parts[p.Name()] = m
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer close(m.done)
		g.sup.supervise(ctx, p)
		cancel()
	}()
	return nil
}

// Remove stops the part of that name alone (its context ends, as at
// shutdown) and waits for it until deadline ends; the others run on.
func (g *Group) Remove(deadline context.Context, name string) error {
	select {
	case <-g.Cancel(name):
		return nil
	case <-deadline.Done():
		return fmt.Errorf("%s: %s did not stop in time", g.name, name)
	}
}

// Cancel takes the part of that name out of the group and ends its
// context without waiting; the channel is closed once it has returned (at
// once when no such part runs). A part of the same name may join again
// meanwhile: waiting for the old one first is the caller's choice.
func (g *Group) Cancel(name string) <-chan struct{} {
	g.mu.Lock()
	m := g.parts[name]
	delete(g.parts, name)
	g.mu.Unlock()
	if m == nil {
		done := make(chan struct{})
		close(done)
		return done
	}
	m.cancel()
	return m.done
}

// Has says whether a part of that name was started and not removed.
func (g *Group) Has(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.parts[name]
	return ok
}

// closeDoors lets no more parts join and returns a channel closed once
// every part has returned.
func (g *Group) closeDoors() (members []*member, allDone <-chan struct{}) {
	g.mu.Lock()
	g.stopped = true
	for _, m := range g.parts {
		members = append(members, m)
	}
	g.mu.Unlock()
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	return members, done
}

// Drain asks every part that can to finish the work in hand and waits for
// all parts to return until drainBy ends; then it cancels what is left and
// waits for that until deadline ends.
func (g *Group) Drain(drainBy, deadline context.Context) error {
	members, done := g.closeDoors()
	for _, m := range members {
		if d, ok := m.part.(Drainer); ok {
			d.Drain()
		}
	}
	select {
	case <-done:
		g.cancel()
		return nil
	case <-drainBy.Done():
	}
	return g.Stop(deadline)
}

// Stop cancels the group's parts and waits for them until deadline ends.
func (g *Group) Stop(deadline context.Context) error {
	_, done := g.closeDoors()
	g.cancel()
	select {
	case <-done:
		return nil
	case <-deadline.Done():
		return fmt.Errorf("%s did not stop in time", g.name)
	}
}

// Run runs one part alone under supervision until ctx ends, for tests and
// for parts that need no group.
func (s *Supervisor) Run(ctx context.Context, p Part) { s.supervise(ctx, p) }

// supervise keeps a part running: a failure is logged and the part is
// restarted after a capped, jittered backoff, unless it said not to be or
// said the daemon must stop.
func (s *Supervisor) supervise(ctx context.Context, p Part) {
	minBackoff := s.opts.Backoff
	maxBackoff := 60 * minBackoff
	backoff := minBackoff
	for {
		started := time.Now()
		err := p.Run(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			s.opts.Logger.Info("part finished", "part", p.Name())
			return
		case stopEverything(err):
			s.opts.Logger.Error("part failed; stopping the daemon", "part", p.Name(), "err", err)
			s.opts.StopEverything(fmt.Errorf("%s: %w", p.Name(), err))
			return
		case doNotRestart(err):
			s.opts.Logger.Error("part failed for good; not restarting it", "part", p.Name(), "err", err)
			return
		}
		if time.Since(started) > 5*maxBackoff {
			backoff = minBackoff
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		s.opts.Logger.Error("part failed; restarting", "part", p.Name(), "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// Every calls fn at each tick until ctx ends or fn fails; a ticker, not a
// sleep, so a slow fn does not push later ticks back.
func Every(ctx context.Context, interval time.Duration, fn func() error) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := fn(); err != nil {
				return err
			}
		}
	}
}
