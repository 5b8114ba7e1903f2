package vault

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/evidence/custodylog"
	"github.com/edgetriage/edgetriage/testkit"
)

// stampNewest asks the real TSA to stamp the vault's newest checkpoint,
// as the daemon's stamper does, and keeps the token.
func stampNewest(t *testing.T, v *Vault, tsa *testkit.TSA) SignedCheckpoint {
	t.Helper()
	cp, unstamped, err := v.Unstamped()
	if err != nil || !unstamped {
		t.Fatalf("newest checkpoint: unstamped %v, %v", unstamped, err)
	}
	req, nonce, err := custodylog.TimestampRequest(cp.Signed)
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := custodylog.TimestampReply(tsa.Reply(t, req), cp.Signed, nonce, tsa.Pool())
	if err != nil {
		t.Fatal(err)
	}
	if err := v.StoreTimestamp(context.Background(), cp.Signed, token); err != nil {
		t.Fatal(err)
	}
	if _, unstamped, _ := v.Unstamped(); unstamped {
		t.Fatal("the checkpoint just stamped is still unstamped")
	}
	return cp
}

// twoStampedCheckpoints makes a vault with an item and two checkpoints a
// real TSA stamped, then a third, later checkpoint nobody stamped.
func twoStampedCheckpoints(t *testing.T, tsa *testkit.TSA) (dir string, item evidence.Digest, stamped []SignedCheckpoint) {
	t.Helper()
	ctx := context.Background()
	dir = t.TempDir()
	v := openVault(t, dir)
	defer v.Close()
	it, _, err := v.IngestReader(ctx, bytes.NewReader([]byte("evidence bytes of a clip")), evidence.Intake{Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		if _, err := v.Append(ctx, evidence.CustodyEvent{Actor: "user:staff", Action: evidence.ActionPreviewStart, Item: it.Digest,
			Details: map[string]string{"round": string(rune('a' + round))}}); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		stamped = append(stamped, stampNewest(t, v, tsa))
	}
	if _, err := v.Append(ctx, evidence.CustodyEvent{Actor: "user:staff", Action: evidence.ActionPreviewStop, Item: it.Digest}); err != nil {
		t.Fatal(err)
	}
	return dir, it.Digest, stamped
}

func verifyWithTSA(t *testing.T, dir string, tsa *testkit.TSA) Report {
	t.Helper()
	v, err := Open(context.Background(), dir, Options{VerifyOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	r, err := v.Verify(context.Background(), VerifyOptions{Pinned: readPub(t, dir), TSARoots: tsa.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestTimestampedCheckpointsVerifyOfflineWithTheTSACertificate(t *testing.T) {
	tsa := testkit.StartTSA(t)
	dir, item, stamped := twoStampedCheckpoints(t, tsa)

	r := verifyWithTSA(t, dir, tsa)
	if !r.OK() || r.Timestamps != 2 || len(r.TrustedTimes) != 2 {
		t.Fatalf("%d stamps, %d trusted:\n%s", r.Timestamps, len(r.TrustedTimes), findings(r))
	}
	for i, tt := range r.TrustedTimes {
		if tt.Size != stamped[i].Size || tt.TSA != tsa.Subject || time.Since(tt.Time) > time.Minute {
			t.Errorf("trusted time %d: %+v, want checkpoint %d by %s just now", i, tt, stamped[i].Size, tsa.Subject)
		}
	}

	// The manifest's checkpoint (signed when it is made, so never itself
	// stamped yet) carries the newest stamp and the proof it extends it.
	v := openVault(t, dir)
	signed, err := v.Manifest(context.Background(), item)
	v.Close()
	if err != nil {
		t.Fatal(err)
	}
	pub := readPub(t, dir)
	m, err := custodylog.VerifyManifest(signed, pub)
	if err != nil || m.Timestamp == nil {
		t.Fatalf("manifest: stamp %v, %v", m.Timestamp, err)
	}
	got, err := custodylog.VerifyCheckpointTimestamp(*m.Timestamp, m.Checkpoint, pub, tsa.Pool())
	if err != nil || got.Size != stamped[1].Size || m.Checkpoint.Size <= got.Size {
		t.Fatalf("manifest's stamp: %+v (manifest checkpoint %d), %v", got, m.Checkpoint.Size, err)
	}
}

func TestTimestampMovedToAnotherCheckpointIsRefused(t *testing.T) {
	tsa := testkit.StartTSA(t)
	dir, _, stamped := twoStampedCheckpoints(t, tsa)
	first, second := stamped[0].Size, stamped[1].Size
	// Someone offers the first checkpoint's token as the second's: the
	// second's note with the first's token.
	tamper(t, dir, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTimestamps)
		var a, c evidence.CheckpointTimestamp
		json.Unmarshal(b.Get(seqKey(uint64(first))), &a)
		json.Unmarshal(b.Get(seqKey(uint64(second))), &c)
		c.Token = a.Token
		raw, _ := json.Marshal(c)
		return b.Put(seqKey(uint64(second)), raw)
	})
	r := verifyWithTSA(t, dir, tsa)
	got := findings(r)
	want := "the TSA timestamp of checkpoint " + itoa(second) + ": refused: the token was issued by " + tsa.Subject
	if len(r.Findings) != 1 || !strings.Contains(got, want) || !strings.Contains(got, "for checkpoint "+itoa(first)+" (note SHA-256") {
		t.Fatalf("verify said:\n%s\nwant one finding naming both checkpoints", got)
	}
	if len(r.TrustedTimes) != 1 || r.TrustedTimes[0].Size != first {
		t.Fatalf("trusted times %+v, want only checkpoint %d's", r.TrustedTimes, first)
	}
}

func TestStoreTimestampRefusesANoteThatIsNotTheVaultsOwn(t *testing.T) {
	tsa := testkit.StartTSA(t)
	dir, _, stamped := twoStampedCheckpoints(t, tsa)
	v := openVault(t, dir)
	defer v.Close()
	_, stranger, _ := ed25519.GenerateKey(nil)
	c := stamped[0].Checkpoint
	foreign, _ := custodylog.Sign(stranger, custodylog.Checkpoint{Origin: custodylog.Origin(stranger.Public().(ed25519.PublicKey)), Size: c.Size, Root: c.Root, Time: c.Time})
	if err := v.StoreTimestamp(context.Background(), foreign, []byte("token")); err == nil {
		t.Fatal("a note signed by another key was stored")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
