package firmware_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/firmware"
)

// camera is a body camera's mass storage as the dock mounts it: an
// identity file the dock reads, footage, and the update folder its boot
// loader looks in.
type camera struct {
	t    testing.TB
	root string
}

func newCamera(t testing.TB, serial, model, version string, battery int) *camera {
	t.Helper()
	c := &camera{t: t, root: filepath.Join(t.TempDir(), "bay-1")}
	if err := os.MkdirAll(filepath.Join(c.root, "DCIM", "100BWC"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(c.root, "DCIM", "100BWC"), "CLIP0001.MP4", []byte("footage"))
	c.setIdentity(firmware.Camera{Serial: serial, Model: model, Firmware: version, Battery: battery})
	return c
}

func (c *camera) setIdentity(id firmware.Camera) {
	b, _ := json.Marshal(id)
	writeFile(c.t, c.root, "DEVICE.JSON", b)
}

// identity is what the dock reads when the camera is plugged in.
func (c *camera) identity() firmware.Camera {
	c.t.Helper()
	b, err := os.ReadFile(filepath.Join(c.root, "DEVICE.JSON"))
	if err != nil {
		c.t.Fatal(err)
	}
	var id firmware.Camera
	if err := json.Unmarshal(b, &id); err != nil {
		c.t.Fatal(err)
	}
	return id
}

// bootAndInstall is the camera's loader after undock: it takes the image
// under the name it looks for, installs it if it is what the vendor made,
// and reports the new version from then on.
func (c *camera) bootAndInstall(want []byte, version string) bool {
	c.t.Helper()
	p := filepath.Join(c.root, "UPDATE", "FW.BIN")
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	if err != nil {
		c.t.Fatal(err)
	}
	if !bytes.Equal(b, want) {
		c.t.Fatalf("camera found a corrupt image under its final name (%d bytes, want %d)", len(b), len(want))
	}
	os.Remove(p)
	id := c.identity()
	id.Firmware = version
	c.setIdentity(id)
	return true
}

// leftovers lists files in the update folder other than the final image.
func (c *camera) leftovers() []string {
	ents, _ := os.ReadDir(filepath.Join(c.root, "UPDATE"))
	var out []string
	for _, e := range ents {
		if e.Name() != "FW.BIN" {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestApplyWritesVerifiedImageAndNextDockClosesIt(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	e.stage("2.0.0", 10_000)
	st210 := e.stage("2.10.0", 3<<20)
	cam := newCamera(t, "BWC-0042", model, "1.9.3", 80)

	st, err := e.m.Apply(ctx, cam.identity(), cam.root)
	if err != nil || st.State != firmware.StateWritten || st.To != "2.10.0" || st.From != "1.9.3" || st.Package != st210.Package {
		t.Fatalf("first dock: %+v, %v", st, err)
	}
	if st.Path != filepath.Join("UPDATE", "FW.BIN") {
		t.Fatalf("written to %s", st.Path)
	}
	if left := cam.leftovers(); len(left) != 0 {
		t.Fatalf("temp files left on the camera: %v", left)
	}
	ev := e.lastEvent()
	if ev.Item != st210.Package || ev.Details["step"] != "write" || ev.Details["result"] != "written" ||
		ev.Details["serial"] != "BWC-0042" || ev.Details["from"] != "1.9.3" || ev.Details["to"] != "2.10.0" {
		t.Fatalf("write event %+v", ev)
	}

	// Docked again before the camera installed: still the old version, so
	// the image is written again rather than the update closed.
	st, err = e.m.Apply(ctx, cam.identity(), cam.root)
	if err != nil || st.State != firmware.StateWritten {
		t.Fatalf("redock before install: %+v, %v", st, err)
	}
	if evs := e.firmwareEvents(); evs[len(evs)-2].Details["result"] != "not-installed" {
		t.Fatalf("a dock without the new version was not recorded: %v", evs[len(evs)-2].Details)
	}

	if !cam.bootAndInstall(image("2.10.0", 3<<20), "2.10.0") {
		t.Fatal("the camera found no image to install")
	}
	st, err = e.m.Apply(ctx, cam.identity(), cam.root)
	if err != nil || st.State != firmware.StateDone || st.Installed != "2.10.0" || st.To != "2.10.0" {
		t.Fatalf("dock after install: %+v, %v", st, err)
	}
	evs := e.firmwareEvents()
	closing := evs[len(evs)-1]
	if closing.Details["step"] != "installed" || closing.Details["result"] != "done" || closing.Details["reported"] != "2.10.0" {
		t.Fatalf("closing event %v", closing.Details)
	}
	// Nothing newer: a further dock changes nothing and writes nothing.
	st, err = e.m.Apply(ctx, cam.identity(), cam.root)
	if err != nil || st.State != firmware.StateDone || len(e.firmwareEvents()) != len(evs) {
		t.Fatalf("dock with nothing to do: %+v, %v", st, err)
	}
	if _, err := os.Stat(filepath.Join(cam.root, "UPDATE", "FW.BIN")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("an image was written to an up-to-date camera")
	}
	all, err := e.m.Statuses()
	if err != nil || len(all) != 1 || all[0].State != firmware.StateDone {
		t.Fatalf("statuses %+v %v", all, err)
	}
	b, _ := json.Marshal(all[0])
	for _, k := range []string{`"serial":"BWC-0042"`, `"state":"done"`, `"installed":"2.10.0"`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("status JSON %s lacks %s", b, k)
		}
	}
	e.verifyVault()
}

func TestApplyRefusesAndLeavesCameraUntouched(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	pkg := e.stage("2.1.0", 10_000)

	for _, c := range []struct {
		name     string
		cam      firmware.Camera
		force    string
		reason   firmware.Reason
		sentinel error
	}{
		{"low battery", firmware.Camera{Serial: "S1", Model: model, Firmware: "2.0.0", Battery: 20}, "", firmware.ReasonLowBattery, firmware.ErrLowBattery},
		{"too old to upgrade from", firmware.Camera{Serial: "S2", Model: model, Firmware: "1.4.9", Battery: 90}, "", firmware.ReasonTooOld, firmware.ErrTooOld},
		{"wrong model, forced by an admin", firmware.Camera{Serial: "S3", Model: "OTHER-1", Firmware: "1.0.0", Battery: 90}, "alice", firmware.ReasonWrongModel, firmware.ErrWrongModel},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.force != "" {
				if err := e.m.Force(ctx, c.cam.Serial, pkg.Package, c.force); err != nil {
					t.Fatal(err)
				}
			}
			cam := newCamera(t, c.cam.Serial, c.cam.Model, c.cam.Firmware, c.cam.Battery)
			st, err := e.m.Apply(ctx, cam.identity(), cam.root)
			if !errors.Is(err, c.sentinel) || st.State != firmware.StateRefused || st.Reason != c.reason {
				t.Fatalf("status %+v, err %v", st, err)
			}
			if _, err := os.Stat(filepath.Join(cam.root, "UPDATE")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatal("a refused update touched the camera")
			}
			ev := e.lastEvent()
			if ev.Details["result"] != "refused" || ev.Details["reason"] != string(c.reason) || ev.Details["serial"] != c.cam.Serial {
				t.Fatalf("refusal event %v", ev.Details)
			}
			if saved, _, _ := e.m.Status(c.cam.Serial); saved.State != firmware.StateRefused || saved.Reason != c.reason {
				t.Fatalf("stored status %+v", saved)
			}
		})
	}
	e.verifyVault()
}

func TestDowngradeOnlyWhenAnAdminForcesIt(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	pkg := e.stage("2.1.0", 10_000)
	cam := newCamera(t, "BWC-0007", model, "3.0.0", 90)

	if _, err := e.m.Check(pkg.Package, cam.identity(), ""); !errors.Is(err, firmware.ErrDowngrade) {
		t.Fatalf("check of a downgrade: %v", err)
	}
	// Without an order, an older package is simply not offered.
	st, err := e.m.Apply(ctx, cam.identity(), cam.root)
	if err != nil || st.State != firmware.StateCurrent {
		t.Fatalf("unforced downgrade: %+v, %v", st, err)
	}
	if err := e.m.Force(ctx, "BWC-0007", pkg.Package, "sgt-baker"); err != nil {
		t.Fatal(err)
	}
	st, err = e.m.Apply(ctx, cam.identity(), cam.root)
	if err != nil || st.State != firmware.StateWritten || st.ForcedBy != "sgt-baker" || st.To != "2.1.0" {
		t.Fatalf("forced downgrade: %+v, %v", st, err)
	}
	ev := e.lastEvent()
	if ev.Details["forced_by"] != "sgt-baker" || ev.Details["result"] != "written" {
		t.Fatalf("write event does not name the admin: %v", ev.Details)
	}
	var forceEv bool
	for _, ev := range e.firmwareEvents() {
		forceEv = forceEv || (ev.Details["step"] == "force" && ev.Actor == "user:sgt-baker")
	}
	if !forceEv {
		t.Fatal("the admin's order is not in the custody chain")
	}
	cam.bootAndInstall(image("2.1.0", 10_000), "2.1.0")
	if st, err = e.m.Apply(ctx, cam.identity(), cam.root); err != nil || st.State != firmware.StateDone {
		t.Fatalf("close forced downgrade: %+v %v", st, err)
	}
	// The order is spent: the camera is not downgraded again and again.
	if st, err = e.m.Apply(ctx, cam.identity(), cam.root); err != nil || st.State != firmware.StateDone || len(cam.leftovers()) != 0 {
		t.Fatalf("after the forced update: %+v %v", st, err)
	}
}

func TestUndockMidWriteLeavesNoClaimedImage(t *testing.T) {
	const size = 24 << 20
	ctx := context.Background()

	// The dock wiring cancels the apply when the camera is pulled out.
	t.Run("dock cancels on undock", func(t *testing.T) {
		var cancel context.CancelFunc
		var seen int64
		e := newEnv(t, func(_ *firmware.Config, o *firmware.Options) {
			o.Progress = func(_ string, written, total int64) {
				seen = written
				if written >= 4<<20 {
					cancel()
				}
			}
		})
		e.stage("2.10.0", size)
		cam := newCamera(t, "BWC-0100", model, "2.0.0", 90)
		actx, c := context.WithCancel(ctx)
		cancel = c
		st, err := e.m.Apply(actx, cam.identity(), cam.root)
		if err == nil || st.State != firmware.StateInterrupted {
			t.Fatalf("status %+v, err %v", st, err)
		}
		if seen >= size {
			t.Fatalf("the write was not cut short (%d bytes)", seen)
		}
		assertNoImage(t, cam)
		if left := cam.leftovers(); len(left) != 0 {
			t.Fatalf("partial image left on the camera: %v", left)
		}
		if ev := e.lastEvent(); ev.Details["result"] != "interrupted" {
			t.Fatalf("event %v", ev.Details)
		}
		// Docked again: the write is retried and completes.
		st, err = e.m.Apply(ctx, cam.identity(), cam.root)
		if err != nil || st.State != firmware.StateWritten {
			t.Fatalf("retry: %+v %v", st, err)
		}
	})

	// The storage vanishes under the writer, as when the USB device goes
	// away without the dock noticing first: the open file keeps taking
	// bytes, so only the re-read and rename can notice.
	t.Run("storage removed under the writer", func(t *testing.T) {
		var root string
		e := newEnv(t, func(_ *firmware.Config, o *firmware.Options) {
			o.Progress = func(_ string, written, total int64) {
				if written >= 4<<20 && root != "" {
					os.RemoveAll(root)
					root = ""
				}
			}
		})
		e.stage("2.10.0", size)
		cam := newCamera(t, "BWC-0101", model, "2.0.0", 90)
		root = cam.root
		st, err := e.m.Apply(ctx, cam.identity(), cam.root)
		if err == nil || st.State != firmware.StateInterrupted {
			t.Fatalf("status %+v, err %v", st, err)
		}
		if _, err := os.Stat(cam.root); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("the camera storage was not removed: %v", err)
		}
		saved, _, _ := e.m.Status("BWC-0101")
		if saved.State != firmware.StateInterrupted {
			t.Fatalf("stored status %+v", saved)
		}
		e.verifyVault()
	})
}

