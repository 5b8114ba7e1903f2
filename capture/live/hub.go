// Package live fans a camera's live H.264 stream out to many viewers over
// one RTSP session to the camera.
//
// Hubs holds one hub per configured camera. The first viewer to join a
// camera opens its RTSP session; every further viewer is one more reader
// of the access units that session already receives; the session is
// closed a short linger after the last viewer leaves, so a viewer who
// reloads the page does not make the camera reconnect. The camera is
// never asked for more than one live session, however many watch.
//
// Nothing is decoded: access units are passed through as the camera sent
// them. The hub keeps the access units since the last keyframe (the
// camera's current group of pictures, SPS and PPS in front), and a viewer
// joining a running session gets them first, so its picture shows at
// once instead of at the camera's next keyframe.
//
// The stream a viewer gets is the camera's main stream (the picture that
// is recorded) when a browser can play it as sent: H.264 in a profile
// WebRTC decoders take (baseline, main or high) without B-frames, which
// stall Chromium's WebRTC decoder. B-frames are known from the SPS when it
// says (baseline has none; a bitstream restriction counts them), or else
// from the first frames after a keyframe arriving out of presentation
// order; such a session is not joined until two frames came in order.
// When the main stream is not playable, the sub-stream is used if it is;
// otherwise joining fails with ErrNotPlayable naming why.
package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Camera is what the hub needs of a camera's configuration.
type Camera struct {
	ID           string
	URL          string
	SubStreamURL string // "" when the camera has none
}

// Options tune every hub; the zero value works.
type Options struct {
	// Linger is how long a session stays open after its last viewer left
	// (default 5 s).
	Linger time.Duration
	// Timeout bounds connecting to the camera and each read (default 10 s).
	Timeout time.Duration
	// MaxGOP bounds the access units kept since the last keyframe
	// (default 300; a camera with a longer keyframe interval is joined at
	// its next keyframe instead).
	MaxGOP int
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Linger <= 0 {
		o.Linger = 5 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxGOP <= 0 {
		o.MaxGOP = 300
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

var (
	// ErrUnknownCamera: no camera of that id is configured.
	ErrUnknownCamera = errors.New("no such camera")
	// ErrNotPlayable: neither of the camera's streams can be passed
	// through to a browser as sent.
	ErrNotPlayable = errors.New("camera's stream cannot be played in a browser without transcoding")
	// ErrClosed: the hubs were closed (the appliance is stopping, or the
	// camera was removed from the configuration).
	ErrClosed = errors.New("live view closed")
)

// Hubs is the live hubs of a station's cameras.
type Hubs struct {
	opts Options

	mu     sync.Mutex
	hubs   map[string]*hub
	closed bool
}

// New makes the hubs of cams; no camera is contacted until a viewer joins.
func New(cams []Camera, opts Options) *Hubs {
	h := &Hubs{opts: opts.withDefaults(), hubs: map[string]*hub{}}
	h.Set(cams)
	return h
}

// Set replaces the camera list (a configuration reload): hubs of removed
// or changed cameras are closed, their viewers ended with ErrClosed.
func (h *Hubs) Set(cams []Camera) {
	h.mu.Lock()
	defer h.mu.Unlock()
	keep := map[string]bool{}
	for _, c := range cams {
		keep[c.ID] = true
		if old := h.hubs[c.ID]; old != nil && old.cam == c {
			continue
		} else if old != nil {
			old.close()
		}
		h.hubs[c.ID] = newHub(c, h.opts)
	}
	for id, old := range h.hubs {
		if !keep[id] {
			old.close()
			delete(h.hubs, id)
		}
	}
}

// Join adds a viewer of camera id. It returns once the camera's session
// plays (at once when it already does), or with the reason it cannot:
// ErrUnknownCamera, ErrNotPlayable, or the camera's connection error.
func (h *Hubs) Join(ctx context.Context, id string) (*Viewer, error) {
	h.mu.Lock()
	hb, closed := h.hubs[id], h.closed
	h.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	if hb == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownCamera, id)
	}
	return hb.join(ctx)
}

// Has says whether camera id is configured.
func (h *Hubs) Has(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hubs[id] != nil
}

// Close ends every session and viewer. Calling it twice is harmless.
func (h *Hubs) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for id, hb := range h.hubs {
		hb.close()
		delete(h.hubs, id)
	}
}
