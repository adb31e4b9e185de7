//! Templating of task configs with minijinja, per attempt, with Airflow's names (`ds`,
//! `ts`, `data_interval_start`, `params`, `triggering_asset_events`, ...) plus `env`,
//! `lake` and an asset-triggered run's `partition`. An undefined name is an error.

use chrono::{DateTime, SecondsFormat, Utc};
use minijinja::value::{Object, Value as JinjaValue};
use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;
use std::sync::Arc;

/// What a run knows that its templates may use.
#[derive(Debug, Clone)]
pub struct RunVars {
    pub dag_id: String,
    pub run_id: String,
    pub logical_date: DateTime<Utc>,
    pub data_interval_start: DateTime<Utc>,
    pub data_interval_end: DateTime<Utc>,
    /// The DAG's params with the run's conf laid over them.
    pub params: serde_json::Map<String, Value>,
    pub conf: Value,
    /// The lake root (`--lake`), for `{{ lake }}`.
    pub lake: String,
    /// The folder of the DAG file, for `{{ dag_folder }}` and relative paths in configs.
    pub dag_folder: std::path::PathBuf,
}

/// Environment variables, looked up lazily; a missing one is undefined (an error).
#[derive(Debug)]
struct EnvVars;

impl Object for EnvVars {
    fn get_value(self: &Arc<Self>, key: &JinjaValue) -> Option<JinjaValue> {
        std::env::var(key.as_str()?).ok().map(JinjaValue::from)
    }
}

fn iso(dt: DateTime<Utc>) -> String {
    dt.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// Which attempt a template renders for: its task and try and, for an instance of a
/// mapped task, its map index and item.
#[derive(Debug, Clone, Copy)]
pub struct AttemptVars<'a> {
    pub task_id: &'a str,
    pub try_number: u32,
    pub map: Option<(i32, &'a Value)>,
}

impl<'a> AttemptVars<'a> {
    /// A try of a task that is not mapped.
    pub fn unmapped(task_id: &'a str, try_number: u32) -> Self {
        Self {
            task_id,
            try_number,
            map: None,
        }
    }
}

fn context(vars: &RunVars, attempt: AttemptVars<'_>, outputs: &Value) -> JinjaValue {
    let ld = vars.logical_date;
    let (map_index, item) = match attempt.map {
        Some((index, item)) => (index, JinjaValue::from_serialize(item)),
        None => (-1, JinjaValue::UNDEFINED),
    };
    minijinja::context! {
        ds => ld.format("%Y-%m-%d").to_string(),
        ds_nodash => ld.format("%Y%m%d").to_string(),
        ts => iso(ld),
        ts_nodash => ld.format("%Y%m%dT%H%M%S").to_string(),
        logical_date => iso(ld),
        data_interval_start => iso(vars.data_interval_start),
        data_interval_end => iso(vars.data_interval_end),
        run_id => vars.run_id.clone(),
        dag_id => vars.dag_id.clone(),
        task_id => attempt.task_id,
        try_number => attempt.try_number,
        // An instance of a mapped task (`for_each`): which, and its item.
        map_index => map_index,
        item => item,
        params => JinjaValue::from_serialize(&vars.params),
        conf => JinjaValue::from_serialize(&vars.conf),
        env => JinjaValue::from_object(EnvVars),
        lake => vars.lake.clone(),
        dag_folder => vars.dag_folder.display().to_string(),
        // An asset-triggered run's conf carries what triggered it.
        triggering_asset_events => vars.conf.get("triggering_asset_events")
            .map(JinjaValue::from_serialize)
            .unwrap_or_else(|| JinjaValue::from(Vec::<JinjaValue>::new())),
        partition => vars.conf.get("partition")
            .map(JinjaValue::from_serialize)
            .unwrap_or(JinjaValue::UNDEFINED),
        // What the upstream tasks this one reads handed on (engine/outputs.rs).
        outputs => JinjaValue::from_serialize(outputs),
    }
}

/// One template environment for every attempt: building one is not free, and a wide run
/// starts thousands of attempts a second.
static ENVIRONMENT: std::sync::LazyLock<Environment<'static>> = std::sync::LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    env
});

