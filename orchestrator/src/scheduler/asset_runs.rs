//! Creating the runs asset events call for: the queued events of each DAG scheduled on
//! assets become one run (`mode: all` once every listed asset has one, `any` at once),
//! or one run per partition touched (`per_partition: true`). Each run consumes its queue
//! rows in the transaction that creates it, so with several schedulers it is created
//! once; events of a paused DAG wait in the queue.

use crate::dag::{AssetMode, AssetTrigger, Dag};
use crate::store::{NewRun, QueuedEvent, RunType, Store};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};

/// A run to create and the queue rows it consumes.
#[derive(Debug)]
pub struct PlannedRun<'a> {
    /// The partition it is for (`column=value[/...]`), with `per_partition`.
    pub partition: Option<&'a str>,
    pub events: Vec<&'a QueuedEvent>,
}

/// The runs the queued `events` of one DAG call for under `trigger`, oldest news first.
pub fn plan<'a>(trigger: &AssetTrigger, events: &[&'a QueuedEvent]) -> Vec<PlannedRun<'a>> {
    let ready = |group: &[&QueuedEvent]| match trigger.mode {
        AssetMode::Any => !group.is_empty(),
        AssetMode::All => trigger
            .uris
            .iter()
            .all(|uri| group.iter().any(|e| &e.uri == uri)),
    };
    // Events of assets the DAG no longer names are left for the next schedule sync.
    let events: Vec<&QueuedEvent> = events
        .iter()
        .copied()
        .filter(|e| trigger.uris.contains(&e.uri))
        .collect();
    if !trigger.per_partition {
        return if ready(&events) {
            vec![PlannedRun {
                partition: None,
                events,
            }]
        } else {
            Vec::new()
        };
    }
    let mut by_partition: BTreeMap<&str, Vec<&QueuedEvent>> = BTreeMap::new();
    for event in &events {
        by_partition
            .entry(event.partition_key.as_str())
            .or_default()
            .push(event);
    }
    let mut runs: Vec<PlannedRun> = by_partition
        .into_iter()
        .filter(|(_, group)| ready(group))
        .map(|(key, events)| PlannedRun {
            partition: Some(key),
            events,
        })
        .collect();
    runs.sort_by_key(|run| run.events.first().map(|e| e.queue_id));
    runs
}

/// Creates the asset-triggered runs of the DAGs in `dags` (those not paused) that their
/// queued events call for; returns their (dag_id, run_id).
pub async fn create_asset_runs(
    store: &Store,
    dags: &[&Dag],
    paused: &HashSet<String>,
) -> anyhow::Result<Vec<(String, String)>> {
    if dags.iter().all(|d| d.assets.is_none()) {
        return Ok(Vec::new());
    }
    let queued = store.queued_asset_events().await?;
    let mut created = Vec::new();
    for dag in dags {
        let Some(trigger) = &dag.assets else {
            continue;
        };
        if paused.contains(&dag.dag_id) {
            continue;
        }
        let events: Vec<&QueuedEvent> = queued
            .iter()
            .filter(|q| q.target_dag_id == dag.dag_id)
            .collect();
        if events.is_empty() {
            continue;
        }
        let now = Utc::now();
        for (i, planned) in plan(trigger, &events).into_iter().enumerate() {
            // Distinct logical dates for the runs made together (they are unique per DAG).
            let at = now + TimeDelta::microseconds(i64::try_from(i).unwrap_or(i64::MAX));
            let run_id = run_id(at, planned.partition);
            let conf = conf(&planned);
            let run = NewRun {
                dag_id: &dag.dag_id,
                run_id: &run_id,
                run_type: RunType::AssetTriggered,
                logical_date: at,
                data_interval: (at, at),
                conf: &conf,
                job_id: None,
                tasks: dag.task_rows(),
                note: None,
                deadlines: &dag.deadlines,
                triggered_by: None,
            };
            if store
                .create_asset_triggered_run(&run, &planned.events)
                .await?
                .is_some()
            {
                tracing::info!(
                    "created {} {run_id} for {} asset event(s)",
                    dag.dag_id,
                    planned.events.len()
                );
                created.push((dag.dag_id.clone(), run_id));
            }
        }
    }
    Ok(created)
}

