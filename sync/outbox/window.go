package outbox

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Window is a daily time span in which uploads may run, in the appliance's
// local time; it may cross midnight ("22:00-06:00").
type Window struct {
	Start, End time.Duration // since midnight
}

// ParseWindow reads "HH:MM-HH:MM". "00:00-24:00" is the whole day.
func ParseWindow(s string) (Window, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return Window{}, fmt.Errorf("upload window %q: want HH:MM-HH:MM", s)
	}
	start, err := parseClock(a)
	if err != nil {
		return Window{}, fmt.Errorf("upload window %q: %w", s, err)
	}
	end, err := parseClock(b)
	if err != nil {
		return Window{}, fmt.Errorf("upload window %q: %w", s, err)
	}
	if start == end {
		return Window{}, fmt.Errorf("upload window %q: start and end are the same time", s)
	}
	if start == 24*time.Hour {
		return Window{}, fmt.Errorf("upload window %q: a window cannot start at 24:00", s)
	}
	return Window{Start: start, End: end}, nil
}

// ParseWindows reads a list of windows; none means always open.
func ParseWindows(specs []string) ([]Window, error) {
	ws := make([]Window, 0, len(specs))
	for _, s := range specs {
		w, err := ParseWindow(s)
		if err != nil {
			return nil, err
		}
		ws = append(ws, w)
	}
	return ws, nil
}

func parseClock(s string) (time.Duration, error) {
	hh, mm, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || len(hh) == 0 || len(hh) > 2 || len(mm) != 2 {
		return 0, fmt.Errorf("time %q: want HH:MM", s)
	}
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	if err1 != nil || err2 != nil || h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("time %q: not a time of day", s)
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, nil
}

func (w Window) String() string {
	f := func(d time.Duration) string { return fmt.Sprintf("%02d:%02d", int(d.Hours()), int(d.Minutes())%60) }
	return f(w.Start) + "-" + f(w.End)
}

// sinceMidnight is t's offset into its own (local) day. Days with a DST
// change are treated as 24 hours long; a window edge may shift by an hour
// on those two nights.
func sinceMidnight(t time.Time) time.Duration {
	h, m, s := t.Clock()
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second + time.Duration(t.Nanosecond())
}

// Contains reports whether t falls in the window (start inclusive, end
// exclusive).
func (w Window) Contains(t time.Time) bool {
	d := sinceMidnight(t)
	if w.Start < w.End {
		return d >= w.Start && d < w.End
	}
	return d >= w.Start || d < w.End
}

// Open reports whether uploads may run at t: always with no windows.
func Open(ws []Window, t time.Time) bool {
	if len(ws) == 0 {
		return true
	}
	for _, w := range ws {
		if w.Contains(t) {
			return true
		}
	}
	return false
}

// NextOpen is the first moment at or after t when uploads may run.
func NextOpen(ws []Window, t time.Time) time.Time {
	if Open(ws, t) {
		return t
	}
	d := sinceMidnight(t)
	best := 48 * time.Hour
	for _, w := range ws {
		wait := w.Start - d
		if wait < 0 {
			wait += 24 * time.Hour
		}
		best = min(best, wait)
	}
	return t.Add(best)
}

// SetWindows replaces the upload windows of a running worker (a reload of
// the station's configuration); the next pass of the queue obeys them, and
// an upload under way is not cut off.
func (w *Worker) SetWindows(ws []Window) {
	w.mu.Lock()
	w.windows = slices.Clone(ws)
	w.mu.Unlock()
	w.Kick()
}

// Windows are the upload windows in force.
func (w *Worker) Windows() []Window {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.windows
}