/// Names that a template may leave undefined when checked without a run (`conf.x`,
/// `env.X`): only what can never work is reported then.
static CHECKING: std::sync::LazyLock<Environment<'static>> = std::sync::LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env
});

/// Finds the templates in a task's `with:` block and `when:` that can never render:
/// syntax errors, unknown filters, tests and functions, checked with `vars` (any run's).
/// Each problem comes with its key (`with.sql`, `when`).
pub fn check_task(
    config: &Value,
    when: Option<&str>,
    task_id: &str,
    vars: &RunVars,
) -> Vec<(String, String)> {
    // A mapped task's templates may use `item`: checked as if it were any value.
    let any = Value::Null;
    let attempt = AttemptVars {
        task_id,
        try_number: 1,
        map: Some((0, &any)),
    };
    let ctx = context(vars, attempt, &Value::Null);
    let mut problems = Vec::new();
    check_value(config, "with", &ctx, &mut problems);
    if let Some(when) = when {
        check_value(
            &Value::String(when.to_string()),
            "when",
            &ctx,
            &mut problems,
        );
    }
    problems
}

fn check_value(value: &Value, path: &str, ctx: &JinjaValue, problems: &mut Vec<(String, String)>) {
    use minijinja::ErrorKind as K;
    match value {
        Value::String(s) if s.contains("{{") || s.contains("{%") => {
            if let Err(e) = CHECKING.render_str(s, ctx)
                && matches!(
                    e.kind(),
                    K::SyntaxError | K::UnknownFilter | K::UnknownTest | K::UnknownFunction
                )
            {
                problems.push((
                    path.to_string(),
                    format!("template error: {}", describe(&e)),
                ));
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                check_value(v, &format!("{path}.{i}"), ctx, problems);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                check_value(v, &format!("{path}.{k}"), ctx, problems);
            }
        }
        _ => {}
    }
}

/// Renders every string in a task's `with:` block; errors name the key (`with.command`).
pub fn render_config(
    config: &Value,
    vars: &RunVars,
    attempt: AttemptVars<'_>,
    outputs: &Value,
) -> Result<Value, String> {
    // Most blocks of a sensor checked hundreds of times a second hold no template: the
    // run's context is not built for them.
    if !has_template(config) {
        return Ok(config.clone());
    }
    let ctx = context(vars, attempt, outputs);
    render_value(&ENVIRONMENT, &ctx, config, "with")
}

/// The items of a mapped task's `for_each`: a YAML list (its templates rendered), or a
/// template that gives a list — one expression (`{{ outputs.list_files.files }}`, whose
/// value is taken as it is) or text that renders to a JSON list.
pub fn render_items(
    items: &Value,
    vars: &RunVars,
    task_id: &str,
    outputs: &Value,
) -> Result<Vec<Value>, String> {
    let ctx = context(vars, AttemptVars::unmapped(task_id, 1), outputs);
    let value = match items {
        Value::Array(_) => render_value(&ENVIRONMENT, &ctx, items, "for_each")?,
        Value::String(text) => match single_expression(text) {
            Some(expression) => {
                let found = ENVIRONMENT
                    .compile_expression(expression)
                    .and_then(|e| e.eval(&ctx))
                    .map_err(|e| format!("template error in for_each: {}", describe(&e)))?;
                serde_json::to_value(&found).map_err(|e| format!("for_each: {e}"))?
            }
            None => render_value(&ENVIRONMENT, &ctx, items, "for_each")?,
        },
        other => other.clone(),
    };
    // Text is read as JSON: `{{ x | tojson }}`, or a list written out.
    let value = match value {
        Value::String(text) => serde_json::from_str(text.trim()).map_err(|_| {
            format!(
                "for_each rendered to `{}`, which is not a JSON list",
                short(&text)
            )
        })?,
        other => other,
    };
    match value {
        Value::Array(list) => Ok(list),
        other => Err(format!(
            "for_each rendered to `{}`, which is not a list",
            short(&other.to_string())
        )),
    }
}

