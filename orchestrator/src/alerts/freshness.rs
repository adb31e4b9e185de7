//! `freshness:`: how old an asset may get before someone is told. Each entry is a row
//! of the history (synced when the DAG is read), and a scheduler's dispatcher marks it
//! stale once the asset has gone `max_age` without a write — recording its `on_stale`
//! messages in the same transaction, so each stale period alerts once whichever
//! scheduler sees it — and fresh again at the next write.

use super::Action;
use serde::Deserialize;
use std::time::Duration;

/// One freshness rule of a DAG.
#[derive(Debug, Clone, PartialEq)]
pub struct Freshness {
    /// The asset's URI.
    pub uri: String,
    pub max_age: Duration,
    pub on_stale: Vec<Action>,
}

/// One `freshness:` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreshnessSpec {
    /// A URI, or a lake table as tasks name it (`{{ lake }}/silver/tweets`).
    pub asset: String,
    pub max_age: crate::dag::spec::DurationSpec,
    #[serde(default)]
    pub on_stale: Vec<Action>,
}

updraft_core::stored_name! {
    /// Whether an asset was written within its `max_age`.
    pub enum FreshnessState ("freshness state") {
        Fresh = "fresh",
        /// Not written for longer than `max_age`: `on_stale` fired.
        Stale = "stale",
    }
}
