//! A process's view of the DAGs folder (the scheduler's, the web server's): re-read whenever a DAG file or a file its
//! tasks name is added, changed or removed, so DAGs change without a restart; a broken
//! file is reported once per change and the other DAGs keep running. Changes are noticed
//! through the file system's events (inotify), so a folder of 10,000 unchanged files costs
//! nothing; a slow full rescan catches what events miss (network file systems).

use super::{Dag, DagError, DagFolder, dag_files};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// What identifies a version of a file without reading it.
type Stamp = (Option<SystemTime>, u64);

/// How often the files are looked at again without an event: rarely when events come,
/// often when the file system has none to give.
const RESCAN_WITH_EVENTS: Duration = Duration::from_secs(30);
const RESCAN_WITHOUT_EVENTS: Duration = Duration::from_secs(2);

/// How a process came to read a DAG file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The first time this process reads it (a start, a one-shot command).
    First,
    /// This process saw the file change since it last read it.
    Changed,
}

/// The DAGs of a folder, kept current.
pub struct DagFiles {
    dir: PathBuf,
    stamps: BTreeMap<PathBuf, Stamp>,
    dags: HashMap<String, Arc<Dag>>,
    /// Every DAG id this process has loaded (a DAG loaded again after that was seen
    /// changing).
    seen: HashSet<String>,
    /// Why the files that did not load did not.
    errors: Vec<DagError>,
    /// Whether the folder was missing at the last look (reported once).
    missing: bool,
    /// File-system events of the folders the files are in (None: not available here).
    watcher: Option<Watcher>,
    /// When the files were last looked at.
    scanned: Option<Instant>,
    /// The ids of DAGs whose file went away, until [`DagFiles::take_removed`].
    removed: Vec<String>,
}

impl DagFiles {
    /// Watches `dir` (nothing is loaded until the first [`DagFiles::refresh`]).
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            stamps: BTreeMap::new(),
            dags: HashMap::new(),
            seen: HashSet::new(),
            errors: Vec::new(),
            missing: false,
            watcher: Watcher::new(),
            scanned: None,
            removed: Vec::new(),
        }
    }

    /// The ids of the DAGs whose file went away since the last call.
    pub fn take_removed(&mut self) -> Vec<String> {
        std::mem::take(&mut self.removed)
    }

    /// Reloads the folder if any DAG file changed; returns the DAGs that are new or
    /// changed since the last refresh, each with whether this process saw it before.
    pub fn refresh(&mut self) -> Vec<(Arc<Dag>, Seen)> {
        let watched = self
            .watcher
            .as_ref()
            .is_some_and(|w| w.folders.contains(&self.dir));
        let every = if watched {
            RESCAN_WITH_EVENTS
        } else {
            RESCAN_WITHOUT_EVENTS
        };
        let events = self.watcher.as_mut().is_some_and(Watcher::changed);
        if !events && self.scanned.is_some_and(|at| at.elapsed() < every) {
            return Vec::new();
        }
        self.scanned = Some(Instant::now());
        let named: Vec<PathBuf> = self
            .dags
            .values()
            .flat_map(|d| d.source.files.iter().map(|f| f.location.clone()))
            .collect();
        let stamps = match scan(&self.dir, &named) {
            Ok(stamps) => {
                self.missing = false;
                stamps
            }
            Err(e) => {
                if !self.missing {
                    tracing::error!("cannot read the DAGs folder {}: {e}", self.dir.display());
                    self.missing = true;
                }
                BTreeMap::new()
            }
        };
        if stamps == self.stamps {
            return Vec::new();
        }
        let files: Vec<PathBuf> = stamps
            .keys()
            .filter(|p| p.parent() == Some(self.dir.as_path()))
            .cloned()
            .collect();
        let folder = DagFolder::load_files(&files);
        for e in &folder.errors {
            tracing::error!("{e}");
        }
        let mut changed = Vec::new();
        let mut dags = HashMap::new();
        for dag in folder.dags {
            // Saved again unchanged (or only its comments changed): the same DAG.
            let dag = match self.dags.get(&dag.dag_id) {
                Some(old) if old.source.hash == dag.source.hash => old.clone(),
                _ => {
                    tracing::info!("loaded DAG {} from {}", dag.dag_id, dag.fileloc.display());
                    let seen = if self.seen.insert(dag.dag_id.clone()) {
                        Seen::First
                    } else {
                        Seen::Changed
                    };
                    let dag = Arc::new(dag);
                    changed.push((dag.clone(), seen));
                    dag
                }
            };
            dags.insert(dag.dag_id.clone(), dag);
        }
        for gone in self.dags.keys().filter(|id| !dags.contains_key(*id)) {
            tracing::warn!(
                "DAG {gone} is no longer in {}: it gets no new runs",
                self.dir.display()
            );
            self.removed.push(gone.clone());
        }
        if let Some(watcher) = &mut self.watcher {
            watcher.watch(&self.dir);
            for dag in dags.values() {
                for file in &dag.source.files {
                    if let Some(dir) = file.location.parent() {
                        watcher.watch(dir);
                    }
                }
            }
        }
        self.stamps = stamps;
        self.dags = dags;
        self.errors = folder.errors;
        changed
    }

    /// The DAG with this id, if its file loads.
    pub fn get(&self, dag_id: &str) -> Option<&Arc<Dag>> {
        self.dags.get(dag_id)
    }

    /// Every loaded DAG.
    pub fn all(&self) -> impl Iterator<Item = &Arc<Dag>> {
        self.dags.values()
    }

    /// The errors of the files that did not load, as of the last refresh.
    pub fn errors(&self) -> &[DagError] {
        &self.errors
    }
}

