package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

const footage = "../../../testdata/footage"

var binary, verifier string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "edgetriage-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "edgetriage")
	// EDGETRIAGE_TEST_BUILD_FLAGS (e.g. -race) builds the daemon the tests
	// run with those flags: the race detector then watches the daemon, not
	// only the test binary.
	build := exec.Command("go", append(append([]string{"build"}, strings.Fields(os.Getenv("EDGETRIAGE_TEST_BUILD_FLAGS"))...), "-o", binary, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		panic("build edgetriage: " + err.Error())
	}
	verifier = filepath.Join(dir, "edgetriage-verify")
	build = exec.Command("go", "build", "-o", verifier, "../edgetriage-verify")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		panic("build edgetriage-verify: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

func run(t testing.TB, args ...string) result {
	t.Helper()
	return runCmd(t, exec.Command(binary, args...))
}

// checkBundle checks a bundle both ways a recipient can: `edgetriage
// verify --bundle` and the standalone edgetriage-verify (no OpenCV, no
// cgo), which must agree. pin is the pinning flags.
func checkBundle(t testing.TB, bundle string, pin ...string) map[string]result {
	t.Helper()
	return map[string]result{
		"edgetriage verify": run(t, append([]string{"verify", "--bundle", bundle}, pin...)...),
		"edgetriage-verify": runCmd(t, exec.Command(verifier, append(pin, bundle)...)),
	}
}

// verifyPinned runs verify on a vault the way an admin does: with the
// public key copied at first start (here, straight from its file).
func verifyPinned(t testing.TB, data string) result {
	t.Helper()
	return run(t, "verify", "--data", data, "--pubkey", filepath.Join(data, "keys", "appliance.pub"))
}

func runCmd(t testing.TB, cmd *exec.Cmd) result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", cmd.Args, err)
	}
	return result{code, out.String(), errb.String()}
}

var ingestLine = regexp.MustCompile(`^([0-9a-f]{64})  (.+)$`)

func TestIngestThenVerifyRealFootage(t *testing.T) {
	data := t.TempDir()
	r := run(t, "ingest", "--data", data, "--source", "bwv-0042", footage)
	if r.code != 0 {
		t.Fatalf("ingest exit %d: %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) < 8 {
		t.Fatalf("ingest printed %d lines:\n%s", len(lines), r.stdout)
	}
	var parking string
	for _, l := range lines {
		m := ingestLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("ingest line %q is not '<sha256>  <path>'", l)
		}
		if strings.HasSuffix(m[2], "parking-cars.mp4") {
			parking = m[1]
		}
	}
	if parking != "d31e0ebf194cc16e50eea784e7c3b0b1bb7976a4fb9b3fec26cb92a6704cca34" {
		t.Fatalf("parking-cars digest %q", parking)
	}
	v := verifyPinned(t, data)
	if v.code != 0 || !strings.HasPrefix(v.stdout, "intact: ") || strings.Count(v.stdout, "\n") != 1 {
		t.Fatalf("verify exit %d:\n%s%s", v.code, v.stdout, v.stderr)
	}

	obj := filepath.Join(data, "objects", parking[:2], parking)
	os.Chmod(obj, 0o644)
	b, _ := os.ReadFile(obj)
	b[1000] ^= 0x80
	os.WriteFile(obj, b, 0o444)
	v = verifyPinned(t, data)
	if v.code != 1 || !strings.Contains(v.stdout, parking) {
		t.Fatalf("verify after a flipped byte: exit %d:\n%s%s", v.code, v.stdout, v.stderr)
	}
}

func TestHelpHasExamples(t *testing.T) {
	for _, c := range []string{"ingest", "verify", "serve", "version"} {
		r := run(t, c, "--help")
		if r.code != 0 || !strings.Contains(r.stdout, "Usage: edgetriage "+c) {
			t.Errorf("%s --help: exit %d\n%s", c, r.code, r.stdout)
		}
		if c != "version" && !strings.Contains(r.stdout, "Examples:") {
			t.Errorf("%s --help has no examples", c)
		}
	}
	if r := run(t, "frobnicate"); r.code != 2 || !strings.Contains(r.stderr, "unknown command") {
		t.Errorf("unknown command: %+v", r)
	}
}

// An unreadable file is reported by name and stores nothing; the readable
// files beside it are stored. Root reads everything through its
// capabilities, so as root the ingest runs with none (setpriv, util-linux,
// Essential in Debian): still root, so every directory on the way to the
// binary and the vault stays open to it, but a file of mode 000 is closed
// to its owner. Running it as another user instead failed wherever a
// directory above the binary was closed to others (a fresh minbase root).
func TestUnreadableFileIsReported(t *testing.T) {
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "ok.txt"), []byte("readable"), 0o644)
	os.WriteFile(filepath.Join(src, "locked.txt"), []byte("locked"), 0o000)
	data := t.TempDir()
	cmd := exec.Command(binary, "ingest", "--data", data, src)
	if os.Getuid() == 0 {
		setpriv, err := exec.LookPath("setpriv")
		if err != nil {
			t.Fatalf("as root the ingest runs without capabilities through setpriv (util-linux): %v", err)
		}
		cmd = exec.Command(setpriv, "--inh-caps=-all", "--bounding-set=-all", "--", binary, "ingest", "--data", data, src)
	}
	r := runCmd(t, cmd)
	if r.code != 1 || !strings.Contains(r.stderr, "locked.txt") || !strings.Contains(r.stderr, "permission denied") {
		t.Fatalf("unreadable file: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "ok.txt") || strings.Contains(r.stdout, "locked.txt") {
		t.Fatalf("stdout: %s", r.stdout)
	}
	if v := verifyPinned(t, data); v.code != 0 {
		t.Fatalf("verify: %s%s", v.stdout, v.stderr)
	}
}

