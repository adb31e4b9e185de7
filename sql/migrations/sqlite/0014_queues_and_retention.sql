-- Queues: which queue each task instance belongs to (a task's `queue:`, Airflow's name),
-- and which queues each live scheduler serves, so that a task no scheduler serves is
-- seen waiting rather than run on the wrong host.
ALTER TABLE task_instance ADD COLUMN queue TEXT NOT NULL DEFAULT 'default';
ALTER TABLE job ADD COLUMN queues TEXT;
CREATE INDEX task_instance_waiting_idx ON task_instance (queue) WHERE state = 'scheduled';
CREATE INDEX task_instance_running_queue_idx ON task_instance (queue) WHERE state = 'running';

-- Jobs done now and then by one scheduler among many (the history clean of
-- `[history] keep`): the conditional update of `last_at` is the claim.
CREATE TABLE maintenance (
    name     TEXT PRIMARY KEY,
    last_at  TIMESTAMP NOT NULL
);