func assertNoImage(t *testing.T, cam *camera) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(cam.root, "UPDATE", "FW.BIN")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("an image sits under the final name after an interrupted write: %v", err)
	}
}

func TestRolloutLimitPerDay(t *testing.T) {
	e := newEnv(t, func(c *firmware.Config, _ *firmware.Options) { c.RolloutPerDay = 2 })
	ctx := context.Background()
	e.stage("2.10.0", 10_000)
	var cams []*camera
	for _, s := range []string{"A1", "A2", "A3"} {
		cams = append(cams, newCamera(t, s, model, "2.0.0", 90))
	}
	for _, c := range cams[:2] {
		if st, err := e.m.Apply(ctx, c.identity(), c.root); err != nil || st.State != firmware.StateWritten {
			t.Fatalf("%s: %+v %v", c.identity().Serial, st, err)
		}
	}
	st, err := e.m.Apply(ctx, cams[2].identity(), cams[2].root)
	if !errors.Is(err, firmware.ErrRolloutLimit) || st.State != firmware.StateDeferred || !strings.Contains(st.Detail, "2 of 2") {
		t.Fatalf("third camera on day one: %+v %v", st, err)
	}
	if _, err := os.Stat(filepath.Join(cams[2].root, "UPDATE")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("a deferred camera was written to")
	}
	// A camera already counted today may retry (an interrupted write).
	if st, err := e.m.Apply(ctx, cams[0].identity(), cams[0].root); err != nil || st.State != firmware.StateWritten {
		t.Fatalf("retry of a counted camera: %+v %v", st, err)
	}
	e.clock = e.clock.Add(24 * time.Hour)
	if st, err := e.m.Apply(ctx, cams[2].identity(), cams[2].root); err != nil || st.State != firmware.StateWritten {
		t.Fatalf("third camera next day: %+v %v", st, err)
	}
}

