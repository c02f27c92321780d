//! The raw layers: the keys of `[defaults]` and `[accounts.NAME]` tables and of the command
//! line, as written, before an account is resolved from them.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::auth::AuthMethod;
use crate::credentials::oauth::OAuthConfig;
use crate::error::{Error, Result};
use crate::pop3::{ListedSizes, Pipelining};
use crate::transport::TlsMode;

/// The keys of `[defaults]` and of each `[accounts.NAME]` table.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `[accounts.NAME]` only: the account whose settings this one's are layered over.
    pub inherit: Option<String>,
    /// `[accounts.NAME]` only: a table that exists to be inherited, never fetched or listed.
    pub template: Option<bool>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub tls: Option<TlsMode>,
    pub ca_file: Option<PathBuf>,
    pub insecure: Option<bool>,
    pub fingerprint: Option<String>,
    pub auth: Option<AuthMethod>,
    pub password_command: Option<String>,
    pub password: Option<String>,
    pub maildir: Option<PathBuf>,
    pub mbox: Option<PathBuf>,
    pub keep: Option<bool>,
    pub delete: Option<bool>,
    pub state: Option<PathBuf>,
    pub timeout: Option<u64>,
    pub max_size: Option<SizeSetting>,
    pub mda: Option<String>,
    pub folder: Option<String>,
    pub delete_oversized: Option<bool>,
    pub keep_days: Option<u64>,
    pub limit: Option<u64>,
    pub max_bytes: Option<SizeSetting>,
    pub filter: Option<String>,
    pub pipelining: Option<Pipelining>,
    /// `"estimated"` for a server whose LIST sizes are not the messages' sizes.
    pub list_sizes: Option<ListedSizes>,
    pub session_timeout: Option<u64>,
    pub max_listing: Option<SizeSetting>,
    /// A SOCKS5 proxy URL (`socks5h://HOST:PORT`).
    pub proxy: Option<String>,
    /// The Kerberos service principal's service and host for `auth = "gssapi"` (`pop`, the
    /// server's host name).
    pub gssapi_service: Option<String>,
    pub gssapi_host: Option<String>,
    /// `popget daemon`: how often to poll the account (`300`, `"90s"`, `"5m"`, `"1h"`).
    pub interval: Option<IntervalSetting>,
    /// A shell command run after a run that delivered something.
    pub on_new_mail: Option<String>,
    /// `[accounts.NAME.oauth]`: log in with XOAUTH2 or OAUTHBEARER using tokens from
    /// `popget login NAME` (accounts only; share it with `inherit`).
    pub oauth: Option<OAuthConfig>,
    /// The `[destinations.NAME]` table mail goes to, instead of maildir, mbox or mda.
    pub deliver_to: Option<String>,
    /// With a Gmail destination: this account's labels, instead of the destination's.
    pub gmail_label: Option<Labels>,
    /// With a Gmail destination: whether this account's mail skips the inbox.
    pub gmail_archive: Option<bool>,
}

/// The keys of a `[destinations.NAME]` table: an IMAP mailbox or an LMTP server that any
/// number of accounts deliver to.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationSettings {
    /// `imaps://USER@HOST[:PORT]/MAILBOX` (TLS on connect) or `imap://...` (STARTTLS).
    pub imap: Option<String>,
    /// `unix:/PATH` or `HOST:PORT`.
    pub lmtp: Option<String>,
    /// LMTP: the recipient given in RCPT TO.
    pub recipient: Option<String>,
    pub tls: Option<TlsMode>,
    pub ca_file: Option<PathBuf>,
    pub insecure: Option<bool>,
    pub fingerprint: Option<String>,
    pub auth: Option<AuthMethod>,
    pub password_command: Option<String>,
    pub password: Option<String>,
    pub timeout: Option<u64>,
    /// IMAP: the flags each message is stored with (`['\Seen']`); none by default.
    pub flags: Option<Vec<String>>,
    /// IMAP: the internal date, from the message's Date header or the time of delivery.
    pub internal_date: Option<InternalDate>,
    /// `[destinations.NAME.oauth]`: log in with an OAuth2 token from `popget login NAME`.
    pub oauth: Option<OAuthConfig>,
    /// Gmail: the address whose mailbox messages are imported into through the Gmail API.
    pub gmail: Option<String>,
    /// Gmail: the labels each message gets, by name (one, or a list).
    pub label: Option<Labels>,
    /// Gmail: skip the inbox.
    pub archive: Option<bool>,
    /// Gmail: mark each message unread (the default).
    pub unread: Option<bool>,
    pub never_mark_spam: Option<bool>,
    pub process_for_calendar: Option<bool>,
    /// Gmail: the API's base URL; `http://` only to the loopback interface (tests).
    pub api_url: Option<String>,
    /// Gmail: imports per second at most (10: Gmail's per-user quota).
    pub imports_per_second: Option<u32>,
}

