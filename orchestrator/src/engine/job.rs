//! This process as a job in the store: registered when it starts, heartbeating its row
//! and its running attempts, stopping any attempt the store has taken away from it
//! (another job declared it dead) so no attempt keeps running twice, and recording the
//! ends of its attempts.

use crate::settings::Settings;
use crate::store::{OwnedAttempt, Store, TryEnd};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// The most attempt ends recorded in one transaction.
const MAX_FINISH_BATCH: usize = 500;

/// An attempt end waiting to be recorded, and who waits for it.
struct FinishRequest {
    end: TryEnd,
    reply: oneshot::Sender<Result<bool, String>>,
}

/// What a job is, as stored in `job.job_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobType {
    Scheduler,
    Trigger,
    Backfill,
}

impl JobType {
    fn as_str(self) -> &'static str {
        match self {
            JobType::Scheduler => "scheduler",
            JobType::Trigger => "trigger",
            JobType::Backfill => "backfill",
        }
    }
}

/// A registered job with its local running attempts.
pub struct Job {
    pub id: String,
    pub hostname: String,
    /// At most this many attempts run in this job at once (Airflow's `parallelism`).
    pub parallelism: usize,
    store: Store,
    attempts: Mutex<HashMap<OwnedAttempt, CancellationToken>>,
    stopped: CancellationToken,
    finishes: mpsc::UnboundedSender<FinishRequest>,
}

impl Job {
    /// Registers the job and starts heartbeating as `settings` say (every fifth of the
    /// heartbeat timeout), to run at most `settings.parallelism` attempts at once.
    pub async fn start(
        store: Store,
        job_type: JobType,
        settings: &Settings,
    ) -> anyhow::Result<Arc<Job>> {
        let (every, parallelism) = (settings.heartbeat_every(), settings.parallelism);
        let hostname = gethostname::gethostname().to_string_lossy().into_owned();
        let pid = std::process::id();
        let id = format!(
            "{}-{hostname}-{pid}-{:04x}",
            job_type.as_str(),
            rand::random::<u16>()
        );
        // A scheduler says which queues it serves: a task of a queue none serves waits.
        let queues = (job_type == JobType::Scheduler).then(|| settings.queues.join(","));
        store
            .register_job(&id, job_type.as_str(), &hostname, pid, queues.as_deref())
            .await?;
        let (finishes, requests) = mpsc::unbounded_channel();
        tokio::spawn(record_finishes(store.clone(), id.clone(), requests));
        let job = Arc::new(Job {
            id,
            hostname,
            parallelism,
            store,
            attempts: Mutex::new(HashMap::new()),
            stopped: CancellationToken::new(),
            finishes,
        });
        tokio::spawn(heartbeat_loop(
            Arc::downgrade(&job),
            job.stopped.clone(),
            every,
        ));
        Ok(job)
    }

    /// Starts watching a local attempt; `cancel` fires if the store takes it away.
    pub fn track(&self, attempt: OwnedAttempt, cancel: CancellationToken) {
        self.lock().insert(attempt, cancel);
    }

    /// How many attempts run in this job now.
    pub fn running(&self) -> usize {
        self.lock().len()
    }

    /// How many more attempts this job may start now.
    pub fn free_slots(&self) -> usize {
        self.parallelism.saturating_sub(self.lock().len())
    }

    /// Records an attempt's end and waits until it is committed; false when the store gave
    /// the attempt to another job (nothing is recorded then). Ends that arrive while a
    /// commit is under way share the next one, so a wide run pays one commit per batch.
    pub async fn finish(&self, end: TryEnd) -> anyhow::Result<bool> {
        let (reply, answer) = oneshot::channel();
        self.finishes
            .send(FinishRequest { end, reply })
            .map_err(|_| anyhow::anyhow!("job {}: the history writer has stopped", self.id))?;
        let owned = answer
            .await
            .map_err(|_| anyhow::anyhow!("job {}: the history writer has stopped", self.id))?;
        owned.map_err(|e| anyhow::anyhow!("cannot record an attempt's end: {e}"))
    }

    /// Stops watching a local attempt.
    pub fn untrack(&self, attempt: &OwnedAttempt) {
        self.lock().remove(attempt);
    }

    /// Stops heartbeating and records a clean exit.
    pub async fn stop(&self) {
        self.stopped.cancel();
        if let Err(e) = self.store.stop_job(&self.id).await {
            tracing::warn!("cannot record that job {} stopped: {e}", self.id);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<OwnedAttempt, CancellationToken>> {
        // A panic while holding this lock cannot leave the map half-updated.
        self.attempts.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn beat(&self) {
        // Only attempts claimed before the heartbeat was sent can be judged by its answer.
        let before: Vec<OwnedAttempt> = self.lock().keys().cloned().collect();
        match self.store.heartbeat(&self.id).await {
            Ok(owned) => {
                let attempts = self.lock();
                for key in before.iter().filter(|k| !owned.contains(k)) {
                    if let Some(cancel) = attempts.get(key) {
                        tracing::error!(
                            "attempt of {}.{} in run {} was declared dead by another job (this job's heartbeat was late); stopping it here",
                            key.dag_id,
                            key.task_id,
                            key.run_id
                        );
                        cancel.cancel();
                    }
                }
            }
            Err(e) => tracing::warn!("heartbeat of job {} failed: {e}", self.id),
        }
    }
}

/// Records attempt ends in batches until every sender is gone.
async fn record_finishes(
    store: Store,
    job_id: String,
    mut requests: mpsc::UnboundedReceiver<FinishRequest>,
) {
    while let Some(first) = requests.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_FINISH_BATCH {
            match requests.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        let ends: Vec<&TryEnd> = batch.iter().map(|r| &r.end).collect();
        match store.finish_tries(&job_id, &ends).await {
            Ok(owned) => {
                for (request, owned) in batch.into_iter().zip(owned) {
                    let _ = request.reply.send(Ok(owned));
                }
            }
            Err(e) => {
                let message = e.to_string();
                for request in batch {
                    let _ = request.reply.send(Err(message.clone()));
                }
            }
        }
    }
}

async fn heartbeat_loop(job: std::sync::Weak<Job>, stopped: CancellationToken, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.cancelled() => return,
        }
        let Some(job) = job.upgrade() else { return };
        job.beat().await;
    }
}
