-- Log bodies share the span shape dictionary (otel_shapes, signal 'log'): same masking,
-- same embedding modes. Index the key so patterns and similarity can count records per shape.

CREATE INDEX otel_logs_shape_time ON otel_logs (shape_key, time) WHERE shape_key IS NOT NULL;

COMMENT ON COLUMN otel_logs.shape_key IS 'The body''s shape in otel_shapes (signal ''log''): "service SEVERITY: masked body"; NULL when embeddings are off or the body is empty.';
