//! The `delta_sql` task's write modes on real Delta tables, run with `updraft task test`:
//! overwrite and append, merge on keys, and overwriting one interval's partition.

use crate::support::{Backend, Updraft, query_delta, text};

fn dag(u: &Updraft) {
    let lake = u.dir.path().join("lake");
    let lake = lake.display();
    u.write_dag(
        "modes.yaml",
        &format!(
            r#"
dag_id: modes
schedule: "@daily"
start_date: 2026-01-01
tasks:
  overwrite:
    type: delta_sql
    with:
      query: "SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS v(id, name)"
      table: "{lake}/people"
      mode: overwrite
  append:
    type: delta_sql
    with:
      query: "SELECT 9 AS id, 'z' AS name"
      table: "{lake}/people"
      mode: append
  merge:
    type: delta_sql
    with:
      tables: {{ people: "{lake}/people" }}
      query: "SELECT * FROM (VALUES (2, 'B'), (3, 'c')) AS v(id, name)"
      table: "{lake}/people"
      mode: merge
      merge_on: [id]
  daily:
    type: delta_sql
    with:
      query: "SELECT DATE '{{{{ ds }}}}' AS day, '{{{{ run_id }}}}' AS made_by"
      table: "{lake}/daily"
      mode: overwrite_partitions
      partition_by: [day]
      replace_where: "day = DATE '{{{{ ds }}}}'"
"#
        ),
    );
}

fn task(u: &Updraft, task: &str, date: &str) {
    let out = u.run(&["task", "test", "modes", task, "--logical-date", date]);
    assert!(out.status.success(), "{task}: {:?}", text(&out));
}

async fn rows(u: &Updraft, table: &str, sql: &str) -> Vec<serde_json::Value> {
    query_delta(&[("t", &u.dir.path().join("lake").join(table))], sql).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overwrite_append_and_merge_on_keys() {
    let u = Updraft::new(Backend::Sqlite).await;
    dag(&u);
    task(&u, "overwrite", "2026-01-01");
    task(&u, "overwrite", "2026-01-01");
    let people = "SELECT id, name FROM t ORDER BY id";
    assert_eq!(
        rows(&u, "people", people).await,
        serde_json::json!([{"id": 1, "name": "a"}, {"id": 2, "name": "b"}])
            .as_array()
            .unwrap()
            .clone(),
        "overwriting twice leaves one copy"
    );
    task(&u, "append", "2026-01-01");
    task(&u, "append", "2026-01-01");
    assert_eq!(
        rows(&u, "people", "SELECT COUNT(*) AS n FROM t WHERE id = 9").await[0]["n"],
        2
    );
    task(&u, "merge", "2026-01-01");
    task(&u, "merge", "2026-01-01");
    let names: Vec<String> = rows(&u, "people", "SELECT name FROM t WHERE id < 9 ORDER BY id")
        .await
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        names,
        ["a", "B", "c"],
        "matched keys updated, new keys inserted, once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_where_overwrites_only_the_runs_partition() {
    let u = Updraft::new(Backend::Sqlite).await;
    dag(&u);
    task(&u, "daily", "2026-01-01");
    task(&u, "daily", "2026-01-02");
    task(&u, "daily", "2026-01-01");
    let got = rows(
        &u,
        "daily",
        "SELECT CAST(day AS VARCHAR) AS day, made_by FROM t ORDER BY day",
    )
    .await;
    assert_eq!(got.len(), 2, "one row per day: {got:?}");
    assert_eq!(got[0]["day"], "2026-01-01");
    assert_eq!(got[1]["day"], "2026-01-02");
}
