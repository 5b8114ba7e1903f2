package appliance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgetriage/edgetriage/appliance/auth"
	"github.com/edgetriage/edgetriage/appliance/config"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/web"
)

const testFootage = "../testdata/footage"

type centralClientT struct {
	t     *testing.T
	base  string
	token string
}

func (c centralClientT) do(method, path string, body []byte, hdr map[string]string) (*http.Response, []byte) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestCentralClientPullsVerifiesAndAcks(t *testing.T) {
	d, base := startDaemon(t, nil)
	ctx := context.Background()
	var digests []evidence.Digest
	for _, name := range []string{"parking-cars.mp4", "static-room.mp4", "faces-walking.mp4"} {
		it, _, err := d.vault.IngestFile(ctx, filepath.Join(testFootage, name), evidence.Intake{Source: "bwv-7"})
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, it.Digest)
	}
	token, err := d.auth.AddToken(ctx, "hq")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.auth.AddUser(ctx, "pc-1234", auth.RoleInvestigator, "a long enough password"); err != nil {
		t.Fatal(err)
	}
	session, err := d.auth.Login(ctx, "pc-1234", "a long enough password", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	anon := centralClientT{t: t, base: base}
	wrong := centralClientT{t: t, base: base, token: "et_" + fmt.Sprintf("%064d", 0)}
	for _, path := range []string{"/api/v1/central/changes", "/api/v1/central/items/" + digests[0].String() + "/content"} {
		for _, c := range []centralClientT{anon, wrong} {
			if resp, _ := c.do("GET", path, nil, nil); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("%s with token %q: %s", path, c.token, resp.Status)
			}
		}
		if resp, _ := anon.do("GET", path, nil, map[string]string{"Cookie": "et_session=" + session.Token}); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s with an investigator's session: %s", path, resp.Status)
		}
	}
	hq := centralClientT{t: t, base: base, token: token}

	// The feed from the start, two at a time, then from the cursor.
	type page struct {
		Changes []web.Change `json:"changes"`
		Next    uint64       `json:"next"`
	}
	var first, second page
	_, b := hq.do("GET", "/api/v1/central/changes?limit=2", nil, nil)
	json.Unmarshal(b, &first)
	_, b = hq.do("GET", fmt.Sprintf("/api/v1/central/changes?after=%d&limit=10", first.Next), nil, nil)
	json.Unmarshal(b, &second)
	seen := map[evidence.Digest]bool{}
	for _, c := range append(first.Changes, second.Changes...) {
		seen[c.Item.Digest] = true
	}
	if len(first.Changes) != 2 || len(seen) != 3 {
		t.Fatalf("feed pages %d + %d changes, %d items", len(first.Changes), len(second.Changes), len(seen))
	}
	if resp, _ := hq.do("GET", "/api/v1/central/changes?limit=abc", nil, nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad limit: %s", resp.Status)
	}

	// Download in two ranges, as after an interrupted transfer.
	target := digests[0]
	it, _ := d.vault.Item(target)
	half := it.Size / 2
	path := "/api/v1/central/items/" + target.String()
	r1, part1 := hq.do("GET", path+"/content", nil, map[string]string{"Range": fmt.Sprintf("bytes=0-%d", half-1)})
	r2, part2 := hq.do("GET", path+"/content", nil, map[string]string{"Range": fmt.Sprintf("bytes=%d-", half)})
	if r1.StatusCode != http.StatusPartialContent || r2.StatusCode != http.StatusPartialContent {
		t.Fatalf("range downloads: %s, %s", r1.Status, r2.Status)
	}
	theirs := evidence.DigestBytes(append(part1, part2...))
	if theirs != target {
		t.Fatalf("resumed download hashes to %s", theirs)
	}

	_, manifest := hq.do("GET", path+"/manifest", nil, nil)
	m, err := evidence.VerifyManifest(manifest, d.vault.PublicKey())
	if err != nil || m.Item.Digest != target {
		t.Fatalf("manifest: %v", err)
	}

	if resp, _ := hq.do("POST", path+"/ack", []byte(`{"sha256":"`+digests[1].String()+`"}`), nil); resp.StatusCode != http.StatusConflict {
		t.Fatalf("ack with the wrong digest: %s", resp.Status)
	}
	resp, body := hq.do("POST", path+"/ack", []byte(`{"sha256":"`+theirs.String()+`"}`), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ack: %s %s", resp.Status, body)
	}
	var signed evidence.SignedReceipt
	json.Unmarshal(body, &signed)
	receipt, err := evidence.VerifyReceipt(d.vault.PublicKey(), signed)
	if err != nil || receipt.Digest != target || receipt.Central != "hq" {
		t.Fatalf("receipt %+v: %v", receipt, err)
	}
	evs, _ := d.vault.ItemEvents(target)
	last := evs[len(evs)-1]
	if last.Action != evidence.ActionCentralAcknowledged || last.Seq != receipt.Seq || last.Actor != "central:hq" {
		t.Fatalf("last event %+v, receipt seq %d", last, receipt.Seq)
	}
	pulls := 0
	for _, e := range evs {
		if e.Action == evidence.ActionCentralPulled {
			pulls++
		}
	}
	if pulls != 2 {
		t.Fatalf("%d pull events for two range downloads", pulls)
	}
	waitFor(t, "the outbox to record central's acknowledgement", 10*time.Second, func() bool { return d.outboxStore.Acknowledged(target) })
	if it, _ := d.vault.Item(target); it.Labels[evidence.LabelCentralAck] == "" {
		t.Fatal("item not marked acknowledged")
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestDockFootageIsSyncedToTheFilesystemTarget(t *testing.T) {
	central := t.TempDir()
	d, _ := startDaemon(t, func(c *config.Config) { c.Sync.Filesystem.Root = central })
	ctx := context.Background()
	bwv, _, err := d.vault.IngestFile(ctx, filepath.Join(testFootage, "faces-walking.mp4"),
		evidence.Intake{Source: "bwv-7", Labels: map[string]string{"origin": "dock"}})
	if err != nil {
		t.Fatal(err)
	}
	cli, _, err := d.vault.IngestFile(ctx, filepath.Join(testFootage, "static-room.mp4"), evidence.Intake{Source: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the body-worn clip to be synced", 30*time.Second, func() bool { return uploadVerified(d, bwv.Digest) })
	stored := filepath.Join(central, "evidence", bwv.Digest.String()[:2], bwv.Digest.String())
	got, err := os.ReadFile(stored)
	if err != nil || evidence.DigestBytes(got) != bwv.Digest {
		t.Fatalf("central copy: %v", err)
	}
	manifest, err := os.ReadFile(stored + ".manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := evidence.VerifyManifest(manifest, d.vault.PublicKey()); err != nil {
		t.Fatalf("manifest beside the central copy: %v", err)
	}
	if err := d.SendNow(ctx, cli.Digest, "user:sgt"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the sent-now clip to be synced", 30*time.Second, func() bool {
		return uploadVerified(d, cli.Digest)
	})
	var actions []evidence.Action
	evs, _ := d.vault.ItemEvents(bwv.Digest)
	for _, e := range evs {
		actions = append(actions, e.Action)
	}
	// Triage writes its own events in between; the sync story must read in order.
	want := []evidence.Action{evidence.ActionIngested, evidence.ActionQueuedForSync, evidence.ActionUploaded,
		evidence.ActionUploadVerified}
	next := 0
	for _, a := range actions {
		if next < len(want) && a == want[next] {
			next++
		}
	}
	if next != len(want) {
		t.Fatalf("custody of a synced clip %v does not contain %v in order", actions, want)
	}
}

// Central polls its feed while the station keeps storing: the feed must
// never hold the index so that a growing index freezes the daemon (a read
// inside a read deadlocks bbolt once a writer waits to grow the file).
func TestChangesFeedUnderConcurrentIntake(t *testing.T) {
	d, base := startDaemon(t, nil)
	ctx := context.Background()
	token, err := d.auth.AddToken(ctx, "hq")
	if err != nil {
		t.Fatal(err)
	}
	hq := centralClientT{t: t, base: base, token: token}
	stop := make(chan struct{})
	polled := make(chan int)
	go func() {
		n := 0
		defer func() { polled <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if resp, _ := hq.do("GET", "/api/v1/central/changes?limit=1000", nil, nil); resp.StatusCode != http.StatusOK {
				return
			}
			n++
		}
	}()
	done := make(chan error, 1)
	go func() {
		for i := range 3000 {
			blob := bytes.Repeat([]byte(fmt.Sprintf("item %d ", i)), 64)
			if _, _, err := d.vault.IngestReader(ctx, bytes.NewReader(blob), evidence.Intake{Source: "stress", OriginalName: fmt.Sprintf("n%d.bin", i)}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(90 * time.Second):
		// Not t.Fatal: the daemon's cleanup would wait on the frozen
		// index forever; the goroutine dump shows who holds what.
		panic("intake froze while central polled the changes feed")
	}
	close(stop)
	if n := <-polled; n == 0 {
		t.Fatal("the feed was never read")
	}
}

// uploadVerified says whether the item's custody record has its verified
// upload to central storage.
func uploadVerified(d *Daemon, dg evidence.Digest) bool {
	evs, _ := d.vault.ItemEvents(dg)
	for _, e := range evs {
		if e.Action == evidence.ActionUploadVerified {
			return true
		}
	}
	return false
}
