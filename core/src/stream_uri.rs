//! Where raw events come from or go to: `file://DIR` (JSON-lines files) or
//! `kafka://HOST:PORT[,HOST:PORT]/TOPIC`. Shared by the landing task and the generator.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// A folder of JSON-lines files or a Kafka topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamUri {
    /// A folder; a bare path means the same.
    File(PathBuf),
    /// A topic on a Kafka-protocol cluster.
    Kafka { bootstrap: String, topic: String },
}

impl FromStr for StreamUri {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix("kafka://") {
            let (bootstrap, topic) = rest
                .split_once('/')
                .ok_or_else(|| format!("`{text}`: expected kafka://HOST:PORT/TOPIC"))?;
            if bootstrap.is_empty() || topic.is_empty() || topic.contains('/') {
                return Err(format!("`{text}`: expected kafka://HOST:PORT/TOPIC"));
            }
            return Ok(StreamUri::Kafka {
                bootstrap: bootstrap.to_string(),
                topic: topic.to_string(),
            });
        }
        let path = text.strip_prefix("file://").unwrap_or(text);
        if path.is_empty() || text.contains("://") && !text.starts_with("file://") {
            return Err(format!(
                "`{text}`: expected file://DIR or kafka://HOST:PORT/TOPIC"
            ));
        }
        Ok(StreamUri::File(PathBuf::from(path)))
    }
}

impl fmt::Display for StreamUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamUri::File(p) => write!(f, "file://{}", p.display()),
            StreamUri::Kafka { bootstrap, topic } => write!(f, "kafka://{bootstrap}/{topic}"),
        }
    }
}

impl StreamUri {
    /// Its URI as an asset, the same from every host: a topic as written, a folder under
    /// the lake root `lake` as `file://lake/<path under the root>`.
    pub fn asset_uri(&self, lake: &str) -> String {
        match self {
            StreamUri::File(dir) => {
                let dir = dir.display().to_string();
                let root = lake
                    .strip_prefix("file://")
                    .unwrap_or(lake)
                    .trim_end_matches('/');
                match dir
                    .trim_end_matches('/')
                    .strip_prefix(root)
                    .and_then(|r| r.strip_prefix('/'))
                {
                    Some(rest) if !root.is_empty() => format!("file://lake/{rest}"),
                    _ => format!("file://{}", dir.trim_end_matches('/')),
                }
            }
            StreamUri::Kafka { .. } => self.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_files_and_topics() {
        assert_eq!("file://./in".parse(), Ok(StreamUri::File("./in".into())));
        assert_eq!("/data/in".parse(), Ok(StreamUri::File("/data/in".into())));
        assert_eq!(
            "kafka://127.0.0.1:9092/tweets".parse(),
            Ok(StreamUri::Kafka {
                bootstrap: "127.0.0.1:9092".into(),
                topic: "tweets".into()
            })
        );
        assert!("kafka://host:9092".parse::<StreamUri>().is_err());
        let landing = StreamUri::File("/srv/lake/landing/".into());
        assert_eq!(landing.asset_uri("/srv/lake"), "file://lake/landing");
        assert_eq!(
            landing.asset_uri("file:///srv/lake/"),
            "file://lake/landing"
        );
        assert_eq!(landing.asset_uri("/elsewhere"), "file:///srv/lake/landing");
        let topic: StreamUri = "kafka://k:9092/tweets".parse().unwrap();
        assert_eq!(topic.asset_uri("/srv/lake"), "kafka://k:9092/tweets");
        assert!("s3://bucket/x".parse::<StreamUri>().is_err());
    }
}
