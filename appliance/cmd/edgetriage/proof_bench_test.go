package main

import (
	"archive/tar"
	"crypto/ed25519"
	be "encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/evidence/custodylog"
)

// BenchmarkBundleProofTenMillion is issue 16's figure: an item ingested
// as event 1 of a log of ten million events and exported as its last. The
// bundle proves both events with one inclusion proof (the export event
// chains to the ingest by item_prev). It reports the bytes of that proof
// (checkpoint note and proof hashes; goal under 4 KiB) and the median time
// of edgetriage-verify on it, the static verifier a court's clerk runs
// (goal under 50 ms), and for the record that of the station's own
// `edgetriage verify --bundle`, whose start-up loads OpenCV's few hundred
// shared libraries before it reads a byte. The tree is synthetic apart from the item's two
// leaves, its hashes computed on demand, so the log needs no 3 GB vault.
func BenchmarkBundleProofTenMillion(b *testing.B) {
	const size = 10_000_000
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	pub := key.Public().(ed25519.PublicKey)
	clip := []byte("ten million events later, still provable")
	item := evidence.Item{Digest: evidence.DigestBytes(clip), Size: int64(len(clip)), Kind: evidence.KindVideo, State: evidence.StateStored,
		Source: "bwv-7", OriginalName: "clip.mp4", IngestedAt: time.Unix(1.7e9, 0).UTC()}
	record, _ := json.Marshal(item) // as the vault stores it
	ingest := evidence.CustodyEvent{V: evidence.EventFormat, Seq: 1, Time: item.IngestedAt, Actor: "dock:bay-1", Action: evidence.ActionIngested,
		Item: item.Digest, Details: map[string]string{"record": evidence.DigestBytes(record).String()}}
	ingest.Hash = ingest.ComputeHash()
	export := evidence.CustodyEvent{V: evidence.EventFormat, Seq: size, Time: item.IngestedAt.Add(time.Hour), Actor: "user:ivy",
		Action: evidence.ActionExported, Item: item.Digest, ItemPrev: ingest.Hash, Details: map[string]string{"reason": "case 1"}}
	export.Hash = export.ComputeHash()
	tree := &synthTree{ends: map[int64]tlog.Hash{0: custodylog.LeafHash(ingest), size - 1: custodylog.LeafHash(export)}, memo: map[int64]tlog.Hash{}}

	built := time.Now()
	root, err := tlog.TreeHash(size, tree)
	if err != nil {
		b.Fatal(err)
	}
	proof, err := tlog.ProveRecord(size, size-1, tree)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("tree of %d events built in %s", size, time.Since(built).Round(time.Millisecond))
	signed, _ := custodylog.Sign(key, custodylog.Checkpoint{Origin: custodylog.Origin(pub), Size: size, Root: root, Time: export.Time})
	m := evidence.ManifestV2{PublicKey: hex.EncodeToString(pub), Record: record, Events: []evidence.CustodyEvent{ingest, export},
		Checkpoint: string(signed), Proofs: []evidence.EventProof{{Seq: size, Hashes: custodylog.EncodeHashes(proof)}}}
	manifest, err := evidence.Seal(key, evidence.TypeManifest, m)
	if err != nil {
		b.Fatal(err)
	}
	bundlePath := filepath.Join(b.TempDir(), "case.bundle")
	writeTestBundle(b, bundlePath, manifest, item, clip)
	pubFile := filepath.Join(b.TempDir(), "station.pub")
	os.WriteFile(pubFile, []byte(hex.EncodeToString(pub)), 0o644)

	var court, station []time.Duration
	for b.Loop() {
		for range 5 {
			court = append(court, timeRun(b, exec.Command(verifier, "--pubkey", pubFile, bundlePath)))
			station = append(station, timeRun(b, exec.Command(binary, "verify", "--bundle", bundlePath, "--pubkey", pubFile)))
		}
	}
	proofBytes := len(signed) + len(proof)*tlog.HashSize
	b.ReportMetric(float64(proofBytes), "proof-bytes")
	b.ReportMetric(medianMillis(court), "ms/verify")
	b.ReportMetric(medianMillis(station), "ms/verify-station-binary")
	b.Logf("bundle proof %d bytes (checkpoint %d, %d hashes); manifest %d bytes; median edgetriage-verify %.1f ms, edgetriage verify --bundle %.1f ms",
		proofBytes, len(signed), len(proof), len(manifest), medianMillis(court), medianMillis(station))
}

// timeRun runs a verifier that must pass and says how long it took.
func timeRun(b *testing.B, cmd *exec.Cmd) time.Duration {
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err != nil {
		b.Fatalf("%s: %v\n%s", cmd.Path, err, out)
	}
	return took
}

func medianMillis(d []time.Duration) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[len(s)/2].Microseconds()) / 1000
}

// synthTree is a log whose leaves are all synthetic except the item's; the
// stored hashes tlog asks for are computed from the leaves on demand.
type synthTree struct {
	ends map[int64]tlog.Hash // leaves that are real events
	memo map[int64]tlog.Hash // large subtrees already computed
}

func (s *synthTree) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		level, n := tlog.SplitStoredHashIndex(x)
		out[i] = s.subtree(level, n)
	}
	return out, nil
}

func (s *synthTree) subtree(level int, n int64) tlog.Hash {
	if level == 0 {
		if h, ok := s.ends[n]; ok {
			return h
		}
		return tlog.RecordHash(be.BigEndian.AppendUint64(nil, uint64(n)))
	}
	key := tlog.StoredHashIndex(level, n)
	if h, ok := s.memo[key]; ok {
		return h
	}
	h := tlog.NodeHash(s.subtree(level-1, 2*n), s.subtree(level-1, 2*n+1))
	if level >= 10 {
		s.memo[key] = h
	}
	return h
}

func writeTestBundle(b *testing.B, path string, manifest []byte, it evidence.Item, clip []byte) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	tw.WriteHeader(&tar.Header{Name: "manifest.json", Mode: 0o444, Size: int64(len(manifest))})
	tw.Write(manifest)
	tw.WriteHeader(&tar.Header{Name: "item/" + it.Digest.String() + ".mp4", Mode: 0o444, Size: int64(len(clip))})
	tw.Write(clip)
	if err := tw.Close(); err != nil {
		b.Fatal(err)
	}
}
