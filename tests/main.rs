//! Updraft's end-to-end tests, in one binary so that DataFusion and delta-rs are linked
//! once: each module drives the real `updraft` binary against real services (SQLite,
//! PostgreSQL, a Kafka-protocol broker, an S3-compatible server) and checks what a user
//! would — the history tables, the Delta tables, the warehouse, the output.

#[macro_use]
mod support;

mod airflow_client;
mod alerts;
mod api;
mod assets;
mod books;
mod cli;
mod compose;
mod connections;
mod crashes;
mod data_test;
mod dbt;
mod dbt_expand;
mod dbt_lake;
mod dbt_packages;
mod delta_sql;
mod docs;
mod engine;
mod errors;
mod first_row;
mod first_start;
mod grafana;
mod history;
mod hostile;
mod lakehouse;
mod land;
mod lineage;
mod logs;
mod mapping;
mod metrics;
mod outputs;
mod queues;
mod remote_logs;
mod s3;
mod scheduler;
mod sensors;
mod silver_checks;
mod spark;
mod sql_models;
mod tasks;
mod trigger_dag;
mod ui;
mod user_events;
mod versions;
mod waiting;
