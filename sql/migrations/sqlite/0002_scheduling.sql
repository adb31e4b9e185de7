-- Scheduling: the processes that execute runs (schedulers, foreground triggers and
-- backfills) with their heartbeats, which process runs each attempt, and retry times.

CREATE TABLE job (
    job_id        TEXT PRIMARY KEY,
    job_type      TEXT NOT NULL CHECK (job_type IN ('scheduler', 'trigger', 'backfill')),
    hostname      TEXT NOT NULL,
    pid           INTEGER NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('running', 'stopped', 'dead')),
    started_at    TIMESTAMP NOT NULL,
    heartbeat_at  TIMESTAMP NOT NULL,
    ended_at      TIMESTAMP
);
CREATE INDEX job_state_idx ON job (state);

-- The job running the attempt and its last heartbeat; when an up_for_retry task is due.
ALTER TABLE task_instance ADD COLUMN job_id TEXT;
ALTER TABLE task_instance ADD COLUMN heartbeat_at TIMESTAMP;
ALTER TABLE task_instance ADD COLUMN next_try_at TIMESTAMP;
ALTER TABLE task_try ADD COLUMN job_id TEXT;
-- The job that executes the run by itself (a foreground trigger or a backfill); NULL
-- means any scheduler may work on it.
ALTER TABLE dag_run ADD COLUMN job_id TEXT;
