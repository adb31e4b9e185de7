//! The same dbt projects on the lake (`--conn lake`): `tests/dbt_projects/shop` built as
//! Delta tables under `<lake>/<schema>/<name>` by DataFusion, twice (the second time
//! after the seeds changed), each table equal to its PostgreSQL twin (built by
//! `updraft dbt build`, which tests/dbt.rs holds equal to `dbt build`) row for row and
//! type for type, with the same test verdicts; and the history project's snapshots
//! over three rounds of source changes keep the versions PostgreSQL keeps.

use crate::dbt::{our_verdicts, relation_names, updraft_dbt_on};
use crate::support::{Backend, Updraft, copy_tree, repo_path};
use sqlx::Connection;
use std::collections::BTreeMap;
use std::path::Path;

/// A value as text both sides write alike: numbers as numbers, the rest as written
/// (a PostgreSQL `timestamptz` in its UTC session, `...+00:00`, is the lake's instant:
/// `date_trunc` of a date is one there).
fn canonical(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) if s.ends_with("+00:00") && s.contains('T') => {
            s.trim_end_matches("+00:00").to_string()
        }
        serde_json::Value::Number(n) => n.as_f64().map_or(n.to_string(), |f| f.to_string()),
        serde_json::Value::String(s) => match s.parse::<f64>() {
            Ok(f) if s.chars().all(|c| c.is_ascii_digit() || ".-".contains(c)) => f.to_string(),
            _ => s.clone(),
        },
        other => other.to_string(),
    }
}

