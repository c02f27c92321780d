//! A `[destinations.NAME]` table with `gmail = "ADDRESS"`: a Gmail mailbox that messages are
//! imported into through the Gmail API, logged in to with the table's OAuth login.

use std::path::PathBuf;
use std::time::Duration;

use super::paths::state_dir;
use super::resolve::DEFAULT_TIMEOUT;
use super::settings::{self, DestinationSettings, Settings};
use crate::account::{GmailTarget, InternalDate};
use crate::credentials::oauth::{OAuthLogin, Purpose};
use crate::error::Error;

/// Where the Gmail API is.
const GMAIL_API: &str = "https://gmail.googleapis.com";
/// Gmail's per-user quota is 250 units a second and an import costs 25.
const IMPORTS_PER_SECOND: u32 = 10;
/// The keys that only an IMAP or LMTP destination has.
const SERVER_KEYS: &[&str] = &[
    "recipient",
    "tls",
    "ca_file",
    "insecure",
    "fingerprint",
    "auth",
    "password_command",
    "password",
    "flags",
];

/// A Gmail destination; problems pushed onto `problems`.
pub(super) fn resolve(
    name: &str,
    address: &str,
    settings: &DestinationSettings,
    problems: &mut Vec<Error>,
) -> Option<GmailTarget> {
    let before = problems.len();
    let about = |keys: &[&'static str], message: String| {
        Error::config_about(keys, format!("destination \"{name}\": {message}"))
    };
    let address = address.trim();
    if !address.contains('@') || address.chars().any(|c| c.is_whitespace() || c.is_control()) {
        problems.push(about(
            &["gmail"],
            format!("gmail = {address:?} is not a mail address"),
        ));
    }
    for key in SERVER_KEYS {
        if is_set(settings, key) {
            problems.push(about(
                &["gmail"],
                format!("{key} does not apply to a Gmail destination, which logs in with OAuth"),
            ));
        }
    }
    let labels = settings
        .label
        .as_ref()
        .map(settings::Labels::names)
        .unwrap_or_default();
    if let Err(why) = check_labels(&labels) {
        problems.push(about(&["label"], why));
    }
    let api_url = match api_url(settings.api_url.as_deref().unwrap_or(GMAIL_API)) {
        Ok(url) => Some(url),
        Err(why) => {
            problems.push(about(&["api_url"], why));
            None
        }
    };
    let imports_per_second = settings.imports_per_second.unwrap_or(IMPORTS_PER_SECOND);
    if imports_per_second == 0 {
        problems.push(about(
            &["imports_per_second"],
            "imports_per_second must be at least 1".into(),
        ));
    }
    let timeout = settings.timeout.unwrap_or(DEFAULT_TIMEOUT);
    if timeout == 0 {
        problems.push(about(
            &["timeout"],
            "the timeout must be at least 1 second".into(),
        ));
    }
    let oauth = match &settings.oauth {
        None => {
            problems.push(about(
                &["gmail"],
                format!(
                    "a Gmail destination logs in with OAuth: add a [destinations.{name}.oauth] \
                     table (provider = \"google\" and your client_id), then run `popget login \
                     {name}`"
                ),
            ));
            None
        }
        Some(table) => match table.resolve_for(name, Purpose::GmailImport) {
            Ok(client) => Some(OAuthLogin {
                client,
                token_dir: state_dir().unwrap_or_else(|_| PathBuf::from(".")),
            }),
            Err(error) => {
                problems.push(Error::OAuth(error));
                None
            }
        },
    };
    if problems.len() > before {
        return None;
    }
    Some(GmailTarget {
        name: name.to_string(),
        address: address.to_string(),
        oauth: oauth?,
        labels,
        archive: settings.archive.unwrap_or(false),
        unread: settings.unread.unwrap_or(true),
        never_mark_spam: settings.never_mark_spam.unwrap_or(false),
        process_for_calendar: settings.process_for_calendar.unwrap_or(false),
        internal_date: match settings.internal_date.unwrap_or_default() {
            settings::InternalDate::Date => InternalDate::Date,
            settings::InternalDate::Received => InternalDate::Received,
        },
        api_url: api_url?,
        imports_per_second,
        timeout: Duration::from_secs(timeout),
    })
}

