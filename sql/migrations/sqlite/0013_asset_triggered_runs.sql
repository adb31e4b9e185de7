-- no-transaction
-- Runs the scheduler creates for asset events (Airflow's `asset_triggered` run type).
-- SQLite cannot change a CHECK constraint: `dag_run` is rebuilt as SQLite's manual says
-- (foreign keys off, so that dropping the old table does not cascade to its task
-- instances; one transaction; the keys checked before it commits).
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE dag_run_new (
    dag_id               TEXT NOT NULL,
    run_id               TEXT NOT NULL,
    run_type             TEXT NOT NULL
        CHECK (run_type IN ('manual', 'scheduled', 'backfill', 'asset_triggered')),
    logical_date         TIMESTAMP NOT NULL,
    data_interval_start  TIMESTAMP NOT NULL,
    data_interval_end    TIMESTAMP NOT NULL,
    state                TEXT NOT NULL CHECK (state IN ('queued', 'running', 'success', 'failed')),
    conf                 TEXT NOT NULL DEFAULT '{}',
    queued_at            TIMESTAMP NOT NULL,
    started_at           TIMESTAMP,
    ended_at             TIMESTAMP,
    job_id               TEXT,
    dag_version          INTEGER,
    note                 TEXT,
    updated_at           TIMESTAMP,
    PRIMARY KEY (dag_id, run_id),
    UNIQUE (dag_id, logical_date)
);
INSERT INTO dag_run_new (dag_id, run_id, run_type, logical_date, data_interval_start,
                         data_interval_end, state, conf, queued_at, started_at, ended_at,
                         job_id, dag_version, note, updated_at)
    SELECT dag_id, run_id, run_type, logical_date, data_interval_start, data_interval_end,
           state, conf, queued_at, started_at, ended_at, job_id, dag_version, note, updated_at
    FROM dag_run;
DROP TABLE dag_run;
ALTER TABLE dag_run_new RENAME TO dag_run;
CREATE INDEX dag_run_state_idx ON dag_run (state);
CREATE INDEX dag_run_started_idx ON dag_run (started_at);
CREATE INDEX dag_run_ended_idx ON dag_run (ended_at);
CREATE TRIGGER dag_run_inserted AFTER INSERT ON dag_run
BEGIN
    UPDATE dag_run SET updated_at = strftime('%Y-%m-%dT%H:%M:%f', 'now') || '+00:00'
    WHERE dag_id = NEW.dag_id AND run_id = NEW.run_id;
END;
CREATE TRIGGER dag_run_updated AFTER UPDATE ON dag_run
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE dag_run SET updated_at = strftime('%Y-%m-%dT%H:%M:%f', 'now') || '+00:00'
    WHERE dag_id = NEW.dag_id AND run_id = NEW.run_id;
END;
PRAGMA foreign_key_check;
COMMIT;
PRAGMA foreign_keys = ON;
