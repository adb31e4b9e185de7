//! `updraft lake`: the Delta tables under the lake root, and SQL over them (DataFusion),
//! each table named `layer.table` (`gold.active_users_by_day`).

use super::output::print_rows;
use super::{Context, usage};
use clap::Subcommand;
use serde::Serialize;
use std::process::ExitCode;
use updraft_core::TaskError;
use updraft_tasks::{lake_tables, query_lake};

#[derive(Subcommand, Debug)]
pub enum LakeCommand {
    /// Every Delta table under the lake root, with its version and row count
    Tables,
    /// Run a SQL query over the lake's tables (e.g. `SELECT * FROM gold.active_users_by_day`)
    Query {
        /// The query
        sql: String,
    },
}

#[derive(Serialize)]
struct TableRow {
    table: String,
    version: i64,
    rows: Option<i64>,
    location: String,
    error: Option<String>,
}

pub async fn run(cmd: LakeCommand, ctx: &Context) -> anyhow::Result<ExitCode> {
    let root = &ctx.settings.lake;
    match cmd {
        LakeCommand::Tables => {
            let mut rows = Vec::new();
            for table in lake_tables(root).await.map_err(to_anyhow)? {
                let count = if table.error.is_some() {
                    None
                } else if table.version < 0 {
                    Some(0)
                } else {
                    let sql = format!("SELECT COUNT(*) AS n FROM {}", table.name);
                    let result = query_lake(root, &sql).await.map_err(to_anyhow)?;
                    result.rows.first().and_then(|r| r["n"].as_i64())
                };
                rows.push(TableRow {
                    table: table.name,
                    version: table.version,
                    rows: count,
                    location: table.location,
                    error: table.error,
                });
            }
            if rows.is_empty() {
                eprintln!("no Delta tables under {root}");
            }
            print_rows(
                ctx.format,
                &rows,
                &["table", "version", "rows", "location", "error"],
            )?;
            let broken = rows.iter().filter(|r| r.error.is_some()).count();
            if broken > 0 {
                eprintln!("{broken} table(s) cannot be read (see `error`)");
                return Ok(ExitCode::from(1));
            }
        }
        LakeCommand::Query { sql } => {
            let result = query_lake(root, &sql).await.map_err(to_anyhow)?;
            let columns: Vec<&str> = result.columns.iter().map(String::as_str).collect();
            print_rows(ctx.format, &result.rows, &columns)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn to_anyhow(e: TaskError) -> anyhow::Error {
    match e {
        TaskError::Config(m) => usage(m),
        other => anyhow::anyhow!(other),
    }
}
