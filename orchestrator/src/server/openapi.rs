//! The OpenAPI 3.1 document of the API, served at `/api/v2/openapi.json`: the routes of
//! `api::routes`, their parameters and bodies. Kept beside the routes by a test that calls
//! every operation it lists.

use axum::Json;
use serde_json::{Value, json};

/// A path parameter.
fn in_path(name: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
}

/// A query parameter.
fn in_query(name: &str, schema: Value, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": schema, "description": description})
}

/// An operation answering JSON of `schema`, with the error answers every operation has.
fn operation(summary: &str, params: Vec<Value>, body: Option<Value>, answer: Value) -> Value {
    let error = json!({"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let mut op = json!({
        "summary": summary,
        "parameters": params,
        "responses": {
            "200": answer,
            "400": error, "401": error, "403": error, "404": error, "409": error,
        },
    });
    if let Some(schema) = body {
        op["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": schema}}});
    }
    op
}

/// A JSON answer.
fn json_answer(schema: Value) -> Value {
    json!({"description": "OK", "content": {"application/json": {"schema": schema}}})
}

/// A list answer: `key` holding items of `item`, and `total_entries`.
fn list_of(key: &str, item: &str) -> Value {
    json_answer(json!({
        "type": "object",
        "properties": {
            key: {"type": "array", "items": {"$ref": format!("#/components/schemas/{item}")}},
            "total_entries": {"type": "integer"},
        },
    }))
}

