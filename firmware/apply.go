package firmware

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// UpdateState is where a camera's update stands.
type UpdateState string

// Update states.
const (
	StateCurrent     UpdateState = "current"     // no staged package is newer than what the camera runs
	StateWritten     UpdateState = "written"     // image verified on the camera; waiting for it to report the new version
	StateDone        UpdateState = "done"        // the camera reported the new version
	StateInterrupted UpdateState = "interrupted" // the camera left (or the write was stopped) before the image was complete; retried on the next dock
	StateFailed      UpdateState = "failed"      // the write or its check failed with the camera still there
	StateRefused     UpdateState = "refused"     // a check refused the package for this camera; Reason says which
	StateDeferred    UpdateState = "deferred"    // today's rollout quota is used up; retried on a later dock
)

// Status is one camera's firmware state, as the API shows it.
type Status struct {
	Serial string `json:"serial"`
	Model  string `json:"model"`
	// Installed is the version the camera reported on its last dock.
	Installed string          `json:"installed"`
	State     UpdateState     `json:"state"`
	Package   evidence.Digest `json:"package,omitzero"`
	From      string          `json:"from,omitempty"`
	To        string          `json:"to,omitempty"`
	Reason    Reason          `json:"reason,omitempty"`
	Detail    string          `json:"detail,omitempty"`
	ForcedBy  string          `json:"forced_by,omitempty"`
	// Path is where the image was written, relative to the camera's storage.
	Path    string    `json:"path,omitempty"`
	Updated time.Time `json:"updated"`
}

// Status returns the firmware state of one camera; found is false for a
// camera never seen at a dock.
func (m *Manager) Status(serial string) (st Status, found bool, err error) {
	found, err = m.getJSON(keyCamera+serial, &st)
	return st, found, err
}

// Statuses returns every known camera's firmware state, by serial.
func (m *Manager) Statuses() ([]Status, error) {
	var out []Status
	var decodeErr error
	err := m.state.Scan(keyCamera, func(key string, val []byte) bool {
		var st Status
		if decodeErr = json.Unmarshal(val, &st); decodeErr != nil {
			decodeErr = fmt.Errorf("decode %s: %w", key, decodeErr)
			return false
		}
		out = append(out, st)
		return true
	})
	return out, errors.Join(err, decodeErr)
}

// Apply is called by the dock once a camera's offload is verified, with the
// identity the camera reported and the root of its mounted storage. It
// closes an update the camera has installed since its last dock, then
// writes the newest staged package for its model if every check passes.
//
// The returned Status is also stored. The error is a *RefusedError when a
// check refused the package or the rollout quota deferred it, and an I/O
// error when the write failed or the camera left mid-write (Status.State
// interrupted): in every case no file under the image's final name is left
// that was not verified in full.
func (m *Manager) Apply(ctx context.Context, cam Camera, bayDir string) (Status, error) {
	prev, _, err := m.Status(cam.Serial)
	if err != nil {
		return Status{}, fmt.Errorf("firmware for %s: %w", cam.Serial, err)
	}
	if err := ValidVersion(cam.Firmware); err != nil {
		return Status{}, refuse(ReasonMalformed, "camera %s reports firmware %q: %v", cam.Serial, cam.Firmware, err)
	}
	if prev, err = m.closeInstalled(ctx, cam, prev); err != nil {
		return Status{}, fmt.Errorf("firmware for %s: %w", cam.Serial, err)
	}
	pkg, forcedBy, err := m.choose(cam)
	if err != nil {
		return Status{}, fmt.Errorf("firmware for %s: %w", cam.Serial, err)
	}
	st := Status{Serial: cam.Serial, Model: cam.Model, Installed: cam.Firmware, State: StateCurrent, Updated: m.now().UTC()}
	if pkg == nil {
		if c, _ := CompareVersions(prev.To, cam.Firmware); prev.State == StateDone && c == 0 {
			st = prev
			st.Installed, st.Updated = cam.Firmware, m.now().UTC()
		}
		return st, m.putJSON(ctx, keyCamera+cam.Serial, st)
	}
	st.Package, st.From, st.To, st.ForcedBy = pkg.Package, cam.Firmware, pkg.Manifest.Version, forcedBy
	if err := m.admit(ctx, cam, *pkg, forcedBy); err != nil {
		return m.finish(ctx, st, err)
	}
	st.Path, err = m.writeImage(ctx, cam, bayDir, *pkg)
	return m.finish(ctx, st, err)
}

