-- Assets by number (Airflow's API names them by id), events that no attempt produced
-- (`POST /api/v2/assets/events`, `updraft asset event`), and scheduling on assets: which
-- DAGs a URI schedules, a queue row per (DAG, event, partition) written in the event's
-- own transaction, consumed by the transaction that creates the run, and which runs each
-- event triggered. Freshness: one row per `freshness:` entry of a DAG, marked stale (its
-- `on_stale` callbacks recorded in the same transaction: the update is the claim) once
-- per period the asset goes without a write, fresh again on the next write. SQLite
-- cannot change a primary key: `asset_event` is rebuilt.
CREATE TABLE asset (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    uri         TEXT NOT NULL UNIQUE,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
INSERT INTO asset (uri, created_at, updated_at)
    SELECT uri, MIN(created_at), MIN(created_at) FROM asset_event GROUP BY uri ORDER BY uri;

CREATE TABLE asset_event_new (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    dag_id      TEXT,
    run_id      TEXT,
    task_id     TEXT,
    try_number  BIGINT,
    uri         TEXT NOT NULL,
    access      TEXT NOT NULL,
    version     BIGINT,
    row_count   BIGINT,
    partitions  TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    extra       TEXT NOT NULL DEFAULT '{}'
);
INSERT INTO asset_event_new (dag_id, run_id, task_id, try_number, uri, access, version,
                             row_count, partitions, created_at)
    SELECT dag_id, run_id, task_id, try_number, uri, access, version, row_count, partitions,
           created_at
    FROM asset_event ORDER BY created_at;
DROP TABLE asset_event;
ALTER TABLE asset_event_new RENAME TO asset_event;
CREATE UNIQUE INDEX asset_event_attempt_idx
    ON asset_event (dag_id, run_id, task_id, try_number, uri, access);
CREATE INDEX asset_event_uri_idx ON asset_event (uri, created_at);

CREATE TABLE dag_schedule_asset (
    dag_id  TEXT NOT NULL,
    uri     TEXT NOT NULL,
    PRIMARY KEY (dag_id, uri)
);
CREATE INDEX dag_schedule_asset_uri_idx ON dag_schedule_asset (uri);

CREATE TABLE asset_dag_queue (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    target_dag_id  TEXT NOT NULL,
    event_id       BIGINT NOT NULL,
    partition_key  TEXT NOT NULL,
    created_at     TIMESTAMP NOT NULL
);
CREATE INDEX asset_dag_queue_dag_idx ON asset_dag_queue (target_dag_id);

CREATE TABLE asset_event_run (
    event_id  BIGINT NOT NULL,
    dag_id    TEXT NOT NULL,
    run_id    TEXT NOT NULL,
    PRIMARY KEY (event_id, dag_id, run_id)
);
CREATE INDEX asset_event_run_run_idx ON asset_event_run (dag_id, run_id);

CREATE TABLE asset_freshness (
    dag_id           TEXT NOT NULL,
    freshness_index  BIGINT NOT NULL,
    uri              TEXT NOT NULL,
    max_age_seconds  DOUBLE PRECISION NOT NULL,
    on_stale         TEXT NOT NULL,
    state            TEXT NOT NULL,
    stale_since      TIMESTAMP,
    stale_periods    BIGINT NOT NULL DEFAULT 0,
    registered_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (dag_id, freshness_index)
);