/// An account's own labels and archive choice over its Gmail destination's
/// (`gmail_label`, `gmail_archive`), so that each source gets its label as in Gmail's old
/// fetcher.
pub(super) fn apply_account_keys(
    account: &str,
    target: &mut GmailTarget,
    settings: &Settings,
    problems: &mut Vec<Error>,
) {
    if let Some(labels) = &settings.gmail_label {
        let labels = labels.names();
        match check_labels(&labels) {
            Ok(()) => target.labels = labels,
            Err(why) => problems.push(Error::config_of_account(
                &["gmail_label"],
                format!("account \"{account}\": {why}"),
            )),
        }
    }
    if let Some(archive) = settings.gmail_archive {
        target.archive = archive;
    }
}

/// Whether the account sets keys that only a Gmail destination uses.
pub(super) fn sets_gmail_keys(settings: &Settings) -> bool {
    settings.gmail_label.is_some() || settings.gmail_archive.is_some()
}

/// Label names Gmail would accept: not empty, no control characters, not a system label's
/// name (those are chosen by `archive` and `unread`).
fn check_labels(labels: &[String]) -> Result<(), String> {
    for label in labels {
        if label.trim().is_empty() || label.chars().any(char::is_control) {
            return Err(format!(
                "the label {label:?} is empty or holds control characters"
            ));
        }
        const SYSTEM: [&str; 4] = ["INBOX", "UNREAD", "SPAM", "TRASH"];
        if SYSTEM
            .iter()
            .any(|system| system.eq_ignore_ascii_case(label))
        {
            return Err(format!(
                "{label:?} is a system label: use archive = false for INBOX and unread = true \
                 for UNREAD"
            ));
        }
    }
    Ok(())
}

/// The API's base URL: https anywhere, http only to this machine (a test server), never with
/// a user, a query or a fragment.
fn api_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text).map_err(|e| format!("api_url {text:?}: {e}"))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(format!(
                "api_url {text:?}: http:// is allowed only to 127.0.0.1, ::1 or localhost"
            ))
        }
        other => return Err(format!("api_url {text:?}: the scheme {other} is not https")),
    }
    if !url.username().is_empty() || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "api_url {text:?}: only a scheme, a host and a port (and a path) belong here"
        ));
    }
    Ok(url)
}

/// Whether a server-destination key is set in a Gmail table.
fn is_set(settings: &DestinationSettings, key: &str) -> bool {
    match key {
        "recipient" => settings.recipient.is_some(),
        "tls" => settings.tls.is_some(),
        "ca_file" => settings.ca_file.is_some(),
        "insecure" => settings.insecure.is_some(),
        "fingerprint" => settings.fingerprint.is_some(),
        "auth" => settings.auth.is_some(),
        "password_command" => settings.password_command.is_some(),
        "password" => settings.password.is_some(),
        "flags" => settings.flags.is_some(),
        _ => false,
    }
}

/// Whether a Gmail-only key is set in an IMAP or LMTP table.
pub(super) fn sets_gmail_only_keys(settings: &DestinationSettings) -> Option<&'static str> {
    let set = [
        ("label", settings.label.is_some()),
        ("archive", settings.archive.is_some()),
        ("unread", settings.unread.is_some()),
        ("never_mark_spam", settings.never_mark_spam.is_some()),
        (
            "process_for_calendar",
            settings.process_for_calendar.is_some(),
        ),
        ("api_url", settings.api_url.is_some()),
        ("imports_per_second", settings.imports_per_second.is_some()),
    ];
    set.iter().find(|(_, set)| *set).map(|(key, _)| *key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls_are_https_or_loopback_http() {
        assert!(api_url("https://gmail.googleapis.com").is_ok());
        assert!(api_url("http://127.0.0.1:8080").is_ok());
        assert!(api_url("http://[::1]:8080").is_ok());
        assert!(api_url("http://localhost:1").is_ok());
        for bad in [
            "http://gmail.googleapis.com",
            "http://10.0.0.1",
            "ftp://127.0.0.1",
            "https://u@h",
            "https://h/?x=1",
            "no url",
        ] {
            assert!(api_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn labels_are_checked() {
        assert!(check_labels(&["Old ISP".into(), "a/b".into()]).is_ok());
        assert!(check_labels(&["".into()]).is_err());
        assert!(check_labels(&["inbox".into()]).is_err());
        assert!(check_labels(&["x\ny".into()]).is_err());
    }
}
