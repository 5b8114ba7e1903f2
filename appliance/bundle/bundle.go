// Package bundle writes and checks export bundles: one item's bytes and
// its signed manifest in a tar file that verifies offline, on a machine
// without the appliance.
package bundle

import (
	"archive/tar"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

// A bundle is a tar file holding manifest.json (the signed manifest) and
// the item's bytes as item/<digest>[.ext]. It verifies offline with the same
// binary's `verify --bundle`, on a machine without the appliance's data.
const bundleManifest = "manifest.json"

// Export records the export in the custody chain, then writes the bundle
// of item d to out. The manifest is made after the export event, so the
// bundle carries the record of its own making.
func Export(ctx context.Context, v *vault.Vault, d evidence.Digest, out string, actor evidence.Actor) error {
	it, err := v.Item(d)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if it.State != evidence.StateStored {
		return fmt.Errorf("export %s: the local copy was %s; fetch it from central storage: %w", d.Short(), it.State, ErrNotStored)
	}
	if _, err := v.Append(ctx, evidence.CustodyEvent{Actor: actor, Action: evidence.ActionExported, Item: d,
		Details: map[string]string{"to": filepath.Base(out)}}); err != nil {
		return fmt.Errorf("export %s: %w", d.Short(), err)
	}
	manifest, err := v.Manifest(ctx, d)
	if err != nil {
		return fmt.Errorf("export %s: %w", d.Short(), err)
	}
	obj, err := v.OpenObject(d)
	if err != nil {
		return fmt.Errorf("export %s: %w", d.Short(), err)
	}
	defer obj.Close()
	if err := writeBundle(out, manifest, bundleItemName(it), obj, it.Size); err != nil {
		return fmt.Errorf("export %s to %s: %w", d.Short(), out, err)
	}
	return nil
}

func bundleItemName(it evidence.Item) string {
	ext := strings.ToLower(filepath.Ext(it.OriginalName))
	if len(ext) > 6 || strings.ContainsAny(ext, `/\`) {
		ext = ""
	}
	return "item/" + it.Digest.String() + ext
}

func writeBundle(out string, manifest []byte, name string, body io.Reader, size int64) error {
	tmp := out + ".partial"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	werr := errors.Join(
		tw.WriteHeader(&tar.Header{Name: bundleManifest, Mode: 0o444, Size: int64(len(manifest))}),
		writeAll(tw, manifest),
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o444, Size: size}),
	)
	if werr == nil {
		_, werr = io.Copy(tw, body)
	}
	werr = errors.Join(werr, tw.Close(), f.Sync(), f.Close())
	if werr != nil {
		os.Remove(tmp)
		return werr
	}
	return os.Rename(tmp, out)
}

func writeAll(w io.Writer, b []byte) error {
	_, err := w.Write(b)
	return err
}

// ErrNotStored means the item's bytes are no longer held locally.
var ErrNotStored = errors.New("not stored locally")

// Report is what verifying a bundle established.
type Report struct {
	Item     evidence.Item
	Events   int
	KeyID    string
	Pinned   bool
	Checkpnt uint64
}

// Verify checks a bundle offline: the manifest's signature and
// history, and the item's bytes against the digest and size it records.
// pinned is the appliance key the caller trusts (nil: the embedded key,
// which proves integrity but not origin).
func Verify(path string, pinned ed25519.PublicKey) (Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return Report{}, fmt.Errorf("bundle: %w", err)
	}
	defer f.Close()
	var manifest []byte
	var digest evidence.Digest
	var size int64
	var items int
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Report{}, fmt.Errorf("bundle %s: %w", path, err)
		}
		switch {
		case h.Name == bundleManifest:
			if manifest, err = io.ReadAll(io.LimitReader(tr, 64<<20)); err != nil {
				return Report{}, fmt.Errorf("bundle %s: %w", path, err)
			}
		case strings.HasPrefix(h.Name, "item/"):
			items++
			if digest, size, err = evidence.DigestOf(tr); err != nil {
				return Report{}, fmt.Errorf("bundle %s: %w", path, err)
			}
		}
	}
	if manifest == nil || items != 1 {
		return Report{}, fmt.Errorf("bundle %s: want one manifest and one item, found %d item(s)", path, items)
	}
	m, err := evidence.VerifyManifest(manifest, pinned)
	if err != nil {
		return Report{}, fmt.Errorf("bundle %s: %w", path, err)
	}
	if digest != m.Item.Digest || size != m.Item.Size {
		return Report{}, fmt.Errorf("bundle %s: the item's bytes hash to %s (%d bytes), the manifest says %s (%d bytes): %w",
			path, digest.Short(), size, m.Item.Digest.Short(), m.Item.Size, evidence.ErrManifest)
	}
	return Report{Item: m.Item, Events: len(m.Events), KeyID: m.KeyID, Pinned: pinned != nil, Checkpnt: m.Checkpoint.Seq}, nil
}
