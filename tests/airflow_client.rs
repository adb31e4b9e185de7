//! Airflow's own Python client (`apache-airflow-client` 3.3) against `updraft
//! standalone`: ordinary calls — health, DAGs, a trigger with a conf and a wait for the
//! run, its task instances, a clear as a dry run and for real, the viewer's 403, pause —
//! each answer validated by the client's own models (`tests/airflow_client/*.py`); and
//! Airflow 3's token login for configured users.

use crate::support::{Updraft, WebServer, text};
use std::io::Write;
use std::process::Stdio;

on_both_backends!(ordinary_calls_pass_the_clients_models);

/// The Python of the test venv with Airflow's client.
fn client_python() -> String {
    std::env::var("AIRFLOW_CLIENT_PYTHON").unwrap_or_else(|_| {
        panic!(
            "AIRFLOW_CLIENT_PYTHON is not set: scripts/ensure-airflow-client.sh installs it (scripts/test-all sources it)"
        )
    })
}

/// `updraft users hash-password` of `password`.
fn hash_of(u: &Updraft, password: &str) -> String {
    let mut child = u
        .command(&["users", "hash-password"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("hash-password");
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "{password}").expect("password");
    drop(stdin);
    let out = child.wait_with_output().expect("hash");
    assert!(out.status.success(), "{:?}", text(&out));
    let hash = text(&out).0.trim().to_string();
    assert!(
        hash.starts_with("$argon2id$") && !hash.contains(password),
        "{hash}"
    );
    hash
}

/// As Airflow 3: `POST /auth/token` with a configured user's name and password answers
/// with a JWT that Airflow's client and `airflowctl` then send as their token; the user's
/// role holds (a viewer's token cannot pause); a wrong password, an unknown user, a forged
/// or tampered token get 401; the static tokens still work beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_log_in_for_a_token_as_in_airflow() {
    let python = client_python();
    let u = Updraft::new(crate::support::Backend::Sqlite).await;
    u.write_dag("d.yaml", "dag_id: d\ntasks:\n  a: {type: noop}\n");
    let config = u.dir.path().join("updraft.toml");
    std::fs::write(
        &config,
        format!(
            "[[api.users]]\nusername = \"ops\"\nrole = \"operator\"\npassword_hash = \"{}\"\n\n\
             [[api.users]]\nusername = \"ann\"\nrole = \"viewer\"\npassword_hash = \"{}\"\n",
            hash_of(&u, "ops password 1"),
            hash_of(&u, "ann password 2"),
        ),
    )
    .expect("config");
    let secret = "jwt-signing-secret-0123456789-abcdefghij";
    let config_path = config.display().to_string();
    let env = [
        ("UPDRAFT_CONFIG", config_path.as_str()),
        ("UPDRAFT_API_JWT_SECRET", secret),
        ("UPDRAFT_API_TOKENS", "viewer:static-viewer-token-012345"),
    ];
    let server = WebServer::start(&u, "standalone", &env);
    let anyone = server.client(None);
    let login = |user: &str, password: &str| {
        serde_json::json!({"username": user, "password": password}).to_string()
    };
    let (status, answer) = anyone
        .call(
            reqwest::Method::POST,
            "/auth/token",
            &login("ops", "ops password 1"),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    let ops_token = answer["access_token"]
        .as_str()
        .expect("a token")
        .to_string();
    for (user, password) in [("ops", "wrong"), ("nobody", "ops password 1")] {
        let (status, answer) = anyone
            .call(reqwest::Method::POST, "/auth/token", &login(user, password))
            .await;
        assert_eq!(status, 401, "{user}: {answer}");
        assert!(!answer.to_string().contains("ops password"), "{answer}");
    }
    let (_, answer) = anyone
        .call(
            reqwest::Method::POST,
            "/auth/token",
            &login("ann", "ann password 2"),
        )
        .await;
    let ann_token = answer["access_token"]
        .as_str()
        .expect("a token")
        .to_string();
    // The viewer's token with its role claim rewritten, and one signed with another secret.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = ann_token.split('.').collect();
    let claims = String::from_utf8(b64.decode(parts[1]).expect("base64")).expect("utf-8");
    assert!(claims.contains("\"role\":\"viewer\""), "{claims}");
    let promoted = b64.encode(claims.replace("\"viewer\"", "\"operator\""));
    let tampered = format!("{}.{promoted}.{}", parts[0], parts[2]);
    let forged = {
        let key = jsonwebtoken::EncodingKey::from_secret(b"another-secret-0123456789-abcdefghijkl")
            .expect("key");
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        jsonwebtoken::encode(
            &header,
            &serde_json::from_str::<serde_json::Value>(&claims).expect("claims"),
            &key,
        )
        .expect("forged")
    };
    for bad in [tampered.as_str(), forged.as_str(), "not.a.jwt"] {
        let (status, _) = server.client(Some(bad)).get("/api/v2/dags").await;
        assert_eq!(status, 401, "{bad}");
    }
    assert_eq!(
        server
            .client(Some("static-viewer-token-012345"))
            .get("/api/v2/dags")
            .await
            .0,
        200
    );
    airflowctl_triggers_and_pauses(&u, &server, &ops_token);
    let script = r#"
import sys
import airflow_client.client as client
from airflow_client.client.api.dag_api import DAGApi
from airflow_client.client.exceptions import ForbiddenException
from airflow_client.client.models.dag_patch_body import DAGPatchBody
base, ops, ann = sys.argv[1:4]
def api(token):
    return client.ApiClient(client.Configuration(host=base, access_token=token))
assert DAGApi(api(ann)).get_dags().dags[0].dag_id == "d"
try:
    DAGApi(api(ann)).patch_dag("d", DAGPatchBody(is_paused=True))
    raise AssertionError("a viewer paused a DAG")
except ForbiddenException:
    pass
assert DAGApi(api(ops)).patch_dag("d", DAGPatchBody(is_paused=True)).is_paused is True
print("ok")
"#;
    let out = std::process::Command::new(python)
        .args(["-c", script, &server.base, &ops_token, &ann_token])
        .output()
        .expect("python");
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(server.stop().success());
    u.cleanup().await;
}

async fn ordinary_calls_pass_the_clients_models(u: &Updraft) {
    let python = client_python();
    u.write_dag(
        "flaky.yaml",
        "dag_id: flaky\ndisplay_name: Flaky one\nowner: data-team\ntags: [demo]\ntasks:\n  boom: {type: shell, with: {command: 'exit 3'}}\n  after: {type: noop, depends_on: [boom]}\n",
    );
    let (operator, viewer) = ("operator-token-0123456789", "viewer-token-0123456789");
    let tokens = format!("operator:{operator},viewer:{viewer}");
    let server = WebServer::start(u, "standalone", &[("UPDRAFT_API_TOKENS", &tokens)]);
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/airflow_client/ordinary_calls.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .args([&server.base, operator, viewer])
        .arg(u.dags())
        .output()
        .expect("python");
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(server.stop().success());
}

/// `airflowctl`, logged in with a token from `/auth/token` (its username/password login
/// stores the token in a keyring, which a test machine has none of), lists DAGs, triggers
/// one, reads the run until it succeeds, lists the DAG's successful runs and pauses it.
fn airflowctl_triggers_and_pauses(u: &Updraft, server: &WebServer, token: &str) {
    let bin = std::env::var("AIRFLOWCTL_BIN").unwrap_or_else(|_| {
        panic!("AIRFLOWCTL_BIN is not set: scripts/ensure-airflow-client.sh installs airflowctl")
    });
    // airflowctl keeps the server's address under $HOME/airflow.
    let home = u.dir.path().join("airflowctl-home");
    std::fs::create_dir_all(&home).expect("home");
    let ctl = |args: &[&str]| {
        let out = std::process::Command::new(&bin)
            .args(args)
            .env("HOME", &home)
            .env("AIRFLOW_CLI_TOKEN", token)
            .output()
            .expect("airflowctl");
        assert!(
            out.status.success(),
            "airflowctl {args:?}: {:?}",
            text(&out)
        );
        let (stdout, _) = text(&out);
        // Its JSON output is one line after whatever it says first.
        let json = stdout
            .lines()
            .rev()
            .find(|l| l.starts_with('[') || l.starts_with('{'));
        serde_json::from_str::<serde_json::Value>(json.unwrap_or("null"))
            .unwrap_or_else(|e| panic!("airflowctl {args:?}: {e}: {stdout}"))
    };
    let login = std::process::Command::new(&bin)
        .args([
            "auth",
            "login",
            "--api-url",
            &server.base,
            "--api-token",
            token,
            "--skip-keyring",
        ])
        .env("HOME", &home)
        .output()
        .expect("airflowctl auth login");
    assert!(login.status.success(), "{:?}", text(&login));
    let dags = ctl(&["dags", "list", "-o", "json"]);
    assert_eq!(dags[0]["dag_id"], "d", "{dags}");
    let run = ctl(&[
        "dags",
        "trigger",
        "d",
        "--dag-run-id",
        "from_ctl",
        "-o",
        "json",
    ]);
    assert_eq!(run[0]["dag_run_id"], "from_ctl", "{run}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let run = ctl(&["dagrun", "get", "d", "from_ctl", "-o", "json"]);
        if run[0]["state"] == "success" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{run}");
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let listed = ctl(&[
        "dagrun", "list", "--dag-id", "d", "--state", "success", "-o", "json",
    ]);
    assert_eq!(
        listed[0]["dag_runs"][0]["dag_run_id"], "from_ctl",
        "{listed}"
    );
    let paused = ctl(&["dags", "pause", "d", "-o", "json"]);
    assert!(
        paused.to_string().contains("\"is_paused\":\"True\""),
        "{paused}"
    );
}
