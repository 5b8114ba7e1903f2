package live

import (
	"context"
	"sync"
	"time"
)

// AccessUnit is one H.264 access unit as the camera sent it: NAL units
// without start codes, SPS and PPS in front of every keyframe.
type AccessUnit struct {
	NALUs [][]byte
	// PTS is the camera's presentation time, counted from the start of
	// the RTSP session.
	PTS time.Duration
	Key bool
	// Cached marks the access units a viewer gets on joining, from the
	// hub's copy of the current group of pictures: they are in the past,
	// so a player should show them without waiting for their times.
	Cached bool
}

// Viewer is one reader of a camera's live stream.
type Viewer struct {
	hub    *hub
	ch     chan AccessUnit
	stream string
	done   chan struct{}
	once   sync.Once

	// Guarded by hub.mu.
	attached bool // gets access units (set once the session plays)
	needKey  bool // skips to the next keyframe (joined, or fell behind)
	dropped  int
	err      error
}

func newViewer(h *hub) *Viewer {
	return &Viewer{hub: h, ch: make(chan AccessUnit, h.opts.MaxGOP+64), done: make(chan struct{}), needKey: true}
}

// Stream says which of the camera's streams the viewer gets: "main" or
// "sub".
func (v *Viewer) Stream() string { return v.stream }

// Next waits for the next access unit. It fails with ErrClosed when the
// hub closed, or ctx's error.
func (v *Viewer) Next(ctx context.Context) (AccessUnit, error) {
	select {
	case au := <-v.ch:
		return au, nil
	case <-v.done:
		return AccessUnit{}, ErrClosed
	case <-ctx.Done():
		return AccessUnit{}, ctx.Err()
	}
}

// Dropped is how many access units were skipped because the viewer read
// too slowly (it then waits for the next keyframe, so its picture never
// shows a frame whose reference is missing).
func (v *Viewer) Dropped() int {
	v.hub.mu.Lock()
	defer v.hub.mu.Unlock()
	return v.dropped
}

// Leave stops the viewer; the last one to leave lets the session close
// after the linger. Calling it twice is harmless.
func (v *Viewer) Leave() { v.hub.leave(v) }

// offer hands au to the viewer without ever blocking the session: a viewer
// whose queue is full misses frames up to the next keyframe. Called with
// hub.mu held.
func (v *Viewer) offer(au AccessUnit) {
	if !v.attached || (v.needKey && !au.Key) {
		return
	}
	select {
	case v.ch <- au:
		v.needKey = false
	default:
		v.needKey = true
		v.dropped++
	}
}

// end closes the viewer's stream. Called with hub.mu held.
func (v *Viewer) end() {
	v.once.Do(func() { close(v.done) })
}
