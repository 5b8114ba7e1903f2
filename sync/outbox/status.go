package outbox

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/sync/target"
)

// Status is what the status API shows about sync.
type Status struct {
	Target     string `json:"target"`
	Running    bool   `json:"running"`
	WindowOpen bool   `json:"window_open"`
	// NextWindow is when a closed window opens next.
	NextWindow time.Time `json:"next_window,omitzero"`
	// Current is the item being uploaded, if any.
	Current *Transfer `json:"current,omitempty"`
	// BytesPerSecond is the upload rate over the last few seconds.
	BytesPerSecond float64 `json:"bytes_per_second"`
	// BytesSent counts every byte sent to the target since the worker
	// started, retries included (a counter: rates are its derivative).
	BytesSent int64         `json:"bytes_sent"`
	Counts    map[State]int `json:"counts"`
	// LastError is the most recent failure of any item.
	LastError      string       `json:"last_error,omitempty"`
	LastErrorClass target.Class `json:"last_error_class,omitempty"`
	LastErrorAt    time.Time    `json:"last_error_at,omitzero"`
	Items          []Entry      `json:"items"`
}

// Transfer is the upload in progress.
type Transfer struct {
	Digest  evidence.Digest `json:"digest"`
	Size    int64           `json:"size"`
	Sent    int64           `json:"sent"`
	Started time.Time       `json:"started"`
}

// Status reports every entry's state and error, and the current transfer.
func (w *Worker) Status(ctx context.Context) (Status, error) {
	entries, err := w.cfg.Store.List(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("outbox status: %w", err)
	}
	now := w.cfg.Now()
	st := Status{
		Target:     w.cfg.Target.Name(),
		WindowOpen: Open(w.Windows(), now),
		Counts:     map[State]int{},
		Items:      entries,
	}
	if !st.WindowOpen {
		st.NextWindow = NextOpen(w.Windows(), now)
	}
	for _, e := range entries {
		st.Counts[e.State]++
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	st.Running = w.running
	if w.current != nil {
		st.Current = &Transfer{Digest: w.current.digest, Size: w.current.size, Sent: w.current.sent, Started: w.current.started}
	}
	st.BytesPerSecond = w.meter.rate(now)
	st.BytesSent = w.sent
	st.LastError, st.LastErrorClass, st.LastErrorAt = w.last.err, w.last.class, w.last.at
	return st, nil
}

type progress struct {
	w       *Worker
	digest  evidence.Digest
	size    int64
	sent    int64
	started time.Time
}

func (w *Worker) begin(d evidence.Digest, size int64) *progress {
	p := &progress{w: w, digest: d, size: size, started: w.cfg.Now()}
	w.mu.Lock()
	w.current = p
	w.mu.Unlock()
	return p
}

func (w *Worker) end() {
	w.mu.Lock()
	w.current = nil
	w.mu.Unlock()
}

func (p *progress) add(n int64) {
	now := p.w.cfg.Now()
	p.w.mu.Lock()
	defer p.w.mu.Unlock()
	p.sent += n
	p.w.sent += n
	p.w.meter.add(now, n)
}

// meter keeps bytes sent per second over the last meterSpan seconds.
type meter struct {
	secs  [meterSpan]int64
	stamp [meterSpan]int64 // unix second each slot holds
}

const meterSpan = 10

func (m *meter) add(now time.Time, n int64) {
	s := now.Unix()
	i := s % meterSpan
	if m.stamp[i] != s {
		m.stamp[i], m.secs[i] = s, 0
	}
	m.secs[i] += n
}

// rate averages over the completed seconds of the span, so a transfer that
// has just started is not reported as its first burst.
func (m *meter) rate(now time.Time) float64 {
	s := now.Unix()
	var sum int64
	for i := range m.secs {
		if age := s - m.stamp[i]; age >= 1 && age <= meterSpan {
			sum += m.secs[i]
		}
	}
	return float64(sum) / meterSpan
}

// SelectDue picks from entries the ones a Store's Due returns: queued,
// uploading or uploaded, next attempt not after now, urgent first, then in
// queue order, at most limit. Stores keep entries their own way and share
// this rule.
func SelectDue(entries []Entry, now time.Time, limit int) []Entry {
	var due []Entry
	for _, e := range entries {
		pending := e.State == StateQueued || e.State == StateUploading || e.State == StateUploaded
		if pending && !e.NextAttempt.After(now) {
			due = append(due, e)
		}
	}
	slices.SortFunc(due, func(a, b Entry) int {
		if a.Urgent != b.Urgent {
			if a.Urgent {
				return -1
			}
			return 1
		}
		return a.QueuedAt.Compare(b.QueuedAt)
	})
	return due[:min(limit, len(due))]
}
