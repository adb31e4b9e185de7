//! `updraft asset ...`: the tables attempts wrote and read (assets), recorded without a
//! declaration, with their versions, who produces and consumes them, the lineage they
//! form across DAGs, and events from outside.

use super::Context;
use super::output::{print_object, print_rows};
use crate::dag::asset_trigger::asset_uri;
use crate::lineage::Lineage;
use clap::Subcommand;
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum AssetCommand {
    /// Every asset: its URI, when it was last written and its version then, the tasks
    /// that write and read it, the DAGs scheduled on it, and whether it is fresh (when a
    /// DAG has a `freshness:` rule on it)
    List,
    /// An asset's events, newest first: who wrote or read it, which version, how many
    /// rows, and the runs each triggered
    Show {
        /// The asset's URI (`delta://lake/silver/tweets`, `warehouse://conn/schema.table`)
        uri: String,
        /// At most this many
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Upstream and downstream across DAGs: which tasks read and write which assets, and
    /// which DAGs their events trigger (of one asset, or of all)
    Lineage {
        /// Only what lies upstream and downstream of this asset
        uri: Option<String>,
    },
    /// Records that an asset was updated outside Updraft: the DAGs scheduled on it run
    Event {
        /// The asset's URI (or a lake table as tasks name it, `{{ lake }}/silver/tweets`)
        uri: String,
        /// What to say about it: a JSON object, kept with the event and given to the runs
        /// it triggers
        #[arg(long)]
        extra: Option<String>,
        /// A partition it touched (`column=value`), for DAGs scheduled per partition;
        /// repeat for several
        #[arg(long = "partition")]
        partitions: Vec<String>,
    },
}

pub async fn run(cmd: AssetCommand, ctx: &Context) -> anyhow::Result<ExitCode> {
    let store = ctx.store().await?;
    match cmd {
        AssetCommand::List => {
            let assets = store.assets().await?;
            let columns = [
                "uri",
                "last_written_at",
                "version",
                "writes",
                "reads",
                "producers",
                "consumers",
                "scheduled_dags",
                "freshness",
            ];
            print_rows(ctx.format, &assets, &columns)?;
        }
        AssetCommand::Show { uri, limit } => {
            let events = store.asset_events(&uri, limit).await?;
            if events.is_empty() {
                return Err(super::usage(format!(
                    "no events of `{uri}` (see `updraft asset list`)"
                )));
            }
            let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
            let triggered = store.runs_triggered_by(&ids).await?;
            let rows: Vec<serde_json::Value> = events
                .iter()
                .map(|e| {
                    let runs: Vec<String> = triggered
                        .iter()
                        .filter(|(id, _, _)| *id == e.id)
                        .map(|(_, dag_id, run_id)| format!("{dag_id} {run_id}"))
                        .collect();
                    let mut row = serde_json::to_value(e).unwrap_or_default();
                    row["triggered"] = serde_json::json!(runs);
                    row
                })
                .collect();
            let columns = [
                "id",
                "created_at",
                "access",
                "dag_id",
                "run_id",
                "task_id",
                "try_number",
                "version",
                "row_count",
                "partitions",
                "triggered",
            ];
            print_rows(ctx.format, &rows, &columns)?;
        }
        AssetCommand::Lineage { uri } => {
            let all = Lineage::from_edges(&store.lineage_edges().await?);
            let lineage = match &uri {
                None => all,
                Some(uri) => {
                    let uri = asset_uri(uri).map_err(super::usage)?;
                    all.around(&uri).ok_or_else(|| {
                        super::usage(format!(
                            "no task has written or read `{uri}`, and no DAG is scheduled on it (see `updraft asset list`)"
                        ))
                    })?
                }
            };
            if ctx.format == super::Format::Json {
                print_object(ctx.format, &lineage)?;
            } else if lineage.edges.is_empty() {
                say!("no lineage yet: no task has written or read a table");
            } else {
                for line in lineage.lines() {
                    say!("{line}");
                }
            }
        }
        AssetCommand::Event {
            uri,
            extra,
            partitions,
        } => {
            let uri = asset_uri(&uri).map_err(super::usage)?;
            let extra: serde_json::Value = match extra {
                None => serde_json::json!({}),
                Some(text) => serde_json::from_str(&text)
                    .map_err(|e| super::usage(format!("--extra is not JSON: {e}")))?,
            };
            if !extra.is_object() {
                return Err(super::usage("--extra must be a JSON object"));
            }
            if let Some(bad) = partitions.iter().find(|p| !p.contains('=')) {
                return Err(super::usage(format!(
                    "--partition `{bad}`: expected column=value"
                )));
            }
            let id = store
                .record_external_asset_event(&uri, &partitions, &extra)
                .await?;
            say!(
                "recorded event {id} of {uri}: the DAGs scheduled on it run at the scheduler's next look"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
