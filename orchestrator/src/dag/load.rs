//! Reading one DAG file: YAML → [`DagSpec`] → checks → [`Dag`]. Every problem is reported
//! as `file:line:col: message`, and all problems of a file are reported together.

use super::asset_trigger::{asset_uri, parse_schedule};
use super::ids::{IdKind, check_id};
use super::source::DagSource;
use super::spec::{DagSpec, DurationSpec, RetrySpec, TaskSpec};
use super::{DEFAULT_QUEUE, Dag, RetryPolicy, Schedule, Task, TriggerRule, graph};
use crate::alerts::{
    Callbacks, Deadline, DeadlineReference, DeadlineSpecs, Freshness, FreshnessSpec, check_actions,
};
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use indexmap::IndexMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use updraft_core::yaml_locations::{Locations, Position};

/// One problem in a DAG file, with where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct DagError {
    pub file: PathBuf,
    pub pos: Position,
    pub message: String,
}

impl fmt::Display for DagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.pos.line,
            self.pos.col,
            // A DAG file may hold a literal password that a message quotes.
            updraft_core::secrets::mask(&self.message)
        )
    }
}

impl std::error::Error for DagError {}

/// Airflow's defaults where a DAG says nothing.
const DEFAULT_MAX_ACTIVE_RUNS: u32 = 16;
const DEFAULT_MAX_ACTIVE_TASKS: u32 = 16;
const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(300);

/// Reads and validates a DAG file.
pub fn load_file(path: &Path) -> Result<Dag, Vec<DagError>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![DagError {
            file: path.to_path_buf(),
            pos: Position::START,
            message: format!("cannot read file: {e}"),
        }]
    })?;
    parse_dag(&text, path)
}

/// Parses and validates DAG YAML; `file` is only used in messages and as `fileloc`.
pub fn parse_dag(text: &str, file: &Path) -> Result<Dag, Vec<DagError>> {
    // Editors on Windows save UTF-8 with a byte-order mark; it is not part of the YAML.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut errors = Errors {
        file: file.to_path_buf(),
        locations: Locations::scan(text),
        list: Vec::new(),
    };
    if text.trim().is_empty() {
        errors.at(
            Position::START,
            "the file is empty; a DAG needs at least dag_id and tasks",
        );
        return Err(errors.list);
    }
    let spec: DagSpec = match read_spec(text) {
        Ok(spec) => spec,
        Err(e) => {
            let message = updraft_core::config_message::for_people(&strip_location(&e.to_string()));
            let pos = unknown_key_position(&errors.locations, &message)
                .or_else(|| {
                    e.location().map(|l| Position {
                        line: l.line(),
                        col: l.column(),
                    })
                })
                .unwrap_or(Position::START);
            errors.at(pos, message);
            return Err(errors.list);
        }
    };
    for (path, pos) in errors.locations.duplicates.clone() {
        errors.at(pos, format!("duplicate key `{path}`"));
    }
    let mut dag = build(spec, &mut errors, file);
    if let Some(dag) = &dag {
        let vars = super::run_vars::checking_vars(dag);
        for (task_id, task) in &dag.tasks {
            let (config, when) = (&task.config, task.when.as_deref());
            for (path, message) in crate::template::check_task(config, when, task_id, &vars) {
                errors.value(
                    &format!("tasks.{task_id}.{path}"),
                    format!("task `{task_id}`: {message}"),
                );
            }
        }
    }
    if let Some(dag) = &mut dag {
        let folder = file.parent().unwrap_or(Path::new("."));
        dag.source = DagSource::read(text, file, &dag.tasks, folder);
    }
    match dag {
        Some(dag) if errors.list.is_empty() => Ok(dag),
        _ => {
            errors.list.sort_by_key(|e| (e.pos.line, e.pos.col));
            Err(errors.list)
        }
    }
}

/// The YAML as a [`DagSpec`]; merge keys (`<<: *defaults`) are applied first when the
/// file has any (serde's position tracking is lost then, so only then).
fn read_spec(text: &str) -> Result<DagSpec, serde_yaml_ng::Error> {
    if !text.contains("<<") {
        return serde_yaml_ng::from_str(text);
    }
    let mut value: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)?;
    value.apply_merge()?;
    serde_yaml_ng::from_value(value)
}

