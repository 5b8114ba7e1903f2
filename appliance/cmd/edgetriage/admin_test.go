package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/config"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/testkit"
)

// segmentsOf lists a camera's sealed segments in time order.
func (st *station) segmentsOf(camera string) []evidence.Item {
	st.t.Helper()
	items, err := st.items()
	if err != nil {
		st.t.Fatal(err)
	}
	var out []evidence.Item
	for _, it := range items {
		if it.Source == camera && it.Kind == evidence.KindVideo && it.Parent.IsZero() {
			out = append(out, it)
		}
	}
	slices.SortFunc(out, func(a, b evidence.Item) int { return a.CapturedStart.Compare(b.CapturedStart) })
	return out
}

// holes are the breaks between consecutive segments longer than slack.
func holes(segs []evidence.Item, slack time.Duration) []string {
	var out []string
	for i := 1; i < len(segs); i++ {
		if d := segs[i].CapturedStart.Sub(segs[i-1].CapturedEnd); d > slack || d < -slack {
			out = append(out, segs[i-1].CapturedEnd.Format("15:04:05.000")+" -> "+segs[i].CapturedStart.Format("15:04:05.000"))
		}
	}
	return out
}

// custodyOf lists the custody chain of a stopped station's vault.
func custodyOf(t testing.TB, data string) []evidence.CustodyEvent {
	t.Helper()
	r := run(t, "custody", "--data", data, "--json")
	if r.code != 0 {
		t.Fatalf("custody: %s", r.stderr)
	}
	var out []evidence.CustodyEvent
	for line := range strings.Lines(r.stdout) {
		var e evidence.CustodyEvent
		if json.Unmarshal([]byte(line), &e) == nil {
			out = append(out, e)
		}
	}
	return out
}

