//! `updraft generate tweets ...`, `sensors ...`, `user-events ...` and `books ...`.

use super::output::print_object;
use super::{Context, usage};
use chrono::{DateTime, Utc};
use clap::Subcommand;
use std::process::ExitCode;
use updraft_core::StreamUri;
use updraft_generate::GenerateReport;
use updraft_generate::RecordSource;
use updraft_generate::books::{BookGenerator, BookOptions, write_csv};
use updraft_generate::sensors::{SensorGenerator, SensorOptions};
use updraft_generate::tweets::{GeneratorOptions, TweetGenerator};
use updraft_generate::user_events::{UserEventGenerator, UserEventOptions};

#[derive(Subcommand, Debug)]
pub enum GenerateCommand {
    /// Tweets with the seeds' schema (skewed hashtags and users, languages, regions)
    Tweets(TweetArgs),
    /// IoT sensor readings (sensor_id, device_type, location, temperature, humidity,
    /// pressure, battery, ts) from a fleet of devices
    Sensors {
        #[command(flatten)]
        stream: StreamArgs,
        /// Devices in the fleet
        #[arg(long, default_value_t = 200)]
        devices: u32,
    },
    /// A shop's user events (event_id, user_id, session_id, event_type, page, source,
    /// amount, ts): sessions of a growing user base walking the funnel
    UserEvents {
        #[command(flatten)]
        stream: StreamArgs,
        /// Users at the start
        #[arg(long, default_value_t = 1_000)]
        users: u64,
        /// One more user joins every this many events
        #[arg(long, default_value_t = 50)]
        new_user_every: u64,
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

/// `generate tweets`.
#[derive(clap::Args, Debug)]
pub struct TweetArgs {
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
}

/// The options of a generator that can stream live.
#[derive(clap::Args, Debug)]
pub struct StreamArgs {
    /// How many records [default with --rate: endless, until Ctrl-C or SIGTERM]
    #[arg(long)]
    count: Option<u64>,
    /// Where to: file://DIR (JSON-lines files) or kafka://HOST:PORT/TOPIC
    /// [default: file://<lake>/landing/<sensor_data|user_events>, where its DAG looks]
    #[arg(long)]
    to: Option<String>,
    /// At most this many records a second; each then carries the time it is made (a
    /// live stream) [default: as fast as possible]
    #[arg(long)]
    rate: Option<u64>,
    /// Random seed: the same seed gives the same records [default: a new one, printed]
    #[arg(long)]
    seed: Option<u64>,
    /// Share of bad records (malformed JSON, missing values, impossible values, times
    /// that are not times)
    #[arg(long, default_value_t = 0.0)]
    bad_ratio: f64,
    /// Without --rate, record times start here (ISO 8601) and spread over --hours
    #[arg(long, default_value = "2026-01-01T00:00:00Z")]
    start: String,
    #[arg(long, default_value_t = 24)]
    hours: i64,
    /// Partitions of a Kafka topic that does not exist yet
    #[arg(long, default_value_t = 3)]
    partitions: i32,
}

/// A checked `StreamArgs`.
struct Stream {
    count: Option<u64>,
    target: StreamUri,
    rate: Option<u64>,
    seed: u64,
    bad_ratio: f64,
    start: DateTime<Utc>,
    span: chrono::Duration,
    partitions: i32,
}

impl StreamArgs {
    fn check(self, ctx: &Context, landing: &str) -> anyhow::Result<Stream> {
        if self.count.is_none() && self.rate.is_none() {
            return Err(usage(
                "give --count N, or --rate R for a live stream (until Ctrl-C)",
            ));
        }
        if self.hours < 1 || self.partitions < 1 {
            return Err(usage("--hours and --partitions must be at least 1"));
        }
        let to = self
            .to
            .unwrap_or_else(|| format!("file://{}/landing/{landing}", ctx.settings.lake));
        Ok(Stream {
            count: self.count,
            target: to.parse().map_err(|e| usage(format!("--to {e}")))?,
            rate: self.rate,
            seed: seed_or_new(self.seed),
            bad_ratio: ratio("bad-ratio", self.bad_ratio)?,
            start: start_time(&self.start)?,
            span: chrono::Duration::hours(self.hours),
            partitions: self.partitions,
        })
    }
}

/// Runs a generation of `stream` and prints its report.
async fn stream_out(
    ctx: &Context,
    generator: impl RecordSource,
    stream: &Stream,
) -> anyhow::Result<ExitCode> {
    let report = generate(
        generator,
        stream.count,
        &stream.target,
        stream.rate,
        stream.partitions,
    )
    .await?;
    print_object(ctx.format, &report)?;
    Ok(ExitCode::SUCCESS)
}

/// Generates with a progress bar on a terminal, until done or a signal.
async fn generate(
    generator: impl RecordSource,
    count: Option<u64>,
    to: &StreamUri,
    rate: Option<u64>,
    partitions: i32,
) -> anyhow::Result<GenerateReport> {
    let stop = stop_on_signal();
    let bar = match count {
        Some(count) => crate::terminal::progress_bar(
            count,
            "{spinner} generating [{bar:30}] {pos}/{len} events {per_sec} eta {eta}",
        ),
        None => crate::terminal::progress_bar(
            u64::MAX,
            "{spinner} generating {pos} events {per_sec} (Ctrl-C ends)",
        ),
    };
    let progress = |made| bar.set_position(made);
    let report =
        updraft_generate::generate(generator, count, to, rate, partitions, &stop, &progress).await;
    bar.finish_and_clear();
    report
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
        GenerateCommand::Sensors { stream, devices } => {
            let stream = stream.check(ctx, "sensor_data")?;
            let generator = SensorGenerator::new(SensorOptions {
                seed: stream.seed,
                count: stream.count.unwrap_or(0),
                start: stream.start,
                span: stream.span,
                live: stream.rate.is_some(),
                devices,
                bad_ratio: stream.bad_ratio,
            })
            .map_err(usage)?;
            stream_out(ctx, generator, &stream).await
        }
        GenerateCommand::UserEvents {
            stream,
            users,
            new_user_every,
        } => {
            let stream = stream.check(ctx, "user_events")?;
            let generator = UserEventGenerator::new(UserEventOptions {
                seed: stream.seed,
                count: stream.count.unwrap_or(0),
                start: stream.start,
                span: stream.span,
                live: stream.rate.is_some(),
                users,
                events_per_new_user: new_user_every,
                bad_ratio: stream.bad_ratio,
            })
            .map_err(usage)?;
            stream_out(ctx, generator, &stream).await
        }
        GenerateCommand::Tweets(args) => tweets_cmd(args, ctx).await,
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

async fn tweets_cmd(args: TweetArgs, ctx: &Context) -> anyhow::Result<ExitCode> {
    let TweetArgs {
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
    } = args;
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
    let report = generate(generator, Some(count), &target, rate, partitions).await?;
    print_object(ctx.format, &report)?;
    Ok(ExitCode::SUCCESS)
}