struct Errors {
    file: PathBuf,
    locations: Locations,
    list: Vec<DagError>,
}

impl Errors {
    fn at(&mut self, pos: Position, message: impl Into<String>) {
        let error = DagError {
            file: self.file.clone(),
            pos,
            message: message.into(),
        };
        // A bad default_args value is found once per task; report it once.
        if !self.list.contains(&error) {
            self.list.push(error);
        }
    }

    /// Reports at the value found at `path` (or its nearest existing parent).
    fn value(&mut self, path: &str, message: impl Into<String>) {
        let pos = self.locations.nearest(path);
        self.at(pos, message);
    }

    /// Reports at the key at `path`.
    fn key(&mut self, path: &str, message: impl Into<String>) {
        let pos = self
            .locations
            .key(path)
            .unwrap_or_else(|| self.locations.nearest(path));
        self.at(pos, message);
    }
}

/// For "path: unknown field `x`", the position of that key (serde points at its map).
fn unknown_key_position(locations: &Locations, message: &str) -> Option<Position> {
    let (path, rest) = message.split_once(": unknown field `")?;
    let field = rest.split('`').next()?;
    locations.key(&format!("{path}.{field}"))
}

/// serde_yaml appends " at line L column C"; we print the location first instead.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

fn build(spec: DagSpec, errors: &mut Errors, file: &Path) -> Option<Dag> {
    if let Err(e) = check_id(IdKind::Dag, &spec.dag_id) {
        errors.value("dag_id", e);
    }
    let timezone: Tz = match spec.timezone.as_deref().unwrap_or("UTC").parse() {
        Ok(tz) => tz,
        Err(_) => {
            errors.value(
                "timezone",
                format!(
                    "unknown timezone `{}` (use an IANA name such as UTC or Europe/Amsterdam)",
                    spec.timezone.as_deref().unwrap_or_default()
                ),
            );
            chrono_tz::UTC
        }
    };
    let (schedule, assets) = match parse_schedule(spec.schedule.as_ref()) {
        Ok(parsed) => (parsed.time, parsed.assets),
        Err((at, e)) => {
            errors.value(&at, e);
            (Schedule::Manual, None)
        }
    };
    let start_date = date_field(errors, "start_date", spec.start_date.as_deref(), timezone);
    let end_date = date_field(errors, "end_date", spec.end_date.as_deref(), timezone);
    if !matches!(schedule, Schedule::Manual) && spec.start_date.is_none() {
        errors.value("schedule", "a scheduled DAG needs a start_date");
    }
    if let (Some(s), Some(e)) = (start_date, end_date)
        && e < s
    {
        errors.value("end_date", "end_date is before start_date");
    }
    let max_active_runs = positive(errors, "max_active_runs", spec.max_active_runs)
        .unwrap_or(DEFAULT_MAX_ACTIVE_RUNS);
    let max_active_tasks = positive(errors, "max_active_tasks", spec.max_active_tasks)
        .unwrap_or(DEFAULT_MAX_ACTIVE_TASKS);
    if spec.tasks.is_empty() {
        errors.key("tasks", "a DAG needs at least one task");
    }

    let callbacks = Callbacks {
        on_failure: spec.on_failure.clone(),
        on_success: spec.on_success.clone(),
        ..Callbacks::default()
    };
    for (event, actions) in [
        ("on_failure", &callbacks.on_failure),
        ("on_success", &callbacks.on_success),
    ] {
        for (at, problem) in check_actions(actions, event) {
            errors.value(&at, problem);
        }
    }
    let deadlines = deadlines(spec.deadline.as_ref(), errors);
    let freshness = freshness(&spec.freshness, errors);
    let mut tasks = IndexMap::new();
    for (task_id, task) in &spec.tasks {
        tasks.insert(
            task_id.clone(),
            build_task(&spec, task_id, task, errors, file),
        );
    }
    if !errors.list.is_empty() {
        return None;
    }
    let dag_folder = file.parent().unwrap_or(Path::new("."));
    let mut tasks = match super::dbt_tasks::expand(tasks, dag_folder) {
        Ok(tasks) => tasks,
        Err((at, message)) => {
            errors.value(&at, message);
            return None;
        }
    };

    let upstreams: IndexMap<String, Vec<String>> = tasks
        .iter()
        .map(|(id, t)| (id.clone(), t.upstream.clone()))
        .collect();
    let graph = match graph::build(&upstreams) {
        Ok(g) => g,
        Err(mut cycle) => {
            // Start the cycle at the task that comes first in the file, for a stable message.
            cycle.pop();
            if let Some(first) = (0..cycle.len()).min_by_key(|i| tasks.get_index_of(&cycle[*i])) {
                cycle.rotate_left(first);
            }
            cycle.push(cycle[0].clone());
            errors.key(
                &format!("tasks.{}.depends_on", cycle[0]),
                format!("dependency cycle: {}", cycle.join(" -> ")),
            );
            return None;
        }
    };
    for (id, ups) in &upstreams {
        for up in ups {
            if let Some(t) = tasks.get_mut(up) {
                t.downstream.push(id.clone());
            }
        }
    }
    let mut dag = Dag {
        dag_id: spec.dag_id,
        display_name: spec.display_name,
        owner: spec.owner,
        description: spec.description,
        schedule,
        assets,
        timezone,
        start_date,
        end_date,
        catchup: spec.catchup,
        max_active_runs,
        max_active_tasks,
        params: spec.params,
        tags: spec.tags,
        callbacks,
        deadlines,
        freshness,
        tasks,
        graph: graph.graph,
        topo_order: graph.order,
        fileloc: std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf()),
        source: DagSource::default(),
    };
    output_reads(&mut dag, errors);
    errors.list.is_empty().then_some(dag)
}

