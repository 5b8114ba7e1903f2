package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Lease is one worker's right to follow one station, until Until. Epoch
// fences every write made under it.
type Lease struct {
	Station string
	URL     string
	Epoch   int64
	Cursor  uint64
	Until   time.Time
}

// AddStations makes sure every configured station has its row; the URL
// follows the configuration.
func (s *Store) AddStations(ctx context.Context, stations map[string]string) error {
	for id, url := range stations {
		_, err := s.pool.Exec(ctx, `INSERT INTO stations (id, url) VALUES ($1, $2)
			ON CONFLICT (id) DO UPDATE SET url = EXCLUDED.url`, id, url)
		if err != nil {
			return fmt.Errorf("add station %s: %w", id, err)
		}
	}
	return nil
}

// Heartbeat says worker is alive and returns how many workers are (those
// seen within alive).
func (s *Store) Heartbeat(ctx context.Context, worker string, alive time.Duration) (int, error) {
	_, err := s.pool.Exec(ctx, `INSERT INTO workers (id, heartbeat) VALUES ($1, now())
		ON CONFLICT (id) DO UPDATE SET heartbeat = now()`, worker)
	if err != nil {
		return 0, fmt.Errorf("heartbeat: %w", err)
	}
	var n int
	err = s.pool.QueryRow(ctx, `SELECT count(*) FROM workers WHERE heartbeat > now() - make_interval(secs => $1)`, alive.Seconds()).Scan(&n)
	return n, err
}

// Leave removes the worker and gives its leases back, at an orderly stop.
func (s *Store) Leave(ctx context.Context, worker string) error {
	_, err := s.pool.Exec(ctx, `UPDATE stations SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1`, worker)
	if err == nil {
		_, err = s.pool.Exec(ctx, `DELETE FROM workers WHERE id = $1`, worker)
	}
	return err
}

// Lease renews the worker's valid leases and takes free or expired ones
// until it holds share stations. Rows another worker is leasing right now
// are skipped (FOR UPDATE SKIP LOCKED), so workers never wait on each other.
func (s *Store) Lease(ctx context.Context, worker string, ttl time.Duration, share int) ([]Lease, error) {
	var out []Lease
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `UPDATE stations SET lease_until = now() + make_interval(secs => $2)
			WHERE lease_owner = $1 AND lease_until >= now()
			RETURNING id, url, lease_epoch, cursor, lease_until`, worker, ttl.Seconds())
		if err != nil {
			return err
		}
		if out, err = collectLeases(rows); err != nil {
			return err
		}
		if len(out) >= share {
			return nil
		}
		rows, err = tx.Query(ctx, `WITH free AS (
				SELECT id FROM stations
				WHERE lease_owner IS NULL OR lease_until < now()
				ORDER BY last_contact NULLS FIRST, id
				FOR UPDATE SKIP LOCKED
				LIMIT $3)
			UPDATE stations s SET lease_owner = $1, lease_until = now() + make_interval(secs => $2), lease_epoch = s.lease_epoch + 1
			FROM free WHERE s.id = free.id
			RETURNING s.id, s.url, s.lease_epoch, s.cursor, s.lease_until`, worker, ttl.Seconds(), share-len(out))
		if err != nil {
			return err
		}
		more, err := collectLeases(rows)
		out = append(out, more...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("lease stations for %s: %w", worker, err)
	}
	return out, nil
}

func collectLeases(rows pgx.Rows) ([]Lease, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Lease, error) {
		var l Lease
		var cursor int64
		err := r.Scan(&l.Station, &l.URL, &l.Epoch, &cursor, &l.Until)
		l.Cursor = uint64(cursor)
		return l, err
	})
}

// Release gives a lease back (the worker holds more than its share).
func (s *Store) Release(ctx context.Context, l Lease, worker string) error {
	_, err := s.pool.Exec(ctx, `UPDATE stations SET lease_owner = NULL, lease_until = NULL
		WHERE id = $1 AND lease_owner = $2 AND lease_epoch = $3`, l.Station, worker, l.Epoch)
	return err
}

// StationCount is the number of stations in the fleet.
func (s *Store) StationCount(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM stations`).Scan(&n)
	return n, err
}

// fence is the condition every write under a lease carries.
const fence = `EXISTS (SELECT 1 FROM stations f WHERE f.id = $1 AND f.lease_epoch = $2 AND f.lease_until >= now())`

// Contact records the outcome of talking to the station: a time of last
// contact on success, the error otherwise.
func (s *Store) Contact(ctx context.Context, l Lease, callErr error) error {
	var tag string
	var err error
	if callErr == nil {
		_, err = s.pool.Exec(ctx, `UPDATE stations SET last_contact = now(), last_error = '' WHERE id = $1 AND `+fence, l.Station, l.Epoch)
	} else {
		tag = callErr.Error()
		_, err = s.pool.Exec(ctx, `UPDATE stations SET last_error = $3 WHERE id = $1 AND `+fence, l.Station, l.Epoch, tag)
	}
	return err
}
