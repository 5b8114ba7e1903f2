package custodylog

import (
	"crypto/ed25519"
	"encoding/hex"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// fuzzKey is fixed so the seeds below stay valid between runs.
func fuzzKey() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)) }

// A checkpoint note comes from a station over the network, or from a file
// central hands to verify: nothing it holds may crash the reader, and only
// what the key signed opens.
func FuzzOpenCheckpoint(f *testing.F) {
	key := fuzzKey()
	pub := key.Public().(ed25519.PublicKey)
	signed, _ := Sign(key, Checkpoint{Origin: Origin(pub), Size: 42, Root: tlog.Hash{7}, Time: time.Unix(1e9, 0)})
	f.Add(signed)
	f.Add([]byte("edgetriage.appliance/x\n1\nAAAA\n\n— x AAAA\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, _, err := Open(raw, pub)
		if err == nil && c.Origin != Origin(pub) {
			t.Fatalf("opened a checkpoint of another log: %+v", c)
		}
		ParseBody(string(raw))
	})
}

// A manifest is read from bundles and from central storage: whatever it
// holds, verifying it never panics, and a manifest that verifies proves an
// item whose record hashes to what its events vouch for.
func FuzzVerifyManifest(f *testing.F) {
	key := fuzzKey()
	f.Add(sealedManifest(f, key))
	f.Add([]byte(`{"format":"edgetriage-manifest-v1"}`))
	f.Add([]byte(`{"type":"edgetriage-manifest-v2","payload":{},"key_id":"","signature":""}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		rep, err := VerifyManifest(raw, key.Public().(ed25519.PublicKey))
		if err == nil && len(rep.Events) == 0 {
			t.Fatal("a manifest without events verified")
		}
	})
}

// sealedManifest is a valid v2 manifest of a one-event item.
func sealedManifest(tb testing.TB, key ed25519.PrivateKey) []byte {
	pub := key.Public().(ed25519.PublicKey)
	it := evidence.Item{Digest: evidence.DigestBytes([]byte("clip")), Size: 4, Kind: evidence.KindVideo, State: evidence.StateStored}
	record := []byte(`{"digest":"` + it.Digest.String() + `","size":4,"kind":"video","state":"stored","source":"","ingested_at":"0001-01-01T00:00:00Z"}`)
	e := evidence.CustodyEvent{V: evidence.EventFormat, Seq: 1, Time: time.Unix(1e9, 0).UTC(), Actor: "appliance", Action: evidence.ActionIngested,
		Item: it.Digest, Details: map[string]string{"record": evidence.DigestBytes(record).String()}}
	e.Hash = e.ComputeHash()
	root := LeafHash(e)
	signed, err := Sign(key, Checkpoint{Origin: Origin(pub), Size: 1, Root: root, Time: time.Unix(1e9, 0)})
	if err != nil {
		tb.Fatal(err)
	}
	m := evidence.ManifestV2{PublicKey: hex.EncodeToString(pub), Record: record, Events: []evidence.CustodyEvent{e}, Checkpoint: string(signed),
		Proofs: []evidence.EventProof{{Seq: 1, Hashes: []string{}}}}
	raw, err := evidence.Seal(key, evidence.TypeManifest, m)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := VerifyManifest(raw, pub); err != nil {
		tb.Fatalf("the seed manifest does not verify: %v", err)
	}
	return raw
}

// A receipt comes back from a station to central: whatever it holds,
// reading it never panics, and a manifest sealed by the same key is never
// taken for a receipt.
func FuzzVerifyReceipt(f *testing.F) {
	key := fuzzKey()
	pub := key.Public().(ed25519.PublicKey)
	r, _ := evidence.SignReceipt(key, evidence.Receipt{Digest: evidence.DigestBytes([]byte("x")), Central: "hq", Seq: 3})
	f.Add([]byte(r))
	f.Add(sealedManifest(f, key))
	f.Add([]byte(`{"receipt":{},"signature":""}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if env, err := evidence.ReadEnvelope(raw); err == nil && env.Type == evidence.TypeManifest {
			if _, err := evidence.VerifyReceipt(pub, raw); err == nil {
				t.Fatal("a manifest was taken for a receipt")
			}
		}
		evidence.VerifyReceipt(pub, raw)
	})
}
