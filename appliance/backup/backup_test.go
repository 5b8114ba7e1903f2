package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

func newVault(t *testing.T, clips ...string) *vault.Vault {
	t.Helper()
	v, err := vault.Open(context.Background(), t.TempDir(), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	for _, c := range clips {
		if _, _, err := v.IngestReader(context.Background(), strings.NewReader(c), evidence.Intake{Source: "cam"}); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

// A backup names every file with its hash; a file changed on the backup
// medium is found before anything is restored.
func TestRestoreRefusesADamagedBackup(t *testing.T) {
	v := newVault(t, "clip one", "clip two")
	var buf bytes.Buffer
	m, err := Write(context.Background(), &buf, v, Options{Objects: true, By: "console:root"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Stored != 2 || m.Files["index.db"] == "" || m.Files["keys/appliance.key"] == "" {
		t.Fatalf("manifest %+v", m)
	}
	dir := filepath.Join(t.TempDir(), "b")
	if _, err := Extract(bytes.NewReader(buf.Bytes()), dir); err != nil {
		t.Fatal(err)
	}
	d := evidence.DigestBytes([]byte("clip two")).String()
	obj := filepath.Join(dir, "objects", d[:2], d)
	os.Chmod(obj, 0o600)
	if err := os.WriteFile(obj, []byte("clip 2"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	if _, err := Restore(dir, data, false, m.MadeAt); err == nil || !strings.Contains(err.Error(), d[:16]) {
		t.Fatalf("restore of a backup with a changed file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, "index.db")); err == nil {
		t.Fatal("a damaged backup was restored in part")
	}
}

// A stream cut short (the daemon failed mid-backup) lacks its manifest.
func TestExtractFindsAStreamCutShort(t *testing.T) {
	v := newVault(t, "clip")
	var buf bytes.Buffer
	if _, err := Write(context.Background(), &buf, v, Options{By: "console:root"}); err != nil {
		t.Fatal(err)
	}
	cut := buf.Bytes()[:buf.Len()/2]
	if _, err := Extract(bytes.NewReader(cut), filepath.Join(t.TempDir(), "b")); err == nil {
		t.Fatal("half a backup extracted without complaint")
	}
}

// Names in the stream cannot reach outside the backup directory.
func TestExtractRefusesPathsOutside(t *testing.T) {
	for _, name := range []string{"../evil", "/etc/evil", "keys/../../evil", "a//b"} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: name, Size: 1, Mode: 0o600, Typeflag: tar.TypeReg})
		tw.Write([]byte("x"))
		tw.Close()
		dir := filepath.Join(t.TempDir(), "b")
		if _, err := Extract(&buf, dir); err == nil || !strings.Contains(err.Error(), "plain relative path") {
			t.Errorf("entry %q: %v", name, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "..", "evil")); err == nil {
			t.Errorf("entry %q written outside", name)
		}
	}
}

// FuzzExtract: whatever arrives on the stream, Extract writes nothing
// outside its directory and never panics.
func FuzzExtract(f *testing.F) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "MANIFEST.json", Size: 2, Mode: 0o600, Typeflag: tar.TypeReg})
	tw.Write([]byte("{}"))
	tw.Close()
	f.Add(buf.Bytes())
	f.Add([]byte("not a tar stream"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		root := t.TempDir()
		Extract(bytes.NewReader(raw), filepath.Join(root, "in", "b"))
		entries, _ := os.ReadDir(root)
		if len(entries) != 1 || entries[0].Name() != "in" {
			t.Fatalf("extract wrote outside its directory: %v", entries)
		}
		inner, _ := os.ReadDir(filepath.Join(root, "in"))
		if len(inner) > 1 {
			t.Fatalf("extract wrote beside its directory: %v", inner)
		}
	})
}
