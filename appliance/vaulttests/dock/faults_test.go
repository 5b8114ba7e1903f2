package dock_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/capture/dock"
	"github.com/edgetriage/edgetriage/testkit"
)

// writeRandom makes a large camera file of random bytes.
func writeRandom(t testing.TB, path string, size int64, mtime time.Time) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(path), 0o755))
	f, err := os.Create(path)
	must(t, err)
	_, err = io.CopyN(f, rand.Reader, size)
	must(t, err)
	must(t, f.Close())
	must(t, os.Chtimes(path, mtime, mtime))
}

// checkReleasedWereVerified: every released event follows a verified event
// for the same item, and every file gone from the camera was released.
func checkReleasedWereVerified(t *testing.T, v *vault.Vault) {
	t.Helper()
	verified := map[evidence.Digest]bool{}
	for _, e := range allEvents(t, v) {
		switch e.Action {
		case evidence.ActionVerified:
			verified[e.Item] = true
		case evidence.ActionReleased:
			if !verified[e.Item] {
				t.Errorf("%s released without a verified event before it", e.Details["camera_path"])
			}
			if err := v.VerifyItem(context.Background(), e.Item); err != nil {
				t.Errorf("%s released but its vault copy does not verify: %v", e.Details["camera_path"], err)
			}
		}
	}
}

// Pulling a camera out mid-copy interrupts the offload without releasing
// anything unverified; docking it again completes it. Reads are paced like
// a USB 2 camera so that the undock lands while the large file is copying.
func TestUndockMidCopyThenRedockCompletes(t *testing.T) {
	root := filepath.Join(t.TempDir(), "dock")
	v := openPlainVault(t, t.TempDir())
	d := newDock(t, v, dock.Config{Root: root, RescanInterval: 100 * time.Millisecond,
		Profiles: []dock.Profile{profile(dock.ReleaseAfterVerify)}}, nil)
	var slow atomic.Bool
	slow.Store(true)
	dock.SetReadHook(d, func(rel string, r io.Reader) io.Reader {
		if slow.Load() {
			return slowReader{r, 15 * time.Millisecond}
		}
		return r
	})
	staging := filepath.Join(t.TempDir(), "bay1")
	files := standardCamera()[:3]
	buildCamera(t, staging, identity{Serial: "BWC-UNDOCK", Officer: "PC-9"}, files)
	big := "DCIM/100BWC/CLIP0009.MP4"
	writeRandom(t, filepath.Join(staging, big), 128<<20, camClock)
	bigDigest := digestOf(t, filepath.Join(staging, big))
	must(t, os.MkdirAll(root, 0o755))
	runDock(t, d)
	bay := filepath.Join(root, "bay1")
	must(t, os.Rename(staging, bay))

	testkit.WaitFor(t, "the large file mid-copy", 60*time.Second, func() bool {
		b, _ := bayState(d, "bay1")
		for _, f := range b.Files {
			if f.Path == big && f.State == dock.FileCopying && f.Bytes > 8<<20 {
				return true
			}
		}
		return false
	})
	must(t, os.Rename(bay, staging)) // the camera leaves the dock
	testkit.WaitFor(t, "undocked", 30*time.Second, func() bool {
		return len(eventsFor(allEvents(t, v), evidence.ActionUndocked, "")) == 1
	})
	evs := allEvents(t, v)
	if len(eventsFor(evs, evidence.ActionOffloadInterrupted, "")) != 1 {
		t.Fatalf("no offload-interrupted event: %v", actions(evs))
	}
	if _, err := v.Item(bigDigest); err == nil {
		t.Fatal("the interrupted file is in the vault")
	}
	if !exists(filepath.Join(staging, big)) {
		t.Fatal("the interrupted file was released")
	}
	checkReleasedWereVerified(t, v)

	slow.Store(false)
	must(t, os.Rename(staging, bay)) // docked again
	testkit.WaitFor(t, "re-docked bay done", 90*time.Second, func() bool { b, _ := bayState(d, "bay1"); return b.State == dock.BayDone })
	if exists(filepath.Join(bay, big)) {
		t.Fatal("the large file was not released after the re-dock")
	}
	if _, err := v.Item(bigDigest); err != nil {
		t.Fatalf("large file not in the vault: %v", err)
	}
	evs = allEvents(t, v)
	for _, f := range append(files, camFile{rel: big}) {
		if n := len(eventsFor(evs, evidence.ActionFileOffloaded, f.rel)); n != 1 {
			t.Errorf("%s offloaded %d times", f.rel, n)
		}
	}
	checkReleasedWereVerified(t, v)
	verifyVault(t, v)
}

