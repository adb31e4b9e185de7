//! Airflow's own Python client (`apache-airflow-client` 3.3) against `updraft
//! standalone`: ordinary calls — health, DAGs, a trigger with a conf and a wait for the
//! run, its task instances, a clear as a dry run and for real, the viewer's 403, pause —
//! each answer validated by the client's own models (`tests/airflow_client/*.py`).

use crate::support::{Updraft, WebServer, text};

on_both_backends!(ordinary_calls_pass_the_clients_models);

async fn ordinary_calls_pass_the_clients_models(u: &Updraft) {
    let Ok(python) = std::env::var("AIRFLOW_CLIENT_PYTHON") else {
        panic!(
            "AIRFLOW_CLIENT_PYTHON is not set: scripts/ensure-airflow-client.sh installs it (scripts/test-all sources it)"
        );
    };
    u.write_dag(
        "flaky.yaml",
        "dag_id: flaky\ntags: [demo]\ntasks:\n  boom: {type: shell, with: {command: 'exit 3'}}\n  after: {type: noop, depends_on: [boom]}\n",
    );
    let (operator, viewer) = ("operator-token-0123456789", "viewer-token-0123456789");
    let tokens = format!("operator:{operator},viewer:{viewer}");
    let server = WebServer::start(u, "standalone", &[("UPDRAFT_API_TOKENS", &tokens)]);
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/airflow_client/ordinary_calls.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .args([&server.base, operator, viewer])
        .output()
        .expect("python");
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(server.stop().success());
}
