//! `updraft dbt deps`: installs what a project's `packages.yml` lists into its
//! `packages-install-path`, as `dbt deps` does — hub packages at the newest version every
//! requirer accepts (from dbt's package hub, or `DBT_PACKAGE_HUB_URL`), git packages at
//! their revision, tarballs, and `local:` packages linked — then each installed
//! package's own packages. A `package-lock.yml` pins hub versions and git revisions;
//! without one, the resolved versions are written to it.

use super::packages::{self, Source};
use super::project_file::ProjectFile;
use crate::TaskError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One installed package, as `deps` reports it.
#[derive(Debug, Clone)]
pub struct Installed {
    pub name: String,
    /// The source as listed.
    pub source: Source,
    /// The hub version or git commit installed (none for local packages).
    pub version: Option<String>,
}

const HUB: &str = "https://hub.getdbt.com/";

/// The largest package archive downloaded (dbt packages are a few MB at most).
const MAX_ARCHIVE: usize = 200_000_000;

fn fail(message: String) -> TaskError {
    TaskError::Config(message)
}

/// Installs the packages of the project at `root`; `progress` hears one line per package.
pub async fn install(
    root: &Path,
    mut progress: impl FnMut(&str),
) -> Result<Vec<Installed>, TaskError> {
    let project = ProjectFile::read(root)?;
    let target = root.join(&project.packages_install_path);
    std::fs::create_dir_all(&target)
        .map_err(|e| fail(format!("cannot create {}: {e}", target.display())))?;
    let locked = read_lock(root)?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| fail(format!("an HTTP client: {e}")))?;
    let mut installed: Vec<Installed> = Vec::new();
    let mut pending: Vec<(PathBuf, Source)> = packages::listed(root)?
        .into_iter()
        .map(|s| (root.to_path_buf(), s))
        .collect();
    pending.reverse();
    while let Some((from, source)) = pending.pop() {
        if let Some(done) = installed.iter().find(|i| same_package(&i.source, &source)) {
            check_also_accepts(done, &source)?;
            continue;
        }
        let (name, version) = match &source {
            Source::Local { path } => link_local(&from, path, &target)?,
            Source::Git {
                url,
                revision,
                subdirectory,
            } => {
                let pinned = locked.get(&source.shown()).cloned().or(revision.clone());
                clone_git(url, pinned.as_deref(), subdirectory.as_deref(), &target).await?
            }
            Source::Hub { package, versions } => {
                let hub = std::env::var("DBT_PACKAGE_HUB_URL").unwrap_or_else(|_| HUB.into());
                let pinned = locked.get(package).cloned();
                let (version, tarball) =
                    hub_version(&client, &hub, package, versions, pinned.as_deref()).await?;
                let name = download(&client, &tarball, &target).await?;
                (name, Some(version))
            }
            Source::Tarball { url, .. } => (download(&client, url, &target).await?, None),
        };
        if installed.iter().any(|i| i.name == name) {
            // The same package reached by another path (a local package listed twice).
            continue;
        }
        progress(&format!(
            "Installed {}{} as {}",
            source.shown(),
            version
                .as_deref()
                .map(|v| format!("@{v}"))
                .unwrap_or_default(),
            name
        ));
        let package_root = target.join(&name);
        for nested in packages::listed(&package_root)? {
            let base = match &source {
                Source::Local { path } => from.join(path),
                _ => package_root.clone(),
            };
            pending.insert(0, (base, nested));
        }
        installed.push(Installed {
            name,
            source,
            version,
        });
    }
    if !root.join("package-lock.yml").exists() && !installed.is_empty() {
        write_lock(root, &installed)?;
    }
    Ok(installed)
}

fn same_package(a: &Source, b: &Source) -> bool {
    match (a, b) {
        (Source::Hub { package: x, .. }, Source::Hub { package: y, .. }) => {
            x.eq_ignore_ascii_case(y)
        }
        (Source::Git { url: x, .. }, Source::Git { url: y, .. }) => {
            x.trim_end_matches(".git") == y.trim_end_matches(".git")
        }
        _ => a == b,
    }
}

/// A package asked for again (by another package): the version installed must suit it.
fn check_also_accepts(done: &Installed, asked: &Source) -> Result<(), TaskError> {
    let (Source::Hub { versions, package }, Some(version)) = (asked, &done.version) else {
        return Ok(());
    };
    let accepts = requirement(versions)?;
    let found = semver::Version::parse(version)
        .map_err(|e| fail(format!("{package}: version {version}: {e}")))?;
    if accepts.matches(&found) {
        return Ok(());
    }
    Err(fail(format!(
        "{package}: version {version} is installed, but a package asks for {}; \
         no version satisfies every requirement",
        versions.join(", ")
    )))
}

/// dbt's version constraints (`1.3.0`, `>=1.0.0`, `<2.0.0`) as one semver requirement.
fn requirement(versions: &[String]) -> Result<semver::VersionReq, TaskError> {
    if versions.is_empty() {
        return Ok(semver::VersionReq::STAR);
    }
    let parts: Vec<String> = versions
        .iter()
        .map(|v| {
            let v = v.trim();
            if v.starts_with(|c: char| c.is_ascii_digit()) {
                format!("={v}")
            } else {
                v.to_string()
            }
        })
        .collect();
    semver::VersionReq::parse(&parts.join(", ")).map_err(|e| {
        fail(format!(
            "the version constraints {}: {e}",
            versions.join(", ")
        ))
    })
}

