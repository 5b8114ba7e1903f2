package motion

import (
	"fmt"
	"time"

	"gocv.io/x/gocv"
)

// Live is the motion signal for one live camera feed: RTSP recording asks
// it, frame by frame, whether motion is going on. It reports onset as soon
// as two consecutive frames move and one of the run stood out from the
// picture's noise (FrameStats.Strong; well within 2 s at any usable frame
// rate) and stays active until nothing has moved for the merge gap. It is
// not safe for concurrent use.
type Live struct {
	det        *Detector
	tp         *tamper
	gap        time.Duration
	origin     time.Time
	last       time.Time
	lastMotion time.Time
	streak     int
	strong     bool // the current run of motion has a frame that stood out from the noise
	active     bool
	alerts     []Alert
	stats      FrameStats
}

// NewLive returns a live detector; Close releases it.
func NewLive(cfg Config) (*Live, error) {
	det, err := NewDetector(cfg)
	if err != nil {
		return nil, err
	}
	return &Live{det: det, tp: newTamper(), gap: cfg.MergeGap.D()}, nil
}

// Close releases the detector's OpenCV memory.
func (l *Live) Close() error { return l.det.Close() }

// Feed analyses a decoded frame (BGR or grey) taken at at and reports
// whether motion is active. Frames older than the previous one are ignored.
func (l *Live) Feed(frame gocv.Mat, at time.Time) (active bool) {
	if l.origin.IsZero() {
		l.origin, l.last = at, at
	} else if at.Before(l.last) {
		return l.active
	}
	dt := at.Sub(l.last).Seconds()
	l.last = at
	l.stats = l.det.Process(frame, at.Sub(l.origin))
	for _, a := range l.tp.update(at.Sub(l.origin).Seconds(), dt, l.stats) {
		a.Detail = fmt.Sprintf("%s (at %s)", a.Detail, at.UTC().Format(time.RFC3339))
		l.alerts = append(l.alerts, a)
	}
	if len(l.stats.Boxes) > 0 {
		l.streak++
		l.lastMotion = at
		l.strong = l.strong || l.stats.Strong
	} else {
		l.streak = 0
	}
	switch {
	case l.streak >= 2 && l.strong:
		l.active = true
	case at.Sub(l.lastMotion) > l.gap:
		// The same rule as events in files: motion closer than the merge
		// gap is one run, and a run needs one strong frame.
		l.active, l.strong = false, false
	}
	return l.active
}

// Last returns the statistics of the last frame fed.
func (l *Live) Last() FrameStats { return l.stats }

// TakeAlerts returns the tamper alerts raised since the last call. Their At
// is seconds since the first frame fed.
func (l *Live) TakeAlerts() []Alert {
	a := l.alerts
	l.alerts = nil
	return a
}
