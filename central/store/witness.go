package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Alarm kinds.
const (
	AlarmSilent    = "silent"          // no contact for longer than the configured time
	AlarmFork      = "fork"            // a checkpoint that contradicts one central saw
	AlarmSignature = "signature"       // a manifest, receipt or checkpoint the pinned key did not sign
	AlarmDigest    = "digest-mismatch" // bytes that do not hash to the digest the station announced
	AlarmReceipt   = "receipt-refused" // the station refused the acknowledgement
)

// Alarm is one raised alarm; Cleared is zero while it is open.
type Alarm struct {
	ID      int64     `json:"id"`
	Station string    `json:"station"`
	Kind    string    `json:"kind"`
	Detail  string    `json:"detail"`
	Raised  time.Time `json:"raised_at"`
	Cleared time.Time `json:"cleared_at,omitzero"`
}

// Raise opens an alarm of kind for the station unless one is open; it
// reports whether it opened a new one.
func (s *Store) Raise(ctx context.Context, station, kind, detail string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO alarms (station, kind, detail) VALUES ($1, $2, $3)
		ON CONFLICT (station, kind) WHERE cleared_at IS NULL DO NOTHING`, station, kind, detail)
	if err != nil {
		return false, fmt.Errorf("raise %s alarm of %s: %w", kind, station, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Clear closes the open alarm of kind, if any; it reports whether one was.
func (s *Store) Clear(ctx context.Context, station, kind string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE alarms SET cleared_at = now() WHERE station = $1 AND kind = $2 AND cleared_at IS NULL`, station, kind)
	if err != nil {
		return false, fmt.Errorf("clear %s alarm of %s: %w", kind, station, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Alarms lists alarms, open ones first, newest first.
func (s *Store) Alarms(ctx context.Context, station string, openOnly bool) ([]Alarm, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, station, kind, detail, raised_at, coalesce(cleared_at, 'epoch')
		FROM alarms WHERE ($1 = '' OR station = $1) AND (NOT $2 OR cleared_at IS NULL)
		ORDER BY cleared_at IS NOT NULL, raised_at DESC LIMIT 500`, station, openOnly)
	if err != nil {
		return nil, fmt.Errorf("alarms: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Alarm, error) {
		var a Alarm
		err := r.Scan(&a.ID, &a.Station, &a.Kind, &a.Detail, &a.Raised, &a.Cleared)
		if a.Cleared.Equal(time.Unix(0, 0)) {
			a.Cleared = time.Time{}
		}
		return a, err
	})
}

// RaiseSilent opens a silent alarm for every station not heard from for
// longer than after, and clears it for those heard from since; any worker
// may run it. It returns the stations newly raised and cleared.
func (s *Store) RaiseSilent(ctx context.Context, after time.Duration) (raised, cleared []string, err error) {
	rows, err := s.pool.Query(ctx, `INSERT INTO alarms (station, kind, detail)
		SELECT id, 'silent', 'no contact since ' || coalesce(to_char(last_contact AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), 'it was added')
		FROM stations WHERE coalesce(last_contact, added_at) < now() - make_interval(secs => $1)
		ON CONFLICT (station, kind) WHERE cleared_at IS NULL DO NOTHING
		RETURNING station`, after.Seconds())
	if err != nil {
		return nil, nil, fmt.Errorf("silent alarms: %w", err)
	}
	if raised, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return nil, nil, err
	}
	rows, err = s.pool.Query(ctx, `UPDATE alarms a SET cleared_at = now() FROM stations s
		WHERE a.station = s.id AND a.kind = 'silent' AND a.cleared_at IS NULL
		AND s.last_contact >= now() - make_interval(secs => $1) AND s.last_contact > a.raised_at
		RETURNING a.station`, after.Seconds())
	if err != nil {
		return raised, nil, fmt.Errorf("silent alarms: %w", err)
	}
	cleared, err = pgx.CollectRows(rows, pgx.RowTo[string])
	return raised, cleared, err
}

// Checkpoint is a station checkpoint central has seen and checked.
type Checkpoint struct {
	Size     uint64    `json:"size"`
	RootHash string    `json:"root_hash"`
	Note     string    `json:"note"`
	Cosigned bool      `json:"cosigned"`
	SeenAt   time.Time `json:"seen_at"`
}

// LastCheckpoint is the newest checkpoint witnessed for the station.
func (s *Store) LastCheckpoint(ctx context.Context, station string) (Checkpoint, bool, error) {
	var c Checkpoint
	var size int64
	err := s.pool.QueryRow(ctx, `SELECT size, root_hash, note, cosigned, seen_at FROM checkpoints
		WHERE station = $1 ORDER BY size DESC LIMIT 1`, station).Scan(&size, &c.RootHash, &c.Note, &c.Cosigned, &c.SeenAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, false, nil
	}
	c.Size = uint64(size)
	return c, err == nil, err
}

// SaveCheckpoint records a checkpoint that was verified consistent with the
// last one, under the lease.
func (s *Store) SaveCheckpoint(ctx context.Context, l Lease, c Checkpoint) error {
	return s.fenced(ctx, l, "record checkpoint", `INSERT INTO checkpoints (station, size, root_hash, note, cosigned)
		SELECT $1, $3, $4, $5, $6 WHERE `+fence+` ON CONFLICT (station, size) DO UPDATE SET cosigned = checkpoints.cosigned OR EXCLUDED.cosigned`,
		int64(c.Size), c.RootHash, c.Note, c.Cosigned)
}
