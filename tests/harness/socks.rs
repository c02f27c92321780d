//! A real SOCKS5 proxy on loopback (Debian's microsocks), optionally with a user and password,
//! optionally resolving names from a hosts file only it can see (its own mount namespace).

use std::path::Path;
use std::process::{Child, Command, Stdio};

const MICROSOCKS: &str = "/usr/bin/microsocks";

pub struct Socks {
    child: Child,
    pub port: u16,
}

impl Socks {
    /// Starts microsocks on 127.0.0.1. With `hosts`, it runs in a mount namespace where that
    /// file is /etc/hosts, so names listed there resolve for the proxy and for no one else.
    /// Panics (fails the test, never skips it) when microsocks is missing.
    pub fn start(login: Option<(&str, &str)>, hosts: Option<&Path>) -> Socks {
        assert!(
            Path::new(MICROSOCKS).exists(),
            "{MICROSOCKS} is missing: install microsocks (scripts/install-deps does this)"
        );
        let port = super::server::free_port();
        let mut proxy_args = vec![
            MICROSOCKS.to_string(),
            "-i".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
        ];
        if let Some((user, password)) = login {
            proxy_args.extend(["-u".into(), user.into(), "-P".into(), password.into()]);
        }
        let mut command = match hosts {
            Some(hosts) => super::namespace::with_hosts(hosts, None),
            None => Command::new(&proxy_args[0]),
        };
        let skip = usize::from(hosts.is_none());
        command
            .args(&proxy_args[skip..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = command.spawn().expect("microsocks starts");
        assert!(
            super::server::wait_until_listening(&mut child, &[port]),
            "microsocks did not listen on 127.0.0.1:{port} (or exited)"
        );
        Socks { child, port }
    }

    /// The proxy URL, with `login` in it when given.
    pub fn url(&self, scheme: &str, login: Option<(&str, &str)>) -> String {
        match login {
            Some((user, password)) => {
                format!("{scheme}://{user}:{password}@127.0.0.1:{}", self.port)
            }
            None => format!("{scheme}://127.0.0.1:{}", self.port),
        }
    }
}

impl Drop for Socks {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
