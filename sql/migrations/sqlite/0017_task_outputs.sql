-- What an attempt hands to later tasks (`{{ outputs.<task_id>.<key> }}`): a JSON object
-- of at most 64 KiB, secrets masked; NULL when the attempt had none.
ALTER TABLE task_try ADD COLUMN outputs TEXT;