/// The expression of a template that is one `{{ ... }}` and nothing else.
fn single_expression(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}") && !inner.contains("{%")).then_some(inner)
}

/// At most 80 characters of `text`, for a message.
fn short(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// Whether any string in `value` is a template.
fn has_template(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains("{{") || s.contains("{%"),
        Value::Array(items) => items.iter().any(has_template),
        Value::Object(map) => map.values().any(has_template),
        _ => false,
    }
}

/// Renders every string in an alert action (`webhook.body`, `shell.command`) with the
/// event's `facts` (`dag_id`, `run_id`, `task_id`, `state`, `error`, ...) and `env`;
/// errors name the key.
pub fn render_alert(action: &Value, facts: &Value) -> Result<Value, String> {
    let mut ctx: std::collections::BTreeMap<String, JinjaValue> = match facts {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), JinjaValue::from_serialize(v)))
            .collect(),
        _ => Default::default(),
    };
    ctx.insert("env".into(), JinjaValue::from_object(EnvVars));
    render_value(&ENVIRONMENT, &JinjaValue::from(ctx), action, "action")
}

/// Whether a task's `when:` lets it run: it renders to anything but empty text, `false`,
/// `no`, `0`, `none` or `null` (any case).
pub fn render_when(
    when: &str,
    vars: &RunVars,
    attempt: AttemptVars<'_>,
    outputs: &Value,
) -> Result<bool, String> {
    let ctx = context(vars, attempt, outputs);
    let rendered = render_value(&ENVIRONMENT, &ctx, &Value::String(when.into()), "when")?;
    let text = rendered
        .as_str()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    Ok(!matches!(
        text.as_str(),
        "" | "false" | "no" | "0" | "none" | "null"
    ))
}

