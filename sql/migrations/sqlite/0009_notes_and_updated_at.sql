-- A note on a run or a task instance (Airflow's `note`): what a person wrote about it, set
-- when triggering, marking or clearing it through the API.
ALTER TABLE dag_run ADD COLUMN note TEXT;
ALTER TABLE task_instance ADD COLUMN note TEXT;

-- When a run last changed (Airflow's `updated_at`, a filter and an order of run
-- listings), kept by the database itself so that no statement can forget it. Written as
-- sqlx writes times (RFC 3339 with +00:00), so that they compare as text.
ALTER TABLE dag_run ADD COLUMN updated_at TIMESTAMP;
UPDATE dag_run SET updated_at = COALESCE(ended_at, started_at, queued_at);
CREATE TRIGGER dag_run_inserted AFTER INSERT ON dag_run
BEGIN
    UPDATE dag_run SET updated_at = strftime('%Y-%m-%dT%H:%M:%f', 'now') || '+00:00'
    WHERE dag_id = NEW.dag_id AND run_id = NEW.run_id;
END;
CREATE TRIGGER dag_run_updated AFTER UPDATE ON dag_run
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE dag_run SET updated_at = strftime('%Y-%m-%dT%H:%M:%f', 'now') || '+00:00'
    WHERE dag_id = NEW.dag_id AND run_id = NEW.run_id;
END;
