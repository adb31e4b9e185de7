//! Updraft: an Airflow-style batch orchestrator. YAML DAGs, a run engine with retries and
//! timeouts, and a history store (SQLite or PostgreSQL) that records every attempt.

pub mod cli;
pub mod dag;
pub mod engine;
pub mod generate;
pub mod produce;
pub mod scheduler;
pub mod settings;
pub mod store;
pub mod template;
pub mod terminal;
