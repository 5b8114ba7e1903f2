package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/edgetriage/edgetriage/firmware"
)

func writePackage(t *testing.T, path string, m firmware.Manifest, image []byte, key ed25519.PrivateKey) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := firmware.BuildPackage(f, firmware.FormatTar, m, image, key); err != nil {
		t.Fatal(err)
	}
}

func TestFirmwareImportListVerify(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	trust := filepath.Join(dir, "firmware.yaml")
	os.WriteFile(trust, []byte("vendors:\n  - vendor: Acme\n    public_key: "+hex.EncodeToString(pub)+"\n    models: [BWC-200, BWC-210]\nmin_battery: 40\n"), 0o644)
	man := firmware.Manifest{Vendor: "Acme", Models: []string{"BWC-200"}, Version: "2.10.0", MinFromVersion: "1.5", Image: "fw.bin"}
	good := filepath.Join(dir, "acme-2.10.0.tar")
	writePackage(t, good, man, []byte(strings.Repeat("image bytes ", 5000)), key)
	unsigned := filepath.Join(dir, "unsigned.tar")
	writePackage(t, unsigned, man, []byte("x"), nil)

	r := run(t, "firmware", "import", "--data", data, "--trust", trust, "--by", "alice", good)
	m := regexp.MustCompile(`^([0-9a-f]{64})  .*acme-2\.10\.0\.tar  Acme 2\.10\.0 for BWC-200\n$`).FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil {
		t.Fatalf("import: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	digest := m[1]

	r = run(t, "firmware", "import", "--data", data, "--trust", trust, unsigned)
	if r.code != 1 || !strings.Contains(r.stderr, "unsigned") {
		t.Fatalf("unsigned import: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	r = run(t, "firmware", "list", "--data", data)
	if r.code != 0 || !strings.Contains(r.stdout, digest[:12]) || !strings.Contains(r.stdout, "2.10.0") || strings.Count(r.stdout, "\n") != 2 {
		t.Fatalf("list: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	for _, c := range []struct {
		args   []string
		code   int
		stdout string
	}{
		{[]string{good}, 0, "ok: Acme 2.10.0"},
		{[]string{digest}, 0, "ok: Acme 2.10.0"},
		{[]string{"--model", "BWC-200", "--installed", "1.9.3", "--battery", "80", digest}, 0, "ok:"},
		{[]string{unsigned}, 1, "refused: unsigned"},
		{[]string{"--model", "OTHER", "--installed", "1.9.3", "--battery", "80", good}, 1, "refused: wrong-model"},
		{[]string{"--model", "BWC-200", "--installed", "3.0", "--battery", "80", good}, 1, "refused: downgrade"},
		{[]string{"--model", "BWC-200", "--installed", "3.0", "--battery", "80", "--force-by", "alice", good}, 0, "ok:"},
		{[]string{"--model", "BWC-200", "--installed", "1.9.3", "--battery", "10", good}, 1, "refused: low-battery"},
	} {
		args := append([]string{"firmware", "verify", "--data", data, "--trust", trust}, c.args...)
		r := run(t, args...)
		if r.code != c.code || !strings.HasPrefix(r.stdout, c.stdout) {
			t.Errorf("verify %v: exit %d\n%s%s", c.args, r.code, r.stdout, r.stderr)
		}
	}

	// Imports and refusals are custody events; the chain must still verify.
	if r := verifyPinned(t, data); r.code != 0 {
		t.Fatalf("vault verify after firmware import: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("vendors:\n  - vendor: Acme\n    publickey: abc\n"), 0o644)
	if r := run(t, "firmware", "verify", "--data", data, "--trust", bad, good); r.code != 2 || !strings.Contains(r.stderr, "publickey") {
		t.Fatalf("bad trust file: exit %d\n%s", r.code, r.stderr)
	}
	if r := run(t, "firmware", "--help"); r.code != 0 || !strings.Contains(r.stdout, "Examples:") {
		t.Fatalf("help: %+v", r)
	}
}
