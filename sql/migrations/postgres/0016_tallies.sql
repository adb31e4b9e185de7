-- How many runs, task instances and test results each DAG has in each state, kept as the
-- rows change, so that a listing's total, the grid's "N runs" and /metrics' gauges read a
-- few rows instead of counting the whole history. Triggers append signed deltas (no row
-- is updated in place, so concurrent writers never wait on each other); a scheduler folds
-- them into one row per (kind, DAG, state) now and then (store/state_tally.rs).
CREATE TABLE state_tally (
    kind    TEXT NOT NULL,
    dag_id  TEXT NOT NULL,
    state   TEXT NOT NULL,
    n       BIGINT NOT NULL
);
CREATE INDEX state_tally_idx ON state_tally (kind, dag_id, state);

INSERT INTO state_tally (kind, dag_id, state, n)
    SELECT 'dag_run', dag_id, state, COUNT(*) FROM dag_run GROUP BY dag_id, state;
INSERT INTO state_tally (kind, dag_id, state, n)
    SELECT 'task_instance', dag_id, COALESCE(state, 'none'), COUNT(*) FROM task_instance
    GROUP BY dag_id, COALESCE(state, 'none');
INSERT INTO state_tally (kind, dag_id, state, n)
    SELECT 'test_result', dag_id, status, COUNT(*) FROM test_result GROUP BY dag_id, status;

-- Statement-level triggers with transition tables: a statement that moves 5,000 task
-- instances (or a history clean deleting a batch) appends one row per DAG and state, and
-- an update that leaves the state as it was appends nothing. One function for the three
-- tables: its arguments are the kind and the state column's expression.
CREATE FUNCTION state_tally() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    kind TEXT := TG_ARGV[0];
    state TEXT := TG_ARGV[1];
BEGIN
    IF TG_OP = 'INSERT' THEN
        EXECUTE format('INSERT INTO state_tally SELECT %L, dag_id, %s, COUNT(*) FROM new_rows GROUP BY 2, 3',
                       kind, state);
    ELSIF TG_OP = 'DELETE' THEN
        EXECUTE format('INSERT INTO state_tally SELECT %L, dag_id, %s, -COUNT(*) FROM old_rows GROUP BY 2, 3',
                       kind, state);
    ELSE
        EXECUTE format('INSERT INTO state_tally SELECT %L, dag_id, s, SUM(n) FROM (
                            SELECT dag_id, %s AS s, 1 AS n FROM new_rows
                            UNION ALL SELECT dag_id, %s, -1 FROM old_rows) d
                        GROUP BY 2, 3 HAVING SUM(n) <> 0', kind, state, state);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER dag_run_tally_insert AFTER INSERT ON dag_run
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION state_tally('dag_run', 'state');
CREATE TRIGGER dag_run_tally_update AFTER UPDATE ON dag_run
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION state_tally('dag_run', 'state');
CREATE TRIGGER dag_run_tally_delete AFTER DELETE ON dag_run
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION state_tally('dag_run', 'state');

CREATE TRIGGER task_instance_tally_insert AFTER INSERT ON task_instance
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION state_tally('task_instance', 'COALESCE(state, ''none'')');
CREATE TRIGGER task_instance_tally_update AFTER UPDATE ON task_instance
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION state_tally('task_instance', 'COALESCE(state, ''none'')');
CREATE TRIGGER task_instance_tally_delete AFTER DELETE ON task_instance
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION state_tally('task_instance', 'COALESCE(state, ''none'')');

CREATE TRIGGER test_result_tally_insert AFTER INSERT ON test_result
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION state_tally('test_result', 'status');
CREATE TRIGGER test_result_tally_update AFTER UPDATE ON test_result
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION state_tally('test_result', 'status');
CREATE TRIGGER test_result_tally_delete AFTER DELETE ON test_result
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION state_tally('test_result', 'status');

-- The duration histograms of /metrics (finished runs per DAG and state, ended attempts per
-- task and state), kept the same way: a trigger appends a row when a run finishes or an
-- attempt ends (`bucket` NULL, `seconds` its duration), and a fold sums them per bucket.
-- Prometheus counters: a history clean does not take them back.
CREATE TABLE duration_tally (
    kind     TEXT NOT NULL,
    dag_id   TEXT NOT NULL,
    task_id  TEXT NOT NULL,
    state    TEXT NOT NULL,
    bucket   INTEGER,
    n        BIGINT NOT NULL,
    seconds  DOUBLE PRECISION NOT NULL
);
-- Read through the index: after a burst (a bulk load, a backfill of thousands of runs)
-- the folded rows may sit behind many empty pages until vacuum truncates them.
CREATE INDEX duration_tally_idx ON duration_tally (kind, dag_id, task_id, state);

