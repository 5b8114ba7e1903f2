package dock_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/capture/dock"
)

// One camera with everything wrong at once: a truncated recording, links
// that point out of the bay, a clock years off, and a file still being
// written while it is read.
func TestBadInputOnOneCamera(t *testing.T) {
	v := openVault(t, t.TempDir())
	d := newDock(t, v, dock.Config{Profiles: []dock.Profile{profile(dock.ReleaseAfterVerify)}}, nil)
	bay := filepath.Join(t.TempDir(), "bay6")
	oldClock := time.Date(2011, 3, 4, 5, 6, 7, 0, time.UTC)
	files := []camFile{
		{rel: "DCIM/100BWC/OLD0001.MP4", clip: "static-room.mp4", mtime: oldClock},
		{rel: "DCIM/100BWC/GROW0001.MP4", clip: "store-aisle.mp4", mtime: camClock},
		{rel: "DCIM/100BWC/LOST0001.GPX", content: gpx(9), mtime: camClock}, // its video is gone
	}
	buildCamera(t, bay, identity{Serial: "BWC-BAD", Officer: "PC-66"}, files)

	// Truncated: the camera lost power mid-recording.
	full, err := os.ReadFile(filepath.Join(footage, "parking-cars.mp4"))
	must(t, err)
	cut := filepath.Join(bay, "DCIM/100BWC/CUT0001.MP4")
	must(t, os.WriteFile(cut, full[:len(full)/2], 0o644))
	cutDigest := digestOf(t, cut)

	// Links out of the bay, by absolute and by ../ path, to a file and to a
	// directory; none may be read or removed.
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.mp4")
	writeCamFile(t, outside, camFile{rel: "secret.mp4", clip: "room-people-enter-leave.mp4", mtime: camClock})
	writeCamFile(t, outside, camFile{rel: "dir/INSIDE.MP4", clip: "faces-walking.mp4", mtime: camClock})
	secretDigest, insideDigest := digestOf(t, secret), digestOf(t, filepath.Join(outside, "dir/INSIDE.MP4"))
	rel, err := filepath.Rel(filepath.Join(bay, "DCIM/100BWC"), secret)
	must(t, err)
	must(t, os.Symlink(secret, filepath.Join(bay, "DCIM/100BWC/LINK0001.MP4")))
	must(t, os.Symlink(rel, filepath.Join(bay, "DCIM/100BWC/UP0001.MP4")))
	must(t, os.Symlink(filepath.Join(outside, "dir"), filepath.Join(bay, "DCIM/EVIL")))

	// GROW0001 is still being written: the camera appends to it while the
	// dock reads it.
	grow := filepath.Join(bay, "DCIM/100BWC/GROW0001.MP4")
	var once sync.Once
	dock.SetReadHook(d, func(rel string, r io.Reader) io.Reader {
		if rel == "DCIM/100BWC/GROW0001.MP4" {
			once.Do(func() {
				f, err := os.OpenFile(grow, os.O_WRONLY|os.O_APPEND, 0)
				must(t, err)
				f.Write(make([]byte, 100<<10))
				must(t, f.Close())
			})
		}
		return r
	})

	rep, err := d.Offload(context.Background(), bay)
	must(t, err)
	if rep.Complete() {
		t.Error("pass reports complete although a file changed while read")
	}
	byPath := map[string]dock.FileReport{}
	for _, f := range rep.Files {
		byPath[f.Path] = f
	}
	for _, s := range []string{"DCIM/100BWC/LINK0001.MP4", "DCIM/100BWC/UP0001.MP4", "DCIM/EVIL"} {
		if !skippedHas(rep.Skipped, s, "symbolic link") {
			t.Errorf("link %s not reported as skipped: %+v", s, rep.Skipped)
		}
	}
	for _, dg := range []evidence.Digest{secretDigest, insideDigest} {
		if _, err := v.Item(dg); err == nil {
			t.Fatal("a file outside the bay was read through a link")
		}
	}
	if !exists(secret) || !exists(filepath.Join(outside, "dir/INSIDE.MP4")) || !exists(filepath.Join(bay, "DCIM/100BWC/LINK0001.MP4")) {
		t.Fatal("a link or its target was removed")
	}

	// Truncated: kept in the vault, marked with the decoder's error, and
	// left on the camera because the profile does not release marked files.
	it, err := v.Item(cutDigest)
	if err != nil || !it.HasProblem(evidence.ProblemUndecodable) {
		t.Fatalf("truncated clip: %+v %v", it, err)
	}
	if byPath["DCIM/100BWC/CUT0001.MP4"].State != dock.FileKept || !exists(cut) {
		t.Fatalf("truncated clip released: %+v", byPath["DCIM/100BWC/CUT0001.MP4"])
	}

	// Clock years off: the camera's time and the appliance's both recorded.
	old, err := v.Item(digestOf(t, filepath.Join(footage, "static-room.mp4")))
	must(t, err)
	if !old.CapturedStart.Equal(oldClock) || time.Since(old.IngestedAt) > time.Hour {
		t.Fatalf("old clock: captured %v ingested %v", old.CapturedStart, old.IngestedAt)
	}
	ev := eventsFor(allEvents(t, v), evidence.ActionFileOffloaded, "DCIM/100BWC/OLD0001.MP4")
	if len(ev) != 1 || ev[0].Details["camera_time"] != "2011-03-04T05:06:07Z" || time.Since(ev[0].Time) > time.Hour {
		t.Fatalf("old clock event: %+v", ev)
	}
	at, err := time.Parse(time.RFC3339Nano, ev[0].Details["appliance_time"])
	if err != nil || time.Since(at) > time.Hour {
		t.Fatalf("appliance_time %q", ev[0].Details["appliance_time"])
	}

	// A sidecar without its video is still offloaded, unlinked.
	lost, err := v.Item(evidence.DigestBytes([]byte(gpx(9))))
	if err != nil || lost.Kind != evidence.KindSidecar || !lost.Parent.IsZero() || exists(filepath.Join(bay, "DCIM/100BWC/LOST0001.GPX")) {
		t.Fatalf("orphan sidecar: %+v %v", lost, err)
	}

	// Growing: the bytes read are kept, the file is not released and not
	// remembered as done; once it has stopped growing it is copied whole.
	if byPath["DCIM/100BWC/GROW0001.MP4"].State != dock.FileChanged || !exists(grow) {
		t.Fatalf("growing file: %+v", byPath["DCIM/100BWC/GROW0001.MP4"])
	}
	ev = eventsFor(allEvents(t, v), evidence.ActionFileOffloaded, "DCIM/100BWC/GROW0001.MP4")
	if len(ev) != 1 || !strings.Contains(ev[0].Details["changed_while_read"], "grew") {
		t.Fatalf("growing file event: %+v", ev)
	}
	grown := digestOf(t, grow)
	rep, err = d.Offload(context.Background(), bay)
	must(t, err)
	if !rep.Complete() {
		t.Errorf("second pass incomplete: %+v", rep.Files)
	}
	if exists(grow) {
		t.Fatal("the file that stopped growing was not released on the next pass")
	}
	if it, err := v.Item(grown); err != nil || it.Size != int64(430848+100<<10) {
		t.Fatalf("grown file in the vault: %+v %v", it, err)
	}
	if !exists(cut) {
		t.Fatal("truncated clip released on the second pass")
	}
	checkReleasedWereVerified(t, v)
	verifyVault(t, v)
}

