package central

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/appliance/evidence/custodylog"
	"github.com/edgetriage/edgetriage/sync/s3"
	"github.com/edgetriage/edgetriage/sync/target"
)

// Report is what verifying a stored item from central storage established.
type Report struct {
	Station     string
	Item        evidence.Item
	Events      int
	Format      string // the manifest's
	Checkpoint  int64  // v2: the log checkpoint the item's events are proven in
	Witnessed   *Witnessed
	Retention   string
	RetainUntil time.Time
	ReceiptSeq  uint64
	ReceiptTime time.Time
}

// ErrVerify is wrapped by every finding of Verify.
var ErrVerify = errors.New("stored item does not verify")

// Verify re-checks a stored item from central storage alone, without the
// station or the database: the manifest against the station's pinned key
// (for a v2 manifest: every custody event proven by inclusion in the log
// checkpoint it carries), that checkpoint against the one central
// co-signed (the witness record, checked with central's own witness key),
// the bytes against the manifest's digest and size, COMPLIANCE retention
// in force on the bytes and every document beside them, and the station's
// signed receipt for the digest, naming the manifest central verified.
func Verify(ctx context.Context, cfg Config, stationID string, d evidence.Digest) (Report, error) {
	rep := Report{Station: stationID}
	sc := cfg.station(stationID)
	if sc == nil {
		return rep, fmt.Errorf("station %q is not in the configuration", stationID)
	}
	key, err := sc.Key()
	if err != nil {
		return rep, err
	}
	tg, err := cfg.Storage.target(target.Prefixed(sc.ID), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		return rep, err
	}
	manifest, err := tg.GetDocument(ctx, tg.ManifestKey(d), 64<<20)
	if err != nil {
		return rep, fmt.Errorf("manifest: %w", err)
	}
	m, err := custodylog.VerifyManifest(manifest, key)
	if err != nil {
		return rep, fmt.Errorf("%w: %w", ErrVerify, err)
	}
	rep.Item, rep.Events, rep.Format, rep.Checkpoint = m.Item, len(m.Events), m.Format, m.Size
	if m.Item.Digest != d {
		return rep, fmt.Errorf("%w: the manifest stored for %s is for %s", ErrVerify, d.Short(), m.Item.Digest.Short())
	}
	docs := []string{tg.ManifestKey(d), ReceiptKey(tg, d)}
	if m.Format == evidence.TypeManifest {
		if rep.Witnessed, err = verifyWitnessed(ctx, cfg, tg, d, key, m.Checkpoint); err != nil {
			return rep, err
		}
		docs = append(docs, WitnessKey(tg, d))
	}
	if err := checkBytes(ctx, tg, m.Item); err != nil {
		return rep, err
	}
	if rep.Retention, rep.RetainUntil, err = tg.Retention(ctx, d); err != nil {
		return rep, err
	}
	if err := inForce(rep.Retention, rep.RetainUntil, d.String()); err != nil {
		return rep, err
	}
	for _, key := range docs {
		mode, until, err := tg.DocumentRetention(ctx, key)
		if err != nil {
			return rep, err
		}
		if err := inForce(mode, until, key); err != nil {
			return rep, err
		}
	}
	r, err := verifyReceipt(ctx, tg, d, key, manifest)
	rep.ReceiptSeq, rep.ReceiptTime = r.Seq, r.Time
	return rep, err
}

func (c Config) station(id string) *Station {
	for i := range c.Stations {
		if c.Stations[i].ID == id {
			return &c.Stations[i]
		}
	}
	return nil
}

func inForce(mode string, until time.Time, what string) error {
	if mode != "COMPLIANCE" || !until.After(time.Now()) {
		return fmt.Errorf("%w: retention of %s is %q until %s, want COMPLIANCE in force", ErrVerify, what, mode, until.Format(time.RFC3339))
	}
	return nil
}

// verifyWitnessed checks the item's witness record with central's own
// witness key (the key file named in the configuration; never made here).
func verifyWitnessed(ctx context.Context, cfg Config, tg *s3.Target, d evidence.Digest, station ed25519.PublicKey, mc custodylog.Checkpoint) (*Witnessed, error) {
	w, err := OpenWitness(cfg.Witness)
	if err != nil {
		return nil, err
	}
	v, err := custodylog.WitnessVerifier(w.VerifierKey())
	if err != nil {
		return nil, err
	}
	raw, err := tg.GetDocument(ctx, WitnessKey(tg, d), 1<<20)
	if err != nil {
		return nil, fmt.Errorf("witness record: %w", err)
	}
	got, err := checkWitnessRecord(raw, station, v, mc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrVerify, err)
	}
	return &got, nil
}

// verifyReceipt checks the station's receipt: signed by the pinned key,
// for this digest, and (a receipt of a proof-of-possession ack) naming the
// manifest stored beside the item.
func verifyReceipt(ctx context.Context, tg *s3.Target, d evidence.Digest, key ed25519.PublicKey, manifest []byte) (evidence.Receipt, error) {
	raw, err := tg.GetDocument(ctx, ReceiptKey(tg, d), 1<<20)
	if err != nil {
		return evidence.Receipt{}, fmt.Errorf("receipt: %w", err)
	}
	r, err := evidence.VerifyReceipt(key, raw)
	if err != nil {
		return r, fmt.Errorf("%w: %w", ErrVerify, err)
	}
	if r.Digest != d {
		return r, fmt.Errorf("%w: the receipt stored for %s is for %s", ErrVerify, d.Short(), r.Digest.Short())
	}
	if !r.Manifest.IsZero() && r.Manifest != evidence.Digest(sha256.Sum256(manifest)) {
		return r, fmt.Errorf("%w: the receipt names manifest %s, not the one stored beside the item", ErrVerify, r.Manifest.Short())
	}
	return r, nil
}

func checkBytes(ctx context.Context, tg interface {
	Open(context.Context, evidence.Digest) (io.ReadCloser, int64, error)
}, it evidence.Item) error {
	r, _, err := tg.Open(ctx, it.Digest)
	if err != nil {
		return fmt.Errorf("bytes: %w", err)
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return fmt.Errorf("read stored bytes of %s: %w", it.Digest.Short(), err)
	}
	if got := evidence.Digest(h.Sum(nil)); got != it.Digest || n != it.Size {
		return fmt.Errorf("%w: stored bytes hash to %s (%d bytes), the manifest says %s (%d bytes)", ErrVerify, got.Short(), n, it.Digest.Short(), it.Size)
	}
	return nil
}
