package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/evidence/custodylog"
	"github.com/edgetriage/edgetriage/central"
	"github.com/edgetriage/edgetriage/central/store"
	"github.com/edgetriage/edgetriage/central/store/pgtest"
	"github.com/edgetriage/edgetriage/testkit"
)

// fleet is central's side of the fleet test: one PostgreSQL database, one
// Object Lock bucket on the multi-node SeaweedFS, and the configuration
// `edgetriage central serve` workers share.
type fleet struct {
	t   testing.TB
	dir string
	// pull is the policy (default: flagged items and dock footage) and
	// storageExtra more storage settings, as YAML flow entries.
	pull         evidence.PullFilter
	storageExtra string
	dsn          string
	s3           testkit.S3Conn
	bucket       string
	stations     map[string]*station
	// pushed names the stations whose own push bucket central may read.
	pushed map[string]bool
	// witnessKey is central's witness key file (default: in dir).
	witnessKey string
	// extraArgs are added to the next workers' command lines.
	extraArgs []string
	db        *pgx.Conn
	// killed is when a worker was killed and which stations it held: an
	// item of those it had stored or acknowledged but not yet recorded is
	// done again by the next holder.
	killed struct {
		at       time.Time
		stations map[string]bool
	}
}

// centralWorker is one `edgetriage central serve` process.
type centralWorker struct {
	id     string
	base   string
	cmd    *exec.Cmd
	exited chan struct{}
	log    *lockedFile
}

func (f *fleet) writeConfig(worker, addr string) string {
	var sts strings.Builder
	for id, st := range f.stations {
		token := filepath.Join(f.dir, id+".token")
		writeFile(f.t, token, st.token+"\n")
		pub, err := os.ReadFile(filepath.Join(st.data, "keys", "appliance.pub"))
		if err != nil {
			f.t.Fatal(err)
		}
		push := ""
		if f.pushed[id] {
			push = ", push_bucket: " + st.bucket
		}
		fmt.Fprintf(&sts, "  - {id: %s, url: %q, token_file: %q, public_key: %s%s}\n", id, st.base, token, strings.TrimSpace(string(pub)), push)
	}
	pull, _ := json.Marshal(f.filter())
	cfg := fmt.Sprintf(`worker_id: %s
database: {dsn: %q}
storage: {endpoint: %q, region: %q, bucket: %q, access_key: %q, secret_key: %q, retention: 2h%s}
witness: {name: central-hq, key_file: %q}
http: {addr: %q}
lease_ttl: 3s
poll_interval: 500ms
silent_after: 4s
pull: %s
stations:
%s`, worker, f.dsn, f.s3.Endpoint, f.s3.Region, f.bucket, f.s3.AccessKey, f.s3.SecretKey, f.storageExtra,
		f.witnessKeyFile(), addr, pull, sts.String())
	path := filepath.Join(f.dir, worker+".yaml")
	writeFile(f.t, path, cfg)
	return path
}

func (f *fleet) witnessKeyFile() string {
	if f.witnessKey != "" {
		return f.witnessKey
	}
	return filepath.Join(f.dir, "witness.key")
}

