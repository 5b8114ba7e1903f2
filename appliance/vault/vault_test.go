package vault

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/media"
)

const footage = "../../testdata/footage"

func openVault(t testing.TB, dir string) *Vault {
	t.Helper()
	v, err := Open(context.Background(), dir, Options{Prober: media.Probe})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func verifyOnly(t testing.TB, dir string) Report {
	t.Helper()
	v, err := Open(context.Background(), dir, Options{VerifyOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	r, err := v.Verify(context.Background(), VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// ingestFootage fills a vault with the real test clips and closes it.
func ingestFootage(t testing.TB) (dir string, items []evidence.Item) {
	t.Helper()
	dir = t.TempDir()
	v := openVault(t, dir)
	_, err := v.IngestPaths(context.Background(), []string{footage}, evidence.Intake{Source: "test"}, func(r TreeResult) {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Path, r.Err)
		}
		if r.Skip == "" {
			items = append(items, r.Item)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, items
}

func TestIngestRealFootageVerifies(t *testing.T) {
	dir, items := ingestFootage(t)
	if len(items) < 8 {
		t.Fatalf("ingested %d items from %s", len(items), footage)
	}
	for _, it := range items {
		if strings.HasSuffix(it.OriginalName, "parking-cars.mp4") {
			if it.Media.VideoCodec != "h264" || it.Media.Width != 768 || it.Kind != evidence.KindVideo {
				t.Errorf("parking-cars probed as %+v", it.Media)
			}
			want, _ := evidence.ParseDigest("d31e0ebf194cc16e50eea784e7c3b0b1bb7976a4fb9b3fec26cb92a6704cca34")
			if it.Digest != want {
				t.Errorf("parking-cars digest %s, SOURCES.md says %s", it.Digest, want)
			}
		}
		if fi, err := os.Stat(filepath.Join(dir, "objects", it.Digest.String()[:2], it.Digest.String())); err != nil || fi.Mode().Perm()&0o222 != 0 {
			t.Errorf("%s: object missing or writable: %v %v", it.OriginalName, fi.Mode(), err)
		}
	}
	if r := verifyOnly(t, dir); !r.OK() || r.Items != len(items) || r.Checkpoints == 0 {
		t.Fatalf("verify after ingest: %+v", r)
	}
}

func TestSameBytesTwiceAreOneItemWithTwoEvents(t *testing.T) {
	v := openVault(t, t.TempDir())
	defer v.Close()
	ctx := context.Background()
	a, newA, err := v.IngestReader(ctx, strings.NewReader("same bytes"), evidence.Intake{Source: "cam-1", OriginalName: "a.bin"})
	if err != nil {
		t.Fatal(err)
	}
	b, newB, err := v.IngestReader(ctx, strings.NewReader("same bytes"), evidence.Intake{Source: "cam-2", OriginalName: "b.bin"})
	if err != nil {
		t.Fatal(err)
	}
	if !newA || newB || a.Digest != b.Digest || b.Source != "cam-1" {
		t.Fatalf("second ingest: new=%v %v, item %+v", newA, newB, b)
	}
	evs, err := v.ItemEvents(a.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Action != evidence.ActionIngested || evs[1].Action != evidence.ActionIngestedAgain || evs[1].Details["source"] != "cam-2" {
		t.Fatalf("events for duplicate: %+v", evs)
	}
}

// tamper opens the closed vault's index for writing behind its back.
func tamper(t *testing.T, dir string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, "index.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	db.Close()
}

func eventAt(t *testing.T, tx *bolt.Tx, seq uint64) evidence.CustodyEvent {
	t.Helper()
	e, err := decodeEvent(tx.Bucket(bucketCustody).Get(seqKey(seq)))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func putEvent(t *testing.T, tx *bolt.Tx, key uint64, e evidence.CustodyEvent) {
	t.Helper()
	raw, _ := json.Marshal(e)
	if err := tx.Bucket(bucketCustody).Put(seqKey(key), raw); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyNamesEveryTampering(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(t *testing.T, dir string, victim evidence.Item)
		want   string // a substring the finding must carry
	}{
		{"byte flipped in a vault file", func(t *testing.T, dir string, victim evidence.Item) {
			p := filepath.Join(dir, "objects", victim.Digest.String()[:2], victim.Digest.String())
			os.Chmod(p, 0o644)
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0x01
			os.WriteFile(p, b, 0o444)
		}, "content does not match"},
		{"vault file deleted", func(t *testing.T, dir string, victim evidence.Item) {
			os.Remove(filepath.Join(dir, "objects", victim.Digest.String()[:2], victim.Digest.String()))
		}, "missing from the object store"},
		{"item record edited", func(t *testing.T, dir string, victim evidence.Item) {
			tamper(t, dir, func(tx *bolt.Tx) error {
				victim.Officer = "someone else"
				raw, _ := json.Marshal(victim)
				return tx.Bucket(bucketItems).Put(victim.Digest[:], raw)
			})
		}, "edited outside the vault"},
		{"item record deleted", func(t *testing.T, dir string, victim evidence.Item) {
			tamper(t, dir, func(tx *bolt.Tx) error { return tx.Bucket(bucketItems).Delete(victim.Digest[:]) })
		}, "record missing"},
		{"custody event edited", func(t *testing.T, dir string, victim evidence.Item) {
			tamper(t, dir, func(tx *bolt.Tx) error {
				e := eventAt(t, tx, 3)
				e.Actor = "user:mallory"
				putEvent(t, tx, 3, e)
				return nil
			})
		}, "event 3: content does not match"},
		{"custody event edited and re-hashed", func(t *testing.T, dir string, victim evidence.Item) {
			tamper(t, dir, func(tx *bolt.Tx) error {
				e := eventAt(t, tx, 3)
				e.Actor = "user:mallory"
				e.Hash = e.ComputeHash()
				putEvent(t, tx, 3, e)
				return nil
			})
		}, "event 4: previous-hash"},
		{"custody event deleted", func(t *testing.T, dir string, victim evidence.Item) {
			tamper(t, dir, func(tx *bolt.Tx) error { return tx.Bucket(bucketCustody).Delete(seqKey(3)) })
		}, "event 4"},
		{"newest custody event deleted", func(t *testing.T, dir string, victim evidence.Item) {
			tamper(t, dir, func(tx *bolt.Tx) error {
				k, _ := tx.Bucket(bucketCustody).Cursor().Last()
				return tx.Bucket(bucketCustody).Delete(k)
			})
		}, "covers events the chain no longer has"},
		{"two custody events swapped", func(t *testing.T, dir string, victim evidence.Item) {
			tamper(t, dir, func(tx *bolt.Tx) error {
				a, b := eventAt(t, tx, 3), eventAt(t, tx, 4)
				putEvent(t, tx, 3, b)
				putEvent(t, tx, 4, a)
				return nil
			})
		}, "event 3"},
		{"signing key replaced", func(t *testing.T, dir string, victim evidence.Item) {
			_, priv, _ := ed25519.GenerateKey(nil)
			os.WriteFile(filepath.Join(dir, "keys", "appliance.key"), []byte(hex.EncodeToString(priv.Seed())), 0o600)
		}, "not the key this vault was created with"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, items := ingestFootage(t)
			if r := verifyOnly(t, dir); !r.OK() {
				t.Fatalf("intact vault: %v", r.Findings)
			}
			victim := items[1]
			c.tamper(t, dir, victim)
			r := verifyOnly(t, dir)
			var all []string
			for _, f := range r.Findings {
				all = append(all, f.String())
			}
			joined := strings.Join(all, "\n")
			if r.OK() || !strings.Contains(joined, c.want) {
				t.Fatalf("after %s verify said:\n%s\nwant a finding containing %q", c.name, joined, c.want)
			}
			if !strings.HasPrefix(c.want, "event") && !strings.Contains(c.want, "key") && !strings.Contains(c.want, "chain") {
				if !strings.Contains(joined, victim.Digest.String()) {
					t.Fatalf("finding does not name item %s:\n%s", victim.Digest, joined)
				}
			}
		})
	}
}

func TestReplacedKeyIsNotUsedForSigning(t *testing.T) {
	dir, _ := ingestFootage(t)
	_, priv, _ := ed25519.GenerateKey(nil)
	os.WriteFile(filepath.Join(dir, "keys", "appliance.key"), []byte(hex.EncodeToString(priv.Seed())), 0o600)
	_, err := Open(context.Background(), dir, Options{})
	if err == nil || !strings.Contains(err.Error(), "not the key") {
		t.Fatalf("open with a replaced key: %v", err)
	}
}

func TestBadInputIsReportedAndNothingHalfStored(t *testing.T) {
	src := t.TempDir()
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret.mp4"), []byte("outside the tree"), 0o644)
	os.Symlink(filepath.Join(outside, "secret.mp4"), filepath.Join(src, "link.mp4"))
	os.WriteFile(filepath.Join(src, "empty.mp4"), nil, 0o644)
	clip, _ := os.ReadFile(filepath.Join(footage, "parking-cars.mp4"))
	os.WriteFile(filepath.Join(src, "truncated.mp4"), clip[:len(clip)/3], 0o644)

	dir := t.TempDir()
	v := openVault(t, dir)
	results := map[string]TreeResult{}
	_, err := v.IngestPaths(context.Background(), []string{src}, evidence.Intake{Source: "test"}, func(r TreeResult) {
		results[filepath.Base(r.Path)] = r
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := results["link.mp4"]; r.Skip == "" || !strings.Contains(r.Skip, "not followed") {
		t.Errorf("symlink: %+v", r)
	}
	if r := results["empty.mp4"]; r.Err != nil || !r.Item.HasProblem(evidence.ProblemEmpty) {
		t.Errorf("empty file: %+v", r)
	}
	if r := results["truncated.mp4"]; r.Err != nil || !r.Item.HasProblem(evidence.ProblemUndecodable) || r.Item.Media.Error == "" {
		t.Errorf("truncated clip not kept and marked: %+v", r)
	}
	secret := evidence.DigestBytes([]byte("outside the tree"))
	if _, err := v.Item(secret); err == nil {
		t.Error("a file outside the tree was ingested through a symlink")
	}
	if _, _, err := v.IngestFile(context.Background(), filepath.Join(src, "link.mp4"), evidence.Intake{}); err == nil {
		t.Error("IngestFile followed a symlink")
	}
	if _, _, err := v.IngestFile(context.Background(), filepath.Join(src, "nope.mp4"), evidence.Intake{}); err == nil || !strings.Contains(err.Error(), "nope.mp4") {
		t.Errorf("missing file: %v", err)
	}
	v.Close()
	if entries, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(entries) != 0 {
		t.Errorf("staged copies left behind: %v", entries)
	}
	if r := verifyOnly(t, dir); !r.OK() {
		t.Fatalf("verify: %v", r.Findings)
	}
}

func TestFileGrowingWhileReadIsMarked(t *testing.T) {
	src := filepath.Join(t.TempDir(), "growing.bin")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(bytes.Repeat([]byte{1}, 32<<20))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				f.Write(bytes.Repeat([]byte{2}, 4096))
			}
		}
	})
	v := openVault(t, t.TempDir())
	defer v.Close()
	it, _, err := v.IngestFile(context.Background(), src, evidence.Intake{})
	close(stop)
	wg.Wait()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !it.HasProblem(evidence.ProblemChangedOnRead) {
		t.Fatalf("growing file not marked: %+v", it.Problems)
	}
	stored, _ := os.ReadFile(v.ObjectPath(it.Digest))
	if evidence.DigestBytes(stored) != it.Digest || int64(len(stored)) != it.Size {
		t.Fatal("stored bytes are not the bytes that were hashed")
	}
}

func TestTenThousandSmallFiles(t *testing.T) {
	src := t.TempDir()
	for i := range 10000 {
		os.WriteFile(filepath.Join(src, fmt.Sprintf("f%05d.txt", i)), []byte(fmt.Sprintf("note %d", i)), 0o644)
	}
	dir := t.TempDir()
	v := openVault(t, dir)
	n := 0
	failed, err := v.IngestPaths(context.Background(), []string{src}, evidence.Intake{Source: "bulk"}, func(r TreeResult) {
		if r.New {
			n++
		}
	})
	if err != nil || failed != 0 || n != 10000 {
		t.Fatalf("ingested %d new, %d failed, err %v", n, failed, err)
	}
	v.Close()
	if r := verifyOnly(t, dir); !r.OK() || r.Items != 10000 {
		t.Fatalf("verify: %d items, %v", r.Items, r.Findings)
	}
}

// Many writers at once: group commit must keep one gap-free chain and give
// every caller its own events back.
func TestConcurrentAppendsKeepOneChain(t *testing.T) {
	dir := t.TempDir()
	v := openVault(t, dir)
	var wg sync.WaitGroup
	seen := make(chan uint64, 64*50)
	for w := range 64 {
		wg.Go(func() {
			for i := range 50 {
				evs, err := v.Append(context.Background(), evidence.CustodyEvent{Actor: evidence.Actor(fmt.Sprintf("w%d", w)), Action: evidence.ActionVerified,
					Details: map[string]string{"i": fmt.Sprint(i)}})
				if err != nil || len(evs) != 1 || evs[0].Actor != evidence.Actor(fmt.Sprintf("w%d", w)) {
					t.Errorf("append: %v %+v", err, evs)
					return
				}
				seen <- evs[0].Seq
			}
		})
	}
	wg.Wait()
	close(seen)
	unique := map[uint64]bool{}
	for s := range seen {
		unique[s] = true
	}
	if len(unique) != 64*50 {
		t.Fatalf("%d distinct sequence numbers for %d appends", len(unique), 64*50)
	}
	v.Close()
	if r := verifyOnly(t, dir); !r.OK() || r.Events != 64*50+2 {
		t.Fatalf("verify: %d events, %v", r.Events, r.Findings)
	}
}

func TestStateSurvivesReopenAndVerifyItemCatchesDamage(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	v := openVault(t, dir)
	kv := v.State("dock")
	if err := kv.Put(ctx, "bay-1/clip.mp4", []byte("abc")); err != nil {
		t.Fatal(err)
	}
	it, _, err := v.IngestReader(ctx, strings.NewReader("footage"), evidence.Intake{Source: "bay-1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.VerifyItem(ctx, it.Digest); err != nil {
		t.Fatalf("intact copy: %v", err)
	}
	v.Close()
	p := filepath.Join(dir, "objects", it.Digest.String()[:2], it.Digest.String())
	os.Chmod(p, 0o644)
	os.WriteFile(p, []byte("footagf"), 0o444)
	v = openVault(t, dir)
	defer v.Close()
	if got, _ := v.State("dock").Get("bay-1/clip.mp4"); string(got) != "abc" {
		t.Fatalf("state after reopen: %q", got)
	}
	if err := v.VerifyItem(ctx, it.Digest); err == nil {
		t.Fatal("damaged copy verified")
	}
	var keys []string
	v.State("dock").Scan("bay-1/", func(k string, _ []byte) bool { keys = append(keys, k); return true })
	if len(keys) != 1 {
		t.Fatalf("scan: %v", keys)
	}
}

// The running totals /metrics reads agree with a walk of the index after
// ingests, a removal and a reopen, so a scrape never has to walk it.
func TestStatsFollowTheIndex(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	v := openVault(t, dir)
	var items []evidence.Item
	for i := range 5 {
		it, _, err := v.IngestReader(ctx, strings.NewReader(fmt.Sprintf("clip %d", i)), evidence.Intake{Source: "cam"})
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
	}
	v.IngestReader(ctx, strings.NewReader("clip 0"), evidence.Intake{Source: "again"})
	if err := v.RemoveLocal(ctx, items[1].Digest, "appliance:retention", "test"); err != nil {
		t.Fatal(err)
	}
	walk := func(v *Vault) ItemStats {
		var s ItemStats
		v.Items(func(it evidence.Item) bool {
			if it.State == evidence.StateStored {
				s.Stored++
				s.StoredBytes += it.Size
			} else {
				s.Removed++
			}
			return true
		})
		return s
	}
	if got, want := v.Stats(), walk(v); got != want || got.Stored != 4 || got.Removed != 1 {
		t.Fatalf("running totals %+v, the index says %+v", got, want)
	}
	v.Close()
	v = openVault(t, dir)
	defer v.Close()
	if got, want := v.Stats(), walk(v); got != want {
		t.Fatalf("after reopening: %+v, the index says %+v", got, want)
	}
}

// Copy buffers are reused from one ingest to the next: whatever sizes
// follow one another, at the same time or not, every item holds exactly
// its own bytes under its own digest, none of an earlier ingest's.
func TestIngestsOfMixedSizesKeepTheirOwnBytes(t *testing.T) {
	v := openVault(t, t.TempDir())
	defer v.Close()
	sizes := []int{3<<20 + 17, 10, 0, 1<<20 + 1, 5, 2 << 20, 700_000}
	var wg sync.WaitGroup
	for round := range 2 {
		for i, size := range sizes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				data := make([]byte, size)
				for j := range data {
					data[j] = byte(round*31 + i*7 + j%251)
				}
				it, _, err := v.IngestReader(context.Background(), bytes.NewReader(data), evidence.Intake{Source: "test", Kind: evidence.KindOther})
				if err != nil {
					t.Error(err)
					return
				}
				stored, err := os.ReadFile(v.ObjectPath(it.Digest))
				if err != nil {
					t.Error(err)
					return
				}
				if want := sha256.Sum256(data); it.Digest != evidence.Digest(want) || !bytes.Equal(stored, data) {
					t.Errorf("round %d, %d bytes: stored %d bytes under %s, want %x", round, size, len(stored), it.Digest, want)
				}
			}()
		}
		wg.Wait() // the second round reuses the first's buffers
	}
}