/// The newest version of `package` on the hub that `versions` accept (or the locked one),
/// and its tarball's URL.
async fn hub_version(
    client: &reqwest::Client,
    hub: &str,
    package: &str,
    versions: &[String],
    pinned: Option<&str>,
) -> Result<(String, String), TaskError> {
    let url = format!("{}/api/v1/{package}.json", hub.trim_end_matches('/'));
    let response = client.get(&url).send().await.map_err(|e| {
        fail(format!(
            "cannot reach dbt's package hub at {url}: {e} (install {package} by hand into \
             dbt_packages/, or list it as `git:` or `local:`)"
        ))
    })?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Err(fail(format!(
            "{package} is not on dbt's package hub ({url})"
        )));
    }
    let doc: serde_json::Value = response
        .error_for_status()
        .map_err(|e| fail(format!("{url}: {e}")))?
        .json()
        .await
        .map_err(|e| fail(format!("{url}: {e}")))?;
    let accepts = match pinned {
        Some(v) => requirement(&[v.to_string()])?,
        None => requirement(versions)?,
    };
    let mut best: Option<(semver::Version, String)> = None;
    for (written, entry) in doc
        .get("versions")
        .and_then(serde_json::Value::as_object)
        .into_iter()
        .flatten()
    {
        let Ok(version) = semver::Version::parse(written) else {
            continue;
        };
        if !version.pre.is_empty() || !accepts.matches(&version) {
            continue;
        }
        let Some(tarball) = entry
            .pointer("/downloads/tarball")
            .and_then(serde_json::Value::as_str)
        else {
            continue;
        };
        if best.as_ref().is_none_or(|(b, _)| version > *b) {
            best = Some((version, tarball.to_string()));
        }
    }
    best.map(|(v, t)| (v.to_string(), t)).ok_or_else(|| {
        fail(format!(
            "no version of {package} on the hub satisfies {}",
            if versions.is_empty() {
                "(any)".to_string()
            } else {
                versions.join(", ")
            }
        ))
    })
}