// closeInstalled records the outcome of an image written on an earlier dock.
func (m *Manager) closeInstalled(ctx context.Context, cam Camera, prev Status) (Status, error) {
	if prev.State != StateWritten {
		return prev, nil
	}
	details := map[string]string{"step": "installed", "serial": cam.Serial, "from": prev.From, "to": prev.To, "reported": cam.Firmware, "forced_by": prev.ForcedBy}
	if c, _ := CompareVersions(cam.Firmware, prev.To); c == 0 {
		prev.State, prev.Installed, prev.Updated, prev.Reason, prev.Detail = StateDone, cam.Firmware, m.now().UTC(), "", ""
		details["result"] = "done"
		if err := m.record(ctx, ActorAppliance, prev.Package, details); err != nil {
			return prev, err
		}
		if prev.ForcedBy != "" {
			// The order was carried out; a later dock must not repeat it.
			if err := m.state.Put(ctx, keyForce+cam.Serial, []byte{}); err != nil {
				return prev, err
			}
		}
		return prev, m.putJSON(ctx, keyCamera+cam.Serial, prev)
	}
	details["result"] = "not-installed"
	details["detail"] = fmt.Sprintf("camera still reports %s; the image is written again", cam.Firmware)
	return prev, m.record(ctx, ActorAppliance, prev.Package, details)
}

// choose picks the package for cam: an admin's forced one, or the newest
// staged package for its model that is newer than what it runs.
func (m *Manager) choose(cam Camera) (*Staged, string, error) {
	var f forceRecord
	found, err := m.getJSON(keyForce+cam.Serial, &f)
	if err != nil {
		return nil, "", err
	}
	if found && !f.Package.IsZero() {
		st, err := m.staged(f.Package)
		if err != nil {
			return nil, "", err
		}
		if c, _ := CompareVersions(st.Manifest.Version, cam.Firmware); c != 0 {
			return &st, f.Admin, nil
		}
	}
	all, err := m.List()
	if err != nil {
		return nil, "", err
	}
	var best *Staged
	for i, st := range all {
		if !st.Manifest.ForModel(cam.Model) {
			continue
		}
		if c, err := CompareVersions(st.Manifest.Version, cam.Firmware); err != nil || c <= 0 {
			continue
		}
		if best == nil {
			best = &all[i]
		} else if c, _ := CompareVersions(st.Manifest.Version, best.Manifest.Version); c > 0 {
			best = &all[i]
		}
	}
	return best, "", nil
}

// admit runs every check that can refuse pkg for cam, the signature again
// included: the trust store may have changed since the import, and the
// stored bytes are re-read.
func (m *Manager) admit(ctx context.Context, cam Camera, pkg Staged, forcedBy string) error {
	v, err := m.verifyStored(pkg.Package)
	if err != nil {
		return err
	}
	if err := CheckCamera(v.Manifest, cam, m.cfg.MinBattery, forcedBy); err != nil {
		return err
	}
	return m.takeRollout(ctx, cam.Serial)
}

// takeRollout counts cam toward today's quota; a camera already counted
// today (a retry after an interrupted write) is let through again.
func (m *Manager) takeRollout(ctx context.Context, serial string) error {
	if m.cfg.RolloutPerDay == 0 {
		return nil
	}
	m.rollout.Lock()
	defer m.rollout.Unlock()
	day := keyRollout + m.now().UTC().Format(time.DateOnly) + "/"
	n, counted := 0, false
	if err := m.state.Scan(day, func(key string, _ []byte) bool {
		n++
		counted = counted || key == day+serial
		return true
	}); err != nil {
		return err
	}
	if counted {
		return nil
	}
	if n >= m.cfg.RolloutPerDay {
		return refuse(ReasonRolloutLimit, "%d of %d cameras already updated today (UTC); camera %s waits for a later dock", n, m.cfg.RolloutPerDay, serial)
	}
	return m.state.Put(ctx, day+serial, []byte(m.now().UTC().Format(time.RFC3339)))
}

