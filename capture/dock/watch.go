package dock

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// errUndocked is the cause given to a bay's offload when its camera leaves.
var errUndocked = errors.New("camera undocked")

// errStopping is the cause given when the dock itself stops.
var errStopping = errors.New("dock stopping")

// bayWatch is what Run knows of one bay directory.
type bayWatch struct {
	name     string
	root     *os.Root
	lastFP   string    // fingerprint seen by the previous scan
	fpSince  time.Time // when lastFP was first seen
	sess     *session
	reported string // the last unusable-bay error logged, to log it once

	running  bool
	cancel   context.CancelCauseFunc
	passFP   string // fingerprint the last pass worked from
	passAt   time.Time
	complete bool
	retry    bool // files are waiting: unreadable, or kept for an acknowledgement
	gone     bool // the bay directory went away while a pass was running
	lost     bool // the camera left the bay (directory kept) while a pass was running
}

type passDone struct {
	bw       *bayWatch
	fp       string
	complete bool
	retry    bool
	err      error
}

// Run watches the dock root until ctx ends: a bay directory that appears,
// settles and identifies as a camera is offloaded; one that disappears is
// undocked, interrupting its offload. File system notifications make it
// quick; the periodic rescan makes it sure (notifications can be lost, and
// a mount can fill a directory without one).
func (d *Dock) Run(ctx context.Context) error {
	if err := os.MkdirAll(d.cfg.Root, 0o750); err != nil {
		return fmt.Errorf("dock root: %w", err)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("dock: watch %s: %w", d.cfg.Root, err)
	}
	defer w.Close()
	if err := w.Add(d.cfg.Root); err != nil {
		return fmt.Errorf("dock: watch %s: %w", d.cfg.Root, err)
	}
	tick := time.NewTicker(d.cfg.RescanInterval)
	defer tick.Stop()
	bays := map[string]*bayWatch{}
	done := make(chan passDone)
	running := 0
	start := func(bw *bayWatch, l listing) {
		// Not a child of ctx: on shutdown each pass is cancelled with
		// errStopping, so the chain says why it was interrupted.
		bctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
		bw.running, bw.cancel, bw.passFP = true, cancel, l.fingerprint
		running++
		s := bw.sess
		go func() {
			rep, err := d.pass(bctx, s, l)
			// Judged before the cancel below, which would make every pass
			// look interrupted and so retried forever.
			complete := err == nil && rep.Complete() && bctx.Err() == nil
			cancel(nil)
			done <- passDone{bw: bw, fp: l.fingerprint, complete: complete, retry: !complete || awaitsAck(s, rep), err: err}
		}()
	}
	d.rescan(ctx, bays, start)
	for {
		select {
		case <-ctx.Done():
			for _, bw := range bays {
				if bw.cancel != nil {
					bw.cancel(errStopping)
				}
			}
			for ; running > 0; running-- {
				r := <-done
				d.passEnded(ctx, r)
			}
			for _, bw := range bays {
				bw.root.Close()
			}
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("dock: file system watcher stopped")
			}
			d.log.Debug("dock root changed", "event", ev.String())
			d.rescan(ctx, bays, start)
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("dock: file system watcher stopped")
			}
			// Lost notifications are covered by the rescan.
			d.log.Warn("dock watcher", "err", err)
		case <-tick.C:
			d.rescan(ctx, bays, start)
		case r := <-done:
			running--
			d.passEnded(ctx, r)
		}
	}
}

func (d *Dock) passEnded(ctx context.Context, r passDone) {
	bw := r.bw
	bw.running, bw.cancel = false, nil
	bw.passAt, bw.complete, bw.retry = d.now(), r.complete, r.retry
	if r.err != nil {
		d.log.Error("offload pass failed", "bay", bw.name, "err", r.err)
	}
	switch {
	case bw.gone:
		d.recordUndock(context.WithoutCancel(ctx), bw)
		d.closeBay(bw)
	case bw.lost:
		bw.lost = false
		d.recordUndock(context.WithoutCancel(ctx), bw)
	}
}

// rescan compares the bays on disk with those known and starts or stops
// offloads to match.
func (d *Dock) rescan(ctx context.Context, bays map[string]*bayWatch, start func(*bayWatch, listing)) {
	if ctx.Err() != nil {
		return
	}
	entries, err := os.ReadDir(d.cfg.Root)
	if err != nil {
		d.log.Error("list dock root", "root", d.cfg.Root, "err", err)
		return
	}
	present := map[string]bool{}
	for _, e := range entries {
		// A bay is a mount point, never a link: a link could lead anywhere.
		if e.IsDir() && e.Type()&fs.ModeSymlink == 0 {
			present[e.Name()] = true
		}
	}
	for name, bw := range bays {
		if !present[name] {
			delete(bays, name)
			d.leave(ctx, bw)
		}
	}
	for name := range present {
		bw := bays[name]
		if bw == nil {
			root, err := os.OpenRoot(filepath.Join(d.cfg.Root, name))
			if err != nil {
				d.log.Warn("open bay", "bay", name, "err", err)
				continue
			}
			bw = &bayWatch{name: name, root: root}
			bays[name] = bw
			d.setBay(name, func(b *bayProgress) { b.State = BaySettling })
		}
		switch {
		case !bw.running:
			d.checkBay(ctx, bw, start)
		case !bw.lost && !d.stillDocked(bw):
			bw.lost = true
			bw.cancel(errUndocked)
		}
	}
}

