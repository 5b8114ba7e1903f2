package central

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/sync/target"
)

// Report is what verifying a stored item from central storage established.
type Report struct {
	Station     string
	Item        evidence.Item
	Events      int
	Retention   string
	RetainUntil time.Time
	ReceiptSeq  uint64
	ReceiptTime time.Time
}

// ErrVerify is wrapped by every finding of Verify.
var ErrVerify = errors.New("stored item does not verify")

// Verify re-checks a stored item from central storage alone, without the
// station or the database: the manifest against the station's pinned key,
// the bytes against the manifest's digest and size, COMPLIANCE retention
// still in force, and the station's signed receipt for the digest.
func Verify(ctx context.Context, cfg Config, stationID string, d evidence.Digest) (Report, error) {
	rep := Report{Station: stationID}
	var sc *Station
	for i := range cfg.Stations {
		if cfg.Stations[i].ID == stationID {
			sc = &cfg.Stations[i]
		}
	}
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
	m, err := evidence.VerifyManifest(manifest, key)
	if err != nil {
		return rep, fmt.Errorf("%w: %w", ErrVerify, err)
	}
	rep.Item, rep.Events = m.Item, len(m.Events)
	if m.Item.Digest != d {
		return rep, fmt.Errorf("%w: the manifest stored for %s is for %s", ErrVerify, d.Short(), m.Item.Digest.Short())
	}
	if err := checkBytes(ctx, tg, m.Item); err != nil {
		return rep, err
	}
	if rep.Retention, rep.RetainUntil, err = tg.Retention(ctx, d); err != nil {
		return rep, err
	}
	if rep.Retention != "COMPLIANCE" || !rep.RetainUntil.After(time.Now()) {
		return rep, fmt.Errorf("%w: retention is %q until %s, want COMPLIANCE in force", ErrVerify, rep.Retention, rep.RetainUntil.Format(time.RFC3339))
	}
	raw, err := tg.GetDocument(ctx, ReceiptKey(tg, d), 1<<20)
	if err != nil {
		return rep, fmt.Errorf("receipt: %w", err)
	}
	r, err := verifyReceiptDoc(raw, key)
	if err != nil {
		return rep, fmt.Errorf("%w: %w", ErrVerify, err)
	}
	if r.Digest != d {
		return rep, fmt.Errorf("%w: the receipt stored for %s is for %s", ErrVerify, d.Short(), r.Digest.Short())
	}
	rep.ReceiptSeq, rep.ReceiptTime = r.Seq, r.Time
	return rep, nil
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
