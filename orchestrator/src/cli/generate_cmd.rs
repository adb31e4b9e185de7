//! `updraft generate tweets ...`, `sensors ...` and `books ...`.

use super::output::print_object;
use super::{Context, usage};
use crate::generate::books::{BookGenerator, BookOptions, write_csv};
use crate::generate::sensors::{SensorGenerator, SensorOptions};
use crate::generate::tweets::{GeneratorOptions, TweetGenerator};
use crate::generate::{GenerateReport, generate};
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
    /// IoT sensor readings (sensor_id, device_type, location, temperature, humidity,
    /// pressure, battery, ts) from a fleet of devices
    Sensors {
        /// How many readings [default with --rate: endless, until Ctrl-C or SIGTERM]
        #[arg(long)]
        count: Option<u64>,
        /// Where to: file://DIR (JSON-lines files) or kafka://HOST:PORT/TOPIC
        /// [default: file://<lake>/landing/sensor_data, where the iot_sensors DAG looks]
        #[arg(long)]
        to: Option<String>,
        /// At most this many readings a second; readings then carry the time they are
        /// made (a live stream) [default: as fast as possible]
        #[arg(long)]
        rate: Option<u64>,
        /// Random seed: the same seed gives the same readings [default: a new one, printed]
        #[arg(long)]
        seed: Option<u64>,
        /// Share of bad readings (malformed JSON, a missing sensor_id or temperature,
        /// humidity 140 %, −300 °C, a time that is not one)
        #[arg(long, default_value_t = 0.0)]
        bad_ratio: f64,
        /// Devices in the fleet
        #[arg(long, default_value_t = 200)]
        devices: u32,
        /// Without --rate, reading times start here (ISO 8601) and spread over --hours
        #[arg(long, default_value = "2026-01-01T00:00:00Z")]
        start: String,
        #[arg(long, default_value_t = 24)]
        hours: i64,
        /// Partitions of a Kafka topic that does not exist yet
        #[arg(long, default_value_t = 3)]
        partitions: i32,
    },
    /// Best-selling books as CSV (Name, Author, User Rating, Reviews, Price, Year, Genre)
    Books {
        /// How many rows
        #[arg(long, default_value_t = 550)]
        count: u64,
        /// Where to: file://DIR (CSV files of at most 100,000 rows, with a header)
        /// [default: file://<lake>/landing/books, where the books_warehouse DAG looks]
        #[arg(long)]
        to: Option<String>,
        /// Random seed: the same seed gives the same rows [default: a new one, printed]
        #[arg(long)]
        seed: Option<u64>,
        /// Share of dirty rows (padded text, empty ratings, prices as text, a repeated
        /// row, an author in capitals)
        #[arg(long, default_value_t = 0.0)]
        bad_ratio: f64,
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

/// A seed given, or a new one, printed so the same records can be made again.
fn seed_or_new(seed: Option<u64>) -> u64 {
    seed.unwrap_or_else(|| {
        let seed = rand::random::<u32>().into();
        eprintln!("seed {seed} (pass --seed {seed} to generate the same records again)");
        seed
    })
}

pub async fn run(cmd: GenerateCommand, ctx: &Context) -> anyhow::Result<ExitCode> {
    match cmd {
        GenerateCommand::Books {
            count,
            to,
            seed,
            bad_ratio,
        } => {
            let to = to.unwrap_or_else(|| format!("file://{}/landing/books", ctx.settings.lake));
            books(ctx, count, &to, seed, bad_ratio)
        }
        GenerateCommand::Sensors {
            count,
            to,
            rate,
            seed,
            bad_ratio,
            devices,
            start,
            hours,
            partitions,
        } => {
            if count.is_none() && rate.is_none() {
                return Err(usage(
                    "give --count N, or --rate R for a live stream (until Ctrl-C)",
                ));
            }
            if hours < 1 || partitions < 1 {
                return Err(usage("--hours and --partitions must be at least 1"));
            }
            let to =
                to.unwrap_or_else(|| format!("file://{}/landing/sensor_data", ctx.settings.lake));
            let target: StreamUri = to.parse().map_err(|e| usage(format!("--to {e}")))?;
            let generator = SensorGenerator::new(SensorOptions {
                seed: seed_or_new(seed),
                count: count.unwrap_or(0),
                start: start_time(&start)?,
                span: chrono::Duration::hours(hours),
                live: rate.is_some(),
                devices,
                bad_ratio: ratio("bad-ratio", bad_ratio)?,
            })
            .map_err(usage)?;
            let stop = stop_on_signal();
            let report = generate(generator, count, &target, rate, partitions, &stop).await?;
            print_object(ctx.format, &report)?;
            Ok(ExitCode::SUCCESS)
        }
        tweets => tweets_cmd(tweets, ctx).await,
    }
}

/// A token that fires on Ctrl-C or SIGTERM: a generation then ends early, keeping what
/// it made.
fn stop_on_signal() -> tokio_util::sync::CancellationToken {
    let stop = tokio_util::sync::CancellationToken::new();
    super::cancel_on_signal(stop.clone());
    stop
}

fn start_time(text: &str) -> anyhow::Result<DateTime<Utc>> {
    Ok(DateTime::parse_from_rfc3339(text)
        .map_err(|e| usage(format!("--start `{text}`: {e}")))?
        .with_timezone(&Utc))
}

/// `generate books`: CSV files into a landing folder.
fn books(
    ctx: &Context,
    count: u64,
    to: &str,
    seed: Option<u64>,
    bad_ratio: f64,
) -> anyhow::Result<ExitCode> {
    let dir = match to
        .parse::<StreamUri>()
        .map_err(|e| usage(format!("--to {e}")))?
    {
        StreamUri::File(dir) => dir,
        StreamUri::Kafka { .. } => {
            return Err(usage(
                "--to: books are written as CSV files (file://DIR); send them to Kafka with `updraft produce`",
            ));
        }
    };
    let options = BookOptions {
        seed: seed_or_new(seed),
        bad_ratio: ratio("bad-ratio", bad_ratio)?,
    };
    let bar = crate::terminal::progress_bar(
        count,
        "{spinner} generating [{bar:30}] {pos}/{len} rows {per_sec} eta {eta}",
    );
    let started = std::time::Instant::now();
    let files = write_csv(&mut BookGenerator::new(&options), count, &dir, |n| {
        if n.is_multiple_of(4096) {
            bar.set_position(n);
        }
    })?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let report = GenerateReport {
        events: count,
        seconds,
        events_per_second: count as f64 / seconds.max(1e-9),
        target: format!("{} ({} file(s))", StreamUri::File(dir), files.len()),
    };
    print_object(ctx.format, &report)?;
    Ok(ExitCode::SUCCESS)
}

async fn tweets_cmd(cmd: GenerateCommand, ctx: &Context) -> anyhow::Result<ExitCode> {
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
    } = cmd
    else {
        unreachable!("books and sensors have their own arms")
    };
    let target: StreamUri = to.parse().map_err(|e| usage(format!("--to {e}")))?;
    let start = start_time(&start)?;
    if days < 1 || partitions < 1 {
        return Err(usage("--days and --partitions must be at least 1"));
    }
    // A second run adds new tweets unless asked to repeat the first.
    let seed = seed_or_new(seed);
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
    let stop = stop_on_signal();
    let report = generate(generator, Some(count), &target, rate, partitions, &stop).await?;
    print_object(ctx.format, &report)?;
    Ok(ExitCode::SUCCESS)
}
