//! A private DNS server on loopback (Debian's dnsmasq, from dnsmasq-base): authoritative for
//! popget.test, answering only with the records a test gives it.

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Stdio};

const DNSMASQ: &str = "/usr/sbin/dnsmasq";

/// The domain the server answers for; other names are refused.
pub const DOMAIN: &str = "popget.test";

pub struct Dnsmasq {
    child: Child,
    pub port: u16,
}

impl Dnsmasq {
    /// Starts dnsmasq with `records`, options such as `--srv-host=...` or `--host-record=...`.
    /// Panics (fails the test, never skips it) when dnsmasq is missing.
    pub fn start(records: &[String]) -> Dnsmasq {
        assert!(
            Path::new(DNSMASQ).exists(),
            "{DNSMASQ} is missing: install dnsmasq-base (scripts/install-deps does this)"
        );
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(DNSMASQ)
            .args([
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--no-poll",
                "--pid-file",
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                &format!("--port={port}"),
                // Authoritative here: names without records get NXDOMAIN, not REFUSED.
                &format!("--local=/{DOMAIN}/"),
            ])
            .args(records)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("dnsmasq starts");
        let mut child = child;
        // dnsmasq listens on TCP and UDP together.
        assert!(
            super::server::wait_until_listening(&mut child, &[port]),
            "dnsmasq did not listen on 127.0.0.1:{port} (or exited)"
        );
        Dnsmasq { child, port }
    }

    /// The value for POPGET_DNS_SERVER.
    pub fn server(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
