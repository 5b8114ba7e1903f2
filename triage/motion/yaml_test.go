package motion

import (
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
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
	if err := yaml.UnmarshalWithOptions([]byte(src), &cfg, yaml.Strict()); err != nil {
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
	err := yaml.UnmarshalWithOptions([]byte("sensitivty: 0.7\n"), &bad, yaml.Strict())
	if err == nil || !strings.Contains(err.Error(), "sensitivty") {
		t.Fatalf("unknown key: %v", err)
	}
}
