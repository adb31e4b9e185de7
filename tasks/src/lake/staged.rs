//! Data files written ahead of their commit: delta-rs encodes and commits in one call,
//! so a task that commits batch after batch would encode one at a time. Staged, the
//! next batches are encoded while the previous one commits, and each commit still adds
//! its files in order with the task's positions checked as in every other commit.

use super::commit::check_positions;
use super::{Positions, delta_error};
use crate::TaskError;
use deltalake::arrow::array::RecordBatch;
use deltalake::kernel::transaction::{CommitBuilder, TransactionError};
use deltalake::kernel::{Action, Add};
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableError};

/// Encodes `batch` into Parquet files of the existing `table` (split by its partition
/// columns) without committing them, so that several batches can be encoded at once and
/// committed in order by [`commit_staged_checked`]. Files whose commit never comes are
/// not part of the table (vacuum removes them).
pub async fn stage_files(
    table: &DeltaTable,
    batch: RecordBatch,
    parquet: WriterProperties,
) -> Result<Vec<Add>, TaskError> {
    let mut writer = RecordBatchWriter::for_table(table)
        .map_err(|e| delta_error("preparing the data files", e))?
        .with_writer_properties(parquet);
    writer
        .write(batch)
        .await
        .map_err(|e| delta_error("writing the data files", e))?;
    writer
        .flush()
        .await
        .map_err(|e| delta_error("writing the data files", e))
}

/// How often a commit of staged files is tried on newer versions when other writers
/// (another task landing into the same table) commit first.
const COMMIT_ATTEMPTS: usize = 20;

/// Appends the `staged` files to `table` (in that order) and records `positions.next`, in
/// one commit; fails, committing nothing, when another writer moved any position. A
/// commit that only lost the race for the next version is made again on the newer one,
/// with the positions checked there: the files are written already, so it costs a log
/// entry, and landing two sources into one table does not fail a try.
pub async fn commit_staged_checked(
    table: &mut DeltaTable,
    staged: Vec<Add>,
    positions: &Positions,
) -> Result<(), TaskError> {
    let mut attempt = 1;
    loop {
        match commit_staged_once(table, staged.clone(), positions).await {
            Err(Commit::Lost(e)) if attempt < COMMIT_ATTEMPTS => {
                tracing::debug!("another writer committed first ({e}); committing again");
                attempt += 1;
            }
            Err(Commit::Lost(e)) | Err(Commit::Failed(e)) => return Err(e),
            Ok(()) => return Ok(()),
        }
    }
}

/// Why a commit was not made.
enum Commit {
    /// Another writer took the version this commit was made for.
    Lost(TaskError),
    Failed(TaskError),
}

async fn commit_staged_once(
    table: &mut DeltaTable,
    staged: Vec<Add>,
    positions: &Positions,
) -> Result<(), Commit> {
    let properties = check_positions(table, positions)
        .await
        .map_err(Commit::Failed)?;
    let partition_by = Some(super::partition_columns(table)).filter(|p| !p.is_empty());
    let operation = DeltaOperation::Write {
        mode: SaveMode::Append,
        partition_by,
        predicate: None,
    };
    let snapshot = table
        .snapshot()
        .map_err(|e| Commit::Failed(delta_error("reading the table to commit to", e)))?;
    let committed = CommitBuilder::from(properties)
        .with_actions(staged.into_iter().map(Action::Add).collect())
        .build(Some(snapshot), table.log_store(), operation)
        .await
        .map_err(|e| {
            let lost = matches!(
                e,
                DeltaTableError::VersionAlreadyExists(_)
                    | DeltaTableError::Transaction {
                        source: TransactionError::MaxCommitAttempts(_)
                    }
            );
            let e = delta_error("committing to the Delta table", e);
            if lost {
                Commit::Lost(e)
            } else {
                Commit::Failed(e)
            }
        })?;
    table.state = Some(committed.snapshot());
    Ok(())
}
