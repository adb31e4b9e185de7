//! Snapshots (dbt's type-2 history of a query's rows): `{% snapshot name %}` blocks of
//! `snapshot-paths`, built as dbt-postgres builds them — the first time, the query's rows
//! with `dbt_scd_id`, `dbt_updated_at`, `dbt_valid_from` and `dbt_valid_to`; afterwards a
//! changed row (`timestamp`: a newer `updated_at`; `check`: a checked column differs)
//! closes its current version and adds a new one, a new key adds a row; with
//! `hard_deletes: invalidate` a key gone from the query closes its current version, and
//! with `new_record` also gets a version marking it deleted (`dbt_is_deleted = 'True'`,
//! a column of its own) until it comes back.

use super::relation::{Relation, quote};
use super::settings::{HardDeletes, SnapshotStrategy};
use crate::TaskError;
use regex::Regex;
use std::path::Path;
use std::sync::LazyLock;

static BLOCK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?s)\{%-?\s*snapshot\s+([A-Za-z_][A-Za-z0-9_]*)\s*-?%\}(.*?)\{%-?\s*endsnapshot\s*-?%\}",
    )
    .unwrap_or_else(|e| unreachable!("a fixed pattern: {e}"))
});

/// The `{% snapshot %}` blocks of a file: (name, body). The body keeps its lines'
/// numbers (the lines before it are kept empty).
pub fn blocks(text: &str, path: &Path) -> Result<Vec<(String, String)>, TaskError> {
    let found: Vec<(String, String)> = BLOCK
        .captures_iter(text)
        .map(|c| {
            let start = c.get(2).map_or(0, |m| m.start());
            let before = "\n".repeat(text[..start].matches('\n').count());
            (c[1].to_string(), format!("{before}{}", &c[2]))
        })
        .collect();
    if found.is_empty() && !text.trim().is_empty() {
        return Err(TaskError::Config(format!(
            "{}: no `{{% snapshot name %}} ... {{% endsnapshot %}}` block",
            path.display()
        )));
    }
    Ok(found)
}

/// dbt's `snapshot_get_time()` on PostgreSQL (one value in the build's transaction).
const PG_NOW: &str = "now()::timestamp without time zone";

/// The SQL a snapshot is built with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    /// SQLite, with the build's time as a literal (SQLite's `now` may move between the
    /// statements of one build).
    Sqlite {
        now: String,
    },
    /// DataFusion on the lake: the build's time as a literal, and each build one query
    /// giving the snapshot's whole new contents ([`Snapshot::rebuilt`]). `timestamps`:
    /// the query's timestamp columns, hashed as PostgreSQL writes them.
    Lake {
        now: String,
        timestamps: Vec<String>,
    },
}

/// What a snapshot's build needs.
pub struct Snapshot<'a> {
    pub relation: &'a Relation,
    pub sql: &'a str,
    pub unique_key: &'a [String],
    pub strategy: &'a SnapshotStrategy,
    pub hard_deletes: HardDeletes,
    /// The query's columns, in order.
    pub columns: &'a [String],
    pub dialect: Dialect,
}

