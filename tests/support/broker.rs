//! A Kafka-protocol broker for the tests: tansu (scripts/ensure-tansu.sh installs it).

use super::service::Service;

/// A Kafka-protocol broker (tansu, in memory) on a free loopback port, stopped on drop.
pub struct Broker {
    _service: Service,
    pub bootstrap: String,
}

impl Broker {
    /// Starts tansu: `TANSU_BIN` (scripts/test-all sets it), else `tansu` on the PATH.
    pub fn start() -> Broker {
        let bin = std::env::var("TANSU_BIN").unwrap_or_else(|_| "tansu".to_string());
        let service = Service::start(&bin, "scripts/ensure-tansu.sh", |port| {
            let url = format!("tcp://127.0.0.1:{port}");
            [
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ]
            .map(String::from)
            .to_vec()
        });
        Broker {
            bootstrap: format!("127.0.0.1:{}", service.port),
            _service: service,
        }
    }
}
