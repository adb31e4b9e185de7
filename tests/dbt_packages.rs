//! dbt packages: `tests/dbt_projects/packaged` with two `local:` packages written for the
//! tests (`tests/dbt_projects/packages`: dispatch with a project override and a package
//! of shims in the `dispatch:` search order, dbt's cross-database macros, `return`,
//! `call`, `run_query`, lists changed in place, generic tests of a package), installed by
//! `updraft dbt deps` and built by `dbt build` and by `updraft dbt build` into two
//! schemas: the same relations, rows and verdicts. And `updraft dbt deps` from a package
//! hub (a real HTTP server here, as `DBT_PACKAGE_HUB_URL` names it) and a git repository:
//! versions resolved, pinned by package-lock.yml, a missing package named.

use crate::dbt::{dbt_verdicts, our_verdicts, profiles, relations, run_dbt, updraft_dbt};
use crate::support::{Backend, Updraft, copy_tree, repo_path, text};
use sqlx::Connection;
use std::collections::BTreeMap;
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_with_packages_builds_as_dbt_builds_it() {
    let mut u = Updraft::new(Backend::Postgres).await;
    let url = u.database_url.clone();
    u.env.push(("UPDRAFT_CONN_WAREHOUSE".into(), url.clone()));
    let lake = u.dir.path().join("lake");
    u.env
        .push(("UPDRAFT_LAKE".into(), lake.display().to_string()));
    let root = u.dir.path().join("projects");
    copy_tree(
        &repo_path("tests/dbt_projects/packaged"),
        &root.join("packaged"),
    );
    copy_tree(
        &repo_path("tests/dbt_projects/packages"),
        &root.join("packages"),
    );
    let project = root.join("packaged");
    profiles(&project, &url, "theirs");

    // `deps` links the local packages (and shims' own) where dbt looks for them.
    let out = u.run(&["dbt", "deps", "--project", &project.to_string_lossy()]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("2 packages installed"), "{stdout}");
    for name in ["helpers", "shims"] {
        let link = project.join("dbt_packages").join(name);
        assert!(
            std::fs::symlink_metadata(&link).unwrap().is_symlink(),
            "{name}"
        );
    }

    run_dbt(&project, &["build"]);
    let ours = updraft_dbt(&u, &project, &["build"]);
    let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
    let theirs = relations(&mut db, "theirs").await;
    let mine = relations(&mut db, "ours").await;
    assert_eq!(
        theirs.keys().collect::<Vec<_>>(),
        mine.keys().collect::<Vec<_>>(),
        "the same relations"
    );
    for (name, (columns, rows)) in &theirs {
        let (my_columns, my_rows) = &mine[name];
        assert_eq!(columns, my_columns, "columns of {name}");
        assert_eq!(rows, my_rows, "rows of {name}");
    }
    // What the packages were for: shims' greeting (dispatch order), the project's own
    // unit label, helpers' star without the excluded columns, the spine's 9 days (dbt's
    // date_spine stops before its end), the kinds read from the warehouse.
    let keyed = &mine[".keyed_events"].1;
    assert!(
        keyed.contains("\"greeting\":\"hello from shims\""),
        "{keyed}"
    );
    assert!(keyed.contains("\"unit\":\"euros\""), "{keyed}");
    assert!(!keyed.contains("happened_at") && keyed.contains("\"user_name\""));
    assert!(mine[".event_calendar"].1.contains("\"spine_days\":9"));
    assert!(
        mine[".user_summary"]
            .1
            .contains("\"all_kinds\":\"buy,click,view\"")
    );

    // The project's on-run-start hooks made the table its on-run-end hook wrote to.
    assert_eq!(mine["_audit.runs"].1, "[{\"schemas\":1,\"factor\":2}]");
    // dbt's Column as a package reads it: types with precision, kinds.
    let described = &mine[".column_kinds"].1;
    assert!(
        described.contains("amount_numeric:numeric(28,6):numeric:numeric:True")
            && described.contains("section:text:text:string:False")
            && described.contains("id_bigint:bigint:bigint:integer:True"),
        "{described}"
    );
    let (theirs, mine) = (dbt_verdicts(&project, "packaged"), our_verdicts(&ours));
    assert_eq!(theirs, mine, "test verdicts\n{ours}");
    assert_eq!(theirs["helpers_at_least_rows_event_strings_7"], "WARN");
    assert_eq!(theirs["helpers_at_least_rows_event_strings_6"], "PASS");
    assert_eq!(theirs["helpers_is_positive_keyed_events_doubled"], "WARN");
    assert_eq!(
        theirs["helpers_is_positive_event_strings_path_length"],
        "PASS"
    );

    // The same project on the lake: the cross-database macros in DataFusion's SQL give
    // every table its PostgreSQL twin's rows and column types (but the warehouse's
    // audit table: the project's hooks make it only where there is a warehouse).
    let on_lake = crate::dbt::updraft_dbt_on(&u, &project, "lake", &["build"], false);
    let mut twins = crate::dbt_lake::pg_relations(&mut db, "ours").await;
    twins.remove("_audit.runs");
    let tables = crate::dbt_lake::lake_relations(&lake, "ours").await;
    crate::dbt_lake::assert_twins(&twins, &tables, &on_lake);
    assert_eq!(
        mine,
        our_verdicts(&on_lake),
        "verdicts on the lake\n{on_lake}"
    );
    u.cleanup().await;
}

