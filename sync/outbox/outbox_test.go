package outbox_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/sync/fsdir"
	"github.com/edgetriage/edgetriage/sync/outbox"
	"github.com/edgetriage/edgetriage/sync/target"
	"github.com/edgetriage/edgetriage/testkit"
)

type rig struct {
	store   *memStore
	src     *memSource
	custody *memCustody
	w       *outbox.Worker
	cancel  context.CancelFunc
	done    chan error
	stopped bool
}

func startWorker(t *testing.T, tg target.Target, mod func(*outbox.Config), items func(*rig)) *rig {
	t.Helper()
	r := &rig{store: newMemStore(), src: &memSource{}, custody: &memCustody{}, done: make(chan error, 1)}
	if items != nil {
		items(r)
	}
	cfg := outbox.Config{
		Store: r.store, Source: r.src, Custody: r.custody, Target: tg,
		Backoff: outbox.Backoff{Base: 200 * time.Millisecond, Max: 2 * time.Second},
		Poll:    100 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	w, err := outbox.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.w = w
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- w.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the worker and waits for Run to return; it may be called
// more than once.
func (r *rig) stop(t *testing.T) {
	r.cancel()
	if r.stopped {
		return
	}
	select {
	case err := <-r.done:
		r.stopped = true
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("Run did not return 30 s after cancel")
	}
}

func allIn(st *memStore, ds []evidence.Digest, s outbox.State) bool {
	for _, d := range ds {
		if st.entry(d).State != s {
			return false
		}
	}
	return true
}

func TestWorkerVerifiesEveryItemIntoDirectory(t *testing.T) {
	root := t.TempDir()
	tg, _ := fsdir.New(fsdir.Config{Root: root})
	var ds []evidence.Digest
	r := startWorker(t, tg, nil, func(r *rig) { ds = addItems(t, r.src, r.store, 5, 256<<10) })
	testkit.WaitFor(t, "all items verified", 30*time.Second, func() bool { return allIn(r.store, ds, outbox.StateVerified) })
	for _, d := range ds {
		if r.custody.count(d, evidence.ActionUploaded) != 1 || r.custody.count(d, evidence.ActionUploadVerified) != 1 {
			t.Errorf("%s: %d uploaded and %d verified events, want 1 each", d.Short(),
				r.custody.count(d, evidence.ActionUploaded), r.custody.count(d, evidence.ActionUploadVerified))
		}
		e := r.store.entry(d)
		if e.Receipt.Key != target.Key(d) || e.Receipt.Checksum != d.String() || e.LastError != "" {
			t.Errorf("%s: entry %+v", d.Short(), e)
		}
		if _, err := tg.Verify(context.Background(), target.Object{Digest: d, Size: 256 << 10}, target.Receipt{}); err != nil {
			t.Errorf("%s: %v", d.Short(), err)
		}
	}
	// The meter counts whole seconds: once the second of the transfer has
	// passed, the rate covers it.
	time.Sleep(1100 * time.Millisecond)
	st, err := r.w.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Counts[outbox.StateVerified] != 5 || !st.Running || st.Target != tg.Name() || st.LastError != "" || st.Current != nil {
		t.Errorf("status %+v", st)
	}
	if st.BytesPerSecond <= 0 {
		t.Errorf("status shows %v bytes/s just after 1.25 MiB were sent", st.BytesPerSecond)
	}
}

func TestWindowHoldsBackAllButUrgent(t *testing.T) {
	tg, _ := fsdir.New(fsdir.Config{Root: t.TempDir()})
	// A window that is closed now: it opens in two hours, for one hour.
	now := time.Now()
	start := now.Add(2 * time.Hour)
	w, err := outbox.ParseWindow(start.Format("15:04") + "-" + start.Add(time.Hour).Format("15:04"))
	if err != nil {
		t.Fatal(err)
	}
	var ds []evidence.Digest
	r := startWorker(t, tg, func(c *outbox.Config) { c.Windows = []outbox.Window{w} }, func(r *rig) {
		ds = addItems(t, r.src, r.store, 3, 1000)
		e := r.store.entry(ds[2])
		e.Urgent = true
		r.store.Update(context.Background(), e)
	})
	testkit.WaitFor(t, "the urgent item verified", 30*time.Second, func() bool { return r.store.entry(ds[2]).State == outbox.StateVerified })
	time.Sleep(500 * time.Millisecond) // several polls
	for _, d := range ds[:2] {
		if s := r.store.entry(d).State; s != outbox.StateQueued {
			t.Errorf("non-urgent item %s is %s outside the window, want queued", d.Short(), s)
		}
	}
	st, _ := r.w.Status(context.Background())
	if st.WindowOpen || st.NextWindow.IsZero() || st.Counts[outbox.StateQueued] != 2 {
		t.Errorf("status: window open %v, next %v, counts %v", st.WindowOpen, st.NextWindow, st.Counts)
	}
	// A reload takes the windows away: the held items go without a restart.
	r.w.SetWindows(nil)
	testkit.WaitFor(t, "the held items verified once the window is gone", 30*time.Second, func() bool { return allIn(r.store, ds, outbox.StateVerified) })
}

func TestMissingTargetIsRetriedAndShown(t *testing.T) {
	root := t.TempDir() + "/share"
	tg, _ := fsdir.New(fsdir.Config{Root: root})
	var ds []evidence.Digest
	r := startWorker(t, tg, nil, func(r *rig) { ds = addItems(t, r.src, r.store, 2, 1000) })
	testkit.WaitFor(t, "two failed attempts", 30*time.Second, func() bool { return r.store.entry(ds[0]).Attempts >= 2 })
	st, _ := r.w.Status(context.Background())
	if st.LastErrorClass != target.ClassBucketMissing {
		t.Errorf("status error class %q (%s), want bucket-missing", st.LastErrorClass, st.LastError)
	}
	for _, e := range st.Items {
		if e.State != outbox.StateUploading && e.State != outbox.StateQueued || e.ErrorClass != target.ClassBucketMissing {
			t.Errorf("entry %s: state %s class %q", e.Digest.Short(), e.State, e.ErrorClass)
		}
	}
	if n := r.custody.total(); n != 0 {
		t.Errorf("%d custody events recorded though nothing was uploaded", n)
	}
	// The share comes back: everything goes through.
	if err := mkdir(root); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "all verified after the share returned", 30*time.Second, func() bool { return allIn(r.store, ds, outbox.StateVerified) })
}

// failingCustody refuses the first n appends: the upload happened but its
// record did not, so the worker must do it again without a second copy.
type failingCustody struct {
	*memCustody
	left int
}

func (f *failingCustody) Append(ctx context.Context, ev ...evidence.CustodyEvent) ([]evidence.CustodyEvent, error) {
	f.mu.Lock()
	refuse := f.left > 0
	if refuse {
		f.left--
	}
	f.mu.Unlock()
	if refuse {
		return nil, errors.New("custody log unavailable")
	}
	return f.memCustody.Append(ctx, ev...)
}

func TestUnrecordedUploadIsRedoneWithoutSecondCopy(t *testing.T) {
	tg, _ := fsdir.New(fsdir.Config{Root: t.TempDir()})
	custody := &failingCustody{memCustody: &memCustody{}, left: 1}
	var ds []evidence.Digest
	r := startWorker(t, tg, func(c *outbox.Config) { c.Custody = custody }, func(r *rig) { ds = addItems(t, r.src, r.store, 1, 5000) })
	testkit.WaitFor(t, "verified", 30*time.Second, func() bool { return allIn(r.store, ds, outbox.StateVerified) })
	e := r.store.entry(ds[0])
	if e.Attempts != 1 || !e.Receipt.Existing {
		t.Errorf("entry %+v: want one failed attempt, then the stored copy found", e)
	}
	if custody.count(ds[0], evidence.ActionUploaded) != 1 {
		t.Errorf("uploaded events: %d, want 1", custody.count(ds[0], evidence.ActionUploaded))
	}
}

func TestLostCopyIsUploadedAgain(t *testing.T) {
	root := t.TempDir()
	tg, _ := fsdir.New(fsdir.Config{Root: root})
	var ds []evidence.Digest
	r := startWorker(t, tg, nil, func(r *rig) {
		ds = addItems(t, r.src, r.store, 1, 4096)
		// The outbox believes the item was uploaded, but the share was wiped.
		e := r.store.entry(ds[0])
		e.State = outbox.StateUploaded
		r.store.Update(context.Background(), e)
	})
	testkit.WaitFor(t, "verified", 30*time.Second, func() bool { return allIn(r.store, ds, outbox.StateVerified) })
	if e := r.store.entry(ds[0]); e.Attempts != 1 || e.Receipt.BytesSent != 4096 {
		t.Errorf("entry %+v: want one failed verification, then a fresh upload", e)
	}
	if _, err := tg.Verify(context.Background(), target.Object{Digest: ds[0], Size: 4096}, target.Receipt{}); err != nil {
		t.Error(err)
	}
}
