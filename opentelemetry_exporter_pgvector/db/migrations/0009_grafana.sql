-- SQL as a public API: functions that return what dashboards (grafana/, docs/grafana.md) and
-- the query layer both read, so the definitions of RED, the service map and error groups live
-- once, here, and a Grafana panel is a one-line SELECT instead of a copy of them.
-- Runs with search_path set to the configured schema (then public, for pgvector).
--
-- Every body is SQL-standard (BEGIN ATOMIC / RETURN): its table names are bound when the
-- function is created, to this schema, so a caller needs no search_path (a Grafana datasource
-- has none to set), and a STABLE single-SELECT body is still inlined into the caller's plan,
-- where its literal kinds match the partial index otel_spans_entry_red.

-- The key errors are grouped by (otel-pgvector errors, the Overview dashboard): the exception
-- type, or for a span marked ERROR without an exception event, its status message.
CREATE FUNCTION otel_error_key(exception_type text, status_message text, name text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN coalesce(exception_type, '(no exception) ' || left(coalesce(status_message, name), 80));

-- RED of entry spans (SERVER and CONSUMER: the requests and messages a service handles; its
-- other spans are work done while handling them and would count one request several times)
-- per step bucket of [since, until), per service, or per operation with by_operation;
-- service narrows to one. Percentiles are continuous (percentile_cont), in milliseconds.
CREATE FUNCTION otel_red(
    since timestamptz, until timestamptz, step interval,
    by_operation boolean DEFAULT false, service text DEFAULT NULL
) RETURNS TABLE (
    "time" timestamptz, service_name text, operation text, requests bigint, errors bigint,
    rate_per_second double precision, error_rate double precision,
    p50_ms double precision, p95_ms double precision, p99_ms double precision
)
LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT date_bin(step, s.start_time, since),
           s.service_name,
           CASE WHEN by_operation THEN s.name END,
           count(*),
           count(*) FILTER (WHERE s.status_code = 'ERROR'),
           count(*) / extract(epoch FROM step)::float8,
           (count(*) FILTER (WHERE s.status_code = 'ERROR'))::float8 / count(*),
           percentile_cont(0.50) WITHIN GROUP (ORDER BY s.duration_ns) / 1e6,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY s.duration_ns) / 1e6,
           percentile_cont(0.99) WITHIN GROUP (ORDER BY s.duration_ns) / 1e6
      FROM otel_spans s
     WHERE s.kind IN ('SERVER', 'CONSUMER')
       AND s.start_time >= since AND s.start_time < until
       AND (service IS NULL OR s.service_name = service)
     GROUP BY 1, 2, 3
     ORDER BY 1, 2, 3;
END;

-- Edges caller -> callee in [since, until): a span whose parent is in another service is a call
-- from that service (its duration and status are the call's); a CLIENT span no other service
-- answered calls the uninstrumented dependency it names (a database, a cache, an API).
CREATE FUNCTION otel_service_map(since timestamptz, until timestamptz) RETURNS TABLE (
    caller text, callee text, calls bigint, errors bigint, p95_ms double precision
)
LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    WITH window_spans AS (
        SELECT trace_id, span_id, parent_span_id, service_name, kind, status_code, duration_ns, attributes
          FROM otel_spans WHERE start_time >= since AND start_time < until
    ), crossing AS (
        SELECT p.service_name AS caller, c.service_name AS callee, c.status_code, c.duration_ns,
               p.span_id AS parent_id, p.trace_id
          FROM window_spans c
          JOIN window_spans p
            ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id AND p.service_name <> c.service_name
    ), dependencies AS (
        SELECT c.service_name AS caller,
               coalesce(c.attributes ->> 'peer.service', c.attributes ->> 'db.system.name',
                        c.attributes ->> 'db.system', c.attributes ->> 'rpc.service',
                        c.attributes ->> 'server.address', c.attributes ->> 'messaging.system') AS callee,
               c.status_code, c.duration_ns
          FROM window_spans c
         WHERE c.kind = 'CLIENT'
           AND NOT EXISTS (SELECT 1 FROM crossing x WHERE x.trace_id = c.trace_id AND x.parent_id = c.span_id)
    )
    SELECT caller, callee, count(*), count(*) FILTER (WHERE status_code = 'ERROR'),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ns) / 1e6
      FROM (SELECT caller, callee, status_code, duration_ns FROM crossing
            UNION ALL
            SELECT caller, callee, status_code, duration_ns FROM dependencies WHERE callee IS NOT NULL) AS calls
     GROUP BY caller, callee
     ORDER BY caller, callee;