fn schema(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// An object whose properties are the given columns, all of `type`.
fn columns(list: &[(&str, &str)]) -> Value {
    let props: serde_json::Map<String, Value> = list
        .iter()
        .map(|(name, ty)| ((*name).to_string(), json!({"type": ty})))
        .collect();
    json!({"type": "object", "properties": props})
}

/// The whole document.
pub fn spec() -> Value {
    let dag = in_path("dag_id");
    let run = in_path("dag_run_id");
    let task = in_path("task_id");
    let run_path = "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}";
    let task_path = format!("{run_path}/taskInstances/{{task_id}}");
    let run_params = || vec![dag.clone(), run.clone()];
    let task_params = || vec![dag.clone(), run.clone(), task.clone()];
    let mut paths = serde_json::Map::new();
    paths.insert(
        "/api/v2/dags".into(),
        json!({"get": operation(
        "The DAGs of the DAGs folder",
        vec![in_query("limit", json!({"type": "integer", "default": 100}), "page size"),
             in_query("offset", json!({"type": "integer", "default": 0}), "first item")],
        None, list_of("dags", "Dag"))}),
    );
    paths.insert(
        "/api/v2/dags/{dag_id}".into(),
        json!({
            "get": operation("One DAG", vec![dag.clone()], None, json_answer(schema("Dag"))),
            "patch": operation("Pause or unpause a DAG", vec![dag.clone()],
                Some(columns(&[("is_paused", "boolean")])), json_answer(schema("Dag"))),
        }),
    );
    paths.insert("/api/v2/dags/{dag_id}/details".into(), json!({"get": operation(
        "One DAG with the rest of its definition", vec![dag.clone()], None, json_answer(schema("DagDetails")))}));
    paths.insert("/api/v2/dags/{dag_id}/tasks".into(), json!({"get": operation(
        "The DAG's tasks as defined, in the order they run", vec![dag.clone()], None, list_of("tasks", "Task"))}));
    paths.insert("/api/v2/dagSources/{dag_id}".into(), json!({"get": operation(
        "The DAG file: of a recorded version, or as the folder holds it", vec![dag.clone(),
            in_query("version_number", json!({"type": "integer"}), "a recorded version (default: the folder's file)")],
        None, json_answer(schema("DagSource")))}));
    paths.insert("/api/v2/dagStats".into(), json!({"get": operation(
        "How many runs of each DAG are in each state", vec![
            in_query("dag_ids", json!({"type": "array", "items": {"type": "string"}}), "only these DAGs (repeat or comma-separate)")],
        None, list_of("dags", "DagStats"))}));
    paths.insert(
        "/api/v2/version".into(),
        json!({"get": operation(
        "Updraft's version", vec![], None, json_answer(schema("VersionInfo")))}),
    );
    paths.insert("/api/v2/dags/{dag_id}/dagRuns".into(), json!({
        "get": operation("A page of the DAG's runs", vec![dag.clone(),
            in_query("state", json!({"type": "array", "items": {"type": "string", "enum": ["queued", "running", "success", "failed"]}}), "only runs in these states (repeat or comma-separate)"),
            in_query("limit", json!({"type": "integer", "default": 100, "maximum": 1000}), "page size"),
            in_query("offset", json!({"type": "integer", "default": 0}), "first item"),
            in_query("order_by", json!({"type": "string", "default": "-logical_date"}), "a column of dag_run (logical_date, run_id, state, queued_at, started_at, ended_at); `-` first: descending")],
            None, list_of("dag_runs", "DagRun")),
        "post": operation("Trigger a run (queued for a scheduler)", vec![dag.clone()],
            Some(json!({"type": "object", "properties": {
                "dag_run_id": {"type": "string"},
                "logical_date": {"type": "string", "format": "date-time"},
                "conf": {"type": "object"}}})),
            json_answer(schema("DagRun"))),
    }));
    paths.insert("/api/v2/dags/{dag_id}/dagRuns/list".into(), json!({"post": operation(
        "Runs of any DAGs (the DAG id is ~), filtered by the body (Airflow's DAGRunsBatchBody: dag_ids, states, logical_date/start_date/end_date bounds, order_by, page_limit, page_offset)",
        vec![dag.clone()],
        Some(json!({"type": "object", "properties": {
            "dag_ids": {"type": "array", "items": {"type": "string"}},
            "states": {"type": "array", "items": {"type": "string"}},
            "order_by": {"type": "string"},
            "page_limit": {"type": "integer", "default": 100},
            "page_offset": {"type": "integer", "default": 0}}})),
        list_of("dag_runs", "DagRun"))}));
    paths.insert(format!("{run_path}/taskInstances/list"), json!({"post": operation(
        "Task instances of any DAGs and runs (both ids are ~), filtered by the body (Airflow's TaskInstancesBatchBody: dag_ids, dag_run_ids, task_ids, state, page_limit, page_offset)",
        run_params(),
        Some(json!({"type": "object", "properties": {
            "dag_ids": {"type": "array", "items": {"type": "string"}},
            "dag_run_ids": {"type": "array", "items": {"type": "string"}},
            "task_ids": {"type": "array", "items": {"type": "string"}},
            "state": {"type": "array", "items": {"type": "string"}},
            "page_limit": {"type": "integer", "default": 100},
            "page_offset": {"type": "integer", "default": 0}}})),
        list_of("task_instances", "TaskInstance"))}));
    paths.insert(run_path.into(), json!({
        "get": operation("One run", run_params(), None, json_answer(schema("DagRun"))),
        "patch": operation("Mark a run that is not running success or failed", run_params(),
            Some(json!({"type": "object", "required": ["state"], "properties": {"state": {"type": "string", "enum": ["success", "failed"]}}})),
            json_answer(schema("DagRun"))),
    }));
    paths.insert(
        format!("{run_path}/clear"),
        json!({"post": operation(
        "Clear task instances (and what is downstream of them) so that they run again",
        run_params(),
        Some(json!({"type": "object", "properties": {
            "dry_run": {"type": "boolean", "default": true},
            "only_failed": {"type": "boolean", "default": false},
            "task_ids": {"type": "array", "items": {"type": "string"}},
            "run_on_latest_version": {"type": "boolean", "default": false},
            "only_new": {"type": "boolean", "default": false},
            "note": {"type": ["string", "null"]}}})),
        json!({"description": "a dry run: the task instances it would clear; else the run",
            "content": {"application/json": {"schema": {"oneOf": [
                {"type": "object", "properties": {"task_instances": {"type": "array", "items": schema("TaskInstance")}, "total_entries": {"type": "integer"}}},
                schema("DagRun")]}}}}))}),
    );
    paths.insert("/api/v2/dags/{dag_id}/dagVersions".into(), json!({"get": operation(
        "The DAG's versions (Airflow's DagVersionResponse)", vec![dag.clone(),
            in_query("limit", json!({"type": "integer", "default": 100}), "page size"),
            in_query("offset", json!({"type": "integer", "default": 0}), "first item"),
            in_query("order_by", json!({"type": "string", "default": "version_number"}), "version_number or created_at; `-` first: descending")],
        None, list_of("dag_versions", "DagVersion"))}));
    paths.insert("/api/v2/dags/{dag_id}/dagVersions/{version_number}".into(), json!({"get": operation(
        "One version of a DAG", vec![dag.clone(), in_path("version_number")], None, json_answer(schema("DagVersion")))}));
    paths.insert(format!("{run_path}/testResults"), json!({"get": operation(
        "The data-quality test results of a run", run_params(), None, list_of("test_results", "TestResult"))}));
    let mut instance_params = run_params();
    instance_params.extend([
        in_query(
            "state",
            json!({"type": "array", "items": {"type": "string"}}),
            "only instances in these states (`none`: not yet decided)",
        ),
        in_query("task_id", json!({"type": "string"}), "only this task"),
        in_query(
            "limit",
            json!({"type": "integer", "default": 100, "maximum": 1000}),
            "page size",
        ),
        in_query(
            "offset",
            json!({"type": "integer", "default": 0}),
            "first item",
        ),
    ]);
    paths.insert(format!("{run_path}/taskInstances"), json!({"get": operation(
        "The task instances of a run (`~` as the DAG or run id: of every one), by DAG, run and task",
        instance_params, None, list_of("task_instances", "TaskInstance"))}));
    paths.insert(task_path.clone(), json!({
        "get": operation("One task instance", task_params(), None, json_answer(schema("TaskInstance"))),
        "patch": operation("Mark a task instance (and optionally what is downstream of it) success or failed", task_params(),
            Some(json!({"type": "object", "required": ["new_state"], "properties": {
                "new_state": {"type": "string", "enum": ["success", "failed"]},
                "include_downstream": {"type": "boolean", "default": false}}})),
            list_of("task_instances", "TaskInstance")),
    }));
    paths.insert(format!("{task_path}/tries"), json!({"get": operation(
        "Every attempt of a task instance", task_params(), None, list_of("task_instances", "TaskTry"))}));
    let mut log_params = task_params();
    log_params.push(json!({"name": "try_number", "in": "path", "required": true, "schema": {"type": "integer"}}));
    log_params.push(in_query(
        "follow",
        json!({"type": "boolean", "default": false}),
        "keep sending lines while the attempt runs",
    ));
    log_params.push(in_query(
        "download",
        json!({"type": "boolean", "default": false}),
        "as a file to save (Content-Disposition: attachment)",
    ));
    log_params.push(in_query(
        "token",
        json!({"type": "string"}),
        "the continuation_token of the previous page",
    ));
    log_params.push(in_query(
        "full_content",
        json!({"type": "boolean", "default": false}),
        "from the beginning, whatever the token",
    ));
    log_params.push(in_query(
        "map_index",
        json!({"type": "integer", "default": -1}),
        "always -1: Updraft does not map tasks",
    ));
    paths.insert(
        format!("{task_path}/logs/{{try_number}}"),
        json!({"get": operation(
        "An attempt's log: pages of structured lines, or text with Accept: text/plain", log_params, None,
        json!({"description": "OK", "content": {
            "application/json": {"schema": schema("TaskInstancesLog")},
            "text/plain": {"schema": {"type": "string"}}}}))}),
    );
    paths.insert(
        "/api/v2/importErrors".into(),
        json!({"get": operation(
        "DAG files that do not load", vec![], None, list_of("import_errors", "ImportError"))}),
    );
    paths.insert(
        "/api/v2/monitor/health".into(),
        json!({"get": operation(
        "Whether the history store is reachable and schedulers are alive", vec![], None,
        json_answer(json!({"type": "object"})))}),
    );
    paths.insert(
        "/api/v2/openapi.json".into(),
        json!({"get": operation(
        "This document", vec![], None, json_answer(json!({"type": "object"})))}),
    );
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Updraft API", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": columns(&[("status", "integer"), ("title", "string"), ("detail", "string")]),
                "Dag": columns(&[("dag_id", "string"), ("dag_display_name", "string"), ("is_paused", "boolean"),
                    ("is_stale", "boolean"), ("fileloc", "string"), ("relative_fileloc", "string"), ("file_token", "string"),
                    ("description", "string"), ("last_parsed_time", "string"), ("timetable_summary", "string"),
                    ("timetable_periodic", "boolean"), ("tags", "array"), ("owners", "array"), ("max_active_tasks", "integer"),
                    ("max_active_runs", "integer"), ("has_import_errors", "boolean"), ("next_dagrun_run_after", "string"),
                    ("schedule", "string"), ("timezone", "string"), ("next_run_after", "string")]),
                "DagDetails": columns(&[("dag_id", "string"), ("catchup", "boolean"), ("start_date", "string"),
                    ("end_date", "string"), ("params", "object"), ("latest_dag_version", "object")]),
                "Task": columns(&[("task_id", "string"), ("operator_name", "string"), ("downstream_task_ids", "array"),
                    ("trigger_rule", "string"), ("retries", "integer"), ("retry_delay", "object")]),
                "DagSource": columns(&[("dag_id", "string"), ("content", "string"), ("version_number", "integer")]),
                "DagStats": columns(&[("dag_id", "string"), ("stats", "array")]),
                "VersionInfo": columns(&[("version", "string"), ("git_version", "string")]),
                "TaskInstancesLog": columns(&[("content", "array"), ("continuation_token", "string")]),
                "DagRun": columns(&[("dag_id", "string"), ("dag_run_id", "string"), ("run_type", "string"),
                    ("logical_date", "string"), ("data_interval_start", "string"), ("data_interval_end", "string"),
                    ("run_after", "string"), ("state", "string"), ("conf", "object"), ("queued_at", "string"),
                    ("start_date", "string"), ("end_date", "string"), ("duration", "number"),
                    ("dag_version", "integer"), ("dag_versions", "array")]),
                "DagVersion": columns(&[("id", "string"), ("version_number", "integer"), ("dag_id", "string"),
                    ("bundle_name", "string"), ("bundle_version", "string"), ("bundle_url", "string"),
                    ("created_at", "string"), ("dag_display_name", "string")]),
                "TaskInstance": columns(&[("id", "string"), ("dag_id", "string"), ("dag_run_id", "string"), ("task_id", "string"),
                    ("map_index", "integer"), ("operator", "string"), ("state", "string"), ("try_number", "integer"), ("max_tries", "integer"),
                    ("start_date", "string"), ("end_date", "string"), ("duration", "number"), ("hostname", "string"),
                    ("pool", "string"), ("run_after", "string"), ("task_type", "string"), ("next_try_at", "string"), ("dag_version", "object")]),
                "TaskTry": columns(&[("dag_id", "string"), ("dag_run_id", "string"), ("task_id", "string"),
                    ("map_index", "integer"), ("try_number", "integer"), ("max_tries", "integer"), ("state", "string"),
                    ("start_date", "string"), ("end_date", "string"), ("duration", "number"), ("hostname", "string"),
                    ("operator", "string"), ("pool", "string"), ("error", "string"), ("metrics", "object"), ("job_id", "string")]),
                "TestResult": columns(&[("dag_id", "string"), ("run_id", "string"), ("task_id", "string"),
                    ("try_number", "integer"), ("test_id", "string"), ("test_name", "string"), ("status", "string"),
                    ("failures", "integer"), ("message", "string")]),
                "ImportError": columns(&[("filename", "string"), ("line", "integer"), ("column", "integer"), ("message", "string")]),
            },
        },
        "security": [{"bearer": []}],
    })
}

/// `GET /api/v2/openapi.json`
pub async fn document() -> Json<Value> {
    Json(spec())
}
