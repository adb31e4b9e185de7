//! The states of runs and task instances, as stored (Airflow's names).

use std::fmt;

/// A DagRun's state: `queued → running → success | failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Queued,
    Running,
    Success,
    Failed,
}

impl RunState {
    /// Every run state, in the order a run goes through them.
    pub const ALL: [RunState; 4] = [
        RunState::Queued,
        RunState::Running,
        RunState::Success,
        RunState::Failed,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Success => "success",
            RunState::Failed => "failed",
        }
    }

    /// Reads a stored (or typed) name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// What created a DagRun.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunType {
    /// `dag trigger` (or, later, the API).
    Manual,
    /// The scheduler, for a due interval.
    Scheduled,
    /// `dag backfill`.
    Backfill,
}

impl RunType {
    /// The stored name (Airflow's).
    pub fn as_str(self) -> &'static str {
        match self {
            RunType::Manual => "manual",
            RunType::Scheduled => "scheduled",
            RunType::Backfill => "backfill",
        }
    }
}

/// A task instance's (or attempt's) state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskState {
    /// Not yet decided (stored as NULL).
    None,
    Scheduled,
    Queued,
    Running,
    Success,
    Failed,
    UpForRetry,
    UpstreamFailed,
    Skipped,
    /// The task is no longer in the DAG version the run was re-planned on (Airflow's
    /// `removed`): it will not run in this run.
    Removed,
}

impl TaskState {
    /// Every task state, in the order the UI's legend shows them.
    pub const ALL: [TaskState; 10] = [
        TaskState::Success,
        TaskState::Failed,
        TaskState::Running,
        TaskState::Queued,
        TaskState::Scheduled,
        TaskState::UpForRetry,
        TaskState::UpstreamFailed,
        TaskState::Skipped,
        TaskState::Removed,
        TaskState::None,
    ];

    /// The stored name (`none` is stored as NULL).
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::None => "none",
            TaskState::Scheduled => "scheduled",
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Success => "success",
            TaskState::Failed => "failed",
            TaskState::UpForRetry => "up_for_retry",
            TaskState::UpstreamFailed => "upstream_failed",
            TaskState::Skipped => "skipped",
            TaskState::Removed => "removed",
        }
    }

    /// Reads a stored state (NULL is `None`).
    pub fn parse(stored: Option<&str>) -> Self {
        match stored {
            Some("scheduled") => TaskState::Scheduled,
            Some("queued") => TaskState::Queued,
            Some("running") => TaskState::Running,
            Some("success") => TaskState::Success,
            Some("failed") => TaskState::Failed,
            Some("up_for_retry") => TaskState::UpForRetry,
            Some("upstream_failed") => TaskState::UpstreamFailed,
            Some("skipped") => TaskState::Skipped,
            Some("removed") => TaskState::Removed,
            _ => TaskState::None,
        }
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

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
