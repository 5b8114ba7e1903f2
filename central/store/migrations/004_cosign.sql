-- +goose Up
-- Witnessing: central keeps each checkpoint it co-signed twice, as the
-- station signed it (note: what the next one must extend) and with its own
-- cosignature line (cosigned_note: what it posted back, and what a station's
-- `verify --cosigned` takes). An admin who clears a fork re-bases the
-- witness: the checkpoints before are kept as the record, superseded.
ALTER TABLE checkpoints ADD COLUMN cosigned_note text;
ALTER TABLE checkpoints ADD COLUMN superseded_at timestamptz;
ALTER TABLE checkpoints DROP CONSTRAINT checkpoints_pkey;
CREATE UNIQUE INDEX checkpoints_current ON checkpoints (station, size) WHERE superseded_at IS NULL;

-- A fork alarm carries its evidence: the two checkpoints signed by the
-- station's key that no single append-only history explains. Who cleared
-- an alarm is on record.
ALTER TABLE alarms ADD COLUMN evidence_earlier text;
ALTER TABLE alarms ADD COLUMN evidence_later text;
ALTER TABLE alarms ADD COLUMN cleared_by text;

-- Receipts are signed envelopes: kept byte for byte (jsonb would re-encode
-- the signed payload).
ALTER TABLE items ALTER COLUMN receipt TYPE bytea USING convert_to(receipt::text, 'UTF8');

-- +goose Down
ALTER TABLE items ALTER COLUMN receipt TYPE jsonb USING convert_from(receipt, 'UTF8')::jsonb;
ALTER TABLE alarms DROP COLUMN cleared_by;
ALTER TABLE alarms DROP COLUMN evidence_later;
ALTER TABLE alarms DROP COLUMN evidence_earlier;
DELETE FROM checkpoints WHERE superseded_at IS NOT NULL;
DROP INDEX checkpoints_current;
ALTER TABLE checkpoints ADD PRIMARY KEY (station, size);
ALTER TABLE checkpoints DROP COLUMN superseded_at;
ALTER TABLE checkpoints DROP COLUMN cosigned_note;
