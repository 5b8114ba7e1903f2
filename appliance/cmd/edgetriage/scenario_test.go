package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/minio/minio-go/v7"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/evidence/custodylog"
	"github.com/edgetriage/edgetriage/sync/target"
	"github.com/edgetriage/edgetriage/testkit"
)

// TestStationDay plays a station's day on the running daemon and real
// components: an RTSP camera records all along; a body camera is docked,
// offloaded, verified and released; everything is triaged; its flagged
// clips are redacted and uploaded to S3 under Object Lock; central pulls,
// verifies and acknowledges one; an investigator previews a redacted copy
// in chromium. Then a second camera is docked and the daemon is SIGKILLed
// in the middle of its offload and of an upload; after a restart
// everything completes, verify finds the vault intact, and the custody
// chain tells the story in order.
func TestStationDay(t *testing.T) {
	yard := servedCamera(t, filepath.Join(footage, "room-people-enter-leave.mp4"))
	// The dock's read cap keeps bay-2's offload (3.3 MB) going for seconds
	// even on an idle machine, so the power can go in the middle of it.
	st := newStation(t, stationOptions{cameras: map[string]string{"yard": yard}, bandwidthMBs: 0.5, dockReadMBs: 1,
		flagSources: []string{"SCN-0001"}})
	st.serve()

	bay1 := st.dock("bay-1", bodyCamera{serial: "SCN-0001", officer: "PC 4711",
		clips: map[string]string{
			"CLIP0001.MP4": filepath.Join(footage, "faces-walking.mp4"),
			"CLIP0002.MP4": filepath.Join(footage, "store-aisle.mp4"),
			"CLIP0003.MP4": filepath.Join(footage, "parking-cars.mp4"),
		},
		sidecars: map[string]string{"CLIP0001.GPX": "<gpx><trk><name>patrol</name></trk></gpx>\n"}})
	st.waitFor("bay-1 offloaded, verified and released", 2*time.Minute, func() (bool, string) {
		left := cameraFiles(t, bay1)
		return len(left) == 0, fmt.Sprintf("%d videos still on the camera", len(left))
	})
	var day dayState
	st.waitFor("segments sealed, everything triaged, flagged clips redacted and uploaded", 4*time.Minute, func() (bool, string) {
		var err error
		if day, err = st.readDay("SCN-0001"); err != nil {
			return false, err.Error()
		}
		return day.done(3, 2)
	})
	st.checkObjectLock(day)
	master := day.bwc[slices.IndexFunc(day.bwc, func(it evidence.Item) bool { return it.OriginalName == "DCIM/100BWC/CLIP0001.MP4" })]
	if gpx := day.children(master, ""); len(gpx) == 0 || !slices.ContainsFunc(gpx, func(it evidence.Item) bool { return it.Kind == evidence.KindSidecar }) {
		t.Errorf("the GPX track is not linked to its video %s: children %v", master.OriginalName, gpx)
	}
	st.centralPullsVerifiesAndAcks(master)
	st.previewRedacted(master)

	// The next shift's camera: many clips, so the offload is still going,
	// and uploads are queued behind the bandwidth cap, when the power goes.
	bay2 := st.dock("bay-2", bodyCamera{serial: "SCN-0002", officer: "PC 815", clips: shiftClips(t, st.dir)})
	total := len(cameraFiles(t, bay2))
	st.waitFor("the middle of bay-2's offload with an upload in flight", time.Minute, func() (bool, string) {
		var status struct {
			Dock []struct {
				Bay       string `json:"bay"`
				FilesDone int    `json:"files_done"`
			} `json:"dock"`
			Sync struct {
				InFlight int `json:"in_flight"`
			} `json:"sync"`
		}
		if err := st.getJSON(st.user, "/api/v1/status", &status); err != nil {
			return false, err.Error()
		}
		for _, b := range status.Dock {
			if b.Bay == "bay-2" && b.FilesDone > 0 && b.FilesDone < total-3 && status.Sync.InFlight > 0 {
				return true, ""
			}
			if b.Bay == "bay-2" && b.FilesDone >= total-3 {
				t.Fatalf("bay-2's offload got to %d of %d files before the test could stop it", b.FilesDone, total)
			}
		}
		return false, fmt.Sprintf("status %+v", status)
	})
	st.kill()
	t.Logf("SIGKILL with %d of %d videos still on camera SCN-0002", len(cameraFiles(t, bay2)), total)

	st.serve()
	st.waitFor("bay-2 offloaded and released after the restart", 3*time.Minute, func() (bool, string) {
		left := cameraFiles(t, bay2)
		return len(left) == 0, fmt.Sprintf("%d videos still on the camera", len(left))
	})
	st.waitFor("bay-2 triaged and uploaded", 4*time.Minute, func() (bool, string) {
		d, err := st.readDay("SCN-0002")
		if err != nil {
			return false, err.Error()
		}
		if len(d.bwc) != total {
			return false, fmt.Sprintf("%d of %d bay-2 clips in the vault", len(d.bwc), total)
		}
		if ok, why := d.triaged(2); !ok {
			return false, why
		}
		for _, it := range d.bwc {
			if !d.has(it, evidence.ActionUploadVerified) {
				return false, "not uploaded: " + it.OriginalName
			}
		}
		return true, ""
	})
	st.stop()

	if r := verifyPinned(t, st.data); r.code != 0 {
		t.Fatalf("verify after the day: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	} else {
		t.Logf("edgetriage verify: %s", strings.TrimSpace(r.stdout))
	}
	st.checkStory(master)
	if warned := st.log.lines("level=WARN", "level=ERROR", "panic:"); len(warned) > 0 {
		t.Logf("the daemon's warnings and errors over the day:\n%s", strings.Join(warned, "\n"))
	}
	if n := st.log.grep("panic:"); n > 0 {
		t.Errorf("the daemon panicked %d times", n)
	}
}

// dayState is what the central feed and the custody chain show of a
// body camera's clips and the RTSP camera's segments.
type dayState struct {
	all      map[evidence.Digest]evidence.Item
	bwc      []evidence.Item // the body camera's videos
	segments []evidence.Item // sealed RTSP segments
	events   map[evidence.Digest][]evidence.CustodyEvent
}

func (st *station) readDay(serial string) (dayState, error) {
	all, err := st.items()
	if err != nil {
		return dayState{}, err
	}
	d := dayState{all: all, events: map[evidence.Digest][]evidence.CustodyEvent{}}
	for _, it := range all {
		if !it.Parent.IsZero() || it.Kind != evidence.KindVideo {
			continue
		}
		switch it.Source {
		case serial:
			d.bwc = append(d.bwc, it)
		case "yard":
			d.segments = append(d.segments, it)
		default:
			continue
		}
		if d.events[it.Digest], err = st.itemEvents(it.Digest); err != nil {
			return d, err
		}
	}
	for _, it := range d.bwc {
		for _, c := range d.children(it, "redacted") {
			if d.events[c.Digest], err = st.itemEvents(c.Digest); err != nil {
				return d, err
			}
		}
	}
	return d, nil
}

func (d dayState) has(it evidence.Item, a evidence.Action) bool {
	return slices.ContainsFunc(d.events[it.Digest], func(e evidence.CustodyEvent) bool { return e.Action == a })
}

// children are the items made from or belonging to it, of one relation
// ("" for any).
func (d dayState) children(it evidence.Item, relation string) []evidence.Item {
	var out []evidence.Item
	for _, c := range d.all {
		if c.Parent == it.Digest && (relation == "" || c.Relation == relation) {
			out = append(out, c)
		}
	}
	return out
}

// triaged says whether every body camera clip has been triaged, and the
// camera's segments too: at least atLeast of them, and every one sealed more
// than half a minute ago (it seals a new one every few seconds).
func (d dayState) triaged(atLeast int) (bool, string) {
	for _, it := range d.bwc {
		if !d.has(it, evidence.ActionTriaged) {
			return false, "not yet triaged: " + it.Source + " " + it.OriginalName
		}
	}
	done := 0
	for _, it := range d.segments {
		switch {
		case d.has(it, evidence.ActionTriaged):
			done++
		case time.Since(it.IngestedAt) > 30*time.Second:
			return false, "segment sealed at " + it.IngestedAt.Format(time.TimeOnly) + " not yet triaged: " + it.OriginalName
		}
	}
	if done < atLeast {
		return false, fmt.Sprintf("%d segments triaged", done)
	}
	return true, ""
}

// done says whether the first part of the day is over: the body camera's
// clips in, RTSP segments sealed, every clip triaged, every flagged clip
// redacted and both uploaded.
func (d dayState) done(clips, segments int) (bool, string) {
	if len(d.bwc) != clips || len(d.segments) < segments {
		return false, fmt.Sprintf("%d body camera clips, %d segments", len(d.bwc), len(d.segments))
	}
	if ok, why := d.triaged(segments); !ok {
		return false, why
	}
	for _, it := range d.bwc {
		if it.Labels[evidence.LabelFlagged] == "" {
			return false, "not flagged: " + it.OriginalName
		}
		copies := d.children(it, "redacted")
		if len(copies) == 0 {
			return false, "no redacted copy yet: " + it.OriginalName
		}
		for _, c := range append(copies, it) {
			if !d.has(c, evidence.ActionUploadVerified) {
				return false, fmt.Sprintf("not uploaded yet: %s (%s)", c.OriginalName, c.Digest.Short())
			}
		}
	}
	return true, ""
}

// checkObjectLock reads every uploaded clip's retention back from the S3
// server: locked in COMPLIANCE mode, so nobody can delete it early.
func (st *station) checkObjectLock(d dayState) {
	st.t.Helper()
	client := testkit.S3Client(st.t, st.s3)
	for _, it := range d.bwc {
		for _, c := range append(d.children(it, "redacted"), it) {
			mode, until, err := client.GetObjectRetention(context.Background(), st.bucket, target.Key(c.Digest), "")
			if err != nil {
				st.t.Fatalf("retention of %s (%s): %v", c.OriginalName, c.Digest.Short(), err)
			}
			if mode == nil || *mode != minio.Compliance || until == nil || until.Before(time.Now().Add(30*time.Minute)) {
				st.t.Errorf("%s is not locked in compliance mode for the configured hour: %v until %v", c.OriginalName, mode, until)
			}
		}
	}
}

// centralPullsVerifiesAndAcks is what the central evidence system does
// with a clip: download it, check its bytes and the signed manifest,
// acknowledge it, and get a signed receipt.
func (st *station) centralPullsVerifiesAndAcks(it evidence.Item) {
	t := st.t
	t.Helper()
	path := "/api/v1/central/items/" + it.Digest.String()
	req, _ := http.NewRequest(http.MethodGet, st.base+path+"/content", nil)
	req.Header.Set("Authorization", "Bearer "+st.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	content, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("central download: %s %v", resp.Status, err)
	}
	if got := fmt.Sprintf("%x", sha256.Sum256(content)); got != it.Digest.String() || int64(len(content)) != it.Size {
		t.Fatalf("central downloaded %d bytes hashing to %s, want %d and %s", len(content), got, it.Size, it.Digest)
	}
	var manifest json.RawMessage
	if err := st.getJSON(nil, path+"/manifest", &manifest); err != nil {
		t.Fatal(err)
	}
	pubText, err := os.ReadFile(filepath.Join(st.data, "keys", "appliance.pub"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := evidence.ParsePublicKey(string(pubText))
	if err != nil {
		t.Fatal(err)
	}
	if m, err := custodylog.VerifyManifest(manifest, pub); err != nil || m.Item.Digest != it.Digest {
		t.Fatalf("manifest of %s does not verify against the appliance key: %v", it.Digest.Short(), err)
	}
	// The ack proves possession: a hash over a fresh challenge and every
	// byte, and the manifest central verified.
	var challenge struct{ Challenge string }
	if err := st.postJSON(path+"/challenge", nil, &challenge); err != nil {
		t.Fatal(err)
	}
	nonce, _ := hex.DecodeString(challenge.Challenge)
	proof, err := evidence.AckProof(nonce, bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	ack, _ := json.Marshal(map[string]string{"challenge": challenge.Challenge, "proof": proof.String(),
		"manifest_sha256": evidence.DigestBytes(manifest).String()})
	req, _ = http.NewRequest(http.MethodPost, st.base+path+"/ack", bytes.NewReader(ack))
	req.Header.Set("Authorization", "Bearer "+st.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var signed evidence.SignedReceipt
	json.NewDecoder(resp.Body).Decode(&signed)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ack: %s", resp.Status)
	}
	if receipt, err := evidence.VerifyReceipt(pub, signed); err != nil || receipt.Digest != it.Digest || receipt.Central != "hq" {
		t.Fatalf("ack receipt %+v does not verify against the appliance key: %v", receipt, err)
	}
	var after evidence.Item
	if err := st.getJSON(nil, path, &after); err != nil || after.Labels[evidence.LabelCentralAck] == "" {
		t.Fatalf("the item does not show central's acknowledgement: %v %v", after.Labels, err)
	}
}

// previewRedacted logs the investigator in with chromium, opens the
// master and plays its redacted copy over WebRTC until frames decode.
func (st *station) previewRedacted(master evidence.Item) {
	t := st.t
	t.Helper()
	ctx := testkit.Chromium(t)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()
	link := fmt.Sprintf(`a.item[data-digest="%s"]`, master.Digest)
	err := chromedp.Do(ctx,
		chromedp.Navigate(st.base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#login-user")),
		chromedp.SendKeys(chromedp.CSS("#login-user"), investigator),
		chromedp.SendKeys(chromedp.CSS("#login-pass"), investigatorPass),
		chromedp.Click(chromedp.CSS("#login-btn")),
		chromedp.WaitVisible(chromedp.CSS(link)),
		chromedp.Sleep(time.Second),
	)
	if err != nil {
		t.Fatalf("browser: log in: %v", err)
	}
	dashboard, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("browser: screenshot: %v", err)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(link)),
		chromedp.WaitVisible(chromedp.CSS("#preview-start")),
		chromedp.SetValue(chromedp.CSS("#variant"), "redacted"),
		chromedp.Click(chromedp.CSS("#preview-start")),
	)
	if err != nil {
		t.Fatalf("browser: start the redacted preview: %v", err)
	}
	if dir := os.Getenv("EDGETRIAGE_TEST_SCREENSHOTS"); dir != "" {
		os.WriteFile(filepath.Join(dir, "dashboard.png"), dashboard, 0o644)
	}
	var frames float64
	for deadline := time.Now().Add(20 * time.Second); frames < 5 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if frames, err = chromedp.Run(ctx, chromedp.Evaluate[float64](`window.etPreview ? (window.etPreview.framesDecoded || 0) : 0`)); err != nil {
			t.Fatal(err)
		}
	}
	if frames < 5 {
		pageErr, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#preview-error")))
		t.Fatalf("chromium decoded %v frames of the redacted copy (page says %q)", frames, pageErr)
	}
	evs, err := st.itemEvents(master.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(evs, func(e evidence.CustodyEvent) bool {
		return e.Action == evidence.ActionPreviewStart && e.Actor == "user:"+investigator && e.Details["variant"] == "redacted"
	}) {
		t.Errorf("the redacted preview left no preview-start event by %s", investigator)
	}
}

// shiftClips cuts a real clip into three-second pieces, each a distinct
// file, standing for a shift's worth of short recordings.
func shiftClips(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := filepath.Join(dir, "shift")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", filepath.Join(footage, "room-people-enter-leave.mp4"),
		"-c", "copy", "-an", "-f", "segment", "-segment_time", "3", "-reset_timestamps", "1", filepath.Join(out, "%04d.mp4"))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cut the shift's clips: %v\n%s", err, b)
	}
	pieces, _ := filepath.Glob(filepath.Join(out, "*.mp4"))
	clips := map[string]string{}
	for i, p := range pieces {
		clips[fmt.Sprintf("SHFT%04d.MP4", i)] = p
	}
	if len(clips) < 30 {
		t.Fatalf("cut only %d pieces", len(clips))
	}
	return clips
}

// checkStory lists the custody chain in the test log and checks that it
// tells the day in order: nothing released before it was verified, every
// upload verified after it was queued, and the first clip's whole life.
func (st *station) checkStory(master evidence.Item) {
	t := st.t
	t.Helper()
	r := run(t, "custody", "--data", st.data)
	if r.code != 0 {
		t.Fatalf("custody: %s", r.stderr)
	}
	t.Logf("the custody chain:\n%s", r.stdout)
	r = run(t, "custody", "--data", st.data, "--json")
	var chain []evidence.CustodyEvent
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	for dec.More() {
		var e evidence.CustodyEvent
		if err := dec.Decode(&e); err != nil {
			t.Fatal(err)
		}
		chain = append(chain, e)
	}
	first := map[evidence.Digest]map[evidence.Action]uint64{}
	for _, e := range chain {
		if e.Item.IsZero() {
			continue
		}
		if first[e.Item] == nil {
			first[e.Item] = map[evidence.Action]uint64{}
		}
		if _, seen := first[e.Item][e.Action]; !seen {
			first[e.Item][e.Action] = e.Seq
		}
		switch e.Action {
		case evidence.ActionReleased:
			if v, ok := first[e.Item][evidence.ActionVerified]; !ok || v > e.Seq {
				t.Errorf("event %d releases %s from the camera before any verified event", e.Seq, e.Item.Short())
			}
		case evidence.ActionUploadVerified:
			if _, ok := first[e.Item][evidence.ActionQueuedForSync]; !ok {
				t.Errorf("event %d: %s upload verified but never queued", e.Seq, e.Item.Short())
			}
		}
	}
	// Each pair must happen in this order in the first clip's life; the
	// pipeline's branches (dock, triage, sync, central) interleave freely.
	story := [][2]evidence.Action{
		{evidence.ActionIngested, evidence.ActionVerified}, {evidence.ActionVerified, evidence.ActionReleased},
		{evidence.ActionIngested, evidence.ActionTriaged}, {evidence.ActionTriaged, evidence.ActionFlagged},
		{evidence.ActionFlagged, evidence.ActionRedacted}, {evidence.ActionRedacted, evidence.ActionPreviewStart},
		{evidence.ActionIngested, evidence.ActionQueuedForSync}, {evidence.ActionQueuedForSync, evidence.ActionUploaded},
		{evidence.ActionUploaded, evidence.ActionUploadVerified},
		{evidence.ActionCentralPulled, evidence.ActionCentralAcknowledged},
	}
	for _, p := range story {
		a, okA := first[master.Digest][p[0]]
		b, okB := first[master.Digest][p[1]]
		if !okA || !okB || a > b {
			t.Errorf("%s's story: want %s (event %d, %v) before %s (event %d, %v)", master.OriginalName, p[0], a, okA, p[1], b, okB)
		}
	}
	interrupted := slices.ContainsFunc(chain, func(e evidence.CustodyEvent) bool {
		return e.Action == evidence.ActionOffloadInterrupted && e.Details["serial"] == "SCN-0002"
	})
	if !interrupted {
		t.Errorf("the chain does not record that SCN-0002's offload was interrupted by the kill")
	}
}
