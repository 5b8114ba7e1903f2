package appliance

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/config"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/pipeline"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/capture/dock"
	"github.com/edgetriage/edgetriage/firmware"
	"github.com/edgetriage/edgetriage/testkit"
)

// dockCamera builds a docked body camera in bay: real clips under DCIM, a
// GPS sidecar, and the identity file the generic profile reads.
func dockCamera(t *testing.T, root, bay, serial string, clips ...string) {
	t.Helper()
	staging := filepath.Join(t.TempDir(), bay)
	dcim := filepath.Join(staging, "DCIM", "100BWC")
	if err := os.MkdirAll(dcim, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, c := range clips {
		raw, err := os.ReadFile(filepath.Join(testFootage, c))
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Join(dcim, "CLIP000"+string(rune('1'+i)))
		os.WriteFile(name+".MP4", raw, 0o644)
		os.WriteFile(name+".GPX", []byte("<gpx><trk><name>"+c+"</name></trk></gpx>"), 0o644)
	}
	id := `{"serial":"` + serial + `","model":"BWC-3","firmware":"1.2.0","battery":"80","officer":"PC 4711"}`
	os.WriteFile(filepath.Join(staging, "device.json"), []byte(id), 0o644)
	// Arrives whole, as a mount does.
	if err := os.Rename(staging, filepath.Join(root, bay)); err != nil {
		t.Fatal(err)
	}
}

func TestDockedCameraIsOffloadedAndSentCentral(t *testing.T) {
	var dockRoot, central string
	d, base := startDaemon(t, func(c *config.Config) {
		dockRoot, central = c.Dock.Root, c.Sync.Filesystem.Root
		c.Dock.RescanInterval = 200 * time.Millisecond
	})
	dockCamera(t, dockRoot, "bay-1", "BWC3-000123", "faces-walking.mp4", "store-aisle.mp4")
	testkit.WaitFor(t, "bay-1 to finish offloading", 60*time.Second, func() bool {
		for _, b := range d.DockStatus().Bays {
			if b.Bay == "bay-1" && b.State == dock.BayDone {
				return true
			}
		}
		return false
	})
	var videos []evidence.Item
	d.vault.Items(func(it evidence.Item) bool {
		if it.Kind == evidence.KindVideo {
			videos = append(videos, it)
		}
		return true
	})
	if len(videos) != 2 {
		t.Fatalf("%d videos offloaded, want 2", len(videos))
	}
	for _, v := range videos {
		if v.Source != "BWC3-000123" || v.Officer != "PC 4711" || v.Labels["origin"] != "dock" {
			t.Errorf("offloaded item %+v", v)
		}
	}
	// Every body-worn clip goes to central storage by default.
	testkit.WaitFor(t, "both clips to reach central storage", 60*time.Second, func() bool {
		for _, v := range videos {
			if _, err := os.Stat(filepath.Join(central, "evidence", v.Digest.String()[:2], v.Digest.String())); err != nil {
				return false
			}
		}
		return true
	})
	_, metrics := get(t, base+"/metrics", "")
	if n := metricValue(t, metrics, `edgetriage_dock_read_bytes_total`); n < float64(videos[0].Size) {
		t.Errorf("offload bytes metric %v", n)
	}
	if metricValue(t, metrics, `edgetriage_dock_bay_state{bay="bay-1",state="done"}`) != 1 {
		t.Error("bay state metric")
	}
	rep, err := d.vault.Verify(context.Background(), vault.VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %v %v", rep.Findings, err)
	}
}

// A rack of cameras docked at the end of a shift must not take the vault
// disk from the cameras recording onto it: reads off cameras, all bays
// together, are held to dock.read_bytes_per_second.
func TestDockReadsAreHeldToTheConfiguredRate(t *testing.T) {
	const perSecond = 1 << 20
	var dockRoot string
	d, _ := startDaemon(t, func(c *config.Config) {
		dockRoot = c.Dock.Root
		c.Dock.RescanInterval = 100 * time.Millisecond
		c.Dock.ReadBytesPerSecond = perSecond
	})
	dockCamera(t, dockRoot, "bay-1", "BWC3-000201", "parking-cars.mp4")
	dockCamera(t, dockRoot, "bay-2", "BWC3-000202", "store-aisle.mp4")
	start := time.Now()
	var total int64
	testkit.WaitFor(t, "both bays to finish offloading", 2*time.Minute, func() bool {
		done, bytes := 0, int64(0)
		for _, b := range d.DockStatus().Bays {
			if b.State == dock.BayDone {
				done++
				bytes += b.Total
			}
		}
		total = bytes
		return done == 2
	})
	took := time.Since(start)
	// The limiter lets a tenth of a second's worth through at once.
	least := time.Duration(float64(total-perSecond/10) / perSecond * float64(time.Second))
	if total < 3<<20 || took < least {
		t.Fatalf("%d bytes read off two cameras in %v; a cap of %d bytes/s needs at least %v", total, took, perSecond, least)
	}
	t.Logf("%d bytes in %v under a cap of %d bytes/s", total, took.Round(time.Millisecond), perSecond)
}

func TestDockedCameraGetsStagedFirmwareAfterOffload(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	var dockRoot string
	d, _ := startDaemon(t, func(c *config.Config) {
		dockRoot = c.Dock.Root
		c.Dock.RescanInterval = 200 * time.Millisecond
		c.Firmware.Vendors = []firmware.VendorKey{{Vendor: "acme", PublicKey: hex.EncodeToString(pub), Models: []string{"BWC-3"}}}
	})
	image := bytes.Repeat([]byte("firmware image 1.3.0 "), 4096)
	pkg := filepath.Join(t.TempDir(), "bwc3-1.3.0.fwpkg")
	f, _ := os.Create(pkg)
	err := firmware.BuildPackage(f, firmware.FormatTar, firmware.Manifest{Vendor: "acme", Models: []string{"BWC-3"},
		Version: "1.3.0", Image: "bwc3.bin"}, image, priv)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.firmware.ImportFile(context.Background(), pkg, "user:admin"); err != nil {
		t.Fatal(err)
	}
	dockCamera(t, dockRoot, "bay-2", "BWC3-000777", "static-room.mp4")
	written := filepath.Join(dockRoot, "bay-2", "UPDATE", "bwc3.bin")
	testkit.WaitFor(t, "the image to be written to the camera and recorded", 60*time.Second, func() bool {
		got, err := os.ReadFile(written)
		sts, _ := d.FirmwareStatus()
		return err == nil && bytes.Equal(got, image) && len(sts) == 1
	})
	sts, err := d.FirmwareStatus()
	if err != nil || len(sts) != 1 || sts[0].Serial != "BWC3-000777" || sts[0].To != "1.3.0" {
		t.Fatalf("firmware status %+v %v", sts, err)
	}
}

func TestFlaggedClipIsRedactedAndSent(t *testing.T) {
	var central string
	d, _ := startDaemon(t, func(c *config.Config) { central = c.Sync.Filesystem.Root })
	ctx := context.Background()
	master, _, err := d.vault.IngestFile(ctx, filepath.Join(testFootage, "faces-walking.mp4"), evidence.Intake{Source: "corridor"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pipeline.Flag(ctx, d.vault, master.Digest, "user:sgt", "assault reported 14:02"); err != nil {
		t.Fatal(err)
	}
	var redacted evidence.Item
	testkit.WaitFor(t, "a redacted copy of the flagged clip", 120*time.Second, func() bool {
		found := false
		d.vault.Items(func(it evidence.Item) bool {
			if it.Parent == master.Digest && it.Relation == "redacted" {
				redacted, found = it, true
				return false
			}
			return true
		})
		return found
	})
	if redacted.Media.VideoCodec != "h264" || redacted.Size == 0 {
		t.Fatalf("redacted copy %+v", redacted)
	}
	testkit.WaitFor(t, "the flagged master to reach central storage", 60*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(central, "evidence", master.Digest.String()[:2], master.Digest.String()))
		return err == nil
	})
	if after, _ := d.vault.Item(master.Digest); after.Size != master.Size || after.Digest != master.Digest {
		t.Fatal("master changed")
	}
}
