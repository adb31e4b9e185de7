//! Outputs: what a task hands on to later tasks — a shell command's `$UPDRAFT_OUTPUT`
//! lines (JSON when they parse, GitHub Actions' multi-line form) and every task's metrics —
//! reach the templates of tasks downstream through the history (read again by another
//! process), secrets masked, a retried task's successful try's; `task outputs` shows them;
//! more than 64 KiB fails the attempt; reading a task that is not upstream is an error at
//! load, with its file, line and column.

use crate::support::{Updraft, WebServer, text};
use serde_json::{Value, json};

on_both_backends!(
    outputs_reach_later_tasks_through_the_history,
    queries_and_responses_are_outputs
);

/// A task instance as `task states -o json` shows it.
fn instance(u: &Updraft, dag_id: &str, run_id: &str, task_id: &str) -> Value {
    let out = u.run(&["task", "states", dag_id, run_id, "-o", "json"]);
    let states: Value = serde_json::from_slice(&out.stdout).expect("json");
    states
        .as_array()
        .and_then(|a| a.iter().find(|t| t["task_id"] == task_id))
        .cloned()
        .unwrap_or_else(|| panic!("no {task_id} in {states}"))
}

const DAG: &str = r#"dag_id: passing
tasks:
  list_files:
    type: shell
    with:
      command: |
        echo "count=2" >> "$UPDRAFT_OUTPUT"
        echo 'files=["a.json", "b.json"]' >> "$UPDRAFT_OUTPUT"
        printf 'report<<EOF\nline 1\nline 2\nEOF\n' >> "$UPDRAFT_OUTPUT"
        echo "token=$PASSING_API_TOKEN" >> "$UPDRAFT_OUTPUT"
  flaky:
    type: shell
    retries: 1
    retry_delay: 0s
    with:
      command: |
        if [ -f "{{ dag_folder }}/tried" ]; then echo "try=second" >> "$UPDRAFT_OUTPUT"
        else touch "{{ dag_folder }}/tried"; echo "try=first" >> "$UPDRAFT_OUTPUT"; exit 1; fi
  use:
    type: shell
    depends_on: [list_files, flaky]
    when: "{{ outputs.list_files.count > 1 }}"
    with:
      command: >-
        echo "{{ outputs.list_files.files | join(',') }} {{ outputs['flaky'].try }}
        {{ outputs.list_files.exit_code }}" > "{{ dag_folder }}/used.txt"
  too_much:
    type: shell
    with:
      command: head -c 70000 /dev/zero | tr '\0' 'x' | sed 's/^/blob=/' >> "$UPDRAFT_OUTPUT"
"#;