END;

-- A jsonb object as the [{"key", "value"}] list trace viewers read (Grafana, Jaeger), keys sorted.
CREATE FUNCTION otel_key_values(fields jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN coalesce((SELECT jsonb_agg(jsonb_build_object('key', e.key, 'value', e.value) ORDER BY e.key)
                   FROM jsonb_each(CASE WHEN jsonb_typeof(fields) = 'object' THEN fields END) AS e), '[]');

-- A trace id typed by a person or a dashboard variable (32 hex digits, dashes and blanks
-- allowed) as a uuid; NULL for anything else, so an empty or mistyped variable finds no trace
-- instead of failing the panel.
CREATE FUNCTION otel_parse_trace_id(text_id text) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN replace(btrim(text_id), '-', '') ~ '^[0-9a-fA-F]{32}$'
            THEN replace(btrim(text_id), '-', '')::uuid END;

-- One trace as the table frame Grafana's Traces panel draws a waterfall from: exactly its
-- column names, times in milliseconds since the epoch, and tags, serviceTags, logs and
-- references as jsonb arrays of objects. jsonb reaches Grafana as JSON (json.RawMessage
-- fields), not as a string: stringified JSON is the known way such a panel stays empty.
-- Each resource's tags are built once, not once per span, and the spans' tags by a subquery
-- rather than a call of otel_key_values (twice the cost, a call per span): for a 1,000-span
-- trace that cut the function's server time to 0.45-0.65x of one call per span per column.
CREATE FUNCTION otel_trace_for_grafana(trace_id text) RETURNS TABLE (
    "traceID" text, "spanID" text, "parentSpanID" text, "operationName" text, "serviceName" text,
    "serviceTags" jsonb, "startTime" double precision, "duration" double precision,
    "tags" jsonb, "logs" jsonb, "kind" text, "statusCode" integer, "statusMessage" text,
    "references" jsonb
)
LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    WITH spans AS MATERIALIZED (
        SELECT s.trace_id, s.span_id, s.parent_span_id, s.resource_id, s.name, s.service_name,
               s.start_time, s.start_time_ns, s.duration_ns, s.kind, s.status_code, s.status_message,
               s.attributes || jsonb_strip_nulls(jsonb_build_object('otel.scope.name', s.scope_name,
                                                                    'otel.scope.version', s.scope_version))
                   AS attributes,
               s.events, s.links
          FROM otel_spans s
         WHERE s.trace_id = otel_parse_trace_id(otel_trace_for_grafana.trace_id)
    ), resources AS MATERIALIZED (
        SELECT r.resource_id, otel_key_values(r.attributes) AS tags
          FROM otel_resources r
         WHERE r.resource_id IN (SELECT spans.resource_id FROM spans)
    )
    SELECT otel_trace_id_hex(s.trace_id),
           otel_span_id_hex(s.span_id),
           otel_span_id_hex(s.parent_span_id),
           s.name,
           s.service_name,
           r.tags,
           extract(epoch FROM s.start_time)::float8 * 1000 + s.start_time_ns / 1e6,
           coalesce(s.duration_ns, 0) / 1e6,
           coalesce((SELECT jsonb_agg(jsonb_build_object('key', a.key, 'value', a.value) ORDER BY a.key)
                       FROM jsonb_each(s.attributes) AS a), '[]'),
           coalesce((SELECT jsonb_agg(jsonb_build_object(
                                'timestamp', (e.event ->> 'time_unix_nano')::numeric / 1e6,
                                'name', e.event ->> 'name',
                                'fields', otel_key_values(e.event -> 'attributes')) ORDER BY e.n)
                       FROM jsonb_array_elements(s.events) WITH ORDINALITY AS e(event, n)), '[]'),
           lower(s.kind),
           CASE s.status_code WHEN 'OK' THEN 1 WHEN 'ERROR' THEN 2 ELSE 0 END,
           s.status_message,
           coalesce((SELECT jsonb_agg(jsonb_build_object(
                                'traceID', l.link ->> 'trace_id',
                                'spanID', l.link ->> 'span_id',
                                'tags', otel_key_values(l.link -> 'attributes')) ORDER BY l.n)
                       FROM jsonb_array_elements(s.links) WITH ORDINALITY AS l(link, n)), '[]')
      FROM spans s
      JOIN resources r USING (resource_id)
     ORDER BY s.start_time, s.start_time_ns;
END;

-- A log record's labels in Grafana's Logs panel: its attributes, every value as text, then its
-- service and, inside a span, its trace and span ids.
CREATE FUNCTION otel_log_labels(service_name text, trace_id uuid, span_id bigint, attributes jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN coalesce((SELECT jsonb_object_agg(a.key, coalesce(a.value #>> '{}', 'null'))
                   FROM jsonb_each(attributes) AS a), '{}')
       || jsonb_strip_nulls(jsonb_build_object(
              'service', service_name,
              'trace_id', CASE WHEN trace_id <> '00000000-0000-0000-0000-000000000000'
                               THEN otel_trace_id_hex(trace_id) END,
              'span_id', otel_span_id_hex(span_id)));

-- The log records of one trace as Grafana's Logs panel reads them: timestamp, body, severity
-- and labels.
CREATE FUNCTION otel_trace_logs_for_grafana(trace_id text) RETURNS TABLE (
    "timestamp" timestamptz, body text, severity text, labels jsonb
)
LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT l.time, l.body, lower(coalesce(l.severity_text, 'unknown')),
           otel_log_labels(l.service_name, l.trace_id, l.span_id, l.attributes)
      FROM otel_logs l
     WHERE l.trace_id = otel_parse_trace_id(otel_trace_logs_for_grafana.trace_id)
       AND l.trace_id <> '00000000-0000-0000-0000-000000000000'
     ORDER BY l.time, l.time_ns;
END;

-- The pattern of a log record (otel-pgvector logs --patterns, the Logs dashboard): its shape's
-- text after "service SEVERITY: " when it was stored with a shape, else its body masked here by
-- the same rules. The expression after the subquery is what convert/shapes.log_pattern_sql
-- writes; tests/test_grafana.py checks it still is.
CREATE FUNCTION otel_log_pattern(shape_key bigint, body text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN coalesce((SELECT substr(sh.text, strpos(sh.text, ': ') + 2) FROM otel_shapes sh
                  WHERE sh.shape_key = otel_log_pattern.shape_key),
                rtrim((SELECT CASE WHEN component.raw ~ E'[\\d\'"`]' THEN regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(component.raw, E'\'[^\'\\s]{1,200}\'|"[^"\\s]{1,200}"|`[^`\\s]{1,200}`', E'<str>', 'g'), E'\\y\\d{4}-\\d{2}-\\d{2}(?:[T ]\\d{2}:\\d{2}(?::\\d{2}(?:[.,]\\d+)?)?(?:Z|[+-]\\d{2}:?\\d{2})?)?\\y', E'_\001time\001_', 'g'), E'\\y[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\\y', E'_\001uuid\001_', 'g'), E'\\y(?:\\d{1,3}\\.){3}\\d{1,3}\\y|(?<![\\w:])(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}(?![\\w:])|(?<![\\w:])(?:[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4})*)?::(?:[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4})*)?(?![\\w:])', E'_\001ip\001_', 'g'), E'\\y(?:0x)?(?=[0-9a-fA-F]*\\d)[0-9a-fA-F]{8,}\\y', E'_\001hex\001_', 'g'), E'(?<![\\w<])[-+]?\\d+(?:\\.\\d+)?(?:e[-+]?\\d+)?', E'_\001num\001_', 'g'), E'_\001(time|uuid|ip|hex|num)\001_', E'<\\1>', 'g') ELSE component.raw END FROM (VALUES (CASE WHEN length(body) > 500 THEN left(body, 486) || E'...[truncated]' ELSE body END)) AS component(raw)), E'\011\012\013\014\015\034\035\036\037 '));