// leave handles a bay directory that disappeared.
func (d *Dock) leave(ctx context.Context, bw *bayWatch) {
	if bw.running {
		bw.gone = true
		bw.cancel(errUndocked)
		return
	}
	d.recordUndock(ctx, bw)
	d.closeBay(bw)
}

func (d *Dock) closeBay(bw *bayWatch) {
	bw.root.Close()
	d.dropBay(bw.name)
}

// recordUndock ends a camera's session in a bay.
func (d *Dock) recordUndock(ctx context.Context, bw *bayWatch) {
	s := bw.sess
	if s == nil {
		return
	}
	complete := bw.complete
	bw.sess, bw.passFP, bw.complete = nil, "", false
	det := s.bayDetails(d.now())
	det["complete"] = fmt.Sprint(complete)
	if _, err := d.vault.Append(ctx, evidence.CustodyEvent{Actor: s.actor, Action: evidence.ActionUndocked, Details: det}); err != nil {
		d.log.Error("record undocking", "bay", bw.name, "err", err)
	}
	d.log.Info("camera undocked", "bay", bw.name, "serial", s.dev.Serial, "complete", complete)
}

// stillDocked tells whether the camera a pass works on is still in its bay,
// for mount points that stay behind when a device is unmounted.
func (d *Dock) stillDocked(bw *bayWatch) bool {
	s, _, err := d.inspect(bw.root, bw.name)
	return err == nil && s.dev.Serial == bw.sess.dev.Serial
}

// awaitsAck says whether files of the pass stay on the camera only until
// central storage acknowledges them, so the bay is worth another look.
func awaitsAck(s *session, rep BayReport) bool {
	if s.profile.Release != ReleaseAfterAck {
		return false
	}
	for _, f := range rep.Files {
		if f.State == FileKept {
			return true
		}
	}
	return false
}

// checkBay decides what an idle bay needs: wait for it to settle, report it
// as not a camera, or start an offload pass.
func (d *Dock) checkBay(ctx context.Context, bw *bayWatch, start func(*bayWatch, listing)) {
	s, l, err := d.inspect(bw.root, bw.name)
	if err != nil {
		// The mount point stays, the camera is gone.
		d.recordUndock(ctx, bw)
		fp, _ := scanBay(bw.root, Profile{})
		d.unusable(bw, err, d.settled(bw, fp.fingerprint))
		return
	}
	if !d.settled(bw, l.fingerprint) {
		if bw.sess == nil {
			d.setBay(bw.name, func(b *bayProgress) { b.State, b.Message = BaySettling, "waiting for the bay's listing to settle" })
		}
		return
	}
	if bw.sess != nil && bw.sess.dev.Serial != s.dev.Serial {
		// Another camera in the same bay without the directory going away.
		d.recordUndock(ctx, bw)
	}
	if bw.sess == nil {
		bw.sess = s
		if err := d.docked(ctx, s); err != nil {
			d.log.Error("dock", "bay", bw.name, "err", err)
			bw.sess = nil
			return
		}
	}
	if l.fingerprint == bw.passFP && (!bw.retry || d.now().Sub(bw.passAt) < d.cfg.RetryInterval) {
		return
	}
	start(bw, l)
}

// settled reports whether a bay's listing has stayed the same for a whole
// rescan interval: scans prompted by notifications come milliseconds apart,
// and two of those agreeing says little about a mount still filling in.
func (d *Dock) settled(bw *bayWatch, fp string) bool {
	now := d.now()
	if fp != bw.lastFP {
		bw.lastFP, bw.fpSince = fp, now
		return false
	}
	return now.Sub(bw.fpSince) >= d.cfg.RescanInterval
}

// unusable shows why a bay is not being offloaded. A bay whose listing is
// stable and still matches no profile is reported once as not a camera.
func (d *Dock) unusable(bw *bayWatch, err error, stable bool) {
	if !stable || errors.Is(err, ErrNotReady) {
		d.setBay(bw.name, func(b *bayProgress) { b.State, b.Message = BaySettling, err.Error() })
		return
	}
	d.reportUnusable(bw.name, err)
	if bw.reported != err.Error() {
		bw.reported = err.Error()
		d.log.Warn("bay not offloaded", "bay", bw.name, "err", err)
	}
}
