//! Queues: which queues a scheduler claims tasks of (`--queues`, `UPDRAFT_QUEUES` >
//! `[queues] serve`; default `default`), how many running tasks a queue may have across
//! all schedulers (`[queues] max_active_tasks`), and how long a stopping scheduler lets
//! its running attempts finish (`--drain-timeout`, `UPDRAFT_DRAIN_TIMEOUT` >
//! `drain_timeout`; default 0: stop them at once, to be retried elsewhere).

use anyhow::{Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;

/// `[queues]` of `updraft.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct QueuesSection {
    #[serde(default)]
    serve: Vec<String>,
    #[serde(default)]
    max_active_tasks: BTreeMap<String, u32>,
}

/// The queues served and the limits, from the section (the flag and environment are
/// applied by the scheduler's command).
pub(super) fn resolve(section: QueuesSection) -> Result<(Vec<String>, BTreeMap<String, u32>)> {
    let serve = if section.serve.is_empty() {
        vec![crate::dag::DEFAULT_QUEUE.to_string()]
    } else {
        check_names(&section.serve).context("[queues] serve")?;
        section.serve
    };
    let names: Vec<String> = section.max_active_tasks.keys().cloned().collect();
    check_names(&names).context("[queues] max_active_tasks")?;
    if let Some((queue, _)) = section.max_active_tasks.iter().find(|(_, n)| **n == 0) {
        anyhow::bail!("[queues] max_active_tasks: `{queue}` = 0 would never run its tasks");
    }
    Ok((serve, section.max_active_tasks))
}

/// Each name is a valid queue name.
pub fn check_names(names: &[String]) -> Result<()> {
    for name in names {
        crate::dag::ids::check_id(crate::dag::ids::IdKind::Queue, name)
            .map_err(|e| anyhow::anyhow!(e))?;
    }
    Ok(())
}
