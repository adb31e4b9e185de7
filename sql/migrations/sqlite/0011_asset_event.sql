-- One row per table an attempt wrote (committed to) or read: the asset's URI (the same
-- from every DAG and host), the Delta version committed or read, rows, partitions
-- touched. Written in the transaction that records the attempt's end.
CREATE TABLE asset_event (
    dag_id      TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    task_id     TEXT NOT NULL,
    try_number  BIGINT NOT NULL,
    uri         TEXT NOT NULL,
    access      TEXT NOT NULL,
    version     BIGINT,
    row_count   BIGINT,
    partitions  TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (dag_id, run_id, task_id, try_number, uri, access)
);
CREATE INDEX asset_event_uri_idx ON asset_event (uri, created_at);
