-- +goose Up
-- The fleet: one row per station, with the cursor of its changes feed and
-- the lease that gives one worker the right to follow it. lease_epoch grows
-- whenever the lease changes hands; every write a worker makes about a
-- station is fenced by the epoch it leased, so a worker that lost its lease
-- (paused, partitioned) can no longer change anything.
CREATE TABLE stations (
    id           text PRIMARY KEY,
    url          text NOT NULL,
    cursor       bigint NOT NULL DEFAULT 0,
    lease_owner  text,
    lease_until  timestamptz,
    lease_epoch  bigint NOT NULL DEFAULT 0,
    last_contact timestamptz,
    last_error   text NOT NULL DEFAULT '',
    added_at     timestamptz NOT NULL DEFAULT now()
);

-- Workers announce themselves; the live ones share the fleet evenly.
CREATE TABLE workers (
    id        text PRIMARY KEY,
    heartbeat timestamptz NOT NULL
);

-- Every item central wants from a station, and how far it got.
CREATE TABLE items (
    station        text NOT NULL REFERENCES stations (id),
    digest         text NOT NULL,
    size           bigint NOT NULL,
    kind           text NOT NULL DEFAULT '',
    origin         text NOT NULL DEFAULT '',
    flagged        boolean NOT NULL DEFAULT false,
    seen_seq       bigint NOT NULL,
    status         text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'stored', 'acked', 'failed')),
    attempts       integer NOT NULL DEFAULT 0,
    last_error     text NOT NULL DEFAULT '',
    stores         integer NOT NULL DEFAULT 0,   -- uploads completed: 1 when all is well
    bytes_pulled   bigint NOT NULL DEFAULT 0,    -- bytes read from the station
    stored_by      text,
    s3_key         text,
    version_id     text,
    retain_until   timestamptz,
    in_place       boolean NOT NULL DEFAULT false, -- verified from the station's own push copy
    manifest_sha256 text,
    receipt        jsonb,
    receipt_seq    bigint,
    stored_at      timestamptz,
    acked_at       timestamptz,
    PRIMARY KEY (station, digest)
);
CREATE INDEX items_open ON items (station, seen_seq) WHERE status IN ('pending', 'stored');

-- Resumable multipart uploads (target.Checkpoint as JSON), so a worker that
-- takes a station over continues a dead worker's upload.
CREATE TABLE uploads (
    station    text NOT NULL,
    digest     text NOT NULL,
    checkpoint jsonb NOT NULL,
    saved_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station, digest)
);

-- +goose Down
DROP TABLE uploads;
DROP TABLE items;
DROP TABLE workers;
DROP TABLE stations;
