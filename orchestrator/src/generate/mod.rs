//! `updraft generate tweets` and `books`: synthetic records into a landing folder or a Kafka topic,
//! with a progress bar, for demos, tests and benchmarks.

pub mod books;
pub mod kafka;
mod sink;
pub mod tweets;

pub use sink::{GenerateReport, generate};
