package main

import (
	"strings"
	"testing"
)

// A --pubkey file that is there but cannot be read is reported as such
// (it was taken for the key itself and refused as "want 64 hex
// characters", which sent an admin looking at the key's contents).
func TestPubkeyFileThatCannotBeReadIsNamed(t *testing.T) {
	data := t.TempDir()
	if r := run(t, "ingest", "--data", data, footage+"/static-room.mp4"); r.code != 0 {
		t.Fatalf("ingest: %s", r.stderr)
	}
	unreadable := t.TempDir() // a directory: read(2) fails even for root
	r := run(t, "verify", "--data", data, "--pubkey", unreadable)
	if r.code != 2 || !strings.Contains(r.stderr, "--pubkey") || !strings.Contains(r.stderr, "is a directory") || strings.Contains(r.stderr, "hex") {
		t.Fatalf("verify --pubkey DIR: exit %d\n%s", r.code, r.stderr)
	}
	if v := verifyPinned(t, data); v.code != 0 {
		t.Fatalf("verify with the key file: %s%s", v.stdout, v.stderr)
	}
}