/// Downloads a `.tar.gz` package and installs its one top folder under its project's
/// name; that name.
async fn download(client: &reqwest::Client, url: &str, target: &Path) -> Result<String, TaskError> {
    let mut response = client
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| fail(format!("cannot download {url}: {e}")))?;
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| fail(format!("cannot download {url}: {e}")))?
    {
        if bytes.len() + chunk.len() > MAX_ARCHIVE {
            return Err(fail(format!(
                "{url}: the archive is larger than {} MB; install it by hand",
                MAX_ARCHIVE / 1_000_000
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    let staging = tempdir_in(target)?;
    let unpacked = staging.clone();
    tokio::task::spawn_blocking(move || {
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
        // `unpack` keeps every entry inside the folder (it refuses `..` and absolute paths).
        archive.unpack(&unpacked)
    })
    .await
    .map_err(|e| fail(format!("unpacking {url}: {e}")))?
    .map_err(|e| fail(format!("unpacking {url}: {e}")))?;
    let top = single_folder(&staging).ok_or_else(|| {
        fail(format!(
            "{url}: the archive does not hold one package folder"
        ))
    })?;
    let result = place(&top, target);
    let _ = std::fs::remove_dir_all(&staging);
    result
}

/// Clones a git package (at `revision`, a branch, tag or commit), installs it (or its
/// `subdirectory`) under its project's name; that name and the commit.
async fn clone_git(
    url: &str,
    revision: Option<&str>,
    subdirectory: Option<&str>,
    target: &Path,
) -> Result<(String, Option<String>), TaskError> {
    // Neither may reach outside the checkout or read as one of git's options.
    if revision.is_some_and(|r| r.starts_with('-')) {
        return Err(fail(format!("{url}: `revision` cannot start with `-`")));
    }
    if let Some(sub) = subdirectory
        && (Path::new(sub).is_absolute()
            || Path::new(sub)
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir)))
    {
        return Err(fail(format!(
            "{url}: `subdirectory: {sub}` must be a folder inside the repository"
        )));
    }
    let staging = tempdir_in(target)?;
    let checkout = staging.join("repo");
    let git = |args: Vec<String>| {
        let url = url.to_string();
        async move {
            let out = tokio::process::Command::new("git")
                .args(&args)
                .env("GIT_TERMINAL_PROMPT", "0")
                .output()
                .await
                .map_err(|e| fail(format!("cannot run git for {url}: {e}")))?;
            if !out.status.success() {
                return Err(fail(format!(
                    "git {} for {url}: {}",
                    args.first().map(String::as_str).unwrap_or(""),
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        }
    };
    let dir = checkout.to_string_lossy().into_owned();
    let result = async {
        git(vec![
            "clone".into(),
            "--quiet".into(),
            "--".into(),
            url.into(),
            dir.clone(),
        ])
        .await?;
        if let Some(revision) = revision {
            git(vec![
                "-C".into(),
                dir.clone(),
                "checkout".into(),
                "--quiet".into(),
                revision.into(),
            ])
            .await?;
        }
        let commit = git(vec![
            "-C".into(),
            dir.clone(),
            "rev-parse".into(),
            "HEAD".into(),
        ])
        .await?;
        let top = match subdirectory {
            Some(sub) => checkout.join(sub),
            None => checkout.clone(),
        };
        let _ = std::fs::remove_dir_all(top.join(".git"));
        Ok::<_, TaskError>((place(&top, target)?, Some(commit)))
    }
    .await;
    let _ = std::fs::remove_dir_all(&staging);
    result
}

/// Links a `local:` package (relative to `from`) into `target`; its name.
fn link_local(
    from: &Path,
    path: &str,
    target: &Path,
) -> Result<(String, Option<String>), TaskError> {
    let dir = from
        .join(path)
        .canonicalize()
        .map_err(|e| fail(format!("the local package `{path}` is not there: {e}")))?;
    let name = ProjectFile::read(&dir)?.name;
    let link = target.join(&name);
    remove(&link)?;
    std::os::unix::fs::symlink(&dir, &link)
        .map_err(|e| fail(format!("cannot link {}: {e}", link.display())))?;
    Ok((name, None))
}

/// Moves the package folder `top` to `target/<its name>`, replacing what was there.
fn place(top: &Path, target: &Path) -> Result<String, TaskError> {
    let name = ProjectFile::read(top)?.name;
    let dest = target.join(&name);
    remove(&dest)?;
    std::fs::rename(top, &dest)
        .map_err(|e| fail(format!("cannot install {}: {e}", dest.display())))?;
    Ok(name)
}

fn remove(path: &Path) -> Result<(), TaskError> {
    match std::fs::symlink_metadata(path) {
        Err(_) => Ok(()),
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
    }
    .map_err(|e| fail(format!("cannot replace {}: {e}", path.display())))
}

fn tempdir_in(target: &Path) -> Result<PathBuf, TaskError> {
    let dir = target.join(format!(
        ".updraft-deps-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    std::fs::create_dir_all(&dir)
        .map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
    Ok(dir)
}

fn single_folder(dir: &Path) -> Option<PathBuf> {
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    match entries.as_slice() {
        [only] if only.is_dir() => Some(only.clone()),
        _ => None,
    }
}

/// `package-lock.yml`: the pinned version or revision of each hub package and git URL.
fn read_lock(root: &Path) -> Result<BTreeMap<String, String>, TaskError> {
    let file = root.join("package-lock.yml");
    let Ok(text) = std::fs::read_to_string(&file) else {
        return Ok(BTreeMap::new());
    };
    let doc: serde_json::Value =
        serde_yaml_ng::from_str(&text).map_err(|e| fail(format!("{}: {e}", file.display())))?;
    let mut out = BTreeMap::new();
    for entry in doc
        .get("packages")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
    {
        let text = |k: &str| entry.get(k).and_then(serde_json::Value::as_str);
        if let (Some(package), Some(version)) = (text("package"), text("version")) {
            out.insert(package.to_string(), version.to_string());
        }
        if let (Some(url), Some(revision)) = (text("git"), text("revision")) {
            out.insert(url.to_string(), revision.to_string());
        }
    }
    Ok(out)
}

fn write_lock(root: &Path, installed: &[Installed]) -> Result<(), TaskError> {
    let entries: Vec<serde_json::Value> = installed
        .iter()
        .map(|i| {
            let mut entry = match &i.source {
                Source::Hub { package, .. } => {
                    serde_json::json!({"package": package, "version": i.version})
                }
                Source::Git {
                    url, subdirectory, ..
                } => {
                    let mut e = serde_json::json!({"git": url, "revision": i.version});
                    if let Some(sub) = subdirectory {
                        e["subdirectory"] = serde_json::json!(sub);
                    }
                    e
                }
                Source::Local { path } => serde_json::json!({ "local": path }),
                Source::Tarball { url, .. } => serde_json::json!({ "tarball": url }),
            };
            entry["name"] = serde_json::json!(i.name);
            entry
        })
        .collect();
    let text = serde_yaml_ng::to_string(&serde_json::json!({ "packages": entries }))
        .map_err(|e| fail(format!("package-lock.yml: {e}")))?;
    let file = root.join("package-lock.yml");
    std::fs::write(&file, text).map_err(|e| fail(format!("cannot write {}: {e}", file.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dbt_version_constraints_become_one_requirement() {
        let req = requirement(&[">=1.1.0".into(), "<2.0.0".into()]).unwrap();
        assert!(req.matches(&semver::Version::new(1, 3, 0)));
        assert!(!req.matches(&semver::Version::new(2, 0, 0)));
        let exact = requirement(&["1.3.0".into()]).unwrap();
        assert!(exact.matches(&semver::Version::new(1, 3, 0)));
        assert!(!exact.matches(&semver::Version::new(1, 3, 1)));
    }
}
