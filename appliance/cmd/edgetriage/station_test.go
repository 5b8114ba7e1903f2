package main

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/testkit"
)

// station is a whole appliance as a station runs it: the edgetriage binary
// serving from its own data directory, a dock root where camera bays
// appear, a real S3 server with an Object Lock bucket as central storage,
// and a real RTSP camera. Tests drive it only from outside: the file
// system of the dock, HTTP, signals and the CLI.
type station struct {
	t        testing.TB
	dir      string
	data     string
	dockRoot string
	config   string
	base     string
	s3       testkit.S3Conn
	bucket   string
	token    string // central client "hq"
	user     *http.Client
	daemon   *exec.Cmd
	exited   chan struct{}
	log      *lockedFile
	opt      stationOptions
}

const (
	investigator     = "ivy"
	investigatorPass = "correct horse battery staple"
)

type stationOptions struct {
	cameras      map[string]string // id -> RTSP URL
	subStreams   map[string]string // id -> the camera's sub-stream URL, if it has one
	segment      string            // segment length, default 4s
	bandwidthMBs float64
	dockReadMBs  float64 // the cap on reading docked cameras (0: none)
	flagSources  []string
	s3           *testkit.S3Conn // where the station pushes (nil: the shared test server)
	witnesses    []string        // witness keys the station pins (central's)
	serveArgs    []string        // more arguments to serve (--pprof-addr)
}

