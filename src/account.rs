//! One account, resolved: everything a run needs to know about it, checked once when the
//! configuration is read ([`crate::config`]) and never re-read or re-validated afterwards.
//!
//! An [`Account`] says where the server is and how to reach it ([`Server`]), how to log in
//! ([`Login`]), where mail goes ([`Delivery`]), what a fetch may do ([`Policy`]), how the daemon
//! polls it ([`Schedule`]) and which state file remembers what was fetched.

use std::path::PathBuf;
use std::time::Duration;

use crate::auth::{gssapi, AuthMethod};
use crate::credentials::oauth::OAuthLogin;
use crate::credentials::password::{SecretLocation, SecretSources};
pub use crate::store::Delivery;
use crate::transport::proxy::Proxy;
use crate::transport::{CertificatePolicy, TlsMode};

/// One account, validated and ready to use.
#[derive(Debug, Clone)]
pub struct Account {
    /// The config name, or `user@host` for an account given on the command line.
    pub name: String,
    pub server: Server,
    pub login: Login,
    /// Where fetched mail goes; `None` when no destination is configured, which only commands
    /// that deliver need ([`crate::fetch::fetch_account`] refuses such an account).
    pub delivery: Option<Delivery>,
    pub policy: Policy,
    pub schedule: Schedule,
    /// The file that records which messages were fetched, next to its journal and lock.
    pub state_path: PathBuf,
}

/// The POP3 server and the way to it.
#[derive(Debug, Clone)]
pub struct Server {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub certificates: CertificatePolicy,
    /// How long one connection attempt or one answer may take.
    pub timeout: Duration,
    /// What a whole session and a listing may take (`session_timeout`, `max_listing`).
    pub limits: Limits,
    /// The SOCKS5 proxy the connection goes through, if any.
    pub proxy: Option<Proxy>,
    /// Whether commands go out without waiting for each answer.
    pub pipelining: crate::pop3::Pipelining,
    /// How closely a message must fit the size LIST announced for it.
    pub list_sizes: crate::pop3::ListedSizes,
}

/// Bounds on what one session may cost, whatever the server does.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub session_timeout: Duration,
    /// Octets of memory one LIST or UIDL answer may take.
    pub max_listing: u64,
}

/// Who logs in, how, and where the secret comes from.
#[derive(Debug, Clone)]
pub struct Login {
    pub user: String,
    pub method: AuthMethod,
    /// Where a password comes from, in the order the sources are tried.
    pub secrets: SecretSources,
    /// The Kerberos service principal for GSSAPI: `pop@HOST` unless configured.
    pub gssapi: gssapi::Target,
    /// `[accounts.NAME.oauth]` resolved: the account logs in with an OAuth access token
    /// instead of a password.
    pub oauth: Option<OAuthLogin>,
}

/// What a fetch may do on the server and with each message.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Delete messages on the server once they are delivered and recorded.
    pub delete: bool,
    /// Larger messages (by LIST size) stay on the server; one that turns out larger while it
    /// streams is abandoned, never truncated.
    pub max_size: Option<u64>,
    /// Delete messages over `max_size` without downloading them.
    pub delete_oversized: bool,
    /// Delete fetched messages this many days after they were first seen.
    pub keep_days: Option<u64>,
    /// Fetch at most this many messages per run.
    pub limit: Option<u64>,
    /// Stop fetching once this many octets (by LIST size) are planned.
    pub max_bytes: Option<u64>,
    /// Decides from each new message's headers whether to fetch it.
    pub filter: Option<Command>,
}

/// A shell command popget runs (`sh -c`), with the time it may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub command: String,
    pub timeout: Duration,
}

impl Login {
    /// Where the secret lives, as `popget accounts` shows it, found without running a command
    /// or asking anything.
    pub fn secret_location(&self) -> SecretLocation {
        if let Some(oauth) = &self.oauth {
            return oauth.locate();
        }
        if self.method == AuthMethod::Gssapi {
            return SecretLocation::Kerberos;
        }
        self.secrets.locate()
    }
}

/// How `popget daemon` polls the account, and what runs when mail arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// The time between two polls.
    pub interval: Duration,
    /// Run after a run that delivered something (`on_new_mail`).
    pub on_new_mail: Option<Command>,
}

/// How often `popget daemon` polls an account unless `interval` says otherwise.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            interval: DEFAULT_INTERVAL,
            on_new_mail: None,
        }
    }
}

/// The state file's name for `user` on `host:port`, escaped so that it is always one safe
/// file name.
pub fn state_key(user: &str, host: &str, port: u16) -> String {
    // Every byte but ASCII letters, digits and `@_-.` becomes `%XX`.
    const ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'@')
        .remove(b'_')
        .remove(b'-')
        .remove(b'.');
    let raw = format!("{user}@{host}_{port}");
    let mut key = percent_encoding::utf8_percent_encode(&raw, ESCAPED).to_string();
    if key.starts_with('.') {
        key.replace_range(0..1, "%2E");
    }
    key
}