/// One label or several.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Labels {
    One(String),
    Several(Vec<String>),
}

impl Labels {
    pub fn names(&self) -> Vec<String> {
        match self {
            Labels::One(name) => vec![name.clone()],
            Labels::Several(names) => names.clone(),
        }
    }
}

/// Where an IMAP message's internal date comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InternalDate {
    /// The message's Date header (the server's own time if it has none or it cannot be read).
    #[default]
    Date,
    /// The time of delivery.
    Received,
}

/// A duration in the configuration file: `interval = 300` (seconds) or `interval = "5m"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum IntervalSetting {
    Seconds(u64),
    Text(String),
}

impl IntervalSetting {
    /// The duration, at least one second; `key` names the setting in the error.
    pub fn duration_of(&self, key: &'static str) -> Result<Duration> {
        let seconds = match self {
            IntervalSetting::Seconds(seconds) => Some(*seconds),
            IntervalSetting::Text(text) => parse_seconds(text),
        };
        seconds
            .filter(|&seconds| seconds >= 1)
            .map(Duration::from_secs)
            .ok_or_else(|| {
                Error::config_about(
                    &[key],
                    format!(
                    "{key}: {self:?} is not a duration of at least 1 second (like 300, \"90s\", \
                     \"5m\" or \"1h\")"
                ),
                )
            })
    }
}

/// Reads `"90s"`, `"5m"`, `"1h"`, `"1d"` or plain seconds (`"300"`).
fn parse_seconds(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let unit_seconds = match unit.trim() {
        "" | "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(unit_seconds)
}

/// A size in the configuration file: `max_size = 20971520` or `max_size = "20M"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SizeSetting {
    Octets(u64),
    Text(String),
}

impl SizeSetting {
    pub(super) fn octets_of(&self, key: &'static str) -> Result<u64> {
        match self {
            SizeSetting::Octets(0) => Err(Error::config_about(
                &[key],
                format!("{key} must be more than 0"),
            )),
            SizeSetting::Octets(n) => Ok(*n),
            SizeSetting::Text(text) => {
                parse_size(text).map_err(|e| Error::config_about(&[key], format!("{key}: {e}")))
            }
        }
    }
}

impl Settings {
    /// `self` with every key that `over` sets replaced.
    pub(super) fn overlaid(mut self, over: &Settings) -> Settings {
        macro_rules! take {
            ($($field:ident),*) => { $( if over.$field.is_some() { self.$field = over.$field.clone(); } )* };
        }
        take!(
            host,
            port,
            user,
            tls,
            ca_file,
            insecure,
            fingerprint,
            auth,
            password_command,
            password,
            state,
            timeout,
            max_size,
            session_timeout,
            max_listing,
            folder,
            delete_oversized,
            keep_days,
            limit,
            max_bytes,
            filter,
            pipelining,
            list_sizes,
            proxy,
            gssapi_service,
            gssapi_host,
            interval,
            on_new_mail,
            oauth,
            gmail_label,
            gmail_archive
        );
        // The destination (maildir, mbox, mda or deliver_to) and keep/delete are each one
        // choice: the more specific layer's wins.
        if over.maildir.is_some()
            || over.mbox.is_some()
            || over.mda.is_some()
            || over.deliver_to.is_some()
        {
            self.maildir = over.maildir.clone();
            self.mbox = over.mbox.clone();
            self.mda = over.mda.clone();
            self.deliver_to = over.deliver_to.clone();
        }
        if over.keep.is_some() || over.delete.is_some() {
            self.keep = over.keep;
            self.delete = over.delete;
        }
        self
    }
}

/// What the command line said, layered over the file: settings (its flags in the file's terms),
/// a password command given there, which comes first among the password sources, and a
/// destination given for this run (`--imap URL`, `--lmtp ADDRESS`), by the name `deliver_to`
/// then uses.
#[derive(Debug, Default, Clone)]
pub struct CommandLine {
    pub settings: Settings,
    pub password_command: Option<String>,
    pub destination: Option<(String, DestinationSettings)>,
}

/// A size: a number of octets, optionally followed by K, M or G (powers of 1024, with or
/// without `iB`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => (&text[..at], text[at..].trim()),
        None => (text, ""),
    };
    let multiplier: u64 = match unit
        .to_ascii_uppercase()
        .trim_end_matches('B')
        .trim_end_matches('I')
    {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => {
            return Err(format!(
                "{text:?} is not a size (like 500000, 800K, 20M or 1G)"
            ))
        }
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{text:?} is not a size (like 500000, 800K, 20M or 1G)"))
}
