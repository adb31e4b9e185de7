//! `schedule: {assets: [...]}`: a DAG that runs when the tables it names are written
//! (by any DAG's task, or an event from outside), alone or with a time schedule
//! (`cron:`); with `mode: all` once every asset has news, with `any` on each; with
//! `per_partition: true` once per partition the events touched.

use super::Schedule;
use serde_json::Value;

/// How a DAG's runs follow asset events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetTrigger {
    /// The assets' URIs, as events name them.
    pub uris: Vec<String>,
    pub mode: AssetMode,
    /// One run per partition touched (the run's `{{ partition }}`), not one for all.
    pub per_partition: bool,
}

/// Which news of the listed assets a run waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetMode {
    /// Every asset has an event since the last asset-triggered run.
    All,
    /// Any asset has one.
    Any,
}

/// A DAG's `schedule:` as written: a time schedule, asset triggers, or both.
#[derive(Debug)]
pub struct ScheduleSpec {
    pub time: Schedule,
    pub assets: Option<AssetTrigger>,
}

/// The keys of a `schedule:` mapping.
const KEYS: [&str; 4] = ["cron", "assets", "mode", "per_partition"];

/// Reads `schedule:`: text (cron, preset, interval, `@once`), null, or a mapping with
/// `assets:`. Errors name the key they are about (`schedule.assets.1`).
pub fn parse_schedule(value: Option<&Value>) -> Result<ScheduleSpec, (String, String)> {
    let at = |key: &str, message: String| (format!("schedule.{key}"), message);
    let mapping = match value {
        None | Some(Value::Null) => return time_only(None),
        Some(Value::String(text)) => return time_only(Some(text)),
        Some(Value::Object(mapping)) => mapping,
        Some(other) => {
            return Err((
                "schedule".into(),
                format!(
                    "expected a cron expression, a preset, an interval, or a mapping with `assets:`; found {other}"
                ),
            ));
        }
    };
    if let Some(stray) = mapping.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(at(
            stray,
            format!("unknown key `{stray}` (one of: {})", KEYS.join(", ")),
        ));
    }
    let time = match mapping.get("cron") {
        None | Some(Value::Null) => Schedule::Manual,
        Some(Value::String(text)) => Schedule::parse(Some(text)).map_err(|e| at("cron", e))?,
        Some(other) => return Err(at("cron", format!("expected text, found {other}"))),
    };
    let Some(Value::Array(list)) = mapping.get("assets") else {
        return Err((
            "schedule".into(),
            "a `schedule:` mapping needs `assets:`, a list of asset URIs (`delta://lake/silver/tweets`) or lake tables (`{{ lake }}/silver/tweets`)".into(),
        ));
    };
    if list.is_empty() {
        return Err(at("assets", "name at least one asset".into()));
    }
    let mut uris = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let Value::String(text) = item else {
            return Err(at(
                &format!("assets.{i}"),
                format!("expected text, found {item}"),
            ));
        };
        let uri = asset_uri(text).map_err(|e| at(&format!("assets.{i}"), e))?;
        if !uris.contains(&uri) {
            uris.push(uri);
        }
    }
    let mode = match mapping.get("mode") {
        None => AssetMode::All,
        Some(Value::String(m)) if m == "all" => AssetMode::All,
        Some(Value::String(m)) if m == "any" => AssetMode::Any,
        Some(other) => {
            return Err(at(
                "mode",
                format!("expected `all` or `any`, found {other}"),
            ));
        }
    };
    let per_partition = match mapping.get("per_partition") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(at(
                "per_partition",
                format!("expected true or false, found {other}"),
            ));
        }
    };
    Ok(ScheduleSpec {
        time,
        assets: Some(AssetTrigger {
            uris,
            mode,
            per_partition,
        }),
    })
}

fn time_only(text: Option<&str>) -> Result<ScheduleSpec, (String, String)> {
    let time = Schedule::parse(text).map_err(|e| ("schedule".to_string(), e))?;
    Ok(ScheduleSpec { time, assets: None })
}

