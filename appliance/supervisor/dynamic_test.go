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

// slowStop is a part that, once stopped, takes until release to return (a
// camera handing its last segments to a slow vault).
type slowStop struct {
	name    string
	release chan struct{}
}

func (p *slowStop) Name() string { return p.name }

func (p *slowStop) Run(ctx context.Context) error {
	<-ctx.Done()
	<-p.release
	return nil
}

// Cancel lets a reload go on while a part takes its time to stop, and
// tells it when the part has returned; a group stopping still waits for it.
func TestCancelledPartIsWaitedForByItsChannel(t *testing.T) {
	s := New(Options{Backoff: 5 * time.Millisecond})
	gate := &slowStop{name: "camera:gate", release: make(chan struct{})}
	g := s.Start("intake", gate)
	left := g.Cancel("camera:gate")
	if g.Has("camera:gate") {
		t.Fatal("a cancelled part is still a member")
	}
	select {
	case <-left:
		t.Fatal("the channel closed before the part returned")
	case <-time.After(50 * time.Millisecond):
	}
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := g.Stop(short); err == nil {
		t.Fatal("the group stopped while a cancelled part had not returned")
	}
	close(gate.release)
	select {
	case <-left:
	case <-time.After(5 * time.Second):
		t.Fatal("the channel did not close once the part returned")
	}
	select {
	case <-g.Cancel("camera:none"):
	default:
		t.Fatal("cancelling no part gives a channel that never closes")
	}
}
