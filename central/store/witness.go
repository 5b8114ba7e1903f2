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
	// AlarmCosignature: the station refused central's cosignature of its
	// checkpoint (most often: it does not pin central's witness key).
	AlarmCosignature = "cosignature-refused"
)

// Alarm is one raised alarm; Cleared is zero while it is open.
type Alarm struct {
	ID        int64         `json:"id"`
	Station   string        `json:"station"`
	Kind      string        `json:"kind"`
	Detail    string        `json:"detail"`
	Raised    time.Time     `json:"raised_at"`
	Cleared   time.Time     `json:"cleared_at,omitzero"`
	ClearedBy string        `json:"cleared_by,omitempty"`
	Evidence  *ForkEvidence `json:"evidence,omitempty"`
}

// ForkEvidence is what proves a fork: two checkpoints signed by the
// station's key (C2SP signed notes, byte for byte as the station served
// them) that no single append-only history can explain.
type ForkEvidence struct {
	Earlier string `json:"earlier"` // the checkpoint central had co-signed
	Later   string `json:"later"`   // the one that contradicts it
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

// RaiseFork opens the fork alarm with its evidence, unless one is open.
func (s *Store) RaiseFork(ctx context.Context, station, detail string, ev ForkEvidence) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO alarms (station, kind, detail, evidence_earlier, evidence_later) VALUES ($1, 'fork', $2, $3, $4)
		ON CONFLICT (station, kind) WHERE cleared_at IS NULL DO NOTHING`, station, detail, ev.Earlier, ev.Later)
	if err != nil {
		return false, fmt.Errorf("raise fork alarm of %s: %w", station, err)
	}
	return tag.RowsAffected() == 1, nil
}

// IsOpen reports whether an alarm of kind is open for the station.
func (s *Store) IsOpen(ctx context.Context, station, kind string) (bool, error) {
	var open bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM alarms WHERE station = $1 AND kind = $2 AND cleared_at IS NULL)`,
		station, kind).Scan(&open)
	if err != nil {
		return false, fmt.Errorf("open %s alarm of %s: %w", kind, station, err)
	}
	return open, nil
}

// Clear closes the open alarm of kind, if any, on record as cleared by
// by; it reports whether one was. Clearing a fork re-bases the witness:
// the checkpoints central co-signed so far are kept, superseded, and the
// station's history is witnessed afresh from its next checkpoint.
func (s *Store) Clear(ctx context.Context, station, kind, by string) (bool, error) {
	var cleared bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE alarms SET cleared_at = now(), cleared_by = $3
			WHERE station = $1 AND kind = $2 AND cleared_at IS NULL`, station, kind, by)
		if err != nil {
			return err
		}
		cleared = tag.RowsAffected() == 1
		if !cleared || kind != AlarmFork {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE checkpoints SET superseded_at = now() WHERE station = $1 AND superseded_at IS NULL`, station)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("clear %s alarm of %s: %w", kind, station, err)
	}
	return cleared, nil
}

// Alarms lists alarms, open ones first, newest first.
func (s *Store) Alarms(ctx context.Context, station string, openOnly bool) ([]Alarm, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, station, kind, detail, raised_at, coalesce(cleared_at, 'epoch'), coalesce(cleared_by, ''),
			coalesce(evidence_earlier, ''), coalesce(evidence_later, '')
		FROM alarms WHERE ($1 = '' OR station = $1) AND (NOT $2 OR cleared_at IS NULL)
		ORDER BY cleared_at IS NOT NULL, raised_at DESC LIMIT 500`, station, openOnly)
	if err != nil {
		return nil, fmt.Errorf("alarms: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Alarm, error) {
		var a Alarm
		var ev ForkEvidence
		err := r.Scan(&a.ID, &a.Station, &a.Kind, &a.Detail, &a.Raised, &a.Cleared, &a.ClearedBy, &ev.Earlier, &ev.Later)
		if a.Cleared.Equal(time.Unix(0, 0)) {
			a.Cleared = time.Time{}
		}
		if ev.Earlier != "" || ev.Later != "" {
			a.Evidence = &ev
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

// Checkpoint is a checkpoint of a station's custody log that central
// checked and co-signed.
type Checkpoint struct {
	Size     int64  `json:"size"`
	RootHash string `json:"root_hash"` // base64, as in the note
	// Note is the checkpoint as the station signed it; CosignedNote the
	// same with central's cosignature line, as posted back.
	Note         string    `json:"note"`
	CosignedNote string    `json:"cosigned_note"`
	SeenAt       time.Time `json:"seen_at"`
	Superseded   bool      `json:"superseded,omitempty"`
}

const checkpointColumns = `size, root_hash, note, coalesce(cosigned_note, ''), seen_at, superseded_at IS NOT NULL`

func scanCheckpoint(row pgx.Row) (Checkpoint, bool, error) {
	var c Checkpoint
	err := row.Scan(&c.Size, &c.RootHash, &c.Note, &c.CosignedNote, &c.SeenAt, &c.Superseded)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, false, nil
	}
	return c, err == nil, err
}

// Witnessed is the newest checkpoint central co-signed for the station:
// what the station's next checkpoint must extend. ok is false before the
// first (or after a fork was cleared).
func (s *Store) Witnessed(ctx context.Context, station string) (Checkpoint, bool, error) {
	c, ok, err := scanCheckpoint(s.pool.QueryRow(ctx, `SELECT `+checkpointColumns+` FROM checkpoints
		WHERE station = $1 AND cosigned AND superseded_at IS NULL ORDER BY size DESC LIMIT 1`, station))
	if err != nil {
		return c, false, fmt.Errorf("witnessed checkpoint of %s: %w", station, err)
	}
	return c, ok, nil
}

// Cosigned is a checkpoint central co-signed for the station: the one of
// size (the newest when size is 0), superseded or not.
func (s *Store) Cosigned(ctx context.Context, station string, size int64) (Checkpoint, bool, error) {
	c, ok, err := scanCheckpoint(s.pool.QueryRow(ctx, `SELECT `+checkpointColumns+` FROM checkpoints
		WHERE station = $1 AND cosigned AND ($2 = 0 OR size = $2)
		ORDER BY superseded_at IS NOT NULL, size DESC, seen_at DESC LIMIT 1`, station, size))
	if err != nil {
		return c, false, fmt.Errorf("co-signed checkpoint of %s: %w", station, err)
	}
	return c, ok, nil
}

// SaveCosigned records a checkpoint central checked against the last one
// and co-signed, under the lease. Each one is proven to extend the one
// before, so it stands for them all: the older ones are dropped
// (superseded ones, the record of a fork, stay).
func (s *Store) SaveCosigned(ctx context.Context, l Lease, c Checkpoint) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO checkpoints (station, size, root_hash, note, cosigned_note, cosigned)
			SELECT $1, $3, $4, $5, $6, true WHERE `+fence+`
			ON CONFLICT (station, size) WHERE superseded_at IS NULL
			DO UPDATE SET cosigned_note = EXCLUDED.cosigned_note, cosigned = true, seen_at = now()`,
			l.Station, l.Epoch, c.Size, c.RootHash, c.Note, c.CosignedNote)
		if err != nil {
			return fmt.Errorf("record checkpoint %d of %s: %w", c.Size, l.Station, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("record checkpoint %d of %s: %w", c.Size, l.Station, ErrFenced)
		}
		_, err = tx.Exec(ctx, `DELETE FROM checkpoints WHERE station = $1 AND size < $2 AND superseded_at IS NULL`, l.Station, c.Size)
		return err
	})
}
