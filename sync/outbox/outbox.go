// Package outbox moves queued evidence to a sync target (S3 or a directory)
// and records every step in the custody chain.
//
// An item goes queued -> uploading -> uploaded -> verified; acknowledged is
// set later by the daemon when central confirms receipt. State lives in a
// Store the daemon keeps durable (bbolt), so a restart resumes where it
// stopped. Delivery is at least once: a step whose outcome was not recorded
// is done again, and because objects are keyed by digest and targets check
// what is already stored, doing it again never makes a second copy. A failed
// item keeps its state and is retried with capped, jittered backoff; its
// error and error class are shown by Status, so an operator sees "auth" or
// "lock-not-enabled" rather than a silent stall.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/sync/target"
)

// State is where an item is on its way to central storage.
type State string

// Outbox states, in order.
const (
	StateQueued       State = "queued"
	StateUploading    State = "uploading"
	StateUploaded     State = "uploaded"
	StateVerified     State = "verified"
	StateAcknowledged State = "acknowledged"
)

// Entry is one item's record in the outbox.
type Entry struct {
	Digest evidence.Digest `json:"digest"`
	Size   int64           `json:"size"`
	State  State           `json:"state"`
	// Urgent items are sent outside upload windows ("send now").
	Urgent      bool           `json:"urgent,omitempty"`
	QueuedAt    time.Time      `json:"queued_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
	Attempts    int            `json:"attempts"`
	LastError   string         `json:"last_error,omitempty"`
	ErrorClass  target.Class   `json:"error_class,omitempty"`
	NextAttempt time.Time      `json:"next_attempt,omitzero"`
	Receipt     target.Receipt `json:"receipt,omitzero"`
}

// Store keeps the outbox durable. The daemon implements it over bbolt;
// every method must be safe for concurrent use.
type Store interface {
	// Checkpoints hold multipart upload progress per item.
	target.Checkpoints
	// Due returns up to limit entries in state queued, uploading or
	// uploaded whose NextAttempt is not after now: urgent ones first, then
	// in the order they were queued.
	Due(ctx context.Context, now time.Time, limit int) ([]Entry, error)
	// Update stores e, replacing the entry with the same digest.
	Update(ctx context.Context, e Entry) error
	// List returns every entry, for the status API.
	List(ctx context.Context) ([]Entry, error)
}

// Source gives the worker an item's bytes and manifest. The daemon builds
// the manifest (signed, with the item's custody events); Hold comes from
// the item record.
type Source interface {
	Object(ctx context.Context, d evidence.Digest) (target.Object, error)
}

// Custody appends events to the appliance's custody chain; the vault fills
// Seq, Time, Prev and Hash.
type Custody interface {
	Append(ctx context.Context, events ...evidence.CustodyEvent) ([]evidence.CustodyEvent, error)
}

// Config wires a worker.
type Config struct {
	Store   Store
	Source  Source
	Custody Custody
	Target  target.Target
	// Actor signs the custody events (default "appliance").
	Actor evidence.Actor
	// Windows limit when non-urgent uploads run; none: any time.
	Windows []Window
	// Backoff between retries of a failing item (default 5 s doubling to 10 min).
	Backoff Backoff
	// Poll is how often an idle worker looks for due items (default 5 s);
	// Kick wakes it at once.
	Poll   time.Duration
	Now    func() time.Time
	Logger *slog.Logger
}

// Worker runs the outbox.
type Worker struct {
	cfg  Config
	kick chan struct{}

	mu      sync.Mutex
	windows []Window // cfg.Windows, or what SetWindows put in their place
	running bool
	current *progress
	meter   meter
	sent    int64 // bytes sent since start, for Status
	last    struct {
		err   string
		class target.Class
		at    time.Time
	}
}

// New checks cfg and makes a worker; Run starts it.
func New(cfg Config) (*Worker, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("outbox: no store")
	case cfg.Source == nil:
		return nil, errors.New("outbox: no source")
	case cfg.Custody == nil:
		return nil, errors.New("outbox: no custody log")
	case cfg.Target == nil:
		return nil, errors.New("outbox: no target")
	}
	if cfg.Actor == "" {
		cfg.Actor = "appliance"
	}
	if cfg.Backoff.Base <= 0 {
		cfg.Backoff.Base = 5 * time.Second
	}
	if cfg.Backoff.Max < cfg.Backoff.Base {
		cfg.Backoff.Max = max(10*time.Minute, cfg.Backoff.Base)
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Worker{cfg: cfg, windows: cfg.Windows, kick: make(chan struct{}, 1)}, nil
}

// Kick makes an idle worker look for due items now, e.g. after an item was
// queued or marked urgent.
func (w *Worker) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run uploads due items until ctx ends. It returns nil when ctx is
// cancelled and an error only when the store fails.
func (w *Worker) Run(ctx context.Context) error {
	w.setRunning(true)
	defer w.setRunning(false)
	for {
		busy, err := w.round(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		if busy {
			continue
		}
		t := time.NewTimer(w.cfg.Poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-w.kick:
		case <-t.C:
		}
		t.Stop()
	}
}

// round handles the due entries; busy reports whether any was attempted.
func (w *Worker) round(ctx context.Context) (busy bool, err error) {
	now := w.cfg.Now()
	due, err := w.cfg.Store.Due(ctx, now, 16)
	if err != nil {
		return false, fmt.Errorf("outbox: due entries: %w", err)
	}
	open := Open(w.Windows(), now)
	for _, e := range due {
		if !open && !e.Urgent {
			continue
		}
		if err := w.process(ctx, e); err != nil {
			return true, err
		}
		busy = true
		if ctx.Err() != nil {
			return true, nil
		}
	}
	return busy, nil
}

// process moves one entry as far as it goes. Only store failures are
// returned; anything else is recorded on the entry for a later retry.
func (w *Worker) process(ctx context.Context, e Entry) error {
	obj, err := w.cfg.Source.Object(ctx, e.Digest)
	if err != nil {
		return w.fail(ctx, e, fmt.Errorf("open item %s: %w", e.Digest.Short(), err))
	}
	if e.Size == 0 {
		e.Size = obj.Size
	}
	if e.State == StateQueued || e.State == StateUploading {
		if e, err = w.upload(ctx, e, obj); err != nil || e.State != StateUploaded {
			return err
		}
	}
	if e.State == StateUploaded {
		return w.verify(ctx, e, obj)
	}
	return nil
}

func (w *Worker) upload(ctx context.Context, e Entry, obj target.Object) (Entry, error) {
	if e.State == StateQueued {
		e.State = StateUploading
		if err := w.save(ctx, e); err != nil {
			return e, err
		}
	}
	p := w.begin(e.Digest, obj.Size)
	defer w.end()
	obj.Progress = p.add
	rc, err := w.cfg.Target.Put(ctx, obj, w.cfg.Store)
	if err != nil {
		return e, w.fail(ctx, e, err)
	}
	details := receiptDetails(rc)
	details["existing"] = strconv.FormatBool(rc.Existing)
	details["bytes_sent"] = strconv.FormatInt(rc.BytesSent, 10)
	if rc.PartsSent > 0 {
		details["parts_sent"] = strconv.Itoa(rc.PartsSent)
	}
	if err := w.record(ctx, evidence.ActionUploaded, e.Digest, details); err != nil {
		return e, w.fail(ctx, e, err)
	}
	e.State, e.Receipt = StateUploaded, rc
	w.cfg.Logger.Info("uploaded", "item", e.Digest.Short(), "target", rc.Target, "bytes_sent", rc.BytesSent, "existing", rc.Existing)
	return e, w.save(ctx, e)
}

func (w *Worker) verify(ctx context.Context, e Entry, obj target.Object) error {
	rc, err := w.cfg.Target.Verify(ctx, obj, e.Receipt)
	if err != nil {
		if target.ClassOf(err) == target.ClassIntegrity {
			// The copy is missing or wrong: upload again. Put sends a missing
			// object and refuses to overwrite a wrong one, which keeps the
			// entry failing, visibly, until someone looks.
			e.State = StateQueued
		}
		return w.fail(ctx, e, err)
	}
	if err := w.record(ctx, evidence.ActionUploadVerified, e.Digest, receiptDetails(rc)); err != nil {
		return w.fail(ctx, e, err)
	}
	e.State, e.Receipt = StateVerified, rc
	e.LastError, e.ErrorClass, e.NextAttempt = "", "", time.Time{}
	w.cfg.Logger.Info("upload verified", "item", e.Digest.Short(), "target", rc.Target)
	return w.save(ctx, e)
}

func receiptDetails(rc target.Receipt) map[string]string {
	d := map[string]string{
		"target":       rc.Target,
		"key":          rc.Key,
		"manifest_key": rc.ManifestKey,
		"size":         strconv.FormatInt(rc.Size, 10),
		"checksum":     rc.Checksum,
	}
	if rc.VersionID != "" {
		d["version_id"] = rc.VersionID
	}
	if !rc.RetainUntil.IsZero() {
		d["retain_until"] = rc.RetainUntil.UTC().Format(time.RFC3339)
	}
	if rc.Hold {
		d["legal_hold"] = "on"
	}
	return d
}

func (w *Worker) record(ctx context.Context, a evidence.Action, d evidence.Digest, details map[string]string) error {
	_, err := w.cfg.Custody.Append(ctx, evidence.CustodyEvent{Actor: w.cfg.Actor, Action: a, Item: d, Details: details})
	if err != nil {
		return fmt.Errorf("custody event %s for %s: %w", a, d.Short(), err)
	}
	return nil
}

// fail records a failed attempt and schedules the next one. A cancelled
// context is a shutdown, not a failure: the entry is left as it is.
func (w *Worker) fail(ctx context.Context, e Entry, cause error) error {
	if ctx.Err() != nil {
		return nil
	}
	class := target.ClassOf(cause)
	e.Attempts++
	e.LastError, e.ErrorClass = cause.Error(), class
	delay := w.cfg.Backoff.Delay(e.Attempts, rand.Float64())
	e.NextAttempt = w.cfg.Now().Add(delay)
	w.mu.Lock()
	w.last.err, w.last.class, w.last.at = e.LastError, class, w.cfg.Now()
	w.mu.Unlock()
	w.cfg.Logger.Warn("sync attempt failed", "item", e.Digest.Short(), "state", e.State, "class", class,
		"attempt", e.Attempts, "retry_in", delay.Round(time.Millisecond), "err", cause)
	return w.save(ctx, e)
}

func (w *Worker) save(ctx context.Context, e Entry) error {
	e.UpdatedAt = w.cfg.Now()
	if err := w.cfg.Store.Update(ctx, e); err != nil {
		return fmt.Errorf("outbox: store entry %s: %w", e.Digest.Short(), err)
	}
	return nil
}

func (w *Worker) setRunning(r bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.running = r
}
