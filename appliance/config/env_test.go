package config

import (
	"encoding"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/triage/motion"
)

// One override per scalar type the configuration holds, read back through
// Load as the daemon does, and a bad value of each refused with the
// variable's name.
func TestEnvironmentOverridesEachType(t *testing.T) {
	cases := []struct {
		kind, env, bad string
		check          func(Config) bool
	}{
		{"string", "EDGETRIAGE_DATA_DIR=/srv/evidence", "", func(c Config) bool { return c.DataDir == "/srv/evidence" }},
		{"bool", "EDGETRIAGE_METRICS_ENABLED=false", "EDGETRIAGE_METRICS_ENABLED=maybe", func(c Config) bool { return !c.Metrics.Enabled }},
		{"int", "EDGETRIAGE_DOCK_MAX_CONCURRENT_COPIES=3", "EDGETRIAGE_DOCK_MAX_CONCURRENT_COPIES=3.5",
			func(c Config) bool { return c.Dock.MaxConcurrentCopies == 3 }},
		{"int64", "EDGETRIAGE_RETENTION_RESERVE_MB=2048", "EDGETRIAGE_RETENTION_RESERVE_MB=2GB",
			func(c Config) bool { return c.Retention.ReserveMB == 2048 }},
		{"float64", "EDGETRIAGE_RETENTION_HIGH_WATERMARK_PERCENT=90.5", "EDGETRIAGE_RETENTION_HIGH_WATERMARK_PERCENT=ninety",
			func(c Config) bool { return c.Retention.HighWatermarkPercent == 90.5 }},
		{"time.Duration", "EDGETRIAGE_CHECKPOINT_INTERVAL=2m", "EDGETRIAGE_CHECKPOINT_INTERVAL=2 minutes",
			func(c Config) bool { return c.CheckpointInterval == 2*time.Minute }},
		{"motion.Duration", "EDGETRIAGE_TRIAGE_MOTION_MIN_EVENT_LENGTH=2s", "EDGETRIAGE_TRIAGE_MOTION_MIN_EVENT_LENGTH=2 s",
			func(c Config) bool { return c.Triage.Motion.MinEventLength == motion.Duration(2*time.Second) }},
	}
	for _, tc := range cases {
		t.Run(tc.kind, func(t *testing.T) {
			cfg, err := Load("", []string{tc.env})
			if err != nil {
				t.Fatalf("%s: %v", tc.env, err)
			}
			if !tc.check(cfg) {
				t.Fatalf("%s did not take effect", tc.env)
			}
			if tc.bad == "" {
				return
			}
			name, _, _ := strings.Cut(tc.bad, "=")
			if _, err := Load("", []string{tc.bad}); err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("%s: error %v does not name the variable", tc.bad, err)
			}
		})
	}
}

// Every scalar key can be overridden: each one's default, written as text
// the way a person would, goes back in through its variable. A new field of
// a type the environment cannot set fails here rather than at a station.
func TestEveryScalarKeyHasAnOverride(t *testing.T) {
	cfg := Default()
	fields := map[string]reflect.Value{}
	collectFields(reflect.ValueOf(&cfg).Elem(), "", fields)
	var environ []string
	for key, f := range fields {
		if f.Kind() == reflect.Slice || f.Kind() == reflect.Map {
			continue // lists and maps belong in the file
		}
		environ = append(environ, "EDGETRIAGE_"+strings.ToUpper(key)+"="+asText(t, f))
	}
	if len(environ) < 50 {
		t.Fatalf("only %d scalar keys found", len(environ))
	}
	if err := applyEnv(&cfg, environ); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, Default()) {
		t.Fatal("a key's own default did not survive the trip through the environment")
	}
}

func asText(t *testing.T, f reflect.Value) string {
	if m, ok := f.Interface().(encoding.TextMarshaler); ok {
		b, err := m.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	return fmt.Sprint(f.Interface())
}
