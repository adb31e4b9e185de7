-- The process group an attempt started (its supervisor leads it) and when the group's
-- leader started (`<boot id>:<start time>`), so that recovery on the same host can kill
-- whatever a crash left of an attempt before it is retried.
ALTER TABLE task_try ADD COLUMN process_group BIGINT;
ALTER TABLE task_try ADD COLUMN process_start TEXT;
