package supervisor

import (
	"context"
	"testing"
	"time"
)

// counter runs until stopped, counting its ticks and noting its end.
type counter struct {
	name    string
	ticks   chan struct{}
	stopped chan struct{}
}

func newCounter(name string) *counter {
	return &counter{name: name, ticks: make(chan struct{}, 1000), stopped: make(chan struct{})}
}

func (c *counter) Name() string { return c.name }

func (c *counter) Run(ctx context.Context) error {
	defer close(c.stopped)
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			select {
			case c.ticks <- struct{}{}:
			default:
			}
		}
	}
}

func (c *counter) running(t *testing.T) {
	t.Helper()
	for len(c.ticks) > 0 {
		<-c.ticks
	}
	select {
	case <-c.ticks:
	case <-time.After(time.Second):
		t.Fatalf("%s is not running", c.name)
	}
}

// A reload removes and adds parts of a running group; the others never
// notice.
func TestPartsJoinAndLeaveARunningGroup(t *testing.T) {
	s := New(Options{Backoff: 5 * time.Millisecond})
	yard, lobby := newCounter("camera:yard"), newCounter("camera:lobby")
	g := s.Start("intake", yard, lobby)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	gate := newCounter("camera:gate")
	if err := g.Add(gate); err != nil {
		t.Fatal(err)
	}
	if err := g.Add(newCounter("camera:gate")); err == nil {
		t.Fatal("a second part named camera:gate was started")
	}
	gate.running(t)
	if err := g.Remove(ctx, "camera:lobby"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lobby.stopped:
	default:
		t.Fatal("Remove returned before the part stopped")
	}
	if g.Has("camera:lobby") || !g.Has("camera:yard") {
		t.Fatal("group membership after the removal is wrong")
	}
	yard.running(t)
	gate.running(t)
	newLobby := newCounter("camera:lobby")
	if err := g.Add(newLobby); err != nil {
		t.Fatalf("the changed camera back under its name: %v", err)
	}
	newLobby.running(t)

	if err := g.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*counter{yard, gate, newLobby} {
		select {
		case <-c.stopped:
		default:
			t.Fatalf("%s still running after Stop", c.name)
		}
	}
	if err := g.Add(newCounter("camera:late")); err == nil {
		t.Fatal("a part joined a stopped group")
	}
}
