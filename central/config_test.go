package central

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "central.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestExampleConfigLoads: the documented example is a valid configuration,
// with the station override and the defaults it leaves out.
func TestExampleConfigLoads(t *testing.T) {
	t.Setenv("CENTRAL_DATABASE_DSN", "postgres://central@db/central")
	cfg, err := LoadConfig("../configs/central.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Stations) != 2 || cfg.Database.DSN == "" || cfg.WorkerID != "hq-1" {
		t.Fatalf("example: %+v", cfg)
	}
	north, south := cfg.Filter(cfg.Stations[0]), cfg.Filter(cfg.Stations[1])
	if !north.Flagged || len(north.Origins) != 1 || !south.Flagged || len(south.Origins) != 0 {
		t.Fatalf("filters: north %+v, south %+v", north, south)
	}
}

const base = `database: {dsn: "postgres://x@127.0.0.1/db"}
storage: {endpoint: "127.0.0.1:9000", bucket: b, access_key: a, secret_key: s, retention: 1h}
stations:
  - {id: st-1, url: "http://127.0.0.1:8080", token_env: TOK, public_key: 3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29}
`

// TestConfigDefaultsToTheStationsSyncPolicy: without a pull section,
// central pulls what a station's own sync policy sends.
func TestConfigDefaultsToTheStationsSyncPolicy(t *testing.T) {
	cfg, err := LoadConfig(writeConfig(t, base))
	if err != nil {
		t.Fatal(err)
	}
	f := cfg.Filter(cfg.Stations[0])
	dock := evidence.Item{Kind: evidence.KindVideo, Labels: map[string]string{"origin": "dock"}}
	rtsp := evidence.Item{Kind: evidence.KindVideo, Labels: map[string]string{"origin": "rtsp"}}
	flagged := evidence.Item{Kind: evidence.KindVideo, Labels: map[string]string{"origin": "rtsp", evidence.LabelFlagged: "zone"}}
	if !f.Match(dock) || f.Match(rtsp) || !f.Match(flagged) {
		t.Fatalf("default filter %+v: dock %v, rtsp %v, flagged %v", f, f.Match(dock), f.Match(rtsp), f.Match(flagged))
	}
	if cfg.LeaseTTL != DefaultLeaseTTL || cfg.HTTP.Addr != DefaultHTTPAddr {
		t.Fatalf("defaults: %+v", cfg)
	}
}

// TestWitnessKeyMadeOnceAndKeptPrivate: the witness key file is beside the
// configuration by default, made at first use with mode 0600, and the same
// key is read back after; a key file others can read is refused.
func TestWitnessKeyMadeOnceAndKeptPrivate(t *testing.T) {
	path := writeConfig(t, base)
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(filepath.Dir(path), DefaultWitnessKey); cfg.Witness.KeyFile != want || cfg.Witness.Name != DefaultWitnessName {
		t.Fatalf("witness %+v, want %s named %s", cfg.Witness, want, DefaultWitnessName)
	}
	if _, err := OpenWitness(cfg.Witness); err == nil {
		t.Fatal("a witness key that does not exist was opened")
	}
	first, err := LoadWitness(cfg.Witness)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(cfg.Witness.KeyFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v, want mode 0600", fi.Mode(), err)
	}
	again, err := LoadWitness(cfg.Witness)
	if err != nil || again.VerifierKey() != first.VerifierKey() || !strings.HasPrefix(first.VerifierKey(), "central+") {
		t.Fatalf("key read back: %q then %q (%v)", first.VerifierKey(), again.VerifierKey(), err)
	}
	os.Chmod(cfg.Witness.KeyFile, 0o644)
	if _, err := OpenWitness(cfg.Witness); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a key file others can read: %v", err)
	}
}

// TestConfigErrorsNameTheKey: bad configuration is refused with the key
// that is wrong.
func TestConfigErrorsNameTheKey(t *testing.T) {
	for name, tc := range map[string]struct{ text, want string }{
		"unknown key":     {base + "colour: blue\n", "colour"},
		"no stations":     {strings.Split(base, "stations:")[0], "'stations' is empty"},
		"bad key":         {strings.Replace(base, "public_key: 3b6a", "public_key: zz6a", 1), "'stations[0]': 'public_key'"},
		"bad id":          {strings.Replace(base, "id: st-1", "id: ST/1", 1), "'id' \"ST/1\""},
		"two token kinds": {strings.Replace(base, "token_env: TOK", "token_env: TOK, token_file: /t", 1), "exactly one of 'token_file' and 'token_env'"},
		"same id twice":   {base + strings.SplitAfter(base, "stations:\n")[1], "'stations[1].id' \"st-1\" is used twice"},
		"no retention":    {strings.Replace(base, "retention: 1h", "retention: 0s", 1), "'storage.retention'"},
		"no database":     {strings.Replace(base, `dsn: "postgres://x@127.0.0.1/db"`, `dsn: ""`, 1), "'database.dsn'"},
		"witness name":    {base + "witness: {name: \"central hq\"}\n", "'witness.name' \"central hq\""},
		"witness name +":  {base + "witness: {name: central+hq}\n", "'witness.name'"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := LoadConfig(writeConfig(t, tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to name %q", err, tc.want)
			}
		})
	}
}
