-- Fan-out (`for_each`): a task of a run has one instance per item of its list, told apart
-- by `map_index` (0, 1, …, as in Airflow); -1 is the instance of a task that is not
-- mapped, or not expanded yet. `map_item` is a mapped instance's item (JSON). Every row
-- kept per attempt (tries, test results, model runs, asset events, alert messages)
-- carries the index too.
-- SQLite cannot change a primary key: the instances' and tries' tables are made anew and
-- filled from the old ones, which are then dropped (the tries' first, so that dropping
-- the instances' table cascades to nothing; a dropped table's triggers fire no more).
CREATE TABLE task_instance_new (
    dag_id        TEXT NOT NULL,
    run_id        TEXT NOT NULL,
    task_id       TEXT NOT NULL,
    map_index     INTEGER NOT NULL DEFAULT -1,
    task_type     TEXT NOT NULL,
    state         TEXT,
    try_number    INTEGER NOT NULL DEFAULT 0,
    max_tries     INTEGER NOT NULL,
    started_at    TIMESTAMP,
    ended_at      TIMESTAMP,
    duration      REAL,
    hostname      TEXT,
    job_id        TEXT,
    heartbeat_at  TIMESTAMP,
    next_try_at   TIMESTAMP,
    dag_version   INTEGER,
    note          TEXT,
    queue         TEXT NOT NULL DEFAULT 'default',
    map_item      TEXT,
    PRIMARY KEY (dag_id, run_id, task_id, map_index),
    FOREIGN KEY (dag_id, run_id) REFERENCES dag_run (dag_id, run_id) ON DELETE CASCADE
);
INSERT INTO task_instance_new (dag_id, run_id, task_id, task_type, state, try_number,
        max_tries, started_at, ended_at, duration, hostname, job_id, heartbeat_at,
        next_try_at, dag_version, note, queue)
    SELECT dag_id, run_id, task_id, task_type, state, try_number, max_tries, started_at,
        ended_at, duration, hostname, job_id, heartbeat_at, next_try_at, dag_version, note,
        queue
    FROM task_instance;

CREATE TABLE task_try_new (
    dag_id         TEXT NOT NULL,
    run_id         TEXT NOT NULL,
    task_id        TEXT NOT NULL,
    map_index      INTEGER NOT NULL DEFAULT -1,
    try_number     INTEGER NOT NULL,
    state          TEXT NOT NULL,
    started_at     TIMESTAMP NOT NULL,
    ended_at       TIMESTAMP,
    duration       REAL,
    hostname       TEXT,
    error          TEXT,
    log_path       TEXT,
    metrics        TEXT NOT NULL DEFAULT '{}',
    job_id         TEXT,
    process_group  BIGINT,
    process_start  TEXT,
    outputs        TEXT,
    waiting_for    TEXT,
    PRIMARY KEY (dag_id, run_id, task_id, map_index, try_number),
    FOREIGN KEY (dag_id, run_id, task_id, map_index)
        REFERENCES task_instance_new (dag_id, run_id, task_id, map_index) ON DELETE CASCADE
);
INSERT INTO task_try_new (dag_id, run_id, task_id, try_number, state, started_at, ended_at,
        duration, hostname, error, log_path, metrics, job_id, process_group, process_start,
        outputs, waiting_for)
    SELECT dag_id, run_id, task_id, try_number, state, started_at, ended_at, duration,
        hostname, error, log_path, metrics, job_id, process_group, process_start, outputs,
        waiting_for
    FROM task_try;

DROP TABLE task_try;
DROP TABLE task_instance;
-- Renaming the instances' table rewrites the tries' foreign key to the new name.
ALTER TABLE task_instance_new RENAME TO task_instance;
ALTER TABLE task_try_new RENAME TO task_try;

CREATE INDEX task_try_started_idx ON task_try (started_at);
CREATE INDEX task_instance_running_idx ON task_instance (job_id) WHERE state = 'running';
CREATE INDEX task_instance_waiting_idx ON task_instance (queue) WHERE state = 'scheduled';
CREATE INDEX task_instance_running_queue_idx ON task_instance (queue) WHERE state = 'running';
CREATE INDEX task_instance_land_idx ON task_instance (dag_id) WHERE task_type = 'land';

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

-- Test results and model runs are kept per attempt: their keys take the index as well.
CREATE TABLE test_result_new (
    dag_id          TEXT NOT NULL,
    run_id          TEXT NOT NULL,
    task_id         TEXT NOT NULL,
    map_index       INTEGER NOT NULL DEFAULT -1,
    try_number      INTEGER NOT NULL,
    test_id         TEXT NOT NULL,
    test_name       TEXT NOT NULL,
    model           TEXT,
    column_name     TEXT,
    test_type       TEXT NOT NULL,
    severity        TEXT NOT NULL,
    status          TEXT NOT NULL,
    failures        INTEGER,
    message         TEXT,
    compiled_sql    TEXT,
    started_at      TIMESTAMP NOT NULL,
    ended_at        TIMESTAMP NOT NULL,
    execution_time  REAL NOT NULL,
    stored_failures TEXT,
    PRIMARY KEY (dag_id, run_id, task_id, map_index, try_number, test_id)
);
INSERT INTO test_result_new (dag_id, run_id, task_id, try_number, test_id, test_name, model,
        column_name, test_type, severity, status, failures, message, compiled_sql,
        started_at, ended_at, execution_time, stored_failures)
    SELECT dag_id, run_id, task_id, try_number, test_id, test_name, model, column_name,
        test_type, severity, status, failures, message, compiled_sql, started_at, ended_at,
        execution_time, stored_failures
    FROM test_result;
DROP TABLE test_result;
ALTER TABLE test_result_new RENAME TO test_result;
CREATE INDEX test_result_started_idx ON test_result (started_at);
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

CREATE TABLE model_run_new (
    dag_id          TEXT NOT NULL,
    run_id          TEXT NOT NULL,
    task_id         TEXT NOT NULL,
    map_index       INTEGER NOT NULL DEFAULT -1,
    try_number      BIGINT NOT NULL,
    model           TEXT NOT NULL,
    relation        TEXT NOT NULL,
    materialized    TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('success', 'error', 'skipped')),
    row_count       BIGINT,
    message         TEXT,
    started_at      TIMESTAMP NOT NULL,
    ended_at        TIMESTAMP NOT NULL,
    execution_time  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (dag_id, run_id, task_id, map_index, try_number, model)
);
INSERT INTO model_run_new (dag_id, run_id, task_id, try_number, model, relation,
        materialized, status, row_count, message, started_at, ended_at, execution_time)
    SELECT dag_id, run_id, task_id, try_number, model, relation, materialized, status,
        row_count, message, started_at, ended_at, execution_time
    FROM model_run;
DROP TABLE model_run;
ALTER TABLE model_run_new RENAME TO model_run;
CREATE INDEX model_run_started_idx ON model_run (started_at);

ALTER TABLE asset_event ADD COLUMN map_index INTEGER NOT NULL DEFAULT -1;
DROP INDEX asset_event_attempt_idx;
CREATE UNIQUE INDEX asset_event_attempt_idx
    ON asset_event (dag_id, run_id, task_id, map_index, try_number, uri, access);

ALTER TABLE callback ADD COLUMN map_index INTEGER NOT NULL DEFAULT -1;
