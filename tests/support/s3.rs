//! An S3-compatible server for the tests: moto (scripts/ensure-moto.sh installs it).

use super::service::Service;
use std::process::Command;

/// moto's S3-compatible server on a free loopback port with one bucket, stopped on drop.
pub struct S3Server {
    _service: Service,
    pub endpoint: String,
}

impl S3Server {
    /// Starts `MOTO_SERVER` (scripts/ensure-moto.sh installs it) and creates `bucket`.
    pub fn start(bucket: &str) -> S3Server {
        let bin = std::env::var("MOTO_SERVER").unwrap_or_else(|_| "moto_server".to_string());
        let service = Service::start(&bin, "scripts/ensure-moto.sh", |port| {
            ["-H", "127.0.0.1", "-p", &port.to_string()]
                .map(String::from)
                .to_vec()
        });
        let endpoint = format!("http://127.0.0.1:{}", service.port);
        let made = Command::new("curl")
            .args(["-sf", "-X", "PUT", &format!("{endpoint}/{bucket}")])
            .status()
            .expect("run curl");
        assert!(made.success(), "creating bucket {bucket}");
        S3Server {
            _service: service,
            endpoint,
        }
    }

    /// The environment that points Updraft (object_store) at this server.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ALLOW_HTTP", "true"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}
