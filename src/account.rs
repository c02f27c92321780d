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

/// Where an account's messages are delivered: the only description of it that opening the
/// mailbox, fetching and recovering an interrupted run need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// A Maildir, or with `folder` its Maildir++ folder `.FOLDER` (both created where missing).
    Maildir {
        root: PathBuf,
        folder: Option<String>,
    },
    Mbox(PathBuf),
    /// A shell command each message is piped to, which may take `timeout` per message.
    Mda {
        command: String,
        timeout: Duration,
    },
    /// A mailbox on an IMAP server, each message stored with APPEND.
    Imap(Box<ImapTarget>),
    /// An LMTP server (a local Dovecot or Cyrus), each message handed over for one recipient.
    Lmtp(LmtpTarget),
    /// A Gmail mailbox, each message imported through the Gmail API.
    Gmail(Box<GmailTarget>),
}

/// An IMAP mailbox and how to log in to its server.
#[derive(Debug, Clone)]
pub struct ImapTarget {
    /// `[destinations.NAME]`'s name, or the URL given on the command line: what the tokens of
    /// an OAuth login and the keyring entry are saved under.
    pub name: String,
    pub server: Server,
    pub login: Login,
    pub mailbox: String,
    /// The flags each message is stored with (`\Seen`); none: the message arrives unread.
    pub flags: Vec<String>,
    pub internal_date: InternalDate,
}

/// Two IMAP targets are the same when they store into the same mailbox of the same server as
/// the same user, the same way; how they log in does not change where mail goes.
impl PartialEq for ImapTarget {
    fn eq(&self, other: &Self) -> bool {
        let place = |t: &ImapTarget| {
            (
                t.name.clone(),
                t.server.host.clone(),
                t.server.port,
                t.login.user.clone(),
                t.mailbox.clone(),
                t.flags.clone(),
                t.internal_date,
            )
        };
        place(self) == place(other)
    }
}

impl Eq for ImapTarget {}

/// Where an IMAP message's internal date comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InternalDate {
    /// The message's Date header.
    Date,
    /// The time of delivery.
    Received,
}

/// A Gmail mailbox and how messages are imported into it (`users.messages.import`, so that
/// Gmail's spam filter and categories see them as if they came by SMTP).
#[derive(Debug, Clone)]
pub struct GmailTarget {
    /// `[destinations.NAME]`'s name: what the OAuth tokens are saved under.
    pub name: String,
    /// The Gmail address, for messages and receipts (the API calls the mailbox `me`).
    pub address: String,
    pub oauth: OAuthLogin,
    /// Labels by name, created where missing.
    pub labels: Vec<String>,
    /// Skip the inbox: no INBOX label.
    pub archive: bool,
    /// The UNREAD label.
    pub unread: bool,
    pub never_mark_spam: bool,
    pub process_for_calendar: bool,
    pub internal_date: InternalDate,
    /// The API's base URL: `https://gmail.googleapis.com` unless a test server replaces it.
    pub api_url: url::Url,
    /// Imports per second at most, shared by every account that delivers here: Gmail's
    /// per-user quota, kept rather than hit.
    pub imports_per_second: u32,
    /// How long connecting and each answer may take.
    pub timeout: Duration,
}

/// Two Gmail targets are the same when they import into the same mailbox the same way.
impl PartialEq for GmailTarget {
    fn eq(&self, other: &Self) -> bool {
        let place = |t: &GmailTarget| {
            (
                t.name.clone(),
                t.address.clone(),
                t.labels.clone(),
                t.archive,
                t.unread,
                t.never_mark_spam,
                t.process_for_calendar,
                t.internal_date,
                t.api_url.clone(),
            )
        };
        place(self) == place(other)
    }
}

impl Eq for GmailTarget {}

/// An LMTP server and the recipient the messages are for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LmtpTarget {
    pub name: String,
    pub address: LmtpAddress,
    /// RCPT TO.
    pub recipient: String,
    /// How long connecting and each answer may take.
    pub timeout: Duration,
}

/// Where an LMTP server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LmtpAddress {
    Unix(PathBuf),
    Tcp { host: String, port: u16 },
}

/// As the configuration writes it: `unix:/PATH` or `HOST:PORT`.
impl std::fmt::Display for LmtpAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LmtpAddress::Unix(path) => write!(f, "unix:{}", path.display()),
            LmtpAddress::Tcp { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

impl Delivery {
    /// The directory or file messages go to; none for an MDA.
    pub fn path(&self) -> Option<PathBuf> {
        match self {
            Delivery::Maildir { root, folder: None } => Some(root.clone()),
            Delivery::Maildir {
                root,
                folder: Some(name),
            } => Some(root.join(format!(".{name}"))),
            Delivery::Mbox(path) => Some(path.clone()),
            Delivery::Mda { .. } | Delivery::Imap(_) | Delivery::Lmtp(_) | Delivery::Gmail(_) => {
                None
            }
        }
    }

    /// The kind of store, as `popget accounts` names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Delivery::Maildir { .. } => "maildir",
            Delivery::Mbox(_) => "mbox",
            Delivery::Mda { .. } => "mda",
            Delivery::Imap(_) => "imap",
            Delivery::Lmtp(_) => "lmtp",
            Delivery::Gmail(_) => "gmail",
        }
    }
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
