package appliance

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/edgetriage/edgetriage/appliance/auth"
	"github.com/edgetriage/edgetriage/appliance/config"
	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/evidence/custodylog"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/appliance/web"
	"github.com/edgetriage/edgetriage/testkit"
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
	token, _, err := d.auth.AddToken(ctx, "user:admin", "hq", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.auth.AddUser(ctx, "appliance:test", "pc-1234", auth.RoleInvestigator, "a long enough password"); err != nil {
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
	m, err := custodylog.VerifyManifest(manifest, d.vault.PublicKey())
	if err != nil || m.Item.Digest != target {
		t.Fatalf("manifest: %v", err)
	}

	// Echoing the public digest, as acks used to, proves nothing.
	if resp, _ := hq.do("POST", path+"/ack", []byte(`{"sha256":"`+theirs.String()+`"}`), nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("ack echoing the digest: %s", resp.Status)
	}
	full := append(part1, part2...)
	if resp, b := hq.ack(path, theirs[:], manifest, nil); resp.StatusCode != http.StatusConflict || !bytes.Contains(b, []byte("proof does not match")) {
		t.Fatalf("ack with the digest as its proof: %s %s", resp.Status, b)
	}
	if resp, b := hq.ack(path, full, []byte("a manifest never served"), nil); resp.StatusCode != http.StatusConflict || !bytes.Contains(b, []byte("never served")) {
		t.Fatalf("ack naming a manifest never served: %s %s", resp.Status, b)
	}
	// Bytes central got somewhere else, for an item it never downloaded
	// here and the station never pushed: refused.
	other := "/api/v1/central/items/" + digests[1].String()
	_, otherManifest := hq.do("GET", other+"/manifest", nil, nil)
	otherBytes, _ := os.ReadFile(filepath.Join(testFootage, "static-room.mp4"))
	if resp, b := hq.ack(other, otherBytes, otherManifest, nil); resp.StatusCode != http.StatusConflict || !bytes.Contains(b, []byte("downloaded 0 of")) {
		t.Fatalf("ack of an item never downloaded: %s %s", resp.Status, b)
	}
	var challenge string
	resp, body := hq.ack(path, full, manifest, &challenge)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ack: %s %s", resp.Status, body)
	}
	if resp, b := hq.answer(path, challenge, full, manifest); resp.StatusCode != http.StatusConflict {
		t.Fatalf("a challenge answered twice: %s %s", resp.Status, b)
	}
	var signed evidence.SignedReceipt
	json.Unmarshal(body, &signed)
	receipt, err := evidence.VerifyReceipt(d.vault.PublicKey(), signed)
	if err != nil || receipt.Digest != target || receipt.Central != "hq" || receipt.Manifest != evidence.DigestBytes(manifest) || receipt.Proof.IsZero() {
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
	testkit.WaitFor(t, "the outbox to record central's acknowledgement", 10*time.Second, func() bool { return d.outboxStore.Acknowledged(target) })
	if it, _ := d.vault.Item(target); it.Labels[evidence.LabelCentralAck] == "" {
		t.Fatal("item not marked acknowledged")
	}

	// Once the station's own push of it verified at the target (as the
	// outbox records it), central may acknowledge the item it verified in
	// place there without downloading it here.
	if _, err := d.vault.Append(ctx, evidence.CustodyEvent{Actor: "sync", Action: evidence.ActionUploadVerified, Item: digests[1],
		Details: map[string]string{"target": "s3://central/evidence", "key": "evidence/" + digests[1].String()}}); err != nil {
		t.Fatal(err)
	}
	if resp, b := hq.ack(other, otherBytes, otherManifest, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("ack of an item the station pushed and verified: %s %s", resp.Status, b)
	}
}

// ack asks for a challenge and answers it with content and the manifest
// central verified; the challenge used is stored in *used when not nil.
func (c centralClientT) ack(path string, content, manifest []byte, used *string) (*http.Response, []byte) {
	c.t.Helper()
	resp, b := c.do("POST", path+"/challenge", nil, nil)
	var ch struct{ Challenge string }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &ch) != nil {
		c.t.Fatalf("challenge: %s %s", resp.Status, b)
	}
	if used != nil {
		*used = ch.Challenge
	}
	return c.answer(path, ch.Challenge, content, manifest)
}

