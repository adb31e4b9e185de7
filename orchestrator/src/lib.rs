//! Updraft: an Airflow-style batch orchestrator. YAML DAGs, a run engine with retries and
//! timeouts, and a history store (SQLite or PostgreSQL) that records every attempt. It
//! knows task types only through `updraft_core::TaskType` and the registry of
//! `updraft_tasks`; sample data is `updraft_generate`'s.
//!
//! How a DAG file becomes a `task_try` row:
//!
//! 1. [`dag::load`] reads `dags/x.yaml` into a [`dag::Dag`]: the YAML as written
//!    (`dag/spec.rs`), checked with file:line:col errors, its schedule (`dag/schedule.rs`)
//!    and each task's `with:` block checked by its type in `updraft_tasks::TASK_TYPES`.
//! 2. A run is created — by the scheduler when an interval of the schedule
//!    (`dag/timetable.rs`) is due ([`scheduler::create_due_runs`]), or by `dag trigger`
//!    and `dag backfill` — as a `dag_run` row and one `task_instance` row per task
//!    ([`store::Store::create_run`]).
//!    Each time a DAG's definition or a file its tasks name changes, a new version of it
//!    is recorded ([`versions::record`]: `dag_version`).
//! 3. The [`engine::Engine`] works the run with the DAG version it started with (pinned
//!    in `dag_run.dag_version`, read back by [`versions::DagVersions`] on any host): it
//!    plans the run's instances on that version, decides which tasks are ready by their
//!    trigger rules ([`dag::trigger_rule`]), claims them (`task_instance` → `running`, a
//!    `task_try` row opened; [`store`]'s `claims`), and runs each attempt
//!    ([`engine::run_task`]): `when:` and the `with:` templates are rendered
//!    ([`template`]) and `updraft_tasks::run` calls the task type.
//! 4. The attempt's end (state, metrics, error) closes its `task_try` row and moves the
//!    `task_instance` on (success, up_for_retry, failed, skipped), and what the task
//!    reported (`updraft_core::Report`: test verdicts, model builds) is written to its
//!    tables in the same transaction (`store/reports.rs`); when every task has ended, the
//!    `dag_run` ends. A job's heartbeat ([`engine::job`]) keeps its attempts
//!    alive; [`engine::recovery`] fails those of a job that stopped beating.

pub mod alerts;
pub mod cli;
pub mod dag;
pub mod engine;
pub mod lineage;
pub mod openlineage;
pub mod remote_logs;
pub mod runs;
pub mod scheduler;
pub mod server;
pub mod settings;
pub mod store;
pub mod template;
pub mod terminal;
pub mod versions;
