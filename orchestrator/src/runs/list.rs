//! Listing a DAG's runs a page at a time: by state, in an order picked from the run's
//! columns (`-` first for newest/largest first), with the total for paging.

use super::RunsError;
use crate::store::{DagRunRow, RunColumn, RunFilter, RunOrder, RunState, Store};

/// The most runs one page holds.
pub const MAX_LIMIT: i64 = 1000;

/// Which runs to list.
#[derive(Debug, Clone)]
pub struct RunListRequest {
    /// The runs of one DAG or of all, in some states, run types and time ranges.
    pub filter: RunFilter,
    pub limit: i64,
    pub offset: i64,
    pub order: RunOrder,
}

impl RunListRequest {
    /// The newest `limit` runs of a DAG, in any state.
    pub fn newest(dag_id: &str, limit: i64) -> Self {
        Self {
            filter: RunFilter {
                dag_ids: vec![dag_id.to_string()],
                ..RunFilter::default()
            },
            limit,
            offset: 0,
            order: RunOrder {
                column: RunColumn::LogicalDate,
                descending: true,
            },
        }
    }
}

/// A page of runs and how many match in all.
#[derive(Debug, serde::Serialize)]
pub struct RunPage {
    pub dag_runs: Vec<DagRunRow>,
    pub total_entries: i64,
}

/// Reads a state name as a request field.
pub fn parse_state(name: &str) -> Result<RunState, RunsError> {
    RunState::parse(name).map_err(|e| RunsError::Invalid {
        field: "state",
        message: e.to_string(),
    })
}

/// Reads `column` or `-column` (descending); Airflow's names of the columns
/// (`dag_run_id`, `start_date`, `end_date`) too.
pub fn parse_order(text: &str) -> Result<RunOrder, RunsError> {
    let (descending, name) = match text.strip_prefix('-') {
        Some(name) => (true, name),
        None => (false, text),
    };
    let column = RunColumn::ALL
        .into_iter()
        .find(|c| c.as_str() == name || c.airflow_name() == Some(name))
        .ok_or_else(|| {
            let names: Vec<&str> = RunColumn::ALL.iter().map(|c| c.as_str()).collect();
            RunsError::Invalid {
                field: "order_by",
                message: format!(
                    "`{text}`: use one of {} (`-` first: descending)",
                    names.join(", ")
                ),
            }
        })?;
    Ok(RunOrder { column, descending })
}

/// The page of runs `request` asks for.
pub async fn list(store: &Store, request: &RunListRequest) -> Result<RunPage, RunsError> {
    if !(1..=MAX_LIMIT).contains(&request.limit) {
        return Err(RunsError::Invalid {
            field: "limit",
            message: format!("{}: use 1 to {MAX_LIMIT}", request.limit),
        });
    }
    if request.offset < 0 {
        return Err(RunsError::Invalid {
            field: "offset",
            message: format!("{}: must not be negative", request.offset),
        });
    }
    let (dag_runs, total_entries) = store
        .run_page(
            &request.filter,
            request.order,
            request.limit,
            request.offset,
        )
        .await?;
    Ok(RunPage {
        dag_runs,
        total_entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_read_a_column_and_a_direction() {
        let order = parse_order("-started_at").expect("valid");
        assert_eq!(order.column, RunColumn::StartedAt);
        assert!(order.descending);
        assert!(!parse_order("run_id").expect("valid").descending);
        let err = parse_order("conf; DROP TABLE dag_run").expect_err("not a column");
        assert!(err.to_string().contains("logical_date, run_id"), "{err}");
    }
}