func (c centralClientT) answer(path, challenge string, content, manifest []byte) (*http.Response, []byte) {
	c.t.Helper()
	nonce, _ := hex.DecodeString(challenge)
	proof, err := evidence.AckProof(nonce, bytes.NewReader(content))
	if err != nil {
		c.t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"challenge": challenge, "proof": proof.String(),
		"manifest_sha256": evidence.DigestBytes(manifest).String()})
	return c.do("POST", path+"/ack", body, nil)
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
	testkit.WaitFor(t, "the body-worn clip to be synced", 30*time.Second, func() bool { return uploadVerified(d, bwv.Digest) })
	stored := filepath.Join(central, "evidence", bwv.Digest.String()[:2], bwv.Digest.String())
	got, err := os.ReadFile(stored)
	if err != nil || evidence.DigestBytes(got) != bwv.Digest {
		t.Fatalf("central copy: %v", err)
	}
	manifest, err := os.ReadFile(stored + ".manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := custodylog.VerifyManifest(manifest, d.vault.PublicKey()); err != nil {
		t.Fatalf("manifest beside the central copy: %v", err)
	}
	if err := d.SendNow(ctx, cli.Digest, "user:sgt"); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the sent-now clip to be synced", 30*time.Second, func() bool {
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
	token, _, err := d.auth.AddToken(ctx, "user:admin", "hq", 0)
	if err != nil {
		t.Fatal(err)
	}
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
			// Not hq.do: it fails the test, which only the test's own
			// goroutine may do.
			req, _ := http.NewRequest("GET", base+"/api/v1/central/changes?limit=1000", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return
			}
			n++
		}
	}()
	var ingested atomic.Int64
	done := make(chan error, 1)
	go func() {
		for i := range 3000 {
			blob := bytes.Repeat([]byte(fmt.Sprintf("item %d ", i)), 64)
			if _, _, err := d.vault.IngestReader(ctx, bytes.NewReader(blob), evidence.Intake{Source: "stress", OriginalName: fmt.Sprintf("n%d.bin", i)}); err != nil {
				done <- err
				return
			}
			ingested.Add(1)
		}
		done <- nil
	}()
	// A freeze is no progress at all, however slow the machine: judged by
	// progress, not by a deadline for the whole run, which a loaded machine
	// missed without anything being wrong.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last, lastMoved := int64(-1), time.Now()
	for waiting := true; waiting; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			waiting = false
		case <-tick.C:
			if n := ingested.Load(); n != last {
				last, lastMoved = n, time.Now()
			} else if time.Since(lastMoved) > time.Minute {
				// Not t.Fatal: the daemon's cleanup would wait on the
				// frozen index forever; the goroutine dump shows who
				// holds what.
				panic(fmt.Sprintf("intake froze at %d of 3000 items while central polled the changes feed", n))
			}
		}
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

