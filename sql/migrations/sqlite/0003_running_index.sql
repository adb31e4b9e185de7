-- Task instances are found across runs only while running (heartbeats, recovery); every
-- other lookup goes through a run's primary key. An index on every state was rewritten by
-- each state change and, while statistics lagged behind a new wide run, led PostgreSQL's
-- planner to walk the whole run once per claimed task.
DROP INDEX task_instance_state_idx;
CREATE INDEX task_instance_running_idx ON task_instance (job_id) WHERE state = 'running';