// pinWitness makes central's witness key with `edgetriage central
// witness-key`, as an admin does, and pins it in every station's
// configuration (before the stations start).
func (f *fleet) pinWitness() string {
	f.t.Helper()
	r := run(f.t, "central", "witness-key", "--config", f.writeConfig("admin", "127.0.0.1:0"))
	if r.code != 0 || !strings.HasPrefix(r.stdout, "central-hq+") {
		f.t.Fatalf("central witness-key: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	vkey := strings.TrimSpace(r.stdout)
	for _, st := range f.stations {
		st.pinWitness(vkey)
	}
	return vkey
}

func (f *fleet) startWorker(id string) *centralWorker {
	f.t.Helper()
	w := f.launchWorker(id)
	w.waitUp(f.t)
	return w
}

// launchWorker starts the process without waiting for it to answer.
func (f *fleet) launchWorker(id string) *centralWorker {
	f.t.Helper()
	addr := freeAddr(f.t, "tcp")
	lf, err := os.Create(filepath.Join(f.dir, id+".log"))
	if err != nil {
		f.t.Fatal(err)
	}
	w := &centralWorker{id: id, base: "http://" + addr, log: &lockedFile{f: lf}, exited: make(chan struct{})}
	w.cmd = exec.Command(binary, append([]string{"central", "serve", "--config", f.writeConfig(id, addr)}, f.extraArgs...)...)
	w.cmd.Stdout, w.cmd.Stderr = w.log, w.log
	if err := w.cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	go func() { w.cmd.Wait(); close(w.exited) }()
	f.t.Cleanup(func() {
		w.kill()
		if f.t.Failed() {
			f.t.Logf("worker %s log (last 60 lines):\n%s", id, w.log.tail(60))
		}
		lf.Close()
	})
	return w
}

// waitUp waits until the fleet view answers: the worker has migrated the
// database.
func (w *centralWorker) waitUp(t testing.TB) {
	t.Helper()
	id := w.id
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(w.base + "/healthz"); err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-w.exited:
			t.Fatalf("worker %s exited at start:\n%s", id, w.log.tail(20))
		default:
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("worker %s did not answer within a minute:\n%s", id, w.log.tail(20))
		}
	}
}

func (w *centralWorker) kill() {
	select {
	case <-w.exited:
	default:
		w.cmd.Process.Signal(syscall.SIGKILL)
		<-w.exited
	}
}

// stop stops the worker as an operator does (SIGTERM), so that it ends
// its work (and writes its profile); it is killed after half a minute.
func (w *centralWorker) stop() {
	w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.exited:
	case <-time.After(30 * time.Second):
		w.kill()
	}
}

// query runs sql on the test's one connection to central's database.
func (f *fleet) query(sql string, args ...any) pgx.Rows {
	f.t.Helper()
	ctx := context.Background()
	if f.db == nil {
		conn, err := pgx.Connect(ctx, f.dsn)
		if err != nil {
			f.t.Fatal(err)
		}
		f.db = conn
		f.t.Cleanup(func() { conn.Close(context.Background()) })
	}
	rows, err := f.db.Query(ctx, sql, args...)
	if err != nil {
		f.t.Fatal(err)
	}
	return rows
}

func (f *fleet) filter() evidence.PullFilter {
	if f.pull.IsZero() {
		return evidence.PullFilter{Flagged: true, Origins: []string{"dock"}}
	}
	return f.pull
}

// wanted is every item the stations' feeds show that central's default
// filter wants: flagged items and dock footage.
func (f *fleet) wanted() (map[string][]evidence.Item, error) {
	out := map[string][]evidence.Item{}
	filter := f.filter()
	for id, st := range f.stations {
		items, err := st.items()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		for _, it := range items {
			if filter.Match(it) {
				out[id] = append(out[id], it)
			}
		}
	}
	return out, nil
}

// allAcked reports whether central holds every wanted item acknowledged.
func (f *fleet) allAcked() (bool, string) {
	want, err := f.wanted()
	if err != nil {
		return false, err.Error()
	}
	acked := map[string]bool{}
	rows := f.query(`SELECT station || '/' || digest FROM items WHERE status = 'acked'`)
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return false, err.Error()
	}
	for _, k := range keys {
		acked[k] = true
	}
	var missing []string
	n := 0
	for id, items := range want {
		for _, it := range items {
			n++
			if !acked[id+"/"+it.Digest.String()] {
				missing = append(missing, id+"/"+it.Digest.Short()+" "+it.OriginalName)
			}
		}
	}
	if n == 0 || len(missing) > 0 {
		return false, fmt.Sprintf("%d wanted, not yet acknowledged: %v", n, missing)
	}
	return true, ""
}