func skippedHas(list []dock.Skipped, rel, reason string) bool {
	for _, s := range list {
		if s.Rel == rel && strings.Contains(s.Reason, reason) {
			return true
		}
	}
	return false
}

// The same clip on two cameras is one item in the vault with two
// offload records, one per camera.
func TestDuplicateAcrossTwoCameras(t *testing.T) {
	v := openVault(t, t.TempDir())
	d := newDock(t, v, dock.Config{Profiles: []dock.Profile{profile(dock.ReleaseAfterVerify)}}, nil)
	clip := []camFile{{rel: "DCIM/100BWC/SHARED.MP4", clip: "faces-walking.mp4", mtime: camClock}}
	a, b := filepath.Join(t.TempDir(), "bayA"), filepath.Join(t.TempDir(), "bayB")
	buildCamera(t, a, identity{Serial: "BWC-A", Officer: "PC-A"}, clip)
	buildCamera(t, b, identity{Serial: "BWC-B", Officer: "PC-B"}, clip)
	dg := digestOf(t, filepath.Join(a, clip[0].rel))
	for _, bay := range []string{a, b} {
		rep, err := d.Offload(context.Background(), bay)
		if err != nil || !rep.Complete() {
			t.Fatalf("offload %s: %v %+v", bay, err, rep)
		}
		if exists(filepath.Join(bay, clip[0].rel)) {
			t.Fatalf("%s: duplicate not released", bay)
		}
	}
	n := 0
	must(t, v.Items(func(evidence.Item) bool { n++; return true }))
	if n != 1 {
		t.Fatalf("%d items for one clip on two cameras", n)
	}
	evs, err := v.ItemEvents(dg)
	must(t, err)
	var serials []string
	for _, e := range evs {
		if e.Action == evidence.ActionFileOffloaded {
			serials = append(serials, e.Details["serial"]+"/"+e.Details["new"])
		}
	}
	if strings.Join(serials, ",") != "BWC-A/true,BWC-B/false" {
		t.Fatalf("file-offloaded events: %v (chain %v)", serials, actions(evs))
	}
	if !hasAction(actions(evs), evidence.ActionIngestedAgain) {
		t.Fatalf("no ingested-again: %v", actions(evs))
	}
	verifyVault(t, v)
}

// An identity file that is a link is not followed: the bay is refused and
// nothing in it is touched.
func TestLinkedIdentityFileIsRefused(t *testing.T) {
	v := openVault(t, t.TempDir())
	d := newDock(t, v, dock.Config{Profiles: []dock.Profile{profile(dock.ReleaseAfterVerify)}}, nil)
	outside := t.TempDir()
	writeIdentity(t, outside, identity{Serial: "BWC-STOLEN"})
	bay := filepath.Join(t.TempDir(), "bay10")
	writeCamFile(t, bay, camFile{rel: "DCIM/A.MP4", clip: "static-room.mp4", mtime: camClock})
	must(t, os.Symlink(filepath.Join(outside, "device.json"), filepath.Join(bay, "device.json")))
	_, err := d.Offload(context.Background(), bay)
	if err == nil || !strings.Contains(err.Error(), "device.json") {
		t.Fatalf("linked identity: %v", err)
	}
	if !exists(filepath.Join(bay, "DCIM/A.MP4")) {
		t.Fatal("a file of a refused bay was removed")
	}
	for _, e := range allEvents(t, v) {
		if e.Action != evidence.ActionKeyCreated {
			t.Fatalf("refused bay recorded %v", e.Action)
		}
	}
}
