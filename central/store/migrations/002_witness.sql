-- +goose Up
-- Checkpoints of each station's custody log that central has seen and
-- checked, oldest first; the newest is what the next one must extend.
CREATE TABLE checkpoints (
    station   text NOT NULL REFERENCES stations (id),
    size      bigint NOT NULL,
    root_hash text NOT NULL,
    note      text NOT NULL,
    cosigned  boolean NOT NULL DEFAULT false,
    seen_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station, size)
);

-- Alarms: at most one open alarm per station and kind; clearing closes it,
-- the row stays as the record.
CREATE TABLE alarms (
    id         bigserial PRIMARY KEY,
    station    text NOT NULL REFERENCES stations (id),
    kind       text NOT NULL,
    detail     text NOT NULL,
    raised_at  timestamptz NOT NULL DEFAULT now(),
    cleared_at timestamptz
);
CREATE UNIQUE INDEX alarms_open ON alarms (station, kind) WHERE cleared_at IS NULL;

-- +goose Down
DROP TABLE alarms;
DROP TABLE checkpoints;
