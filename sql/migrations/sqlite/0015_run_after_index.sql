-- Listing runs by when they became due (Airflow's `run_after`, the API's default order
-- across DAGs) reads this index instead of sorting every run: the expression is the one
-- the listing orders by, with its tie-breakers.
CREATE INDEX dag_run_run_after_idx ON dag_run
    ((CASE WHEN run_type = 'manual' THEN logical_date ELSE data_interval_end END), dag_id, run_id);
