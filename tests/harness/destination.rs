//! A fake destination of either kind (tests/harness/fake_imap.rs, fake_lmtp.rs) as a test
//! drives it: what it is and how it fails, the running server, and popget's configuration
//! delivering into it.

use std::os::unix::fs::PermissionsExt;

use super::fake_imap::{FakeImap, Fault, ImapScript};
use super::fake_lmtp::{FakeLmtp, LmtpFault, LmtpScript};
use super::misbehaviour::Record;
use super::Popget;

/// What a case delivers into, and how that goes wrong.
#[derive(Debug, Clone)]
pub enum Destination {
    Imap {
        script: ImapScript,
        mailbox: &'static str,
        fault: Fault,
        /// Nobody listens on the port.
        unreachable: bool,
        /// The mailbox gets a new UIDVALIDITY before the rerun.
        renumbered: bool,
    },
    Lmtp {
        script: LmtpScript,
        fault: LmtpFault,
        unreachable: bool,
    },
}

/// A served message as the destination receives it: each LF not after a CR becomes CRLF (a
/// bare CR stays as it is).
pub fn crlf(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 20);
    for (i, &byte) in message.iter().enumerate() {
        if byte == b'\n' && (i == 0 || message[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(byte);
    }
    out
}

/// A running fake destination.
pub enum Server {
    Imap(FakeImap),
    Lmtp(FakeLmtp),
}

impl Server {
    pub fn start(destination: &Destination) -> Server {
        match destination {
            Destination::Imap { script, .. } => Server::Imap(FakeImap::start(script.clone())),
            Destination::Lmtp { script, .. } => Server::Lmtp(FakeLmtp::start(script.clone())),
        }
    }

    /// Sets the destination's fault (`hostile`) or none.
    pub fn arm(&self, destination: &Destination, hostile: bool) {
        match (self, destination) {
            (Server::Imap(server), Destination::Imap { fault, .. }) => {
                server.set_fault(if hostile { fault.clone() } else { Fault::None })
            }
            (Server::Lmtp(server), Destination::Lmtp { fault, .. }) => {
                server.set_fault(if hostile {
                    fault.clone()
                } else {
                    LmtpFault::None
                })
            }
            _ => unreachable!("a server of the destination's kind"),
        }
    }

    pub fn port(&self) -> u16 {
        match self {
            Server::Imap(server) => server.port(),
            Server::Lmtp(server) => server.port(),
        }
    }

    /// Every message stored, as received.
    pub fn stored(&self, destination: &Destination) -> Vec<Vec<u8>> {
        match (self, destination) {
            (Server::Imap(server), Destination::Imap { mailbox, .. }) => server.stored(mailbox),
            (Server::Lmtp(server), _) => server.delivered(),
            _ => unreachable!("a server of the destination's kind"),
        }
    }

    pub fn record(&self) -> Record {
        match self {
            Server::Imap(server) => server.record(),
            Server::Lmtp(server) => server.record(),
        }
    }
}

/// Writes the configuration: account `isp` on the POP3 server at `pop3`, delivering into
/// `destination` at `port` (its state file `isp.state` in the home), every timeout one second.
/// Returns its path.
pub fn write_config(popget: &Popget, destination: &Destination, pop3: u16, port: u16) -> String {
    let table = match destination {
        Destination::Imap { mailbox, .. } => format!(
            "imap = \"imap://bob@127.0.0.1:{port}/{}\"\ntls = \"none\"\npassword = \"secret\"\n",
            mailbox.replace(' ', "%20")
        ),
        Destination::Lmtp { .. } => {
            format!("lmtp = \"127.0.0.1:{port}\"\nrecipient = \"bob\"\n")
        }
    };
    let path = popget.path("config.toml");
    std::fs::write(
        &path,
        format!(
            "[destinations.dest]\n{table}timeout = 1\n\n\
             [accounts.isp]\nhost = \"127.0.0.1\"\nport = {pop3}\nuser = \"alice\"\n\
             tls = \"none\"\nauth = \"user\"\ndeliver_to = \"dest\"\ntimeout = 1\n\
             session_timeout = 20\nstate = \"{}\"\n",
            popget.path("isp.state").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path.display().to_string()
}

pub fn fetch_command(popget: &Popget, config: &str, delete: bool) -> std::process::Command {
    let mut command = popget.command();
    command
        .env("POPGET_PASSWORD", "secret")
        .args(["--config", config, "fetch"]);
    if delete {
        command.arg("--delete");
    }
    command
}
