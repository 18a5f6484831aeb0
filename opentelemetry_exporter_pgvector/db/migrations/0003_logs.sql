-- Log records, partitioned by UTC day like otel_spans, correlated with them by trace id.
-- Runs with search_path set to the configured schema (then public, for pgvector).

-- Full-text search vector of a log body. The GIN index below is on this expression, not on
-- a stored column: a STORED generated column would cost every row a second copy of its
-- words on disk, and daily partitions are created with CREATE TABLE ... LIKE, which a
-- generated column would not survive when attached. Queries use the same call, so the
-- planner matches the index. Only the first 32768 characters are indexed: to_tsvector
-- rejects vectors over 1 MB, and a single over-long body must never fail a batch.
CREATE FUNCTION otel_log_tsvector(body text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN to_tsvector('english'::regconfig, left(coalesce(body, ''), 32768));

CREATE TABLE otel_logs (
    -- fixed-width columns first, so rows carry no alignment padding
    time                    timestamptz NOT NULL,
    observed_time           timestamptz NOT NULL,
    resource_id             bigint      NOT NULL,
    span_id                 bigint,
    shape_key               bigint,
    trace_id                uuid        NOT NULL,
    flags                   integer     NOT NULL DEFAULT 0,
    dropped_attributes_count integer    NOT NULL DEFAULT 0,
    time_ns                 smallint    NOT NULL DEFAULT 0,
    severity_number         smallint,
    service_name            text        NOT NULL,
    severity_text           text,
    event_name              text,
    body_type               text        NOT NULL,
    body                    text,
    body_value              jsonb,
    scope_name              text,
    scope_version           text,
    attributes              jsonb       NOT NULL DEFAULT '{}',
    scope_attributes        jsonb,
    scope_schema_url        text
) PARTITION BY RANGE (time);

COMMENT ON TABLE otel_logs IS 'OpenTelemetry log records, one row per record, partitioned by UTC day of time.';
COMMENT ON COLUMN otel_logs.time IS 'The record timestamp (microseconds; see time_ns), or its observed time when it had none.';
COMMENT ON COLUMN otel_logs.time_ns IS 'Nanoseconds below the microsecond of time (0-999).';
COMMENT ON COLUMN otel_logs.trace_id IS 'Trace of the span active when the record was emitted; all zeros outside any span (never NULL, so the table can be distributed by trace_id, colocated with otel_spans).';
COMMENT ON COLUMN otel_logs.span_id IS 'Span active when the record was emitted, as a signed 64-bit integer; NULL outside any span.';
COMMENT ON COLUMN otel_logs.flags IS 'W3C trace flags of the record (bit 0 = sampled).';
COMMENT ON COLUMN otel_logs.shape_key IS 'The body shape in the shape dictionary (masked body); NULL until shapes are computed for logs.';
COMMENT ON COLUMN otel_logs.body_type IS 'AnyValue type of the body: empty, string, bool, int, double, bytes, array or kvlist.';
COMMENT ON COLUMN otel_logs.body IS 'The body as text: strings as they are, numbers and booleans as JSON literals, bytes as base64 (body_type = bytes), arrays and maps as JSON text (also in body_value).';
COMMENT ON COLUMN otel_logs.body_value IS 'Structured (array or kvlist) bodies as jsonb; NULL for scalar bodies.';

-- Late and future-dated records beyond the daily partitions land here instead of failing.
CREATE TABLE otel_logs_default PARTITION OF otel_logs DEFAULT;

CREATE INDEX otel_logs_time_brin ON otel_logs USING brin (time);
CREATE INDEX otel_logs_service_time ON otel_logs (service_name, time);
-- Records outside any span (the all-zero trace id) are left out: they would be most of the
-- index and no query looks them up by trace.
CREATE INDEX otel_logs_trace ON otel_logs (trace_id, time)
    WHERE trace_id <> '00000000-0000-0000-0000-000000000000';
CREATE INDEX otel_logs_search ON otel_logs USING gin (otel_log_tsvector(body));
CREATE INDEX otel_logs_attributes ON otel_logs USING gin (attributes jsonb_path_ops);

-- Log records as people read them: hex ids and the resource attributes inline.
CREATE VIEW otel_logs_view AS
SELECT otel_trace_id_hex(l.trace_id)      AS trace_id_hex,
       otel_span_id_hex(l.span_id)        AS span_id_hex,
       l.*,
       r.attributes                       AS resource_attributes,
       r.schema_url                       AS resource_schema_url
  FROM otel_logs l
  JOIN otel_resources r USING (resource_id);