/// A task's own setting wins over `default_args`.
/// One task of the DAG, its problems added to `errors`.
fn build_task(
    spec: &DagSpec,
    task_id: &str,
    task: &TaskSpec,
    errors: &mut Errors,
    file: &Path,
) -> Task {
    let path = format!("tasks.{task_id}");
    if let Err(e) = check_id(IdKind::Task, task_id) {
        errors.key(&path, e);
    }
    let retry = merge(&spec.default_args, &task.retry);
    let trigger_rule = match retry
        .trigger_rule
        .as_deref()
        .unwrap_or("all_success")
        .parse()
    {
        Ok(rule) => rule,
        Err(e) => {
            errors.value(&format!("{path}.trigger_rule"), e);
            TriggerRule::AllSuccess
        }
    };
    check_depends_on(spec, task_id, task, &path, errors);
    check_with(task_id, task, &path, errors, file);
    let callbacks = task_callbacks(&retry, &path, errors);
    let policy = RetryPolicy {
        retries: retry.retries.unwrap_or(0),
        delay: duration(
            errors,
            &format!("{path}.retry_delay"),
            retry.retry_delay.as_ref(),
        )
        .unwrap_or(DEFAULT_RETRY_DELAY),
        exponential_backoff: retry.retry_exponential_backoff.unwrap_or(false),
        max_delay: duration(
            errors,
            &format!("{path}.max_retry_delay"),
            retry.max_retry_delay.as_ref(),
        ),
    };
    let execution_timeout = duration(
        errors,
        &format!("{path}.execution_timeout"),
        retry.execution_timeout.as_ref(),
    );
    let mut declared = |key: &str, list: &[String]| -> Vec<String> {
        let mut uris = Vec::new();
        for (i, text) in list.iter().enumerate() {
            match asset_uri(text) {
                Ok(uri) => uris.push(uri),
                Err(e) => errors.value(&format!("{path}.{key}.{i}"), e),
            }
        }
        uris
    };
    let outlets = declared("outlets", &task.outlets);
    let inlets = declared("inlets", &task.inlets);
    let map = mapping(task, &path, errors);
    let queue = retry
        .queue
        .clone()
        .unwrap_or_else(|| DEFAULT_QUEUE.to_string());
    if let Err(e) = check_id(IdKind::Queue, &queue) {
        errors.value(&format!("{path}.queue"), e);
    }
    Task {
        task_id: task_id.to_string(),
        task_type: task.task_type.clone(),
        description: task.description.clone(),
        upstream: task.depends_on.clone(),
        downstream: Vec::new(),
        trigger_rule,
        retry: policy,
        execution_timeout,
        when: task.when.clone(),
        config: task.config.clone(),
        callbacks,
        outlets,
        inlets,
        queue,
        reads_outputs: Vec::new(),
        map,
    }
}

