-- +goose Up
-- A failed attempt waits before the next (doubling, at most five minutes),
-- so a station that refuses an item is not asked again every round.
ALTER TABLE items ADD COLUMN retry_at timestamptz;

-- +goose Down
ALTER TABLE items DROP COLUMN retry_at;
