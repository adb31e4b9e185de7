-- What a waiting task (a sensor, `trigger_dag` with `wait`) waits for, as its last check
-- said: shown with the try's `started_at` (its first check) while the task instance is
-- `up_for_reschedule`, and kept once it is done. NULL for every other try.
ALTER TABLE task_try ADD COLUMN waiting_for TEXT;