/// A task's `for_each:` with its limits: a list, or a template (checked when it renders).
fn mapping(task: &TaskSpec, path: &str, errors: &mut Errors) -> Option<super::Mapping> {
    let Some(items) = &task.for_each else {
        for (key, set) in [
            ("max_active", task.max_active.is_some()),
            ("max_items", task.max_items.is_some()),
        ] {
            if set {
                errors.value(
                    &format!("{path}.{key}"),
                    format!("`{key}` limits a mapped task: it needs `for_each`"),
                );
            }
        }
        return None;
    };
    let usable = match items {
        serde_json::Value::Array(_) => true,
        serde_json::Value::String(text) => text.contains("{{"),
        _ => false,
    };
    if !usable {
        errors.value(
            &format!("{path}.for_each"),
            "`for_each` must be a list, or a template that renders to a JSON list              (\"{{ outputs.list_files.files }}\")",
        );
    }
    for (key, value) in [
        ("max_active", task.max_active),
        ("max_items", task.max_items),
    ] {
        if value == Some(0) {
            errors.value(
                &format!("{path}.{key}"),
                format!("`{key}` must be at least 1"),
            );
        }
    }
    Some(super::Mapping {
        items: items.clone(),
        max_active: task.max_active,
        max_items: task.max_items.unwrap_or(super::DEFAULT_MAX_ITEMS),
    })
}

/// Each task's templates read the outputs of tasks upstream of it only (directly or
/// through others); records which (all of its upstreams when a read names none).
fn output_reads(dag: &mut Dag, errors: &mut Errors) {
    let mut recorded = Vec::new();
    for (task_id, task) in &dag.tasks {
        let items = task.map.as_ref().map(|m| &m.items);
        let found = super::output_reads::reads(&task.config, task.when.as_deref(), items);
        if found.is_empty() {
            continue;
        }
        let above = dag.upstream_of(task_id);
        let mut reads = std::collections::BTreeSet::new();
        for (key, named) in found {
            let at = format!("tasks.{task_id}.{key}");
            match named {
                None => reads.extend(above.iter().cloned()),
                Some(up) if above.contains(&up) => {
                    reads.insert(up);
                }
                Some(up) if dag.tasks.contains_key(&up) => errors.value(
                    &at,
                    format!(
                        "task `{task_id}` reads the outputs of `{up}`, which is not upstream of it: \
                         add `{up}` to its depends_on (or to a task's in between)"
                    ),
                ),
                Some(up) => errors.value(
                    &at,
                    format!(
                        "task `{task_id}` reads the outputs of `{up}`, which is not a task of this DAG"
                    ),
                ),
            }
        }
        recorded.push((task_id.clone(), reads.into_iter().collect()));
    }
    for (task_id, reads) in recorded {
        if let Some(task) = dag.tasks.get_mut(&task_id) {
            task.reads_outputs = reads;
        }
    }
}

/// Each upstream of a task is a task of the DAG, not the task itself, and listed once.
fn check_depends_on(
    spec: &DagSpec,
    task_id: &str,
    task: &TaskSpec,
    path: &str,
    errors: &mut Errors,
) {
    let mut seen = std::collections::HashSet::new();
    for (i, up) in task.depends_on.iter().enumerate() {
        let at = format!("{path}.depends_on.{i}");
        if !spec.tasks.contains_key(up) {
            errors.value(
                &at,
                format!("task `{task_id}` depends on `{up}`, which is not a task of this DAG"),
            );
        } else if up == task_id {
            errors.value(&at, format!("task `{task_id}` depends on itself"));
        } else if !seen.insert(up) {
            errors.value(
                &at,
                format!("task `{task_id}` lists `{up}` twice in depends_on"),
            );
        }
    }
}

