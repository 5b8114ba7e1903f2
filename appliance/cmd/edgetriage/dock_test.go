package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgetriage/edgetriage/capture/dock"
)

// The dock command as the package's units run it, as far as a machine
// without USB cameras allows: ports lists what mount recorded, unmount of a
// device in no bay changes nothing and says so, and mount refuses a config
// that would leave the daemon without the device's identity.
func TestDockCommandPortsAndRefusals(t *testing.T) {
	dir := t.TempDir()
	root, volumes := filepath.Join(dir, "dock"), filepath.Join(dir, "run")
	os.Mkdir(root, 0o755)
	cfg := filepath.Join(dir, "station.yaml")
	os.WriteFile(cfg, []byte("dock:\n  root: "+root+"\n  volume_dir: "+volumes+"\n"), 0o644)

	if r := run(t, "dock", "ports", "--config", cfg); r.code != 0 || !strings.Contains(r.stdout, "no camera is docked") {
		t.Errorf("ports with nothing docked: %+v", r)
	}
	vol := dock.Volume{Port: "pci-0000:00:14.0-usb-0:3.2", Label: "BWC3_0042", Serial: "0123456789AB"}
	if err := dock.WriteVolume(volumes, "3", vol); err != nil {
		t.Fatal(err)
	}
	r := run(t, "dock", "ports", "--config", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, "3 ") || !strings.Contains(r.stdout, "port pci-0000:00:14.0-usb-0:3.2") || !strings.Contains(r.stdout, `serial "0123456789AB"`) {
		t.Errorf("ports: %+v", r)
	}
	if r := run(t, "dock", "unmount", "--config", cfg, "/dev/sdz9"); r.code != 0 || !strings.Contains(r.stdout, "not mounted in a bay") {
		t.Errorf("unmount of a device in no bay: %+v", r)
	}
	if _, ok, _ := dock.ReadVolume(volumes, "3"); !ok {
		t.Error("unmount of another device removed bay 3's record")
	}
	noVolumes := filepath.Join(dir, "no-volumes.yaml")
	os.WriteFile(noVolumes, []byte("dock:\n  root: "+root+"\n"), 0o644)
	if r := run(t, "dock", "mount", "--config", noVolumes, "/dev/sdz9"); r.code != 1 || !strings.Contains(r.stderr, "dock.volume_dir is not set") {
		t.Errorf("mount without volume_dir: %+v", r)
	}
	for _, args := range [][]string{{"dock"}, {"dock", "eject", "--config", cfg}, {"dock", "mount", "--config", cfg}} {
		if r := run(t, args...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", args, r.code, r.stderr)
		}
	}
}
