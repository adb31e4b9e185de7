//! The history store's migrations (`sql/migrations/{postgres,sqlite}`), embedded in the
//! binary. They are listed here rather than found by `sqlx::migrate!`, because sqlx's
//! macro crate compiles its database drivers — SQLite's C library and a TLS stack — a
//! second time, for the build host. A new migration is one line in each list; a unit
//! test fails when the lists and the folders differ.

use sqlx::SqlStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use std::borrow::Cow;
use std::sync::LazyLock;

/// `(file stem, SQL)` of each PostgreSQL migration, oldest first.
const POSTGRES: &[(&str, &str)] = &[
    (
        "0001_history",
        include_str!("../../../sql/migrations/postgres/0001_history.sql"),
    ),
    (
        "0002_scheduling",
        include_str!("../../../sql/migrations/postgres/0002_scheduling.sql"),
    ),
    (
        "0003_running_index",
        include_str!("../../../sql/migrations/postgres/0003_running_index.sql"),
    ),
    (
        "0004_test_result",
        include_str!("../../../sql/migrations/postgres/0004_test_result.sql"),
    ),
    (
        "0005_dashboards",
        include_str!("../../../sql/migrations/postgres/0005_dashboards.sql"),
    ),
    (
        "0006_model_run",
        include_str!("../../../sql/migrations/postgres/0006_model_run.sql"),
    ),
    (
        "0007_dag_version",
        include_str!("../../../sql/migrations/postgres/0007_dag_version.sql"),
    ),
    (
        "0008_attempt_process",
        include_str!("../../../sql/migrations/postgres/0008_attempt_process.sql"),
    ),
    (
        "0009_notes_and_updated_at",
        include_str!("../../../sql/migrations/postgres/0009_notes_and_updated_at.sql"),
    ),
    (
        "0010_alerts",
        include_str!("../../../sql/migrations/postgres/0010_alerts.sql"),
    ),
    (
        "0011_asset_event",
        include_str!("../../../sql/migrations/postgres/0011_asset_event.sql"),
    ),
    (
        "0012_asset_scheduling",
        include_str!("../../../sql/migrations/postgres/0012_asset_scheduling.sql"),
    ),
    (
        "0013_asset_triggered_runs",
        include_str!("../../../sql/migrations/postgres/0013_asset_triggered_runs.sql"),
    ),
    (
        "0014_queues_and_retention",
        include_str!("../../../sql/migrations/postgres/0014_queues_and_retention.sql"),
    ),
    (
        "0015_run_after_index",
        include_str!("../../../sql/migrations/postgres/0015_run_after_index.sql"),
    ),
    (
        "0016_tallies",
        include_str!("../../../sql/migrations/postgres/0016_tallies.sql"),
    ),
    (
        "0017_task_outputs",
        include_str!("../../../sql/migrations/postgres/0017_task_outputs.sql"),
    ),
    (
        "0018_triggered_by",
        include_str!("../../../sql/migrations/postgres/0018_triggered_by.sql"),
    ),
    (
        "0019_waiting_for",
        include_str!("../../../sql/migrations/postgres/0019_waiting_for.sql"),
    ),
    (
        "0020_map_index",
        include_str!("../../../sql/migrations/postgres/0020_map_index.sql"),
    ),
];

