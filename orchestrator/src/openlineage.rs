//! OpenLineage run events of attempts: `START` when an attempt starts, `COMPLETE` or
//! `FAIL` when it ends, with the datasets it read and wrote (from its asset events: the
//! Delta version, rows written, the table's schema) and a parent facet naming its DAG
//! run. Each is a callback row (action `openlineage`) recorded like an alert message and
//! sent by a scheduler's dispatcher in the background: retried, never failing a task.

use crate::alerts::{Action, AlertEvent, NewCallback};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use updraft_core::report::{AssetAccess, AssetEvent, Report};

/// Who made the events, as OpenLineage's `producer` names it.
const PRODUCER: &str = concat!(
    "https://github.com/updraft-dev/updraft/tree/v",
    env!("CARGO_PKG_VERSION")
);
const SPEC: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
const PARENT: &str =
    "https://openlineage.io/spec/facets/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet";
const ERROR: &str = "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet";
const SCHEMA: &str =
    "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet";
const VERSION: &str = "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet";
const OUTPUT_STATISTICS: &str = "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet";
const JOB_TYPE: &str =
    "https://openlineage.io/spec/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet";

/// How an attempt stands in an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Start,
    Complete,
    Fail,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Start => "START",
            EventType::Complete => "COMPLETE",
            EventType::Fail => "FAIL",
        }
    }
}

/// One attempt, as its events name it.
#[derive(Debug, Clone, Copy)]
pub struct AttemptKey<'a> {
    pub dag_id: &'a str,
    pub run_id: &'a str,
    pub task_id: &'a str,
    /// Which instance of a mapped task (-1: not mapped).
    pub map_index: i32,
    pub try_number: i64,
}

/// A dataset's columns and their types, by asset URI (what the engine could read of
/// the tables the attempt touched).
pub type Schemas = std::collections::HashMap<String, Vec<(String, String)>>;

/// The callback that sends the event of `attempt` in `namespace`.
pub fn callback(
    namespace: &str,
    attempt: AttemptKey<'_>,
    event: EventType,
    at: DateTime<Utc>,
    (reports, schemas, error): (&[Report], &Schemas, Option<&str>),
) -> NewCallback {
    let body = run_event(namespace, attempt, event, at, (reports, schemas, error));
    let kind = match event {
        EventType::Start => AlertEvent::LineageStart,
        _ => AlertEvent::LineageEnd,
    };
    NewCallback {
        dag_id: attempt.dag_id.to_string(),
        run_id: attempt.run_id.to_string(),
        task_id: attempt.task_id.to_string(),
        try_number: attempt.try_number,
        map_index: attempt.map_index,
        event: kind,
        action_index: 0,
        action: Action::OpenLineage {},
        facts: body,
    }
}

/// The run event itself.
pub fn run_event(
    namespace: &str,
    attempt: AttemptKey<'_>,
    event: EventType,
    at: DateTime<Utc>,
    (reports, schemas, error): (&[Report], &Schemas, Option<&str>),
) -> Value {
    let mut key = format!(
        "{}\0{}\0{}\0{}",
        attempt.dag_id, attempt.run_id, attempt.task_id, attempt.try_number
    );
    if attempt.map_index >= 0 {
        key.push_str(&format!("\0{}", attempt.map_index));
    }
    let run_id = uuid_of(&key);
    let dag_run_id = uuid_of(&format!("{}\0{}", attempt.dag_id, attempt.run_id));
    let mut run_facets = json!({
        "parent": {
            "_producer": PRODUCER,
            "_schemaURL": PARENT,
            "run": {"runId": dag_run_id},
            "job": {"namespace": namespace, "name": attempt.dag_id},
        }
    });
    if let (EventType::Fail, Some(message)) = (event, error) {
        run_facets["errorMessage"] = json!({
            "_producer": PRODUCER,
            "_schemaURL": ERROR,
            "message": message,
            "programmingLanguage": "rust",
        });
    }
    let assets: Vec<&AssetEvent> = reports
        .iter()
        .filter_map(|r| match r {
            Report::Asset(a) => Some(a),
            _ => None,
        })
        .collect();
    let datasets = |access: AssetAccess| -> Vec<Value> {
        assets
            .iter()
            .filter(|a| a.access == access)
            .map(|a| dataset(a, schemas.get(&a.uri)))
            .collect()
    };
    json!({
        "eventType": event.as_str(),
        "eventTime": at.to_rfc3339_opts(SecondsFormat::Micros, true),
        "producer": PRODUCER,
        "schemaURL": SPEC,
        "run": {"runId": run_id, "facets": run_facets},
        "job": {
            "namespace": namespace,
            "name": format!("{}.{}", attempt.dag_id, attempt.task_id),
            "facets": {
                "jobType": {
                    "_producer": PRODUCER,
                    "_schemaURL": JOB_TYPE,
                    "processingType": "BATCH",
                    "integration": "UPDRAFT",
                    "jobType": "TASK",
                }
            }
        },
        "inputs": datasets(AssetAccess::Read),
        "outputs": datasets(AssetAccess::Write),
    })
}