/// The stamps of the DAG files in `dir` and of the `named` files their tasks read.
fn scan(dir: &Path, named: &[PathBuf]) -> std::io::Result<BTreeMap<PathBuf, Stamp>> {
    let mut stamps = BTreeMap::new();
    for path in dag_files(dir)?.into_iter().chain(named.iter().cloned()) {
        // A file removed between the listing and here is simply gone; it must not make
        // the whole folder look unreadable (which would drop every DAG for a tick).
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        stamps.insert(path, (meta.modified().ok(), meta.len()));
    }
    Ok(stamps)
}

/// inotify on the folders that hold DAG files and the files they name.
struct Watcher {
    inotify: nix::sys::inotify::Inotify,
    folders: HashSet<PathBuf>,
}

impl Watcher {
    /// A watcher, if this system gives file events.
    fn new() -> Option<Self> {
        use nix::sys::inotify::{InitFlags, Inotify};
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).ok()?;
        Some(Self {
            inotify,
            folders: HashSet::new(),
        })
    }

    /// Watches a folder (once) for files created, written, moved or removed.
    fn watch(&mut self, folder: &Path) {
        use nix::sys::inotify::AddWatchFlags as F;
        if self.folders.contains(folder) {
            return;
        }
        let flags = F::IN_CREATE
            | F::IN_DELETE
            | F::IN_MODIFY
            | F::IN_CLOSE_WRITE
            | F::IN_MOVED_FROM
            | F::IN_MOVED_TO
            | F::IN_ATTRIB
            | F::IN_DELETE_SELF
            | F::IN_MOVE_SELF;
        if self.inotify.add_watch(folder, flags).is_ok() {
            self.folders.insert(folder.to_path_buf());
        }
    }

    /// Whether anything happened since the last look (an error counts as yes).
    fn changed(&mut self) -> bool {
        let mut any = false;
        loop {
            match self.inotify.read_events() {
                Ok(events) if events.is_empty() => return any,
                Ok(events) => {
                    // A watched folder removed or moved away is watched again when seen.
                    use nix::sys::inotify::AddWatchFlags as F;
                    if events.iter().any(|e| {
                        e.mask
                            .intersects(F::IN_DELETE_SELF | F::IN_MOVE_SELF | F::IN_IGNORED)
                    }) {
                        self.folders.clear();
                    }
                    any = true;
                }
                Err(nix::errno::Errno::EAGAIN) => return any,
                Err(_) => return true,
            }
        }
    }
}
