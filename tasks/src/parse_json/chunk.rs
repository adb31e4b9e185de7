//! The rows of one commit, streamed: source batches are parsed on the blocking pool,
//! put in order version by version, deduplicated, and sent on to the Delta write while
//! later batches are still being read — both cores work, and memory holds a few batches
//! and the chunk's keys, not the chunk.

use super::dedupe::FirstOfEachKey;
use super::order::{self, OrderColumn};
use super::{Column, ParseJsonConfig, Parsed, parse_batch, source};
use crate::TaskError;
use crate::lake::RowSender;
use deltalake::DeltaTable;
use deltalake::arrow::array::{ArrayRef, RecordBatch};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::kernel::Add;
use futures::TryStreamExt;
use futures::stream::{BoxStream, StreamExt};
use std::sync::Arc;

/// Batches parsed at the same time, on the blocking pool.
const PARSING: usize = 3;

/// New rows looked up in the target together (one scan of its key columns each time).
const LOOKUP_ROWS: usize = 256 * 1024;

/// What a chunk needs to know, the same for every chunk of a run.
pub struct ChunkPlan<'a> {
    pub cfg: &'a ParseJsonConfig,
    pub columns: &'a Arc<Vec<Column>>,
    /// Row checks, compiled for the parsed rows.
    pub checks: &'a Arc<Vec<super::checks::Check>>,
    pub order: &'a [OrderColumn],
    /// The JSON column, the carried columns, then the columns only the order needs.
    pub read_columns: &'a [String],
    pub source: &'a DeltaTable,
    /// The source versions each output holds already.
    pub target_done: i64,
    pub quarantine_done: i64,
    /// The parsed columns and the carried ones: what is sent to the write.
    pub output: SchemaRef,
}

/// What a chunk's parse found.
#[derive(Default)]
pub struct Produced {
    pub records: usize,
    /// Valid rows of versions the target does not hold yet.
    pub valid: usize,
    pub quarantined: usize,
    /// Valid rows dropped as a later copy of a key.
    pub duplicates: usize,
    /// Rows sent to the target.
    pub written: usize,
    /// Quarantined rows of versions the quarantine does not hold yet.
    pub bad: Vec<RecordBatch>,
}

/// Takes the `parsed` batches and sends the first row of each key to `rows` (when the
/// target needs them), dropping keys the target table holds (`lookup`: a session where
/// it is registered as `__updraft_target`). Returns the counts and the quarantined rows.
pub async fn produce(
    plan: &ChunkPlan<'_>,
    mut parsed: ParsedStream<'_>,
    rows: Option<RowSender>,
    lookup: Option<&SessionContext>,
) -> Result<Produced, TaskError> {
    let mut produced = Produced::default();
    let mut sink = rows.map(|sender| Sink {
        plan,
        sender,
        lookup,
        dedupe: None,
        pending: Vec::new(),
        pending_rows: 0,
    });
    let mut version_rows: Vec<RecordBatch> = Vec::new();
    let mut current = None;
    while let Some((version, batch)) = parsed.try_next().await? {
        produced.records += batch.valid.num_rows() + batch.quarantined.num_rows();
        if version > plan.quarantine_done {
            produced.quarantined += batch.quarantined.num_rows();
            produced.bad.push(batch.quarantined);
        }
        let Some(sink) = sink.as_mut().filter(|_| version > plan.target_done) else {
            continue;
        };
        produced.valid += batch.valid.num_rows();
        if current != Some(version) {
            sink.version_done(std::mem::take(&mut version_rows), &mut produced)
                .await?;
            current = Some(version);
        }
        version_rows.push(batch.valid);
    }
    if let Some(sink) = sink.as_mut() {
        sink.version_done(version_rows, &mut produced).await?;
        sink.flush(&mut produced).await?;
    }
    produced.duplicates = produced.valid - produced.written;
    Ok(produced)
}

/// Parsed source batches, in order, each with its source version.
pub type ParsedStream<'a> = BoxStream<'a, Result<(i64, Parsed), TaskError>>;

/// The source batches of `files`, parsed, in order, tagged with their source version.
pub fn parse<'a>(plan: &'a ChunkPlan<'a>, files: &'a [&'a (i64, Add)]) -> ParsedStream<'a> {
    let carried = plan.cfg.carry.len();
    source::read(plan.source, files, plan.read_columns)
        .map_ok(move |(version, batch)| {
            let columns = plan.columns.clone();
            let checks = plan.checks.clone();
            async move {
                let parsed = tokio::task::spawn_blocking(move || {
                    parse_batch(&batch, &columns, &checks, carried, version)
                })
                .await
                .map_err(|e| TaskError::Fatal(format!("parser stopped: {e}")))??;
                Ok((version, parsed))
            }
        })
        .try_buffered(PARSING)
        .boxed()
}

/// Where valid rows go: ordered, deduplicated, and sent to the write.
struct Sink<'a> {
    plan: &'a ChunkPlan<'a>,
    sender: RowSender,
    lookup: Option<&'a SessionContext>,
    /// Created with the first batch's schema.
    dedupe: Option<FirstOfEachKey>,
    /// Rows waiting to be looked up in the target.
    pending: Vec<RecordBatch>,
    pending_rows: usize,
}

impl Sink<'_> {
    /// Takes the valid rows of one source version, complete.
    async fn version_done(
        &mut self,
        batches: Vec<RecordBatch>,
        produced: &mut Produced,
    ) -> Result<(), TaskError> {
        for batch in order::sort_version(batches, self.plan.order)? {
            if self.dedupe.is_none() {
                self.dedupe = FirstOfEachKey::new(&self.plan.cfg.dedupe_on, &batch.schema())?;
            }
            let kept = match self.dedupe.as_mut() {
                Some(dedupe) => dedupe.firsts(batch)?,
                None => batch,
            };
            self.pending_rows += kept.num_rows();
            self.pending.push(kept);
            if self.pending_rows >= LOOKUP_ROWS {
                self.flush(produced).await?;
            }
        }
        Ok(())
    }

    /// Sends the pending rows whose key the target does not hold.
    async fn flush(&mut self, produced: &mut Produced) -> Result<(), TaskError> {
        let pending = std::mem::take(&mut self.pending);
        self.pending_rows = 0;
        let kept = match (&self.dedupe, self.lookup) {
            (Some(dedupe), Some(ctx)) => dedupe.not_in(pending, ctx, "__updraft_target").await?,
            _ => pending,
        };
        for batch in kept {
            produced.written += batch.num_rows();
            let batch = conform(&batch, &self.plan.output)?;
            if self.sender.send(Ok(batch)).await.is_err() {
                // The write stopped; its error is what the task reports.
                return Ok(());
            }
        }
        Ok(())
    }
}

/// The batch's output columns (the order-only columns dropped), in the output's types.
fn conform(batch: &RecordBatch, output: &SchemaRef) -> Result<RecordBatch, TaskError> {
    let columns: Vec<ArrayRef> = output
        .fields()
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let column = batch.column(i);
            if column.data_type() == field.data_type() {
                Ok(column.clone())
            } else {
                cast(column, field.data_type())
            }
        })
        .collect::<Result<_, _>>()
        .map_err(|e| TaskError::Fatal(format!("preparing parsed rows: {e}")))?;
    RecordBatch::try_new(output.clone(), columns)
        .map_err(|e| TaskError::Fatal(format!("preparing parsed rows: {e}")))
}
