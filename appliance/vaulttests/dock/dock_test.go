package dock_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/capture/dock"
	"github.com/edgetriage/edgetriage/testkit"
)

// A camera is put into a bay the way a mount fills it: the identity first,
// the recordings a moment later. The dock must wait for the whole bay, then
// store every recording with its sidecars linked to it, record the custody
// of each file in order, and wipe exactly the offloaded files.
func TestDockedCameraIsOffloadedVerifiedAndReleased(t *testing.T) {
	root := filepath.Join(t.TempDir(), "dock")
	v := openVault(t, t.TempDir())
	d := newDock(t, v, dock.Config{Root: root, RescanInterval: 100 * time.Millisecond,
		Profiles: []dock.Profile{profile(dock.ReleaseAfterVerify)}}, nil)
	runDock(t, d)

	bay := filepath.Join(root, "bay1")
	id := identity{Serial: "BWC-0042", Model: "BWC3", Firmware: "2.4.1", Battery: 87, Officer: "PC-1234"}
	writeIdentity(t, bay, id)
	// Half-mounted: an identity but no DCIM yet. It must not be read as an
	// empty camera (no docking recorded, nothing offloaded).
	time.Sleep(600 * time.Millisecond)
	if b, _ := bayState(d, "bay1"); b.State != dock.BaySettling {
		t.Fatalf("half-mounted bay shows state %q", b.State)
	}
	if n := len(eventsFor(allEvents(t, v), evidence.ActionDocked, "")); n != 0 {
		t.Fatalf("half-mounted bay recorded as docked")
	}
	files := standardCamera()
	staging := t.TempDir()
	buildCamera(t, staging, id, files)
	want := fileDigests(t, staging, files)
	for _, f := range files {
		writeCamFile(t, bay, f)
	}

	testkit.WaitFor(t, "bay1 done", 90*time.Second, func() bool { b, _ := bayState(d, "bay1"); return b.State == dock.BayDone })
	b, _ := bayState(d, "bay1")
	if b.Device.Serial != "BWC-0042" || b.Device.Officer != "PC-1234" || b.Device.Battery != "87" || b.Profile != "generic-mass-storage" {
		t.Fatalf("bay progress: %+v", b)
	}
	if b.Bytes != b.Total || b.Total == 0 {
		t.Fatalf("bay progress bytes %d of %d", b.Bytes, b.Total)
	}

	videos := map[string]string{ // video -> its sidecars
		"DCIM/100BWC/CLIP0001.MP4": "DCIM/100BWC/CLIP0001.GPX DCIM/100BWC/CLIP0001.BMK",
		"DCIM/100BWC/CLIP0002.MP4": "DCIM/100BWC/clip0002.json",
		"DCIM/101BWC/CLIP0003.AVI": "",
	}
	for video, sidecars := range videos {
		it, err := v.Item(want[video])
		if err != nil {
			t.Fatalf("%s not in the vault: %v", video, err)
		}
		// The camera's clock: the recording's own header when it has a
		// creation time (parking-cars.mp4 does), the file time otherwise.
		start, end := files[indexOf(files, video)].mtime, time.Time{}
		if video == "DCIM/100BWC/CLIP0001.MP4" {
			start = time.Date(2018, 4, 19, 22, 46, 0, 0, time.UTC)
			end = start.Add(30208 * time.Millisecond)
		}
		if it.Kind != evidence.KindVideo || it.Source != "BWC-0042" || it.Officer != "PC-1234" ||
			it.OriginalName != video || !it.CapturedStart.Equal(start) || !it.CapturedEnd.Equal(end) ||
			it.Labels["bay"] != "bay1" || it.Labels["model"] != "BWC3" || it.Labels["firmware"] != "2.4.1" {
			t.Errorf("%s record: %+v", video, it)
		}
		if it.Media.VideoCodec == "" || len(it.Problems) != 0 {
			t.Errorf("%s: media %+v problems %v", video, it.Media, it.Problems)
		}
		got := itemActions(t, v, it.Digest)
		if !isSub(got, []evidence.Action{evidence.ActionIngested, evidence.ActionFileOffloaded, evidence.ActionVerified, evidence.ActionReleased}) {
			t.Errorf("%s custody: %v", video, got)
		}
		for _, sc := range strings.Fields(sidecars) {
			sit, err := v.Item(want[sc])
			if err != nil {
				t.Fatalf("sidecar %s not in the vault: %v", sc, err)
			}
			if sit.Kind != evidence.KindSidecar || sit.Parent != it.Digest || sit.Relation != "sidecar" || sit.Source != "BWC-0042" {
				t.Errorf("sidecar %s: %+v", sc, sit)
			}
			if ev := eventsFor(allEvents(t, v), evidence.ActionFileOffloaded, sc); len(ev) != 1 || ev[0].Details["video"] != it.Digest.String() {
				t.Errorf("sidecar %s file-offloaded event does not name its video: %+v", sc, ev)
			}
			if got := itemActions(t, v, sit.Digest); !isSub(got, []evidence.Action{evidence.ActionIngested, evidence.ActionFileOffloaded, evidence.ActionVerified, evidence.ActionReleased}) {
				t.Errorf("sidecar %s custody: %v", sc, got)
			}
		}
	}
	for _, f := range files {
		onCamera := exists(filepath.Join(bay, filepath.FromSlash(f.rel)))
		if taken := f.rel != "MISC/LOG.TXT"; taken == onCamera {
			t.Errorf("%s: still on the camera = %v", f.rel, onCamera)
		}
	}
	if !exists(filepath.Join(bay, "device.json")) {
		t.Error("the identity file was removed")
	}
	if _, err := v.Item(digestOf(t, filepath.Join(bay, "MISC", "LOG.TXT"))); err == nil {
		t.Error("a file outside the profile's globs was stored")
	}

	// Bay-level events frame the file events.
	evs := allEvents(t, v)
	seq := actions(evs)
	if !isSub(seq, []evidence.Action{evidence.ActionDocked, evidence.ActionOffloadStarted, evidence.ActionFileOffloaded, evidence.ActionReleased}) {
		t.Fatalf("chain: %v", seq)
	}
	off := eventsFor(evs, evidence.ActionFileOffloaded, "DCIM/100BWC/CLIP0001.MP4")[0]
	for k, want := range map[string]string{"bay": "bay1", "serial": "BWC-0042", "officer": "PC-1234",
		"camera_time": camClock.Format(time.RFC3339Nano), "recorded_start": "2018-04-19T22:46:00Z", "recorded_duration": "30.208s"} {
		if off.Details[k] != want {
			t.Errorf("file-offloaded detail %s = %q, want %q", k, off.Details[k], want)
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, off.Details["appliance_time"]); err != nil {
		t.Errorf("appliance_time: %v", err)
	}

	must(t, os.RemoveAll(bay))
	testkit.WaitFor(t, "undocked event", 30*time.Second, func() bool {
		return len(eventsFor(allEvents(t, v), evidence.ActionUndocked, "")) == 1
	})
	verifyVault(t, v)
}

func indexOf(files []camFile, rel string) int {
	for i, f := range files {
		if f.rel == rel {
			return i
		}
	}
	panic("no file " + rel)
}

// Under the never policy nothing leaves the camera, and docking it again
// copies nothing again.
func TestNeverPolicyKeepsFilesAndRedockCopiesNothing(t *testing.T) {
	v := openVault(t, t.TempDir())
	d := newDock(t, v, dock.Config{Profiles: []dock.Profile{profile(dock.ReleaseNever)}}, nil)
	bay := filepath.Join(t.TempDir(), "bay2")
	files := standardCamera()
	buildCamera(t, bay, identity{Serial: "BWC-7", Officer: "PC-7"}, files)
	rep, err := d.Offload(context.Background(), bay)
	if err != nil || !rep.Complete() || len(rep.Files) != 6 {
		t.Fatalf("offload: %v %+v", err, rep)
	}
	for _, f := range files {
		if !exists(filepath.Join(bay, filepath.FromSlash(f.rel))) {
			t.Errorf("%s removed under the never policy", f.rel)
		}
	}
	before := len(allEvents(t, v))
	rep, err = d.Offload(context.Background(), bay)
	if err != nil || !rep.Complete() {
		t.Fatalf("second offload: %v %+v", err, rep)
	}
	evs := allEvents(t, v)[before:]
	if got := actions(evs); len(got) != 1 || got[0] != evidence.ActionDocked {
		t.Fatalf("re-dock of an offloaded camera recorded %v", got)
	}
	verifyVault(t, v)
}

type acks map[evidence.Digest]bool

func (a acks) Acknowledged(d evidence.Digest) bool { return a[d] }

// After-ack keeps files on the camera until central storage has them; the
// next dock after the acknowledgement re-verifies and releases.
func TestAfterAckReleasesOnlyAcknowledged(t *testing.T) {
	v := openVault(t, t.TempDir())
	ack := acks{}
	d := newDock(t, v, dock.Config{Profiles: []dock.Profile{profile(dock.ReleaseAfterAck)}}, ack)
	bay := filepath.Join(t.TempDir(), "bay3")
	files := standardCamera()[:3]
	buildCamera(t, bay, identity{Serial: "BWC-8"}, files)
	want := fileDigests(t, bay, files)
	rep, err := d.Offload(context.Background(), bay)
	if err != nil || !rep.Complete() {
		t.Fatalf("offload: %v %+v", err, rep)
	}
	for _, f := range files {
		if !exists(filepath.Join(bay, filepath.FromSlash(f.rel))) {
			t.Fatalf("%s released before any acknowledgement", f.rel)
		}
	}
	// A recording leaves the camera together with its sidecars: one
	// unacknowledged sidecar keeps the whole recording there.
	ack[want["DCIM/100BWC/CLIP0001.MP4"]] = true
	ack[want["DCIM/100BWC/CLIP0001.GPX"]] = true
	if _, err := d.Offload(context.Background(), bay); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !exists(filepath.Join(bay, filepath.FromSlash(f.rel))) {
			t.Fatalf("%s released while a sidecar of its recording is unacknowledged", f.rel)
		}
	}
	ack[want["DCIM/100BWC/CLIP0001.BMK"]] = true
	if _, err := d.Offload(context.Background(), bay); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if exists(filepath.Join(bay, filepath.FromSlash(f.rel))) {
			t.Fatalf("acknowledged %s not released", f.rel)
		}
	}
	got := itemActions(t, v, want["DCIM/100BWC/CLIP0001.MP4"])
	if !isSub(got, []evidence.Action{evidence.ActionFileOffloaded, evidence.ActionVerified, evidence.ActionVerified, evidence.ActionReleased}) {
		t.Fatalf("custody: %v", got)
	}
	verifyVault(t, v)
}

