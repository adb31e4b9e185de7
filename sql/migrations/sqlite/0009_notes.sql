-- A note on a run or a task instance (Airflow's `note`): what a person wrote about it, set
-- when triggering, marking or clearing it through the API.
ALTER TABLE dag_run ADD COLUMN note TEXT;
ALTER TABLE task_instance ADD COLUMN note TEXT;
