//! `updraft conn ...`: the named connections (`UPDRAFT_CONN_<NAME>`, `[connections]`),
//! secrets masked, and whether one answers.

use super::Context;
use super::output::{print_object, print_rows};
use clap::Subcommand;
use serde::Serialize;
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum ConnCommand {
    /// List the named connections (passwords and tokens masked)
    List,
    /// Say whether a connection answers within 10 s and what it is (server version)
    Check {
        /// The connection's name (case-insensitive)
        name: String,
    },
}

#[derive(Serialize)]
struct Listed {
    name: String,
    uri: String,
}

#[derive(Serialize)]
struct Checked {
    name: String,
    uri: String,
    answers: bool,
    server: Option<String>,
    error: Option<String>,
    seconds: f64,
}

pub async fn run(cmd: ConnCommand, ctx: &Context) -> anyhow::Result<ExitCode> {
    let connections = &ctx.settings.connections;
    match cmd {
        ConnCommand::List => {
            let rows: Vec<Listed> = connections
                .iter()
                .map(|c| Listed {
                    name: c.name.clone(),
                    uri: c.to_string(),
                })
                .collect();
            print_rows(ctx.format, &rows, &["name", "uri"])?;
            Ok(ExitCode::SUCCESS)
        }
        ConnCommand::Check { name } => {
            let conn = connections
                .get(&name)
                .map_err(|e| super::usage(e.to_string()))?;
            let started = std::time::Instant::now();
            let answer = updraft_tasks::check_connection(conn).await;
            let checked = Checked {
                name: conn.name.clone(),
                uri: conn.to_string(),
                answers: answer.is_ok(),
                server: answer.as_ref().ok().cloned(),
                error: answer.as_ref().err().map(ToString::to_string),
                seconds: started.elapsed().as_secs_f64(),
            };
            print_object(ctx.format, &checked)?;
            Ok(if checked.answers {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