impl Snapshot<'_> {
    /// dbt's `snapshot_get_time()`.
    fn now(&self) -> String {
        match &self.dialect {
            Dialect::Postgres => PG_NOW.into(),
            Dialect::Sqlite { now } => format!("'{now}'"),
            Dialect::Lake { now, .. } => format!("cast('{now}' as timestamp)"),
        }
    }

    /// dbt's `snapshot_hash_arguments`: an md5 of the values joined by `|` (SQLite has no
    /// md5: the joined values themselves).
    fn hash(&self, values: &[String]) -> String {
        let parts: Vec<String> = values
            .iter()
            .map(|v| format!("coalesce({}, '')", self.text(v)))
            .collect();
        let joined = parts.join(" || '|' || ");
        match self.dialect {
            Dialect::Postgres | Dialect::Lake { .. } => format!("md5({joined})"),
            Dialect::Sqlite { .. } => format!("({joined})"),
        }
    }

    /// A value as text. DataFusion writes a timestamp with a `T` where PostgreSQL writes
    /// a space: on the lake a timestamp column is written PostgreSQL's way, so that
    /// `dbt_scd_id` is the same as in a warehouse.
    fn text(&self, value: &str) -> String {
        if let Dialect::Lake { timestamps, .. } = &self.dialect
            && timestamps.iter().any(|c| value.ends_with(&quote(c)))
        {
            return format!("to_char({value}, '%Y-%m-%d %H:%M:%S%.f')");
        }
        format!("cast({value} as varchar )")
    }

    /// `a is distinct from b`, null-safe.
    fn distinct(&self, a: &str, b: &str) -> String {
        match self.dialect {
            // In brackets: DataFusion binds `or` tighter than `is distinct from`.
            Dialect::Postgres | Dialect::Lake { .. } => format!("({a} is distinct from {b})"),
            Dialect::Sqlite { .. } => format!("({a} is not {b})"),
        }
    }

    /// The expression of a version's time (`updated_at`, or now for `check`), on `s`.
    fn updated_at(&self, s: &str) -> String {
        match self.strategy {
            SnapshotStrategy::Timestamp { updated_at } => format!("{s}{}", quote(updated_at)),
            SnapshotStrategy::Check { .. } => self.now(),
        }
    }

    /// The four columns dbt adds, from the query's row `s` (`s.` or nothing).
    fn meta_columns(&self, s: &str) -> String {
        let mut keys: Vec<String> = self
            .unique_key
            .iter()
            .map(|k| format!("{s}{}", quote(k)))
            .collect();
        let at = self.updated_at(s);
        keys.push(at.clone());
        format!(
            "{} as dbt_scd_id, {at} as dbt_updated_at, {at} as dbt_valid_from, nullif({at}, {at}) as dbt_valid_to",
            self.hash(&keys)
        )
    }

    fn same_key(&self) -> String {
        self.unique_key
            .iter()
            .map(|k| format!("t.{k} = s.{k}", k = quote(k)))
            .collect::<Vec<_>>()
            .join(" and ")
    }

    /// Whether the current version `t` is to be replaced by the query's row `s`: it
    /// differs, or (with `new_record`) it marks the key deleted.
    fn changed(&self) -> String {
        let differs = self.differs();
        match self.hard_deletes {
            HardDeletes::NewRecord => format!("({differs} or t.dbt_is_deleted = 'True')"),
            _ => differs,
        }
    }

    /// Whether the current version `t` differs from the query's row `s`.
    fn differs(&self) -> String {
        match self.strategy {
            SnapshotStrategy::Timestamp { updated_at } => {
                format!("t.dbt_valid_from < s.{}", quote(updated_at))
            }
            SnapshotStrategy::Check { columns } => {
                let all: Vec<String>;
                let checked = match columns {
                    Some(c) => c,
                    None => {
                        all = self.columns.to_vec();
                        &all
                    }
                };
                let diffs: Vec<String> = checked
                    .iter()
                    .map(|c| {
                        let c = quote(c);
                        self.distinct(&format!("t.{c}"), &format!("s.{c}"))
                    })
                    .collect();
                format!("({})", diffs.join(" or "))
            }
        }
    }

    /// The first build's rows: the query's, each a first version.
    pub fn first(&self) -> String {
        format!(
            "select *, {}{} from (\n{}\n) sbq",
            self.meta_columns(""),
            self.deleted_column("False"),
            self.sql
        )
    }

    /// The statements of the first build.
    pub fn create(&self) -> Vec<String> {
        let select = self.first();
        match self.dialect {
            Dialect::Postgres => vec![
                format!(
                    "CREATE SCHEMA IF NOT EXISTS {}",
                    quote(&self.relation.schema)
                ),
                format!("CREATE TABLE {} AS ({select})", self.relation.sql()),
            ],
            Dialect::Sqlite { .. } | Dialect::Lake { .. } => {
                vec![format!("CREATE TABLE {} AS {select}", self.relation.sql())]
            }
        }
    }

    /// `, 'False' as dbt_is_deleted` with `new_record` (dbt keeps the flag as text).
    fn deleted_column(&self, value: &str) -> String {
        match self.hard_deletes {
            HardDeletes::NewRecord => format!(", '{value}' as dbt_is_deleted"),
            _ => String::new(),
        }
    }

    /// The statements of a later build, in one transaction.
    pub fn update(&self) -> Vec<String> {
        let target = self.relation.sql();
        let src = quote(&format!("{}__dbt_snap_src", self.relation.identifier));
        let new = quote(&format!("{}__dbt_snap_new", self.relation.identifier));
        let (same, changed) = (self.same_key(), self.changed());
        let current = format!("select 1 from {target} t where t.dbt_valid_to is null and {same}");
        // A replaced version ends where the new one starts.
        let valid_to = self.updated_at("s.");
        let now = self.now();
        let query_columns: Vec<String> = self.columns.iter().map(|c| quote(c)).collect();
        let mut columns = query_columns.clone();
        columns.extend(
            [
                "dbt_scd_id",
                "dbt_updated_at",
                "dbt_valid_from",
                "dbt_valid_to",
            ]
            .map(String::from),
        );
        let new_record = self.hard_deletes == HardDeletes::NewRecord;
        if new_record {
            columns.push("dbt_is_deleted".into());
        }
        let list = columns.join(", ");
        // A current version whose key the query no longer has (and, with `new_record`,
        // that does not already mark the deletion).
        let gone = format!(
            "t.dbt_valid_to is null and not exists (select 1 from {src} s where {same}){}",
            if new_record {
                format!(" and {}", self.distinct("t.dbt_is_deleted", "'True'"))
            } else {
                String::new()
            }
        );
        let deleted = quote(&format!("{}__dbt_snap_deleted", self.relation.identifier));
        let mut out = vec![
            format!("DROP TABLE IF EXISTS {src}"),
            format!(
                "CREATE TEMPORARY TABLE {src} AS select * from (\n{}\n) sbq",
                self.sql
            ),
            format!("DROP TABLE IF EXISTS {new}"),
            format!(
                "CREATE TEMPORARY TABLE {new} AS select s.*, {}{} from {src} s \
                 where not exists ({current}) or exists ({current} and {changed})",
                self.meta_columns("s."),
                self.deleted_column("False")
            ),
            format!(
                "UPDATE {target} AS t SET dbt_valid_to = {valid_to} FROM {src} s \
                 WHERE t.dbt_valid_to is null and {same} and {changed}"
            ),
        ];
        if new_record {
            // The deletion's version: the last values, from now on, flagged.
            let copied: Vec<String> = query_columns.iter().map(|c| format!("t.{c}")).collect();
            out.push(format!("DROP TABLE IF EXISTS {deleted}"));
            out.push(format!(
                "CREATE TEMPORARY TABLE {deleted} AS select {}, {} as dbt_scd_id, \
                 {now} as dbt_updated_at, {now} as dbt_valid_from, t.dbt_valid_to, \
                 'True' as dbt_is_deleted from {target} t where {gone}",
                copied.join(", "),
                self.hash(&["t.dbt_scd_id".to_string(), now.clone()])
            ));
        }
        if self.hard_deletes != HardDeletes::Ignore {
            out.push(format!(
                "UPDATE {target} AS t SET dbt_valid_to = {now} WHERE {gone}"
            ));
        }
        if new_record {
            out.push(format!(
                "INSERT INTO {target} ({list}) SELECT {list} FROM {deleted}"
            ));
            out.push(format!("DROP TABLE {deleted}"));
        }
        out.push(format!(
            "INSERT INTO {target} ({list}) SELECT {list} FROM {new}"
        ));
        out.push(format!("DROP TABLE {new}"));
        out.push(format!("DROP TABLE {src}"));
        out
    }
}

