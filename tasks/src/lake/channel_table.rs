//! A DataFusion table whose rows arrive on a channel, read once: a task feeds rows to a
//! plan (a Delta write) while it is still producing them, so the two overlap and memory
//! holds the few batches in flight, not the whole result.

use crate::TaskError;
use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::datafusion::catalog::streaming::StreamingTable;
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::execution::{SendableRecordBatchStream, TaskContext};
use deltalake::datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use deltalake::datafusion::physical_plan::streaming::PartitionStream;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// The sending side: each batch must have the table's schema; an error ends the plan
/// with that error (so a write fed by it commits nothing).
pub type RowSender = mpsc::Sender<Result<RecordBatch, TaskError>>;

/// A table of `schema` and the sender that fills it; at most `capacity` batches wait.
pub fn channel_table(
    schema: SchemaRef,
    capacity: usize,
) -> Result<(Arc<StreamingTable>, RowSender), TaskError> {
    let (tx, rx) = mpsc::channel(capacity);
    let stream = Arc::new(ChannelStream {
        schema: schema.clone(),
        receiver: Mutex::new(Some(rx)),
    });
    let table = StreamingTable::try_new(schema, vec![stream])
        .map_err(|e| TaskError::Fatal(format!("preparing the rows' table: {e}")))?;
    Ok((Arc::new(table), tx))
}

#[derive(Debug)]
struct ChannelStream {
    schema: SchemaRef,
    receiver: Mutex<Option<mpsc::Receiver<Result<RecordBatch, TaskError>>>>,
}

impl PartitionStream for ChannelStream {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let schema = self.schema.clone();
        let Some(receiver) = self.receiver.lock().ok().and_then(|mut r| r.take()) else {
            let error = DataFusionError::Execution("the rows' table was read twice".into());
            let once = futures::stream::once(async { Err(error) });
            return Box::pin(RecordBatchStreamAdapter::new(schema, once));
        };
        let batches = futures::stream::unfold(receiver, |mut rx| async move {
            let next = rx.recv().await?;
            Some((next.map_err(|e| DataFusionError::External(Box::new(e))), rx))
        });
        Box::pin(RecordBatchStreamAdapter::new(schema, batches))
    }
}