// A USB stick with documents and no videos is not a camera, and neither is
// a bay with videos but no descriptor where the profile requires one:
// reported, untouched.
func TestBayThatIsNotACamera(t *testing.T) {
	root := filepath.Join(t.TempDir(), "dock")
	v := openVault(t, t.TempDir())
	strict := profile(dock.ReleaseAfterVerify)
	strict.Name, strict.Identity.RequireDescriptor = "strict", true
	d := newDock(t, v, dock.Config{Root: root, RescanInterval: 50 * time.Millisecond,
		Profiles: []dock.Profile{profile(dock.ReleaseAfterVerify)}}, nil)
	bay := filepath.Join(root, "stick")
	writeCamFile(t, bay, camFile{rel: "DCIM/holiday.JPG", content: "jpeg", mtime: camClock})
	writeCamFile(t, bay, camFile{rel: "notes.txt", content: "hello", mtime: camClock})
	runDock(t, d)
	testkit.WaitFor(t, "not-a-camera", 30*time.Second, func() bool { b, _ := bayState(d, "stick"); return b.State == dock.BayNotCamera })
	if !exists(filepath.Join(bay, "DCIM/holiday.JPG")) || !exists(filepath.Join(bay, "notes.txt")) {
		t.Fatal("files of a non-camera bay were touched")
	}
	for _, e := range allEvents(t, v) {
		if e.Action != evidence.ActionKeyCreated {
			t.Fatalf("non-camera bay recorded %v", e)
		}
	}
	if _, err := d.Offload(context.Background(), bay); !errors.Is(err, dock.ErrNotCamera) {
		t.Fatalf("one-shot offload of a non-camera: %v", err)
	}
	videos := filepath.Join(t.TempDir(), "nodescriptor")
	writeCamFile(t, videos, camFile{rel: "DCIM/100CAM/CLIP0001.MP4", clip: "static-room.mp4", mtime: camClock})
	strictDock := newDock(t, v, dock.Config{Root: root, Profiles: []dock.Profile{strict}}, nil)
	if _, err := strictDock.Offload(context.Background(), videos); !errors.Is(err, dock.ErrNotCamera) {
		t.Fatalf("a profile that requires a descriptor took a camera without one: %v", err)
	}
}