/// The URI of an asset as a DAG names it: a URI as events name it (`delta://lake/...`,
/// `warehouse://conn/schema.table`, or any `scheme://...` for events from outside), or
/// a lake table as tasks name it (`{{ lake }}/silver/tweets`).
pub fn asset_uri(text: &str) -> Result<String, String> {
    let text = text.trim();
    let lake_path = ["{{ lake }}/", "{{lake}}/"]
        .iter()
        .find_map(|prefix| text.strip_prefix(prefix));
    if let Some(path) = lake_path {
        return Ok(format!("delta://lake/{}", path.trim_matches('/')));
    }
    if let Some(rest) = text.strip_prefix("warehouse://") {
        return match rest.split_once('/') {
            Some((conn, relation)) if !conn.is_empty() && !relation.is_empty() => {
                Ok(updraft_core::report::warehouse_asset_uri(conn, relation))
            }
            _ => Err(format!(
                "`{text}`: a warehouse asset is `warehouse://<connection>/<schema.table>`"
            )),
        };
    }
    match text.split_once("://") {
        Some((scheme, rest))
            if !rest.is_empty()
                && !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            Ok(text.trim_end_matches('/').to_string())
        }
        _ => Err(format!(
            "`{text}` is not an asset: write a URI (`delta://lake/silver/tweets`, `warehouse://warehouse/silver.books`) or a lake table as tasks name it (`{{{{ lake }}}}/silver/tweets`)"
        )),
    }
}

/// How a schedule reads in listings: Airflow's `Asset`, `Asset or <cron>`.
pub fn summary(time: &Schedule, assets: Option<&AssetTrigger>) -> Option<String> {
    match (time.describe(), assets) {
        (None, Some(_)) => Some("Asset".into()),
        (Some(time), Some(_)) => Some(format!("Asset or {time}")),
        (time, None) => time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<ScheduleSpec, (String, String)> {
        let value: Value = serde_yaml_ng::from_str(yaml).unwrap();
        parse_schedule(Some(&value))
    }

    #[test]
    fn assets_alone_with_cron_and_modes() {
        let spec =
            parse("assets: ['{{ lake }}/silver/tweets', 'warehouse://WH/silver.books']").unwrap();
        assert!(matches!(spec.time, Schedule::Manual));
        let trigger = spec.assets.unwrap();
        assert_eq!(
            trigger.uris,
            ["delta://lake/silver/tweets", "warehouse://wh/silver.books"]
        );
        assert_eq!(trigger.mode, AssetMode::All);
        assert!(!trigger.per_partition);
        let spec =
            parse("{cron: '0 2 * * *', assets: [delta://lake/a], mode: any, per_partition: true}")
                .unwrap();
        assert!(matches!(spec.time, Schedule::Cron { .. }));
        assert_eq!(
            summary(&spec.time, spec.assets.as_ref()).as_deref(),
            Some("Asset or 0 2 * * *")
        );
        let trigger = spec.assets.unwrap();
        assert_eq!(trigger.mode, AssetMode::Any);
        assert!(trigger.per_partition);
        assert!(parse("'@daily'").unwrap().assets.is_none());
    }

    #[test]
    fn errors_name_their_key() {
        let cases = [
            (
                "{assets: [silver.tweets]}",
                "schedule.assets.0",
                "is not an asset",
            ),
            ("{assets: []}", "schedule.assets", "at least one"),
            (
                "{cron: '0 2 * *', assets: [delta://lake/a]}",
                "schedule.cron",
                "5 fields",
            ),
            (
                "{assets: [delta://lake/a], mode: some}",
                "schedule.mode",
                "`all` or `any`",
            ),
            (
                "{assets: [delta://lake/a], every: 1}",
                "schedule.every",
                "unknown key",
            ),
            ("{cron: '@daily'}", "schedule", "needs `assets:`"),
            (
                "{assets: ['warehouse://wh']}",
                "schedule.assets.0",
                "warehouse://<connection>",
            ),
        ];
        for (yaml, key, message) in cases {
            let (at, e) = parse(yaml).map(|_| ()).unwrap_err();
            assert_eq!(at, key, "{yaml}: {e}");
            assert!(e.contains(message), "{yaml}: {e}");
        }
    }
}