// Administering a running station: an account and a central token are
// added through the daemon's console socket, and one camera's setup is
// changed and reloaded with SIGHUP (a broken file first, refused), while
// two other cameras record on: their segments run on without a break.
func TestAdministerWhileRecording(t *testing.T) {
	srv := testkit.StartRTSP(t)
	clip := filepath.Join(footage, "room-people-enter-leave.mp4")
	cams := map[string]string{}
	for _, id := range []string{"yard", "lobby", "gate"} {
		srv.Publish(t, id, clip)
		cams[id] = srv.URL(id)
	}
	st := newStation(t, stationOptions{cameras: cams})
	st.serve()
	st.waitFor("two segments from every camera", 90*time.Second, func() (bool, string) {
		for id := range cams {
			if n := len(st.segmentsOf(id)); n < 2 {
				return false, fmt.Sprintf("%s has %d segments", id, n)
			}
		}
		return true, ""
	})

	// Through the console socket: the daemon holds the vault, so nothing
	// else could make these changes while it runs.
	add := exec.Command(binary, "user", "add", "--data", st.data, "--name", "det-2", "--role", "investigator")
	add.Stdin = strings.NewReader("a long enough password\n")
	if r := runCmd(t, add); r.code != 0 {
		t.Fatalf("user add while running: %d %s", r.code, r.stderr)
	}
	tok := run(t, "user", "token", "--data", st.data, "--name", "hq-2")
	if tok.code != 0 || !strings.HasPrefix(tok.stdout, "et_") {
		t.Fatalf("user token while running: %d %s", tok.code, tok.stderr)
	}
	req, _ := http.NewRequest("GET", st.base+"/api/v1/central/changes?limit=1", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok.stdout))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the new token against the running daemon: %v %v", resp.Status, err)
	}
	if l := run(t, "user", "list", "--data", st.data); !strings.Contains(l.stdout, "det-2                investigator  active") {
		t.Fatalf("user list while running: %s %s", l.stdout, l.stderr)
	}

	good, err := os.ReadFile(st.config)
	if err != nil {
		t.Fatal(err)
	}
	gateLine := `{id: gate, url: "` + cams["gate"] + `", transport: tcp, segment_length: 4s}`
	if !strings.Contains(string(good), gateLine) {
		t.Fatalf("the gate camera's line is not in the config:\n%s", good)
	}
	// A broken file is refused with the message the daemon would give at
	// start, and the running configuration stays.
	broken := strings.Replace(string(good), "segment_length: 4s}", "segment_lenght: 2s}", 1)
	writeFile(t, st.config, broken)
	_, startErr := config.Load(st.config, nil)
	if startErr == nil {
		t.Fatal("the broken file loads")
	}
	st.daemon.Process.Signal(syscall.SIGHUP)
	r := run(t, "reload", "--data", st.data)
	if r.code != 1 || !strings.Contains(r.stderr, startErr.Error()) {
		t.Fatalf("reload of a broken file: %d %s\nwant the start-up error %s", r.code, r.stderr, startErr)
	}
	select {
	case <-st.exited:
		t.Fatal("SIGHUP killed the daemon")
	case <-time.After(time.Second):
	}

	reloadedAt := time.Now()
	writeFile(t, st.config, strings.Replace(string(good), gateLine, strings.Replace(gateLine, "4s}", "2s}", 1), 1))
	st.daemon.Process.Signal(syscall.SIGHUP)
	st.waitFor("the reload in the log", 30*time.Second, func() (bool, string) {
		return strings.Contains(st.log.tail(400), "restarted: gate"), "not yet"
	})
	if r := run(t, "reload", "--data", st.data); r.code != 0 || !strings.Contains(r.stdout, "applied: nothing (no change)") {
		t.Fatalf("a second reload of the same file: %d %s %s", r.code, r.stdout, r.stderr)
	}
	st.waitFor("two short segments from gate after the reload", 60*time.Second, func() (bool, string) {
		short := 0
		for _, s := range st.segmentsOf("gate") {
			if s.CapturedStart.After(reloadedAt) && s.CapturedEnd.Sub(s.CapturedStart) < 3500*time.Millisecond {
				short++
			}
		}
		return short >= 2, "not yet"
	})
	// The others keep their 4 s segments: two begun since the reload take
	// longer to seal than gate's two short ones.
	st.waitFor("two segments from yard and lobby begun since the reload", 60*time.Second, func() (bool, string) {
		for _, id := range []string{"yard", "lobby"} {
			after := 0
			for _, s := range st.segmentsOf(id) {
				if s.CapturedStart.After(reloadedAt) {
					after++
				}
			}
			if after < 2 {
				return false, fmt.Sprintf("%s has %d", id, after)
			}
		}
		return true, ""
	})
	for _, id := range []string{"yard", "lobby"} {
		segs := st.segmentsOf(id)
		if h := holes(segs, 500*time.Millisecond); len(h) > 0 {
			t.Fatalf("%s: breaks in the recording around the administration: %v", id, h)
		}
		t.Logf("%s: %d segments from %s to %s without a break", id, len(segs), segs[0].CapturedStart.Format(time.TimeOnly), segs[len(segs)-1].CapturedEnd.Format(time.TimeOnly))
	}
	for _, g := range st.cameraGaps() {
		if !strings.HasPrefix(g, "gate:") {
			t.Fatalf("a recording gap on a camera whose setup did not change: %s", g)
		}
	}
	st.stop()

	if r := verifyPinned(t, st.data); r.code != 0 {
		t.Fatalf("verify: %s%s", r.stdout, r.stderr)
	}
	var seen []string
	for _, e := range custodyOf(t, st.data) {
		switch e.Action {
		case evidence.ActionAccountCreated, evidence.ActionTokenIssued:
			if e.Details["user"] == "det-2" || e.Details["client"] == "hq-2" {
				seen = append(seen, string(e.Action)+" by "+strings.SplitN(string(e.Actor), ":", 2)[0])
			}
		case evidence.ActionConfigReloaded:
			seen = append(seen, "reload by "+string(e.Actor)+": "+e.Details["applied"]+" ["+e.Details["cameras_changed"]+"]")
		}
	}
	want := "account-created by console; token-issued by console; reload by appliance:sighup: cameras [gate]; reload by console:"
	if got := strings.Join(seen, "; "); !strings.HasPrefix(got, want) {
		t.Fatalf("custody of the administration:\n got %s\nwant %s...", got, want)
	}
}

