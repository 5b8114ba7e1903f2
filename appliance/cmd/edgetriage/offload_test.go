package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance"
	"github.com/edgetriage/edgetriage/capture/dock"
)

// camera builds a docked camera's file tree from real clips.
func camera(t *testing.T) (bay string, clips []string) {
	t.Helper()
	bay = filepath.Join(t.TempDir(), "bay1")
	os.MkdirAll(filepath.Join(bay, "DCIM", "100BWC"), 0o755)
	os.WriteFile(filepath.Join(bay, "device.ini"), []byte("[device]\nserial=BWC-0099\nmodel=BWC3\nofficer=PC-55\n"), 0o644)
	for i, name := range []string{"parking-cars.mp4", "faces-walking.mp4"} {
		raw, err := os.ReadFile(filepath.Join(footage, name))
		if err != nil {
			t.Fatal(err)
		}
		rel := filepath.Join("DCIM", "100BWC", "CLIP000"+string(rune('1'+i))+".MP4")
		os.WriteFile(filepath.Join(bay, rel), raw, 0o644)
		clips = append(clips, filepath.ToSlash(rel))
	}
	os.WriteFile(filepath.Join(bay, "DCIM", "100BWC", "CLIP0001.GPX"), []byte("<gpx/>"), 0o644)
	return bay, clips
}

func TestOffloadCameraThenVerify(t *testing.T) {
	bay, clips := camera(t)
	data := t.TempDir()
	r := run(t, "offload", "--data", data, bay)
	if r.code != 0 {
		t.Fatalf("offload exit %d: %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "d31e0ebf194cc16e50eea784e7c3b0b1bb7976a4fb9b3fec26cb92a6704cca34  "+clips[0]) {
		t.Fatalf("offload printed:\n%s", r.stdout)
	}
	for _, c := range clips {
		if _, err := os.Stat(filepath.Join(bay, c)); err != nil {
			t.Fatalf("default policy removed %s", c)
		}
	}
	// Docked again with release: nothing is copied again, all is released.
	r = run(t, "offload", "--data", data, "--release", "after-verify", bay)
	if r.code != 0 || strings.Count(r.stderr, "released: ") != 3 {
		t.Fatalf("offload with release: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	left, _ := filepath.Glob(filepath.Join(bay, "DCIM", "100BWC", "*"))
	if len(left) != 0 {
		t.Fatalf("left on the camera: %v", left)
	}
	if v := verifyPinned(t, data); v.code != 0 {
		t.Fatalf("verify: %s%s", v.stdout, v.stderr)
	}
}

func TestOffloadRefusesANonCamera(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644)
	r := run(t, "offload", "--data", t.TempDir(), dir)
	if r.code != 1 || !strings.Contains(r.stderr, "no camera profile matches") {
		t.Fatalf("non-camera: exit %d %s", r.code, r.stderr)
	}
	if r := run(t, "offload", "--help"); r.code != 0 || !strings.Contains(r.stdout, "Usage: edgetriage offload") || !strings.Contains(r.stdout, "Examples:") {
		t.Fatalf("offload --help: exit %d %s", r.code, r.stdout)
	}
	if r := run(t, "offload", "--data", t.TempDir(), "--release", "sometimes", dir); r.code != 2 {
		t.Fatalf("bad policy: exit %d %s", r.code, r.stderr)
	}
}

// On a terminal the offload draws a progress bar on stderr and clears it.
func TestOffloadDrawsProgressBarOnTTY(t *testing.T) {
	bay, _ := camera(t)
	f, _ := os.Create(filepath.Join(bay, "DCIM", "100BWC", "BIG0001.MP4"))
	io.CopyN(f, rand.Reader, 192<<20)
	f.Close()
	v, err := appliance.OpenVault(context.Background(), t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	d, err := dock.New(dock.Options{Vault: v, State: v.State("dock")})
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	env := &cliEnv{stdout: &out, stderr: &errb, isTTY: true}
	start := time.Now()
	code := runOffload(context.Background(), env, d, bay)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "BWC-0099 [") || !strings.Contains(errb.String(), "MiB/s") {
		t.Fatalf("no progress bar in %v of offloading:\n%q", time.Since(start), errb.String())
	}
}
