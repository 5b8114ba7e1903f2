package dock_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/edgetriage/edgetriage/capture/dock"
)

// The profile example of the package doc parses strictly and validates.
const exampleConfig = `
dock:
  root: /media/dock
  rescan_interval: 3s
  retry_interval: 1m
  max_concurrent_copies: 2
  profiles:
    - name: acme-bwc3
      videos: ["DCIM/**/*.MP4", "RECORD/*.MOV"]
      sidecars: [".GPX", ".BMK"]
      ready: ["DCIM"]
      identity:
        files: ["SYSTEM/DEVINFO.JSON"]
        fields: {serial: sn, officer: badge}
        volume_labels:
          BWC3_0042: {serial: "0042", model: BWC3}
      release: after-verify
      release_marked: false
`

func parseConfig(t *testing.T, raw string) (dock.Config, error) {
	t.Helper()
	var c struct {
		Dock dock.Config `yaml:"dock"`
	}
	dec := yaml.NewDecoder(bytes.NewReader([]byte(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return c.Dock, err
	}
	c.Dock.Defaults()
	return c.Dock, c.Dock.Validate()
}

func TestConfigExampleParsesAndValidates(t *testing.T) {
	c, err := parseConfig(t, exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	p := c.Profiles[0]
	if c.RescanInterval != 3*time.Second || c.MaxConcurrentCopies != 2 || p.Release != dock.ReleaseAfterVerify ||
		p.Identity.Fields.Serial != "sn" || p.Identity.VolumeLabels["BWC3_0042"].Model != "BWC3" {
		t.Fatalf("parsed %+v", c)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	for bad, want := range map[string]string{
		strings.Replace(exampleConfig, "release: after-verify", "release: sometimes", 1):                       "'release'",
		strings.Replace(exampleConfig, `videos: ["DCIM/**/*.MP4", "RECORD/*.MOV"]`, `videos: ["../*.MP4"]`, 1): "'videos'",
		strings.Replace(exampleConfig, `sidecars: [".GPX", ".BMK"]`, `sidecars: ["GPX"]`, 1):                   "'sidecars'",
		strings.Replace(exampleConfig, `{serial: "0042", model: BWC3}`, `{model: BWC3}`, 1):                    "'volume_labels'",
		strings.Replace(exampleConfig, "rescan_interval: 3s", "rescan_intervl: 3s", 1):                         "rescan_intervl",
	} {
		if _, err := parseConfig(t, bad); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want an error naming %s, got %v", want, err)
		}
	}
}

// A profile's identity can come from a mapped volume label or an INI
// descriptor in a sub-directory, with its own key names.
func TestIdentityFromLabelAndINI(t *testing.T) {
	c, err := parseConfig(t, exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	v := openVault(t, t.TempDir())
	d := newDock(t, v, c, nil)
	labelled := t.TempDir() + "/BWC3_0042"
	writeCamFile(t, labelled, camFile{rel: "DCIM/A.MP4", clip: "static-room.mp4", mtime: camClock})
	rep, err := d.Offload(t.Context(), labelled)
	if err != nil || rep.Device.Serial != "0042" || rep.Device.Model != "BWC3" || len(rep.Files) != 1 {
		t.Fatalf("labelled camera: %v %+v", err, rep)
	}
	ini := t.TempDir() + "/bay9"
	writeCamFile(t, ini, camFile{rel: "system/devinfo.json", content: `{"sn": "X-77", "badge": "PC-77", "model": "BWC3"}`, mtime: camClock})
	writeCamFile(t, ini, camFile{rel: "RECORD/B.MOV", clip: "faces-walking.mp4", mtime: camClock})
	writeCamFile(t, ini, camFile{rel: "DCIM/.keep", content: "", mtime: camClock})
	rep, err = d.Offload(t.Context(), ini)
	if err != nil || rep.Device.Serial != "X-77" || rep.Device.Officer != "PC-77" || len(rep.Files) != 1 || rep.Files[0].Item.Officer != "PC-77" {
		t.Fatalf("descriptor camera: %v %+v", err, rep)
	}
}
