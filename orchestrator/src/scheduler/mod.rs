//! The scheduler daemon. Every tick it re-reads changed DAG files, fails the attempts of
//! dead jobs, creates due scheduled runs and the runs asset events call for, starts
//! queued runs within `max_active_runs`,
//! and works every running run that no single job owns (holding those of paused DAGs).
//! Any number of schedulers may share one PostgreSQL: every step is a conditional write,
//! so each happens once.

mod asset_runs;
mod due_queue;
mod due_runs;

pub use asset_runs::create_asset_runs;
pub use due_runs::{DueRuns, create_due_runs};

use crate::alerts::Dispatcher;
use crate::dag::Dag;
use crate::dag::{DagFiles, Seen};
use crate::engine::{Engine, Job, JobType, RunMode, recovery};
use crate::settings::Settings;
use crate::store::{DagRunRow, RunState, Store};
use crate::versions::{self, DagVersions};
use due_queue::DueQueue;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often the scheduler looks for queued and orphaned runs; it wakes earlier when a
/// scheduled run falls due sooner, or a run it works ends.
pub const TICK: Duration = Duration::from_secs(1);

/// How long a stopping scheduler lets messages being sent finish.
const ALERTS_GRACE: Duration = Duration::from_secs(2);

/// How often dead jobs are looked for and pause flags read, at most.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(1);

/// How often a history clean runs (`[history] keep`), whichever scheduler does it, and
/// how often a scheduler asks whether one is due.
const CLEAN_EVERY: Duration = Duration::from_secs(3600);
const CLEAN_CHECK_EVERY: Duration = Duration::from_secs(60);

/// How often the tallies (counts by state, duration histograms) are folded, whichever scheduler does it.
const FOLD_TALLY_EVERY: Duration = Duration::from_secs(60);

/// How soon a DAG at its `max_active_runs` is looked at again (runs that end elsewhere
/// free its room without telling this scheduler).
const AT_LIMIT_AGAIN: chrono::TimeDelta = chrono::TimeDelta::seconds(5);

/// A run worked on here: its task, and the token that holds it when its DAG is paused.
struct Driver {
    task: JoinHandle<()>,
    hold: CancellationToken,
}

/// A scheduler job and the runs it is working on.
pub struct Scheduler {
    store: Store,
    settings: Arc<Settings>,
    job: Arc<Job>,
    dags: DagFiles,
    /// Runs worked on here, by (dag_id, run_id).
    drivers: HashMap<(String, String), Driver>,
    /// The DAG versions runs are worked with.
    versions: Arc<DagVersions>,
    /// DAGs read from the folder whose version is still to be recorded (a store that
    /// failed is tried again next tick).
    unrecorded: Vec<(Arc<Dag>, Seen)>,
    /// The content hash of each DAG as this scheduler last recorded it: a file saved
    /// again unchanged costs no trip to the store.
    recorded: HashMap<String, String>,
    /// When each DAG needs looking at next.
    due: DueQueue,
    /// The paused DAGs, as last read.
    paused: HashSet<String>,
    /// When jobs were last checked for death and pause flags read.
    housekept: Option<Instant>,
    /// Woken when a run worked here ends: the next loop starts at once.
    wake: Arc<Notify>,
    /// The history clean of `[history] keep` this scheduler runs, and when it next
    /// asks whether one is due.
    cleaning: Option<JoinHandle<()>>,
    clean_checked: Option<Instant>,
    /// When this scheduler last asked whether a fold of the tallies is due.
    fold_checked: Option<Instant>,
    stop: CancellationToken,
}

impl Scheduler {
    /// Registers a scheduler job. On SQLite, refuses when another live scheduler uses
    /// the same database file.
    pub async fn start(store: Store, settings: Arc<Settings>) -> anyhow::Result<Self> {
        if !store.allows_several_schedulers() {
            refuse_second_sqlite_scheduler(&store, &settings).await?;
        }
        let job = Job::start(store.clone(), JobType::Scheduler, &settings).await?;
        tracing::info!(
            "scheduler {} started: DAGs in {}, history in {}",
            job.id,
            settings.dags_folder.display(),
            settings.database_url_shown()
        );
        Ok(Self {
            dags: DagFiles::new(&settings.dags_folder),
            versions: DagVersions::new(&settings.home),
            unrecorded: Vec::new(),
            recorded: HashMap::new(),
            due: DueQueue::default(),
            paused: HashSet::new(),
            housekept: None,
            wake: Arc::new(Notify::new()),
            cleaning: None,
            clean_checked: None,
            fold_checked: None,
            store,
            settings,
            job,
            drivers: HashMap::new(),
            stop: CancellationToken::new(),
        })
    }

