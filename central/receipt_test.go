package central

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"testing"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/evidence/custodylog"
)

// witnessFixture is a station log of 6 events, central's witness, and
// the witness record of a manifest whose checkpoint has 8 events held to
// the co-signed checkpoint of 6.
type witnessFixture struct {
	pub      ed25519.PublicKey
	witness  *custodylog.Witness
	manifest custodylog.Checkpoint
	record   []byte
}

func newWitnessFixture(t testing.TB) witnessFixture {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	_, wkey, _ := ed25519.GenerateKey(rand.Reader)
	w, err := custodylog.NewWitness("central-test", wkey)
	if err != nil {
		t.Fatal(err)
	}
	l := newFakeLog(key, "a", "b", "c", "d", "e", "f")
	_, cosigned, err := w.Cosign(key.Public().(ed25519.PublicKey), nil, l.checkpoint(key), nil)
	if err != nil {
		t.Fatal(err)
	}
	l.append(evidence.CustodyEvent{Actor: "x", Action: "g"})
	l.append(evidence.CustodyEvent{Actor: "x", Action: "h"})
	mc, _, err := custodylog.Open(l.checkpoint(key), key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	proof, _ := l.consistency(6, 8)
	rec, _ := json.Marshal(WitnessRecord{Type: WitnessRecordType, ManifestSize: 8, Cosigned: string(cosigned), Consistency: custodylog.EncodeHashes(proof)})
	return witnessFixture{pub: key.Public().(ed25519.PublicKey), witness: w, manifest: mc, record: rec}
}

// TestWitnessRecordHoldsTheManifestToTheCosignedHistory: the record
// verifies with central's key; another witness's key, another manifest
// checkpoint or a proof that does not hold are refused.
func TestWitnessRecordHoldsTheManifestToTheCosignedHistory(t *testing.T) {
	fx := newWitnessFixture(t)
	v, _ := custodylog.WitnessVerifier(fx.witness.VerifierKey())
	got, err := checkWitnessRecord(fx.record, fx.pub, v, fx.manifest)
	if err != nil || got.Size != 6 || got.Witness != "central-test" {
		t.Fatalf("record: %+v %v", got, err)
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	stranger, _ := custodylog.NewWitness("central-test", other)
	sv, _ := custodylog.WitnessVerifier(stranger.VerifierKey())
	if _, err := checkWitnessRecord(fx.record, fx.pub, sv, fx.manifest); err == nil {
		t.Error("a record co-signed by another key under the same name verified")
	}
	moved := fx.manifest
	moved.Root[0] ^= 1
	if _, err := checkWitnessRecord(fx.record, fx.pub, v, moved); err == nil {
		t.Error("a manifest checkpoint of another tree was held to the co-signed history")
	}
	var rec WitnessRecord
	json.Unmarshal(fx.record, &rec)
	rec.Consistency = rec.Consistency[:len(rec.Consistency)-1]
	short, _ := json.Marshal(rec)
	if _, err := checkWitnessRecord(short, fx.pub, v, fx.manifest); err == nil {
		t.Error("a cut proof verified")
	}
}

// FuzzWitnessRecord: whatever is stored as a witness record, checking it
// never panics, and what it accepts carries central's cosignature of a
// checkpoint signed by the station's key.
func FuzzWitnessRecord(f *testing.F) {
	fx := newWitnessFixture(f)
	v, _ := custodylog.WitnessVerifier(fx.witness.VerifierKey())
	f.Add(fx.record)
	f.Add([]byte(`{"type":"edgetriage-central-witness-v1","manifest_checkpoint_size":8,"cosigned_checkpoint":"","consistency_proof":[]}`))
	f.Add([]byte(`{"type":"edgetriage-central-witness-v1","extra":1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if _, err := checkWitnessRecord(raw, fx.pub, v, fx.manifest); err != nil {
			return
		}
		var rec WitnessRecord
		if err := json.Unmarshal(raw, &rec); err != nil {
			t.Fatalf("accepted a record that is not JSON: %v", err)
		}
		if _, sigs, err := custodylog.Cosignatures([]byte(rec.Cosigned), fx.pub, v); err != nil || len(sigs) == 0 {
			t.Fatalf("accepted a record without central's cosignature: %v", err)
		}
	})
}
