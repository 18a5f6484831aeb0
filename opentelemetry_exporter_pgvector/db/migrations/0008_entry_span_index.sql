-- RED (rate, errors, duration per service or operation) reads the entry spans of a window:
-- SERVER and CONSUMER spans, a third of all spans or less. This partial index holds what it
-- needs (service, name, status, duration) beside start_time, so the query reads the index
-- alone (an index-only scan once autovacuum has marked the pages all-visible) instead of the
-- wide heap rows with their jsonb columns. Measured in benchmarks/query.py (docs/benchmarks.md).
CREATE INDEX otel_spans_entry_red ON otel_spans (start_time)
    INCLUDE (service_name, name, status_code, duration_ns)
    WHERE kind IN ('SERVER', 'CONSUMER');
