package dock_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/media"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/capture/dock"
)

const footage = "../../../testdata/footage"

// openVault opens a real vault with media probing, as the daemon does.
func openVault(t testing.TB, dir string) *vault.Vault {
	t.Helper()
	v, err := vault.Open(context.Background(), dir, vault.Options{Prober: media.Probe})
	if err != nil {
		t.Fatalf("open vault: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// openPlainVault opens a real vault without media probing, for tests whose
// large camera files are random bytes rather than video (a prober would
// rightly mark them undecodable, and the dock would keep them).
func openPlainVault(t testing.TB, dir string) *vault.Vault {
	t.Helper()
	v, err := vault.Open(context.Background(), dir, vault.Options{})
	if err != nil {
		t.Fatalf("open vault: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

func newDock(t testing.TB, v *vault.Vault, cfg dock.Config, ack dock.AckSource) *dock.Dock {
	t.Helper()
	d, err := dock.New(dock.Options{Config: cfg, Vault: v, State: v.State("dock"), Ack: ack})
	if err != nil {
		t.Fatalf("new dock: %v", err)
	}
	return d
}

func profile(release dock.ReleasePolicy) dock.Profile {
	p := dock.GenericMassStorage()
	p.Release = release
	return p
}

// camFile is one file of a simulated camera: its path in the bay, bytes
// from a footage clip (or literal content), and the camera's clock.
type camFile struct {
	rel     string
	clip    string // name in testdata/footage; empty: content
	content string
	mtime   time.Time
}

var camClock = time.Date(2026, 11, 27, 6, 30, 0, 0, time.UTC)

// standardCamera is a body camera after a shift: three clips in two
// folders, GPS tracks, bookmarks and metadata beside them, and a file the
// profile does not take.
func standardCamera() []camFile {
	return []camFile{
		{rel: "DCIM/100BWC/CLIP0001.MP4", clip: "parking-cars.mp4", mtime: camClock},
		{rel: "DCIM/100BWC/CLIP0001.GPX", content: gpx(1), mtime: camClock},
		{rel: "DCIM/100BWC/CLIP0001.BMK", content: "bookmark 00:00:03 pursuit\n", mtime: camClock},
		{rel: "DCIM/100BWC/CLIP0002.MP4", clip: "faces-walking.mp4", mtime: camClock.Add(10 * time.Minute)},
		{rel: "DCIM/100BWC/clip0002.json", content: `{"event":"stop","speed_kmh":0}`, mtime: camClock.Add(10 * time.Minute)},
		{rel: "DCIM/101BWC/CLIP0003.AVI", clip: "tree-nuisance.avi", mtime: camClock.Add(40 * time.Minute)},
		{rel: "MISC/LOG.TXT", content: "power on\npower off\n", mtime: camClock},
	}
}

func gpx(n int) string {
	return fmt.Sprintf(`<?xml version="1.0"?><gpx version="1.1"><trk><name>track %d</name><trkseg><trkpt lat="51.5" lon="-0.12"/></trkseg></trk></gpx>`, n)
}

type identity struct {
	Serial   string `json:"serial"`
	Model    string `json:"model"`
	Firmware string `json:"firmware"`
	Battery  int    `json:"battery"`
	Officer  string `json:"officer"`
}

// buildCamera writes the identity file and files into bay.
func buildCamera(t testing.TB, bay string, id identity, files []camFile) {
	t.Helper()
	writeIdentity(t, bay, id)
	for _, f := range files {
		writeCamFile(t, bay, f)
	}
}

func writeIdentity(t testing.TB, bay string, id identity) {
	t.Helper()
	raw, _ := json.Marshal(id)
	must(t, os.MkdirAll(bay, 0o755))
	must(t, os.WriteFile(filepath.Join(bay, "device.json"), raw, 0o644))
}

func writeCamFile(t testing.TB, bay string, f camFile) {
	t.Helper()
	p := filepath.Join(bay, filepath.FromSlash(f.rel))
	must(t, os.MkdirAll(filepath.Dir(p), 0o755))
	if f.clip != "" {
		raw, err := os.ReadFile(filepath.Join(footage, f.clip))
		must(t, err)
		must(t, os.WriteFile(p, raw, 0o644))
	} else {
		must(t, os.WriteFile(p, []byte(f.content), 0o644))
	}
	must(t, os.Chtimes(p, f.mtime, f.mtime))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func digestOf(t testing.TB, path string) evidence.Digest {
	t.Helper()
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	d, _, err := evidence.DigestOf(f)
	must(t, err)
	return d
}

// fileDigests hashes every file of a camera before it is docked.
func fileDigests(t testing.TB, bay string, files []camFile) map[string]evidence.Digest {
	out := map[string]evidence.Digest{}
	for _, f := range files {
		out[f.rel] = digestOf(t, filepath.Join(bay, filepath.FromSlash(f.rel)))
	}
	return out
}

// allEvents returns the whole custody chain.
func allEvents(t testing.TB, v *vault.Vault) []evidence.CustodyEvent {
	t.Helper()
	var out []evidence.CustodyEvent
	must(t, v.Events(1, func(e evidence.CustodyEvent) bool { out = append(out, e); return true }))
	return out
}

func actions(events []evidence.CustodyEvent) []evidence.Action {
	var out []evidence.Action
	for _, e := range events {
		out = append(out, e.Action)
	}
	return out
}

// itemActions lists the actions of d's custody events, in chain order.
func itemActions(t testing.TB, v *vault.Vault, d evidence.Digest) []evidence.Action {
	t.Helper()
	evs, err := v.ItemEvents(d)
	must(t, err)
	return actions(evs)
}

// eventsFor returns the events with action a, optionally about one camera path.
func eventsFor(events []evidence.CustodyEvent, a evidence.Action, cameraPath string) []evidence.CustodyEvent {
	var out []evidence.CustodyEvent
	for _, e := range events {
		if e.Action == a && (cameraPath == "" || e.Details["camera_path"] == cameraPath) {
			out = append(out, e)
		}
	}
	return out
}

func verifyVault(t testing.TB, v *vault.Vault) {
	t.Helper()
	r, err := v.Verify(context.Background(), vault.VerifyOptions{})
	must(t, err)
	if !r.OK() {
		t.Fatalf("vault verify: %v", r.Findings)
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func bayState(d *dock.Dock, bay string) (dock.BayProgress, bool) {
	for _, b := range d.Progress().Bays {
		if b.Bay == bay {
			return b, true
		}
	}
	return dock.BayProgress{}, false
}

// runDock starts d.Run and stops it when the test ends.
func runDock(t testing.TB, d *dock.Dock) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dock run: %v", err)
		}
	})
}

// slowReader paces reads like a camera on a USB 2 link, so a test can act
// while a copy is under way without needing a huge file.
type slowReader struct {
	r     io.Reader
	pause time.Duration
}

func (s slowReader) Read(p []byte) (int, error) {
	time.Sleep(s.pause)
	return s.r.Read(p)
}

func hasAction(list []evidence.Action, a evidence.Action) bool { return slices.Contains(list, a) }

func isSub(seq, want []evidence.Action) bool {
	i := 0
	for _, a := range seq {
		if i < len(want) && a == want[i] {
			i++
		}
	}
	return i == len(want)
}
