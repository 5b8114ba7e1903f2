package dock_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/capture/dock"
	"github.com/edgetriage/edgetriage/testkit"
)

// Bays are named after the physical USB port, whatever the device calls
// itself: the same slot gives the same name through any hub interface or
// SCSI LUN, the rack's own names win, and a port not named still gets a
// stable name of its own.
func TestBayNameFollowsThePort(t *testing.T) {
	names := map[string]string{"pci-0000:00:14.0-usb-0:3.2": "3"}
	for idPath, want := range map[string]string{
		"pci-0000:00:14.0-usb-0:3.2:1.0-scsi-0:0:0:0": "3",
		"pci-0000:00:14.0-usb-0:3.2:1.0-scsi-0:0:0:1": "3",
		"pci-0000:00:14.0-usb-0:3.2":                  "3",
		"pci-0000:00:14.0-usb-0:3.1:1.0-scsi-0:0:0:0": "bay-usb-0000.00.14.0-3.1",
		"pci-0000:00:14.0-usb-0:3:1.0-scsi-0:0:0:0":   "bay-usb-0000.00.14.0-3",
		"pci-0000:03:00.0-usb-0:3.2:1.0-scsi-0:0:0:0": "bay-usb-0000.03.00.0-3.2", // another controller
	} {
		got, err := dock.BayName(idPath, names)
		if err != nil || got != want {
			t.Errorf("BayName(%q) = %q, %v; want %q", idPath, got, err, want)
		}
	}
	for _, bad := range []string{"", "pci-0000:00:1f.2-ata-1", "../../etc", "usb"} {
		if name, err := dock.BayName(bad, nil); err == nil {
			t.Errorf("BayName(%q) = %q, want an error", bad, name)
		}
	}
}

// udevadm's properties give the port, the label as the device has it (not
// the mount point), the UUID and the USB serial.
func TestVolumeFromUdevProperties(t *testing.T) {
	props, err := dock.ParseUdevProperties(strings.NewReader(`DEVNAME=/dev/sdb1
ID_PATH=pci-0000:00:14.0-usb-0:3.2:1.0-scsi-0:0:0:0
ID_FS_LABEL=BWC3_0042
ID_FS_LABEL_ENC=BWC3_0042
ID_FS_UUID=4A1B-22C3
ID_FS_TYPE=vfat
ID_SERIAL_SHORT=0123456789AB
ID_VENDOR=Acme
ID_MODEL=BWC3
`))
	if err != nil {
		t.Fatal(err)
	}
	vol, err := dock.VolumeFromUdev(props)
	if err != nil {
		t.Fatal(err)
	}
	want := dock.Volume{Port: "pci-0000:00:14.0-usb-0:3.2", Label: "BWC3_0042", UUID: "4A1B-22C3", FSType: "vfat",
		Serial: "0123456789AB", Vendor: "Acme", Model: "BWC3"}
	if vol != want {
		t.Fatalf("volume %+v, want %+v", vol, want)
	}
	if _, err := dock.VolumeFromUdev(map[string]string{"ID_FS_LABEL": "x"}); err == nil {
		t.Fatal("a device with no USB port was accepted")
	}
}

func TestBaysConfigIsValidated(t *testing.T) {
	for bays, want := range map[string]map[string]string{
		"not a USB port": {"pci-0000:00:1f.2-ata-1": "1"},
		"with interface": {"pci-0000:00:14.0-usb-0:3.2:1.0": "1"},
		"bad name":       {"pci-0000:00:14.0-usb-0:3.2": "../1"},
		"empty bay name": {"pci-0000:00:14.0-usb-0:3.2": ""},
	} {
		if err := (dock.Config{Bays: want}).Validate(); err == nil || !strings.Contains(err.Error(), "'bays'") {
			t.Errorf("%s: %v", bays, err)
		}
	}
	if err := (dock.Config{Bays: map[string]string{"pci-0000:00:14.0-usb-0:3.2": "3"}}).Validate(); err != nil {
		t.Fatal(err)
	}
}

// A camera with no descriptor is identified by its volume label as udev
// read it from the device, not by the folder it is mounted on.
func TestVolumeLabelIsReadFromTheDevice(t *testing.T) {
	root := filepath.Join(t.TempDir(), "dock")
	volumes := t.TempDir()
	v := openVault(t, t.TempDir())
	p := profile(dock.ReleaseNever)
	p.Identity.VolumeLabels = map[string]dock.Device{"BWC3_0042": {Serial: "0042", Model: "BWC3", Officer: "PC 7"}}
	d := newDock(t, v, dock.Config{Root: root, VolumeDir: volumes, Profiles: []dock.Profile{p}}, nil)
	bay := filepath.Join(root, "3")
	writeCamFile(t, bay, camFile{rel: "DCIM/100CAM/CLIP0001.MP4", clip: "static-room.mp4", mtime: camClock})
	must(t, dock.WriteVolume(volumes, "3", dock.Volume{Port: "pci-0000:00:14.0-usb-0:3.2", Label: "BWC3_0042"}))
	rep, err := d.Offload(context.Background(), bay)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Device.Serial != "0042" || rep.Device.Officer != "PC 7" || rep.Device.Unidentified() {
		t.Fatalf("identified as %+v", rep.Device)
	}
	// A folder named like the label proves nothing once udev speaks.
	named := filepath.Join(root, "BWC3_0042")
	writeCamFile(t, named, camFile{rel: "DCIM/100CAM/CLIP0009.MP4", clip: "faces-walking.mp4", mtime: camClock})
	must(t, dock.WriteVolume(volumes, "BWC3_0042", dock.Volume{Port: "pci-0000:00:14.0-usb-0:3.1", Label: "OTHER", Serial: "SN9"}))
	rep, err = d.Offload(context.Background(), named)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Device.Serial != "usb-SN9" {
		t.Fatalf("folder name taken for the label: %+v", rep.Device)
	}
}

