package vault

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/evidence/custodylog"
)

// verifyPinned verifies dir as an admin would, with the key recorded at
// first start, as if run `later` after the vault was last written.
func verifyPinned(t *testing.T, dir string, pinned ed25519.PublicKey, later time.Duration) Report {
	t.Helper()
	v, err := Open(context.Background(), dir, Options{VerifyOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	r, err := v.Verify(context.Background(), VerifyOptions{Pinned: pinned, Now: func() time.Time { return time.Now().Add(later) }})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func findings(r Report) string {
	var all []string
	for _, f := range r.Findings {
		all = append(all, f.String())
	}
	return strings.Join(all, "\n")
}

func readPub(t *testing.T, dir string) ed25519.PublicKey {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "keys", "appliance.pub"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := evidence.ParsePublicKey(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// Bytes that are not UTF-8 reach the chain from outside: a user name typed
// at the login form cut in the middle of a character, a file name on a
// docked camera, a device field. Before, JSON replaced them when the event
// was stored, the stored event no longer matched its hash, and verify
// failed on every run for ever.
func TestTextThatIsNotUTF8NeverBreaksTheChain(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	v := openVault(t, dir)
	halfE := strings.Repeat("a", 63) + "\xc3" // "é" cut at byte 64
	if _, err := v.Append(ctx, evidence.CustodyEvent{Actor: evidence.Actor("user:" + halfE), Action: evidence.ActionLogin,
		Details: map[string]string{"name": halfE, "range": "bytes=0-\xff", "bay\xfe": "x"}}); err != nil {
		t.Fatal(err)
	}
	name := "CLIP\xff\xfe.MP4"
	it, _, err := v.IngestReader(ctx, strings.NewReader("clip bytes"), evidence.Intake{Source: "serial-\xff", OriginalName: name,
		Officer: "PC \xe9", Details: map[string]string{"volume_label": "CAM\xff"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.UpdateItem(ctx, it.Digest, Change{Actor: "user:staff", Action: evidence.ActionRecordChanged,
		Apply: func(it *evidence.Item) error {
			it.Labels = map[string]string{"category": "case \xff"}
			return nil
		}}); err != nil {
		t.Fatal(err)
	}
	v.Close()

	if r := verifyPinned(t, dir, readPub(t, dir), 0); !r.OK() {
		t.Fatalf("verify after text that is not UTF-8:\n%s", findings(r))
	}
	v = openVault(t, dir)
	defer v.Close()
	stored, err := v.Item(it.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if raw, _ := hex.DecodeString(stored.Raw["original_name"]); string(raw) != name {
		t.Fatalf("the file name's bytes were not kept: raw %q, shown as %q", raw, stored.OriginalName)
	}
	if stored.OriginalName != "CLIP\uFFFD\uFFFD.MP4" || stored.Raw["source"] == "" || stored.Raw["officer"] == "" || stored.Raw["labels.category"] == "" {
		t.Fatalf("record as stored: %+v", stored)
	}
	evs, _ := v.ItemEvents(it.Digest)
	if got := evidence.OriginalText(evs[0].Details, "name"); got != name {
		t.Fatalf("ingest event keeps the name as %q, want the original bytes %q", got, name)
	}
	var login evidence.CustodyEvent
	v.Events(1, func(e evidence.CustodyEvent) bool {
		if e.Action == evidence.ActionLogin {
			login = e
		}
		return true
	})
	if evidence.OriginalText(login.Details, "name") != halfE || login.Details["actor"+evidence.RawSuffix] != hex.EncodeToString([]byte("user:"+halfE)) ||
		login.Details["key-hex:"+hex.EncodeToString([]byte("bay\xfe"))] != "x" {
		t.Fatalf("login event details: %q", login.Details)
	}
}

// An event stored before this version with invalid bytes replaced stays
// reported - the migration repairs nothing - and the finding says why.
func TestEventDamagedWhenStoredIsReportedWithItsReason(t *testing.T) {
	dir, _ := ingestFootage(t)
	tamper(t, dir, func(tx *bolt.Tx) error {
		e := eventAt(t, tx, 3)
		e.Details = map[string]string{"name": "caf\xc3"}
		e.Hash = e.ComputeHash()
		// What the old code did: hash the raw bytes, store JSON's
		// replacement.
		putEvent(t, tx, 3, e)
		return nil
	})
	r := verifyPinned(t, dir, readPub(t, dir), 0)
	if got := findings(r); !strings.Contains(got, "event 3: content does not match its hash") || !strings.Contains(got, "U+FFFD") {
		t.Fatalf("verify:\n%s", got)
	}
}

// rehashFrom recomputes every event's links from seq on, as someone who
// edits history and wants the chain to look whole would.
func rehashFrom(t *testing.T, tx *bolt.Tx, seq uint64) {
	t.Helper()
	prev := eventAt(t, tx, seq-1)
	c := tx.Bucket(bucketCustody).Cursor()
	for k, raw := c.Seek(seqKey(seq)); k != nil; k, raw = c.Next() {
		e, err := decodeEvent(raw)
		if err != nil {
			t.Fatal(err)
		}
		e.Prev = prev.Hash
		e.Hash = e.ComputeHash()
		putEvent(t, tx, e.Seq, e)
		prev = e
	}
}

// rebuildTree recomputes the stored Merkle tree from the events, as a
// thorough rewriter would.
func rebuildTree(t *testing.T, tx *bolt.Tx) {
	t.Helper()
	if err := tx.DeleteBucket(bucketTree); err != nil {
		t.Fatal(err)
	}
	tx.CreateBucket(bucketTree)
	c := tx.Bucket(bucketCustody).Cursor()
	for k, raw := c.First(); k != nil; k, raw = c.Next() {
		e, _ := decodeEvent(raw)
		if err := addLeafTx(tx, e); err != nil {
			t.Fatal(err)
		}
	}
}

func dropCheckpointsFrom(t *testing.T, tx *bolt.Tx, seq uint64) {
	t.Helper()
	for _, name := range [][]byte{bucketCheckpoints, bucketLogCheckpoints} {
		b := tx.Bucket(name)
		var keys [][]byte
		b.ForEach(func(k, _ []byte) error {
			if binary.BigEndian.Uint64(k) >= seq {
				keys = append(keys, append([]byte(nil), k...))
			}
			return nil
		})
		for _, k := range keys {
			b.Delete(k)
		}
	}
}

// Someone who can write data/ but does not hold the key rewrites history.
// Each way of doing it is reported by verify with the pinned key.
func TestRewrittenHistoryIsReportedWithThePinnedKey(t *testing.T) {
	cases := []struct {
		name    string
		rewrite func(t *testing.T, dir string)
		later   time.Duration // how long after the rewrite verify runs
		want    string
	}{
		{"events edited, re-hashed, later checkpoints deleted", func(t *testing.T, dir string) {
			tamper(t, dir, func(tx *bolt.Tx) error {
				e := eventAt(t, tx, 3)
				e.Actor = "user:mallory"
				putEvent(t, tx, 3, e)
				rehashFrom(t, tx, 3)
				rebuildTree(t, tx)
				dropCheckpointsFrom(t, tx, 3)
				return nil
			})
		}, 0, "covered by no signed checkpoint"},
		{"events edited, re-hashed, later checkpoints deleted, verified at once", func(t *testing.T, dir string) {
			tamper(t, dir, func(tx *bolt.Tx) error {
				e := eventAt(t, tx, 5)
				e.Details["note"] = "inserted"
				putEvent(t, tx, 5, e)
				rehashFrom(t, tx, 5)
				rebuildTree(t, tx)
				dropCheckpointsFrom(t, tx, 5)
				return nil
			})
		}, 0, "covered by no signed checkpoint"},
		{"tail dropped back to a periodic checkpoint, with the later ones", func(t *testing.T, dir string) {
			tamper(t, dir, func(tx *bolt.Tx) error {
				c := tx.Bucket(bucketLogCheckpoints).Cursor()
				c.Last()
				prevKey, _ := c.Prev() // the periodic checkpoint before the close
				cut := binary.BigEndian.Uint64(prevKey)
				for {
					last, _ := tx.Bucket(bucketCustody).Cursor().Last()
					if binary.BigEndian.Uint64(last) <= cut {
						break
					}
					tx.Bucket(bucketCustody).Delete(last)
				}
				dropCheckpointsFrom(t, tx, cut+1)
				return nil
			})
		}, 10 * time.Minute, "not with the vault closed in order"},
		{"whole history re-signed under a new key", func(t *testing.T, dir string) {
			_, priv, _ := ed25519.GenerateKey(nil)
			pub := priv.Public().(ed25519.PublicKey)
			tamper(t, dir, func(tx *bolt.Tx) error {
				e := eventAt(t, tx, 1)
				e.Details["public_key"] = hex.EncodeToString(pub)
				e.Details["key_id"] = evidence.KeyID(pub)
				e.Hash = e.ComputeHash()
				putEvent(t, tx, 1, e)
				rehashFrom(t, tx, 2)
				rebuildTree(t, tx)
				b := tx.Bucket(bucketLogCheckpoints)
				return b.ForEach(func(k, raw []byte) error {
					c, _, _ := custodylog.Open(raw, readPub(t, dir))
					c.Origin = custodylog.Origin(pub)
					c.Root, _ = tlog.TreeHash(c.Size, treeReader{tx.Bucket(bucketTree)})
					fresh, _ := custodylog.Sign(priv, c)
					return b.Put(k, fresh)
				})
			})
			os.WriteFile(filepath.Join(dir, "keys", "appliance.key"), []byte(hex.EncodeToString(priv.Seed())), 0o600)
			os.WriteFile(filepath.Join(dir, "keys", "appliance.pub"), []byte(hex.EncodeToString(pub)), 0o644)
		}, 0, "not the pinned key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := dayWithPeriodicCheckpoint(t)
			pinned := readPub(t, dir) // written down at first start
			if r := verifyPinned(t, dir, pinned, c.later); !r.OK() {
				t.Fatalf("intact vault:\n%s", findings(r))
			}
			c.rewrite(t, dir)
			r := verifyPinned(t, dir, pinned, c.later)
			if r.OK() || !strings.Contains(findings(r), c.want) {
				t.Fatalf("after %s verify said:\n%s\nwant a finding containing %q", c.name, findings(r), c.want)
			}
		})
	}
}

// dayWithPeriodicCheckpoint is a vault as a running daemon leaves it:
// footage, a periodic checkpoint, more events, an orderly close.
func dayWithPeriodicCheckpoint(t *testing.T) string {
	t.Helper()
	dir, _ := ingestFootage(t)
	v := openVault(t, dir)
	for i := range 6 {
		if i == 3 {
			if _, err := v.Checkpoint(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := v.Append(context.Background(), evidence.CustodyEvent{Actor: "user:staff", Action: evidence.ActionPreviewStart,
			Details: map[string]string{"n": string(rune('a' + i))}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Checkpoint times that run backwards mean checkpoints were re-signed
// with a clock set back: only someone with the key does that.
func TestCheckpointTimesRunningBackwardsAreReported(t *testing.T) {
	dir := dayWithPeriodicCheckpoint(t)
	seed, _ := os.ReadFile(filepath.Join(dir, "keys", "appliance.key"))
	raw, _ := hex.DecodeString(strings.TrimSpace(string(seed)))
	priv := ed25519.NewKeyFromSeed(raw)
	pub := readPub(t, dir)
	tamper(t, dir, func(tx *bolt.Tx) error {
		k, last := tx.Bucket(bucketLogCheckpoints).Cursor().Last()
		c, _, err := custodylog.Open(last, pub)
		if err != nil {
			t.Fatal(err)
		}
		c.Time = c.Time.Add(-time.Hour)
		back, _ := custodylog.Sign(priv, c)
		return tx.Bucket(bucketLogCheckpoints).Put(k, back)
	})
	r := verifyPinned(t, dir, pub, 0)
	if got := findings(r); !strings.Contains(got, "checkpoint times run backwards") {
		t.Fatalf("verify:\n%s", got)
	}
}

// Start-up recovery used to delete object files that no record named. Cut
// the history that names an item and start the daemon: its bytes are
// kept, in quarantine, with a custody event saying so.
func TestBytesNoHistoryNamesAreQuarantinedNotDeleted(t *testing.T) {
	dir, items := ingestFootage(t)
	victim := items[2]
	tamper(t, dir, func(tx *bolt.Tx) error {
		tx.Bucket(bucketItems).Delete(victim.Digest[:])
		c := tx.Bucket(bucketItemEvents).Cursor()
		var keys [][]byte
		for k, _ := c.Seek(victim.Digest[:]); k != nil && [32]byte(k[:32]) == victim.Digest; k, _ = c.Next() {
			keys = append(keys, append([]byte(nil), k...))
		}
		for _, k := range keys {
			tx.Bucket(bucketItemEvents).Delete(k)
		}
		return nil
	})
	v := openVault(t, dir)
	evs, err := v.ItemEvents(victim.Digest)
	v.Close()
	if err != nil || len(evs) != 1 || evs[0].Action != evidence.ActionQuarantined {
		t.Fatalf("events naming the quarantined bytes: %+v, %v", evs, err)
	}
	f, err := os.Open(filepath.Join(dir, "quarantine", victim.Digest.String()))
	if err != nil {
		t.Fatalf("quarantined copy: %v", err)
	}
	defer f.Close()
	got, _, err := evidence.DigestOf(f)
	if err != nil || got != victim.Digest {
		t.Fatalf("quarantined copy: %v %v", got, err)
	}
}

// A record edited to say "removed" must not get its bytes deleted by the
// recovery that finishes interrupted removals.
func TestRecordEditedToRemovedKeepsItsBytes(t *testing.T) {
	dir, items := ingestFootage(t)
	victim := items[1]
	tamper(t, dir, func(tx *bolt.Tx) error {
		victim.State = evidence.StateRemoved
		raw, _ := json.Marshal(victim)
		return tx.Bucket(bucketItems).Put(victim.Digest[:], raw)
	})
	openVault(t, dir).Close()
	if _, err := os.Stat(filepath.Join(dir, "objects", victim.Digest.String()[:2], victim.Digest.String())); err != nil {
		t.Fatalf("bytes of a record edited to removed: %v", err)
	}
	if r := verifyOnly(t, dir); !strings.Contains(findings(r), "edited outside the vault") {
		t.Fatalf("verify:\n%s", findings(r))
	}
}

// Whoever holds the appliance's key can rewrite history and sign it all
// again; a local verify alone cannot tell. A checkpoint a witness co-signed
// can: the rewritten events no longer hash to the tree the witness saw,
// whether the cosignature is still in the vault or comes from central.
func TestHistoryRewrittenWithTheRealKeyIsCaughtByACosignature(t *testing.T) {
	dir := dayWithPeriodicCheckpoint(t)
	pub := readPub(t, dir)
	seed, _ := os.ReadFile(filepath.Join(dir, "keys", "appliance.key"))
	raw, _ := hex.DecodeString(strings.TrimSpace(string(seed)))
	priv := ed25519.NewKeyFromSeed(raw)
	_, hqKey, _ := ed25519.GenerateKey(nil)
	hq, err := custodylog.NewWitness("central-hq", hqKey)
	if err != nil {
		t.Fatal(err)
	}
	hqKeyPinned, _ := custodylog.WitnessVerifier(hq.VerifierKey())

	v := openVault(t, dir)
	cp, err := v.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, cosigned, err := hq.Cosign(pub, nil, cp.Signed, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.StoreCosignature(context.Background(), cosigned, hqKeyPinned); err != nil {
		t.Fatal(err)
	}
	v.Close()
	if r := verifyPinned(t, dir, pub, 0); !r.OK() || r.Cosigned != 1 {
		t.Fatalf("before the rewrite (%d cosigned):\n%s", r.Cosigned, findings(r))
	}

	// The rewrite: an event edited, every later event re-hashed, the tree
	// rebuilt, every checkpoint signed again with the appliance's own key.
	tamper(t, dir, func(tx *bolt.Tx) error {
		e := eventAt(t, tx, 4)
		e.Details["note"] = "rewritten"
		e.Hash = e.ComputeHash()
		putEvent(t, tx, 4, e)
		rehashFrom(t, tx, 5)
		rebuildTree(t, tx)
		b := tx.Bucket(bucketLogCheckpoints)
		return b.ForEach(func(k, raw []byte) error {
			c, _, _ := custodylog.Open(raw, pub)
			c.Root, _ = tlog.TreeHash(c.Size, treeReader{tx.Bucket(bucketTree)})
			fresh, _ := custodylog.Sign(priv, c)
			return b.Put(k, fresh)
		})
	})
	want := fmt.Sprintf("history rewritten after checkpoint %d cosigned by central-hq at", cp.Size)
	check := func(how string, opts VerifyOptions) {
		t.Helper()
		v, err := Open(context.Background(), dir, Options{VerifyOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		opts.Pinned = pub
		r, err := v.Verify(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(findings(r), want) {
			t.Fatalf("%s: verify said:\n%s\nwant %q", how, findings(r), want)
		}
	}
	check("cosignature kept in the vault", VerifyOptions{Witnesses: []note.Verifier{hqKeyPinned}})
	tamper(t, dir, func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketCosignatures) })
	tamper(t, dir, func(tx *bolt.Tx) error { _, err := tx.CreateBucket(bucketCosignatures); return err })
	check("cosignature deleted from the vault, central's copy given", VerifyOptions{Witnesses: []note.Verifier{hqKeyPinned}, Cosigned: [][]byte{cosigned}})
}