fn render_value(
    env: &Environment,
    ctx: &JinjaValue,
    value: &Value,
    path: &str,
) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) if s.contains("{{") || s.contains("{%") => {
            let rendered = env
                .render_str(s, ctx)
                .map_err(|e| format!("template error in {path}: {}", describe(&e)))?;
            Value::String(rendered)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| render_value(env, ctx, v, &format!("{path}.{i}")))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    Ok((
                        k.clone(),
                        render_value(env, ctx, v, &format!("{path}.{k}"))?,
                    ))
                })
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// minijinja's message plus the offending expression, without its internal template name.
fn describe(e: &minijinja::Error) -> String {
    let mut text = e
        .detail()
        .map_or_else(|| e.kind().to_string(), |d| format!("{}: {d}", e.kind()));
    if let Some(span) = e
        .range()
        .and_then(|r| e.template_source().and_then(|s| s.get(r)))
    {
        text.push_str(&format!(" (at `{span}`)"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn vars() -> RunVars {
        let ld = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let mut params = serde_json::Map::new();
        params.insert("lake".into(), json!("./lake"));
        RunVars {
            dag_id: "d".into(),
            run_id: "manual__x".into(),
            logical_date: ld,
            data_interval_start: ld,
            data_interval_end: ld,
            params,
            conf: json!({"k": 1}),
            lake: "/data/lake".into(),
            dag_folder: "dags".into(),
        }
    }

    #[test]
    fn renders_lake_and_env_fallbacks() {
        let cfg = json!({
            "table": "{{ lake }}/bronze/tweets",
            "source": "{{ params.source | default(env.UPDRAFT_TEST_NOT_SET_ANYWHERE | default('file://' ~ lake ~ '/landing')) }}",
        });
        let out =
            render_config(&cfg, &vars(), AttemptVars::unmapped("t", 1), &Value::Null).unwrap();
        assert_eq!(out["table"], "/data/lake/bronze/tweets");
        assert_eq!(out["source"], "file:///data/lake/landing");
    }

    #[test]
    fn renders_airflow_names() {
        let cfg = json!({"command": "{{ ds }} {{ ds_nodash }} {{ ts }} {{ params.lake }} {{ conf.k }} {{ task_id }}/{{ try_number }}", "n": 3});
        let out =
            render_config(&cfg, &vars(), AttemptVars::unmapped("t", 2), &Value::Null).unwrap();
        assert_eq!(
            out["command"],
            "2026-01-02 20260102 2026-01-02T03:04:05+00:00 ./lake 1 t/2"
        );
        assert_eq!(out["n"], 3);
    }

    #[test]
    fn checks_find_what_can_never_render_and_allow_run_time_names() {
        let cfg = json!({
            "a": "{{ ds ",
            "b": ["ok", "{{ ds | no_such_filter }}"],
            "c": "{{ conf.table | default('x') }} {{ env.UNSET_HERE }} {{ params.p.q }}",
            "d": "{% if ds %}{{ ds | upper }}{% endif %}",
        });
        let problems = check_task(&cfg, None, "t", &vars());
        let paths: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["with.a", "with.b.1"], "{problems:?}");
        assert!(problems[1].1.contains("unknown filter"), "{problems:?}");
    }

    #[test]
    fn undefined_names_fail_with_the_key() {
        let err = render_config(
            &json!({"sql": ["ok", "{{ nope }}"]}),
            &vars(),
            AttemptVars::unmapped("t", 1),
            &Value::Null,
        )
        .unwrap_err();
        assert!(err.contains("with.sql.1"), "{err}");
        assert!(err.contains("undefined"), "{err}");
        let err = render_config(
            &json!({"c": "{{ env.UPDRAFT_SURELY_UNSET_VAR }}"}),
            &vars(),
            AttemptVars::unmapped("t", 1),
            &Value::Null,
        )
        .unwrap_err();
        assert!(err.contains("with.c"), "{err}");
    }

    #[test]
    fn for_each_gives_a_list_from_yaml_an_expression_or_json_text() {
        let outputs = json!({"ls": {"files": ["a.csv", "b.csv"], "n": 2}});
        let items = |v: Value| render_items(&v, &vars(), "t", &outputs);
        assert_eq!(
            items(json!(["x", "{{ ds }}", 3])).unwrap(),
            [json!("x"), json!("2026-01-02"), json!(3)]
        );
        assert_eq!(
            items(json!("{{ outputs.ls.files }}")).unwrap(),
            [json!("a.csv"), json!("b.csv")]
        );
        assert_eq!(
            items(json!("{{ [{'k': 1}, {'k': 2}] }}")).unwrap(),
            [json!({"k": 1}), json!({"k": 2})]
        );
        assert_eq!(
            items(json!("[{{ outputs.ls.n }}, 7]")).unwrap(),
            [json!(2), json!(7)]
        );
        let err = items(json!("{{ outputs.ls.n }}")).unwrap_err();
        assert!(err.contains("not a list"), "{err}");
        let err = items(json!("{{ outputs.missing.files }}")).unwrap_err();
        assert!(err.contains("for_each"), "{err}");
    }

    #[test]
    fn an_instance_sees_its_item_and_map_index() {
        let item = json!({"region": "eu"});
        let attempt = AttemptVars {
            task_id: "t",
            try_number: 1,
            map: Some((3, &item)),
        };
        let out = render_config(
            &json!({"c": "{{ item.region }}-{{ map_index }}"}),
            &vars(),
            attempt,
            &Value::Null,
        )
        .unwrap();
        assert_eq!(out, json!({"c": "eu-3"}));
        let err = render_config(
            &json!({"c": "{{ item }}"}),
            &vars(),
            AttemptVars::unmapped("t", 1),
            &Value::Null,
        )
        .unwrap_err();
        assert!(err.contains("undefined"), "{err}");
    }
}