/// The task's `with:` block, as its type checks it.
fn check_with(task_id: &str, task: &TaskSpec, path: &str, errors: &mut Errors, file: &Path) {
    let dag_folder = file.parent().unwrap_or(Path::new("."));
    if let Err(e) = updraft_tasks::validate(&task.task_type, &task.config, dag_folder) {
        let message = e.to_string();
        let at = match updraft_tasks::task_type(&task.task_type) {
            Err(_) => format!("{path}.type"),
            // An error in a file the task names says where in that file; this points
            // at the file's name.
            Ok(t) => match named_file_key(t.file_keys(), &task.config, &message) {
                Some(key) => format!("{path}.with.{key}"),
                None => config_error_path(path, &message),
            },
        };
        errors.value(&at, format!("task `{task_id}`: {e}"));
    }
}

fn merge(defaults: &RetrySpec, own: &RetrySpec) -> RetrySpec {
    RetrySpec {
        retries: own.retries.or(defaults.retries),
        retry_delay: own
            .retry_delay
            .clone()
            .or_else(|| defaults.retry_delay.clone()),
        retry_exponential_backoff: own
            .retry_exponential_backoff
            .or(defaults.retry_exponential_backoff),
        max_retry_delay: own
            .max_retry_delay
            .clone()
            .or_else(|| defaults.max_retry_delay.clone()),
        execution_timeout: own
            .execution_timeout
            .clone()
            .or_else(|| defaults.execution_timeout.clone()),
        trigger_rule: own
            .trigger_rule
            .clone()
            .or_else(|| defaults.trigger_rule.clone()),
        queue: own.queue.clone().or_else(|| defaults.queue.clone()),
        on_failure: own
            .on_failure
            .clone()
            .or_else(|| defaults.on_failure.clone()),
        on_retry: own.on_retry.clone().or_else(|| defaults.on_retry.clone()),
        on_success: own
            .on_success
            .clone()
            .or_else(|| defaults.on_success.clone()),
        on_skipped: own
            .on_skipped
            .clone()
            .or_else(|| defaults.on_skipped.clone()),
        on_test_failure: own
            .on_test_failure
            .clone()
            .or_else(|| defaults.on_test_failure.clone()),
        on_test_warn: own
            .on_test_warn
            .clone()
            .or_else(|| defaults.on_test_warn.clone()),
    }
}

/// The `freshness:` entries, each checked.
fn freshness(specs: &[FreshnessSpec], errors: &mut Errors) -> Vec<Freshness> {
    let mut found = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let path = format!("freshness.{i}");
        let uri = asset_uri(&spec.asset).map_err(|e| errors.value(&format!("{path}.asset"), e));
        let max_age = duration(errors, &format!("{path}.max_age"), Some(&spec.max_age));
        if spec.on_stale.is_empty() {
            errors.key(
                &path,
                "a freshness rule needs `on_stale:` (what to do when the asset is stale)",
            );
        }
        for (at, problem) in check_actions(&spec.on_stale, &format!("{path}.on_stale")) {
            errors.value(&at, problem);
        }
        if let (Ok(uri), Some(max_age)) = (uri, max_age) {
            found.push(Freshness {
                uri,
                max_age,
                on_stale: spec.on_stale.clone(),
            });
        }
    }
    found
}

/// The DAG's deadlines, their problems added to `errors`.
fn deadlines(specs: Option<&DeadlineSpecs>, errors: &mut Errors) -> Vec<Deadline> {
    let Some(specs) = specs else {
        return Vec::new();
    };
    let single = matches!(specs, DeadlineSpecs::One(_));
    let mut found = Vec::new();
    for (i, spec) in specs.list().into_iter().enumerate() {
        let path = if single {
            "deadline".to_string()
        } else {
            format!("deadline.{i}")
        };
        let reference = DeadlineReference::parse(&spec.reference);
        if let Err(e) = &reference {
            errors.value(&format!("{path}.reference"), e.to_string());
        }
        let interval = duration(errors, &format!("{path}.interval"), Some(&spec.interval));
        if spec.on_miss.is_empty() {
            errors.key(
                &path,
                "a deadline needs `on_miss:` (what to do when a run is late)",
            );
        }
        for (at, problem) in check_actions(&spec.on_miss, &format!("{path}.on_miss")) {
            errors.value(&at, problem);
        }
        if let (Ok(reference), Some(interval)) = (reference, interval) {
            found.push(Deadline {
                reference,
                interval,
                on_miss: spec.on_miss.clone(),
            });
        }
    }
    found
}

