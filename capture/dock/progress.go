package dock

import (
	"errors"
	"io"
	"slices"
	"sync/atomic"
	"time"
)

// Bay states shown in Progress.
const (
	BaySettling    = "settling"     // seen, waiting for it to finish mounting
	BayNotCamera   = "not-a-camera" // no profile matches; nothing is touched
	BayOffloading  = "offloading"
	BayDone        = "done"        // every file offloaded (released or kept per policy)
	BayIncomplete  = "incomplete"  // the pass ended with files left to do; retried
	BayInterrupted = "interrupted" // undocked or stopped mid-offload
	BayError       = "error"
)

// File states shown in Progress.
const (
	FilePending     = "pending"
	FileCopying     = "copying"
	FileVerifying   = "verifying"
	FileOffloaded   = "offloaded" // in the vault, verified, kept on the camera
	FileReleased    = "released"  // in the vault, verified, deleted from the camera
	FileKept        = "kept"      // in the vault but not releasable (marked, waiting for ack)
	FileChanged     = "changed"   // changed while read: the bytes read are kept; copied again once it settles
	FileUnreadable  = "unreadable"
	FileFailed      = "failed"
	FileInterrupted = "interrupted"
)

// Snapshot is the dock's progress at one moment, for the dashboard.
type Snapshot struct {
	Time time.Time     `json:"time"`
	Bays []BayProgress `json:"bays"`
	// BytesRead counts every byte read off cameras since the dock started.
	BytesRead int64 `json:"bytes_read"`
}

// BayProgress is one bay. Rate is bytes per second copied in this pass;
// ETA is seconds, -1 while unknown.
type BayProgress struct {
	Bay     string         `json:"bay"`
	State   string         `json:"state"`
	Message string         `json:"message,omitempty"`
	Profile string         `json:"profile,omitempty"`
	Device  Device         `json:"device"`
	Bytes   int64          `json:"bytes"`
	Total   int64          `json:"total"`
	Rate    float64        `json:"rate"`
	ETA     float64        `json:"eta"`
	Started time.Time      `json:"started,omitzero"`
	Files   []FileProgress `json:"files"`
	Skipped []Skipped      `json:"skipped,omitempty"`
}

// FileProgress is one camera file of a bay.
type FileProgress struct {
	Path   string  `json:"path"`
	State  string  `json:"state"`
	Bytes  int64   `json:"bytes"`
	Total  int64   `json:"total"`
	Rate   float64 `json:"rate"`
	ETA    float64 `json:"eta"`
	Digest string  `json:"digest,omitempty"`
	Error  string  `json:"error,omitempty"`
}

type bayProgress struct {
	BayProgress
	files []*fileProgress
}

type fileProgress struct {
	FileProgress // guarded by Dock.mu; Bytes lives in bytes
	bytes        atomic.Int64
	started      time.Time
	copied       bool // counted in the bay's rate
}

// Progress returns a copy of every bay's progress; safe to call at any time.
func (d *Dock) Progress() Snapshot {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	s := Snapshot{Time: now.UTC(), Bays: []BayProgress{}, BytesRead: d.bytesRead.Load()}
	for _, b := range d.progress {
		s.Bays = append(s.Bays, b.snapshot(now))
	}
	slices.SortFunc(s.Bays, func(a, b BayProgress) int {
		if a.Bay < b.Bay {
			return -1
		}
		if a.Bay > b.Bay {
			return 1
		}
		return 0
	})
	return s
}

func (b *bayProgress) snapshot(now time.Time) BayProgress {
	out := b.BayProgress
	out.Files = make([]FileProgress, 0, len(b.files))
	out.Skipped = slices.Clone(b.Skipped)
	out.Bytes, out.Total = 0, 0
	var copied int64
	for _, f := range b.files {
		fp := f.FileProgress
		fp.Bytes = f.bytes.Load()
		fp.Rate, fp.ETA = rateETA(fp.Bytes, fp.Total, f.started, now)
		if fp.State != FileCopying {
			fp.Rate, fp.ETA = 0, 0
		}
		out.Files = append(out.Files, fp)
		out.Bytes += fp.Bytes
		out.Total += fp.Total
		if f.copied {
			copied += fp.Bytes
		}
	}
	out.Rate, out.ETA = rateETA(copied, copied+out.Total-out.Bytes, b.Started, now)
	if out.State != BayOffloading {
		out.Rate, out.ETA = 0, 0
	}
	return out
}

func rateETA(done, total int64, started, now time.Time) (rate, eta float64) {
	el := now.Sub(started).Seconds()
	if started.IsZero() || el <= 0 || done == 0 {
		return 0, -1
	}
	rate = float64(done) / el
	return rate, float64(total-done) / rate
}

// setBay changes a bay's shown state under the lock.
func (d *Dock) setBay(name string, fn func(b *bayProgress)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	b := d.progress[name]
	if b == nil {
		b = &bayProgress{BayProgress: BayProgress{Bay: name, ETA: -1}}
		d.progress[name] = b
	}
	fn(b)
}

func (d *Dock) setFile(f *fileProgress, state, errText string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f.State = state
	if errText != "" {
		f.Error = errText
	}
}

func (d *Dock) dropBay(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.progress, name)
}

// countingReader counts what passes into a file's progress.
type countingReader struct {
	r     io.Reader
	f     *fileProgress
	total *atomic.Int64 // the dock's, across bays
	// err is the source's own read error, told apart from the vault's.
	err error
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.f.bytes.Add(int64(n))
	c.total.Add(int64(n))
	if err != nil && !errors.Is(err, io.EOF) {
		c.err = err
	}
	return n, err
}
