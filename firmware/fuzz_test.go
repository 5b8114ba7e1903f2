package firmware_test

import (
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"encoding/hex"
	"testing"

	"github.com/edgetriage/edgetriage/firmware"
)

// A firmware package is tar, tar.gz or zip from a vendor, or from anyone
// who can hand the admin a file. Checking it never panics; every refusal
// carries a reason; what passes is signed by the trusted key, for the
// models that key may sign for, with the image its manifest names.
func FuzzVerifyPackage(f *testing.F) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	trust, err := firmware.NewTrustStore([]firmware.VendorKey{{Vendor: "Acme",
		PublicKey: hex.EncodeToString(key.Public().(ed25519.PublicKey)), Models: []string{model, "BWC-210"}}})
	if err != nil {
		f.Fatal(err)
	}
	for _, format := range []firmware.Format{firmware.FormatTar, firmware.FormatZip} {
		var buf bytes.Buffer
		if err := firmware.BuildPackage(&buf, format, manifest("2.10.0"), image("2.10.0", 300), key); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
		if format == firmware.FormatTar {
			var gz bytes.Buffer
			zw := gzip.NewWriter(&gz)
			zw.Write(buf.Bytes())
			zw.Close()
			f.Add(gz.Bytes())
		}
	}
	f.Fuzz(func(t *testing.T, pkg []byte) {
		v, err := trust.VerifyPackage(bytes.NewReader(pkg), int64(len(pkg)))
		if err != nil {
			if firmware.ReasonOf(err) == "" {
				t.Fatalf("refusal without a reason: %v", err)
			}
			return
		}
		if v.Manifest.Vendor != "Acme" || len(v.Manifest.Models) == 0 {
			t.Fatalf("accepted %+v", v.Manifest)
		}
		for _, m := range v.Manifest.Models {
			if m != model && m != "BWC-210" {
				t.Fatalf("accepted a package for %q", m)
			}
		}
	})
}