// SIGKILL in the middle of ingesting a large file, many times at random
// points: afterwards the vault holds the whole item or nothing of it, and
// verify passes. Kill times are spread over how long one ingest takes here.
func TestKilledIngestLeavesWholeItemOrNothing(t *testing.T) {
	src := filepath.Join(t.TempDir(), "large.bin")
	f, _ := os.Create(src)
	io.CopyN(f, rand.Reader, 192<<20)
	f.Close()
	want, _, _ := digestFile(src)
	started := time.Now()
	if r := run(t, "ingest", "--data", t.TempDir(), src); r.code != 0 {
		t.Fatalf("uninterrupted ingest: %s", r.stderr)
	}
	full := time.Since(started)
	complete := 0
	for range 12 {
		data := t.TempDir()
		cmd := exec.Command(binary, "ingest", "--data", data, src)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(full)*13/10))
		time.Sleep(time.Duration(n.Int64()))
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if checkAfterKill(t, data, want) {
			complete++
		}
	}
	t.Logf("one ingest takes %v; %d of 12 killed ingests had completed", full, complete)
}

// checkAfterKill reopens a vault after a killed ingest and reports whether
// the item is there; anything between whole and absent fails the test.
func checkAfterKill(t *testing.T, data string, want evidence.Digest) bool {
	t.Helper()
	v, err := vault.Open(context.Background(), data, vault.Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	it, itemErr := v.Item(want)
	if itemErr == nil && it.Size != 192<<20 {
		t.Fatalf("partial item recorded: %+v", it)
	}
	v.Close()
	if r := verifyPinned(t, data); r.code != 0 {
		t.Fatalf("verify after SIGKILL: %s%s", r.stdout, r.stderr)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(data, "tmp", "*")); len(leftovers) != 0 {
		t.Fatalf("reopening left %v", leftovers)
	}
	objects, _ := filepath.Glob(filepath.Join(data, "objects", "*", "*"))
	if (itemErr == nil) != (len(objects) == 1) {
		t.Fatalf("item recorded=%v but %d objects stored", itemErr == nil, len(objects))
	}
	return itemErr == nil
}

func digestFile(p string) (evidence.Digest, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return evidence.Digest{}, 0, err
	}
	defer f.Close()
	return evidence.DigestOf(f)
}

func TestServeAnswersHealthAndStopsCleanly(t *testing.T) {
	data := t.TempDir()
	cmd := exec.Command(binary, "serve")
	cmd.Env = append(os.Environ(), "EDGETRIAGE_DATA_DIR="+data, "EDGETRIAGE_HTTP_ADDR=127.0.0.1:0",
		"EDGETRIAGE_SYNC_FILESYSTEM_ROOT="+t.TempDir(), "EDGETRIAGE_DOCK_ROOT="+t.TempDir(), "EDGETRIAGE_WEBRTC_UDP_ADDR=127.0.0.1:0")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	addr := waitForLog(t, stderr, regexp.MustCompile(`http=http://(\S+)`))
	for _, path := range []string{"/healthz", "/readyz"} {
		body := httpGet(t, "http://"+addr+path)
		if !strings.Contains(body, `"status"`) {
			t.Fatalf("%s: %s", path, body)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop within its shutdown timeout")
	}
	v, err := vault.Open(context.Background(), data, vault.Options{VerifyOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	cp, err := v.LogCheckpoint(0)
	head, _ := v.Head()
	if err != nil || cp.Size != int64(head.Seq) || head.Action != evidence.ActionVaultClosed {
		t.Fatalf("the head (%d, %s) was not closed and signed at shutdown: checkpoint of %d events, %v", head.Seq, head.Action, cp.Size, err)
	}
}

func TestServeRefusesBadConfigNamingTheKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "station.yaml")
	os.WriteFile(p, []byte("data_dir: ./d\nhttp:\n  adress: 127.0.0.1:1\n"), 0o644)
	r := run(t, "serve", "--config", p)
	if r.code != 2 || !strings.Contains(r.stderr, "adress") || !strings.Contains(r.stderr, "line 3") {
		t.Fatalf("bad config: exit %d: %s", r.code, r.stderr)
	}
}

func waitForLog(t *testing.T, r io.Reader, re *regexp.Regexp) string {
	t.Helper()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case s := <-found:
		return s
	case <-time.After(30 * time.Second):
		t.Fatalf("no log line matching %s", re)
		return ""
	}
}