// finish stores the outcome of an attempt and records it in the chain.
func (m *Manager) finish(ctx context.Context, st Status, err error) (Status, error) {
	if err != nil && ReasonOf(err) == "" && !errors.Is(err, errInterrupted) && ctx.Err() != nil {
		err = fmt.Errorf("%w: %v", errInterrupted, err)
	}
	// An undock cancels ctx; the interruption must be recorded all the same.
	ctx = context.WithoutCancel(ctx)
	st.Updated = m.now().UTC()
	switch {
	case err == nil:
		st.State = StateWritten
	case ReasonOf(err) == ReasonRolloutLimit:
		st.State, st.Reason, st.Detail = StateDeferred, ReasonRolloutLimit, err.Error()
	case ReasonOf(err) != "":
		st.State, st.Reason, st.Detail = StateRefused, ReasonOf(err), err.Error()
	case errors.Is(err, errInterrupted):
		st.State, st.Detail = StateInterrupted, err.Error()
	default:
		st.State, st.Detail = StateFailed, err.Error()
	}
	details := map[string]string{"step": "write", "serial": st.Serial, "model": st.Model, "from": st.From, "to": st.To,
		"result": string(st.State), "reason": string(st.Reason), "detail": st.Detail, "forced_by": st.ForcedBy, "path": st.Path}
	if st.State == StateRefused || st.State == StateDeferred {
		details["step"] = "check"
	}
	m.log.Info("firmware update", "serial", st.Serial, "from", st.From, "to", st.To, "state", st.State, "reason", st.Reason, "detail", st.Detail)
	if rerr := m.record(ctx, ActorAppliance, st.Package, details); rerr != nil {
		return st, errors.Join(err, rerr)
	}
	if perr := m.putJSON(ctx, keyCamera+st.Serial, st); perr != nil {
		return st, errors.Join(err, perr)
	}
	return st, err
}

// errInterrupted marks a write the camera's departure (or the dock's
// cancellation) cut short.
var errInterrupted = errors.New("camera left the dock during the firmware write")

// writeImage puts the image on the camera: temp name, fsync, re-read from
// the device, then rename. The camera's loader only picks up the final
// name, so a write cut short never looks like a complete image to it.
//
// The camera's storage is hostile: every open, create, rename and removal
// goes through an os.Root of the bay with O_NOFOLLOW, and a symbolic link
// anywhere on the image's path (the update folder, the temp name, the
// final name) refuses the update, even a link that stays inside the bay,
// which os.Root alone would follow.
func (m *Manager) writeImage(ctx context.Context, cam Camera, bayDir string, pkg Staged) (string, error) {
	prof := m.cfg.profile(cam.Model)
	name := prof.ImageName
	if name == "" {
		name = pkg.Manifest.Image
	}
	rel := filepath.Join(prof.UpdateDir, name)
	bay, err := os.OpenRoot(bayDir)
	if err != nil {
		return rel, fmt.Errorf("%w: camera storage %s: %v", errInterrupted, bayDir, err)
	}
	defer bay.Close()
	dir, err := openUpdateDir(bay, prof.UpdateDir)
	if err != nil {
		return rel, m.interrupted(ctx, bayDir, err)
	}
	defer dir.Close()
	tmp := "." + name + ".part"
	if err := m.clearPath(dir, prof.UpdateDir, tmp, name); err != nil {
		return rel, m.interrupted(ctx, bayDir, err)
	}
	err = m.writeVerified(ctx, cam.Serial, dir, tmp, name, pkg)
	if err == nil {
		return rel, nil
	}
	if rmErr := dir.Remove(tmp); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
		m.log.Warn("firmware: remove partial image", "path", filepath.Join(bayDir, prof.UpdateDir, tmp), "err", rmErr)
	}
	return rel, m.interrupted(ctx, bayDir, err)
}

// interrupted marks err as the camera's departure when its storage is gone
// or the dock stopped the write; a refusal stays a refusal.
func (m *Manager) interrupted(ctx context.Context, bayDir string, err error) error {
	if ReasonOf(err) != "" {
		return err
	}
	if _, statErr := os.Stat(bayDir); statErr != nil || ctx.Err() != nil {
		return fmt.Errorf("%w: %v", errInterrupted, err)
	}
	return err
}

// openUpdateDir opens the update folder under the bay, one element at a
// time, making the missing ones. An element that is a symbolic link, or
// that is swapped for one while it is opened, refuses the update.
func openUpdateDir(bay *os.Root, rel string) (*os.Root, error) {
	cur, err := bay.OpenRoot(".")
	if err != nil {
		return nil, err
	}
	for _, elem := range strings.Split(filepath.ToSlash(filepath.Clean(rel)), "/") {
		next, err := openChildDir(cur, elem, rel)
		cur.Close()
		if err != nil {
			return nil, err
		}
		cur = next
	}
	return cur, nil
}

func openChildDir(parent *os.Root, elem, rel string) (*os.Root, error) {
	fi, err := parent.Lstat(elem)
	if errors.Is(err, os.ErrNotExist) {
		if err := parent.Mkdir(elem, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("update folder %s: %w", rel, err)
		}
		fi, err = parent.Lstat(elem)
	}
	if err != nil {
		return nil, fmt.Errorf("update folder %s: %w", rel, err)
	}
	if !fi.IsDir() {
		return nil, unsafePath(rel, elem, fi)
	}
	next, err := parent.OpenRoot(elem)
	if err != nil {
		return nil, fmt.Errorf("update folder %s: %w", rel, err)
	}
	// os.Root follows a link that stays inside the bay; one put in place
	// between the check and the open shows up as a different directory.
	if opened, err := next.Stat("."); err != nil || !os.SameFile(fi, opened) {
		next.Close()
		return nil, refuse(ReasonUnsafePath, "%s on the camera changed while it was opened; no firmware is written through links", elem)
	}
	return next, nil
}