func (f *fleet) view(w *centralWorker) (central.FleetView, error) {
	var v central.FleetView
	resp, err := http.Get(w.base + "/api/v1/fleet")
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	return v, json.NewDecoder(resp.Body).Decode(&v)
}

func stationView(v central.FleetView, id string) (sv struct {
	alarms  []string
	backlog int64
}) {
	for _, s := range v.Stations {
		if s.ID == id {
			sv.alarms, sv.backlog = s.OpenAlarms, s.BacklogItems
		}
	}
	return sv
}

// bigClip writes size random bytes at p.
func bigClip(t testing.TB, p string, size int64) string {
	t.Helper()
	out, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(out, rand.Reader, size); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCentralFleet: three stations (one with an RTSP camera, all with
// docked body cameras) and two central workers sharing one PostgreSQL and a
// multi-node SeaweedFS. Every item central's policy wants lands in central
// S3 once, under COMPLIANCE, acknowledged with a verified receipt and
// verifiable from S3 alone. The worker downloading a large item is killed
// mid-way: the other takes its stations over and resumes the item from the
// parts already stored. A station killed mid-feed is shown silent, then
// catches up after its restart.
func TestCentralFleet(t *testing.T) {
	f := &fleet{t: t, dir: t.TempDir(), dsn: pgtest.NewDatabase(t), s3: testkit.S3Cluster(t), stations: map[string]*station{},
		storageExtra: ", part_size_mb: 5, multipart_threshold_mb: 8, bandwidth_mbps: 8"}
	f.bucket = testkit.NewBucket(t, f.s3, true)
	yard := servedCamera(t, filepath.Join(footage, "static-room.mp4"))
	f.stations["st-north"] = newStation(t, stationOptions{cameras: map[string]string{"yard": yard}})
	// st-south pushes to central's own S3 server, and central may read its
	// push bucket: what it pushed is verified in place, not fetched again.
	f.stations["st-south"] = newStation(t, stationOptions{s3: &f.s3})
	f.pushed = map[string]bool{"st-south": true}
	f.stations["st-east"] = newStation(t, stationOptions{})
	vkey := f.pinWitness()
	for _, st := range f.stations {
		st.serve()
	}
	big := bigClip(t, filepath.Join(f.dir, "big.mp4"), 40<<20)
	f.stations["st-north"].dock("bay-1", bodyCamera{serial: "NRT-1", officer: "PC 1", clips: map[string]string{
		"BIG00001.MP4": big, "CLIP0001.MP4": filepath.Join(footage, "faces-walking.mp4")}})
	f.stations["st-south"].dock("bay-1", bodyCamera{serial: "STH-1", officer: "PC 2", clips: map[string]string{
		"CLIP0001.MP4": filepath.Join(footage, "parking-cars.mp4"), "CLIP0002.MP4": filepath.Join(footage, "static-room.mp4")},
		sidecars: map[string]string{"CLIP0001.GPX": "<gpx><trk><name>south</name></trk></gpx>\n"}})
	f.stations["st-east"].dock("bay-1", bodyCamera{serial: "EST-1", officer: "PC 3", clips: map[string]string{
		"CLIP0001.MP4": filepath.Join(footage, "store-aisle.mp4")}})
	north := f.stations["st-north"]
	// The large clip is random bytes: kept, marked undecodable, and left on
	// the camera; it is evidence all the same, and central pulls it.
	north.waitFor("the large clip in st-north's vault", 2*time.Minute, func() (bool, string) {
		items, err := north.items()
		if err != nil {
			return false, err.Error()
		}
		for _, it := range items {
			if strings.HasSuffix(it.OriginalName, "BIG00001.MP4") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d items", len(items))
	})

	south := f.stations["st-south"]
	var pushed []evidence.Digest
	south.waitFor("st-south's clips pushed to its own bucket", 2*time.Minute, func() (bool, string) {
		items, err := south.items()
		if err != nil {
			return false, err.Error()
		}
		pushed = pushed[:0]
		for _, it := range items {
			if it.Kind != evidence.KindVideo {
				continue
			}
			evs, err := south.itemEvents(it.Digest)
			if err != nil {
				return false, err.Error()
			}
			if slices.ContainsFunc(evs, func(e evidence.CustodyEvent) bool { return e.Action == evidence.ActionUploadVerified }) {
				pushed = append(pushed, it.Digest)
			}
		}
		return len(pushed) == 2, fmt.Sprintf("%d of 2 clips pushed", len(pushed))
	})

	workers := map[string]*centralWorker{"hq-a": f.startWorker("hq-a"), "hq-b": f.startWorker("hq-b")}

	// Catch the worker that streams the large clip with some of its parts
	// stored, and kill it.
	var bigItem evidence.Item
	var victim string
	north.waitFor("the large clip half-way into central storage", 2*time.Minute, func() (bool, string) {
		rows := f.query(`SELECT u.digest, coalesce(s.lease_owner, ''), jsonb_array_length(coalesce(u.checkpoint->'parts', '[]'))
			FROM uploads u JOIN stations s ON s.id = u.station WHERE u.station = 'st-north'`)
		defer rows.Close()
		for rows.Next() {
			var digest, owner string
			var parts int
			if err := rows.Scan(&digest, &owner, &parts); err != nil {
				return false, err.Error()
			}
			if parts >= 2 && owner != "" {
				victim = owner
				bigItem.Digest, _ = evidence.ParseDigest(digest)
				return true, ""
			}
		}
		return false, "no multipart upload with two parts yet"
	})
	f.killed.stations = map[string]bool{}
	held := f.query(`SELECT id FROM stations WHERE lease_owner = $1`, victim)
	for held.Next() {
		var id string
		held.Scan(&id)
		f.killed.stations[id] = true
	}
	held.Close()
	f.killed.at = time.Now()
	workers[victim].kill()
	t.Logf("SIGKILL to worker %s while it streamed %s", victim, bigItem.Digest.Short())

	north.waitFor("every wanted item of every station acknowledged", 4*time.Minute, f.allAcked)

	// The large clip was read part by part and resumed, not fetched again
	// from its start: each part is one range the station served whole
	// (what it needs to take the ack), and only a part in flight when the
	// station changed hands may have been read twice: at the kill, and at
	// a hand-over to rebalance the fleet when hq-b joined, if hq-a held
	// st-north then.
	var epoch int
	rows := f.query(`SELECT lease_epoch FROM stations WHERE id = 'st-north'`)
	for rows.Next() {
		if err := rows.Scan(&epoch); err != nil {
			t.Fatal(err)
		}
	}
	rows.Close()
	handovers := epoch - 1
	evs, err := north.itemEvents(bigItem.Digest)
	if err != nil {
		t.Fatal(err)
	}
	reads := map[int64]int{}
	for _, e := range evs {
		if e.Action != evidence.ActionCentralPulled {
			continue
		}
		var start, end int64
		if _, err := fmt.Sscanf(e.Details["range"], "bytes=%d-%d", &start, &end); err != nil {
			t.Errorf("the large clip was read with range %q, not part by part", e.Details["range"])
		}
		reads[start]++
	}
	twice := 0
	for _, n := range reads {
		twice += n - 1
	}
	if parts := int((40<<20 + 5<<20 - 1) / (5 << 20)); len(reads) != parts || twice > handovers {
		t.Errorf("the large clip's %d parts were read %v times (by start offset); want each once, and one more read at most for each of the %d times st-north changed hands", parts, reads, handovers)
	}

	f.checkStoredOnce()
	for _, d := range pushed {
		var inPlace bool
		rows := f.query(`SELECT in_place FROM items WHERE station = 'st-south' AND digest = $1`, d.String())
		for rows.Next() {
			rows.Scan(&inPlace)
		}
		rows.Close()
		evs, err := south.itemEvents(d)
		if err != nil {
			t.Fatal(err)
		}
		pulls := 0
		for _, e := range evs {
			if e.Action == evidence.ActionCentralPulled {
				pulls++
			}
		}
		if !inPlace || pulls != 0 {
			t.Errorf("st-south pushed %s: verified in place %v, downloaded %d times from the station; want in place, never", d.Short(), inPlace, pulls)
		}
	}

	// A station goes down mid-feed: shown silent, then it catches up.
	east := f.stations["st-east"]
	var survivor *centralWorker
	for id, w := range workers {
		if id != victim {
			survivor = w
		}
	}
	east.kill()
	east.dock("bay-2", bodyCamera{serial: "EST-2", officer: "PC 4", clips: map[string]string{
		"CLIP0009.MP4": filepath.Join(footage, "faces-walking.mp4")}})
	east.waitFor("st-east shown silent", time.Minute, func() (bool, string) {
		v, err := f.view(survivor)
		if err != nil {
			return false, err.Error()
		}
		sv := stationView(v, "st-east")
		return containsString(sv.alarms, "silent"), fmt.Sprintf("open alarms %v", sv.alarms)
	})
	east.serve()
	east.waitFor("st-east caught up and no longer silent", 3*time.Minute, func() (bool, string) {
		items, err := east.items()
		if err != nil {
			return false, err.Error()
		}
		docked := false
		for _, it := range items {
			docked = docked || strings.HasSuffix(it.OriginalName, "CLIP0009.MP4")
		}
		if !docked {
			return false, "the clip docked while it was down is not offloaded yet"
		}
		if ok, why := f.allAcked(); !ok {
			return false, why
		}
		v, err := f.view(survivor)
		if err != nil {
			return false, err.Error()
		}
		sv := stationView(v, "st-east")
		return !containsString(sv.alarms, "silent"), fmt.Sprintf("open alarms %v", sv.alarms)
	})
	f.checkStoredOnce()
	f.checkFleetView(survivor)
	f.checkWitnessed(vkey)
	f.fork(survivor, vkey)
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// checkStoredOnce: each wanted item is one object version in central S3,
// stored by one completed upload, verifies from S3 alone with the CLI, and
// is acknowledged in the station's own custody chain; nothing the policy
// does not want (the RTSP camera's segments) was pulled.
func (f *fleet) checkStoredOnce() {
	t := f.t
	t.Helper()
	want, err := f.wanted()
	if err != nil {
		t.Fatal(err)
	}
	client := testkit.S3Client(t, f.s3)
	versions := map[string]int{}
	versionTimes := map[string][]time.Time{}
	for obj := range client.ListObjects(context.Background(), f.bucket, minio.ListObjectsOptions{Recursive: true, WithVersions: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		versions[obj.Key]++
		versionTimes[obj.Key] = append(versionTimes[obj.Key], obj.LastModified)
	}
	rows := f.query(`SELECT station || '/' || digest, stores, origin FROM items`)
	stores := map[string]int{}
	for rows.Next() {
		var key, origin string
		var n int
		if err := rows.Scan(&key, &n, &origin); err != nil {
			t.Fatal(err)
		}
		stores[key] = n
		if origin == "rtsp" {
			t.Errorf("%s: an RTSP segment was pulled; the policy wants flagged items and dock footage", key)
		}
	}
	rows.Close()
	handovers := map[string]int{}
	rows = f.query(`SELECT id, lease_epoch - 1 FROM stations`)
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		handovers[id] = n
	}
	rows.Close()
	cfg := f.writeConfig("verify", "127.0.0.1:0")
	checked := 0
	for id, items := range want {
		for _, it := range items {
			key := id + "/" + it.Digest.String()
			manifests, receipts := versions[key+".manifest.json"], versions[key+".receipt.json"]
			// The station's manifest carries its newest log checkpoint, so
			// an item taken up again after the station changed hands (a
			// rebalance, the kill) is stored with a newer manifest beside
			// the first: both signed, both kept.
			if manifests > 1 && manifests <= 1+handovers[id] {
				manifests = 1
			}
			if receipts == 2 && f.redoneAfterKill(id, versionTimes[key+".receipt.json"]) {
				receipts = 1
			}
			if versions[key] != 1 || receipts != 1 || manifests != 1 {
				t.Errorf("%s (%s): %d versions of the bytes, %d of the receipt, %d of the manifest; want one each",
					key, it.OriginalName, versions[key], versions[key+".receipt.json"], versions[key+".manifest.json"])
			}
			if stores[key] != 1 {
				t.Errorf("%s: stored by %d completed uploads, want 1", key, stores[key])
			}
			if r := run(t, "central", "verify", "--config", cfg, "--station", id, it.Digest.String()); r.code != 0 {
				t.Errorf("central verify %s: exit %d: %s%s", key, r.code, r.stdout, r.stderr)
			}
			evs, err := f.stations[id].itemEvents(it.Digest)
			if err != nil {
				t.Fatal(err)
			}
			var acked []time.Time
			for _, e := range evs {
				if e.Action == evidence.ActionCentralAcknowledged {
					acked = append(acked, e.Time)
				}
			}
			acks := len(acked)
			if acks == 2 && f.redoneAfterKill(id, acked) {
				acks = 1
			}
			if acks != 1 {
				t.Errorf("%s: %d acknowledgements in the station's custody chain, want 1", key, acks)
			}
			checked++
		}
	}
	t.Logf("%d items across %d stations: stored once, under COMPLIANCE, verified from S3, acknowledged once", checked, len(want))
}

// redoneAfterKill reports whether two writes of one thing were one before
// and one after the kill of the worker that held the station then: the
// dead worker's, which it could not record, and its successor's.
func (f *fleet) redoneAfterKill(station string, at []time.Time) bool {
	if !f.killed.stations[station] || len(at) != 2 {
		return false
	}
	first, second := at[0], at[1]
	if second.Before(first) {
		first, second = second, first
	}
	return first.Before(f.killed.at) && second.After(f.killed.at)
}

// checkFleetView: the page, the API and the metrics show the fleet.
func (f *fleet) checkFleetView(w *centralWorker) {
	t := f.t
	t.Helper()
	v, err := f.view(w)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Stations) != 3 {
		t.Fatalf("fleet view: %d stations", len(v.Stations))
	}
	for _, s := range v.Stations {
		if s.LastContact.IsZero() || s.BacklogItems != 0 || s.Acked == 0 || len(s.OpenAlarms) != 0 {
			t.Errorf("fleet view of %s: contact %v, backlog %d, acked %d, alarms %v", s.ID, s.LastContact, s.BacklogItems, s.Acked, s.OpenAlarms)
		}
	}
	silent := 0
	for _, a := range v.Alarms {
		if a.Station == "st-east" && a.Kind == "silent" && !a.Cleared.IsZero() {
			silent++
		}
	}
	if silent == 0 {
		t.Errorf("the silent alarm of st-east is not on record: %+v", v.Alarms)
	}
	for _, c := range []struct{ path, want string }{{"/", "Fleet"},
		{"/metrics", `edgetriage_central_backlog_items{station="st-east"} 0`},
		{"/metrics", `edgetriage_central_step_seconds_count{step="witness"}`}} {
		path, want := c.path, c.want
		resp, err := http.Get(w.base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), want) {
			t.Errorf("GET %s lacks %q", path, want)
		}
	}
}

// cosigned is central's newest co-signed checkpoint of a station, as the
// database holds it: size, the note as the station signed it, and with
// central's cosignature.
func (f *fleet) cosigned(id string) (size int64, note, cosignedNote string) {
	rows := f.query(`SELECT size, note, coalesce(cosigned_note, '') FROM checkpoints
		WHERE station = $1 AND cosigned AND superseded_at IS NULL ORDER BY size DESC LIMIT 1`, id)
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(&size, &note, &cosignedNote); err != nil {
			f.t.Fatal(err)
		}
	}
	return size, note, cosignedNote
}

// checkWitnessed: central co-signed a checkpoint of every station's log,
// its cosignature checks with the key `central witness-key` printed, and
// each station took the cosignature.
func (f *fleet) checkWitnessed(vkey string) {
	t := f.t
	t.Helper()
	witness, err := custodylog.WitnessVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	for id, st := range f.stations {
		size, _, note := f.cosigned(id)
		c, sigs, err := custodylog.Cosignatures([]byte(note), st.publicKey(), witness)
		if err != nil || len(sigs) != 1 || sigs[0].Witness != "central-hq" || c.Size != size || size == 0 {
			t.Errorf("%s: co-signed checkpoint of %d events: %+v %v", id, size, sigs, err)
		}
		if st.log.grep("checkpoint co-signed") == 0 {
			t.Errorf("%s: the station never took central's cosignature", id)
		}
	}
}

func (st *station) publicKey() ed25519.PublicKey {
	st.t.Helper()
	raw, err := os.ReadFile(filepath.Join(st.data, "keys", "appliance.pub"))
	if err != nil {
		st.t.Fatal(err)
	}
	pub, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		st.t.Fatal(err)
	}
	return pub
}

