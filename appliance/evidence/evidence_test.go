package evidence

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDigestRoundTrip(t *testing.T) {
	d := DigestBytes([]byte("footage"))
	back, err := ParseDigest(d.String())
	if err != nil || back != d {
		t.Fatalf("ParseDigest(%s) = %v, %v", d, back, err)
	}
	if _, err := ParseDigest("abc"); err == nil || !strings.Contains(err.Error(), "64 hex") {
		t.Fatalf("short digest: error %v does not say what a digest must be", err)
	}
	if _, err := ParseDigest(strings.Repeat("zz", 32)); err == nil {
		t.Fatal("non-hex digest accepted")
	}
}

func chain(n int) []CustodyEvent {
	var evs []CustodyEvent
	var prev Digest
	for i := range n {
		e := CustodyEvent{Seq: uint64(i + 1), Time: time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC),
			Actor: "appliance", Action: ActionIngested, Details: map[string]string{"b": "2", "a": "1"}, Prev: prev}
		e.Hash = e.ComputeHash()
		prev = e.Hash
		evs = append(evs, e)
	}
	return evs
}

func TestChainDetectsEditsAndReordering(t *testing.T) {
	evs := chain(3)
	for i := 1; i < len(evs); i++ {
		if err := CheckLink(&evs[i-1], evs[i]); err != nil {
			t.Fatalf("intact chain: %v", err)
		}
	}
	edited := evs[1]
	edited.Details = map[string]string{"a": "1", "b": "3"}
	if err := CheckLink(&evs[0], edited); !errors.Is(err, ErrChainBroken) {
		t.Fatalf("edited detail not caught: %v", err)
	}
	if err := CheckLink(&evs[0], evs[2]); !errors.Is(err, ErrChainBroken) {
		t.Fatalf("deleted event not caught: %v", err)
	}
	if err := CheckLink(&evs[2], evs[1]); !errors.Is(err, ErrChainBroken) {
		t.Fatalf("swapped events not caught: %v", err)
	}
}

func TestCheckpointSignature(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	other, _, _ := ed25519.GenerateKey(nil)
	head := chain(2)[1]
	cp := SignCheckpoint(priv, head, time.Now())
	if err := VerifyCheckpoint(pub, cp); err != nil {
		t.Fatalf("good checkpoint: %v", err)
	}
	if err := VerifyCheckpoint(other, cp); err == nil {
		t.Fatal("checkpoint verified with the wrong key")
	}
	cp.Head[0] ^= 1
	if err := VerifyCheckpoint(pub, cp); err == nil {
		t.Fatal("checkpoint over a changed head verified")
	}
}

func TestRecordHashChangesWithAnyField(t *testing.T) {
	it := Item{Digest: DigestBytes([]byte("x")), Size: 1, Kind: KindVideo, State: StateStored, Source: "cam"}
	h := it.RecordHash()
	it.Officer = "pc-123"
	if it.RecordHash() == h {
		t.Fatal("record hash ignores officer")
	}
}