func newStation(t testing.TB, opt stationOptions) *station {
	t.Helper()
	dir := t.TempDir()
	st := &station{t: t, dir: dir, data: filepath.Join(dir, "data"), dockRoot: filepath.Join(dir, "dock"),
		config: filepath.Join(dir, "station.yaml"), opt: opt}
	if err := os.MkdirAll(st.dockRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	st.s3 = testkit.S3(t)
	if opt.s3 != nil {
		st.s3 = *opt.s3
	}
	st.bucket = testkit.NewBucket(t, st.s3, true)
	st.base = "http://" + freeAddr(t, "tcp")
	st.writeConfig()
	st.addUsers()
	st.openLog()
	return st
}

// openLog opens the daemon's log file; at cleanup the daemon is killed
// and, if the test failed, the log's tail shown.
func (st *station) openLog() {
	t := st.t
	lf, err := os.Create(filepath.Join(st.dir, "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	st.log = &lockedFile{f: lf}
	t.Cleanup(func() {
		st.kill()
		// Only a daemon built with -race (EDGETRIAGE_TEST_BUILD_FLAGS) reports races.
		if n := st.log.grep("WARNING: DATA RACE"); n > 0 {
			t.Errorf("the daemon reported %d data races", n)
		}
		if t.Failed() {
			t.Logf("daemon log of %s (its crash or its last 150 lines):\n%s", st.base, st.log.report(150))
		}
		lf.Close()
	})
}

// copyStation makes a second station from a copy of st's data directory
// (st must be stopped): the same key, token and history so far, its own
// address, dock root and configuration. Both can then go on, each with
// its own events: a fork of one station's history under one key.
func (st *station) copyStation() *station {
	t := st.t
	t.Helper()
	dir := t.TempDir()
	cp := &station{t: t, dir: dir, data: filepath.Join(dir, "data"), dockRoot: filepath.Join(dir, "dock"),
		config: filepath.Join(dir, "station.yaml"), opt: st.opt, s3: st.s3, bucket: st.bucket, token: st.token}
	if r := runCmd(t, exec.Command("cp", "-a", st.data, cp.data)); r.code != 0 {
		t.Fatalf("copy the data directory: %s", r.stderr)
	}
	if err := os.MkdirAll(cp.dockRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	cp.base = "http://" + freeAddr(t, "tcp")
	cp.writeConfig()
	cp.openLog()
	return cp
}

func freeAddr(t testing.TB, network string) string {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().String()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// writeConfig writes the station's configuration the way an installer
// would: one body-camera profile releasing after verify, the cameras, S3
// with Object Lock as central storage.
func (st *station) writeConfig() {
	opt := st.opt
	var cams strings.Builder
	segment := cmp.Or(opt.segment, "4s")
	for id, url := range opt.cameras {
		sub := ""
		if u := opt.subStreams[id]; u != "" {
			sub = fmt.Sprintf(", sub_stream_url: %q", u)
		}
		fmt.Fprintf(&cams, "  - {id: %s, url: %q%s, transport: tcp, segment_length: %s}\n", id, url, sub, segment)
	}
	if cams.Len() == 0 {
		cams.WriteString("  []\n")
	}
	flag := "[]"
	if len(opt.flagSources) > 0 {
		flag = `["` + strings.Join(opt.flagSources, `", "`) + `"]`
	}
	witnesses, _ := json.Marshal(opt.witnesses)
	if opt.witnesses == nil {
		witnesses = []byte("[]")
	}
	cfg := fmt.Sprintf(`data_dir: %s
witnesses: %s
http: {addr: %q, tls: "off"}
webrtc: {udp_addr: %q}
log: {level: info}
checkpoint_interval: 5s
# A loaded test machine (load 30 on 2 cores seen) needs longer than the 15 s
# default for cameras to hand their last segments over; stop waits 60 s.
shutdown_timeout: 45s
dock:
  root: %s
  rescan_interval: 500ms
  retry_interval: 2s
  read_bytes_per_second: %d
  profiles:
    - name: station-bwc
      videos: ["DCIM/**/*.MP4"]
      sidecars: [".GPX"]
      identity: {files: [device.json]}
      release: after-verify
cameras:
%striage:
  flag:
    sources: %s
sync:
  target: s3
  s3: {endpoint: %q, secure: false, region: %q, bucket: %q, access_key: %q, secret_key: %q, retention: 1h}
  bandwidth_bits_per_second: %d
retention: {interval: 5s}
health: {interval: 5s}
# Second factors have their own tests (appliance/web, admin_test.go);
# the investigator here logs in with a password.
auth: {mfa_required_roles: []}
`, st.data, witnesses, strings.TrimPrefix(st.base, "http://"), freeAddr(st.t, "udp"), st.dockRoot, int64(opt.dockReadMBs*1e6), cams.String(), flag,
		st.s3.Endpoint, st.s3.Region, st.bucket, st.s3.AccessKey, st.s3.SecretKey, int64(opt.bandwidthMBs*8e6))
	if err := os.WriteFile(st.config, []byte(cfg), 0o600); err != nil {
		st.t.Fatal(err)
	}
}

// pinWitness makes the station take cosignatures by the witness with
// verifier key vkey (central's), as its admin does with the key `central
// witness-key` prints; it takes effect at the next start.
func (st *station) pinWitness(vkey string) {
	st.opt.witnesses = append(st.opt.witnesses, vkey)
	st.writeConfig()
}

// addUsers makes the investigator's account and the central client's
// token with the CLI before the first start, as an installer does.
func (st *station) addUsers() {
	add := exec.Command(binary, "user", "add", "--data", st.data, "--name", investigator, "--role", "investigator")
	add.Stdin = strings.NewReader(investigatorPass + "\n")
	if r := runCmd(st.t, add); r.code != 0 {
		st.t.Fatalf("user add: %s", r.stderr)
	}
	r := runCmd(st.t, exec.Command(binary, "user", "token", "--data", st.data, "--name", "hq"))
	if r.code != 0 {
		st.t.Fatalf("user token: %s", r.stderr)
	}
	st.token = strings.TrimSpace(r.stdout)
}

// serve starts the daemon and waits until it is ready and the
// investigator is logged in.
func (st *station) serve() {
	st.t.Helper()
	cmd := exec.Command(binary, append([]string{"serve", "--config", st.config}, st.opt.serveArgs...)...)
	cmd.Stdout, cmd.Stderr = st.log, st.log
	cmd.Env = append(os.Environ(), "GOTRACEBACK=all")
	if err := cmd.Start(); err != nil {
		st.t.Fatalf("start daemon: %v", err)
	}
	st.daemon, st.exited = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(st.exited) }()
	st.waitFor("the daemon to be ready", 60*time.Second, func() (bool, string) {
		select {
		case <-st.exited:
			st.t.Fatalf("daemon exited at start: %v", cmd.ProcessState)
		default:
		}
		resp, err := http.Get(st.base + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	st.login()
}

func (st *station) login() {
	jar, _ := cookiejar.New(nil)
	st.user = &http.Client{Jar: jar, Timeout: 30 * time.Second}
	body, _ := json.Marshal(map[string]string{"user": investigator, "password": investigatorPass})
	resp, err := st.user.Post(st.base+"/api/v1/login", "application/json", bytes.NewReader(body))
	if err != nil {
		st.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		st.t.Fatalf("login: %s", resp.Status)
	}
}

// kill ends the daemon with SIGKILL, as a power cut or the OOM killer
// does: no shutdown code runs.
func (st *station) kill() {
	if st.daemon == nil {
		return
	}
	st.daemon.Process.Signal(syscall.SIGKILL)
	<-st.exited
	st.daemon = nil
}

// stop asks the daemon to shut down in order and waits for it.
func (st *station) stop() {
	st.t.Helper()
	st.daemon.Process.Signal(syscall.SIGTERM)
	select {
	case <-st.exited:
	case <-time.After(60 * time.Second):
		st.t.Fatal("daemon did not stop within 60 s of SIGTERM")
	}
	if code := st.daemon.ProcessState.ExitCode(); code != 0 {
		st.t.Fatalf("daemon exit status %d after SIGTERM", code)
	}
	st.daemon = nil
}

// waitFor polls cond every 250 ms; on timeout it fails with cond's last
// word on what it is still waiting for.
func (st *station) waitFor(what string, timeout time.Duration, cond func() (bool, string)) {
	st.t.Helper()
	start := time.Now()
	var last string
	for time.Since(start) < timeout {
		var ok bool
		if ok, last = cond(); ok {
			st.t.Logf("%s: after %.1f s", what, time.Since(start).Seconds())
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	st.t.Fatalf("waited %v for %s; still: %s", timeout, what, last)
}

// getJSON fetches path as the central client (token) or the logged-in
// investigator (client st.user) and decodes the answer into v.
func (st *station) getJSON(c *http.Client, path string, v any) error {
	return st.doJSON(c, http.MethodGet, path, nil, v)
}

// postJSON posts body (nil: none) with the central token and decodes the answer.
func (st *station) postJSON(path string, body []byte, v any) error {
	return st.doJSON(nil, http.MethodPost, path, body, v)
}

func (st *station) doJSON(c *http.Client, method, path string, body []byte, v any) error {
	req, err := http.NewRequest(method, st.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if c == nil {
		c = http.DefaultClient
		req.Header.Set("Authorization", "Bearer "+st.token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	return json.Unmarshal(b, v)
}

// items is every item record the central feed shows, latest version each.
func (st *station) items() (map[evidence.Digest]evidence.Item, error) {
	out := map[evidence.Digest]evidence.Item{}
	var after uint64
	for {
		var page struct {
			Changes []struct {
				Item evidence.Item `json:"item"`
			} `json:"changes"`
			Next uint64 `json:"next"`
		}
		if err := st.getJSON(nil, fmt.Sprintf("/api/v1/central/changes?after=%d&limit=1000", after), &page); err != nil {
			return nil, err
		}
		for _, c := range page.Changes {
			out[c.Item.Digest] = c.Item
		}
		if page.Next == after {
			return out, nil
		}
		after = page.Next
	}
}

func (st *station) itemEvents(d evidence.Digest) ([]evidence.CustodyEvent, error) {
	var out struct {
		Events []evidence.CustodyEvent `json:"events"`
	}
	err := st.getJSON(nil, "/api/v1/central/items/"+d.String()+"/events", &out)
	return out.Events, err
}

// bodyCamera is what a docked camera holds: clips (camera file name ->
// clip to copy), sidecars (name -> content) and its identity.
type bodyCamera struct {
	serial, officer string
	clips           map[string]string
	sidecars        map[string]string
}

// dock makes the camera appear in a bay whole, as a mount does: built
// aside, then renamed into the dock root.
func (st *station) dock(bay string, cam bodyCamera) string {
	st.t.Helper()
	staging := filepath.Join(st.dir, "staging-"+bay)
	for name, clip := range cam.clips {
		copyFile(st.t, clip, filepath.Join(staging, "DCIM", "100BWC", name))
	}
	for name, text := range cam.sidecars {
		writeFile(st.t, filepath.Join(staging, "DCIM", "100BWC", name), text)
	}
	id, _ := json.Marshal(map[string]string{"serial": cam.serial, "model": "BWC-3", "firmware": "1.2.0", "battery": "80", "officer": cam.officer})
	writeFile(st.t, filepath.Join(staging, "device.json"), string(id))
	dst := filepath.Join(st.dockRoot, bay)
	if err := os.Rename(staging, dst); err != nil {
		st.t.Fatal(err)
	}
	return dst
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, string(b))
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// cameraFiles lists the videos still on a docked camera.
func cameraFiles(t testing.TB, bay string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(bay, "DCIM", "100BWC", "*.MP4"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// servedCamera starts a real RTSP camera looping clip.
func servedCamera(t testing.TB, clip string) string {
	srv := testkit.StartRTSP(t)
	srv.Publish(t, "cam", clip)
	return srv.URL("cam")
}

// lockedFile is the daemon's log, written by its stdout and stderr at once.
type lockedFile struct {
	mu sync.Mutex
	f  *os.File
}

func (l *lockedFile) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Write(b)
}

func (l *lockedFile) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, err := os.ReadFile(l.f.Name())
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// report is the log's last n lines or, if the daemon crashed, n lines
// from just before the crash: a crash's cause and the crashing goroutine
// come first in its dump, which runs past n lines once every goroutine
// is listed.
func (l *lockedFile) report(n int) string {
	lines := strings.Split(l.tail(math.MaxInt), "\n")
	if at := slices.IndexFunc(lines, isCrashLine); at >= 0 {
		from := max(0, at-20)
		return strings.Join(lines[from:min(len(lines), from+n)], "\n")
	}
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func isCrashLine(line string) bool {
	return slices.ContainsFunc([]string{"panic: ", "fatal error: ", "SIGSEGV", "SIGABRT", "SIGBUS", "SIGILL", "SIGFPE", "WARNING: DATA RACE"},
		func(s string) bool { return strings.HasPrefix(line, s) })
}

// grep counts the daemon log lines containing s.
func (l *lockedFile) grep(s string) int { return len(l.lines(s)) }

// lines are the daemon log lines containing any of the strings.
func (l *lockedFile) lines(any ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := os.Open(l.f.Name())
	if err != nil {
		return []string{err.Error()}
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if slices.ContainsFunc(any, func(s string) bool { return strings.Contains(sc.Text(), s) }) {
			out = append(out, sc.Text())
		}
	}
	return out
}
