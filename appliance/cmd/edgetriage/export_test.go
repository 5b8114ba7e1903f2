package main

import (
	"archive/tar"
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgetriage/edgetriage/appliance/evidence"
)

const parkingDigest = "d31e0ebf194cc16e50eea784e7c3b0b1bb7976a4fb9b3fec26cb92a6704cca34"

// exportParking ingests the real footage, exports one clip, and removes the
// vault, so every later check runs without the appliance's data.
func exportParking(t *testing.T) (bundle, pubkey string) {
	t.Helper()
	data := t.TempDir()
	if r := run(t, "ingest", "--data", data, footage); r.code != 0 {
		t.Fatalf("ingest: %s", r.stderr)
	}
	bundle = filepath.Join(t.TempDir(), "case.bundle")
	if r := run(t, "export", "--data", data, parkingDigest, "--out", bundle, "--reason", "case 1234"); r.code != 0 {
		t.Fatalf("export: %s", r.stderr)
	}
	raw, _ := os.ReadFile(filepath.Join(data, "keys", "appliance.pub"))
	pubkey = strings.TrimSpace(string(raw))
	os.RemoveAll(data)
	return bundle, pubkey
}

func TestExportedBundleVerifiesOffline(t *testing.T) {
	bundle, pubkey := exportParking(t)
	for how, r := range checkBundle(t, bundle, "--pubkey", pubkey) {
		if r.code != 0 || !strings.Contains(r.stdout, "intact: item "+parkingDigest) || !strings.Contains(r.stdout, "pinned") {
			t.Fatalf("%s: exit %d %s%s", how, r.code, r.stdout, r.stderr)
		}
	}
	m := readManifest(t, bundle)
	var actions []evidence.Action
	for _, e := range m.Events {
		actions = append(actions, e.Action)
	}
	if len(actions) != 2 || actions[0] != evidence.ActionIngested || actions[1] != evidence.ActionExported {
		t.Fatalf("bundle history %v, want ingested then exported", actions)
	}
}

// A bundle carries its signer's key; trusting it would let anyone who can
// make a key make a "verified" bundle. Unpinned, verify names the key and
// refuses; pinned by fingerprint (as written down at first start) it passes.
func TestUnpinnedBundleIsRefused(t *testing.T) {
	bundle, pubkey := exportParking(t)
	raw, _ := hex.DecodeString(pubkey)
	fp := evidence.Fingerprint(ed25519.PublicKey(raw))
	for how, r := range checkBundle(t, bundle) {
		if r.code != 1 || !strings.Contains(r.stdout, "signature valid but signer not pinned") || !strings.Contains(r.stdout, fp) {
			t.Fatalf("unpinned %s: exit %d, stdout %q stderr %q; want exit 1 naming key %s", how, r.code, r.stdout, r.stderr, fp)
		}
	}
	spaced := strings.ToUpper(fp[:8]) + " " + fp[8:]
	for how, r := range checkBundle(t, bundle, "--fingerprint", spaced) {
		if r.code != 0 || !strings.Contains(r.stdout, "intact") {
			t.Fatalf("%s pinned by fingerprint: exit %d %s%s", how, r.code, r.stdout, r.stderr)
		}
	}
	other := strings.Repeat("ab", 32)
	for how, r := range checkBundle(t, bundle, "--fingerprint", other) {
		if r.code != 1 || !strings.Contains(r.stdout, "not the pinned fingerprint") {
			t.Fatalf("%s pinned to another fingerprint: exit %d %s%s", how, r.code, r.stdout, r.stderr)
		}
	}
}

func TestTamperedBundlesFail(t *testing.T) {
	bundle, pubkey := exportParking(t)
	_, otherPriv, _ := ed25519.GenerateKey(nil)
	otherPub := hex.EncodeToString(otherPriv.Public().(ed25519.PublicKey))
	cases := map[string]struct {
		edit   func(name string, body []byte) []byte
		pubkey string
		want   string
	}{
		"byte flipped in the clip": {edit: func(name string, b []byte) []byte {
			if strings.HasPrefix(name, "item/") {
				b[len(b)/2] ^= 1
			}
			return b
		}, pubkey: pubkey, want: "hash to"},
		"officer changed in the manifest": {edit: func(name string, b []byte) []byte {
			if name == "manifest.json" {
				return bytes.Replace(b, []byte(`"source":"cli"`), []byte(`"source":"xyz"`), 1)
			}
			return b
		}, pubkey: pubkey, want: "signature"},
		"manifest re-signed by another key": {edit: func(name string, b []byte) []byte {
			if name != "manifest.json" {
				return b
			}
			env, err := evidence.ReadEnvelope(b)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := evidence.Seal(otherPriv, env.Type, env.Payload)
			return out
		}, pubkey: pubkey, want: "signature"},
		"pinned key of another appliance": {edit: func(_ string, b []byte) []byte { return b }, pubkey: otherPub, want: "not the pinned key"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			bad := rewriteBundle(t, bundle, c.edit)
			for how, r := range checkBundle(t, bad, "--pubkey", c.pubkey) {
				if r.code != 1 || !strings.Contains(r.stdout, c.want) {
					t.Fatalf("%s: exit %d, output %q, want %q", how, r.code, r.stdout, c.want)
				}
			}
		})
	}
}

func rewriteBundle(t *testing.T, path string, edit func(name string, body []byte) []byte) string {
	t.Helper()
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	outPath := filepath.Join(t.TempDir(), "edited.bundle")
	out, _ := os.Create(outPath)
	defer out.Close()
	tr, tw := tar.NewReader(in), tar.NewWriter(out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		body = edit(h.Name, body)
		h.Size = int64(len(body))
		tw.WriteHeader(h)
		tw.Write(body)
	}
	tw.Close()
	return outPath
}

func readManifest(t *testing.T, path string) evidence.ManifestV2 {
	t.Helper()
	var m evidence.ManifestV2
	rewriteBundle(t, path, func(name string, b []byte) []byte {
		if name == "manifest.json" {
			env, err := evidence.ReadEnvelope(b)
			if err != nil {
				t.Fatal(err)
			}
			json.Unmarshal(env.Payload, &m)
		}
		return b
	})
	return m
}

// Bundles exported before the custody log became a Merkle tree (v1
// manifests: chain links to a JSON checkpoint) are in court files and in
// Object Lock already: they still verify, and still refuse tampering.
func TestBundleOfV01StillVerifies(t *testing.T) {
	const bundle = "../../../testdata/custody/v0.1-static-room.bundle"
	pub := "../../../testdata/custody/v0.1-vault/keys/appliance.pub"
	r := run(t, "verify", "--bundle", bundle, "--pubkey", pub)
	if r.code != 0 || !strings.Contains(r.stdout, "intact: item b20680d2796bea0df0290df1fc9aa50a1ce8b1064bac637d255188ba6be1a773") {
		t.Fatalf("v0.1 bundle: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
	flipped := rewriteBundle(t, bundle, func(name string, b []byte) []byte {
		if strings.HasPrefix(name, "item/") {
			b[100] ^= 1
		}
		return b
	})
	if r := run(t, "verify", "--bundle", flipped, "--pubkey", pub); r.code != 1 {
		t.Fatalf("tampered v0.1 bundle: exit %d %s", r.code, r.stdout)
	}
}
