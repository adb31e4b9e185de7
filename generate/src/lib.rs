//! Sample data for demos, tests and benchmarks, apart from the orchestrator: `updraft
//! generate tweets`, `sensors`, `user-events` and `books` (synthetic records into a
//! landing folder or a Kafka topic) and `updraft produce` (a file's rows into a topic).

pub mod books;
mod draw;
pub mod kafka;
pub mod produce;
pub mod sensors;
mod sink;
pub mod tweets;
pub mod user_events;

pub use sink::{GenerateReport, Progress, generate};

/// An endless, deterministic source of JSON records.
pub trait RecordSource: Send {
    /// The next record as (key, JSON text).
    fn next_record(&mut self) -> (String, String);
    /// What the records are, the start of landing file names (`tweets-….jsonl`).
    fn name(&self) -> &'static str;
}
