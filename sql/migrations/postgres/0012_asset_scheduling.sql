-- Assets by number (Airflow's API names them by id), events that no attempt produced
-- (`POST /api/v2/assets/events`, `updraft asset event`), and scheduling on assets: which
-- DAGs a URI schedules, a queue row per (DAG, event, partition) written in the event's
-- own transaction, consumed by the transaction that creates the run (so each run is
-- created once, whichever scheduler sees the rows first), and which runs each event
-- triggered. Freshness: one row per `freshness:` entry of a DAG, marked stale (its
-- `on_stale` callbacks recorded in the same transaction: the update is the claim) once
-- per period the asset goes without a write, fresh again on the next write.
CREATE TABLE asset (
    id          BIGSERIAL PRIMARY KEY,
    uri         TEXT NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
INSERT INTO asset (uri, created_at, updated_at)
    SELECT uri, MIN(created_at), MIN(created_at) FROM asset_event GROUP BY uri ORDER BY uri;

ALTER TABLE asset_event DROP CONSTRAINT asset_event_pkey;
ALTER TABLE asset_event ADD COLUMN id BIGSERIAL PRIMARY KEY;
ALTER TABLE asset_event ALTER COLUMN dag_id DROP NOT NULL;
ALTER TABLE asset_event ALTER COLUMN run_id DROP NOT NULL;
ALTER TABLE asset_event ALTER COLUMN task_id DROP NOT NULL;
ALTER TABLE asset_event ALTER COLUMN try_number DROP NOT NULL;
ALTER TABLE asset_event ADD COLUMN extra TEXT NOT NULL DEFAULT '{}';
CREATE UNIQUE INDEX asset_event_attempt_idx
    ON asset_event (dag_id, run_id, task_id, try_number, uri, access);

CREATE TABLE dag_schedule_asset (
    dag_id  TEXT NOT NULL,
    uri     TEXT NOT NULL,
    PRIMARY KEY (dag_id, uri)
);
CREATE INDEX dag_schedule_asset_uri_idx ON dag_schedule_asset (uri);

CREATE TABLE asset_dag_queue (
    id             BIGSERIAL PRIMARY KEY,
    target_dag_id  TEXT NOT NULL,
    event_id       BIGINT NOT NULL,
    partition_key  TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL
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
    stale_since      TIMESTAMPTZ,
    stale_periods    BIGINT NOT NULL DEFAULT 0,
    registered_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (dag_id, freshness_index)
);