// A backup taken while the station records restores into a vault that
// verifies: with its evidence files into an empty directory, and without
// them into a data directory that lost its index. Restoring never deletes
// what it finds, and never mixes two appliances.
func TestBackupWhileRunningAndRestore(t *testing.T) {
	st := newStation(t, stationOptions{cameras: map[string]string{
		"yard": servedCamera(t, filepath.Join(footage, "room-people-enter-leave.mp4"))}})
	st.serve()
	st.waitFor("three segments", 60*time.Second, func() (bool, string) { return len(st.segmentsOf("yard")) >= 3, "" })
	light, full := filepath.Join(st.dir, "backup-light"), filepath.Join(st.dir, "backup-full")
	if r := run(t, "backup", "--data", st.data, "--to", light); r.code != 0 {
		t.Fatalf("backup while running: %s", r.stderr)
	}
	r := run(t, "backup", "--data", st.data, "--to", full, "--objects")
	if r.code != 0 || !strings.Contains(r.stdout, "files included") || !strings.Contains(r.stdout, "config station.yaml") {
		t.Fatalf("backup with objects: %s %s", r.stdout, r.stderr)
	}
	if r := run(t, "backup", "--data", st.data, "--to", full); r.code != 1 || !strings.Contains(r.stderr, "not empty") {
		t.Fatalf("a backup over another: %d %s", r.code, r.stderr)
	}
	st.waitFor("a segment after the backups", 30*time.Second, func() (bool, string) { return len(st.segmentsOf("yard")) >= 5, "" })
	st.stop()

	pub := filepath.Join(full, "keys", "appliance.pub")
	verify := func(data string) {
		t.Helper()
		if r := run(t, "verify", "--data", data, "--pubkey", pub); r.code != 0 {
			t.Fatalf("verify %s: %s%s", data, r.stdout, r.stderr)
		}
	}
	fresh := filepath.Join(st.dir, "restored")
	if r := run(t, "restore", "--from", full, "--data", fresh); r.code != 0 {
		t.Fatalf("restore into an empty directory: %s", r.stderr)
	}
	verify(fresh)

	// The index is lost; the evidence files are still there.
	if err := os.Rename(filepath.Join(st.data, "index.db"), filepath.Join(st.dir, "lost-index.db")); err != nil {
		t.Fatal(err)
	}
	r = run(t, "restore", "--from", light, "--data", st.data)
	if r.code != 0 || !strings.Contains(r.stdout, "0 evidence files copied") {
		t.Fatalf("restore of the index only: %s %s", r.stdout, r.stderr)
	}
	verify(st.data)
	var quarantined, restored int
	for _, e := range custodyOf(t, st.data) {
		switch e.Action {
		case evidence.ActionQuarantined:
			quarantined++
		case evidence.ActionVaultRestored:
			restored++
		}
	}
	if quarantined == 0 || restored != 1 {
		t.Fatalf("after restoring an older index over newer files: %d quarantined (segments sealed after the backup), %d restore events", quarantined, restored)
	}
	if r := run(t, "restore", "--from", light, "--data", st.data); r.code != 1 || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("a restore over an index: %d %s", r.code, r.stderr)
	}
	r = run(t, "restore", "--from", full, "--data", st.data, "--force")
	if r.code != 0 || !strings.Contains(r.stdout, "index.db.replaced-") {
		t.Fatalf("a forced restore: %d %s %s", r.code, r.stdout, r.stderr)
	}
	verify(st.data)

	other := filepath.Join(st.dir, "other")
	if r := run(t, "ingest", "--data", other, clipPath()); r.code != 0 {
		t.Fatalf("another appliance: %s", r.stderr)
	}
	os.Remove(filepath.Join(other, "index.db"))
	if r := run(t, "restore", "--from", full, "--data", other); r.code != 1 || !strings.Contains(r.stderr, "another appliance's key") {
		t.Fatalf("a restore over another appliance's key: %d %s", r.code, r.stderr)
	}
}

