-- How many runs, task instances and test results each DAG has in each state, kept as the
-- rows change, so that a listing's total, the grid's "N runs" and /metrics' gauges read a
-- few rows instead of counting the whole history. Triggers append signed deltas; a
-- scheduler folds them into one row per (kind, DAG, state) now and then
-- (store/state_tally.rs).
CREATE TABLE state_tally (
    kind    TEXT NOT NULL,
    dag_id  TEXT NOT NULL,
    state   TEXT NOT NULL,
    n       INTEGER NOT NULL
);
CREATE INDEX state_tally_idx ON state_tally (kind, dag_id, state);

INSERT INTO state_tally (kind, dag_id, state, n)
    SELECT 'dag_run', dag_id, state, COUNT(*) FROM dag_run GROUP BY dag_id, state;
INSERT INTO state_tally (kind, dag_id, state, n)
    SELECT 'task_instance', dag_id, COALESCE(state, 'none'), COUNT(*) FROM task_instance
    GROUP BY dag_id, COALESCE(state, 'none');
INSERT INTO state_tally (kind, dag_id, state, n)
    SELECT 'test_result', dag_id, status, COUNT(*) FROM test_result GROUP BY dag_id, status;

CREATE TRIGGER dag_run_tally_insert AFTER INSERT ON dag_run BEGIN
    INSERT INTO state_tally VALUES ('dag_run', NEW.dag_id, NEW.state, 1);
END;
CREATE TRIGGER dag_run_tally_update AFTER UPDATE OF state ON dag_run
WHEN OLD.state IS NOT NEW.state BEGIN
    INSERT INTO state_tally VALUES ('dag_run', OLD.dag_id, OLD.state, -1), ('dag_run', NEW.dag_id, NEW.state, 1);
END;
CREATE TRIGGER dag_run_tally_delete AFTER DELETE ON dag_run BEGIN
    INSERT INTO state_tally VALUES ('dag_run', OLD.dag_id, OLD.state, -1);
END;

CREATE TRIGGER task_instance_tally_insert AFTER INSERT ON task_instance BEGIN
    INSERT INTO state_tally VALUES ('task_instance', NEW.dag_id, COALESCE(NEW.state, 'none'), 1);
END;
CREATE TRIGGER task_instance_tally_update AFTER UPDATE OF state ON task_instance
WHEN OLD.state IS NOT NEW.state BEGIN
    INSERT INTO state_tally VALUES ('task_instance', OLD.dag_id, COALESCE(OLD.state, 'none'), -1),
        ('task_instance', NEW.dag_id, COALESCE(NEW.state, 'none'), 1);
END;
CREATE TRIGGER task_instance_tally_delete AFTER DELETE ON task_instance BEGIN
    INSERT INTO state_tally VALUES ('task_instance', OLD.dag_id, COALESCE(OLD.state, 'none'), -1);
END;

CREATE TRIGGER test_result_tally_insert AFTER INSERT ON test_result BEGIN
    INSERT INTO state_tally VALUES ('test_result', NEW.dag_id, NEW.status, 1);
END;
CREATE TRIGGER test_result_tally_update AFTER UPDATE OF status ON test_result
WHEN OLD.status IS NOT NEW.status BEGIN
    INSERT INTO state_tally VALUES ('test_result', OLD.dag_id, OLD.status, -1), ('test_result', NEW.dag_id, NEW.status, 1);
END;
CREATE TRIGGER test_result_tally_delete AFTER DELETE ON test_result BEGIN
    INSERT INTO state_tally VALUES ('test_result', OLD.dag_id, OLD.status, -1);
END;

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
    n        INTEGER NOT NULL,
    seconds  REAL NOT NULL
);
-- Read through the index: after a burst (a bulk load, a backfill of thousands of runs)
-- the folded rows may sit behind many empty pages until vacuum truncates them.
CREATE INDEX duration_tally_idx ON duration_tally (kind, dag_id, task_id, state);

