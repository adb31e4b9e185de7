//! Alerts: what a DAG says to do when a task fails, is retried or succeeds, or a run
//! ends (`on_failure:`, `on_retry:`, `on_success:`), and how it is done without ever
//! holding a run back. Each action of an event becomes a `callback` row in the same
//! transaction as the state change that caused it (so a crash cannot lose it), and a
//! scheduler's dispatcher claims due rows (one scheduler per row), sends them in the
//! background with a timeout and up to three tries, and records what the receiver
//! answered. Deadlines (`deadline:`) and freshness rules (`freshness:`) are rows too,
//! fired by the same dispatcher.

mod action;
mod deadline;
mod dispatch;
mod email;
mod event;
mod freshness;
mod sample;
mod send;

pub use action::{Action, Callbacks, check_actions};
pub use deadline::{Deadline, DeadlineReference, DeadlineSpecs, DeadlineState};
pub use dispatch::{Dispatcher, dispatch_until};
pub use event::{AlertEvent, CallbackState, NewCallback, run_facts, task_facts};
pub use freshness::{Freshness, FreshnessSpec, FreshnessState};
pub use sample::{SampleResult, send_samples};
pub use send::Sent;
