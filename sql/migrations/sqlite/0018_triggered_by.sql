-- The task that created a run (`trigger_dag`), as JSON `{"dag_id", "run_id", "task_id"}`:
-- a retry of that task finds its run instead of creating a second, and the UI links the
-- two runs both ways. NULL for every other run.
ALTER TABLE dag_run ADD COLUMN triggered_by TEXT;
CREATE INDEX dag_run_triggered_by_idx ON dag_run (triggered_by) WHERE triggered_by IS NOT NULL;