-- The history so far, folded into the buckets of store/metrics.rs's RUN_BUCKETS and
-- TASK_BUCKETS (a unit test checks that these are those).
INSERT INTO duration_tally (kind, dag_id, task_id, state, bucket, n, seconds)
    SELECT 'dag_run', dag_id, '', state, bucket, COUNT(*), SUM(seconds) FROM (
        SELECT dag_id, state, s AS seconds,
            CASE WHEN s <= 1 THEN 0 WHEN s <= 5 THEN 1 WHEN s <= 10 THEN 2 WHEN s <= 30 THEN 3
                 WHEN s <= 60 THEN 4 WHEN s <= 120 THEN 5 WHEN s <= 300 THEN 6 WHEN s <= 600 THEN 7
                 WHEN s <= 1800 THEN 8 WHEN s <= 3600 THEN 9 ELSE 10 END AS bucket
        FROM (SELECT dag_id, state, EXTRACT(EPOCH FROM (ended_at - started_at))::float8 AS s
              FROM dag_run WHERE state IN ('success', 'failed')
              AND started_at IS NOT NULL AND ended_at IS NOT NULL) r) b
    GROUP BY dag_id, state, bucket;
INSERT INTO duration_tally (kind, dag_id, task_id, state, bucket, n, seconds)
    SELECT 'task_try', dag_id, task_id, state, bucket, COUNT(*), SUM(duration) FROM (
        SELECT dag_id, task_id, state, duration,
            CASE WHEN duration <= 0.1 THEN 0 WHEN duration <= 0.5 THEN 1 WHEN duration <= 1 THEN 2
                 WHEN duration <= 5 THEN 3 WHEN duration <= 10 THEN 4 WHEN duration <= 30 THEN 5
                 WHEN duration <= 60 THEN 6 WHEN duration <= 300 THEN 7 WHEN duration <= 900 THEN 8
                 WHEN duration <= 3600 THEN 9 ELSE 10 END AS bucket
        FROM task_try WHERE state <> 'running' AND duration IS NOT NULL) t
    GROUP BY dag_id, task_id, state, bucket;

-- A run counts when it finishes (again, after a clear, or in another final state).
CREATE FUNCTION duration_tally_dag_run() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO duration_tally (kind, dag_id, task_id, state, n, seconds)
        SELECT 'dag_run', nr.dag_id, '', nr.state, 1,
               EXTRACT(EPOCH FROM (nr.ended_at - nr.started_at))::float8
        FROM new_rows nr LEFT JOIN old_rows od USING (dag_id, run_id)
        WHERE nr.state IN ('success', 'failed') AND nr.started_at IS NOT NULL
          AND nr.ended_at IS NOT NULL
          AND (od.state IS NULL OR od.state <> nr.state OR od.ended_at IS NULL
               OR od.ended_at <> nr.ended_at);
    RETURN NULL;
END $$;
CREATE FUNCTION duration_tally_dag_run_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO duration_tally (kind, dag_id, task_id, state, n, seconds)
        SELECT 'dag_run', dag_id, '', state, 1, EXTRACT(EPOCH FROM (ended_at - started_at))::float8
        FROM new_rows WHERE state IN ('success', 'failed') AND started_at IS NOT NULL
          AND ended_at IS NOT NULL;
    RETURN NULL;
END $$;
CREATE TRIGGER dag_run_duration_insert AFTER INSERT ON dag_run
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION duration_tally_dag_run_insert();
CREATE TRIGGER dag_run_duration_update AFTER UPDATE ON dag_run
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION duration_tally_dag_run();

-- An attempt counts when it ends with a duration.
CREATE FUNCTION duration_tally_task_try() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO duration_tally (kind, dag_id, task_id, state, n, seconds)
        SELECT 'task_try', nr.dag_id, nr.task_id, nr.state, 1, nr.duration
        FROM new_rows nr LEFT JOIN old_rows od USING (dag_id, run_id, task_id, try_number)
        WHERE nr.state <> 'running' AND nr.duration IS NOT NULL
          AND (od.state IS NULL OR od.state = 'running' OR od.state <> nr.state
               OR od.duration IS NULL);
    RETURN NULL;
END $$;
CREATE FUNCTION duration_tally_task_try_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO duration_tally (kind, dag_id, task_id, state, n, seconds)
        SELECT 'task_try', dag_id, task_id, state, 1, duration FROM new_rows
        WHERE state <> 'running' AND duration IS NOT NULL;
    RETURN NULL;
END $$;
CREATE TRIGGER task_try_duration_insert AFTER INSERT ON task_try
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION duration_tally_task_try_insert();
CREATE TRIGGER task_try_duration_update AFTER UPDATE ON task_try
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION duration_tally_task_try();

-- The lakehouse dashboard's DAG list (DAGs with a `land` task): one probe per DAG instead
-- of a scan of every task instance.
CREATE INDEX task_instance_land_idx ON task_instance (dag_id) WHERE task_type = 'land';