-- The history so far, folded into the buckets of store/metrics.rs's RUN_BUCKETS and
-- TASK_BUCKETS (a unit test checks that these are those).
INSERT INTO duration_tally (kind, dag_id, task_id, state, bucket, n, seconds)
    SELECT 'dag_run', dag_id, '', state, bucket, COUNT(*), SUM(s) FROM (
        SELECT dag_id, state, s,
            CASE WHEN s <= 1 THEN 0 WHEN s <= 5 THEN 1 WHEN s <= 10 THEN 2 WHEN s <= 30 THEN 3
                 WHEN s <= 60 THEN 4 WHEN s <= 120 THEN 5 WHEN s <= 300 THEN 6 WHEN s <= 600 THEN 7
                 WHEN s <= 1800 THEN 8 WHEN s <= 3600 THEN 9 ELSE 10 END AS bucket
        FROM (SELECT dag_id, state, (julianday(ended_at) - julianday(started_at)) * 86400.0 AS s
              FROM dag_run WHERE state IN ('success', 'failed')
              AND started_at IS NOT NULL AND ended_at IS NOT NULL))
    GROUP BY dag_id, state, bucket;
INSERT INTO duration_tally (kind, dag_id, task_id, state, bucket, n, seconds)
    SELECT 'task_try', dag_id, task_id, state, bucket, COUNT(*), SUM(duration) FROM (
        SELECT dag_id, task_id, state, duration,
            CASE WHEN duration <= 0.1 THEN 0 WHEN duration <= 0.5 THEN 1 WHEN duration <= 1 THEN 2
                 WHEN duration <= 5 THEN 3 WHEN duration <= 10 THEN 4 WHEN duration <= 30 THEN 5
                 WHEN duration <= 60 THEN 6 WHEN duration <= 300 THEN 7 WHEN duration <= 900 THEN 8
                 WHEN duration <= 3600 THEN 9 ELSE 10 END AS bucket
        FROM task_try WHERE state <> 'running' AND duration IS NOT NULL)
    GROUP BY dag_id, task_id, state, bucket;

-- A run counts when it finishes (again, after a clear, or in another final state).
CREATE TRIGGER dag_run_duration_insert AFTER INSERT ON dag_run
WHEN NEW.state IN ('success', 'failed') AND NEW.started_at IS NOT NULL AND NEW.ended_at IS NOT NULL
BEGIN
    INSERT INTO duration_tally (kind, dag_id, task_id, state, n, seconds) VALUES ('dag_run',
        NEW.dag_id, '', NEW.state, 1, (julianday(NEW.ended_at) - julianday(NEW.started_at)) * 86400.0);
END;
CREATE TRIGGER dag_run_duration_update AFTER UPDATE ON dag_run
WHEN NEW.state IN ('success', 'failed') AND NEW.started_at IS NOT NULL AND NEW.ended_at IS NOT NULL
    AND (OLD.state IS NOT NEW.state OR OLD.ended_at IS NOT NEW.ended_at)
BEGIN
    INSERT INTO duration_tally (kind, dag_id, task_id, state, n, seconds) VALUES ('dag_run',
        NEW.dag_id, '', NEW.state, 1, (julianday(NEW.ended_at) - julianday(NEW.started_at)) * 86400.0);
END;

-- An attempt counts when it ends with a duration.
CREATE TRIGGER task_try_duration_insert AFTER INSERT ON task_try
WHEN NEW.state <> 'running' AND NEW.duration IS NOT NULL
BEGIN
    INSERT INTO duration_tally (kind, dag_id, task_id, state, n, seconds)
        VALUES ('task_try', NEW.dag_id, NEW.task_id, NEW.state, 1, NEW.duration);
END;
CREATE TRIGGER task_try_duration_update AFTER UPDATE ON task_try
WHEN NEW.state <> 'running' AND NEW.duration IS NOT NULL
    AND (OLD.state = 'running' OR OLD.state IS NOT NEW.state OR OLD.duration IS NULL)
BEGIN
    INSERT INTO duration_tally (kind, dag_id, task_id, state, n, seconds)
        VALUES ('task_try', NEW.dag_id, NEW.task_id, NEW.state, 1, NEW.duration);
END;

-- The lakehouse dashboard's DAG list (DAGs with a `land` task): one probe per DAG instead
-- of a scan of every task instance.
CREATE INDEX task_instance_land_idx ON task_instance (dag_id) WHERE task_type = 'land';
