-- Fan-out (`for_each`): a task of a run has one instance per item of its list, told apart
-- by `map_index` (0, 1, …, as in Airflow); -1 is the instance of a task that is not
-- mapped, or not expanded yet. `map_item` is a mapped instance's item (JSON). Every row
-- kept per attempt (tries, test results, model runs, asset events, alert messages)
-- carries the index too.
ALTER TABLE task_instance ADD COLUMN map_index INTEGER NOT NULL DEFAULT -1;
ALTER TABLE task_instance ADD COLUMN map_item TEXT;
ALTER TABLE task_try ADD COLUMN map_index INTEGER NOT NULL DEFAULT -1;

ALTER TABLE task_try DROP CONSTRAINT task_try_dag_id_run_id_task_id_fkey;
ALTER TABLE task_try DROP CONSTRAINT task_try_pkey;
ALTER TABLE task_instance DROP CONSTRAINT task_instance_pkey;
ALTER TABLE task_instance ADD PRIMARY KEY (dag_id, run_id, task_id, map_index);
ALTER TABLE task_try ADD PRIMARY KEY (dag_id, run_id, task_id, map_index, try_number);
ALTER TABLE task_try ADD FOREIGN KEY (dag_id, run_id, task_id, map_index)
    REFERENCES task_instance (dag_id, run_id, task_id, map_index) ON DELETE CASCADE;

ALTER TABLE test_result ADD COLUMN map_index INTEGER NOT NULL DEFAULT -1;
ALTER TABLE test_result DROP CONSTRAINT test_result_pkey;
ALTER TABLE test_result ADD PRIMARY KEY (dag_id, run_id, task_id, map_index, try_number, test_id);

ALTER TABLE model_run ADD COLUMN map_index INTEGER NOT NULL DEFAULT -1;
ALTER TABLE model_run DROP CONSTRAINT model_run_pkey;
ALTER TABLE model_run ADD PRIMARY KEY (dag_id, run_id, task_id, map_index, try_number, model);

ALTER TABLE asset_event ADD COLUMN map_index INTEGER NOT NULL DEFAULT -1;
DROP INDEX asset_event_attempt_idx;
CREATE UNIQUE INDEX asset_event_attempt_idx
    ON asset_event (dag_id, run_id, task_id, map_index, try_number, uri, access);

ALTER TABLE callback ADD COLUMN map_index INTEGER NOT NULL DEFAULT -1;

-- An attempt's end is matched with its row before the update by the whole key.
CREATE OR REPLACE FUNCTION duration_tally_task_try() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO duration_tally (kind, dag_id, task_id, state, n, seconds)
        SELECT 'task_try', nr.dag_id, nr.task_id, nr.state, 1, nr.duration
        FROM new_rows nr LEFT JOIN old_rows od USING (dag_id, run_id, task_id, map_index, try_number)
        WHERE nr.state <> 'running' AND nr.duration IS NOT NULL
          AND (od.state IS NULL OR od.state = 'running' OR od.state <> nr.state
               OR od.duration IS NULL);
    RETURN NULL;
END $$;
