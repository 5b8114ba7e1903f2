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
		"http:\n  addr: nowhere\n":    "http.addr",
		"log:\n  level: loud\n":       "log.level",
		"checkpoint_interval: 0s\n":   "checkpoint_interval",
		"checkpoint_interval: soon\n": "checkpoint_interval",
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
		"redaction:\n  people: bodies\n":                        "redaction.people",
		"redaction:\n  sources:\n    cam-1:\n      people: x\n": "redaction.sources.cam-1.people",
		"redaction:\n  sources:\n    cam-1:\n      blur: 3\n":   "blur",
	} {
		if _, err := Load(write(t, text), nil); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%q: error %v does not name %s", text, err, key)
		}
	}
}
