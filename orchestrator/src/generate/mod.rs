//! `updraft generate tweets`, `sensors`, `user-events` and `books`: synthetic records into a landing
//! folder or a Kafka topic, with a progress bar, for demos, tests and benchmarks.

pub mod books;
mod draw;
pub mod kafka;
pub mod sensors;
mod sink;
pub mod tweets;
pub mod user_events;

pub use sink::{GenerateReport, generate};

/// An endless, deterministic source of JSON records.
pub trait RecordSource: Send {
    /// The next record as (key, JSON text).
    fn next_record(&mut self) -> (String, String);
    /// What the records are, the start of landing file names (`tweets-….jsonl`).
    fn name(&self) -> &'static str;
}
