//! `HealthInfoResponse`: is the history database reachable, are schedulers alive. Updraft
//! has no triggerer and no separate DAG processor: their status is null, as Airflow
//! reports a component that has never run, not a made-up heartbeat.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// A component's status: `healthy`, `unhealthy`, or null when there is no such thing.
#[derive(Serialize, ToSchema)]
pub struct BaseInfoResponse {
    pub status: Option<&'static str>,
}

/// The schedulers' status and the newest heartbeat of any.
#[derive(Serialize, ToSchema)]
pub struct SchedulerInfoResponse {
    pub status: Option<&'static str>,
    pub latest_scheduler_heartbeat: Option<String>,
}

/// The triggerer's status (Updraft has none: waiting costs no process).
#[derive(Serialize, ToSchema)]
pub struct TriggererInfoResponse {
    pub status: Option<&'static str>,
    pub latest_triggerer_heartbeat: Option<String>,
}

/// A live scheduler (Updraft's extra); who runs it is told only to callers with a token.
#[derive(Serialize, ToSchema)]
pub struct SchedulerJob {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat_at: Option<DateTime<Utc>>,
    pub heartbeat_age_seconds: f64,
}

/// Health, as Airflow's API answers it.
#[derive(Serialize, ToSchema)]
pub struct HealthInfoResponse {
    pub metadatabase: BaseInfoResponse,
    pub scheduler: SchedulerInfoResponse,
    pub triggerer: TriggererInfoResponse,
    pub dag_processor: Option<serde_json::Value>,
    /// Updraft's: every live scheduler.
    pub schedulers: Vec<SchedulerJob>,
}

impl HealthInfoResponse {
    /// The history database could not be asked.
    pub fn database_down() -> Self {
        Self::new(false, None, Vec::new())
    }

    /// The database answered; `latest` is the newest scheduler heartbeat, `alive` the
    /// schedulers whose heartbeat is recent.
    pub fn new(database: bool, latest: Option<DateTime<Utc>>, alive: Vec<SchedulerJob>) -> Self {
        let status = |up: bool| Some(if up { "healthy" } else { "unhealthy" });
        Self {
            metadatabase: BaseInfoResponse {
                status: status(database),
            },
            scheduler: SchedulerInfoResponse {
                status: status(database && !alive.is_empty()),
                latest_scheduler_heartbeat: latest.map(|t| t.to_rfc3339()),
            },
            triggerer: TriggererInfoResponse {
                status: None,
                latest_triggerer_heartbeat: None,
            },
            dag_processor: None,
            schedulers: alive,
        }
    }
}