/// A loopback HTTP server of static files (a package hub): path → body.
async fn file_server(files: std::sync::Arc<std::sync::Mutex<BTreeMap<String, Vec<u8>>>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let files = files.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !String::from_utf8_lossy(&buf).contains("\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let found = files.lock().unwrap().get(&path).cloned();
                let (status, body) = match found {
                    Some(body) => ("200 OK", body),
                    None => ("404 Not Found", b"not found".to_vec()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&body).await;
            });
        }
    });
    base
}

/// A package `name` whose macro `version()` gives `version`, as a `.tar.gz` with one top
/// folder (as GitHub serves a release).
fn tarball(dir: &Path, name: &str, version: &str) -> Vec<u8> {
    let top = dir.join(format!("{name}-{version}"));
    std::fs::create_dir_all(top.join("macros")).unwrap();
    std::fs::write(
        top.join("dbt_project.yml"),
        format!("name: {name}\nversion: '{version}'\nconfig-version: 2\n"),
    )
    .unwrap();
    std::fs::write(
        top.join("macros/version.sql"),
        format!("{{% macro version() %}}'{version}'{{% endmacro %}}\n"),
    )
    .unwrap();
    let archive = dir.join(format!("{name}-{version}.tar.gz"));
    let status = std::process::Command::new("tar")
        .args(["czf"])
        .arg(&archive)
        .arg("-C")
        .arg(dir)
        .arg(format!("{name}-{version}"))
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(archive).unwrap()
}

fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {:?}", text(&out));
}

