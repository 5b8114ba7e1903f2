package custodylog

import (
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/testkit"
)

// stamp asks the real TSA to stamp note, as the appliance does.
func stamp(t *testing.T, tsa *testkit.TSA, note []byte) ([]byte, TrustedTime) {
	t.Helper()
	req, nonce, err := TimestampRequest(note)
	if err != nil {
		t.Fatal(err)
	}
	token, tt, err := TimestampReply(tsa.Reply(t, req), note, nonce, tsa.Pool())
	if err != nil {
		t.Fatalf("the TSA's own reply: %v", err)
	}
	return token, tt
}

func TestTimestampOfACheckpointVerifiesWithTheTSACertificateOnly(t *testing.T) {
	tsa := testkit.StartTSA(t)
	_, key, _ := ed25519.GenerateKey(nil)
	pub := key.Public().(ed25519.PublicKey)
	m := buildTree(40)
	older, newer := checkpointOf(t, m, key, 25), checkpointOf(t, m, key, 40)
	before := time.Now().Add(-2 * time.Second)
	token, tt := stamp(t, tsa, older)
	if tt.Time.Before(before) || tt.Time.After(time.Now().Add(2*time.Second)) || tt.TSA != tsa.Subject {
		t.Fatalf("the token says %s by %q; want about now by %q", tt.Time, tt.TSA, tsa.Subject)
	}

	// A manifest's checkpoint of 40 events carries the stamp of 25 and the
	// consistency proof: the 25 events existed by the TSA's time.
	c, _, err := Open(newer, pub)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := tlog.ProveTree(40, 25, m)
	if err != nil {
		t.Fatal(err)
	}
	s := evidence.CheckpointTimestamp{Note: string(older), Token: token, Consistency: EncodeHashes(proof)}
	got, err := VerifyCheckpointTimestamp(s, c, pub, tsa.Pool())
	if err != nil || got.Size != 25 || !got.Time.Equal(tt.Time) {
		t.Fatalf("stamp of 25 with the manifest's 40: %+v, %v", got, err)
	}

	// The same token offered for the checkpoint of 40 is refused: it stamps
	// another note.
	_, err = CheckToken(token, newer, tsa.Pool())
	if !errors.Is(err, ErrOtherCheckpoint) {
		t.Fatalf("token of 25 taken for 40: %v", err)
	}
	moved := evidence.CheckpointTimestamp{Note: string(newer), Token: token}
	if _, err := VerifyCheckpointTimestamp(moved, c, pub, tsa.Pool()); !errors.Is(err, ErrOtherCheckpoint) {
		t.Fatalf("token moved onto checkpoint 40: %v", err)
	}

	// Another CA (a TSA nobody pinned) proves nothing.
	other := testkit.StartTSA(t)
	if _, err := CheckToken(token, older, other.Pool()); !errors.Is(err, ErrTimestamp) || !strings.Contains(err.Error(), "not trusted") {
		t.Fatalf("token checked against another CA: %v", err)
	}
	if _, err := CheckToken(token, older, x509.NewCertPool()); !errors.Is(err, ErrTimestamp) {
		t.Fatalf("token checked against no CA: %v", err)
	}

	// A consistency proof that does not hold, or a stamp of a later tree,
	// is refused.
	bad := s
	bad.Consistency = EncodeHashes(proof[1:])
	if _, err := VerifyCheckpointTimestamp(bad, c, pub, tsa.Pool()); !errors.Is(err, ErrTimestamp) {
		t.Fatalf("broken consistency proof: %v", err)
	}
	early, _, _ := Open(older, pub)
	if _, err := VerifyCheckpointTimestamp(evidence.CheckpointTimestamp{Note: string(newer), Token: token}, early, pub, tsa.Pool()); !errors.Is(err, ErrTimestamp) {
		t.Fatalf("stamp of a later checkpoint: %v", err)
	}
}

func TestTimestampReplyIsHeldToItsRequest(t *testing.T) {
	tsa := testkit.StartTSA(t)
	_, key, _ := ed25519.GenerateKey(nil)
	m := buildTree(3)
	note := checkpointOf(t, m, key, 3)
	req, nonce, err := TimestampRequest(note)
	if err != nil {
		t.Fatal(err)
	}
	reply := tsa.Reply(t, req)
	if _, _, err := TimestampReply(reply, note, nonce.Add(nonce, nonce), tsa.Pool()); !errors.Is(err, ErrTimestamp) || !strings.Contains(err.Error(), "nonce") {
		t.Fatalf("reply to another request: %v", err)
	}
	if _, _, err := TimestampReply([]byte("<html>proxy error</html>"), note, nonce, tsa.Pool()); !errors.Is(err, ErrTimestamp) {
		t.Fatalf("garbage reply: %v", err)
	}
}

// Tokens and replies come from the network and from bundles handed over:
// whatever the bytes, checking them must not panic, and nothing but a
// token over exactly this note from the trusted TSA may pass.
func FuzzTimestampToken(f *testing.F) {
	tsa := testkit.StartTSA(f)
	_, key, _ := ed25519.GenerateKey(nil)
	note := checkpointOf(f, buildTree(5), key, 5)
	req, nonce, err := TimestampRequest(note)
	if err != nil {
		f.Fatal(err)
	}
	reply := tsa.Reply(f, req)
	token, _, err := TimestampReply(reply, note, nonce, tsa.Pool())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(reply)
	f.Add(token)
	f.Add(token[:len(token)/2])
	f.Add([]byte{0x30, 0x80, 0x00, 0x00})
	roots := tsa.Pool()
	f.Fuzz(func(t *testing.T, data []byte) {
		if tt, err := CheckToken(data, note, roots); err == nil && tt.Imprint != NoteHash(note) {
			t.Fatalf("a token over %s passed for the note %s", tt.Imprint, NoteHash(note))
		}
		if tok, _, err := TimestampReply(data, note, nonce, roots); err == nil {
			if _, err := CheckToken(tok, note, roots); err != nil {
				t.Fatalf("a reply passed whose token does not: %v", err)
			}
		}
	})
}
