package dock_test

import (
	"strings"
	"testing"

	"github.com/edgetriage/edgetriage/capture/dock"
)

func udevProps(fstype string) map[string]string {
	return map[string]string{"ID_PATH": "pci-0000:00:14.0-usb-0:3.2:1.0-scsi-0:0:0:0", "ID_FS_TYPE": fstype,
		"ID_FS_LABEL": "NOT_BAY_9", "ID_SERIAL_SHORT": "0123456789AB"}
}

// A docked camera is mounted in the bay of its port, never one named after
// its label, with its files owned by the daemon's user and nothing on it
// executable; a device that is not a camera's file system is refused by
// what it is.
func TestPlanMountUsesThePortAndTheDaemonsUser(t *testing.T) {
	names := map[string]string{"pci-0000:00:14.0-usb-0:3.2": "3"}
	m, err := dock.PlanMount("/media/edgetriage/dock", udevProps("vfat"), names, 998, 997)
	if err != nil {
		t.Fatal(err)
	}
	if m.Bay != "3" || m.Target != "/media/edgetriage/dock/3" || m.FSType != "vfat" || m.Volume.Label != "NOT_BAY_9" {
		t.Errorf("plan %+v", m)
	}
	if m.Options != "uid=998,gid=997,fmask=0137,dmask=0027" {
		t.Errorf("mount options %q", m.Options)
	}
	if m, err := dock.PlanMount("/d", udevProps("ntfs"), nil, 1, 1); err != nil || m.FSType != "ntfs3" || m.Bay != "bay-usb-0000.00.14.0-3.2" {
		t.Errorf("ntfs plan %+v, %v", m, err)
	}
	for _, fstype := range []string{"ext4", "", "crypto_LUKS"} {
		if _, err := dock.PlanMount("/d", udevProps(fstype), nil, 1, 1); err == nil || !strings.Contains(err.Error(), `"`+fstype+`"`) {
			t.Errorf("%q file system: %v", fstype, err)
		}
	}
	noPort := udevProps("vfat")
	noPort["ID_PATH"] = "pci-0000:00:1f.2-ata-1"
	if _, err := dock.PlanMount("/d", noPort, nil, 1, 1); err == nil {
		t.Error("a device on no USB port was planned a bay")
	}
	if _, err := dock.PlanMount("/d", udevProps("vfat"), map[string]string{"pci-0000:00:14.0-usb-0:3.2": "../etc"}, 1, 1); err == nil {
		t.Error("a bay name with a path in it was accepted")
	}
}

const mountinfo = `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
98 22 8:17 / /media/edgetriage/dock/3 rw,nosuid,nodev,noexec shared:50 - vfat /dev/sdb1 rw,uid=998
99 22 8:33 / /media/edgetriage/dock/bay\040two rw - vfat /dev/sdc1 rw
100 22 8:49 / /mnt/elsewhere rw - vfat /dev/sdd1 rw
101 22 8:65 / /media/edgetriage/dock/4/deeper rw - vfat /dev/sde1 rw
`

// Unmounting finds the bay from the mount table, the device being gone
// already: only a bay directly under the dock root counts.
func TestBayOfDeviceReadsTheMountTable(t *testing.T) {
	for device, want := range map[string]string{"/dev/sdb1": "3", "/dev/sdd1": "", "/dev/sde1": "", "/dev/sdz1": "", "/dev/sdc1": ""} {
		bay, ok, err := dock.BayOfDevice(strings.NewReader(mountinfo), "/media/edgetriage/dock/", device)
		if err != nil || bay != want || ok != (want != "") {
			t.Errorf("BayOfDevice(%s) = %q, %v, %v; want %q", device, bay, ok, err, want)
		}
	}
}

func FuzzBayOfDevice(f *testing.F) {
	f.Add(mountinfo, "/dev/sdb1")
	f.Add(`1 2 3:4 / /r/a\04 - vfat \1 rw`, `\1`)
	f.Fuzz(func(t *testing.T, table, device string) {
		bay, ok, err := dock.BayOfDevice(strings.NewReader(table), "/r", device)
		if err == nil && ok && (bay == "" || strings.ContainsAny(bay, "/ ") || bay == ".." || bay == ".") {
			t.Fatalf("bay %q from %q", bay, table)
		}
	})
}
