//! What the engine reports while a run executes, for progress bars and log lines.

use crate::store::{RunState, TaskState};

/// One step of a run.
#[derive(Debug, Clone)]
pub enum RunEvent {
    RunStarted {
        total: usize,
    },
    TaskStarted {
        task_id: String,
        try_number: u32,
    },
    /// A task finished an attempt (success, failed, up_for_retry, skipped).
    TaskFinished {
        task_id: String,
        try_number: u32,
        state: TaskState,
        seconds: f64,
        error: Option<String>,
    },
    /// A task was settled without running (skipped or upstream_failed by its trigger rule).
    TaskDecided {
        task_id: String,
        state: TaskState,
    },
    /// A mapped task became `count` instances (`task_id[0]`, `task_id[1]`, …).
    TaskExpanded {
        task_id: String,
        count: usize,
    },
    RunFinished {
        state: RunState,
    },
}
