//! `updraft produce FILE --to kafka://HOST:PORT/TOPIC`: the request for the library's
//! `produce`, a progress bar over the file's bytes, and the report.

use super::output::print_object;
use super::{Context, usage};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use updraft_core::StreamUri;
use updraft_generate::produce::{NoSuchColumn, ProduceRequest, produce};

#[derive(Args, Debug)]
pub struct ProduceArgs {
    /// A CSV file (a header row; each row is sent as a JSON object) or a JSON-lines file
    file: PathBuf,
    /// Where to: kafka://HOST:PORT/TOPIC (the topic is created when missing)
    #[arg(long)]
    to: String,
    /// Wait this long after each message (e.g. 10ms)
    #[arg(long)]
    delay: Option<humantime::Duration>,
    /// Key each message by this column (CSV) or top-level field (JSON)
    #[arg(long)]
    key: Option<String>,
    /// Partitions of a topic that does not exist yet
    #[arg(long, default_value_t = 3)]
    partitions: i32,
}

pub async fn run(args: ProduceArgs, ctx: &Context) -> anyhow::Result<ExitCode> {
    let (bootstrap, topic) = match args.to.parse::<StreamUri>() {
        Ok(StreamUri::Kafka { bootstrap, topic }) => (bootstrap, topic),
        Ok(StreamUri::File(_)) => return Err(usage("--to must be kafka://HOST:PORT/TOPIC")),
        Err(e) => return Err(usage(format!("--to {e}"))),
    };
    if args.partitions < 1 {
        return Err(usage("--partitions must be at least 1"));
    }
    let size = std::fs::metadata(&args.file)
        .map_err(|e| usage(format!("{}: {e}", args.file.display())))?
        .len();
    let bar = crate::terminal::progress_bar(
        size,
        "{spinner} producing [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    );
    let request = ProduceRequest {
        file: &args.file,
        bootstrap: &bootstrap,
        topic: &topic,
        delay: args.delay.map(Into::into),
        key: args.key.as_deref(),
        partitions: args.partitions,
    };
    let report = produce(&request, |read| bar.set_position(read)).await;
    bar.finish_and_clear();
    let report = report.map_err(|e| match e.downcast::<NoSuchColumn>() {
        Ok(mistake) => usage(mistake.to_string()),
        Err(e) => e,
    })?;
    print_object(ctx.format, &report)?;
    Ok(ExitCode::SUCCESS)
}
