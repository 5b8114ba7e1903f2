package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "station.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsNeedNoFile(t *testing.T) {
	cfg, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "./data" || cfg.HTTP.Addr != "127.0.0.1:8080" {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestFileThenEnvironment(t *testing.T) {
	p := write(t, "data_dir: /srv/evidence\nhttp:\n  addr: 127.0.0.1:9000\ncheckpoint_interval: 30s\n")
	cfg, err := Load(p, []string{"EDGETRIAGE_HTTP_ADDR=127.0.0.1:9100", "PATH=/bin", "EDGETRIAGE_TEST_S3_ENDPOINT=127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/srv/evidence" || cfg.HTTP.Addr != "127.0.0.1:9100" || cfg.CheckpointInterval != 30*time.Second {
		t.Fatalf("loaded %+v", cfg)
	}
}

func TestUnknownKeyIsNamedWithItsLine(t *testing.T) {
	p := write(t, "data_dir: ./d\nhttp:\n  adress: 127.0.0.1:9000\n")
	_, err := Load(p, nil)
	if err == nil || !strings.Contains(err.Error(), "adress") || !strings.Contains(err.Error(), "3") {
		t.Fatalf("unknown key: %v", err)
	}
}

func TestBadValuesAreNamed(t *testing.T) {
	for text, key := range map[string]string{
		"http:\n  addr: nowhere\n":                 "http.addr",
		"log:\n  level: loud\n":                    "log.level",
		"checkpoint_interval: 0s\n":                "checkpoint_interval",
		"checkpoint_interval: soon\n":              "checkpoint_interval",
		"sync:\n  target: ftp\n":                   "'sync': 'target'",
		"sync:\n  windows: [\"25:00-06:00\"]\n":    "'sync': 'windows'",
		"retention:\n  interval: 0s\n":             "'retention': 'interval'",
		"triage:\n  flag:\n    longer_than: -1s\n": "'triage': 'flag'",
		"custody:\n  timestamp:\n    url: tsa.example\n    ca_cert: /nonexistent.pem\n": "'custody': 'timestamp.url'",
		"custody:\n  timestamp:\n    url: http://tsa.example/\n":                        "'custody': 'timestamp.ca_cert'",
		"custody:\n  timestamp:\n    url: http://tsa.example/\n    interval: 0s\n":      "'timestamp.interval' must be greater than zero",
		"custody:\n  clock:\n    jump_threshold: 0s\n":                                  "'custody': 'clock.jump_threshold'",
		"custody:\n  timestamp:\n    ur1: http://tsa.example/\n":                        "ur1",
	} {
		_, err := Load(write(t, text), nil)
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%q: error %v does not name %s", text, err, key)
		}
	}
	_, err := Load("", []string{"EDGETRIAGE_HTTP_ADRESS=x"})
	if err == nil || !strings.Contains(err.Error(), "EDGETRIAGE_HTTP_ADRESS") {
		t.Errorf("unknown environment override: %v", err)
	}
}

func TestCamerasGetSpoolAndAreValidatedByKey(t *testing.T) {
	p := write(t, "data_dir: /srv/ev\ncameras:\n  - id: yard\n    url: rtsp://u:p@127.0.0.1:8554/yard\n    transport: tcp\n")
	cfg, err := Load(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Cameras) != 1 || cfg.Cameras[0].SpoolDir != "/srv/ev/spool" || cfg.Cameras[0].SegmentLength != 10*time.Second {
		t.Fatalf("camera: %+v", cfg.Cameras)
	}
	p = write(t, "cameras:\n  - id: yard\n    url: http://x/y\n  - id: yard\n    url: rtsp://h/s\n")
	_, err = Load(p, nil)
	if err == nil || !strings.Contains(err.Error(), "cameras[0]") || !strings.Contains(err.Error(), "used twice") {
		t.Fatalf("bad cameras: %v", err)
	}
}

// The documented sample must stay loadable as the program changes.
func TestStationExampleLoads(t *testing.T) {
	cfg, err := Load("../../configs/station.example.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Cameras) != 1 || cfg.Sync.Target != "filesystem" || cfg.Retention.Categories["traffic"] != 720*time.Hour {
		t.Fatalf("example loaded as %+v", cfg)
	}
}

func TestDemoConfigLoads(t *testing.T) {
	cfg, err := Load("../../configs/demo.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Cameras) != 1 || cfg.Triage.Flag.LongerThan == 0 {
		t.Fatalf("demo config loaded as %+v", cfg)
	}
}

// The upload cap is in bits per second; a station upgraded with the old
// megabytes-per-second key keeps the same cap and is told to rename it.
func TestBandwidthKeyInBitsWithOldAlias(t *testing.T) {
	cfg, err := Load(write(t, "sync:\n  bandwidth_bits_per_second: 20000000\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Sync.UploadBitsPerSecond() != 20e6 || len(cfg.Deprecations()) != 0 {
		t.Fatalf("new key: %v bits/s, warnings %q", cfg.Sync.UploadBitsPerSecond(), cfg.Deprecations())
	}
	old, err := Load(write(t, "sync:\n  bandwidth_mbps: 2.5\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	warn := strings.Join(old.Deprecations(), "\n")
	if old.Sync.UploadBitsPerSecond() != 20e6 || !strings.Contains(warn, "'bandwidth_mbps' is deprecated") ||
		!strings.Contains(warn, "bandwidth_bits_per_second: 20000000") {
		t.Fatalf("old key: %v bits/s, warnings %q", old.Sync.UploadBitsPerSecond(), warn)
	}
	_, err = Load(write(t, "sync:\n  bandwidth_mbps: 1\n  bandwidth_bits_per_second: 8000000\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "set only the new one") {
		t.Fatalf("both keys: %v", err)
	}
}

// Redaction covers people's heads by default; a source may cover whole
// people or faces only; a misspelt mode is refused with its key.
func TestRedactionPeoplePerSource(t *testing.T) {
	cfg, err := Load(write(t, "redaction:\n  people: heads\n  sources:\n    cam-yard:\n      people: whole-person\n    BWV-1:\n      people: faces\n    cam-door: {}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for src, want := range map[string]string{"cam-yard": "whole-person", "BWV-1": "faces", "cam-door": "heads", "other": "heads"} {
		if got := cfg.Redaction.PeopleFor(src); got != want {
			t.Errorf("people for %s: %s, want %s", src, got, want)
		}
	}
	if def, _ := Load("", nil); def.Redaction.PeopleFor("x") != "heads" {
		t.Errorf("default people: %s", def.Redaction.PeopleFor("x"))
	}
	for text, key := range map[string]string{
		"redaction:\n  people: bodies\n":                        "'people'",
		"redaction:\n  sources:\n    cam-1:\n      people: x\n": "sources.cam-1.people",
		"redaction:\n  sources:\n    cam-1:\n      blur: 3\n":   "blur",
	} {
		if _, err := Load(write(t, text), nil); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%q: error %v does not name %s", text, err, key)
		}
	}
}
