package supervisor

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// flaky fails its first fails runs with err, then runs until stopped.
type flaky struct {
	runs  atomic.Int64
	fails int64
	err   error
}

func (f *flaky) Name() string { return "flaky" }

func (f *flaky) Run(ctx context.Context) error {
	if f.runs.Add(1) <= f.fails {
		return f.err
	}
	<-ctx.Done()
	return nil
}

func runFor(t *testing.T, s *Supervisor, p Part, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	s.Run(ctx, p)
}

func TestAFailedPartIsRestarted(t *testing.T) {
	p := &flaky{fails: 3, err: errors.New("camera unreachable")}
	runFor(t, New(Options{Backoff: 5 * time.Millisecond}), p, 500*time.Millisecond)
	if p.runs.Load() != 4 {
		t.Fatalf("part ran %d times, want 3 failures and one lasting run", p.runs.Load())
	}
}

// leafError is how a leaf, which cannot import this package, says it.
type leafError struct{}

func (leafError) Error() string      { return "licence file unreadable" }
func (leafError) DoNotRestart() bool { return true }

func TestAPartThatSaysSoIsNotRestarted(t *testing.T) {
	for name, err := range map[string]error{
		"wrapped": DoNotRestart(errors.New("'cameras[0].url' is not an RTSP URL")),
		"leaf":    leafError{},
	} {
		t.Run(name, func(t *testing.T) {
			p := &flaky{fails: 5, err: err}
			var stopped atomic.Bool
			runFor(t, New(Options{Backoff: 5 * time.Millisecond, StopEverything: func(error) { stopped.Store(true) }}), p, 300*time.Millisecond)
			if p.runs.Load() != 1 || stopped.Load() {
				t.Fatalf("ran %d times, stopped everything %v", p.runs.Load(), stopped.Load())
			}
		})
	}
}

func TestAPartCanStopEverything(t *testing.T) {
	p := &flaky{fails: 5, err: StopEverything(errors.New("vault disk gone"))}
	got := make(chan error, 1)
	s := New(Options{Backoff: 5 * time.Millisecond, StopEverything: func(err error) { got <- err }})
	g := s.Start("intake", p)
	select {
	case err := <-got:
		if !errors.Is(err, ErrStopEverything) {
			t.Fatalf("stop cause %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the daemon was not told to stop")
	}
	if err := g.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p.runs.Load() != 1 {
		t.Fatalf("ran %d times", p.runs.Load())
	}
}

// stage records what happened to it in a shared log.
type stage struct {
	name    string
	log     *[]string
	mu      *sync.Mutex
	drain   chan struct{}
	working time.Duration
}

func (s *stage) Name() string { return s.name }
func (s *stage) note(what string) {
	s.mu.Lock()
	*s.log = append(*s.log, s.name+" "+what)
	s.mu.Unlock()
}
func (s *stage) Drain() { close(s.drain) }
func (s *stage) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
		s.note("cancelled")
	case <-s.drain:
		time.Sleep(s.working) // the work in hand
		s.note("drained")
	}
	return nil
}

// Groups stop in the order the daemon stops them; a drained group finishes
// its work unless the deadline comes first.
func TestGroupsStopInOrderAndStagesDrain(t *testing.T) {
	var log []string
	var mu sync.Mutex
	mk := func(name string, working time.Duration) *stage {
		return &stage{name: name, log: &log, mu: &mu, drain: make(chan struct{}), working: working}
	}
	s := New(Options{})
	intake := s.Start("intake", mk("camera", 0))
	stages := s.Start("stages", mk("triage", 50*time.Millisecond))
	slow := s.Start("slow stages", mk("redact", time.Hour))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := intake.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := stages.Drain(ctx, ctx); err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancelShort()
	if err := slow.Drain(short, short); err == nil {
		t.Fatal("a stage that outlived the deadline was reported stopped")
	}
	want := []string{"camera cancelled", "triage drained"}
	mu.Lock()
	defer mu.Unlock()
	if len(log) != 2 || log[0] != want[0] || log[1] != want[1] {
		t.Fatalf("stop order %v, want %v", log, want)
	}
}