// A camera that describes nothing (DCIM/ only) is offloaded, not refused:
// identified by its USB serial, else its volume UUID, else its bay; every
// item is marked unidentified; nothing is released even where the profile
// would; the custody events say how it was told apart.
func TestCameraThatDescribesNothingIsOffloadedUnidentified(t *testing.T) {
	for _, tc := range []struct {
		name, serial, by string
		vol              *dock.Volume
	}{
		{"usb serial", "usb-0123456789AB", dock.IdentifiedByUSBSerial, &dock.Volume{Port: "pci-0000:00:14.0-usb-0:1", Serial: "0123456789AB", UUID: "4A1B-22C3"}},
		{"volume uuid", "uuid-4A1B-22C3", dock.IdentifiedByVolumeUUID, &dock.Volume{Port: "pci-0000:00:14.0-usb-0:1", UUID: "4A1B-22C3"}},
		{"bay", "bay-2", dock.IdentifiedByBay, nil},
		{"hostile serial", "usb-.._.._etc_passwd", dock.IdentifiedByUSBSerial, &dock.Volume{Port: "pci-0000:00:14.0-usb-0:1", Serial: "../../etc/passwd"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "dock")
			volumes := t.TempDir()
			v := openVault(t, t.TempDir())
			d := newDock(t, v, dock.Config{Root: root, VolumeDir: volumes, RescanInterval: 50 * time.Millisecond,
				Profiles: []dock.Profile{profile(dock.ReleaseAfterVerify)}}, nil)
			bay := filepath.Join(root, "2")
			if tc.vol != nil {
				must(t, dock.WriteVolume(volumes, "2", *tc.vol))
			}
			clip := filepath.Join(bay, "DCIM/100CAM/CLIP0001.MP4")
			writeCamFile(t, bay, camFile{rel: "DCIM/100CAM/CLIP0001.MP4", clip: "static-room.mp4", mtime: camClock})
			runDock(t, d)
			testkit.WaitFor(t, "the unidentified camera's offload", 30*time.Second, func() bool {
				b, _ := bayState(d, "2")
				return b.State == dock.BayDone
			})
			if !exists(clip) {
				t.Fatal("an unidentified camera's file was released")
			}
			dg := digestOf(t, clip)
			it, err := v.Item(dg)
			if err != nil {
				t.Fatal(err)
			}
			if it.Source != tc.serial || it.Labels[dock.LabelUnidentified] != tc.by {
				t.Fatalf("item source %q labels %v; want %s by %s", it.Source, it.Labels, tc.serial, tc.by)
			}
			docked := eventsFor(allEvents(t, v), evidence.ActionDocked, "")
			if len(docked) != 1 || docked[0].Details["unidentified"] != "true" || docked[0].Details["identified_by"] != tc.by {
				t.Fatalf("docked events %v", docked)
			}
			verifyVault(t, v)
		})
	}
}

func TestVolumeRecordsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if _, ok, err := dock.ReadVolume(dir, "1"); ok || err != nil {
		t.Fatalf("no record: %v %v", ok, err)
	}
	want := dock.Volume{Port: "pci-0000:00:14.0-usb-0:1", Label: "CAM"}
	must(t, dock.WriteVolume(dir, "1", want))
	got, ok, err := dock.ReadVolume(dir, "1")
	if !ok || err != nil || got != want {
		t.Fatalf("read %+v %v %v", got, ok, err)
	}
	must(t, dock.RemoveVolume(dir, "1"))
	if _, ok, _ := dock.ReadVolume(dir, "1"); ok {
		t.Fatal("record left after remove")
	}
	if err := dock.WriteVolume(dir, "../x", want); err == nil {
		t.Fatal("a bay name with a path in it was written")
	}
	os.WriteFile(filepath.Join(dir, "2.json"), []byte("{not json"), 0o644)
	if _, _, err := dock.ReadVolume(dir, "2"); err == nil || !strings.Contains(err.Error(), "bay 2") {
		t.Fatalf("broken record: %v", err)
	}
}

// Parsers of what udev and the volume records say get fuzzed: nothing
// panics, and a bay name that comes out is always a usable one.
func FuzzBayName(f *testing.F) {
	f.Add("pci-0000:00:14.0-usb-0:3.2:1.0-scsi-0:0:0:0")
	f.Add("platform-xhci-hcd.1.auto-usb-0:1.4:1.0-scsi-0:0:0:0")
	f.Add("-usb-0:1")
	f.Fuzz(func(t *testing.T, idPath string) {
		name, err := dock.BayName(idPath, nil)
		if err != nil {
			return
		}
		if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." || len(name) > 64 {
			t.Fatalf("BayName(%q) = %q", idPath, name)
		}
	})
}

func FuzzParseUdevProperties(f *testing.F) {
	f.Add("ID_PATH=pci-0000:00:14.0-usb-0:3.2:1.0-scsi-0:0:0:0\nID_FS_LABEL=X\n")
	f.Fuzz(func(t *testing.T, text string) {
		props, err := dock.ParseUdevProperties(strings.NewReader(text))
		if err != nil {
			return
		}
		if vol, err := dock.VolumeFromUdev(props); err == nil && vol.Port == "" {
			t.Fatalf("volume without a port from %q", text)
		}
	})
}