/// Rows as sorted lines of `column=value` pairs.
fn canonical_rows(rows: &[serde_json::Value], columns: &[String]) -> Vec<String> {
    let mut out: Vec<String> = rows
        .iter()
        .map(|row| {
            columns
                .iter()
                .map(|c| {
                    format!(
                        "{c}={}",
                        canonical(row.get(c).unwrap_or(&serde_json::Value::Null))
                    )
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    out.sort();
    out
}

/// A type's family, as both sides name it: DataFusion's integer literals are 64-bit
/// where PostgreSQL's are 32-bit, and its decimals carry their precision.
fn family(t: &str) -> &'static str {
    let t = t.to_ascii_lowercase();
    match t.as_str() {
        "integer" | "bigint" | "smallint" | "int32" | "int64" | "int16" => "integer",
        "double precision" | "float64" | "real" | "float32" => "float",
        "text" | "character varying" | "utf8" | "largeutf8" | "utf8view" => "text",
        "boolean" => "boolean",
        "date" | "date32" => "date",
        _ if t.starts_with("numeric") || t.starts_with("decimal") => "numeric",
        _ if t.starts_with("timestamp") => "timestamp",
        _ => "other",
    }
}

/// Every Delta table under `<lake>/<schema>` for the schemas starting with `prefix`:
/// (its columns' families, its rows).
pub(crate) async fn lake_relations(
    lake: &Path,
    prefix: &str,
) -> BTreeMap<String, (Vec<(String, String)>, Vec<String>)> {
    let mut out = BTreeMap::new();
    for schema in std::fs::read_dir(lake).unwrap().flatten() {
        let schema_name = schema.file_name().to_string_lossy().to_string();
        if schema_name != prefix && !schema_name.starts_with(&format!("{prefix}_")) {
            continue;
        }
        for table in std::fs::read_dir(schema.path()).unwrap().flatten() {
            if !table.path().join("_delta_log").is_dir() {
                continue;
            }
            let name = table.file_name().to_string_lossy().to_string();
            let location = table.path();
            let described = crate::support::query_delta(&[("t", &location)], "DESCRIBE t").await;
            let columns: Vec<(String, String)> = described
                .iter()
                .map(|c| {
                    let t = c["data_type"].as_str().unwrap_or_default();
                    let base = t.split('(').next().unwrap_or(t);
                    (
                        c["column_name"].as_str().unwrap().to_string(),
                        family(base).to_string(),
                    )
                })
                .collect();
            let names: Vec<String> = columns.iter().map(|(c, _)| c.clone()).collect();
            let rows = crate::support::query_delta(&[("t", &location)], "SELECT * FROM t").await;
            let key = format!("{}.{name}", &schema_name[prefix.len()..]);
            out.insert(key, (columns, canonical_rows(&rows, &names)));
        }
    }
    out
}

/// The PostgreSQL twins in the same shape.
pub(crate) async fn pg_relations(
    db: &mut sqlx::PgConnection,
    prefix: &str,
) -> BTreeMap<String, (Vec<(String, String)>, Vec<String>)> {
    let mut out = BTreeMap::new();
    for (schema, table) in relation_names(db, prefix).await {
        let key = format!("{}.{table}", &schema[prefix.len()..]);
        let columns: Vec<(String, String)> = sqlx::query_as(
            "SELECT column_name::text, data_type::text FROM information_schema.columns
             WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
        )
        .bind(&schema)
        .bind(&table)
        .fetch_all(&mut *db)
        .await
        .unwrap();
        let columns: Vec<(String, String)> = columns
            .into_iter()
            .map(|(c, t)| (c, family(&t).to_string()))
            .collect();
        let sql =
            format!("SELECT coalesce(json_agg(r), '[]')::text FROM \"{schema}\".\"{table}\" r");
        let rows: String = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut *db)
            .await
            .unwrap();
        let rows: Vec<serde_json::Value> = serde_json::from_str(&rows).unwrap();
        let names: Vec<String> = columns.iter().map(|(c, _)| c.clone()).collect();
        out.insert(key, (columns, canonical_rows(&rows, &names)));
    }
    out
}

/// The lake's tables and their PostgreSQL twins, as `pg_relations` and
/// `lake_relations` give them.
pub(crate) type Tables = BTreeMap<String, (Vec<(String, String)>, Vec<String>)>;

/// Asserts that every PostgreSQL twin has a lake table with its columns and rows.
pub(crate) fn assert_twins(twins: &Tables, tables: &Tables, what: &str) {
    assert_eq!(
        twins.keys().collect::<Vec<_>>(),
        tables.keys().collect::<Vec<_>>(),
        "{what}: the same relations"
    );
    for (name, (columns, rows)) in twins {
        let (lake_columns, lake_rows) = &tables[name];
        assert_eq!(columns, lake_columns, "{what}: columns of {name}");
        assert_eq!(rows, lake_rows, "{what}: rows of {name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_builds_on_the_lake_the_tables_it_builds_in_postgresql() {
    let mut u = Updraft::new(Backend::Postgres).await;
    let url = u.database_url.clone();
    u.env.push(("UPDRAFT_CONN_WAREHOUSE".into(), url.clone()));
    u.env.push(("SHOP_REGION".into(), "north".into()));
    let lake = u.dir.path().join("lake");
    u.env
        .push(("UPDRAFT_LAKE".into(), lake.display().to_string()));
    let project = u.dir.path().join("shop");
    copy_tree(&repo_path("tests/dbt_projects/shop"), &project);
    let mut db = sqlx::PgConnection::connect(&url).await.unwrap();

    for round in ["1", "2"] {
        if round == "2" {
            crate::dbt::change_shop_seeds(&project);
        }
        let vars = format!("{{round: {round}}}");
        let in_pg = updraft_dbt_on(&u, &project, "warehouse", &["build", "--vars", &vars], true);
        let on_lake = updraft_dbt_on(&u, &project, "lake", &["build", "--vars", &vars], true);
        let twins = pg_relations(&mut db, "ours").await;
        let tables = lake_relations(&lake, "ours").await;
        // Views are Delta tables on the lake; dispatch takes `postgres__label` there too
        // (the lake inherits PostgreSQL's forms).
        assert_twins(&twins, &tables, &format!("round {round}\n{on_lake}"));
        assert!(tables.contains_key("_raw.countries"), "{:?}", tables.keys());
        let (theirs, ours) = (our_verdicts(&in_pg), our_verdicts(&on_lake));
        assert_eq!(theirs, ours, "round {round}: test verdicts\n{on_lake}");
        assert!(theirs.len() >= 12, "{theirs:?}");
        assert_eq!(ours["append_expects_another_round"], "FAIL");
        assert!(
            on_lake.contains("OK created incremental model ours.orders_merge"),
            "{on_lake}"
        );
    }
    // A connection that is not there: the message says the lake is one choice.
    let out = u.run(&[
        "dbt",
        "build",
        "--project",
        &project.to_string_lossy(),
        "--conn",
        "lakehouse",
        "--schema",
        "ours",
    ]);
    let (_, said) = crate::support::text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("no connection named `lakehouse`") && said.contains("or `lake`"),
        "{said}"
    );
}

/// Writes `raw.accounts` of PostgreSQL as the Delta table at `location` (replacing it).
pub(crate) async fn write_accounts(location: &Path, db: &mut sqlx::PgConnection) {
    use deltalake::arrow::array::{
        Int32Array, RecordBatch, StringArray, TimestampMicrosecondArray,
    };
    use deltalake::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use std::sync::Arc;
    let rows: Vec<(i32, String, String, chrono::NaiveDateTime)> =
        sqlx::query_as("SELECT id, name, plan, updated_at FROM raw.accounts ORDER BY id")
            .fetch_all(db)
            .await
            .unwrap();
    let schema = Schema::new(vec![
        Field::new("id", DataType::Int32, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("plan", DataType::Utf8, true),
        Field::new(
            "updated_at",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            true,
        ),
    ]);
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.1.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.2.as_str()),
            )),
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                rows.iter().map(|r| r.3.and_utc().timestamp_micros()),
            )),
        ],
    )
    .unwrap();
    std::fs::create_dir_all(location).unwrap();
    let url = url::Url::from_directory_path(location).unwrap();
    let table = deltalake::DeltaTable::try_from_url(url).await.unwrap();
    table
        .write(vec![batch])
        .with_save_mode(deltalake::protocol::SaveMode::Overwrite)
        .await
        .unwrap();
}

/// A snapshot's versions on the lake as `id name plan current`, sorted.
pub(crate) async fn versions(location: &Path) -> Vec<String> {
    let rows = crate::support::query_delta(
        &[("t", location)],
        "SELECT id, name, plan, dbt_valid_to IS NULL AS current FROM t ORDER BY 1, 2, 3, 4",
    )
    .await;
    rows.iter()
        .map(|r| {
            format!(
                "{} {} {} {}",
                r["id"],
                r["name"].as_str().unwrap(),
                r["plan"].as_str().unwrap(),
                r["current"]
            )
        })
        .collect()
}