// Central holds the appliance to its log over the pull API: it takes the
// newest checkpoint, checks it extends the one it co-signed before (a
// consistency proof), co-signs it and posts the cosignature back, which the
// appliance keeps; inclusion proofs put an item's events in a checkpoint.
// A cosignature of another history is refused as a fork, and one by a
// witness the appliance does not pin is refused.
func TestCentralWitnessesTheLog(t *testing.T) {
	_, hqKey, _ := ed25519.GenerateKey(nil)
	hq, err := custodylog.NewWitness("central-hq", hqKey)
	if err != nil {
		t.Fatal(err)
	}
	d, base := startDaemon(t, func(c *config.Config) { c.Witnesses = []string{hq.VerifierKey()} })
	ctx := context.Background()
	pub := d.vault.PublicKey()
	token, _, err := d.auth.AddToken(ctx, "user:admin", "hq", 0)
	if err != nil {
		t.Fatal(err)
	}
	c := centralClientT{t: t, base: base, token: token}
	clip, _, err := d.vault.IngestFile(ctx, filepath.Join(testFootage, "parking-cars.mp4"), evidence.Intake{Source: "bwv-7"})
	if err != nil {
		t.Fatal(err)
	}
	witness := func(seen *custodylog.Seen) custodylog.Seen {
		t.Helper()
		if _, err := d.vault.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		_, signed := c.do("GET", "/api/v1/central/log/checkpoint", nil, nil)
		latest, _, err := custodylog.Open(signed, pub)
		if err != nil {
			t.Fatalf("checkpoint %q: %v", signed, err)
		}
		var proof []tlog.Hash
		if seen != nil && seen.Size < latest.Size {
			resp, b := c.do("GET", fmt.Sprintf("/api/v1/central/log/consistency?old=%d&new=%d", seen.Size, latest.Size), nil, nil)
			var cp struct{ Proof []string }
			if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &cp) != nil {
				t.Fatalf("consistency: %s %s", resp.Status, b)
			}
			proof, _ = custodylog.DecodeHashes(cp.Proof)
		}
		now, cosigned, err := hq.Cosign(pub, seen, signed, proof)
		if err != nil {
			t.Fatalf("witness: %v", err)
		}
		if resp, b := c.do("POST", "/api/v1/central/log/cosignature", cosigned, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("post cosignature: %s %s", resp.Status, b)
		}
		return now
	}
	first := witness(nil)
	for _, name := range []string{"static-room.mp4", "faces-walking.mp4"} {
		d.vault.IngestFile(ctx, filepath.Join(testFootage, name), evidence.Intake{Source: "bwv-7"})
	}
	second := witness(&first)
	if second.Size <= first.Size {
		t.Fatalf("the log did not grow: %d then %d", first.Size, second.Size)
	}

	resp, b := c.do("GET", fmt.Sprintf("/api/v1/central/items/%s/proof?size=%d", clip.Digest, second.Size), nil, nil)
	var ip struct {
		Size   int64
		Events []evidence.CustodyEvent
		Proofs []evidence.EventProof
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &ip) != nil || len(ip.Proofs) != 1 {
		t.Fatalf("item proof: %s %s", resp.Status, b)
	}
	last := ip.Events[len(ip.Events)-1]
	hashes, _ := custodylog.DecodeHashes(ip.Proofs[0].Hashes)
	if err := tlog.CheckRecord(hashes, second.Size, second.Root, int64(last.Seq-1), custodylog.LeafHash(last)); err != nil {
		t.Fatalf("inclusion proof of the clip's newest event: %v", err)
	}

	// A cosigned checkpoint of another tree of the same size: a fork.
	seed, _ := os.ReadFile(filepath.Join(d.cfg.DataDir, "keys", "appliance.key"))
	raw, _ := hex.DecodeString(strings.TrimSpace(string(seed)))
	forged := custodylog.Checkpoint{Origin: custodylog.Origin(pub), Size: second.Size, Root: tlog.Hash{1}, Time: time.Now()}
	forgedSigned, _ := custodylog.Sign(ed25519.NewKeyFromSeed(raw), forged)
	_, forgedCosigned, _ := hq.Cosign(pub, nil, forgedSigned, nil)
	if resp, b := c.do("POST", "/api/v1/central/log/cosignature", forgedCosigned, nil); resp.StatusCode != http.StatusConflict {
		t.Fatalf("a cosignature of another history: %s %s", resp.Status, b)
	}
	_, strangerKey, _ := ed25519.GenerateKey(nil)
	stranger, _ := custodylog.NewWitness("someone", strangerKey)
	cp, _ := d.vault.LogCheckpoint(second.Size)
	_, strangers, _ := stranger.Cosign(pub, nil, cp.Signed, nil)
	if resp, _ := c.do("POST", "/api/v1/central/log/cosignature", strangers, nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a cosignature by a witness not pinned: %s", resp.Status)
	}
	r, err := d.vault.Verify(ctx, vault.VerifyOptions{Pinned: pub, Witnesses: mustWitness(t, hq.VerifierKey())})
	if err != nil || !r.OK() || r.Cosigned != 2 {
		t.Fatalf("verify with the kept cosignatures: %d cosigned, %v %v", r.Cosigned, r.Findings, err)
	}
}

func mustWitness(t *testing.T, vkey string) []note.Verifier {
	t.Helper()
	v, err := custodylog.WitnessVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return []note.Verifier{v}
}
