-- One row per action of an alert event (a task failed, was retried, succeeded; a run
-- ended): written in the transaction of the state change that caused it, claimed by one
-- scheduler at a time, sent in the background, and kept with what the receiver answered.
-- The action is kept as written (templates unrendered): URLs, tokens and passwords are
-- looked up when it is sent, never stored.
CREATE TABLE callback (
    id              TEXT PRIMARY KEY,
    dag_id          TEXT NOT NULL,
    run_id          TEXT NOT NULL,
    task_id         TEXT NOT NULL,
    try_number      BIGINT NOT NULL,
    event           TEXT NOT NULL,
    action_index    BIGINT NOT NULL,
    action_kind     TEXT NOT NULL,
    action          TEXT NOT NULL,
    facts           TEXT NOT NULL,
    target          TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    claimed_by      TEXT,
    answer          TEXT,
    duration        DOUBLE PRECISION,
    created_at      TIMESTAMPTZ NOT NULL,
    sent_at         TIMESTAMPTZ
);
CREATE INDEX callback_due_idx ON callback (state, next_attempt_at);
CREATE INDEX callback_run_idx ON callback (dag_id, run_id);

-- One row per deadline of a run (`deadline:`), written with the run: due at a time
-- measured from one of the run's own times. A dispatcher marks it met (the run ended in
-- time) or missed (it had not), and a miss records its `on_miss` callbacks in the same
-- transaction: the update is the claim, so each deadline fires once, whichever scheduler
-- sees it first and whatever crashed before.
CREATE TABLE deadline (
    dag_id            TEXT NOT NULL,
    run_id            TEXT NOT NULL,
    deadline_index    BIGINT NOT NULL,
    due_at            TIMESTAMPTZ NOT NULL,
    reference         TEXT NOT NULL,
    interval_seconds  DOUBLE PRECISION NOT NULL,
    on_miss           TEXT NOT NULL,
    state             TEXT NOT NULL,
    decided_at        TIMESTAMPTZ,
    PRIMARY KEY (dag_id, run_id, deadline_index)
);
CREATE INDEX deadline_due_idx ON deadline (state, due_at);
