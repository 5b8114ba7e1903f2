// Package bundle writes and checks export bundles: one item's bytes and
// its signed manifest in a tar file that verifies offline, on a machine
// without the appliance.
package bundle

import (
	"archive/tar"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/evidence/custodylog"
	"github.com/edgetriage/edgetriage/appliance/vault"
)

// A bundle is a tar file holding manifest.json (the signed manifest) and
// the item's bytes as item/<digest>[.ext]. It verifies offline with the same
// binary's `verify --bundle`, on a machine without the appliance's data.
const bundleManifest = "manifest.json"

// Export records the export in the custody chain, then writes the bundle
// of item d to out. The manifest is made after the export event, so the
// bundle carries the record of its own making.
func Export(ctx context.Context, v *vault.Vault, d evidence.Digest, out string, actor evidence.Actor, reason string) error {
	if strings.TrimSpace(reason) == "" {
		return fmt.Errorf("export %s: %w", d.Short(), ErrNoReason)
	}
	it, err := v.Item(d)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if it.State != evidence.StateStored {
		return fmt.Errorf("export %s: the local copy was %s; fetch it from central storage: %w", d.Short(), it.State, ErrNotStored)
	}
	if _, err := v.Append(ctx, evidence.CustodyEvent{Actor: actor, Action: evidence.ActionExported, Item: d,
		Details: map[string]string{"to": filepath.Base(out), "reason": reason}}); err != nil {
		return fmt.Errorf("export %s: %w", d.Short(), err)
	}
	manifest, err := v.Manifest(ctx, d)
	if err != nil {
		return fmt.Errorf("export %s: %w", d.Short(), err)
	}
	extras, err := provenanceEntries(ctx, v, d)
	if err != nil {
		return fmt.Errorf("export %s: %w", d.Short(), err)
	}
	obj, err := v.OpenObject(d)
	if err != nil {
		return fmt.Errorf("export %s: %w", d.Short(), err)
	}
	defer obj.Close()
	if err := writeBundle(out, manifest, bundleItemName(it), obj, it.Size, extras); err != nil {
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

func writeBundle(out string, manifest []byte, name string, body io.Reader, size int64, extras []entry) error {
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
	for _, e := range extras {
		if werr != nil {
			break
		}
		werr = errors.Join(tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o444, Size: int64(len(e.body))}), writeAll(tw, e.body))
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

// ErrNoReason refuses an export without a reason: evidence leaves the
// appliance only for a case, and the chain says which.
var ErrNoReason = errors.New("an export needs a reason (case or incident reference); it is recorded in the custody chain")

// ErrNotStored means the item's bytes are no longer held locally.
var ErrNotStored = errors.New("not stored locally")

// Report is what verifying a bundle established.
type Report struct {
	Item       evidence.Item
	Format     string // the manifest's format
	ProofBytes int    // v2: bytes of the checkpoint and inclusion proofs
	Events     int
	Key        ed25519.PublicKey // the signer; proves origin only when it was pinned
	Pinned     bool
	Checkpnt   uint64
	// Provenance is set for a redacted copy whose bundle carries its
	// redaction log.
	Provenance *Provenance
	// Checkpoint is what the manifest's checkpoint says, and Timestamp the
	// TSA token the manifest carries for it, if any (unchecked here: only
	// custodylog.VerifyCheckpointTimestamp with the TSA's certificate
	// gives it weight).
	Checkpoint custodylog.Checkpoint
	Timestamp  *evidence.CheckpointTimestamp
}

// Summary is what the bundle proves, in a line.
func (r Report) Summary() string {
	return fmt.Sprintf("item %s (%d bytes), %d custody events up to signed checkpoint %d, signed by key %s",
		r.Item.Digest, r.Item.Size, r.Events, r.Checkpnt, evidence.Fingerprint(r.Key))
}

// PinnedSummary is Summary once the signer was checked against a pin.
func (r Report) PinnedSummary() string {
	return strings.Replace(r.Summary(), "signed by key", "signed by the pinned key", 1)
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
	return verifyFrom(f, path, pinned)
}

// verifyFrom reads and checks a bundle from r; path names it in errors.
func verifyFrom(r io.Reader, path string, pinned ed25519.PublicKey) (Report, error) {
	var manifest, logManifest, logBody []byte
	var digest evidence.Digest
	var size int64
	var items int
	tr := tar.NewReader(r)
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
			if manifest != nil {
				return Report{}, fmt.Errorf("bundle %s: more than one %s: %w", path, bundleManifest, evidence.ErrManifest)
			}
			if manifest, err = io.ReadAll(io.LimitReader(tr, maxManifest+1)); err != nil {
				return Report{}, fmt.Errorf("bundle %s: %w", path, err)
			}
			if len(manifest) > maxManifest {
				return Report{}, fmt.Errorf("bundle %s: %s is larger than %d MiB: %w", path, bundleManifest, maxManifest>>20, evidence.ErrManifest)
			}
		case h.Name == provenanceManifest || h.Name == provenanceLog:
			dst := &logManifest
			if h.Name == provenanceLog {
				dst = &logBody
			}
			if *dst != nil {
				return Report{}, fmt.Errorf("bundle %s: more than one %s: %w", path, h.Name, evidence.ErrManifest)
			}
			if *dst, err = io.ReadAll(io.LimitReader(tr, maxManifest+1)); err != nil {
				return Report{}, fmt.Errorf("bundle %s: %w", path, err)
			}
			if len(*dst) > maxManifest {
				return Report{}, fmt.Errorf("bundle %s: %s is larger than %d MiB: %w", path, h.Name, maxManifest>>20, evidence.ErrManifest)
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
	m, err := custodylog.VerifyManifest(manifest, pinned)
	if err != nil {
		return Report{}, fmt.Errorf("bundle %s: %w", path, err)
	}
	if digest != m.Item.Digest || size != m.Item.Size {
		return Report{}, fmt.Errorf("bundle %s: the item's bytes hash to %s (%d bytes), the manifest says %s (%d bytes): %w",
			path, digest.Short(), size, m.Item.Digest.Short(), m.Item.Size, evidence.ErrManifest)
	}
	prov, err := checkProvenance(logManifest, logBody, m, pinned)
	if err != nil {
		return Report{}, fmt.Errorf("bundle %s: %w", path, err)
	}
	return Report{Item: m.Item, Events: len(m.Events), Key: m.Key, Pinned: pinned != nil, Checkpnt: uint64(m.Size),
		Format: m.Format, ProofBytes: m.ProofBytes, Checkpoint: m.Checkpoint, Timestamp: m.Timestamp, Provenance: prov}, nil
}

// maxManifest bounds what verify reads of a manifest; a v2 manifest's
// proofs grow with the logarithm of the log, so real ones are kilobytes.
const maxManifest = 64 << 20

// ErrNoTimestamp is returned by CheckTime for a bundle whose manifest
// carries no TSA timestamp: its times are the station's own word.
var ErrNoTimestamp = errors.New("the bundle carries no TSA timestamp: its times are the station's own")

// CheckTime checks the TSA timestamp the bundle's manifest carries against
// the TSA CA certificates roots: it proves the checkpoint it stamps (which
// the manifest's checkpoint extends) existed by the TSA's time.
func (r Report) CheckTime(roots *x509.CertPool) (custodylog.StampedCheckpoint, error) {
	if r.Timestamp == nil {
		return custodylog.StampedCheckpoint{}, ErrNoTimestamp
	}
	return custodylog.VerifyCheckpointTimestamp(*r.Timestamp, r.Checkpoint, r.Key, roots)
}
