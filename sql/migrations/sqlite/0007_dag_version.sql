-- DAG versions: each time a DAG's definition or a file its tasks name changes, a new
-- numbered version keeps the DAG file's text and the named files (their text while
-- together under 10 MB, else only their hashes), so a run is worked with the DAG it
-- started with by any process on any host, whatever its DAGs folder holds now.
CREATE TABLE dag_version (
    dag_id          TEXT NOT NULL,
    version_number  INTEGER NOT NULL,
    -- sha256 of the parsed definition (comments and formatting do not count) and of
    -- every named file.
    content_hash    TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    -- Where the DAG file was read from, and its text as written.
    fileloc         TEXT NOT NULL,
    dag_text        TEXT NOT NULL,
    PRIMARY KEY (dag_id, version_number)
);

-- The files a version's tasks name (sql_file, schema files, model folders), by their
-- path relative to the DAG file's folder; content NULL: recorded by hash only.
CREATE TABLE dag_version_file (
    dag_id          TEXT NOT NULL,
    version_number  INTEGER NOT NULL,
    path            TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    bytes           INTEGER NOT NULL,
    content         BLOB,
    PRIMARY KEY (dag_id, version_number, path),
    FOREIGN KEY (dag_id, version_number) REFERENCES dag_version (dag_id, version_number) ON DELETE CASCADE
);

-- The version a run is worked with (set when it starts; NULL: not started yet, or a run
-- from before versions, which takes the newest), and the version each task instance was
-- planned on.
ALTER TABLE dag_run ADD COLUMN dag_version INTEGER;
ALTER TABLE task_instance ADD COLUMN dag_version INTEGER;