impl Snapshot<'_> {
    /// A later build as one query giving the snapshot's whole new contents (a Delta
    /// table is replaced in one commit, not updated in place): every version kept, a
    /// current one ended where the query's row changed it (or the key went), then the
    /// deletions' versions (`new_record`) and the new versions — the rows
    /// [`Snapshot::update`]'s statements leave.
    pub fn rebuilt(&self) -> String {
        let target = self.relation.sql();
        let same = self.same_key();
        let changed = self.changed();
        let now = self.now();
        let new_record = self.hard_deletes == HardDeletes::NewRecord;
        let query_columns: Vec<String> = self.columns.iter().map(|c| quote(c)).collect();
        let kept: Vec<String> = query_columns.iter().map(|c| format!("t.{c}")).collect();
        let flag = if new_record { ", t.dbt_is_deleted" } else { "" };
        // The query's rows, marked so that a join tells a match from none.
        let src = format!(
            "(select *, 1 as dbt_snap_matched from (\n{}\n) sbq)",
            self.sql
        );
        let not_deleted = if new_record {
            format!(" and {}", self.distinct("t.dbt_is_deleted", "'True'"))
        } else {
            String::new()
        };
        let gone = format!("t.dbt_valid_to is null and s.dbt_snap_matched is null{not_deleted}");
        let ended_by_delete = if self.hard_deletes == HardDeletes::Ignore {
            String::new()
        } else {
            format!(" when {gone} then {now}")
        };
        let versions = format!(
            "select {}, t.dbt_scd_id, t.dbt_updated_at, t.dbt_valid_from, \
             case when s.dbt_snap_matched is not null and {changed} then {valid_to}{ended_by_delete} \
             else t.dbt_valid_to end as dbt_valid_to{flag} \
             from {target} t left join {src} s on t.dbt_valid_to is null and {same}",
            kept.join(", "),
            valid_to = self.updated_at("s."),
        );
        let mut parts = vec![versions];
        if new_record {
            parts.push(format!(
                "select {}, {} as dbt_scd_id, {now} as dbt_updated_at, {now} as dbt_valid_from, \
                 t.dbt_valid_to, 'True' as dbt_is_deleted \
                 from {target} t left join {src} s on t.dbt_valid_to is null and {same} where {gone}",
                kept.join(", "),
                self.hash(&["t.dbt_scd_id".to_string(), now.clone()])
            ));
        }
        let fresh: Vec<String> = query_columns.iter().map(|c| format!("s.{c}")).collect();
        parts.push(format!(
            "select {}, {}{} from {src} s \
             left join (select *, 1 as dbt_snap_current from {target} where dbt_valid_to is null) t \
             on {same} where t.dbt_snap_current is null or {changed}",
            fresh.join(", "),
            self.meta_columns("s."),
            self.deleted_column("False")
        ));
        parts.join("\nunion all\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_found_with_their_lines() {
        let text = "-- history\n{% snapshot orders_snapshot %}\n{{ config(unique_key='id') }}\nselect 1\n{% endsnapshot %}\n";
        let found = blocks(text, Path::new("s.sql")).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "orders_snapshot");
        assert_eq!(
            found[0].1.lines().nth(2),
            Some("{{ config(unique_key='id') }}")
        );
        assert!(blocks("select 1", Path::new("s.sql")).is_err());
    }
}
