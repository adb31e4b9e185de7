//! The states of runs and task instances and the kinds of runs, as stored (Airflow's
//! names).

crate::stored_name! {
    /// A DagRun's state: `queued → running → success | failed`.
    pub enum RunState ("run state") {
        Queued = "queued",
        Running = "running",
        Success = "success",
        Failed = "failed",
    }
}

crate::stored_name! {
    /// What created a DagRun.
    pub enum RunType ("run type") {
        /// `dag trigger` or the API.
        Manual = "manual",
        /// The scheduler, for a due interval.
        Scheduled = "scheduled",
        /// `dag backfill`.
        Backfill = "backfill",
        /// The scheduler, for events of the assets the DAG is scheduled on.
        AssetTriggered = "asset_triggered",
    }
}

crate::stored_name! {
    /// A task instance's (or attempt's) state; `None` is stored as NULL.
    pub enum TaskState ("task state") null = None {
        Success = "success",
        Failed = "failed",
        Running = "running",
        Queued = "queued",
        Scheduled = "scheduled",
        UpForRetry = "up_for_retry",
        /// A sensor whose condition was not met yet: it holds no slot until its next
        /// check (`next_try_at`), in the same try (Airflow's name).
        UpForReschedule = "up_for_reschedule",
        UpstreamFailed = "upstream_failed",
        Skipped = "skipped",
        /// The task is no longer in the DAG version the run was re-planned on (Airflow's
        /// `removed`): it will not run in this run.
        Removed = "removed",
        /// Not yet decided.
        None = "none",
    }
}

impl TaskState {
    /// The stored value: NULL for `None`.
    pub fn stored(self) -> Option<&'static str> {
        (self != TaskState::None).then(|| self.as_str())
    }

    /// Whether the task will not change state again in this run.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            TaskState::Success
                | TaskState::Failed
                | TaskState::UpstreamFailed
                | TaskState::Skipped
                | TaskState::Removed
        )
    }
}
