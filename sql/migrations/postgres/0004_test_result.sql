-- One row per data test per attempt of a `data_test` task, as dbt reports a test: a
-- public table that Grafana panels and users query.
CREATE TABLE test_result (
    dag_id          TEXT NOT NULL,
    run_id          TEXT NOT NULL,
    task_id         TEXT NOT NULL,
    try_number      BIGINT NOT NULL,
    test_id         TEXT NOT NULL,
    test_name       TEXT NOT NULL,
    model           TEXT,
    column_name     TEXT,
    test_type       TEXT NOT NULL,
    severity        TEXT NOT NULL,
    status          TEXT NOT NULL,
    failures        BIGINT,
    message         TEXT,
    compiled_sql    TEXT,
    started_at      TIMESTAMPTZ NOT NULL,
    ended_at        TIMESTAMPTZ NOT NULL,
    execution_time  DOUBLE PRECISION NOT NULL,
    stored_failures TEXT,
    PRIMARY KEY (dag_id, run_id, task_id, try_number, test_id)
);
CREATE INDEX test_result_started_idx ON test_result (started_at);
