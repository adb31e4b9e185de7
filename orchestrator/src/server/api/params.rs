//! What a request names: the ids in its path and the parameters of its query string,
//! each endpoint's documented in the OpenAPI document by the same types that read them.

use crate::server::error::ApiError;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa::openapi::path::ParameterIn;

/// A DAG named in the path.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DagPath {
    /// The DAG's id (`~`: every DAG, where a listing allows it).
    pub dag_id: String,
}

/// A run named in the path.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RunPath {
    /// The DAG's id (`~`: every DAG, where a listing allows it).
    pub dag_id: String,
    /// The run's id (`~`: every run, where a listing allows it).
    pub dag_run_id: String,
}

/// A task instance named in the path.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TaskPath {
    /// The DAG's id.
    pub dag_id: String,
    /// The run's id.
    pub dag_run_id: String,
    /// The task's id.
    pub task_id: String,
}

/// An instance of a mapped task named in the path.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MappedPath {
    /// The DAG's id.
    pub dag_id: String,
    /// The run's id.
    pub dag_run_id: String,
    /// The task's id.
    pub task_id: String,
    /// Which instance (0, 1, …).
    pub map_index: String,
}

impl MappedPath {
    /// The map index named, as a number.
    pub fn index(&self) -> Result<i32, ApiError> {
        i32::try_from(whole_number("map_index", &self.map_index)?)
            .map_err(|_| ApiError::bad_request("map_index is out of range"))
    }
}

/// An attempt named in the path.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AttemptPath {
    /// The DAG's id.
    pub dag_id: String,
    /// The run's id.
    pub dag_run_id: String,
    /// The task's id.
    pub task_id: String,
    /// The attempt, from 1 (read here, so that a wrong one gets this API's 400).
    #[param(value_type = i64)]
    pub try_number: String,
}

/// A DAG version named in the path.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct VersionPath {
    /// The DAG's id.
    pub dag_id: String,
    /// The version's number, from 1.
    #[param(value_type = i64)]
    pub version_number: String,
}

/// Reads `text` as a whole number named `name`, or says it is not one.
pub fn whole_number(name: &str, text: &str) -> Result<i64, ApiError> {
    text.parse()
        .map_err(|_| ApiError::bad_request(format!("{name} `{text}` is not a whole number")))
}

/// The pairs of a query string, checked against the names an endpoint knows.
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Reads `query` against the parameters `T` documents; another name is a 400 that
    /// lists them.
    pub fn of<T: IntoParams>(query: Option<&str>) -> Result<Self, ApiError> {
        let names: Vec<String> = T::into_params(|| Some(ParameterIn::Query))
            .into_iter()
            .map(|p| p.name)
            .collect();
        let known: Vec<&str> = names.iter().map(String::as_str).collect();
        Self::parse(query, &known)
    }

    /// Reads `query`; a name not in `known` is a 400.
    pub fn parse(query: Option<&str>, known: &[&str]) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        if let Some((name, _)) = pairs.iter().find(|(n, _)| !known.contains(&n.as_str())) {
            return Err(ApiError::bad_request(format!(
                "unknown query parameter `{name}` (known: {})",
                known.join(", ")
            )));
        }
        Ok(Self(pairs))
    }

    /// Every value of `name` (repeated, or comma-separated).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// The last value of `name`.
    pub fn one(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `name` as a number, or `default` (also when sent empty, as `airflowctl` sends an
    /// unset limit).
    /// `map_index`: which instance of a mapped task (default -1: a task not mapped).
    pub fn map_index(&self) -> Result<i32, ApiError> {
        i32::try_from(self.number("map_index", -1)?)
            .map_err(|_| ApiError::bad_request("map_index is out of range"))
    }

    /// Every `state` given, as task states.
    pub fn task_states(&self) -> Result<Vec<crate::store::TaskState>, ApiError> {
        self.all("state")
            .into_iter()
            .map(|s| {
                crate::store::TaskState::parse(s)
                    .map_err(|e| ApiError::bad_request(format!("state: {e}")))
            })
            .collect()
    }

    pub fn number(&self, name: &str, default: i64) -> Result<i64, ApiError> {
        match self.one(name) {
            None | Some("") => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| ApiError::bad_request(format!("{name}: `{v}` is not a whole number"))),
        }
    }

    /// `limit` (default 100) and `offset` (default 0), checked.
    pub fn page(&self) -> Result<(i64, i64), ApiError> {
        let (limit, offset) = (self.number("limit", 100)?, self.number("offset", 0)?);
        if limit < 1 || offset < 0 {
            return Err(ApiError::bad_request(
                "limit must be at least 1 and offset at least 0",
            ));
        }
        Ok((limit, offset))
    }

    /// `name` as true/false, or false.
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.one(name) {
            None => Ok(false),
            Some("true" | "1") => Ok(true),
            Some("false" | "0") => Ok(false),
            Some(v) => Err(ApiError::bad_request(format!(
                "{name}: `{v}`: use true or false"
            ))),
        }
    }
}