// events counts the custody events of a stopped station's vault.
func (st *station) events() int64 {
	st.t.Helper()
	r := run(st.t, "custody", "--data", st.data, "--json")
	if r.code != 0 {
		st.t.Fatalf("custody: %s", r.stderr)
	}
	return int64(strings.Count(r.stdout, "\n"))
}

// fork makes a real fork of st-east: stopped, its data directory copied,
// the original started again and the copy started on another address,
// under the same key, each going on with events of its own. Central
// witnesses the original past the point of the copy, then is pointed at
// the copy: it raises the fork alarm with both signed checkpoints, pulls
// nothing more from it until an admin clears the alarm, and central's copy
// of the checkpoint it co-signed makes the copy's own verify report the
// rewritten history.
func (f *fleet) fork(w *centralWorker, vkey string) {
	t := f.t
	t.Helper()
	east := f.stations["st-east"]
	east.stop()
	copied := east.events()
	clone := east.copyStation()
	east.serve()
	east.dock("bay-3", bodyCamera{serial: "EST-3", officer: "PC 5", clips: map[string]string{
		"CLIP0010.MP4": bigClip(t, filepath.Join(f.dir, "east-after-copy.mp4"), 2<<20)}})
	east.waitFor("central co-signed st-east's history past the copy", 2*time.Minute, func() (bool, string) {
		if ok, why := f.allAcked(); !ok {
			return false, why
		}
		size, _, _ := f.cosigned("st-east")
		return size > copied, fmt.Sprintf("co-signed %d events; %d were copied", size, copied)
	})
	w.kill()
	witnessed, earlier, _ := f.cosigned("st-east")

	// The copy goes on with other events, at least as many as central saw.
	for i := 0; clone.events() < witnessed+5; i++ {
		args := []string{"ingest", "--data", clone.data, "--source", "copy"}
		for j := range 10 {
			args = append(args, bigClip(t, filepath.Join(clone.dir, fmt.Sprintf("other-%d-%d.bin", i, j)), 4<<10))
		}
		if r := run(t, args...); r.code != 0 {
			t.Fatalf("ingest into the copy: %s", r.stderr)
		}
	}
	clone.serve()
	f.stations["st-east"] = clone
	hq := f.startWorker("hq-c")
	var alarm store.Alarm
	clone.waitFor("the fork alarm on st-east", time.Minute, func() (bool, string) {
		v, err := f.view(hq)
		if err != nil {
			return false, err.Error()
		}
		for _, a := range v.Alarms {
			if a.Station == "st-east" && a.Kind == store.AlarmFork && a.Cleared.IsZero() {
				alarm = a
				return true, ""
			}
		}
		return false, fmt.Sprintf("open alarms %v", stationView(v, "st-east").alarms)
	})
	t.Logf("fork alarm: %s", alarm.Detail)
	if alarm.Evidence == nil || alarm.Evidence.Earlier != earlier {
		t.Fatalf("the fork alarm's evidence does not hold the checkpoint central co-signed: %+v", alarm.Evidence)
	}
	before, _, err1 := custodylog.Open([]byte(alarm.Evidence.Earlier), east.publicKey())
	after, _, err2 := custodylog.Open([]byte(alarm.Evidence.Later), east.publicKey())
	if err := errors.Join(err1, err2); err != nil || after.Size < before.Size || after.Root == before.Root {
		t.Fatalf("evidence: %d then %d events, both signed by st-east's key? %v", before.Size, after.Size, err)
	}

	// Nothing more is pulled from the forked station.
	clone.dock("bay-1", bodyCamera{serial: "EST-9", officer: "PC 6", clips: map[string]string{
		"CLIP0011.MP4": bigClip(t, filepath.Join(f.dir, "copy-after-fork.mp4"), 2<<20)}})
	var docked evidence.Item
	clone.waitFor("the clip docked at the copy offloaded", time.Minute, func() (bool, string) {
		items, err := clone.items()
		if err != nil {
			return false, err.Error()
		}
		for _, it := range items {
			if strings.HasSuffix(it.OriginalName, "CLIP0011.MP4") {
				docked = it
				return true, ""
			}
		}
		return false, "not yet"
	})
	time.Sleep(3 * time.Second) // six of central's rounds
	if rows := f.query(`SELECT 1 FROM items WHERE station = 'st-east' AND digest = $1`, docked.Digest.String()); rows.Next() {
		rows.Close()
		t.Fatal("central read the feed of a station whose log forked")
	}

	// The admin clears the fork: pulling resumes on the copy's history.
	cfg := f.writeConfig("admin", "127.0.0.1:0")
	if r := run(t, "central", "clear", "--config", cfg, "--station", "st-east", "--by", "test-admin", "fork"); r.code != 0 {
		t.Fatalf("central clear: %s%s", r.stdout, r.stderr)
	}
	clone.waitFor("the copy's clip acknowledged after the fork was cleared", 2*time.Minute, func() (bool, string) {
		rows := f.query(`SELECT status FROM items WHERE station = 'st-east' AND digest = $1`, docked.Digest.String())
		defer rows.Close()
		status := "not recorded"
		for rows.Next() {
			rows.Scan(&status)
		}
		return status == store.StatusAcked, status
	})

	// Central's copy of the checkpoint it co-signed before the fork shows
	// the copy's history rewritten, in the copy's own verify.
	clone.stop()
	r := run(t, "central", "checkpoint", "--config", cfg, "--station", "st-east", "--size", fmt.Sprint(witnessed))
	if r.code != 0 {
		t.Fatalf("central checkpoint: %s", r.stderr)
	}
	cosignedFile := filepath.Join(f.dir, "st-east.cosigned")
	writeFile(t, cosignedFile, r.stdout)
	v := run(t, "verify", "--data", clone.data, "--pubkey", filepath.Join(east.data, "keys", "appliance.pub"),
		"--witness", vkey, "--cosigned", cosignedFile, "--checkpoint-interval", "5s")
	want := fmt.Sprintf("history rewritten after checkpoint %d cosigned by central-hq at", witnessed)
	if v.code != 1 || !strings.Contains(v.stdout+v.stderr, want) {
		t.Fatalf("verify of the copy with central's checkpoint: exit %d, want 1 with %q:\n%s%s", v.code, want, v.stdout, v.stderr)
	}
	t.Logf("the copy's verify: %s", firstLineWith(v.stdout+v.stderr, "history rewritten"))
}

func firstLineWith(text, s string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}
