package config

import (
	"os"
	"strings"
	"testing"
)

// The configuration is the one input an admin writes; a typo must give a
// clear error, never a panic, however the YAML or the environment reads.
func FuzzParse(f *testing.F) {
	for _, p := range []string{"../../configs/station.example.yaml"} {
		if raw, err := os.ReadFile(p); err == nil {
			f.Add(raw, "EDGETRIAGE_HTTP_ADDR=127.0.0.1:9000")
		}
	}
	f.Add([]byte("data_dir: ./d\nhttp: {addr: ':0'}\nretention: {high_watermark_percent: 101}\n"), "EDGETRIAGE_LOG_LEVEL=loud")
	f.Add([]byte("cameras:\n  - id: a\n    url: rtsp://x/y\n  - id: a\n"), "")
	f.Add([]byte("&a [*a, *a]"), "EDGETRIAGE_NOPE=1")
	f.Fuzz(func(t *testing.T, raw []byte, env string) {
		cfg := Default()
		if err := Parse(raw, &cfg); err != nil {
			return
		}
		if err := applyEnv(&cfg, strings.Split(env, "\n")); err != nil {
			return
		}
		cfg.deriveDefaults()
		_ = cfg.Validate()
	})
}
