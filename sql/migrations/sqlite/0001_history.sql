-- Updraft run history (SQLite). Table and column names are a public interface:
-- Grafana panels and users query them. Timestamps are UTC.

CREATE TABLE dag (
    dag_id          TEXT PRIMARY KEY,
    is_paused       BOOLEAN NOT NULL DEFAULT FALSE,
    schedule        TEXT,
    timezone        TEXT NOT NULL DEFAULT 'UTC',
    fileloc         TEXT NOT NULL,
    description     TEXT,
    last_parsed_at  TIMESTAMP NOT NULL
);

CREATE TABLE dag_run (
    dag_id               TEXT NOT NULL,
    run_id               TEXT NOT NULL,
    run_type             TEXT NOT NULL CHECK (run_type IN ('manual', 'scheduled', 'backfill')),
    logical_date         TIMESTAMP NOT NULL,
    data_interval_start  TIMESTAMP NOT NULL,
    data_interval_end    TIMESTAMP NOT NULL,
    state                TEXT NOT NULL CHECK (state IN ('queued', 'running', 'success', 'failed')),
    conf                 TEXT NOT NULL DEFAULT '{}',
    queued_at            TIMESTAMP NOT NULL,
    started_at           TIMESTAMP,
    ended_at             TIMESTAMP,
    PRIMARY KEY (dag_id, run_id),
    UNIQUE (dag_id, logical_date)
);
CREATE INDEX dag_run_state_idx ON dag_run (state);

CREATE TABLE task_instance (
    dag_id      TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    task_id     TEXT NOT NULL,
    task_type   TEXT NOT NULL,
    state       TEXT,
    try_number  INTEGER NOT NULL DEFAULT 0,
    max_tries   INTEGER NOT NULL,
    started_at  TIMESTAMP,
    ended_at    TIMESTAMP,
    duration    REAL,
    hostname    TEXT,
    PRIMARY KEY (dag_id, run_id, task_id),
    FOREIGN KEY (dag_id, run_id) REFERENCES dag_run (dag_id, run_id) ON DELETE CASCADE
);
CREATE INDEX task_instance_state_idx ON task_instance (state);

CREATE TABLE task_try (
    dag_id      TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    task_id     TEXT NOT NULL,
    try_number  INTEGER NOT NULL,
    state       TEXT NOT NULL,
    started_at  TIMESTAMP NOT NULL,
    ended_at    TIMESTAMP,
    duration    REAL,
    hostname    TEXT,
    error       TEXT,
    log_path    TEXT,
    metrics     TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (dag_id, run_id, task_id, try_number),
    FOREIGN KEY (dag_id, run_id, task_id)
        REFERENCES task_instance (dag_id, run_id, task_id) ON DELETE CASCADE
);
CREATE INDEX task_try_started_idx ON task_try (started_at);
