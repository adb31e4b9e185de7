//! Deadline alerts (Airflow 3's model): a run that has not finished by a time measured
//! from one of its own times (`queued_at`, `logical_date`, `data_interval_end`) fires
//! `on_miss` while it is still going. Each deadline is a `deadline` row written with the
//! run; a dispatcher marks it missed (once: the update is the claim) and records the
//! messages in the same transaction, so neither a crash nor a second scheduler can lose
//! or double them.

use super::Action;
use serde::Deserialize;
use std::time::Duration;

updraft_core::stored_name! {
    /// The run time a deadline is measured from.
    pub enum DeadlineReference ("deadline reference") {
        /// When the run was created (queued).
        QueuedAt = "queued_at",
        LogicalDate = "logical_date",
        /// The end of the run's data interval (when a scheduled run became due).
        DataIntervalEnd = "data_interval_end",
    }
}

updraft_core::stored_name! {
    /// Where a deadline is.
    pub enum DeadlineState ("deadline state") {
        /// Not yet due, or due and about to be fired.
        Pending = "pending",
        /// The run ended in time.
        Met = "met",
        /// The run had not ended when it fell due: `on_miss` fired.
        Missed = "missed",
    }
}

/// A deadline of a DAG's runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Deadline {
    pub reference: DeadlineReference,
    pub interval: Duration,
    pub on_miss: Vec<Action>,
}

/// A `deadline:` as written: one, or a list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum DeadlineSpecs {
    One(DeadlineSpec),
    Many(Vec<DeadlineSpec>),
}

impl DeadlineSpecs {
    /// The deadlines in the order written.
    pub fn list(&self) -> Vec<&DeadlineSpec> {
        match self {
            DeadlineSpecs::One(one) => vec![one],
            DeadlineSpecs::Many(many) => many.iter().collect(),
        }
    }
}

/// One deadline as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadlineSpec {
    pub reference: String,
    pub interval: crate::dag::spec::DurationSpec,
    #[serde(default)]
    pub on_miss: Vec<Action>,
}
