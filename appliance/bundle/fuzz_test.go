package bundle

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

// A bundle arrives from anywhere (a court's disc, an email): whatever its
// bytes, verify never panics, never reads a manifest without bound, and
// never calls a bundle intact whose item does not hash to what the
// manifest says.
func FuzzVerifyBundle(f *testing.F) {
	old, err := os.ReadFile("../../testdata/custody/v0.1-static-room.bundle")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(old)
	f.Add(smallBundle(f))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		rep, err := verifyFrom(bytes.NewReader(raw), "fuzzed", nil)
		if err == nil && (rep.Item.Size < 0 || rep.Key == nil) {
			t.Fatalf("verified a bundle without an item or signer: %+v", rep)
		}
	})
}

// smallBundle is a v2 bundle of a few bytes, which the fuzzer can mutate
// quickly.
func smallBundle(f *testing.F) []byte {
	ctx := context.Background()
	v, err := vault.Open(ctx, f.TempDir(), vault.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer v.Close()
	it, _, err := v.IngestReader(ctx, strings.NewReader("a few bytes of clip"), evidence.Intake{Source: "cam", OriginalName: "c.mp4"})
	if err != nil {
		f.Fatal(err)
	}
	out := filepath.Join(f.TempDir(), "small.bundle")
	if err := Export(ctx, v, it.Digest, out, "user:ivy", "fuzz seed"); err != nil {
		f.Fatal(err)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		f.Fatal(err)
	}
	return raw
}