func unsafePath(rel, elem string, fi os.FileInfo) error {
	if fi.Mode()&os.ModeSymlink != 0 {
		return refuse(ReasonUnsafePath, "%s on the camera is a symbolic link; no firmware is written through links", filepath.Join(filepath.Dir(rel), elem))
	}
	return refuse(ReasonUnsafePath, "%s on the camera is a %s, not a folder or file the image can go to", elem, fi.Mode().Type())
}

// clearPath readies the temp and final names: a regular temp file left by
// a camera pulled mid-write is removed (through the root); a link, folder
// or device under either name refuses the update.
func (m *Manager) clearPath(dir *os.Root, rel, tmp, final string) error {
	for _, name := range []string{tmp, final} {
		fi, err := dir.Lstat(name)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("check %s: %w", filepath.Join(rel, name), err)
		}
		if !fi.Mode().IsRegular() {
			return unsafePath(filepath.Join(rel, name), name, fi)
		}
		if name == tmp {
			m.log.Info("firmware: removing a partial image left by an interrupted write", "path", filepath.Join(rel, tmp))
			if err := dir.Remove(tmp); err != nil {
				return fmt.Errorf("remove partial image %s: %w", filepath.Join(rel, tmp), err)
			}
		}
	}
	return nil
}

func (m *Manager) writeVerified(ctx context.Context, serial string, dir *os.Root, tmp, final string, pkg Staged) error {
	obj, err := m.store.OpenObject(pkg.Package)
	if err != nil {
		return err
	}
	defer obj.Close()
	fi, err := obj.Stat()
	if err != nil {
		return err
	}
	// O_EXCL: the temp name was cleared above, so anything there now (a
	// link made since) fails the open rather than being written through.
	out, err := dir.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return fmt.Errorf("write image: %w", err)
	}
	var written evidence.Digest
	copyErr := openImage(obj, fi.Size(), pkg.Manifest.Image, func(r io.Reader) error {
		var err error
		written, err = m.copyImage(ctx, serial, out, r, pkg.Manifest.ImageSize)
		return err
	})
	syncErr := out.Sync()
	// Drop the cached pages so the check below reads what reached the
	// camera's storage, not what is still in our memory.
	_ = unix.Fadvise(int(out.Fd()), 0, 0, unix.FADV_DONTNEED)
	if err := errors.Join(copyErr, syncErr, out.Close()); err != nil {
		return fmt.Errorf("write image %s: %w", tmp, err)
	}
	if written != pkg.Manifest.ImageSHA256 {
		return fmt.Errorf("image read from the vault hashes to %s, manifest says %s", written.Short(), pkg.Manifest.ImageSHA256.Short())
	}
	if err := checkFile(dir, tmp, pkg.Manifest.ImageSHA256); err != nil {
		return err
	}
	if err := dir.Rename(tmp, final); err != nil {
		return fmt.Errorf("write image: %w", err)
	}
	return syncDir(dir)
}

func (m *Manager) copyImage(ctx context.Context, serial string, w io.Writer, r io.Reader, total int64) (evidence.Digest, error) {
	h := evidence.NewHasher()
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return evidence.Digest{}, err
		}
		n, rerr := r.Read(buf)
		if n > 0 {
			h.Write(buf[:n])
			if _, err := w.Write(buf[:n]); err != nil {
				return evidence.Digest{}, err
			}
			if m.progress != nil {
				m.progress(serial, h.Size(), total)
			}
		}
		if errors.Is(rerr, io.EOF) {
			return h.Sum(), nil
		}
		if rerr != nil {
			return evidence.Digest{}, rerr
		}
	}
}

// checkFile re-reads what was written.
func checkFile(dir *os.Root, name string, want evidence.Digest) error {
	f, err := dir.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("re-read written image: %w", err)
	}
	defer f.Close()
	got, _, err := evidence.DigestOf(f)
	if err != nil {
		return fmt.Errorf("re-read written image: %w", err)
	}
	if got != want {
		return fmt.Errorf("image on the camera hashes to %s after writing, want %s", got.Short(), want.Short())
	}
	return nil
}

func syncDir(dir *os.Root) error {
	d, err := dir.Open(".")
	if err != nil {
		return err
	}
	defer d.Close()
	// Some file systems cannot sync a directory; the rename is then as
	// durable as they make it.
	if err := d.Sync(); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("sync %s: %w", dir.Name(), err)
	}
	return nil
}
