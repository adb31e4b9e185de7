-- One row per model per attempt of a `sql_models` task, as dbt's run_results report a
-- model: a public table, like test_result, for `updraft` and Grafana to read.
CREATE TABLE model_run (
    dag_id          TEXT NOT NULL,
    run_id          TEXT NOT NULL,
    task_id         TEXT NOT NULL,
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
    PRIMARY KEY (dag_id, run_id, task_id, try_number, model)
);
CREATE INDEX model_run_started_idx ON model_run (started_at);
