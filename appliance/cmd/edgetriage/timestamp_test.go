package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/evidence/custodylog"
	"github.com/edgetriage/edgetriage/appliance/vault"
	"github.com/edgetriage/edgetriage/testkit"
)

// stampCheckpoint signs the vault's tree and has the real TSA stamp it, as
// the daemon's timestamper does; it returns the note and the token.
func stampCheckpoint(t *testing.T, data string, tsa *testkit.TSA) (note, token []byte, size int64) {
	t.Helper()
	ctx := context.Background()
	v, err := vault.Open(ctx, data, vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := v.Append(ctx, evidence.CustodyEvent{Actor: "user:staff", Action: evidence.ActionPreviewStart}); err != nil {
		t.Fatal(err)
	}
	cp, err := v.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req, nonce, err := custodylog.TimestampRequest(cp.Signed)
	if err != nil {
		t.Fatal(err)
	}
	token, _, err = custodylog.TimestampReply(tsa.Reply(t, req), cp.Signed, nonce, tsa.Pool())
	if err != nil {
		t.Fatal(err)
	}
	if err := v.StoreTimestamp(ctx, cp.Signed, token); err != nil {
		t.Fatal(err)
	}
	return cp.Signed, token, cp.Size
}

func TestVerifyProvesWhenCheckpointsExistedWithTheTSACertificate(t *testing.T) {
	tsa := testkit.StartTSA(t)
	data := t.TempDir()
	if r := run(t, "ingest", "--data", data, filepath.Join(footage, "parking-cars.mp4")); r.code != 0 {
		t.Fatalf("ingest: %s", r.stderr)
	}
	_, _, size := stampCheckpoint(t, data, tsa)
	pub := filepath.Join(data, "keys", "appliance.pub")
	want := fmt.Sprintf("checkpoint %d existed by ", size)

	r := run(t, "verify", "--data", data, "--pubkey", pub, "--tsa-cert", tsa.CACertFile)
	if r.code != 0 || !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, "(TSA "+tsa.Subject+")") {
		t.Fatalf("verify --data --tsa-cert: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, "verify", "--data", data, "--pubkey", pub); r.code != 0 || !strings.Contains(r.stdout, "not checked: pass --tsa-cert") {
		t.Fatalf("verify without --tsa-cert: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// The bundle carries the stamp: a court checks it with the TSA's
	// certificate alone, without the appliance.
	bundle := filepath.Join(t.TempDir(), "case.bundle")
	if r := run(t, "export", "--data", data, parkingDigest, "--out", bundle, "--reason", "case 1234"); r.code != 0 {
		t.Fatalf("export: %s", r.stderr)
	}
	for name, r := range checkBundle(t, bundle, "--pubkey", pub, "--tsa-cert", tsa.CACertFile) {
		if r.code != 0 || !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, "(TSA "+tsa.Subject+")") {
			t.Errorf("%s --tsa-cert: exit %d\n%s%s", name, r.code, r.stdout, r.stderr)
		}
	}
	// Another TSA's certificate proves nothing.
	other := testkit.StartTSA(t)
	for name, r := range checkBundle(t, bundle, "--pubkey", pub, "--tsa-cert", other.CACertFile) {
		if r.code != 1 || !strings.Contains(r.stdout, "not trusted by the given certificate") {
			t.Errorf("%s with another TSA's certificate: exit %d\n%s%s", name, r.code, r.stdout, r.stderr)
		}
	}
}

func TestVerifyRefusesATokenMovedToAnotherCheckpoint(t *testing.T) {
	tsa := testkit.StartTSA(t)
	data := t.TempDir()
	if r := run(t, "ingest", "--data", data, filepath.Join(footage, "parking-cars.mp4")); r.code != 0 {
		t.Fatalf("ingest: %s", r.stderr)
	}
	_, token, first := stampCheckpoint(t, data, tsa)
	// A later checkpoint, given the first one's token as if the TSA had
	// stamped it.
	ctx := context.Background()
	v, err := vault.Open(ctx, data, vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v.Append(ctx, evidence.CustodyEvent{Actor: "user:staff", Action: evidence.ActionPreviewStop})
	later, err := v.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.StoreTimestamp(ctx, later.Signed, token); err != nil {
		t.Fatal(err)
	}
	v.Close()
	r := run(t, "verify", "--data", data, "--pubkey", filepath.Join(data, "keys", "appliance.pub"), "--tsa-cert", tsa.CACertFile)
	want := fmt.Sprintf("the TSA timestamp of checkpoint %d: refused: the token was issued by %s at", later.Size, tsa.Subject)
	if r.code != 1 || !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, fmt.Sprintf("for checkpoint %d (note SHA-256", first)) {
		t.Fatalf("verify: exit %d\n%s%s\nwant %q naming checkpoint %d", r.code, r.stdout, r.stderr, want, first)
	}
	if !strings.Contains(r.stdout, fmt.Sprintf("checkpoint %d existed by", first)) {
		t.Fatalf("the first checkpoint's own stamp is no longer shown:\n%s", r.stdout)
	}
}
