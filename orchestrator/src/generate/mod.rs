//! `updraft generate tweets`: synthetic events into a landing folder or a Kafka topic,
//! with a progress bar, for demos, tests and benchmarks.

mod sink;
pub mod tweets;

pub use sink::{GenerateReport, generate};
