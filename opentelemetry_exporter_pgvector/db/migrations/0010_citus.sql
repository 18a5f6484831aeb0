-- Citus: what a schema needs to be distributed, and the function that distributes it
-- (`otel-pgvector migrate --citus`, docs/scaling.md). Runs on every server, Citus or not, so the
-- schema is the same everywhere; only otel_distribute() needs Citus, and only when called.
-- Runs with search_path set to the configured schema (then public, for pgvector).

-- A distributed table's unique keys must contain its distribution column, and dead letters are
-- distributed by batch_id beside the ledger (below): the identity alone stays unique without
-- the constraint saying so, and every lookup of a dead letter knows its batch.
-- (Two statements: Citus refuses ADD CONSTRAINT beside other subcommands.)
ALTER TABLE otel_dead_letters DROP CONSTRAINT otel_dead_letters_pkey;
ALTER TABLE otel_dead_letters ADD PRIMARY KEY (batch_id, dead_letter_id);

-- As in 0001, plus one Citus step: attaching a table to a distributed parent distributes it by
-- copying its rows to the shards, and Citus leaves that local copy on the coordinator's disk,
-- unread. Rows moved out of the default partition would stay there for the partition's life.
CREATE OR REPLACE FUNCTION otel_ensure_partition(parent regclass, day date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    parent_schema name;
    parent_name name;
    key_column name;
    partition_name name;
    default_partition regclass;
    moved bigint := 0;
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
        GET DIAGNOSTICS moved = ROW_COUNT;
    END IF;
    EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)',
                   parent, parent_schema, partition_name, lower_bound, upper_bound);
    IF moved > 0 AND to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
        -- dynamic, so the function needs no Citus on a server without it
        EXECUTE 'SELECT truncate_local_data_after_distributing_table($1) FROM pg_dist_partition'
                ' WHERE logicalrelid = $1'
          USING format('%I.%I', parent_schema, partition_name)::regclass;
    END IF;
    RETURN true;
END
$$;

-- Distributes the tables of schema target_schema on a Citus coordinator; idempotent: a table
-- already distributed as below is left alone, one distributed otherwise is refused. Returns a
-- line per table it distributed. Why each table goes where (docs/scaling.md):
--   otel_spans, otel_logs    by trace_id, colocated: a trace's spans and log records share a
--                            shard, so get_trace and trace_context are single-shard queries and
--                            joins of the two on trace_id stay on the workers;
--   otel_metric_points       by resource_id: a process's series stay together (rate over a
--                            series reads one shard), while a metric queried over all processes
--                            fans out to every worker; the name or service would put the busiest
--                            metric's or service's whole write load on one shard;
--   otel_batches,            by batch_id, colocated: every export inserts its ledger row, so a
--   otel_dead_letters        coordinator-local ledger would make every batch a coordinator write
--                            and keep exporters from writing through a worker;
--   otel_resources,          reference tables (a copy on every node): small, rarely written,
--   otel_shapes              joined with every signal table; otel_shapes keeps its HNSW index;
--   otel_schema_migrations   stays on the coordinator: only migrations read it.
-- The daily partitions follow their parents, including those otel_ensure_partition adds later.
CREATE FUNCTION otel_distribute(target_schema name) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    wanted record;
    rel regclass;
    found_type text;
    found_column text;
    fn regprocedure;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RAISE EXCEPTION 'this database has no Citus extension: distributing the tables needs a Citus coordinator (CREATE EXTENSION citus)';
    END IF;
    IF NOT citus_is_coordinator() THEN
        RAISE EXCEPTION 'this node is a Citus worker: distribute the tables on the coordinator';
    END IF;
    -- one connection per worker: the functions replaced below may not follow parallel work
    PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);
    FOR wanted IN
        SELECT * FROM (VALUES
            (1, 'otel_resources', 'reference', NULL, NULL),
            (2, 'otel_shapes', 'reference', NULL, NULL),
            (3, 'otel_spans', 'distributed', 'trace_id', 'default'),
            (4, 'otel_logs', 'distributed', 'trace_id', 'otel_spans'),
            (5, 'otel_batches', 'distributed', 'batch_id', 'otel_spans'),
            (6, 'otel_dead_letters', 'distributed', 'batch_id', 'otel_batches'),
            (7, 'otel_metric_points', 'distributed', 'resource_id', 'none')
        ) AS t(position, name, kind, by_column, colocate_with) ORDER BY position
    LOOP
        rel := format('%I.%I', target_schema, wanted.name)::regclass;
        SELECT citus_table_type, distribution_column INTO found_type, found_column
          FROM citus_tables WHERE table_name = rel;
        IF found_type IS NOT NULL THEN
            IF found_type <> wanted.kind OR found_column IS DISTINCT FROM coalesce(wanted.by_column, '<none>') THEN
                RAISE EXCEPTION '% is already a % table (distribution column %), where otel-pgvector wants a % table%',
                    rel, found_type, found_column, wanted.kind,
                    coalesce(' distributed by ' || wanted.by_column, '');
            END IF;
            CONTINUE;
        END IF;
        IF wanted.kind = 'reference' THEN
            PERFORM create_reference_table(rel);
        ELSE
            PERFORM create_distributed_table(
                rel, wanted.by_column,
                colocate_with => CASE WHEN wanted.colocate_with IN ('default', 'none') THEN wanted.colocate_with
                                      ELSE format('%I.%I', target_schema, wanted.colocate_with) END);
        END IF;
        -- rows written before the distribution were copied to the shards: free the coordinator's copy
        PERFORM truncate_local_data_after_distributing_table(rel);
        RETURN NEXT format('%s: %s', wanted.name,
                           CASE WHEN wanted.kind = 'reference' THEN 'reference table'
                                ELSE 'distributed by ' || wanted.by_column END);
    END LOOP;
    -- Citus refuses a call with parameters of an SQL-language function that reads a distributed
    -- table ("parameterized queries for SQL functions referencing distributed tables are not
    -- supported"): otel_red and otel_service_map (0009), which the query layer calls. Each
    -- becomes a PL/pgSQL function running the same query (RETURN QUERY), which Citus plans at
    -- each call: the same answers, only not inlined into the caller's plan. Grafana's trace
    -- functions of 0009 read one trace, so one shard, and work as they are (converted, their
    -- deparsed queries' column types would not match their result types, as RETURN QUERY
    -- needs). The body is deparsed with every name schema-qualified (search_path pg_catalog),
    -- so it still needs no search_path, as the SQL-standard body did not.
    PERFORM set_config('search_path', 'pg_catalog', true);
    FOR fn IN
        SELECT p.oid::regprocedure FROM pg_proc p
         WHERE p.pronamespace = target_schema::regnamespace AND p.proname IN ('otel_red', 'otel_service_map')
           AND p.prosqlbody IS NOT NULL AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'sql')
         ORDER BY p.proname
    LOOP
        EXECUTE regexp_replace(replace(pg_get_functiondef(fn), 'LANGUAGE sql', 'LANGUAGE plpgsql'),
                               'BEGIN ATOMIC(.*)END\s*$',
                               E'AS $otel$\n#variable_conflict use_column\nBEGIN\nRETURN QUERY \\1\nRETURN;\nEND\n$otel$');
        RETURN NEXT format('%s: PL/pgSQL', fn);
    END LOOP;
END
$$;
COMMENT ON FUNCTION otel_distribute(name) IS 'Distributes the schema''s tables on a Citus coordinator (otel-pgvector migrate --citus); idempotent. docs/scaling.md says what goes where and why.';
