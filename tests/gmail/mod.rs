//! The Gmail destination: the fake Gmail API checked on its own first, then popget importing
//! the Dovecot testbed's POP3 mail through it, logged in with the tests' OAuth server.

mod crash;
mod fake_api;
mod fetch;

use std::os::unix::fs::PermissionsExt;

use crate::harness::dovecot::{Dovecot, Options};
use crate::harness::gmail::{Behaviour as GmailBehaviour, GmailServer};
use crate::harness::oauth_server::{Behaviour, OAuthServer};
use crate::harness::{Popget, Run};

/// POP3 mailboxes on Dovecot (alice's, and carol's for a second account), a fake Gmail API
/// accepting the tokens of an OAuth server, and popget logged in to that server for
/// destination `gmail`.
struct Setup {
    oauth: OAuthServer,
    gmail: GmailServer,
    dovecot: Dovecot,
    popget: Popget,
}

/// What the configuration adds to the destination `gmail`, to account `isp` (alice's
/// mailbox), and whether a second account `old` (carol's) exists, with its own lines.
#[derive(Default)]
struct Config {
    destination: &'static str,
    account: &'static str,
    second_account: Option<&'static str>,
}

impl Config {
    /// Account `isp` deletes what Gmail holds.
    fn deleting() -> Config {
        Config {
            account: "delete = true",
            ..Config::default()
        }
    }
}

impl Setup {
    /// [`Setup::start`] with account `isp` deleting what Gmail holds.
    fn deleting(messages: &[Vec<u8>]) -> Setup {
        Setup::start(Config::deleting(), messages)
    }

    /// Starts the servers with `messages` in alice's POP3 mailbox, writes `config` and runs
    /// `popget login gmail --device`.
    fn start(config: Config, messages: &[Vec<u8>]) -> Setup {
        let oauth = OAuthServer::start(Behaviour::default());
        let gmail = GmailServer::start(oauth.token_check(), GmailBehaviour::default());
        let dovecot = Dovecot::start_with(Options {
            users: vec![("alice", "secret"), ("carol", "secret")],
            ..Options::default()
        });
        for message in messages {
            dovecot.deliver("alice", message);
        }
        let setup = Setup {
            oauth,
            gmail,
            dovecot,
            popget: Popget::new(),
        };
        setup.configure(&config);
        let run = setup
            .popget
            .run_with(setup.popget.command().args(["login", "gmail", "--device"]));
        run.expect_code(0);
        assert!(run.stderr().contains("WDJB-MJHT"), "{}", run.stderr());
        setup
    }

    /// The configuration file, where `popget login` looks for it.
    fn configure(&self, config: &Config) {
        let account = |name: &str, user: &str, extra: &str| {
            format!(
                "[accounts.{name}]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"{user}\"\n\
                 tls = \"none\"\nauth = \"user\"\npassword_command = \"echo secret\"\n\
                 deliver_to = \"gmail\"\n{extra}\n\n",
                self.dovecot.pop3_port
            )
        };
        let mut text = format!(
            "[destinations.gmail]\ngmail = \"me@gmail.com\"\napi_url = \"{}\"\n{}\n\n\
             [destinations.gmail.oauth]\n{}\n{}",
            self.gmail.url(),
            config.destination,
            self.oauth.config_toml(),
            account("isp", "alice", config.account)
        );
        if let Some(extra) = config.second_account {
            text.push_str(&account("old", "carol", extra));
        }
        let path = self.popget.path(".config/popget/config.toml");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    /// `popget -v fetch ARGS`, checking that no token the OAuth server issued shows in the
    /// trace.
    fn fetch(&self, args: &[&str]) -> Run {
        let run = self
            .popget
            .run_with(self.popget.command().args(["-v", "fetch"]).args(args));
        let stderr = run.stderr();
        for token in self.oauth.record(|r| r.access_tokens.clone()) {
            assert!(!stderr.contains(&token), "{token} in the trace:\n{stderr}");
        }
        run
    }

    /// `popget -v fetch`, which must end with `code` and say each of `said`.
    fn fails_with(&self, code: i32, said: &[&str]) {
        let run = self.fetch(&[]);
        run.expect_code(code);
        let stderr = run.stderr();
        for text in said {
            assert!(stderr.contains(text), "{text:?} not in:\n{stderr}");
        }
    }

    /// popget with `args`, which must end with 0.
    fn run_ok(&self, args: &[&str]) -> Run {
        let run = self.popget.run_with(self.popget.command().args(args));
        run.expect_code(0);
        run
    }

    /// The JSON popget with `args` prints.
    fn json(&self, args: &[&str]) -> serde_json::Value {
        let run = self.run_ok(args);
        serde_json::from_str(&run.stdout())
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout(), run.stderr()))
    }

    /// The import requests Gmail saw (any upload type, and PUTs to upload sessions).
    fn import_requests(&self) -> usize {
        self.gmail.requests_to("/messages/import").len()
    }

    /// alice's messages still on the POP3 server, sorted. Read again when Dovecot moved or
    /// removed a file while it was being read (a session of a killed popget may still be
    /// ending).
    fn left(&self) -> Vec<Vec<u8>> {
        let maildir = self.dovecot.maildir("alice");
        let read = || -> std::io::Result<Vec<Vec<u8>>> {
            let mut messages = Vec::new();
            for sub in ["new", "cur"] {
                for entry in std::fs::read_dir(maildir.join(sub))? {
                    messages.push(std::fs::read(entry?.path())?);
                }
            }
            messages.sort();
            Ok(messages)
        };
        for _ in 0..100 {
            match read() {
                Ok(messages) => return messages,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => panic!("reading {}: {e}", maildir.display()),
            }
        }
        panic!("{} kept changing while read", maildir.display());
    }
}

/// `message` as it travels over POP3 and as Gmail must receive it: every LF not already
/// after a CR preceded by one.
fn crlf(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 16);
    for (i, &byte) in message.iter().enumerate() {
        if byte == b'\n' && (i == 0 || message[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(byte);
    }
    out
}

/// The message Gmail holds without the Message-ID popget puts first in one that has none.
fn without_added_id(stored: &[u8]) -> &[u8] {
    let first_line = memchr::memmem::find(stored, b"\r\n").map_or(0, |at| at + 2);
    let first = &stored[..first_line];
    if first.starts_with(b"Message-ID: <") && first.ends_with(b"@popget.invalid>\r\n") {
        &stored[first_line..]
    } else {
        stored
    }
}

/// What Gmail holds, less the Message-IDs popget added, sorted: to compare with the CRLF form
/// of what POP3 served.
fn imported_bytes(setup: &Setup) -> Vec<Vec<u8>> {
    let mut bytes: Vec<Vec<u8>> = setup
        .gmail
        .messages()
        .iter()
        .map(|stored| without_added_id(&stored.bytes).to_vec())
        .collect();
    bytes.sort();
    bytes
}

fn crlf_sorted(messages: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut bytes: Vec<Vec<u8>> = messages.iter().map(|m| crlf(m)).collect();
    bytes.sort();
    bytes
}