/// A dataset of an event: its namespace and name from the asset's URI, its schema and
/// version, and (an output) the rows written.
fn dataset(asset: &AssetEvent, schema: Option<&Vec<(String, String)>>) -> Value {
    let (namespace, name) = namespace_and_name(&asset.uri);
    let mut facets = serde_json::Map::new();
    if let Some(fields) = schema {
        let fields: Vec<Value> = fields
            .iter()
            .map(|(name, kind)| json!({"name": name, "type": kind}))
            .collect();
        facets.insert(
            "schema".into(),
            json!({"_producer": PRODUCER, "_schemaURL": SCHEMA, "fields": fields}),
        );
    }
    if let Some(version) = asset.version {
        facets.insert(
            "version".into(),
            json!({"_producer": PRODUCER, "_schemaURL": VERSION, "datasetVersion": version.to_string()}),
        );
    }
    let mut dataset = json!({"namespace": namespace, "name": name, "facets": facets});
    if asset.access == AssetAccess::Write
        && let Some(rows) = asset.rows
    {
        dataset["outputFacets"] = json!({
            "outputStatistics": {
                "_producer": PRODUCER,
                "_schemaURL": OUTPUT_STATISTICS,
                "rowCount": rows,
            }
        });
    }
    dataset
}

/// An asset URI as OpenLineage names a dataset: the scheme and authority as namespace
/// (`delta://lake`, `warehouse://warehouse`, `kafka://host:9092`), the rest as name.
pub fn namespace_and_name(uri: &str) -> (String, String) {
    match uri.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('/') {
            Some((authority, name)) => (format!("{scheme}://{authority}"), name.to_string()),
            None => (format!("{scheme}://{rest}"), String::new()),
        },
        None => ("updraft".to_string(), uri.to_string()),
    }
}

/// A UUID made from `key` (the same key, the same UUID): the first 16 bytes of its
/// SHA-256 with the version (8, custom) and variant bits set.
fn uuid_of(key: &str) -> String {
    let hex = crate::dag::source::sha256(key.as_bytes());
    let mut bytes: Vec<u8> = (0..16)
        .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    bytes.resize(16, 0);
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let h: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datasets_are_named_by_the_asset_uri() {
        assert_eq!(
            namespace_and_name("delta://lake/silver/tweets"),
            ("delta://lake".into(), "silver/tweets".into())
        );
        assert_eq!(
            namespace_and_name("warehouse://warehouse/gold.t"),
            ("warehouse://warehouse".into(), "gold.t".into())
        );
        assert_eq!(
            namespace_and_name("kafka://k:9092/tweets"),
            ("kafka://k:9092".into(), "tweets".into())
        );
    }

    #[test]
    fn run_ids_are_stable_uuids() {
        let a = uuid_of("etl r1 load 1");
        assert_eq!(a, uuid_of("etl r1 load 1"));
        assert_ne!(a, uuid_of("etl r1 load 2"));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "8", "version 8: {a}");
        assert!("89ab".contains(&a[19..20]), "RFC 4122 variant: {a}");
    }

    #[test]
    fn a_complete_event_carries_datasets_and_its_parent() {
        let reports = vec![
            Report::Asset(AssetEvent {
                uri: "delta://lake/bronze/t".into(),
                access: AssetAccess::Read,
                version: Some(3),
                rows: None,
                partitions: vec![],
            }),
            Report::Asset(AssetEvent {
                uri: "delta://lake/silver/t".into(),
                access: AssetAccess::Write,
                version: Some(7),
                rows: Some(42),
                partitions: vec![],
            }),
        ];
        let mut schemas = Schemas::new();
        schemas.insert(
            "delta://lake/silver/t".into(),
            vec![("id".into(), "long".into())],
        );
        let key = AttemptKey {
            dag_id: "d",
            run_id: "r",
            task_id: "t",
            map_index: -1,
            try_number: 1,
        };
        let event = run_event(
            "updraft",
            key,
            EventType::Complete,
            Utc::now(),
            (&reports, &schemas, None),
        );
        assert_eq!(event["eventType"], "COMPLETE");
        assert_eq!(event["job"]["name"], "d.t");
        assert_eq!(event["run"]["facets"]["parent"]["job"]["name"], "d");
        assert_eq!(event["inputs"][0]["name"], "bronze/t");
        assert_eq!(
            event["inputs"][0]["facets"]["version"]["datasetVersion"],
            "3"
        );
        let output = &event["outputs"][0];
        assert_eq!(output["namespace"], "delta://lake");
        assert_eq!(output["facets"]["schema"]["fields"][0]["name"], "id");
        assert_eq!(output["outputFacets"]["outputStatistics"]["rowCount"], 42);
    }
}
