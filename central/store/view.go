package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// StationView is one station as the fleet view shows it.
type StationView struct {
	ID           string    `json:"id"`
	URL          string    `json:"url"`
	Cursor       uint64    `json:"cursor"`
	Worker       string    `json:"worker,omitempty"`
	LeaseUntil   time.Time `json:"lease_until,omitzero"`
	LastContact  time.Time `json:"last_contact,omitzero"`
	LastError    string    `json:"last_error,omitempty"`
	BacklogItems int64     `json:"backlog_items"`
	BacklogBytes int64     `json:"backlog_bytes"`
	Acked        int64     `json:"acked"`
	Failed       int64     `json:"failed"`
	BytesPulled  int64     `json:"bytes_pulled"`
	Checkpoint   uint64    `json:"checkpoint_size"`
	CheckpointAt time.Time `json:"checkpoint_seen_at,omitzero"`
	Cosigned     bool      `json:"checkpoint_cosigned"`
	OpenAlarms   []string  `json:"open_alarms"`
}

// Fleet is every station with its backlog, last checkpoint and open alarms.
func (s *Store) Fleet(ctx context.Context) ([]StationView, error) {
	rows, err := s.pool.Query(ctx, `SELECT s.id, s.url, s.cursor, coalesce(s.lease_owner, ''),
			coalesce(s.lease_until, 'epoch'), coalesce(s.last_contact, 'epoch'), s.last_error,
			coalesce(i.backlog, 0), coalesce(i.backlog_bytes, 0), coalesce(i.acked, 0), coalesce(i.failed, 0), coalesce(i.pulled, 0),
			coalesce(c.size, 0), coalesce(c.seen_at, 'epoch'), coalesce(c.cosigned, false),
			coalesce(a.kinds, '{}')
		FROM stations s
		LEFT JOIN (SELECT station,
				count(*) FILTER (WHERE status IN ('pending', 'stored')) AS backlog,
				sum(size) FILTER (WHERE status IN ('pending', 'stored')) AS backlog_bytes,
				count(*) FILTER (WHERE status = 'acked') AS acked,
				count(*) FILTER (WHERE status = 'failed') AS failed,
				sum(bytes_pulled) AS pulled
			FROM items GROUP BY station) i ON i.station = s.id
		LEFT JOIN LATERAL (SELECT size, seen_at, cosigned FROM checkpoints WHERE station = s.id AND superseded_at IS NULL ORDER BY size DESC LIMIT 1) c ON true
		LEFT JOIN (SELECT station, array_agg(kind ORDER BY kind) AS kinds FROM alarms WHERE cleared_at IS NULL GROUP BY station) a ON a.station = s.id
		ORDER BY s.id`)
	if err != nil {
		return nil, fmt.Errorf("fleet view: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (StationView, error) {
		var v StationView
		var cursor, cp int64
		err := r.Scan(&v.ID, &v.URL, &cursor, &v.Worker, &v.LeaseUntil, &v.LastContact, &v.LastError,
			&v.BacklogItems, &v.BacklogBytes, &v.Acked, &v.Failed, &v.BytesPulled, &cp, &v.CheckpointAt, &v.Cosigned, &v.OpenAlarms)
		v.Cursor, v.Checkpoint = uint64(cursor), uint64(cp)
		epoch := time.Unix(0, 0)
		for _, t := range []*time.Time{&v.LeaseUntil, &v.LastContact, &v.CheckpointAt} {
			if t.Equal(epoch) {
				*t = time.Time{}
			}
		}
		return v, err
	})
}
