-- Shapes: each distinct embedded text once, and the key every span points to.
-- Runs with search_path set to the configured schema (then public, for pgvector).
--
-- A service emits a few hundred distinct shapes of span (service, name, kind, status,
-- exception, route...) millions of times each. Embedding every span would fall hopelessly
-- behind the exporter and a vector per span would triple the table, so the text of a shape
-- is embedded once here and spans carry its 8-byte key.

CREATE TABLE otel_shapes (
    shape_key       bigint      PRIMARY KEY,
    signal          text        NOT NULL DEFAULT 'span',
    service_name    text        NOT NULL,
    kind            text,
    status_code     text,
    model           text        NOT NULL,
    text            text        NOT NULL,
    first_seen      timestamptz NOT NULL DEFAULT now(),
    embedded_at     timestamptz,
    -- all-MiniLM-L6-v2's dimension; the encoder refuses a model of another dimension.
    embedding       vector(384)
);
COMMENT ON TABLE otel_shapes IS 'Distinct shapes of telemetry (span shapes; log-body shapes later), each embedded once. shape_key is 64 bits of BLAKE2b over model and text.';
COMMENT ON COLUMN otel_shapes.text IS 'The embedded text: service, span name, kind, status, exception and meaningful attributes, with per-request values (numbers, ids, IPs, literals, timestamps) masked.';
COMMENT ON COLUMN otel_shapes.embedding IS 'L2-normalized embedding of text by model; NULL until the exporter (inline mode) or otel-pgvector embed fills it.';

-- Nearest shapes by cosine distance. Filters on service/status/signal are applied while
-- scanning (SET hnsw.iterative_scan = relaxed_order), so they do not cut recall.
CREATE INDEX otel_shapes_embedding ON otel_shapes USING hnsw (embedding vector_cosine_ops);
-- Lets the planner answer a selective filter (one service, errors only) with an exact scan.
CREATE INDEX otel_shapes_service ON otel_shapes (service_name, status_code);
-- The backfill's queue: shapes still without a vector.
CREATE INDEX otel_shapes_missing ON otel_shapes (first_seen) WHERE embedding IS NULL;

ALTER TABLE otel_spans ADD COLUMN shape_key bigint;
COMMENT ON COLUMN otel_spans.shape_key IS 'The span shape in otel_shapes (NULL with OTEL_EXPORTER_PGVECTOR_EMBEDDING=off).';
-- Spans of a shape in a time window: counts and examples for similarity search.
CREATE INDEX otel_spans_shape_time ON otel_spans (shape_key, start_time);
