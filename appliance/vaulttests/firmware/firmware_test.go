package firmware_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/firmware"
)

const model = "BWC-200"

type env struct {
	t     testing.TB
	v     *vault.Vault
	m     *firmware.Manager
	key   ed25519.PrivateKey
	dir   string // where package files are written
	clock time.Time
}

// newEnv opens a real vault and a manager trusting one key of vendor
// "Acme"; adjust changes the configuration before the manager is made.
func newEnv(t testing.TB, adjust func(*firmware.Config, *firmware.Options)) *env {
	t.Helper()
	ctx := context.Background()
	v, err := vault.Open(ctx, t.TempDir(), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	e := &env{t: t, v: v, key: key, dir: t.TempDir(), clock: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	cfg := firmware.DefaultConfig()
	cfg.Vendors = []firmware.VendorKey{{Vendor: "Acme", PublicKey: hex.EncodeToString(pub), Models: []string{model, "BWC-210"}}}
	cfg.Profiles = []firmware.Profile{{Model: model, UpdateDir: "UPDATE", ImageName: "FW.BIN"}}
	opts := firmware.Options{Now: func() time.Time { return e.clock }}
	if adjust != nil {
		adjust(&cfg, &opts)
	}
	e.m, err = firmware.New(cfg, v, v.State("firmware"), opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func manifest(version string) firmware.Manifest {
	return firmware.Manifest{Vendor: "Acme", Models: []string{model, "BWC-210"}, Version: version, MinFromVersion: "1.5.0", Image: "bwc200-" + version + ".bin"}
}

func image(version string, size int) []byte {
	b := bytes.Repeat([]byte("firmware "+version+" "), size/len("firmware "+version+" ")+1)
	return b[:size]
}

// pkg writes a package file and returns its path.
func (e *env) pkg(name string, format firmware.Format, m firmware.Manifest, img []byte, key ed25519.PrivateKey) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	f, err := os.Create(p)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	if err := firmware.BuildPackage(f, format, m, img, key); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// raw writes a package from hand-made entries.
func (e *env) raw(name string, entries ...firmware.Entry) string {
	e.t.Helper()
	var buf bytes.Buffer
	if err := firmware.WriteArchive(&buf, firmware.FormatTar, entries); err != nil {
		e.t.Fatal(err)
	}
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) stage(version string, size int) firmware.Staged {
	e.t.Helper()
	st, err := e.m.ImportFile(context.Background(), e.pkg("fw-"+version+".tar", firmware.FormatTar, manifest(version), image(version, size), e.key), "user:admin")
	if err != nil {
		e.t.Fatalf("import %s: %v", version, err)
	}
	return st
}

// firmwareEvents returns the details of every firmware custody event.
func (e *env) firmwareEvents() []evidence.CustodyEvent {
	e.t.Helper()
	var out []evidence.CustodyEvent
	if err := e.v.Events(1, func(ev evidence.CustodyEvent) bool {
		if ev.Action == evidence.ActionFirmware {
			out = append(out, ev)
		}
		return true
	}); err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) lastEvent() evidence.CustodyEvent {
	evs := e.firmwareEvents()
	if len(evs) == 0 {
		e.t.Fatal("no firmware custody event recorded")
	}
	return evs[len(evs)-1]
}

func (e *env) verifyVault() {
	e.t.Helper()
	r, err := e.v.Verify(context.Background(), vault.VerifyOptions{})
	if err != nil || !r.OK() {
		e.t.Fatalf("vault verify: %v %v", err, r.Findings)
	}
}

func TestVersionOrderIsNumeric(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{{"1.10.0", "1.9.3", 1}, {"1.9.3", "1.10.0", -1}, {"1.2", "1.2.0", 0}, {"2.0.0", "10.0", -1}, {"1.0.1", "1.0", 1}} {
		got, err := firmware.CompareVersions(c.a, c.b)
		if err != nil || got != c.want {
			t.Errorf("CompareVersions(%s, %s) = %d, %v; want %d", c.a, c.b, got, err, c.want)
		}
	}
	if _, err := firmware.CompareVersions("1.2-beta", "1.2"); err == nil || !strings.Contains(err.Error(), "not a number") {
		t.Errorf("non-numeric version: %v", err)
	}
}

func TestImportRefusesBadPackages(t *testing.T) {
	e := newEnv(t, nil)
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	img := image("2.1.0", 4096)
	good := manifest("2.1.0")
	good.ImageSHA256, good.ImageSize = evidence.DigestBytes(img), int64(len(img))
	goodRaw, _ := json.Marshal(good)
	tampered := bytes.Replace(goodRaw, []byte(`"2.1.0"`), []byte(`"2.9.0"`), 1)
	wrongDigest := good
	wrongDigest.ImageSHA256 = evidence.DigestBytes([]byte("another image"))
	wrongDigestRaw, _ := json.Marshal(wrongDigest)
	strange := good
	strange.Vendor = "Strange Corp"
	strangeRaw, _ := json.Marshal(strange)

	cases := []struct {
		name   string
		path   string
		want   error
		reason firmware.Reason
		says   string
	}{
		{"unsigned", e.pkg("unsigned.tar", firmware.FormatTar, manifest("2.1.0"), img, nil), firmware.ErrUnsigned, firmware.ReasonUnsigned, "no manifest.sig"},
		{"bad signature", e.raw("tampered.tar", firmware.Entry{Name: "manifest.json", Data: tampered},
			firmware.Entry{Name: "manifest.sig", Data: firmware.SignManifest(goodRaw, e.key)}, firmware.Entry{Name: good.Image, Data: img}),
			firmware.ErrBadSignature, firmware.ReasonBadSignature, "does not verify"},
		{"unknown key", e.pkg("otherkey.zip", firmware.FormatZip, manifest("2.1.0"), img, otherKey), firmware.ErrUnknownKey, firmware.ReasonUnknownKey, "not a trusted key"},
		{"unknown vendor", e.raw("strange.tar", firmware.Entry{Name: "manifest.json", Data: strangeRaw},
			firmware.Entry{Name: "manifest.sig", Data: firmware.SignManifest(strangeRaw, otherKey)}, firmware.Entry{Name: good.Image, Data: img}),
			firmware.ErrUnknownKey, firmware.ReasonUnknownKey, `"Strange Corp" has no key`},
		{"digest mismatch", e.raw("digest.tar", firmware.Entry{Name: "manifest.json", Data: wrongDigestRaw},
			firmware.Entry{Name: "manifest.sig", Data: firmware.SignManifest(wrongDigestRaw, e.key)}, firmware.Entry{Name: good.Image, Data: img}),
			firmware.ErrDigestMismatch, firmware.ReasonDigestMismatch, "hashes to"},
		{"no manifest", e.raw("nomanifest.tar", firmware.Entry{Name: good.Image, Data: img}), firmware.ErrMalformed, firmware.ReasonMalformed, "no manifest.json"},
		{"not an archive", writeFile(t, e.dir, "junk.bin", []byte("this is not an archive at all")), firmware.ErrMalformed, firmware.ReasonMalformed, "archive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.m.ImportFile(context.Background(), c.path, "user:admin")
			if !errors.Is(err, c.want) || firmware.ReasonOf(err) != c.reason {
				t.Fatalf("err = %v; want %v", err, c.want)
			}
			var re *firmware.RefusedError
			if !errors.As(err, &re) || !strings.Contains(re.Detail, c.says) {
				t.Fatalf("refusal %v does not say %q", err, c.says)
			}
			ev := e.lastEvent()
			if ev.Details["result"] != "refused" || ev.Details["reason"] != string(c.reason) || ev.Details["step"] != "import" {
				t.Fatalf("custody event %v", ev.Details)
			}
		})
	}
	if staged, _ := e.m.List(); len(staged) != 0 {
		t.Fatalf("refused packages were staged: %+v", staged)
	}
	e.verifyVault()
}

func writeFile(t testing.TB, dir, name string, b []byte) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestImportStagesTarZipAndGzip(t *testing.T) {
	e := newEnv(t, nil)
	var gz bytes.Buffer
	if err := firmware.BuildPackage(&gz, firmware.FormatTar, manifest("2.2.0"), image("2.2.0", 5000), e.key); err != nil {
		t.Fatal(err)
	}
	paths := []string{
		e.pkg("a.tar", firmware.FormatTar, manifest("2.1.0"), image("2.1.0", 5000), e.key),
		e.pkg("b.zip", firmware.FormatZip, manifest("2.10.0"), image("2.10.0", 5000), e.key),
		writeFile(t, e.dir, "c.tar.gz", gzipBytes(t, gz.Bytes())),
	}
	for _, p := range paths {
		st, err := e.m.ImportFile(context.Background(), p, "user:admin")
		if err != nil {
			t.Fatalf("import %s: %v", p, err)
		}
		it, err := e.v.Item(st.Package)
		if err != nil || it.Kind != evidence.KindFirmware || it.Labels["firmware_version"] != st.Manifest.Version {
			t.Fatalf("vault item for %s: %+v %v", p, it, err)
		}
		if _, err := e.m.VerifyStaged(st.Package); err != nil {
			t.Fatalf("verify staged %s: %v", p, err)
		}
	}
	list, err := e.m.List()
	if err != nil || len(list) != 3 || list[0].Manifest.Version != "2.10.0" || list[2].Manifest.Version != "2.1.0" {
		t.Fatalf("list = %+v, %v; want 2.10.0 first (numeric order)", list, err)
	}
	e.verifyVault()
}