/// The callbacks of `retry` (merged settings), their problems added to `errors` at
/// `path` (`tasks.load`).
fn task_callbacks(retry: &RetrySpec, path: &str, errors: &mut Errors) -> Callbacks {
    let callbacks = Callbacks {
        on_failure: retry.on_failure.clone().unwrap_or_default(),
        on_retry: retry.on_retry.clone().unwrap_or_default(),
        on_success: retry.on_success.clone().unwrap_or_default(),
        on_skipped: retry.on_skipped.clone().unwrap_or_default(),
        on_test_failure: retry.on_test_failure.clone().unwrap_or_default(),
        on_test_warn: retry.on_test_warn.clone().unwrap_or_default(),
    };
    for (event, actions) in [
        ("on_failure", &callbacks.on_failure),
        ("on_retry", &callbacks.on_retry),
        ("on_success", &callbacks.on_success),
        ("on_skipped", &callbacks.on_skipped),
        ("on_test_failure", &callbacks.on_test_failure),
        ("on_test_warn", &callbacks.on_test_warn),
    ] {
        for (at, problem) in check_actions(actions, &format!("{path}.{event}")) {
            errors.value(&at, problem);
        }
    }
    callbacks
}

/// Points a task config error at the field serde names (`unknown field `x``, `missing field`).
fn config_error_path(task_path: &str, message: &str) -> String {
    let field = message
        .split('`')
        .nth(1)
        .filter(|_| message.contains("unknown field"));
    match field {
        Some(f) => format!("{task_path}.with.{f}"),
        None => format!("{task_path}.with"),
    }
}

fn positive(errors: &mut Errors, key: &str, value: Option<u32>) -> Option<u32> {
    match value {
        Some(0) => {
            errors.value(key, format!("{key} must be at least 1"));
            None
        }
        v => v,
    }
}

fn duration(errors: &mut Errors, path: &str, spec: Option<&DurationSpec>) -> Option<Duration> {
    match spec? {
        DurationSpec::Seconds(s) => Some(Duration::from_secs(*s)),
        DurationSpec::Text(text) => match updraft_core::parse_duration(text) {
            Ok(d) => Some(d),
            Err(e) => {
                // A key inherited from default_args is reported there.
                let key = path.rsplit('.').next().unwrap_or(path);
                let at = if errors.locations.value(path).is_some() {
                    path.to_string()
                } else {
                    format!("default_args.{key}")
                };
                errors.value(&at, e);
                None
            }
        },
    }
}

/// Parses a date (`2026-01-01`) or an ISO datetime, in the DAG's timezone when it has no offset.
pub fn parse_datetime(text: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Ok(dt.with_timezone(&Utc));
    }
    let naive = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S"))
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M"))
        .map_err(|_| format!("bad date `{text}`: use 2026-01-01 or 2026-01-01T02:00:00[+01:00]"))?;
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|dt| dt.with_timezone(&Utc))
        .ok_or_else(|| format!("`{text}` does not exist in {tz} (a daylight-saving gap)"))
}

fn date_field(errors: &mut Errors, key: &str, text: Option<&str>, tz: Tz) -> Option<DateTime<Utc>> {
    match parse_datetime(text?, tz) {
        Ok(dt) => Some(dt),
        Err(e) => {
            errors.value(key, e);
            None
        }
    }
}

/// The `with:` key among `keys` whose file an error message is about, if any.
fn named_file_key<'k>(
    keys: &[&'k str],
    config: &serde_json::Value,
    message: &str,
) -> Option<&'k str> {
    if message.contains("unknown field") {
        return None;
    }
    keys.iter().copied().find(|key| {
        config
            .get(*key)
            .and_then(|v| v.as_str())
            .is_some_and(|file| !file.is_empty() && message.contains(file))
    })
}
