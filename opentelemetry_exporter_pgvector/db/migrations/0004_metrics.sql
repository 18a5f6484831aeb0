-- Metric data points of every type, one row per point, partitioned by UTC day like otel_spans.
-- Runs with search_path set to the configured schema (then public, for pgvector).

CREATE TABLE otel_metric_points (
    -- fixed-width columns first, so rows carry no alignment padding
    time                    timestamptz NOT NULL,
    start_time              timestamptz,
    resource_id             bigint      NOT NULL,
    value                   double precision,
    count                   bigint,
    sum                     double precision,
    min                     double precision,
    max                     double precision,
    zero_count              bigint,
    scale                   integer,
    positive_offset         integer,
    negative_offset         integer,
    flags                   integer     NOT NULL DEFAULT 0,
    is_monotonic            boolean,
    service_name            text        NOT NULL,
    name                    text        NOT NULL,
    type                    text        NOT NULL,
    temporality             text,
    description             text,
    unit                    text,
    scope_name              text,
    scope_version           text,
    attributes              jsonb       NOT NULL DEFAULT '{}',
    explicit_bounds         double precision[],
    bucket_counts           bigint[],
    positive_bucket_counts  bigint[],
    negative_bucket_counts  bigint[],
    exemplars               jsonb       NOT NULL DEFAULT '[]',
    scope_attributes        jsonb,
    scope_schema_url        text
) PARTITION BY RANGE (time);

COMMENT ON TABLE otel_metric_points IS 'OpenTelemetry metric data points (sum, gauge, histogram, exponential_histogram), one row per point, partitioned by UTC day of time.';
COMMENT ON COLUMN otel_metric_points.time IS 'time_unix_nano of the point: the end of its aggregation interval.';
COMMENT ON COLUMN otel_metric_points.start_time IS 'start_time_unix_nano: the start of a cumulative series (a new value marks a reset) or of a delta interval.';
COMMENT ON COLUMN otel_metric_points.type IS 'sum, gauge, histogram or exponential_histogram.';
COMMENT ON COLUMN otel_metric_points.temporality IS 'cumulative or delta; NULL for gauges.';
COMMENT ON COLUMN otel_metric_points.value IS 'Value of a sum or gauge point (int values as double precision); NaN and infinities are stored as such.';
COMMENT ON COLUMN otel_metric_points.explicit_bounds IS 'Histogram bucket upper bounds; bucket_counts has one more element (the overflow bucket).';
COMMENT ON COLUMN otel_metric_points.scale IS 'Exponential histogram scale: bucket i of the positive range covers (2^(i*2^-scale), 2^((i+1)*2^-scale)], i counted from positive_offset.';
COMMENT ON COLUMN otel_metric_points.exemplars IS '[{"trace_id", "span_id" (hex), "value", "time_unix_nano", "filtered_attributes"?}]: the recordings that link the point to traces.';

CREATE TABLE otel_metric_points_default PARTITION OF otel_metric_points DEFAULT;

CREATE INDEX otel_metric_points_time_brin ON otel_metric_points USING brin (time);
CREATE INDEX otel_metric_points_name_time ON otel_metric_points (name, time);
CREATE INDEX otel_metric_points_service_time ON otel_metric_points (service_name, time);
CREATE INDEX otel_metric_points_attributes ON otel_metric_points USING gin (attributes jsonb_path_ops);
-- Points that link to traces: exemplars @> '[{"trace_id": "<32 hex>"}]'.
CREATE INDEX otel_metric_points_exemplars ON otel_metric_points USING gin (exemplars jsonb_path_ops)
    WHERE exemplars <> '[]';

CREATE VIEW otel_metric_points_view AS
SELECT p.*,
       r.attributes AS resource_attributes,
       r.schema_url AS resource_schema_url
  FROM otel_metric_points p
  JOIN otel_resources r USING (resource_id);
