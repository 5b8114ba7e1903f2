package custodylog

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

// memTree is a tree whose stored hashes live in memory, as the vault keeps
// them in bbolt.
type memTree struct {
	hashes []tlog.Hash
	n      int64
}

func (m *memTree) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x >= int64(len(m.hashes)) {
			return nil, errors.New("hash not stored")
		}
		out[i] = m.hashes[x]
	}
	return out, nil
}

func (m *memTree) add(leaf tlog.Hash) {
	hs, err := tlog.StoredHashesForRecordHash(m.n, leaf, m)
	if err != nil {
		panic(err)
	}
	m.hashes = append(m.hashes, hs...)
	m.n++
}

func leaf(i int64) tlog.Hash {
	return tlog.RecordHash(binary.BigEndian.AppendUint64(nil, uint64(i)))
}

func buildTree(n int64) *memTree {
	m := &memTree{hashes: make([]tlog.Hash, 0, 2*n)}
	for i := range n {
		m.add(leaf(i))
	}
	return m
}

func checkpointOf(t testing.TB, m *memTree, key ed25519.PrivateKey, size int64) []byte {
	t.Helper()
	root, err := tlog.TreeHash(size, m)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := Sign(key, Checkpoint{Origin: Origin(key.Public().(ed25519.PublicKey)), Size: size, Root: root, Time: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func TestCheckpointSignsAndOpens(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	other, _, _ := ed25519.GenerateKey(nil)
	m := buildTree(100)
	signed := checkpointOf(t, m, key, 100)
	c, _, err := Open(signed, pub)
	if err != nil || c.Size != 100 || c.Origin != Origin(pub) || c.Time.IsZero() {
		t.Fatalf("open: %+v %v", c, err)
	}
	if !strings.HasPrefix(string(signed), Origin(pub)+"\n100\n") {
		t.Fatalf("not the C2SP checkpoint layout:\n%s", signed)
	}
	if _, _, err := Open(signed, other); !errors.Is(err, ErrCheckpoint) {
		t.Fatalf("opened with another appliance's key: %v", err)
	}
	edited := strings.Replace(string(signed), "\n100\n", "\n99\n", 1)
	if _, _, err := Open([]byte(edited), pub); !errors.Is(err, ErrCheckpoint) {
		t.Fatalf("edited checkpoint opened: %v", err)
	}
}

// Consistency proofs between random pairs of checkpoints of one log of a
// million events verify; a proof against a different history does not.
func TestConsistencyBetweenRandomCheckpointsOfAMillionEvents(t *testing.T) {
	const n = 1_000_000
	m := buildTree(n)
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		a, b := r.Int64N(n)+1, r.Int64N(n)+1
		if a > b {
			a, b = b, a
		}
		ra, _ := tlog.TreeHash(a, m)
		rb, _ := tlog.TreeHash(b, m)
		p, err := tlog.ProveTree(b, a, m)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.CheckTree(p, b, rb, a, ra); err != nil {
			t.Fatalf("consistency %d -> %d: %v", a, b, err)
		}
		if a < b {
			forged := ra
			forged[0] ^= 1
			if tlog.CheckTree(p, b, rb, a, forged) == nil {
				t.Fatalf("consistency %d -> %d holds for a different old tree", a, b)
			}
		}
	}
}

// An inclusion proof holds for the event the log has at that place and for
// no other: a tampered event fails.
func TestInclusionProofFailsForATamperedEvent(t *testing.T) {
	var evs []evidence.CustodyEvent
	m := &memTree{}
	var prev evidence.Digest
	for i := range 1000 {
		e := evidence.CustodyEvent{Seq: uint64(i + 1), Time: time.Unix(int64(i), 0).UTC(), Actor: "appliance", Action: evidence.ActionIngested,
			Details: map[string]string{"n": string(rune('a' + i%26))}, Prev: prev}
		e.Hash = e.ComputeHash()
		prev = e.Hash
		evs = append(evs, e)
		m.add(LeafHash(e))
	}
	root, _ := tlog.TreeHash(1000, m)
	p, err := tlog.ProveRecord(1000, 417, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.CheckRecord(p, 1000, root, 417, LeafHash(evs[417])); err != nil {
		t.Fatalf("the event's own proof: %v", err)
	}
	tampered := evs[417]
	tampered.Details = map[string]string{"n": "forged"}
	tampered.Hash = tampered.ComputeHash()
	if tlog.CheckRecord(p, 1000, root, 417, LeafHash(tampered)) == nil {
		t.Fatal("the proof holds for a tampered event")
	}
}

// A witness co-signs a checkpoint that extends the one it saw, and calls a
// fork what does not: a rewritten history signed with the real key, shown
// to it later, or shown to a second witness than the one that saw the
// first - either witness catches it.
func TestWitnessesCatchAForkEitherWay(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	_, hqKey, _ := ed25519.GenerateKey(nil)
	_, regionKey, _ := ed25519.GenerateKey(nil)
	hq, err := NewWitness("central-hq", hqKey)
	if err != nil {
		t.Fatal(err)
	}
	region, _ := NewWitness("central-region", regionKey)
	honest := buildTree(5000)
	first := checkpointOf(t, honest, key, 3000)
	seenHQ, cosigned, err := hq.Cosign(pub, nil, first, nil)
	if err != nil {
		t.Fatal(err)
	}
	hqVerifier, err := WitnessVerifier(hq.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, sigs, err := Cosignatures(cosigned, pub, hqVerifier); err != nil || len(sigs) != 1 || sigs[0].Witness != "central-hq" {
		t.Fatalf("cosignatures: %+v %v", sigs, err)
	}
	later := checkpointOf(t, honest, key, 5000)
	proof, _ := tlog.ProveTree(5000, 3000, honest)
	if _, _, err := hq.Cosign(pub, &seenHQ, later, proof); err != nil {
		t.Fatalf("an honest extension: %v", err)
	}

	// The history rewritten from event 2000 on, re-signed with the real key.
	forked := &memTree{}
	for i := range int64(5000) {
		if i >= 2000 {
			h := sha256.Sum256([]byte{byte(i), 'x'})
			forked.add(tlog.Hash(h))
			continue
		}
		forked.add(leaf(i))
	}
	forkedHead := checkpointOf(t, forked, key, 5000)
	forkedProof, _ := tlog.ProveTree(5000, 3000, forked)
	var fe *ForkError
	if _, _, err := hq.Cosign(pub, &seenHQ, forkedHead, forkedProof); !errors.As(err, &fe) || !errors.Is(err, ErrFork) {
		t.Fatalf("hq shown the rewritten history: %v", err)
	}
	if _, _, err := Open(fe.Earlier, pub); err != nil {
		t.Fatalf("the fork's evidence is not a signed checkpoint: %v", err)
	}
	// Shown only to the second witness, the rewritten log looks fine on
	// its own; once it sees the honest head, or hq sees its co-signed
	// forked one, the fork shows.
	seenRegion, _, err := region.Cosign(pub, nil, checkpointOf(t, forked, key, 4000), nil)
	if err != nil {
		t.Fatal(err)
	}
	honestProof, _ := tlog.ProveTree(5000, 4000, honest)
	if _, _, err := region.Cosign(pub, &seenRegion, later, honestProof); !errors.Is(err, ErrFork) {
		t.Fatalf("region shown the honest head after the fork: %v", err)
	}
	same := checkpointOf(t, forked, key, 3000)
	if _, _, err := hq.Cosign(pub, &seenHQ, same, nil); !errors.Is(err, ErrFork) {
		t.Fatalf("two trees of the same size: %v", err)
	}
}
