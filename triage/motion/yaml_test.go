package motion

import (
	"bytes"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestConfigFromStrictYAML is how the daemon will read a camera's motion
// section: strict YAML, durations as text, coordinates 0..1.
func TestConfigFromStrictYAML(t *testing.T) {
	src := `
sensitivity: 0.7
min_event_length: 1.5s
merge_gap: 4s
work_height: 120
masks:
  - [{x: 0.7, y: 0}, {x: 1, y: 0}, {x: 1, y: 0.5}]
zones:
  - name: cell-door
    polygon: [{x: 0, y: 0.5}, {x: 0.3, y: 0.5}, {x: 0.3, y: 1}, {x: 0, y: 1}]
`
	cfg := DefaultConfig()
	if err := strictYAML(src, &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.MinEventLength.D().Seconds() != 1.5 || cfg.MergeGap.D().Seconds() != 4 || cfg.Zones[0].Name != "cell-door" ||
		len(cfg.Masks[0]) != 3 || cfg.WorkHeight != 120 || !strings.Contains(mustJSON(t, cfg), `"merge_gap":"4s"`) {
		t.Fatalf("parsed %+v", cfg)
	}
	bad := DefaultConfig()
	err := strictYAML("sensitivty: 0.7\n", &bad)
	if err == nil || !strings.Contains(err.Error(), "sensitivty") {
		t.Fatalf("unknown key: %v", err)
	}
}

// strictYAML decodes src into out refusing unknown keys, as the daemon's
// config loader does.
func strictYAML(src string, out any) error {
	dec := yaml.NewDecoder(bytes.NewReader([]byte(src)))
	dec.KnownFields(true)
	return dec.Decode(out)
}
