-- Exactly-once delivery and poison-row isolation (docs/reliability.md).
-- Runs with search_path set to the configured schema (then public, for pgvector).

-- The batch ledger: every batch commits its id here in the same transaction as its rows,
-- so replaying a batch whose commit already happened (a lost COMMIT acknowledgement, a
-- spooled batch replayed twice, a crash between replay and spool cleanup) inserts nothing.
-- Ids older than OTEL_EXPORTER_PGVECTOR_LEDGER_RETENTION_DAYS are pruned by the exporter.
CREATE TABLE otel_batches (
    batch_id     uuid        PRIMARY KEY,
    committed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX otel_batches_committed_at ON otel_batches USING brin (committed_at);
COMMENT ON TABLE otel_batches IS 'Ids of committed export batches, for exactly-once replay of the dead-letter spool; pruned after the ledger retention.';

-- Rows the database rejected (data errors: 22xxx, 23xxx) after the batch was bisected down
-- to them: the rest of their batch was stored; these keep the error and the full content.
CREATE TABLE otel_dead_letters (
    dead_letter_id bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    batch_id       uuid        NOT NULL,
    table_name     text        NOT NULL,
    sqlstate       text,
    error          text        NOT NULL,
    content        jsonb       NOT NULL,
    raw            bytea       NOT NULL,
    rejected_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX otel_dead_letters_rejected_at ON otel_dead_letters (rejected_at);
COMMENT ON TABLE otel_dead_letters IS 'Rows rejected by the database with a data error, isolated by bisection; content is readable JSON, raw the lossless encoding the spool uses.';
COMMENT ON COLUMN otel_dead_letters.raw IS 'The row as the exporter sent it, in the spool record encoding (marshal of a tuple of ints, bytes, str, floats, None).';
