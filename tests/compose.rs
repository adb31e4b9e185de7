//! docker-compose.yml checked against the code (no Docker engine runs here): every
//! mounted folder exists, the Updraft service sets only variables the binary reads, the
//! Dockerfile it builds exists, Grafana gets every variable its provisioning reads and
//! mounts the dashboards where the provider looks, and the ports are the documented ones
//! (`docs/operations.md`).

use crate::support::repo_path;
use regex::Regex;
use serde_yaml_ng::Value;
use std::collections::BTreeSet;

fn compose() -> Value {
    let text = std::fs::read_to_string(repo_path("docker-compose.yml")).expect("compose file");
    serde_yaml_ng::from_str(&text).expect("docker-compose.yml is YAML")
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    let s = &compose["services"][name];
    assert!(s.is_mapping(), "no service `{name}`");
    s
}

/// `(host path, container path)` of a service's bind mounts (named volumes left out).
fn binds(service: &Value) -> Vec<(String, String)> {
    service["volumes"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .filter(|v| v.starts_with("./"))
        .map(|v| {
            let mut parts = v.split(':');
            let host = parts.next().unwrap_or_default().to_string();
            let container = parts.next().expect("container path").to_string();
            (host, container)
        })
        .collect()
}

fn environment(service: &Value) -> BTreeSet<String> {
    service["environment"]
        .as_mapping()
        .expect("environment as a mapping")
        .keys()
        .filter_map(|k| k.as_str().map(str::to_string))
        .collect()
}

#[test]
fn every_mounted_path_exists_and_the_image_is_built_here() {
    let c = compose();
    for (name, s) in c["services"].as_mapping().expect("services") {
        for (host, _) in binds(s) {
            assert!(
                repo_path(&host).exists(),
                "{name:?} mounts {host}, which does not exist"
            );
        }
    }
    let updraft = service(&c, "updraft");
    assert_eq!(updraft["build"].as_str(), Some("."));
    let dockerfile = std::fs::read_to_string(repo_path("Dockerfile")).expect("Dockerfile");
    assert!(dockerfile.contains("cargo build --release -p updraft"));
    assert!(
        dockerfile.contains("COPY --from=build"),
        "a multi-stage build"
    );
    // The image builds the workspace: every member crate is copied in.
    let manifest: toml::Table = std::fs::read_to_string(repo_path("Cargo.toml"))
        .expect("Cargo.toml")
        .parse()
        .expect("Cargo.toml parses");
    let members = manifest["workspace"]["members"]
        .as_array()
        .expect("members");
    for member in members.iter().filter_map(|m| m.as_str()) {
        assert!(
            dockerfile.contains(&format!("COPY {member} {member}")),
            "the Dockerfile does not copy the workspace member `{member}`"
        );
    }
    // The DAG files read their SQL as ../sql/...: both folders side by side.
    let mounts = binds(updraft);
    let dags = mounts
        .iter()
        .find(|(h, _)| h == "./dags")
        .expect("dags mounted");
    let sql = mounts
        .iter()
        .find(|(h, _)| h == "./sql")
        .expect("sql mounted");
    let parent = |p: &str| p.rsplit_once('/').map(|(d, _)| d.to_string());
    assert_eq!(parent(&dags.1), parent(&sql.1));
    let env = &updraft["environment"];
    assert_eq!(env["UPDRAFT_DAGS_FOLDER"].as_str(), Some(dags.1.as_str()));
    for key in ["postgres", "kafka"] {
        assert_eq!(
            updraft["depends_on"][key]["condition"].as_str(),
            Some("service_healthy"),
            "updraft waits for {key}"
        );
        assert!(
            service(&c, key)["healthcheck"]["test"].is_sequence(),
            "{key} has a healthcheck"
        );
    }
}

#[test]
fn the_updraft_service_sets_only_variables_the_binary_reads() {
    let readme = std::fs::read_to_string(repo_path("docs/configuration.md")).expect("docs");
    let documented: BTreeSet<String> = Regex::new(r"`(UPDRAFT_[A-Z_]+?)(<NAME>)?`")
        .unwrap()
        .captures_iter(&readme)
        .map(|c| c[1].to_string())
        .collect();
    let sources = ["orchestrator/src", "core/src", "tasks/src", "dags"]
        .iter()
        .flat_map(|d| files(&repo_path(d)))
        .map(|p| std::fs::read_to_string(p).expect("source"))
        .collect::<Vec<_>>()
        .join("\n");
    for var in environment(service(&compose(), "updraft")) {
        let Some(name) = var.strip_prefix("UPDRAFT_") else {
            continue;
        };
        let read = if let Some(conn) = name.strip_prefix("CONN_") {
            assert!(!conn.is_empty());
            "UPDRAFT_CONN_".to_string()
        } else {
            var.clone()
        };
        assert!(
            documented.contains(&read),
            "{var} is not in docs/configuration.md"
        );
        assert!(
            sources.contains(&read),
            "{var} is read nowhere in the code or the DAGs"
        );
    }
}

fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn grafana_gets_its_provisioning_and_every_variable_it_reads() {
    let c = compose();
    let grafana = service(&c, "grafana");
    let image = grafana["image"].as_str().expect("image");
    assert!(image.starts_with("grafana/grafana:11."), "{image}");
    let mounts = binds(grafana);
    let mounted = |host: &str| {
        mounts
            .iter()
            .find(|(h, _)| h == host)
            .map(|(_, c)| c.clone())
            .unwrap_or_else(|| panic!("{host} is not mounted into grafana"))
    };
    assert_eq!(
        mounted("./grafana/provisioning"),
        "/etc/grafana/provisioning"
    );
    // The dashboard provider reads the folder the dashboards are mounted at.
    let providers =
        std::fs::read_to_string(repo_path("grafana/provisioning/dashboards/updraft.yaml"))
            .expect("provider");
    let providers: Value = serde_yaml_ng::from_str(&providers).expect("provider yaml");
    assert_eq!(
        providers["providers"][0]["options"]["path"].as_str(),
        Some(mounted("./grafana/dashboards").as_str())
    );
    let sources =
        std::fs::read_to_string(repo_path("grafana/provisioning/datasources/updraft.yaml"))
            .expect("datasources");
    let settings: String = sources
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let wanted: BTreeSet<String> = Regex::new(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")
        .unwrap()
        .captures_iter(&settings)
        .map(|c| c[1].to_string())
        .collect();
    assert!(!wanted.is_empty());
    let set = environment(grafana);
    let missing: Vec<&String> = wanted.difference(&set).collect();
    assert!(
        missing.is_empty(),
        "grafana's environment lacks {missing:?}"
    );
}

#[test]
fn published_ports_are_the_documented_ones() {
    let readme = std::fs::read_to_string(repo_path("docs/operations.md")).expect("docs");
    let c = compose();
    for (name, s) in c["services"].as_mapping().expect("services") {
        for port in s["ports"].as_sequence().into_iter().flatten() {
            let port = port.as_str().expect("ports as strings");
            let host = port.split(':').next().unwrap_or_default();
            let name = name.as_str().unwrap_or_default();
            let row = format!("| {name} | {host} |");
            assert!(
                readme.contains(&row),
                "docs/operations.md's compose table has no row `{row}` for {port}"
            );
        }
    }
}
