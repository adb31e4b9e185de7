//! The history store's migrations (`sql/migrations/{postgres,sqlite}`), embedded in the
//! binary. They are listed here rather than found by `sqlx::migrate!`, because sqlx's
//! macro crate compiles its database drivers — SQLite's C library and a TLS stack — a
//! second time, for the build host. A new migration is one line in each list; a unit
//! test fails when a file in the folders is missing here.

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

    fn stems(folder: &str) -> Vec<String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../sql/migrations")
            .join(folder);
        let mut stems: Vec<String> = std::fs::read_dir(&dir)
            .expect("migrations folder")
            .map(|e| {
                let path = e.expect("entry").path();
                path.file_stem()
                    .expect("stem")
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        stems.sort();
        stems
    }

    #[test]
    fn every_migration_file_is_embedded_in_order() {
        for (folder, list) in [("postgres", POSTGRES), ("sqlite", SQLITE)] {
            let listed: Vec<String> = list.iter().map(|(s, _)| s.to_string()).collect();
            assert_eq!(listed, stems(folder), "sql/migrations/{folder}");
        }
        let versions: Vec<i64> = PG_MIGRATIONS.iter().map(|m| m.version).collect();
        assert_eq!(versions, [1, 2, 3]);
        assert_eq!(
            PG_MIGRATIONS.iter().nth(1).map(|m| &*m.description),
            Some("scheduling")
        );
    }
}
