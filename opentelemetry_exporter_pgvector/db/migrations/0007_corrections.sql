-- Corrections to objects of earlier migrations, which are never edited once shipped.
-- Runs with search_path set to the configured schema (then public, for pgvector).

-- otel_spans_view lacked shape_key: 0001 wrote it with s.*, which PostgreSQL expands into a
-- fixed column list when the view is created, so the column 0002 added to otel_spans never
-- reached it. The list is explicit now. CREATE OR REPLACE VIEW (which keeps the grants on the
-- view and any view built on it) may only append columns, so shape_key comes last, after the
-- resource columns; the span columns keep the table's order.
CREATE OR REPLACE VIEW otel_spans_view AS
SELECT otel_trace_id_hex(s.trace_id)      AS trace_id_hex,
       otel_span_id_hex(s.span_id)        AS span_id_hex,
       otel_span_id_hex(s.parent_span_id) AS parent_span_id_hex,
       s.start_time,
       s.end_time,
       s.duration_ns,
       s.span_id,
       s.resource_id,
       s.parent_span_id,
       s.trace_id,
       s.flags,
       s.start_time_ns,
       s.http_status_code,
       s.dropped_attributes_count,
       s.dropped_events_count,
       s.dropped_links_count,
       s.service_name,
       s.name,
       s.kind,
       s.status_code,
       s.status_message,
       s.exception_type,
       s.http_route,
       s.trace_state,
       s.scope_name,
       s.scope_version,
       s.attributes,
       s.events,
       s.links,
       s.scope_attributes,
       s.scope_schema_url,
       r.attributes                       AS resource_attributes,
       r.schema_url                       AS resource_schema_url,
       s.shape_key
  FROM otel_spans s
  JOIN otel_resources r USING (resource_id);
COMMENT ON VIEW otel_spans_view IS 'Spans as people read them: hex ids, every otel_spans column, the resource attributes inline. The column list is explicit because s.* is expanded once, when a view is created: a column added to otel_spans must be appended here by a new migration.';

COMMENT ON TABLE otel_shapes IS 'Distinct shapes of telemetry, each embedded once: span shapes (signal ''span'') and log-body shapes (signal ''log''). shape_key is 64 bits of BLAKE2b over model and text.';

-- The index covers (service_name, name, start_time); its old name left the span name out.
-- Only the partitioned index is renamed: the partitions' own indexes keep their names.
ALTER INDEX otel_spans_service_name_time RENAME TO otel_spans_service_name_name_time;