func clipPath() string { return filepath.Join(footage, "static-room.mp4") }

// The console socket is for root and the daemon's group: another user is
// told so, a member of the group administers the running daemon (and is
// named in the custody chain). The station's default policy makes the
// first admin enrol a second factor at the first login.
func TestConsoleSocketIsForRootAndTheGroup(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to act as other users")
	}
	base, err := os.MkdirTemp("", "edgetriage-console-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(base)
	os.Chmod(base, 0o755)
	data := filepath.Join(base, "data")
	cmd := exec.Command(binary, "serve")
	cmd.Env = append(os.Environ(), "EDGETRIAGE_DATA_DIR="+data, "EDGETRIAGE_HTTP_ADDR=127.0.0.1:0",
		"EDGETRIAGE_SYNC_FILESYSTEM_ROOT="+filepath.Join(base, "central"), "EDGETRIAGE_DOCK_ROOT="+filepath.Join(base, "dock"),
		"EDGETRIAGE_WEBRTC_UDP_ADDR=127.0.0.1:0")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	addr := waitForLog(t, stderr, regexp.MustCompile(`http=http://(\S+)`))
	go io.Copy(io.Discard, stderr)

	fi, err := os.Stat(filepath.Join(data, "admin.sock"))
	if err != nil || fi.Mode().Perm() != 0o660 || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("console socket: %v %v", fi, err)
	}
	// The test binary's own directory is root's alone: other users run a
	// copy in base.
	own := filepath.Join(base, "edgetriage")
	if r := runCmd(t, exec.Command("cp", binary, own)); r.code != 0 {
		t.Fatalf("copy the binary: %s", r.stderr)
	}
	as := func(groups []uint32, args ...string) result {
		c := exec.Command(own, args...)
		c.Stdin = strings.NewReader("a long enough password\n")
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: groups}}
		return runCmd(t, c)
	}
	if r := as(nil, "user", "list", "--data", data); r.code != 1 || !strings.Contains(r.stderr, "root or as a member of the daemon's group") {
		t.Fatalf("a user outside the group: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := as([]uint32{uint32(os.Getgid())}, "user", "add", "--data", data, "--name", "det-3", "--role", "staff"); r.code != 0 {
		t.Fatalf("a member of the daemon's group: %d %s", r.code, r.stderr)
	}
	if r := run(t, "user", "list", "--data", data); r.code != 0 || !strings.Contains(r.stdout, "no second factor (enrols at next login)") {
		t.Fatalf("root lists the accounts: %d %s %s", r.code, r.stdout, r.stderr)
	}

	password, err := os.ReadFile(filepath.Join(data, "first-admin-password"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"user": "admin", "password": strings.TrimSpace(string(password))})
	resp, err := http.Post("http://"+addr+"/api/v1/login", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	var me map[string]any
	json.NewDecoder(resp.Body).Decode(&me)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || me["stage"] != "enrol" {
		t.Fatalf("the first admin's first login: %s %v", resp.Status, me)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	var actor string
	for _, e := range custodyOf(t, data) {
		if e.Action == evidence.ActionAccountCreated && e.Details["user"] == "det-3" {
			actor = string(e.Actor)
		}
	}
	if actor != "console:nobody" {
		t.Fatalf("the account made through the console is by %q", actor)
	}
}
