// Package store keeps central's state in PostgreSQL: the fleet and its feed
// cursors, the lease that gives one worker a station at a time, every item
// central wants and how far it got, resumable uploads, receipts, witnessed
// checkpoints and alarms. Several `central serve` workers on several
// machines share one database; the database does the coordination:
//
//   - a worker leases stations with SELECT ... FOR UPDATE SKIP LOCKED, for a
//     limited time it renews while it is alive; an expired lease is taken
//     over by another worker;
//   - each lease carries an epoch that grows when the station changes hands,
//     and every write about a station is fenced by it (a worker that lost
//     its lease changes nothing);
//   - the schema moves forward through ordered migrations (goose), run under
//     a PostgreSQL advisory lock so workers starting together do not race.
//
// Tables (migrations/):
//
//	stations     id, url, cursor, lease_owner, lease_until, lease_epoch, last_contact
//	workers      id, heartbeat
//	items        (station, digest): size, kind, origin, status, stores, receipt, retry_at, ...
//	uploads      (station, digest): multipart checkpoint
//	checkpoints  (station, size): the newest co-signed checkpoint, as signed and as co-signed; superseded ones
//	alarms       station, kind, detail, evidence, raised_at, cleared_at, cleared_by (one open per kind)
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is central's database.
type Store struct {
	pool *pgxpool.Pool
}

// Open connects to dsn; it does not migrate.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("database dsn: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	return &Store{pool: pool}, nil
}

// Close releases the connections.
func (s *Store) Close() { s.pool.Close() }

// Migrate moves the schema forward to the newest migration, or to version
// when it is positive (tests use that to build older schemas).
func (s *Store) Migrate(ctx context.Context, version int64) (int64, error) {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return 0, err
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return 0, err
	}
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return 0, fmt.Errorf("migrations: %w", err)
	}
	if version > 0 {
		_, err = p.UpTo(ctx, version)
	} else {
		_, err = p.Up(ctx)
	}
	if err != nil {
		return 0, fmt.Errorf("migrate database: %w", err)
	}
	return p.GetDBVersion(ctx)
}

// ErrFenced means the worker no longer holds the station's lease (it
// expired and another worker may have taken it): stop working on it.
var ErrFenced = errors.New("station lease lost")