/// The hub's document for `acme/tiny` listing `versions`.
fn hub_document(base: &str, versions: &[&str]) -> Vec<u8> {
    let entries: serde_json::Map<String, serde_json::Value> = versions
        .iter()
        .map(|v| {
            (
                v.to_string(),
                serde_json::json!({"name": "tiny", "version": v, "packages": [],
                    "downloads": {"tarball": format!("{base}/tarballs/tiny-{v}.tar.gz")}}),
            )
        })
        .collect();
    serde_json::to_vec(
        &serde_json::json!({"name": "tiny", "namespace": "acme", "versions": entries}),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deps_installs_hub_git_and_local_packages_and_pins_them() {
    let mut u = Updraft::new(Backend::Postgres).await;
    let url = u.database_url.clone();
    u.env.push(("UPDRAFT_CONN_WAREHOUSE".into(), url.clone()));
    let work = u.dir.path().to_path_buf();

    // The hub: versions 1.0.0, 1.2.0 and 2.0.0 of acme/tiny.
    let files = std::sync::Arc::new(std::sync::Mutex::new(BTreeMap::new()));
    let base = file_server(files.clone()).await;
    let built = work.join("built");
    std::fs::create_dir_all(&built).unwrap();
    for v in ["1.0.0", "1.2.0", "1.3.0", "2.0.0"] {
        let bytes = tarball(&built, "tiny", v);
        files
            .lock()
            .unwrap()
            .insert(format!("/tarballs/tiny-{v}.tar.gz"), bytes);
    }
    files.lock().unwrap().insert(
        "/api/v1/acme/tiny.json".into(),
        hub_document(&base, &["1.0.0", "1.2.0", "2.0.0"]),
    );
    // dbt asks for the hub's index too.
    files
        .lock()
        .unwrap()
        .insert("/api/v1/index.json".into(), b"[\"acme/tiny\"]".to_vec());
    u.env
        .push(("DBT_PACKAGE_HUB_URL".into(), format!("{base}/")));

    // A git repository whose tag v1 says 'v1' and whose head says 'head'.
    let repo = work.join("gitpkg");
    std::fs::create_dir_all(repo.join("macros")).unwrap();
    std::fs::write(
        repo.join("dbt_project.yml"),
        "name: gitpkg\nconfig-version: 2\n",
    )
    .unwrap();
    let which = |what: &str| {
        std::fs::write(
            repo.join("macros/which.sql"),
            format!("{{% macro which() %}}'{what}'{{% endmacro %}}\n"),
        )
        .unwrap();
    };
    which("v1");
    git(&repo, &["init", "--quiet"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "--quiet", "-m", "v1"]);
    git(&repo, &["tag", "v1"]);
    which("head");
    git(&repo, &["commit", "--quiet", "-am", "head"]);

    // A local package that asks for tiny too, and the project.
    let lib = work.join("lib");
    std::fs::create_dir_all(lib.join("macros")).unwrap();
    std::fs::write(
        lib.join("dbt_project.yml"),
        "name: lib\nconfig-version: 2\n",
    )
    .unwrap();
    std::fs::write(
        lib.join("packages.yml"),
        "packages:\n  - package: acme/tiny\n    version: \">=1.1.0\"\n",
    )
    .unwrap();
    std::fs::write(
        lib.join("macros/shout.sql"),
        "{% macro shout(x) %}upper({{ x }}){% endmacro %}\n",
    )
    .unwrap();
    let project = work.join("consumer");
    std::fs::create_dir_all(project.join("models")).unwrap();
    std::fs::write(
        project.join("dbt_project.yml"),
        "name: consumer\nconfig-version: 2\nprofile: consumer\nmodels:\n  consumer:\n    +materialized: table\n",
    )
    .unwrap();
    std::fs::write(
        project.join("packages.yml"),
        format!(
            "packages:\n  - package: acme/tiny\n    version: [\">=1.0.0\", \"<2.0.0\"]\n  - git: {}\n    revision: v1\n  - local: ../lib\n",
            repo.display()
        ),
    )
    .unwrap();
    std::fs::write(
        project.join("models/versions.sql"),
        "select {{ tiny.version() }} as tiny_version, {{ gitpkg.which() }} as git_revision, {{ lib.shout(\"'x'\") }} as shouted\n",
    )
    .unwrap();
    let project_arg = project.to_string_lossy().to_string();

    // Not installed yet: the build names what is missing and how to install it.
    let out = u.run(&[
        "dbt",
        "run",
        "--project",
        &project_arg,
        "--conn",
        "warehouse",
        "--schema",
        "c",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("not installed in dbt_packages/: acme/tiny, ")
            && stderr.contains("updraft dbt deps"),
        "{stderr}"
    );

    let out = u.run(&["dbt", "deps", "--project", &project_arg]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // The newest 1.x, which the local package accepts too.
    assert!(
        stdout.contains("Installed acme/tiny@1.2.0 as tiny"),
        "{stdout}"
    );
    assert!(stdout.contains("3 packages installed"), "{stdout}");
    let lock = std::fs::read_to_string(project.join("package-lock.yml")).unwrap();
    assert!(lock.contains("version: 1.2.0"), "{lock}");
    // `dbt deps` on a copy of the project, from the same hub and repository, installs
    // the same packages (the local one linked), the same versions.
    let twin = work.join("twin").join("consumer");
    std::fs::create_dir_all(twin.join("models")).unwrap();
    for file in ["dbt_project.yml", "packages.yml"] {
        std::fs::copy(project.join(file), twin.join(file)).unwrap();
    }
    let lib_twin = work.join("twin").join("lib");
    copy_tree(&lib, &lib_twin);
    crate::dbt::profiles(&twin, &url, "twin");
    let out = std::process::Command::new(crate::dbt::dbt())
        .args(["deps", "--profiles-dir", ".", "--project-dir", "."])
        .current_dir(&twin)
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        .env("DBT_PACKAGE_HUB_URL", format!("{base}/"))
        .output()
        .unwrap();
    assert!(out.status.success(), "dbt deps: {:?}", text(&out));
    for (package, file) in [
        ("tiny", "macros/version.sql"),
        ("gitpkg", "macros/which.sql"),
    ] {
        let theirs = std::fs::read_to_string(twin.join("dbt_packages").join(package).join(file));
        let ours = std::fs::read_to_string(project.join("dbt_packages").join(package).join(file));
        assert_eq!(theirs.unwrap(), ours.unwrap(), "{package}");
    }

    // A newer 1.x on the hub: the lock keeps 1.2.0.
    files.lock().unwrap().insert(
        "/api/v1/acme/tiny.json".into(),
        hub_document(&base, &["1.0.0", "1.2.0", "1.3.0", "2.0.0"]),
    );
    let out = u.run(&["dbt", "deps", "--project", &project_arg]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(
        text(&out).0.contains("Installed acme/tiny@1.2.0"),
        "{:?}",
        text(&out)
    );

    updraft_dbt_in(&u, &project, "c");
    let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
    let row: (String, String, String) =
        sqlx::query_as("SELECT tiny_version, git_revision, shouted FROM c.versions")
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert_eq!(row, ("1.2.0".into(), "v1".into(), "X".into()));

    // Without the lock, the hub's newest 1.x.
    std::fs::remove_file(project.join("package-lock.yml")).unwrap();
    let out = u.run(&["dbt", "deps", "--project", &project_arg]);
    assert!(
        text(&out).0.contains("Installed acme/tiny@1.3.0"),
        "{:?}",
        text(&out)
    );
    u.cleanup().await;
}

fn updraft_dbt_in(u: &Updraft, project: &Path, schema: &str) {
    let out = u.run(&[
        "dbt",
        "run",
        "--project",
        &project.to_string_lossy(),
        "--conn",
        "warehouse",
        "--schema",
        schema,
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
}