    /// Runs ticks until `shutdown` fires, then stops the attempts running here (they are
    /// recorded as failed and retried by their policy) and leaves the runs to others.
    pub async fn run(mut self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let dispatcher = Dispatcher::new(self.store.clone(), &self.job.id, &self.settings);
        let mut alerts = tokio::spawn(dispatcher.run(self.stop.clone()));
        loop {
            let next_due = match self.tick().await {
                Ok(next_due) => next_due,
                Err(e) => {
                    tracing::error!("scheduler tick failed: {e:#}");
                    None
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(until_next_tick(next_due)) => {}
                _ = self.wake.notified() => {}
                _ = shutdown.cancelled() => break,
            }
        }
        tracing::info!("scheduler {} stopping", self.job.id);
        self.drain().await;
        let attempts = self.job.running();
        if attempts > 0 {
            tracing::info!(
                "ending {attempts} running attempt(s): recorded as failed, retried by their policy"
            );
        }
        self.stop.cancel();
        // A message being sent when the scheduler stops is sent again by another one
        // (its claim dies with this job): a stop does not wait for a slow receiver.
        if tokio::time::timeout(ALERTS_GRACE, &mut alerts)
            .await
            .is_err()
        {
            alerts.abort();
        }
        let mut worked = Vec::new();
        for (key, driver) in self.drivers.drain() {
            let _ = driver.task.await;
            worked.push(key);
        }
        // Said only of the runs that really stay running.
        let mut left = 0;
        for (dag_id, run_id) in &worked {
            if let Ok(Some(run)) = self.store.run(dag_id, run_id).await
                && run.is_active()
            {
                left += 1;
            }
        }
        if left > 0 {
            tracing::info!(
                "{left} run(s) stay running for the next scheduler (or the next `updraft dag trigger` of their DAG)"
            );
        }
        self.job.stop().await;
        Ok(())
    }

    /// With a drain timeout, claims nothing new and lets the attempts running here finish,
    /// for up to the timeout (a host taken out of service: its runs go on elsewhere).
    async fn drain(&mut self) {
        let limit = self.settings.drain_timeout;
        if limit.is_zero() || self.job.running() == 0 {
            return;
        }
        tracing::info!(
            "draining: {} running attempt(s) may finish within {}; nothing new is claimed here (SIGTERM again stops at once)",
            self.job.running(),
            humantime::format_duration(limit)
        );
        for driver in self.drivers.values() {
            driver.hold.cancel();
        }
        let deadline = Instant::now() + limit;
        while self.job.running() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if self.job.running() == 0 {
            tracing::info!("drained: every attempt that ran here has ended");
        }
    }

    /// One pass over everything the scheduler is responsible for; returns when it needs to
    /// look again (a run falls due, a DAG at its limit is checked again).
    pub async fn tick(&mut self) -> anyhow::Result<Option<chrono::DateTime<chrono::Utc>>> {
        let changes = self.dags.refresh();
        for (dag, _) in &changes {
            self.due.mark(&dag.dag_id);
        }
        self.unrecorded.extend(changes);
        while let Some((dag, seen)) = self.unrecorded.first() {
            self.store.sync_dag(dag).await?;
            if self.recorded.get(&dag.dag_id) != Some(&dag.source.hash) {
                versions::record(&self.store, dag, *seen).await?;
                self.recorded
                    .insert(dag.dag_id.clone(), dag.source.hash.clone());
            }
            self.unrecorded.remove(0);
        }
        for gone in self.dags.take_removed() {
            // A DAG that is gone is scheduled on nothing and watches nothing.
            self.store.forget_dag_assets(&gone).await?;
        }
        if self
            .housekept
            .is_none_or(|at| at.elapsed() >= HOUSEKEEPING_EVERY)
        {
            self.housekeep().await?;
        }
        let now = chrono::Utc::now();
        for dag_id in self.due.take_due(now) {
            let Some(dag) = self.dags.get(&dag_id).cloned() else {
                self.due.remove(&dag_id);
                continue;
            };
            if self.paused.contains(&dag_id) {
                // Looked at again when it is unpaused.
                continue;
            }
            let due = create_due_runs(&self.store, &dag, now).await?;
            // A DAG at its max_active_runs is looked at when one of its runs ends here,
            // and now and then for runs that end elsewhere.
            let again = match due.next_due {
                Some(at) => Some(at),
                None if matches!(dag.schedule, crate::dag::Schedule::Manual) => None,
                None => Some(now + AT_LIMIT_AGAIN),
            };
            self.due.set(&dag_id, again);
        }
        let dags: Vec<&Dag> = self.dags.all().map(Arc::as_ref).collect();
        create_asset_runs(&self.store, &dags, &self.paused).await?;
        let paused = &self.paused;
        for run in self.store.runs_in_state(RunState::Queued, true).await? {
            if paused.contains(&run.dag_id) {
                continue;
            }
            let Some(max_active_runs) = self.max_active_runs(&run.dag_id).await? else {
                continue;
            };
            if self
                .store
                .start_queued_run(&run.dag_id, &run.run_id, max_active_runs)
                .await?
            {
                tracing::info!("started {} {}", run.dag_id, run.run_id);
            }
        }
        let ended: Vec<String> = self
            .drivers
            .iter()
            .filter(|(_, d)| d.task.is_finished())
            .map(|((dag_id, _), _)| dag_id.clone())
            .collect();
        for dag_id in &ended {
            // A run ended: room for the DAG's next.
            self.due.mark(dag_id);
        }
        self.drivers.retain(|_, driver| !driver.task.is_finished());
        let paused = &self.paused;
        // A paused DAG's running runs are held (as in Airflow): their running attempts
        // finish, and their next tasks wait for the unpause.
        for ((dag_id, _), driver) in &self.drivers {
            if paused.contains(dag_id) {
                driver.hold.cancel();
            }
        }
        for run in self.store.runs_in_state(RunState::Running, true).await? {
            let key = (run.dag_id.clone(), run.run_id.clone());
            if self.drivers.contains_key(&key) || paused.contains(&run.dag_id) {
                continue;
            }
            // A DAG whose file is gone finishes its runs on their versions.
            let current = self.dags.get(&run.dag_id).cloned();
            self.drivers.insert(key, self.drive(current, run));
        }
        Ok(self.due.next())
    }

    /// Declares dead jobs and fails their attempts, and reads which DAGs are paused
    /// (looking at a DAG again once it is unpaused); at most every [`HOUSEKEEPING_EVERY`].
    async fn housekeep(&mut self) -> anyhow::Result<()> {
        let dags = &self.dags;
        recovery::recover(&self.store, &self.job, &self.settings, |id| {
            dags.get(id).map(Arc::as_ref)
        })
        .await?;
        let paused: HashSet<String> = self.store.paused_dags().await?.into_iter().collect();
        for unpaused in self.paused.difference(&paused) {
            self.due.mark(unpaused);
        }
        self.paused = paused;
        self.housekept = Some(Instant::now());
        self.clean_history_when_due().await?;
        self.fold_tally_when_due().await?;
        Ok(())
    }

    /// Folds the tallies (store/tallies.rs) once a minute, whichever
    /// scheduler claims it.
    async fn fold_tally_when_due(&mut self) -> anyhow::Result<()> {
        if self
            .fold_checked
            .is_some_and(|at| at.elapsed() < FOLD_TALLY_EVERY)
        {
            return Ok(());
        }
        self.fold_checked = Some(Instant::now());
        let now = chrono::Utc::now();
        let due = now - chrono::TimeDelta::from_std(FOLD_TALLY_EVERY).unwrap_or_default();
        if self.store.claim_maintenance("tallies", now, due).await? {
            let rows = self.store.fold_tallies().await?;
            tracing::debug!("tallies: {rows} row(s) folded");
        }
        Ok(())
    }

    /// With `[history] keep`, starts a history clean in the background when one is due
    /// (an hour after the last, whichever scheduler did it) and none runs here.
    async fn clean_history_when_due(&mut self) -> anyhow::Result<()> {
        let Some(keep) = self.settings.history_keep else {
            return Ok(());
        };
        let looked = self
            .clean_checked
            .is_some_and(|at| at.elapsed() < CLEAN_CHECK_EVERY);
        let running = self.cleaning.as_ref().is_some_and(|c| !c.is_finished());
        if looked || running {
            return Ok(());
        }
        self.clean_checked = Some(Instant::now());
        let now = chrono::Utc::now();
        let due = now - chrono::TimeDelta::from_std(CLEAN_EVERY).unwrap_or_default();
        if !self
            .store
            .claim_maintenance("history_clean", now, due)
            .await?
        {
            return Ok(());
        }
        let cut = now - chrono::TimeDelta::from_std(keep).unwrap_or(chrono::TimeDelta::MAX);
        let request = crate::store::CleanRequest {
            cut,
            dag_id: None,
            keep_last: self.settings.history_keep_last,
        };
        let store = self.store.clone();
        self.cleaning = Some(tokio::spawn(async move {
            match crate::runs::clean_history(&store, &request, false, |_, _| {}).await {
                Ok(report) => tracing::info!(
                    "history clean: {} run(s), {} task tries, {} log file(s) older than {} removed",
                    report.cleaned.runs,
                    report.cleaned.task_tries,
                    report.log_files,
                    request.cut.format("%Y-%m-%d %H:%M:%S UTC")
                ),
                Err(e) => tracing::warn!("history clean failed (tried again in an hour): {e}"),
            }
        }));
        Ok(())
    }

    /// Works a run on its own tokio task until it ends, the scheduler stops, or its DAG is
    /// paused.
    fn drive(&self, current: Option<Arc<Dag>>, run: DagRunRow) -> Driver {
        let hold = CancellationToken::new();
        let engine = Engine::new(
            self.store.clone(),
            self.settings.clone(),
            self.job.clone(),
            self.versions.clone(),
            None,
        )
        .held_by(hold.clone());
        let (stop, wake) = (self.stop.clone(), self.wake.clone());
        let task = tokio::spawn(async move {
            match engine
                .execute(current.as_ref(), &run, RunMode::Shared, stop)
                .await
            {
                Ok(RunState::Running) => {}
                Ok(state) => tracing::info!("{} {}: {}", run.dag_id, run.run_id, state.as_str()),
                Err(e) => tracing::error!("{} {}: {e:#}", run.dag_id, run.run_id),
            }
            wake.notify_one();
        });
        Driver { task, hold }
    }
}

impl Scheduler {
    /// How many runs of `dag_id` may run at once: as its DAGs folder says, or, for a DAG
    /// whose file is gone, as its newest version said (None: it has no version either).
    async fn max_active_runs(&self, dag_id: &str) -> anyhow::Result<Option<u32>> {
        if let Some(dag) = self.dags.get(dag_id) {
            return Ok(Some(dag.max_active_runs));
        }
        let Some(newest) = self.store.newest_version(dag_id).await? else {
            return Ok(None);
        };
        match self
            .versions
            .resolve(&self.store, dag_id, newest, None)
            .await
        {
            Ok(version) => Ok(Some(version.dag.max_active_runs)),
            Err(e) => {
                tracing::warn!("a queued run of {dag_id} (its file is gone) cannot start: {e}");
                Ok(None)
            }
        }
    }
}

/// How long to sleep after a tick: a tick, or less when a run falls due sooner (a few
/// milliseconds after its due time, so that the clock has passed it on waking).
fn until_next_tick(next_due: Option<chrono::DateTime<chrono::Utc>>) -> Duration {
    let Some(due) = next_due else {
        return TICK;
    };
    let wait = (due - chrono::Utc::now() + chrono::TimeDelta::milliseconds(5))
        .to_std()
        .unwrap_or(Duration::ZERO);
    wait.min(TICK)
}

/// SQLite has no row locks for schedulers to share work with: one scheduler per file.
async fn refuse_second_sqlite_scheduler(store: &Store, settings: &Settings) -> anyhow::Result<()> {
    let hostname = gethostname::gethostname().to_string_lossy().into_owned();
    let cutoff = chrono::Utc::now() - settings.heartbeat_timeout;
    for other in store.running_jobs(Some("scheduler")).await? {
        if recovery::seems_dead(&other, &hostname, cutoff) {
            store.mark_job_dead(&other.job_id).await?;
            continue;
        }
        anyhow::bail!(
            "another scheduler ({}, pid {} on {}) is running on this SQLite database ({}); \
             SQLite supports one scheduler at a time: stop it, or use PostgreSQL \
             (UPDRAFT_DATABASE_URL=postgres://...) to run several",
            other.job_id,
            other.pid,
            other.hostname,
            settings.database_url_shown()
        );
    }
    Ok(())
}
