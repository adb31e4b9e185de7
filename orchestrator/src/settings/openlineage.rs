//! Where OpenLineage run events go (`UPDRAFT_OPENLINEAGE_URL` > `[openlineage] url`), with
//! the API key a backend such as Marquez may ask for, and the namespace jobs are named in.

use anyhow::{Context, Result};
use serde::Deserialize;

/// An OpenLineage backend.
#[derive(Debug, Clone)]
pub struct OpenLineageTarget {
    /// The backend's base URL; events are POSTed to `<url>/api/v1/lineage`.
    pub url: url::Url,
    /// Sent as `Authorization: Bearer`; never stored or printed.
    pub api_key: Option<String>,
    /// The namespace of Updraft's jobs (default `updraft`).
    pub namespace: String,
}

/// `[openlineage]` of `updraft.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OpenLineageSection {
    url: Option<String>,
    api_key: Option<String>,
    namespace: Option<String>,
}

/// The namespace when none is configured.
const DEFAULT_NAMESPACE: &str = "updraft";

impl OpenLineageTarget {
    /// The endpoint events are POSTed to.
    pub fn endpoint(&self) -> String {
        format!("{}/api/v1/lineage", self.url.as_str().trim_end_matches('/'))
    }
}

/// The target the environment or `section` gives (None: OpenLineage is off).
pub(super) fn resolve(section: OpenLineageSection) -> Result<Option<OpenLineageTarget>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let Some(text) = env("UPDRAFT_OPENLINEAGE_URL").or(section.url) else {
        return Ok(None);
    };
    let url = url::Url::parse(text.trim())
        .with_context(|| format!("OpenLineage URL `{}`", updraft_core::secrets::mask(&text)))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        anyhow::bail!("OpenLineage URL: use http://HOST[:PORT] or https://HOST[:PORT]");
    }
    let api_key = env("UPDRAFT_OPENLINEAGE_API_KEY").or(section.api_key);
    if let Some(key) = &api_key {
        updraft_core::secrets::register(key);
    }
    let namespace = env("UPDRAFT_OPENLINEAGE_NAMESPACE")
        .or(section.namespace)
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
    Ok(Some(OpenLineageTarget {
        url,
        api_key,
        namespace,
    }))
}
