-- Runs the scheduler creates for asset events (Airflow's `asset_triggered` run type).
ALTER TABLE dag_run DROP CONSTRAINT dag_run_run_type_check;
ALTER TABLE dag_run ADD CONSTRAINT dag_run_run_type_check
    CHECK (run_type IN ('manual', 'scheduled', 'backfill', 'asset_triggered'));
