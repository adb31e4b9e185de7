//! The error a task attempt ends with, and whether retrying it can help.

/// Why a task attempt did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// The configuration is wrong; retrying cannot help.
    #[error("invalid config: {0}")]
    Config(String),
    /// The work failed in a way a later attempt may not (a dropped connection, a non-zero exit).
    #[error("{0}")]
    Retryable(String),
    /// The work failed in a way a retry cannot fix (a 4xx answer, say).
    #[error("{0}")]
    Fatal(String),
    /// The attempt was stopped from outside (timeout or shutdown) before it finished.
    #[error("cancelled: {0}")]
    Cancelled(String),
}

impl TaskError {
    /// Whether another attempt could succeed where this one failed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, TaskError::Retryable(_))
    }
}
