-- Full-text search over shape texts, beside the vectors: hybrid similarity search
-- (query/similar.py) fuses the nearest shapes by cosine distance with the shapes whose text
-- best matches the query's words, which finds the failures whose names the model does not
-- know (ECONNRESET, QueryCanceled, E11000) and ranks exact terms first.
--
-- The indexed text is the shape text with identifiers split into words: dotted, underscored
-- and slashed names (psycopg.errors.UniqueViolation, lock_timeout) at their punctuation,
-- camel case (UniqueViolation, ECONNRESET stays whole) at each capital after a lower-case
-- letter. A generated column: computed once per new shape, never on the span path, and
-- an expression of the row alone, so it needs no trigger and works on a Citus reference table.

ALTER TABLE otel_shapes ADD COLUMN search tsvector GENERATED ALWAYS AS (
    to_tsvector('english'::regconfig,
        regexp_replace(regexp_replace(text, '([a-z])([A-Z])', '\1 \2', 'g'), '[._/:<>=-]+', ' ', 'g'))
) STORED;
COMMENT ON COLUMN otel_shapes.search IS 'The words of text (identifiers split at punctuation and camel case), for the full-text half of hybrid similarity search.';

CREATE INDEX otel_shapes_search ON otel_shapes USING gin (search);
