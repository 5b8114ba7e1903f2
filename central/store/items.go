package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/edgetriage/edgetriage/appliance/evidence"
	"github.com/edgetriage/edgetriage/sync/target"
)

// Item statuses.
const (
	StatusPending = "pending" // wanted, not stored yet
	StatusStored  = "stored"  // in central storage, verified; not acknowledged yet
	StatusAcked   = "acked"   // acknowledged; the station's signed receipt is kept
	StatusFailed  = "failed"  // refused for good (digest or signature wrong); an alarm says why
)

// Wanted is an item the feed showed that the pull filter wants.
type Wanted struct {
	Seq     uint64
	Item    evidence.Item
	Flagged bool
}

// Want records the wanted items of one feed page and moves the cursor to
// next, in one transaction under the lease: a crash between the two can
// neither lose an item nor skip one.
func (s *Store) Want(ctx context.Context, l Lease, items []Wanted, next uint64) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE stations SET cursor = $3 WHERE id = $1 AND `+fence, l.Station, l.Epoch, int64(next))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrFenced
		}
		for _, w := range items {
			_, err := tx.Exec(ctx, `INSERT INTO items (station, digest, size, kind, origin, flagged, seen_seq)
				VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (station, digest) DO NOTHING`,
				l.Station, w.Item.Digest.String(), w.Item.Size, string(w.Item.Kind), w.Item.Origin(), w.Flagged, int64(w.Seq))
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record feed of %s up to %d: %w", l.Station, next, err)
	}
	return nil
}

// Item is central's record of one item of one station.
type Item struct {
	Station      string
	Digest       evidence.Digest
	Size         int64
	Status       string
	Attempts     int
	LastError    string
	Stores       int
	BytesPulled  int64
	StoredBy     string
	Key          string
	RetainUntil  time.Time
	InPlace      bool
	Receipt      json.RawMessage
	ReceiptSeq   uint64
	ManifestHash string
}

const itemColumns = `station, digest, size, status, attempts, last_error, stores, bytes_pulled,
	coalesce(stored_by, ''), coalesce(s3_key, ''), coalesce(retain_until, 'epoch'), in_place,
	receipt, coalesce(receipt_seq, 0), coalesce(manifest_sha256, '')`

func scanItem(r pgx.CollectableRow) (Item, error) {
	var it Item
	var digest string
	var seq int64
	var receipt []byte
	err := r.Scan(&it.Station, &digest, &it.Size, &it.Status, &it.Attempts, &it.LastError, &it.Stores, &it.BytesPulled,
		&it.StoredBy, &it.Key, &it.RetainUntil, &it.InPlace, &receipt, &seq, &it.ManifestHash)
	if err != nil {
		return it, err
	}
	it.Receipt, it.ReceiptSeq = receipt, uint64(seq)
	it.Digest, err = evidence.ParseDigest(digest)
	return it, err
}

// Open lists the station's items not yet acknowledged and not waiting
// after a failed attempt, in feed order.
func (s *Store) Open(ctx context.Context, station string, limit int) ([]Item, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+itemColumns+` FROM items
		WHERE station = $1 AND status IN ('pending', 'stored') AND (retry_at IS NULL OR retry_at <= now())
		ORDER BY seen_seq LIMIT $2`, station, limit)
	if err != nil {
		return nil, fmt.Errorf("open items of %s: %w", station, err)
	}
	return pgx.CollectRows(rows, scanItem)
}

// Items lists every item of a station (all of the fleet when station is "").
func (s *Store) Items(ctx context.Context, station string) ([]Item, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+itemColumns+` FROM items
		WHERE $1 = '' OR station = $1 ORDER BY station, seen_seq`, station)
	if err != nil {
		return nil, fmt.Errorf("items of %q: %w", station, err)
	}
	return pgx.CollectRows(rows, scanItem)
}

// Stored records that the item is in central storage and verified. fresh
// is true when this worker's upload completed it (not found already there).
// An item found already there that no worker recorded was stored by one
// that died before it could say so: that store is counted, once.
func (s *Store) Stored(ctx context.Context, l Lease, d evidence.Digest, worker string, rc target.Receipt, inPlace, fresh bool, manifestSHA string) error {
	return s.fenced(ctx, l, "record stored item", `UPDATE items SET status = 'stored',
		stores = CASE WHEN $4 THEN stores + 1 ELSE greatest(stores, 1) END, stored_by = $5,
		s3_key = $6, version_id = $7, retain_until = $8, in_place = $9, manifest_sha256 = $10, stored_at = now(), last_error = ''
		WHERE station = $1 AND digest = $3 AND `+fence,
		d.String(), fresh, worker, rc.Key, rc.VersionID, rc.RetainUntil, inPlace, manifestSHA)
}

// Pulled adds n bytes read from the station for the item.
func (s *Store) Pulled(ctx context.Context, l Lease, d evidence.Digest, n int64) error {
	return s.fenced(ctx, l, "count pulled bytes", `UPDATE items SET bytes_pulled = bytes_pulled + $4
		WHERE station = $1 AND digest = $3 AND `+fence, d.String(), n)
}

// Acked keeps the station's signed receipt.
func (s *Store) Acked(ctx context.Context, l Lease, d evidence.Digest, receipt []byte, seq uint64) error {
	return s.fenced(ctx, l, "record receipt", `UPDATE items SET status = 'acked', receipt = $4, receipt_seq = $5, acked_at = now(), last_error = ''
		WHERE station = $1 AND digest = $3 AND `+fence, d.String(), receipt, int64(seq))
}

// Failed records a failed attempt; final marks the item failed for good.
func (s *Store) Failed(ctx context.Context, l Lease, d evidence.Digest, why error, final bool) error {
	status := "status"
	if final {
		status = "'failed'"
	}
	return s.fenced(ctx, l, "record failure", `UPDATE items SET attempts = attempts + 1, last_error = $4, status = `+status+`,
		retry_at = now() + make_interval(secs => least(300, power(2, least(attempts, 9))))
		WHERE station = $1 AND digest = $3 AND `+fence, d.String(), why.Error())
}

func (s *Store) fenced(ctx context.Context, l Lease, what, sql string, args ...any) error {
	tag, err := s.pool.Exec(ctx, sql, append([]any{l.Station, l.Epoch}, args...)...)
	if err != nil {
		return fmt.Errorf("%s of %s: %w", what, l.Station, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s of %s: %w", what, l.Station, ErrFenced)
	}
	return nil
}

// Uploads keeps multipart checkpoints of the station's items under the
// lease, so an upload survives its worker: the next holder resumes it.
func (s *Store) Uploads(l Lease) target.Checkpoints { return uploads{s: s, l: l} }

type uploads struct {
	s *Store
	l Lease
}

func (u uploads) LoadCheckpoint(ctx context.Context, d evidence.Digest) (target.Checkpoint, bool, error) {
	var cp target.Checkpoint
	var raw []byte
	err := u.s.pool.QueryRow(ctx, `SELECT checkpoint FROM uploads WHERE station = $1 AND digest = $2`, u.l.Station, d.String()).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return cp, false, nil
	}
	if err != nil {
		return cp, false, err
	}
	return cp, true, json.Unmarshal(raw, &cp)
}

func (u uploads) SaveCheckpoint(ctx context.Context, d evidence.Digest, cp target.Checkpoint) error {
	raw, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	tag, err := u.s.pool.Exec(ctx, `INSERT INTO uploads (station, digest, checkpoint)
		SELECT $1, $3, $4 WHERE `+fence+`
		ON CONFLICT (station, digest) DO UPDATE SET checkpoint = EXCLUDED.checkpoint, saved_at = now()`,
		u.l.Station, u.l.Epoch, d.String(), raw)
	if err == nil && tag.RowsAffected() == 0 {
		err = ErrFenced
	}
	return err
}

func (u uploads) DeleteCheckpoint(ctx context.Context, d evidence.Digest) error {
	_, err := u.s.pool.Exec(ctx, `DELETE FROM uploads WHERE station = $1 AND digest = $2`, u.l.Station, d.String())
	return err
}