// Where the bay is a fixed mount point, unmounting leaves an empty
// directory behind: that is an undock too, and the camera's return is a
// new dock that copies nothing again.
func TestMountPointStaysWhenCameraLeaves(t *testing.T) {
	root := filepath.Join(t.TempDir(), "dock")
	v := openVault(t, t.TempDir())
	d := newDock(t, v, dock.Config{Root: root, RescanInterval: 100 * time.Millisecond,
		Profiles: []dock.Profile{profile(dock.ReleaseNever)}}, nil)
	bay := filepath.Join(root, "bay7")
	must(t, os.MkdirAll(bay, 0o755))
	runDock(t, d)
	files := standardCamera()[:2]
	id := identity{Serial: "BWC-MNT"}
	buildCamera(t, bay, id, files)
	testkit.WaitFor(t, "bay7 done", 60*time.Second, func() bool { b, _ := bayState(d, "bay7"); return b.State == dock.BayDone })
	count := func(a evidence.Action) int { return len(eventsFor(allEvents(t, v), a, "")) }

	must(t, os.RemoveAll(filepath.Join(bay, "DCIM")))
	must(t, os.Remove(filepath.Join(bay, "device.json")))
	testkit.WaitFor(t, "undocked", 30*time.Second, func() bool { return count(evidence.ActionUndocked) == 1 })

	buildCamera(t, bay, id, files)
	testkit.WaitFor(t, "docked again", 30*time.Second, func() bool { return count(evidence.ActionDocked) == 2 })
	testkit.WaitFor(t, "bay7 done again", 60*time.Second, func() bool { b, _ := bayState(d, "bay7"); return b.State == dock.BayDone })
	if n := count(evidence.ActionFileOffloaded); n != 2 {
		t.Fatalf("%d file-offloaded events for 2 files docked twice", n)
	}
	if n := count(evidence.ActionOffloadStarted); n != 1 {
		t.Fatalf("%d offload-started events; the second dock had nothing to do", n)
	}
}