async fn outputs_reach_later_tasks_through_the_history(u: &Updraft) {
    u.write_dag("passing.yaml", DAG);
    let secret = "s3cr3t-value-0123456789";
    let out = u
        .command(&["dag", "trigger", "passing", "--run-id", "r1"])
        .env("PASSING_API_TOKEN", secret)
        .output()
        .expect("run");
    // too_much fails the run; the others succeed.
    assert!(!out.status.success(), "{:?}", text(&out));
    let used = u.dags().join("used.txt");
    let line = std::fs::read_to_string(&used).expect("use ran");
    assert_eq!(
        line.split_whitespace().collect::<Vec<_>>(),
        ["a.json,b.json", "second", "0"],
        "{line}"
    );

    let outputs = |task: &str| -> Value {
        let out = u.run(&["task", "outputs", "passing", "r1", task, "-o", "json"]);
        assert!(out.status.success(), "{:?}", text(&out));
        serde_json::from_slice(&out.stdout).expect("json")
    };
    let listed = outputs("list_files");
    assert_eq!(listed["count"], 2);
    assert_eq!(listed["files"], json!(["a.json", "b.json"]));
    assert_eq!(listed["report"], "line 1\nline 2");
    assert_eq!(listed["exit_code"], 0, "metrics are outputs too: {listed}");
    assert_ne!(listed["token"], secret, "a secret is masked in the history");
    assert!(!listed.to_string().contains(secret), "{listed}");
    assert_eq!(outputs("flaky")["try"], "second");
    // The task instance's page shows them.
    let server = WebServer::start(u, "webserver", &[]);
    let (status, page) = server
        .client(None)
        .get_as("/dags/passing/runs/r1/tasks/list_files", "text/html")
        .await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Outputs") && page.contains("b.json"),
        "{page}"
    );
    assert!(!page.contains(secret), "{page}");
    drop(server);

    // The 64 KiB limit fails the attempt with a message that says what to do instead.
    let too_much = instance(u, "passing", "r1", "too_much");
    assert_eq!(too_much["state"], "failed", "{too_much}");
    let error = too_much["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("64 KiB") && error.contains("lake or a table"),
        "{error}"
    );

    // Another process renders `use` again from what the history holds.
    std::fs::remove_file(&used).expect("rm");
    let out = u.run(&["task", "clear", "passing", "r1", "--task", "^use$"]);
    assert!(used.exists(), "{:?}", text(&out));
    let line = std::fs::read_to_string(&used).expect("use ran again");
    assert!(line.starts_with("a.json,b.json second"), "{line}");

    // An unrecorded run is given the outputs it reads.
    let out = u.run(&[
        "task",
        "render",
        "passing",
        "use",
        "--outputs",
        r#"{"list_files": {"files": ["x"], "exit_code": 0}, "flaky": {"try": "t"}}"#,
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(text(&out).0.contains("x t"), "{:?}", text(&out));
}

const QUERIED: &str = r#"dag_id: queried
params: {base: "http://127.0.0.1:9"}
tasks:
  seed:
    type: sql
    with:
      conn: wh
      sql:
        - "CREATE TABLE IF NOT EXISTS t (day TEXT, n INTEGER)"
        - "DELETE FROM t"
        - "INSERT INTO t VALUES ('a', 1), ('b', 2)"
  count:
    type: sql
    depends_on: [seed]
    with: {conn: wh, sql: "SELECT COUNT(*) AS n, MAX(day) AS last FROM t", output: first_row}
  list:
    type: sql
    depends_on: [seed]
    with: {conn: wh, sql: "SELECT day, n FROM t ORDER BY day;", output: rows}
  too_many:
    type: sql
    with:
      conn: wh
      output: rows
      sql: "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1001) SELECT x FROM c"
  health:
    type: http
    with: {url: "{{ params.base }}/api/v2/monitor/health", output: json}
  report:
    type: shell
    depends_on: [count, list, health]
    when: "{{ outputs.count.n > 1 }}"
    with:
      command: >-
        echo "{{ outputs.count.n }} {{ outputs.count.last }}
        {{ outputs.list.rows | map(attribute='day') | join('+') }}
        {{ outputs.list.rows[1].n }} {{ outputs.health.status }}
        {{ outputs.health.json.metadatabase.status }}" > "{{ dag_folder }}/report.txt"
"#;

/// `sql` with `output: first_row` and `rows`, `http` with `output: json`.
async fn queries_and_responses_are_outputs(u: &Updraft) {
    u.write_dag("queried.yaml", QUERIED);
    let warehouse = if u.on_postgres() {
        u.database_url.clone()
    } else {
        format!("sqlite://{}", u.dir.path().join("wh.db").display())
    };
    let server = WebServer::start(u, "webserver", &[]);
    let conf = json!({"base": server.base}).to_string();
    let out = u
        .command(&[
            "dag", "trigger", "queried", "--run-id", "q", "--conf", &conf,
        ])
        .env("UPDRAFT_CONN_WH", &warehouse)
        .output()
        .expect("run");
    assert!(!out.status.success(), "too_many fails: {:?}", text(&out));
    let report = std::fs::read_to_string(u.dags().join("report.txt")).expect("report ran");
    assert_eq!(
        report.split_whitespace().collect::<Vec<_>>(),
        ["2", "b", "a+b", "2", "200", "healthy"],
        "{report}"
    );
    let too_many = instance(u, "queried", "q", "too_many");
    assert_eq!(too_many["state"], "failed", "{too_many}");
    let error = too_many["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("at most 1000 rows") && error.contains("LIMIT"),
        "{error}"
    );
    drop(server);
}

#[test]
fn reading_a_task_that_is_not_upstream_is_an_error_at_load() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        r#"dag_id: bad
tasks:
  a: {type: noop}
  b:
    type: shell
    with: {command: "echo {{ outputs.c.n }}"}
  c:
    type: shell
    depends_on: [b]
    with:
      command: "echo {{ outputs.a.n }} {{ outputs.b.n }} {{ outputs.nope.n }}"
"#,
    )
    .expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_updraft"))
        .args(["dag", "validate"])
        .arg(&file)
        .output()
        .expect("validate");
    assert!(!out.status.success(), "{:?}", text(&out));
    let (_, err) = text(&out);
    assert!(
        err.contains("bad.yaml:6:")
            && err.contains("reads the outputs of `c`, which is not upstream"),
        "{err}"
    );
    assert!(
        err.contains("bad.yaml:11:")
            && err.contains("reads the outputs of `a`, which is not upstream"),
        "{err}"
    );
    assert!(
        err.contains("`nope`, which is not a task of this DAG"),
        "{err}"
    );
    assert!(!err.contains("outputs of `b`"), "b is upstream of c: {err}");
}
