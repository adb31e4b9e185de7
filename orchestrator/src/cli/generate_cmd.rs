//! `updraft generate tweets ...`.

use super::output::print_object;
use super::{Context, usage};
use crate::generate::generate;
use crate::generate::tweets::{GeneratorOptions, TweetGenerator};
use chrono::{DateTime, Utc};
use clap::Subcommand;
use std::process::ExitCode;
use updraft_tasks::StreamUri;

#[derive(Subcommand, Debug)]
pub enum GenerateCommand {
    /// Tweets with the seeds' schema (skewed hashtags and users, languages, regions)
    Tweets {
        /// How many events
        #[arg(long)]
        count: u64,
        /// Where to: file://DIR (JSON-lines files) or kafka://HOST:PORT/TOPIC
        #[arg(long)]
        to: String,
        /// At most this many events a second [default: as fast as possible]
        #[arg(long)]
        rate: Option<u64>,
        /// Random seed: the same seed gives the same events [default: a new one each time,
        /// printed]
        #[arg(long)]
        seed: Option<u64>,
        /// Share of malformed records (bad JSON, missing fields, wrong types)
        #[arg(long, default_value_t = 0.0)]
        bad_ratio: f64,
        /// Share of records that repeat an earlier tweet
        #[arg(long, default_value_t = 0.01)]
        duplicate_ratio: f64,
        /// Share of events created hours before their neighbours
        #[arg(long, default_value_t = 0.02)]
        late_ratio: f64,
        /// Event times start here (ISO 8601) and spread over --days days
        #[arg(long, default_value = "2026-01-01T00:00:00Z")]
        start: String,
        #[arg(long, default_value_t = 1)]
        days: i64,
        /// Distinct users
        #[arg(long, default_value_t = 100_000)]
        users: u64,
        /// Partitions of a Kafka topic that does not exist yet
        #[arg(long, default_value_t = 3)]
        partitions: i32,
    },
}

fn ratio(name: &str, value: f64) -> anyhow::Result<f64> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(usage(format!(
            "--{name} must be between 0 and 1, not {value}"
        )))
    }
}

pub async fn run(cmd: GenerateCommand, ctx: &Context) -> anyhow::Result<ExitCode> {
    let GenerateCommand::Tweets {
        count,
        to,
        rate,
        seed,
        bad_ratio,
        duplicate_ratio,
        late_ratio,
        start,
        days,
        users,
        partitions,
    } = cmd;
    let target: StreamUri = to.parse().map_err(|e| usage(format!("--to {e}")))?;
    let start: DateTime<Utc> = DateTime::parse_from_rfc3339(&start)
        .map_err(|e| usage(format!("--start `{start}`: {e}")))?
        .with_timezone(&Utc);
    if days < 1 || partitions < 1 {
        return Err(usage("--days and --partitions must be at least 1"));
    }
    // A second run adds new tweets unless asked to repeat the first.
    let seed = seed.unwrap_or_else(|| {
        let seed = rand::random::<u32>().into();
        eprintln!("seed {seed} (pass --seed {seed} to generate the same events again)");
        seed
    });
    let generator = TweetGenerator::new(GeneratorOptions {
        seed,
        count,
        start,
        span: chrono::Duration::days(days),
        bad_ratio: ratio("bad-ratio", bad_ratio)?,
        duplicate_ratio: ratio("duplicate-ratio", duplicate_ratio)?,
        late_ratio: ratio("late-ratio", late_ratio)?,
        users,
    })
    .map_err(usage)?;
    let report = generate(generator, count, &target, rate, partitions).await?;
    print_object(ctx.format, &report)?;
    Ok(ExitCode::SUCCESS)
}
