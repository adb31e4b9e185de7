//! The CLI as a user meets it: validation errors with file:line:col and exit 2, the
//! shipped examples, listings as JSON, logs, render and test, and secrets kept out of output.

use crate::support::{Backend, Updraft, only_run, repo_path, text};

on_both_backends!(
    shipped_example_runs_and_is_listed,
    task_logs_render_and_test,
    passwords_never_reach_output,
    queue_only_records_a_queued_run,
);

/// Each broken file must give `file:line:col: message` and exit 2, never a panic.
#[tokio::test]
async fn broken_dag_files_point_at_the_problem() {
    let u = Updraft::new(Backend::Sqlite).await;
    let cases = [
        (
            "cycle.yaml",
            "dag_id: c\ntasks:\n  a: {type: noop, depends_on: [b]}\n  b: {type: noop, depends_on: [a]}\n",
            ":3:19:",
            "dependency cycle: a -> b -> a",
        ),
        (
            "unknown_key.yaml",
            "dag_id: k\ntasks:\n  a:\n    type: noop\n    retrys: 3\n",
            ":5:5:",
            "unknown field `retrys`",
        ),
        (
            "missing_dep.yaml",
            "dag_id: m\ntasks:\n  a:\n    type: noop\n    depends_on: [nope]\n",
            ":5:18:",
            "depends on `nope`, which is not a task",
        ),
        (
            "bad_cron.yaml",
            "dag_id: b\nschedule: \"0 0 32 * *\"\nstart_date: 2026-01-01\ntasks:\n  a: {type: noop}\n",
            ":2:11:",
            "bad cron",
        ),
        (
            "bad_interval.yaml",
            "dag_id: bi\nschedule: 0s\nstart_date: 2026-01-01\ntasks:\n  a: {type: noop}\n",
            ":2:11:",
            "bad interval `0s`: it must be a whole number of seconds, more than zero",
        ),
        (
            "when_template.yaml",
            "dag_id: wt\ntasks:\n  a:\n    type: noop\n    when: \"{{ params.x | shout }}\"\n",
            ":5:11:",
            "template error",
        ),
        (
            "bad_yaml.yaml",
            "dag_id: y\ntasks:\n  a:\n    type: \"noop\n",
            ":5:1:",
            "quoted scalar",
        ),
        (
            "bad_tz.yaml",
            "dag_id: z\ntimezone: Moon/Base\ntasks:\n  a: {type: noop}\n",
            ":2:11:",
            "unknown timezone",
        ),
        (
            "bad_duration.yaml",
            "dag_id: d\ndefault_args: {retry_delay: soon}\ntasks:\n  a: {type: noop}\n",
            ":2:29:",
            "bad duration",
        ),
        (
            "bad_type.yaml",
            "dag_id: t\ntasks:\n  a: {type: spark}\n",
            ":3:",
            "unknown task type `spark`",
        ),
        (
            "bad_config.yaml",
            "dag_id: s\ntasks:\n  a:\n    type: shell\n    with: {cmd: ls}\n",
            ":5:",
            "unknown field `cmd`",
        ),
        (
            "template_syntax.yaml",
            "dag_id: ts\ntasks:\n  a:\n    type: shell\n    with:\n      command: \"echo {{ ds \"\n",
            ":6:16:",
            "template error: syntax error",
        ),
        (
            "template_filter.yaml",
            "dag_id: tf\ntasks:\n  a:\n    type: shell\n    with:\n      command: \"echo {{ ds | shout }}\"\n",
            ":6:16:",
            "unknown filter",
        ),
        (
            "bad_number.yaml",
            "dag_id: n\nmax_active_runs: many\ntasks:\n  a: {type: noop}\n",
            ":2:18:",
            "expected a whole number",
        ),
        (
            "negative.yaml",
            "dag_id: n\ntasks:\n  a: {type: noop, retries: -1}\n",
            ":3:",
            "expected a whole number of at least 0",
        ),
        (
            "duration_list.yaml",
            "dag_id: dl\ntasks:\n  a: {type: noop, retry_delay: [1]}\n",
            ":3:",
            "expected a duration such as 30s",
        ),
        (
            "sql_number.yaml",
            "dag_id: sn\ntasks:\n  a: {type: sql, with: {conn: w, sql: 5}}\n",
            ":3:",
            "expected a SQL statement or a list of them",
        ),
        (
            "a_list.yaml",
            "- dag_id: l\n",
            ":1:1:",
            "expected a mapping of keys to values",
        ),
    ];
    for (file, yaml, at, message) in cases {
        let path = u.write_dag(file, yaml);
        let out = u.run(&["dag", "validate", path.to_str().unwrap()]);
        let (_, err) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{file}: {err}");
        let expected_prefix = format!("{}{at}", path.display());
        assert!(
            err.contains(&expected_prefix),
            "{file}: expected `{expected_prefix}` in {err}"
        );
        assert!(
            err.contains(message),
            "{file}: expected `{message}` in {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        for rust in [
            "u32", "u64", "i64", "struct ", "DagSpec", "u128", "Error {", "Some(",
        ] {
            assert!(!err.contains(rust), "{file}: a Rust type in {err}");
        }
        std::fs::remove_file(path).unwrap();
    }
    // A byte-order mark is not part of the YAML, and merge keys are applied.
    let bom = u.write_dag(
        "bom.yaml",
        "\u{feff}dag_id: bom\ntasks:\n  a: {type: noop}\n",
    );
    let out = u.run(&["dag", "validate", bom.to_str().unwrap()]);
    assert!(out.status.success(), "{:?}", text(&out));
    u.write_dag(
        "merged.yaml",
        "dag_id: merged\ntasks:\n  a: &base\n    type: noop\n    retries: 2\n  b:\n    <<: *base\n    depends_on: [a]\n",
    );
    let out = u.run(&["dag", "show", "merged", "-o", "json"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["tasks"][1]["task_id"], "b");
    assert_eq!(shown["tasks"][1]["retries"], 2, "{shown}");
    // Triggering a broken DAG is refused the same way.
    u.write_dag("cycle.yaml", cases[0].1);
    let out = u.run(&["dag", "trigger", "c"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("dependency cycle"));
}

#[tokio::test]
async fn usage_errors_exit_2() {
    let u = Updraft::new(Backend::Sqlite).await;
    u.write_dag("n.yaml", "dag_id: n\ntasks:\n  a: {type: noop}\n");
    for args in [
        vec!["dag", "trigger", "n", "--conf", "{not json"],
        vec!["dag", "trigger", "n", "--conf", "[1]"],
        vec!["dag", "trigger", "missing_dag"],
        vec!["dag", "trigger", "n", "--logical-date", "yesterday"],
        vec!["dag", "frobnicate"],
    ] {
        let out = u.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {:?}", text(&out));
    }
    // A run id names a folder of the log tree: one that climbs out is refused, and
    // nothing is written anywhere.
    for bad in ["../../../../../../escaped", "..", "a/b", &"r".repeat(251)] {
        let out = u.run(&["dag", "trigger", "n", "--run-id", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {:?}", text(&out));
        assert!(text(&out).1.contains("--run-id"), "{:?}", text(&out));
    }
    assert!(!u.dir.path().join("escaped").exists());
    assert!(
        !u.home().join("logs").exists(),
        "a refused run wrote no log"
    );
    let out = u.run(&["dag", "trigger", "n", "--run-id", "same"]);
    assert!(out.status.success());
    let out = u.run(&["dag", "trigger", "n", "--run-id", "same"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("already has a run"),
        "{:?}",
        text(&out)
    );
}

async fn shipped_example_runs_and_is_listed(u: &Updraft) {
    let dags = repo_path("dags");
    let dags = dags.to_str().unwrap();
    let out = u.run(&[
        "--dags-folder",
        dags,
        "dag",
        "trigger",
        "example_etl",
        "--logical-date",
        "2026-03-01",
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    let out = u.run(&[
        "--dags-folder",
        dags,
        "dag",
        "runs",
        "example_etl",
        "-o",
        "json",
    ]);
    assert!(out.status.success());
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let run = &runs.as_array().expect("array")[0];
    assert_eq!(run["state"], "success");
    assert_eq!(run["run_type"], "manual");
    assert_eq!(run["run_id"], "manual__2026-03-01T00:00:00+00:00");
    // A manual run of a cron DAG covers the last complete interval (as in Airflow).
    assert_eq!(run["data_interval_start"], "2026-02-27T02:00:00Z");
    assert_eq!(run["data_interval_end"], "2026-02-28T02:00:00Z");
    for column in [
        "dag_id",
        "logical_date",
        "conf",
        "queued_at",
        "started_at",
        "ended_at",
    ] {
        assert!(run.get(column).is_some(), "missing {column}");
    }
    let out = u.run(&["--dags-folder", dags, "dag", "list", "-o", "json"]);
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["dag_id"].as_str())
        .collect();
    assert!(
        ids.contains(&"example_etl") && ids.contains(&"example_retries"),
        "{ids:?}"
    );
    let out = u.run(&["--dags-folder", dags, "dag", "show", "example_etl", "--dot"]);
    assert!(text(&out).0.contains("\"test_daily_events\" -> \"report\""));
    // The warehouse row the example loaded is there, and re-running leaves the same data.
    let out = u.run(&[
        "--dags-folder",
        dags,
        "dag",
        "trigger",
        "example_etl",
        "--logical-date",
        "2026-03-01",
        "--run-id",
        "again",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "same logical date is refused: {:?}",
        text(&out)
    );
}

async fn task_logs_render_and_test(u: &Updraft) {
    u.write_dag(
        "hello.yaml",
        "dag_id: hello\nparams: {who: world}\ntasks:\n  greet:\n    type: shell\n    with: {command: \"echo hello {{ params.who }} on {{ ds }}\"}\n",
    );
    let out = u.run(&[
        "dag",
        "trigger",
        "hello",
        "--run-id",
        "r",
        "--logical-date",
        "2026-05-04",
        "--conf",
        r#"{"who": "ops"}"#,
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    let out = u.run(&["task", "logs", "hello", "r", "greet"]);
    assert!(
        text(&out).0.contains("hello ops on 2026-05-04"),
        "{:?}",
        text(&out)
    );
    assert!(
        u.home()
            .join("logs/dag_id=hello/run_id=r/task_id=greet/attempt=1.log")
            .exists()
    );
    let out = u.run(&[
        "task",
        "render",
        "hello",
        "greet",
        "--logical-date",
        "2026-01-02",
    ]);
    assert_eq!(
        text(&out).0.trim(),
        "command: echo hello world on 2026-01-02"
    );
    let out = u.run(&["task", "test", "hello", "greet"]);
    assert!(out.status.success());
    assert!(text(&out).0.contains("hello world on"));
    let store = u.store().await;
    assert_eq!(
        store.runs("hello", None, 10).await.unwrap().len(),
        1,
        "task test records nothing"
    );
    let out = u.run(&["task", "states", "hello", "r", "-o", "json"]);
    let states: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(states[0]["state"], "success");
    assert_eq!(states[0]["try_number"], 1);
}

async fn passwords_never_reach_output(u: &Updraft) {
    const PLANTED: [&str; 4] = [
        "Hunter2Secret",
        "QueryParamSecret",
        "EnvTokenSecret99",
        "UriInEnvSecret",
    ];
    let mut u2 = u.sibling();
    // Nothing listens on port 1: the connections fail and their errors must not echo the
    // secrets, whether in the URI's user info or in a query parameter.
    u2.env.push((
        "UPDRAFT_CONN_SECRETDB".into(),
        "postgres://app:Hunter2Secret@127.0.0.1:1/db".into(),
    ));
    u2.env.push((
        "UPDRAFT_CONN_PARAMDB".into(),
        "postgres://app@127.0.0.1:1/db?password=QueryParamSecret".into(),
    ));
    u2.env
        .push(("MY_API_TOKEN".into(), "EnvTokenSecret99".into()));
    u2.env.push((
        "WAREHOUSE_URI".into(),
        "postgres://etl:UriInEnvSecret@127.0.0.1:1/wh".into(),
    ));
    u2.write_dag(
        "s.yaml",
        r#"dag_id: s
tasks:
  q: {type: sql, with: {conn: secretdb, sql: select 1}}
  p: {type: sql, with: {conn: paramdb, sql: select 1}}
  echo:
    type: shell
    with:
      command: "echo token $MY_API_TOKEN uri {{ env.WAREHOUSE_URI }}; echo {{ env.MY_API_TOKEN }} >&2; exit 3"
"#,
    );
    let mut shown = Vec::new();
    let out = u2.run(&["dag", "trigger", "s", "--run-id", "r"]);
    assert_eq!(out.status.code(), Some(1));
    let (o, e) = text(&out);
    shown.extend([o, e]);
    let log = |task: &str| {
        std::fs::read_to_string(u2.home().join(format!(
            "logs/dag_id=s/run_id=r/task_id={task}/attempt=1.log"
        )))
        .unwrap()
    };
    assert!(log("q").contains("app:***@127.0.0.1:1"), "{}", log("q"));
    assert!(log("p").contains("password=***"), "{}", log("p"));
    let echoed = log("echo");
    assert!(
        echoed.contains("token *** uri postgres://etl:***@127.0.0.1:1/wh"),
        "{echoed}"
    );
    shown.extend(["q", "p", "echo"].map(log));
    for args in [
        vec!["task", "render", "s", "echo"],
        vec!["task", "test", "s", "echo"],
        vec!["task", "test", "s", "p"],
        vec!["task", "logs", "s", "r", "echo"],
        vec!["task", "states", "s", "r"],
    ] {
        let (o, e) = text(&u2.run(&args));
        assert!(!o.is_empty() || !e.is_empty(), "{args:?} printed nothing");
        shown.extend([o, e]);
    }
    let store = u.store().await;
    for t in store.tries("s", "r", None).await.unwrap() {
        shown.push(t.error.unwrap_or_default());
    }
    for text in &shown {
        for secret in PLANTED {
            assert!(!text.contains(secret), "{secret} shown in: {text}");
        }
    }
}

async fn queue_only_records_a_queued_run(u: &Updraft) {
    u.write_dag("q.yaml", "dag_id: q\ntasks:\n  a: {type: noop}\n");
    let out = u.run(&["dag", "trigger", "q", "--queue-only"]);
    assert!(out.status.success());
    let store = u.store().await;
    let run = only_run(&store, "q").await;
    assert_eq!(run.state, "queued");
    let out = u.run(&["dag", "runs", "q", "--state", "queued", "-o", "json"]);
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 1);
    let out = u.run(&["db", "check"]);
    assert!(out.status.success(), "{:?}", text(&out));
}

/// flag > environment > updraft.toml > default, for the database and connections.
#[tokio::test]
async fn configuration_precedence() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("toml_dags")).unwrap();
    std::fs::write(
        root.join("toml_dags/c.yaml"),
        "dag_id: c\ntasks:\n  q: {type: sql, with: {conn: mydb, sql: \"create table seen (x int)\"}}\n",
    )
    .unwrap();
    std::fs::write(
        root.join("updraft.toml"),
        "dags_folder = \"toml_dags\"\ndatabase_url = \"sqlite://from_toml.db\"\n[connections]\nmydb = \"sqlite://toml_conn.db\"\n",
    )
    .unwrap();
    let updraft = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_updraft"));
        cmd.args(args).current_dir(root);
        for key in [
            "UPDRAFT_HOME",
            "UPDRAFT_DAGS_FOLDER",
            "UPDRAFT_DATABASE_URL",
            "UPDRAFT_CONFIG",
            "UPDRAFT_CONN_MYDB",
        ] {
            cmd.env_remove(key);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let out = updraft(&["dag", "trigger", "c"], &[]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(root.join("from_toml.db").exists() && root.join("toml_conn.db").exists());
    assert!(!root.join(".updraft/updraft.db").exists());
    let out = updraft(
        &["dag", "trigger", "c"],
        &[
            ("UPDRAFT_DATABASE_URL", "sqlite://from_env.db"),
            ("UPDRAFT_CONN_MYDB", "sqlite://env_conn.db"),
        ],
    );
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(root.join("from_env.db").exists() && root.join("env_conn.db").exists());
    let out = updraft(
        &[
            "--database-url",
            "sqlite://from_flag.db",
            "dag",
            "runs",
            "c",
            "-o",
            "json",
        ],
        &[("UPDRAFT_DATABASE_URL", "sqlite://from_env.db")],
    );
    assert!(out.status.success());
    assert!(root.join("from_flag.db").exists());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "[]",
        "the flag's database is a new, empty one"
    );
    std::fs::write(root.join("updraft.toml"), "databse_url = \"x\"\n").unwrap();
    let out = updraft(&["dag", "list"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("unknown field `databse_url`"),
        "{:?}",
        text(&out)
    );
}