// Apply checks the stored package again: the trust store may have lost the
// vendor's key since the import, and stored bytes may have rotted.
func TestApplyRechecksThePackage(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	pkg := e.stage("2.10.0", 64<<10)

	distrusting, err := firmware.New(firmware.DefaultConfig(), e.v, e.v.State("firmware"), firmware.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cam := newCamera(t, "BWC-0300", model, "2.0.0", 90)
	st, err := distrusting.Apply(ctx, cam.identity(), cam.root)
	if !errors.Is(err, firmware.ErrUnknownKey) || st.State != firmware.StateRefused {
		t.Fatalf("key withdrawn: %+v %v", st, err)
	}

	obj := e.v.ObjectPath(pkg.Package)
	b, _ := os.ReadFile(obj)
	i := bytes.LastIndex(b, []byte("firmware 2.10.0"))
	b[i] ^= 0x20
	os.Chmod(obj, 0o644)
	if err := os.WriteFile(obj, b, 0o444); err != nil {
		t.Fatal(err)
	}
	st, err = e.m.Apply(ctx, cam.identity(), cam.root)
	if !errors.Is(err, firmware.ErrDigestMismatch) || st.State != firmware.StateRefused || st.Reason != firmware.ReasonDigestMismatch {
		t.Fatalf("rotted image: %+v %v", st, err)
	}
	if _, err := os.Stat(filepath.Join(cam.root, "UPDATE")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("a refused image reached the camera")
	}
}

// A camera whose storage is too small for the image: the write fails with
// the camera still docked, and the partial file is removed, not left to
// fill the camera.
func TestCameraStorageFullFailsCleanly(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs as the camera storage needs root")
	}
	ctx := context.Background()
	e := newEnv(t, nil)
	e.stage("2.10.0", 3<<20)
	cam := newCamera(t, "BWC-0400", model, "2.0.0", 90)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", cam.root).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", cam.root).Run() })
	cam.setIdentity(firmware.Camera{Serial: "BWC-0400", Model: model, Firmware: "2.0.0", Battery: 90})

	st, err := e.m.Apply(ctx, cam.identity(), cam.root)
	if !errors.Is(err, syscall.ENOSPC) || st.State != firmware.StateFailed || !strings.Contains(st.Detail, "no space") {
		t.Fatalf("status %+v, err %v", st, err)
	}
	assertNoImage(t, cam)
	if left := cam.leftovers(); len(left) != 0 {
		t.Fatalf("partial image left filling the camera: %v", left)
	}
	if ev := e.lastEvent(); ev.Details["result"] != "failed" || !strings.Contains(ev.Details["detail"], "no space") {
		t.Fatalf("event %v", ev.Details)
	}
}
