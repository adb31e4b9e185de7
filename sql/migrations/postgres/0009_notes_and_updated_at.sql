-- A note on a run or a task instance (Airflow's `note`): what a person wrote about it, set
-- when triggering, marking or clearing it through the API.
ALTER TABLE dag_run ADD COLUMN note TEXT;
ALTER TABLE task_instance ADD COLUMN note TEXT;

-- When a run last changed (Airflow's `updated_at`, a filter and an order of run
-- listings), kept by the database itself so that no statement can forget it.
ALTER TABLE dag_run ADD COLUMN updated_at TIMESTAMPTZ;
UPDATE dag_run SET updated_at = COALESCE(ended_at, started_at, queued_at);
CREATE FUNCTION dag_run_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    RETURN NEW;
END
$$;
CREATE TRIGGER dag_run_touch BEFORE INSERT OR UPDATE ON dag_run
    FOR EACH ROW EXECUTE FUNCTION dag_run_touch();
