-- Spans, partitioned by day, plus the helpers every signal table uses.
-- Runs with search_path set to the configured schema (then public, for pgvector).

-- Span ids are stored as bigint (8 bytes) rather than 16 hex characters; these convert.
CREATE FUNCTION otel_span_id(hex text) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT ('x' || lpad(hex, 16, '0'))::bit(64)::bigint $$;

CREATE FUNCTION otel_span_id_hex(id bigint) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT lpad(to_hex(id), 16, '0') $$;

-- Trace ids are uuid (16 bytes); uuid input accepts 32 plain hex digits, so
-- WHERE trace_id = '4bf92f3577b34da6a3ce929d0e0e4736' works as is. This prints them back.
CREATE FUNCTION otel_trace_id_hex(id uuid) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT replace(id::text, '-', '') $$;

-- Creates the daily partition of a partitioned table for one UTC day, if missing.
-- Rows of that day that already sit in the table's default partition (late or
-- future-dated records written before the partition existed) are moved into it,
-- so creating a partition never fails and no record is ever rejected.
CREATE FUNCTION otel_ensure_partition(parent regclass, day date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    parent_schema name;
    parent_name name;
    key_column name;
    partition_name name;
    default_partition regclass;
    lower_bound timestamptz := day::timestamp AT TIME ZONE 'UTC';
    upper_bound timestamptz := (day + 1)::timestamp AT TIME ZONE 'UTC';
BEGIN
    SELECT n.nspname, c.relname, a.attname
      INTO parent_schema, parent_name, key_column
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_partitioned_table p ON p.partrelid = c.oid
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = p.partattrs[0]
     WHERE c.oid = parent;
    IF NOT FOUND THEN
        RAISE EXCEPTION '% is not a partitioned table', parent;
    END IF;
    partition_name := parent_name || '_' || to_char(day, 'YYYYMMDD');
    IF to_regclass(format('%I.%I', parent_schema, partition_name)) IS NOT NULL THEN
        RETURN false;
    END IF;
    -- Serialize creators of partitions of this table; re-check after waiting.
    PERFORM pg_advisory_xact_lock(parent::oid::int, 0);
    -- to_regclass answers from this backend's catalog cache, which has not yet seen a
    -- partition another session committed while we waited: read the catalog itself.
    IF EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = parent_schema AND c.relname = partition_name) THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS '
                   'INCLUDING STORAGE INCLUDING COMPRESSION)', parent_schema, partition_name, parent);
    default_partition := to_regclass(format('%I.%I', parent_schema, parent_name || '_default'));
    IF default_partition IS NOT NULL THEN
        EXECUTE format('WITH moved AS (DELETE FROM %s WHERE %I >= $1 AND %I < $2 RETURNING *) '
                       'INSERT INTO %I.%I SELECT * FROM moved',
                       default_partition, key_column, key_column, parent_schema, partition_name)
          USING lower_bound, upper_bound;
    END IF;
    EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)',
                   parent, parent_schema, partition_name, lower_bound, upper_bound);
    RETURN true;
END
$$;

-- Each distinct resource once: every span of a process carries the same resource, and
-- storing its attributes inline would make them a third of every span row.
-- On Citus this is a reference table.
CREATE TABLE otel_resources (
    resource_id     bigint      PRIMARY KEY,
    service_name    text        NOT NULL,
    attributes      jsonb       NOT NULL,
    schema_url      text,
    first_seen      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE otel_resources IS 'Distinct OpenTelemetry resources; resource_id is a 64-bit hash of schema_url and attributes. Join signal tables USING (resource_id).';

CREATE TABLE otel_spans (
    -- fixed-width columns first, so rows carry no alignment padding
    start_time              timestamptz NOT NULL,
    end_time                timestamptz,
    duration_ns             bigint,
    span_id                 bigint      NOT NULL,
    resource_id             bigint      NOT NULL,
    parent_span_id          bigint,
    trace_id                uuid        NOT NULL,
    flags                   integer     NOT NULL DEFAULT 0,
    start_time_ns           smallint    NOT NULL DEFAULT 0,
    http_status_code        smallint,
    dropped_attributes_count integer    NOT NULL DEFAULT 0,
    dropped_events_count    integer     NOT NULL DEFAULT 0,
    dropped_links_count     integer     NOT NULL DEFAULT 0,
    service_name            text        NOT NULL,
    name                    text        NOT NULL,
    kind                    text        NOT NULL,
    status_code             text        NOT NULL,
    status_message          text,
    exception_type          text,
    http_route              text,
    trace_state             text,
    scope_name              text,
    scope_version           text,
    attributes              jsonb       NOT NULL DEFAULT '{}',
    events                  jsonb       NOT NULL DEFAULT '[]',
    links                   jsonb       NOT NULL DEFAULT '[]',
    scope_attributes        jsonb,
    scope_schema_url        text,
    -- Every unique key holds trace_id and the partition key, so the table can be
    -- distributed by trace_id (Citus) without a rewrite. A trace has many spans.
    PRIMARY KEY (trace_id, span_id, start_time)
) PARTITION BY RANGE (start_time);

COMMENT ON TABLE otel_spans IS 'OpenTelemetry spans, one row per span, partitioned by UTC day of start_time.';
COMMENT ON COLUMN otel_spans.start_time_ns IS 'Nanoseconds below the microsecond of start_time (0-999): the SDK start_time_unix_nano is exactly (extract(epoch from start_time) * 1e6)::bigint * 1000 + start_time_ns.';
COMMENT ON COLUMN otel_spans.duration_ns IS 'end_time_unix_nano - start_time_unix_nano; NULL for a span exported without an end time.';
COMMENT ON COLUMN otel_spans.flags IS 'OTLP Span.flags: W3C trace flags in bits 0-7, bit 8 = parent remoteness known, bit 9 = parent is remote.';
COMMENT ON COLUMN otel_spans.span_id IS 'Span id as a signed 64-bit integer; otel_span_id(hex) and otel_span_id_hex(id) convert.';
COMMENT ON COLUMN otel_spans.resource_id IS 'The span resource: JOIN otel_resources USING (resource_id) for its attributes.';
COMMENT ON COLUMN otel_spans.exception_type IS 'exception.type of the first exception event, promoted for filtering.';

-- Late and future-dated spans beyond the daily partitions land here instead of failing.
CREATE TABLE otel_spans_default PARTITION OF otel_spans DEFAULT;

-- Time range scans within a partition: BRIN is tiny and spans arrive roughly in time order.
CREATE INDEX otel_spans_start_time_brin ON otel_spans USING brin (start_time);
CREATE INDEX otel_spans_service_name_time ON otel_spans (service_name, name, start_time);
CREATE INDEX otel_spans_errors ON otel_spans (service_name, start_time) WHERE status_code = 'ERROR';
CREATE INDEX otel_spans_attributes ON otel_spans USING gin (attributes jsonb_path_ops);

-- Spans as people read them: hex ids and the resource attributes inline.
CREATE VIEW otel_spans_view AS
SELECT otel_trace_id_hex(s.trace_id)      AS trace_id_hex,
       otel_span_id_hex(s.span_id)        AS span_id_hex,
       otel_span_id_hex(s.parent_span_id) AS parent_span_id_hex,
       s.*,
       r.attributes                       AS resource_attributes,
       r.schema_url                       AS resource_schema_url
  FROM otel_spans s
  JOIN otel_resources r USING (resource_id);