type syncAcks struct {
	mu  sync.Mutex
	set map[evidence.Digest]bool
}

func (a *syncAcks) Acknowledged(d evidence.Digest) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.set[d]
}

// A docked camera under after-ack is released while it sits in the bay,
// once central storage acknowledges its files.
func TestAfterAckReleasesWhileDocked(t *testing.T) {
	root := filepath.Join(t.TempDir(), "dock")
	v := openVault(t, t.TempDir())
	ack := &syncAcks{set: map[evidence.Digest]bool{}}
	d := newDock(t, v, dock.Config{Root: root, RescanInterval: 100 * time.Millisecond, RetryInterval: 300 * time.Millisecond,
		Profiles: []dock.Profile{profile(dock.ReleaseAfterAck)}}, ack)
	staging := filepath.Join(t.TempDir(), "bay8")
	files := standardCamera()[3:5]
	buildCamera(t, staging, identity{Serial: "BWC-ACK"}, files)
	want := fileDigests(t, staging, files)
	must(t, os.MkdirAll(root, 0o755))
	runDock(t, d)
	bay := filepath.Join(root, "bay8")
	must(t, os.Rename(staging, bay))
	testkit.WaitFor(t, "offloaded, waiting for ack", 60*time.Second, func() bool {
		b, _ := bayState(d, "bay8")
		return b.State == dock.BayDone && len(b.Files) == 2 && b.Files[0].State == dock.FileKept
	})
	ack.mu.Lock()
	for _, dg := range want {
		ack.set[dg] = true
	}
	ack.mu.Unlock()
	// The camera file is deleted just before its released event is
	// written, so wait for the events, then look at the camera.
	testkit.WaitFor(t, "released events after the ack", 60*time.Second, func() bool {
		return len(eventsFor(allEvents(t, v), evidence.ActionReleased, "")) == 2
	})
	for _, f := range files {
		if exists(filepath.Join(bay, f.rel)) {
			t.Fatalf("%s released but still on the camera", f.rel)
		}
	}
}

// A camera whose every file is done stays docked without being read again:
// no new offload pass, so no new custody events and no firmware offers,
// however long it sits in the bay.
func TestFinishedBayIsNotOffloadedAgain(t *testing.T) {
	root := filepath.Join(t.TempDir(), "dock")
	v := openVault(t, t.TempDir())
	d := newDock(t, v, dock.Config{Root: root, RescanInterval: 100 * time.Millisecond, RetryInterval: 200 * time.Millisecond,
		Profiles: []dock.Profile{profile(dock.ReleaseAfterVerify)}}, nil)
	runDock(t, d)
	staging := t.TempDir()
	buildCamera(t, staging, identity{Serial: "BWC-0050"}, standardCamera())
	if err := os.Rename(staging, filepath.Join(root, "bay1")); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "bay1 done", 90*time.Second, func() bool { b, _ := bayState(d, "bay1"); return b.State == dock.BayDone })
	// The release changes the listing, which earns one more look.
	time.Sleep(time.Second)
	before, _ := bayState(d, "bay1")
	events := len(allEvents(t, v))
	time.Sleep(2 * time.Second)
	if after, _ := bayState(d, "bay1"); !after.Started.Equal(before.Started) {
		t.Fatalf("a finished bay was read again: pass started %v, then %v", before.Started, after.Started)
	}
	if n := len(allEvents(t, v)); n != events {
		t.Fatalf("%d custody events about an idle finished bay", n-events)
	}
}