/// `(file stem, SQL)` of each SQLite migration, oldest first.
const SQLITE: &[(&str, &str)] = &[
    (
        "0001_history",
        include_str!("../../../sql/migrations/sqlite/0001_history.sql"),
    ),
    (
        "0002_scheduling",
        include_str!("../../../sql/migrations/sqlite/0002_scheduling.sql"),
    ),
    (
        "0003_running_index",
        include_str!("../../../sql/migrations/sqlite/0003_running_index.sql"),
    ),
    (
        "0004_test_result",
        include_str!("../../../sql/migrations/sqlite/0004_test_result.sql"),
    ),
    (
        "0005_dashboards",
        include_str!("../../../sql/migrations/sqlite/0005_dashboards.sql"),
    ),
    (
        "0006_model_run",
        include_str!("../../../sql/migrations/sqlite/0006_model_run.sql"),
    ),
    (
        "0007_dag_version",
        include_str!("../../../sql/migrations/sqlite/0007_dag_version.sql"),
    ),
    (
        "0008_attempt_process",
        include_str!("../../../sql/migrations/sqlite/0008_attempt_process.sql"),
    ),
    (
        "0009_notes_and_updated_at",
        include_str!("../../../sql/migrations/sqlite/0009_notes_and_updated_at.sql"),
    ),
    (
        "0010_alerts",
        include_str!("../../../sql/migrations/sqlite/0010_alerts.sql"),
    ),
    (
        "0011_asset_event",
        include_str!("../../../sql/migrations/sqlite/0011_asset_event.sql"),
    ),
    (
        "0012_asset_scheduling",
        include_str!("../../../sql/migrations/sqlite/0012_asset_scheduling.sql"),
    ),
    (
        "0013_asset_triggered_runs",
        include_str!("../../../sql/migrations/sqlite/0013_asset_triggered_runs.sql"),
    ),
    (
        "0014_queues_and_retention",
        include_str!("../../../sql/migrations/sqlite/0014_queues_and_retention.sql"),
    ),
    (
        "0015_run_after_index",
        include_str!("../../../sql/migrations/sqlite/0015_run_after_index.sql"),
    ),
    (
        "0016_tallies",
        include_str!("../../../sql/migrations/sqlite/0016_tallies.sql"),
    ),
    (
        "0017_task_outputs",
        include_str!("../../../sql/migrations/sqlite/0017_task_outputs.sql"),
    ),
    (
        "0018_triggered_by",
        include_str!("../../../sql/migrations/sqlite/0018_triggered_by.sql"),
    ),
    (
        "0019_waiting_for",
        include_str!("../../../sql/migrations/sqlite/0019_waiting_for.sql"),
    ),
    (
        "0020_map_index",
        include_str!("../../../sql/migrations/sqlite/0020_map_index.sql"),
    ),
];

/// The PostgreSQL migrations.
pub static PG_MIGRATIONS: LazyLock<Migrator> = LazyLock::new(|| migrator(POSTGRES));
/// The SQLite migrations.
pub static SQLITE_MIGRATIONS: LazyLock<Migrator> = LazyLock::new(|| migrator(SQLITE));

/// Versions, descriptions and checksums as `sqlx::migrate!` makes them from the file
/// names (`0002_scheduling.sql` is version 2, "scheduling"), so databases migrated by
/// earlier builds stay valid.
fn migrator(files: &'static [(&'static str, &'static str)]) -> Migrator {
    let migrations = files
        .iter()
        .map(|(stem, sql)| {
            let (version, description) = stem.split_once('_').unwrap_or((stem, ""));
            Migration::new(
                version.parse().unwrap_or(0),
                Cow::Owned(description.replace('_', " ")),
                MigrationType::Simple,
                SqlStr::from_static(sql),
                sql.starts_with("-- no-transaction"),
            )
        })
        .collect();
    Migrator::with_migrations(migrations)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// What a database records of each migration: a difference would make databases
    /// migrated by earlier builds (which read the folders) fail their checksum check.
    fn recorded(m: &Migration) -> (i64, String, Vec<u8>, bool, String) {
        let kind = format!("{:?}", m.migration_type);
        (
            m.version,
            m.description.to_string(),
            m.checksum.to_vec(),
            m.no_tx,
            kind,
        )
    }

    #[tokio::test]
    async fn embedded_migrations_are_the_folders_as_sqlx_reads_them() {
        for (folder, embedded) in [
            ("postgres", &*PG_MIGRATIONS),
            ("sqlite", &*SQLITE_MIGRATIONS),
        ] {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../sql/migrations")
                .join(folder);
            let read = Migrator::new(dir.as_path()).await.expect("read migrations");
            let read: Vec<_> = read.iter().map(recorded).collect();
            let embedded: Vec<_> = embedded.iter().map(recorded).collect();
            assert_eq!(embedded, read, "sql/migrations/{folder}");
        }
    }
}