// failingReader fails part way like a camera whose flash has a bad block.
// A real disk cannot be made to fail on demand, so this is a fake reader.
type failingReader struct {
	r    io.Reader
	left int64
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.left <= 0 {
		return 0, fmt.Errorf("read camera file: %w", syscall.EIO)
	}
	if int64(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.r.Read(p)
	f.left -= int64(n)
	return n, err
}

// An I/O error on one file is recorded, that file and its sidecar stay on
// the camera, the others are offloaded and released; the next dock gets it.
func TestUnreadableFileIsRecordedAndRetried(t *testing.T) {
	v := openVault(t, t.TempDir())
	d := newDock(t, v, dock.Config{Profiles: []dock.Profile{profile(dock.ReleaseAfterVerify)}}, nil)
	bad := "DCIM/100BWC/CLIP0002.MP4"
	var broken atomic.Bool
	broken.Store(true)
	dock.SetReadHook(d, func(rel string, r io.Reader) io.Reader {
		if rel == bad && broken.Load() {
			return &failingReader{r: r, left: 64 << 10}
		}
		return r
	})
	bay := filepath.Join(t.TempDir(), "bay4")
	files := standardCamera()
	buildCamera(t, bay, identity{Serial: "BWC-EIO"}, files)
	want := fileDigests(t, bay, files)
	rep, err := d.Offload(context.Background(), bay)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Complete() {
		t.Fatal("a pass with an unreadable file reports complete")
	}
	unreadable := eventsFor(allEvents(t, v), evidence.ActionFileUnreadable, bad)
	if len(unreadable) != 1 || !strings.Contains(unreadable[0].Details["error"], "input/output error") || unreadable[0].Details["serial"] != "BWC-EIO" {
		t.Fatalf("file-unreadable events: %+v", unreadable)
	}
	if _, err := v.Item(want[bad]); err == nil {
		t.Fatal("a partly read file is in the vault as the whole file")
	}
	for _, f := range files {
		keep := f.rel == bad || f.rel == "DCIM/100BWC/clip0002.json" || f.rel == "MISC/LOG.TXT"
		if exists(filepath.Join(bay, filepath.FromSlash(f.rel))) != keep {
			t.Errorf("%s: on camera = %v, want %v", f.rel, !keep, keep)
		}
	}
	checkReleasedWereVerified(t, v)
	verifyVault(t, v)

	broken.Store(false)
	rep, err = d.Offload(context.Background(), bay)
	if err != nil || !rep.Complete() {
		t.Fatalf("second dock: %v %+v", err, rep)
	}
	if exists(filepath.Join(bay, bad)) || exists(filepath.Join(bay, "DCIM/100BWC/clip0002.json")) {
		t.Fatal("the once-unreadable file was not released on the next dock")
	}
	sc, err := v.Item(want["DCIM/100BWC/clip0002.json"])
	if err != nil || sc.Parent != want[bad] {
		t.Fatalf("sidecar of the retried file: %+v %v", sc, err)
	}
	verifyVault(t, v)
}

// The child side of the SIGKILL test: an offload in its own process that
// announces its progress on stdout and is killed part way.
func TestChildProcessOffload(t *testing.T) {
	data, bay := os.Getenv("DOCK_CHILD_VAULT"), os.Getenv("DOCK_CHILD_BAY")
	if data == "" {
		return // only meaningful when started by TestSIGKILLMidCopy
	}
	v, err := vault.Open(context.Background(), data, vault.Options{})
	must(t, err)
	d := newDock(t, v, dock.Config{Profiles: []dock.Profile{profile(dock.ReleaseAfterVerify)}}, nil)
	dock.SetReadHook(d, func(rel string, r io.Reader) io.Reader { return slowReader{r, 10 * time.Millisecond} })
	go func() {
		for {
			for _, b := range d.Progress().Bays {
				for _, f := range b.Files {
					fmt.Printf("FILE %s %s %d\n", f.Path, f.State, f.Bytes)
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	_, err = d.Offload(context.Background(), bay)
	must(t, err)
	fmt.Println("DONE")
	time.Sleep(time.Hour)
}

// SIGKILL of the process while it copies: afterwards nothing was released
// that was not verified, the vault verifies, and the next dock completes.
func TestSIGKILLMidCopy(t *testing.T) {
	data := t.TempDir()
	bay := filepath.Join(t.TempDir(), "bay5")
	files := standardCamera()[:3]
	buildCamera(t, bay, identity{Serial: "BWC-KILL"}, files)
	writeRandom(t, filepath.Join(bay, "DCIM/100BWC/A0001.MP4"), 24<<20, camClock)
	writeRandom(t, filepath.Join(bay, "DCIM/100BWC/Z0009.MP4"), 160<<20, camClock)

	cmd := exec.Command(os.Args[0], "-test.run=^TestChildProcessOffload$", "-test.v")
	cmd.Env = append(os.Environ(), "DOCK_CHILD_VAULT="+data, "DOCK_CHILD_BAY="+bay)
	out, err := cmd.StdoutPipe()
	must(t, err)
	cmd.Stderr = os.Stderr
	must(t, cmd.Start())
	killed := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 4 && f[0] == "FILE" && f[1] == "DCIM/100BWC/Z0009.MP4" && f[2] == dock.FileCopying {
			if n, _ := strconv.ParseInt(f[3], 10, 64); n > 16<<20 {
				cmd.Process.Signal(syscall.SIGKILL)
				killed = true
				break
			}
		}
		if len(f) == 1 && f[0] == "DONE" {
			break
		}
	}
	go io.Copy(io.Discard, out)
	cmd.Process.Kill()
	cmd.Wait()
	if !killed {
		t.Fatal("the child finished before it could be killed mid-copy")
	}

	v := openPlainVault(t, data)
	checkReleasedWereVerified(t, v)
	if exists(filepath.Join(bay, "DCIM/100BWC/Z0009.MP4")) == false {
		t.Fatal("the file being copied at the kill is gone from the camera")
	}
	verifyVault(t, v)
	d := newDock(t, v, dock.Config{Profiles: []dock.Profile{profile(dock.ReleaseAfterVerify)}}, nil)
	rep, err := d.Offload(context.Background(), bay)
	if err != nil || !rep.Complete() {
		t.Fatalf("offload after the kill: %v %+v", err, rep)
	}
	left, _ := filepath.Glob(filepath.Join(bay, "DCIM", "*", "*"))
	if len(left) != 0 {
		t.Fatalf("left on the camera after the re-dock: %v\n%+v", left, rep)
	}
	evs := allEvents(t, v)
	for _, rel := range []string{"DCIM/100BWC/A0001.MP4", "DCIM/100BWC/Z0009.MP4", files[0].rel, files[1].rel, files[2].rel} {
		if n := len(eventsFor(evs, evidence.ActionReleased, rel)); n != 1 {
			t.Errorf("%s released %d times", rel, n)
		}
	}
	checkReleasedWereVerified(t, v)
	verifyVault(t, v)
}

// failReleaseVault is the real vault whose custody append of released
// events fails, as if the appliance died between deleting a camera file and
// recording it: a moment a test cannot hit reliably with a real kill.
type failReleaseVault struct{ *vault.Vault }

func (f failReleaseVault) Append(ctx context.Context, events ...evidence.CustodyEvent) ([]evidence.CustodyEvent, error) {
	for _, e := range events {
		if e.Action == evidence.ActionReleased {
			return nil, fmt.Errorf("append: %w", syscall.EIO)
		}
	}
	return f.Vault.Append(ctx, events...)
}

// A release whose event was never written is recorded on the next dock,
// marked as recovered, so the chain never lacks a deletion.
func TestReleaseCutShortIsRecordedOnNextDock(t *testing.T) {
	v := openVault(t, t.TempDir())
	bay := filepath.Join(t.TempDir(), "bay11")
	files := standardCamera()[3:5]
	buildCamera(t, bay, identity{Serial: "BWC-CUT"}, files)
	want := fileDigests(t, bay, files)
	cfg := dock.Config{Profiles: []dock.Profile{profile(dock.ReleaseAfterVerify)}}
	broken, err := dock.New(dock.Options{Config: cfg, Vault: failReleaseVault{v}, State: v.State("dock")})
	must(t, err)
	if _, err := broken.Offload(context.Background(), bay); err != nil {
		t.Fatal(err)
	}
	if exists(filepath.Join(bay, files[0].rel)) {
		t.Fatal("setup: the file was not deleted")
	}
	if n := len(eventsFor(allEvents(t, v), evidence.ActionReleased, "")); n != 0 {
		t.Fatalf("setup: %d released events", n)
	}
	d := newDock(t, v, cfg, nil)
	if _, err := d.Offload(context.Background(), bay); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		rel := eventsFor(allEvents(t, v), evidence.ActionReleased, f.rel)
		if len(rel) != 1 || rel[0].Item != want[f.rel] || rel[0].Details["recovered"] == "" {
			t.Fatalf("%s: released events %+v", f.rel, rel)
		}
	}
	checkReleasedWereVerified(t, v)
	verifyVault(t, v)
}

// Stopping the dock mid-copy interrupts the offload, records why, releases
// nothing unverified, and Run returns cleanly.
func TestStopMidCopy(t *testing.T) {
	root := filepath.Join(t.TempDir(), "dock")
	v := openPlainVault(t, t.TempDir())
	d := newDock(t, v, dock.Config{Root: root, RescanInterval: 100 * time.Millisecond,
		Profiles: []dock.Profile{profile(dock.ReleaseAfterVerify)}}, nil)
	dock.SetReadHook(d, func(rel string, r io.Reader) io.Reader { return slowReader{r, 15 * time.Millisecond} })
	bay := filepath.Join(root, "bay12")
	writeIdentity(t, bay, identity{Serial: "BWC-STOP"})
	big := "DCIM/100BWC/LONG0001.MP4"
	writeRandom(t, filepath.Join(bay, big), 128<<20, camClock)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	testkit.WaitFor(t, "mid-copy", 60*time.Second, func() bool {
		b, _ := bayState(d, "bay12")
		return len(b.Files) == 1 && b.Files[0].State == dock.FileCopying && b.Files[0].Bytes > 8<<20
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	ev := eventsFor(allEvents(t, v), evidence.ActionOffloadInterrupted, "")
	if len(ev) != 1 || ev[0].Details["reason"] != "dock stopping" || ev[0].Details["files_left"] != "1" {
		t.Fatalf("offload-interrupted: %+v", ev)
	}
	if !exists(filepath.Join(bay, big)) {
		t.Fatal("the interrupted file was released")
	}
	verifyVault(t, v)
}

// stalledVerify is the real vault whose read-backs hang until their context
// ends: a slow vault disk cannot be made to outlast an undock on demand.
type stalledVerify struct {
	*vault.Vault
	entered chan struct{}
}

func (s stalledVerify) VerifyItem(ctx context.Context, d evidence.Digest) error {
	s.entered <- struct{}{}
	<-ctx.Done()
	return fmt.Errorf("verify item %s: %w", d.Short(), ctx.Err())
}

// A camera undocked while its copy is being read back leaves the file on
// the camera, interrupted, with no verify-failed event: the read-back was
// cut short, the copy was not found wrong.
func TestUndockDuringReadBack(t *testing.T) {
	v := openPlainVault(t, t.TempDir())
	sv := stalledVerify{Vault: v, entered: make(chan struct{}, 1)}
	d, err := dock.New(dock.Options{Vault: sv, State: v.State("dock"),
		Config: dock.Config{Profiles: []dock.Profile{profile(dock.ReleaseAfterVerify)}}})
	must(t, err)
	bay := filepath.Join(t.TempDir(), "bay13")
	files := standardCamera()[:1]
	buildCamera(t, bay, identity{Serial: "BWC-RB"}, files)
	ctx, cancel := context.WithCancelCause(context.Background())
	go func() { <-sv.entered; cancel(errors.New("undocked")) }()
	rep, err := d.Offload(ctx, bay)
	must(t, err)
	if len(rep.Files) != 1 || rep.Files[0].State != dock.FileInterrupted {
		t.Fatalf("report: %+v", rep.Files)
	}
	evs := allEvents(t, v)
	if n := len(eventsFor(evs, dock.ActionVerifyFailed, "")); n != 0 {
		t.Errorf("%d verify-failed events for a read-back that was cut short", n)
	}
	if n := len(eventsFor(evs, evidence.ActionOffloadInterrupted, "")); n != 1 {
		t.Errorf("offload-interrupted events: %d, want 1: %v", n, actions(evs))
	}
	if !exists(filepath.Join(bay, files[0].rel)) {
		t.Fatal("a file whose read-back was cut short was released")
	}
}
