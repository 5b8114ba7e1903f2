package firmware_test

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/edgetriage/edgetriage/firmware"
)

func TestConfigFromYAMLAndValidate(t *testing.T) {
	cfg := firmware.DefaultConfig()
	raw := `
vendors:
  - vendor: Acme
    public_key: "0000000000000000000000000000000000000000000000000000000000000000"
    models: [BWC-200, BWC-210]
min_battery: 60
rollout_per_day: 5
profiles:
  - model: BWC-200
    update_dir: UPDATE/FW
    image_name: FW.BIN
`
	if err := yaml.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	if cfg.MinBattery != 60 || len(cfg.Vendors[0].Models) != 2 || cfg.RolloutPerDay != 5 || cfg.Profiles[0].ImageName != "FW.BIN" || cfg.DefaultUpdateDir != "UPDATE" {
		t.Fatalf("decoded %+v", cfg)
	}

	bad := cfg
	bad.Vendors = []firmware.VendorKey{{Vendor: "", PublicKey: "abc"}}
	bad.MinBattery = 120
	bad.RolloutPerDay = -1
	bad.Profiles = []firmware.Profile{{Model: "X", UpdateDir: "../../etc"}, {Model: "X", UpdateDir: "/abs", ImageName: "a/b"}}
	err := bad.Validate()
	for _, key := range []string{"'firmware.vendors[0].vendor'", "'firmware.vendors[0].public_key'", "'firmware.vendors[0].models'", "'firmware.min_battery'",
		"'firmware.rollout_per_day'", "'firmware.profiles[0].update_dir'", "'firmware.profiles[1].model'", "'firmware.profiles[1].update_dir'", "'firmware.profiles[1].image_name'"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("error %v does not name %s", err, key)
		}
	}
}
