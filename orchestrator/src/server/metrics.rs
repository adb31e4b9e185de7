//! `GET /metrics`: the history as Prometheus series (OpenMetrics text), computed at each
//! scrape from the tables, so they agree with them and survive restarts.

use super::AppState;
use super::error::ApiError;
use crate::store::{Durations, MetricsSnapshot, RUN_BUCKETS, TASK_BUCKETS};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::exemplar::Exemplar;
use prometheus_client::registry::Registry;
use std::sync::Arc;

/// The OpenMetrics text format's content type.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One scrape's figures, written out by the client library's encoder.
#[derive(Debug)]
struct Scrape {
    snapshot: MetricsSnapshot,
    import_errors: usize,
}

/// `GET /metrics`
pub async fn metrics(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let snapshot = state.store.metrics().await?;
    let import_errors = state.with_dags(|files| files.errors().len());
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape {
        snapshot,
        import_errors,
    }));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response())
}

/// No exemplars are sent.
const NO_EXEMPLAR: Option<&Exemplar<NoLabelSet, u64>> = None;

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.snapshot;
        let runs = s
            .finished_runs
            .iter()
            .map(|((d, st), v)| ([("dag_id", d.as_str()), ("state", st.as_str())], v));
        counters(
            &mut encoder,
            "updraft_dag_runs",
            "Finished DAG runs",
            runs.clone().map(|(l, v)| (l, v.count)),
        )?;
        histograms(
            &mut encoder,
            "updraft_dag_run_duration_seconds",
            "Duration of finished DAG runs",
            &RUN_BUCKETS,
            runs,
        )?;
        let tries = s.ended_tries.iter().map(|((d, t, st), v)| {
            (
                [
                    ("dag_id", d.as_str()),
                    ("task_id", t.as_str()),
                    ("state", st.as_str()),
                ],
                v,
            )
        });
        counters(
            &mut encoder,
            "updraft_task_tries",
            "Ended task attempts",
            tries.clone().map(|(l, v)| (l, v.count)),
        )?;
        histograms(
            &mut encoder,
            "updraft_task_duration_seconds",
            "Duration of ended task attempts",
            &TASK_BUCKETS,
            tries,
        )?;
        let by_state = |rows: &[(String, i64)]| -> Vec<([(&'static str, String); 1], i64)> {
            rows.iter()
                .map(|(st, n)| ([("state", st.clone())], *n))
                .collect()
        };
        gauges(
            &mut encoder,
            "updraft_runs",
            "DAG runs by state now",
            by_state(&s.runs),
        )?;
        gauges(
            &mut encoder,
            "updraft_task_instances",
            "Task instances by state now",
            by_state(&s.task_instances),
        )?;
        let now = Utc::now();
        let ages = s
            .schedulers
            .iter()
            .map(|(job, at)| ([("job_id", job.clone())], (now - *at).as_seconds_f64()));
        gauges(
            &mut encoder,
            "updraft_scheduler_heartbeat_age_seconds",
            "Seconds since each running scheduler's last heartbeat",
            ages.collect(),
        )?;
        gauges(
            &mut encoder,
            "updraft_tasks_waiting_for_queue",
            "Task instances ready to run whose queue no live scheduler serves",
            s.waiting_for_queue
                .iter()
                .map(|(queue, n)| ([("queue", queue.clone())], *n))
                .collect(),
        )?;
        gauges(
            &mut encoder,
            "updraft_dag_import_errors",
            "DAG files that do not load",
            vec![([] as [(&str, &str); 0], self.import_errors as i64)],
        )?;
        let tests = s
            .data_tests
            .iter()
            .map(|(st, n)| ([("status", st.as_str())], (*n).max(0) as u64));
        counters(
            &mut encoder,
            "updraft_data_tests",
            "Data-quality test results by status",
            tests,
        )?;
        let alerts = s.callbacks.iter().map(|(kind, status, n)| {
            (
                [("kind", kind.as_str()), ("status", status.as_str())],
                (*n).max(0) as u64,
            )
        });
        counters(
            &mut encoder,
            "updraft_callbacks",
            "Alert messages sent and failed, by action kind",
            alerts,
        )?;
        Ok(())
    }
}

fn counters<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl Iterator<Item = (L, u64)>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in series {
        metric
            .encode_family(&labels)?
            .encode_counter(&value, NO_EXEMPLAR)?;
    }
    Ok(())
}

fn gauges<L: EncodeLabelSet, V: prometheus_client::encoding::EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: Vec<(L, V)>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in series {
        metric.encode_family(&labels)?.encode_gauge(&value)?;
    }
    Ok(())
}

fn histograms<'a, L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    bounds: &[f64],
    series: impl Iterator<Item = (L, &'a Durations)>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
    for (labels, d) in series {
        // The encoder writes the last bucket as +Inf when its bound is f64::MAX.
        let buckets: Vec<(f64, u64)> = bounds
            .iter()
            .copied()
            .chain([f64::MAX])
            .zip(d.buckets.iter().copied())
            .collect();
        metric
            .encode_family(&labels)?
            .encode_histogram::<NoLabelSet>(d.sum, d.count, &buckets, None)?;
    }
    Ok(())
}