/// `asset_triggered__<time>` (Airflow's form), and the partition's values for a
/// per-partition run, with what a run id may not hold replaced.
fn run_id(at: DateTime<Utc>, partition: Option<&str>) -> String {
    let time = at.to_rfc3339_opts(SecondsFormat::Micros, false);
    match partition {
        Some(key) if !key.is_empty() => {
            let key: String = key
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "_.~:+-".contains(c) {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
            format!("asset_triggered__{time}__{key}")
        }
        _ => format!("asset_triggered__{time}"),
    }
}

/// The run's conf: the events that triggered it (`{{ triggering_asset_events }}`), and
/// its partition as a mapping (`{{ partition.event_date }}`).
fn conf(planned: &PlannedRun) -> Value {
    let mut seen = HashSet::new();
    let events: Vec<Value> = planned
        .events
        .iter()
        .filter(|e| seen.insert(e.event_id))
        .map(|e| {
            json!({
                "id": e.event_id,
                "uri": e.uri,
                "version": e.version,
                "rows": e.row_count,
                "partitions": serde_json::from_str::<Value>(&e.partitions).unwrap_or(Value::Null),
                "source_dag_id": e.source_dag_id,
                "source_run_id": e.source_run_id,
                "source_task_id": e.source_task_id,
                "timestamp": e.created_at,
                "extra": serde_json::from_str::<Value>(&e.extra).unwrap_or(Value::Null),
            })
        })
        .collect();
    let mut conf = json!({ "triggering_asset_events": events });
    if let Some(key) = planned.partition.filter(|k| !k.is_empty()) {
        conf["partition"] = partition_values(key);
    }
    conf
}

/// `event_date=2026-01-02/region=eu` as `{"event_date": "2026-01-02", "region": "eu"}`.
fn partition_values(key: &str) -> Value {
    let values: serde_json::Map<String, Value> = key
        .split('/')
        .filter_map(|part| part.split_once('='))
        .map(|(column, value)| (column.to_string(), Value::String(value.to_string())))
        .collect();
    Value::Object(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(queue_id: i64, event_id: i64, uri: &str, partition: &str) -> QueuedEvent {
        QueuedEvent {
            queue_id,
            target_dag_id: "gold".into(),
            partition_key: partition.into(),
            event_id,
            uri: uri.into(),
            version: Some(event_id),
            row_count: None,
            partitions: "[]".into(),
            source_dag_id: None,
            source_run_id: None,
            source_task_id: None,
            created_at: Utc::now(),
            extra: "{}".into(),
        }
    }

    fn trigger(mode: AssetMode, per_partition: bool) -> AssetTrigger {
        AssetTrigger {
            uris: vec!["delta://lake/a".into(), "delta://lake/b".into()],
            mode,
            per_partition,
        }
    }

    #[test]
    fn all_waits_for_every_asset_and_any_does_not() {
        let a = event(1, 1, "delta://lake/a", "");
        let a2 = event(2, 2, "delta://lake/a", "");
        let b = event(3, 3, "delta://lake/b", "");
        assert!(plan(&trigger(AssetMode::All, false), &[&a, &a2]).is_empty());
        let runs = plan(&trigger(AssetMode::All, false), &[&a, &a2, &b]);
        assert_eq!(runs.len(), 1, "repeated events collapse into one run");
        assert_eq!(runs[0].events.len(), 3);
        let runs = plan(&trigger(AssetMode::Any, false), &[&a, &a2]);
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].events.len(), 2);
    }

    #[test]
    fn per_partition_gives_a_run_per_partition_touched() {
        let a1 = event(1, 1, "delta://lake/a", "d=1");
        let a2 = event(2, 1, "delta://lake/a", "d=2");
        let b1 = event(3, 2, "delta://lake/b", "d=1");
        let any = plan(&trigger(AssetMode::Any, true), &[&a1, &a2, &b1]);
        let parts: Vec<_> = any.iter().map(|r| r.partition).collect();
        assert_eq!(parts, [Some("d=1"), Some("d=2")]);
        assert_eq!(any[0].events.len(), 2);
        let all = plan(&trigger(AssetMode::All, true), &[&a1, &a2, &b1]);
        assert_eq!(all.len(), 1, "d=2 waits for b");
        assert_eq!(all[0].partition, Some("d=1"));
        assert_eq!(
            conf(&all[0])["partition"],
            json!({"d": "1"}),
            "the run's partition as a mapping"
        );
        assert_eq!(
            conf(&all[0])["triggering_asset_events"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
    }

    #[test]
    fn run_ids_hold_only_run_id_characters() {
        let at = DateTime::parse_from_rfc3339("2026-12-06T10:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            run_id(at, Some("event_date=2026-01-02/region=eu west")),
            "asset_triggered__2026-12-06T10:00:00.000000+00:00__event_date-2026-01-02-region-eu-west"
        );
        assert_eq!(
            run_id(at, None),
            "asset_triggered__2026-12-06T10:00:00.000000+00:00"
        );
    }
}
