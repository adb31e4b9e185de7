//! A server process a test starts on a free loopback port; it is stopped when dropped.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server process.
pub struct Service {
    child: Child,
    pub port: u16,
}

impl Service {
    /// Starts `bin` with the arguments `args` gives for a free port, and waits until it
    /// listens there. `installer` names what installs `bin`, for the error.
    pub fn start(bin: &str, installer: &str, args: impl FnOnce(u16) -> Vec<String>) -> Service {
        let port = free_port();
        let child = Command::new(bin)
            .args(args(port))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{bin}` ({e}); {installer} installs it"));
        let service = Service { child, port };
        wait_until_listening(port, bin);
        service
    }
}

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port()
}

/// Waits (30 s at most) until something accepts connections on `port`.
pub fn wait_until_listening(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "`{what}` did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
