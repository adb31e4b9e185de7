-- For the Grafana dashboards (grafana/): when each DAG's next scheduled run is due, so a
-- run that is due but was never created (no scheduler running, max_active_runs reached)
-- shows as late; and indexes for the panels that select runs by when they started or
-- ended (a range of a day out of months of history).
ALTER TABLE dag ADD COLUMN next_run_after TIMESTAMPTZ;
CREATE INDEX dag_run_started_idx ON dag_run (started_at);
CREATE INDEX dag_run_ended_idx ON dag_run (ended_at);
