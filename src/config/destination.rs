//! `[destinations.NAME]` resolved: an IMAP mailbox, an LMTP server or a Gmail mailbox
//! ([`super::gmail`]) that accounts deliver to
//! with `deliver_to = "NAME"`, or one given for a single run with `--imap URL` or `--lmtp
//! ADDRESS --recipient USER`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::gmail;
use super::paths::home_dir;
use super::resolve::{self, DEFAULT_TIMEOUT};
use super::settings::{self, DestinationSettings, Settings};
use super::ConfigFile;
use crate::account::{Delivery, ImapTarget, InternalDate, LmtpAddress, LmtpTarget, Login};
use crate::credentials::password::{SecretSource, SecretSources};
use crate::credentials::Secret;
use crate::error::{Error, Result};
use crate::transport::TlsMode;

/// The environment variable holding the password of a destination given with `--imap URL`.
pub const DESTINATION_PASSWORD_ENV: &str = "POPGET_DESTINATION_PASSWORD";

/// The destinations accounts may name: the file's, and the one the command line gave.
#[derive(Clone, Copy)]
pub(super) struct Destinations<'a> {
    pub config: &'a ConfigFile,
    /// `--imap URL` or `--lmtp ADDRESS`: named after what was given.
    pub command_line: Option<(&'a str, &'a DestinationSettings)>,
}

impl<'a> Destinations<'a> {
    /// Destination `name`, and whether it was given on the command line for this run.
    fn find(&self, name: &str) -> Result<(&'a DestinationSettings, bool)> {
        match self.command_line {
            Some((given, settings)) if given == name => Ok((settings, true)),
            _ => self
                .config
                .destination(name)
                .map(|settings| (settings, false)),
        }
    }
}

/// Destination `name` of the configuration file on its own (for `popget login` and `popget
/// password`), or its first problem.
pub fn resolve_named(
    config: &ConfigFile,
    name: &str,
    env: &HashMap<String, String>,
) -> Result<Delivery> {
    let mut problems = Vec::new();
    let destinations = Destinations {
        config,
        command_line: None,
    };
    match resolve(name, Some(destinations), env, &mut problems) {
        Some(delivery) if problems.is_empty() => Ok(delivery),
        _ => Err(problems
            .into_iter()
            .next()
            .unwrap_or_else(|| Error::config(format!("destination \"{name}\" cannot be used")))),
    }
}

/// The delivery of destination `name`; problems pushed onto `problems`.
pub(super) fn resolve(
    name: &str,
    destinations: Option<Destinations>,
    env: &HashMap<String, String>,
    problems: &mut Vec<Error>,
) -> Option<Delivery> {
    let empty = ConfigFile::default();
    let destinations = destinations.unwrap_or(Destinations {
        config: &empty,
        command_line: None,
    });
    let found = destinations.find(name);
    let (settings, one_off) = match found {
        Ok(found) => found,
        Err(error) => {
            problems.push(error);
            return None;
        }
    };
    let about = |keys: &[&'static str], message: String| {
        Error::config_about(keys, format!("destination \"{name}\": {message}"))
    };
    let kinds = [
        ("imap", settings.imap.as_deref()),
        ("lmtp", settings.lmtp.as_deref()),
        ("gmail", settings.gmail.as_deref()),
    ];
    let set: Vec<(&'static str, &str)> = kinds
        .iter()
        .filter_map(|&(key, value)| Some((key, value?)))
        .collect();
    let (kind, value) = match set.as_slice() {
        [one] => *one,
        [] => {
            problems.push(about(
                &["imap", "lmtp", "gmail"],
                "sets none of imap, lmtp and gmail".into(),
            ));
            return None;
        }
        [(first, _), (second, _), ..] => {
            problems.push(about(
                &[first, second],
                format!("sets both {first} and {second}; choose one"),
            ));
            return None;
        }
    };
    if kind != "gmail" {
        if let Some(key) = gmail::sets_gmail_only_keys(settings) {
            problems.push(about(
                &[key],
                format!("{key} applies only to a Gmail destination (gmail = \"ADDRESS\")"),
            ));
        }
    }
    match kind {
        "imap" => imap(name, value, settings, one_off, env, problems)
            .map(|target| Delivery::Imap(Box::new(target))),
        "lmtp" => lmtp(name, value, settings, problems).map(Delivery::Lmtp),
        _ => gmail::resolve(name, value, settings, problems)
            .map(|target| Delivery::Gmail(Box::new(target))),
    }
}

/// An IMAP destination: the URL's server, user and mailbox, logged in to as an account's POP3
/// server is (TLS, certificates, login method, OAuth), its secret from its own sources.
fn imap(
    name: &str,
    url: &str,
    settings: &DestinationSettings,
    one_off: bool,
    env: &HashMap<String, String>,
    problems: &mut Vec<Error>,
) -> Option<ImapTarget> {
    let parsed = match parse_imap_url(url) {
        Ok(parsed) => parsed,
        Err(why) => {
            problems.push(Error::config_about(
                &["imap"],
                format!("destination \"{name}\": invalid URL {url:?}: {why}"),
            ));
            return None;
        }
    };
    let tls = settings.tls.unwrap_or(parsed.tls);
    let layer = Settings {
        host: Some(parsed.host.clone()),
        port: Some(parsed.port.unwrap_or(imap_port(tls))),
        user: Some(parsed.user.clone()),
        tls: Some(tls),
        ca_file: settings.ca_file.clone(),
        insecure: settings.insecure,
        fingerprint: settings.fingerprint.clone(),
        auth: settings.auth,
        password_command: settings.password_command.clone(),
        password: settings.password.clone(),
        timeout: settings.timeout,
        oauth: settings.oauth.clone(),
        ..Settings::default()
    };
    let before = problems.len();
    let (server, login) = resolve::connection(Some(name), &layer, env, problems)?;
    if problems.len() > before {
        return None;
    }
    let secrets = destination_secrets(name, settings, one_off, env, &login.user, &server.host);
    Some(ImapTarget {
        name: name.to_string(),
        server,
        login: Login { secrets, ..login },
        mailbox: parsed.mailbox,
        flags: settings.flags.clone().unwrap_or_default(),
        internal_date: match settings.internal_date.unwrap_or_default() {
            settings::InternalDate::Date => InternalDate::Date,
            settings::InternalDate::Received => InternalDate::Received,
        },
    })
}

/// Where a destination's password may come from, in order: a named destination's
/// `password_command` and `password`, the keyring item `popget password set NAME` saved,
/// `~/.netrc`; one given with `--imap URL`: `POPGET_DESTINATION_PASSWORD`, the keyring item
/// saved for `USER@HOST`; then a prompt on the terminal.
fn destination_secrets(
    name: &str,
    settings: &DestinationSettings,
    one_off: bool,
    env: &HashMap<String, String>,
    user: &str,
    host: &str,
) -> SecretSources {
    let mut sources = Vec::new();
    if one_off {
        if let Some(password) = env.get(DESTINATION_PASSWORD_ENV).filter(|p| !p.is_empty()) {
            sources.push(SecretSource::Environment(Secret::new(password.clone())));
        }
        sources.push(SecretSource::Keyring(format!("{user}@{host}")));
    } else {
        if let Some(command) = &settings.password_command {
            sources.push(SecretSource::Command(command.clone()));
        }
        if let Some(password) = &settings.password {
            sources.push(SecretSource::ConfigFile(Secret::new(password.clone())));
        }
        sources.push(SecretSource::Keyring(name.to_string()));
        if let Some(home) = home_dir(env) {
            sources.push(SecretSource::Netrc {
                path: home.join(".netrc"),
            });
        }
    }
    sources.push(SecretSource::Prompt);
    SecretSources::new(sources, name, user, host)
}

/// The IMAP port for a TLS mode: 993 with TLS on connect, else 143.
fn imap_port(tls: TlsMode) -> u16 {
    match tls {
        TlsMode::Implicit => 993,
        TlsMode::Starttls | TlsMode::None => 143,
    }
}

/// What an `imaps://` or `imap://` URL says.
#[derive(Debug, PartialEq, Eq)]
struct ImapUrl {
    tls: TlsMode,
    user: String,
    host: String,
    port: Option<u16>,
    mailbox: String,
}

/// Reads `imaps://USER@HOST[:PORT][/MAILBOX]` (TLS on connect) or `imap://...` (STARTTLS). The
/// user and mailbox are percent-decoded; the mailbox is INBOX unless named; a password in the
/// URL is refused.
fn parse_imap_url(text: &str) -> std::result::Result<ImapUrl, String> {
    let url = url::Url::parse(text).map_err(|e| e.to_string())?;
    let tls = match url.scheme() {
        "imaps" => TlsMode::Implicit,
        "imap" => TlsMode::Starttls,
        other => return Err(format!("the scheme must be imaps or imap, not {other}")),
    };
    if url.password().is_some() {
        return Err("passwords do not belong in URLs; use password_command".into());
    }
    let decode = |part: &str| {
        percent_encoding::percent_decode_str(part)
            .decode_utf8()
            .map(|text| text.into_owned())
            .map_err(|_| "a %-escape is not UTF-8".to_string())
    };
    let user = decode(url.username())?;
    if user.is_empty() {
        return Err("no user: write imaps://USER@HOST/MAILBOX".into());
    }
    let host = url
        .host_str()
        .filter(|host| !host.is_empty())
        .ok_or("no host")?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    if url.query().is_some() || url.fragment().is_some() {
        return Err("an IMAP destination URL has no query or fragment".into());
    }
    let mailbox = decode(url.path().trim_start_matches('/'))?;
    Ok(ImapUrl {
        tls,
        user,
        host,
        port: url.port(),
        mailbox: if mailbox.is_empty() {
            "INBOX".into()
        } else {
            mailbox
        },
    })
}

/// An LMTP destination: where the server listens and the recipient.
fn lmtp(
    name: &str,
    address: &str,
    settings: &DestinationSettings,
    problems: &mut Vec<Error>,
) -> Option<LmtpTarget> {
    let about = |keys: &[&'static str], message: String| {
        Error::config_about(keys, format!("destination \"{name}\": {message}"))
    };
    let parsed = parse_lmtp_address(address);
    if let Err(why) = &parsed {
        problems.push(about(&["lmtp"], format!("lmtp = {address:?}: {why}")));
    }
    let recipient = settings.recipient.clone().filter(|r| !r.trim().is_empty());
    match &recipient {
        None => problems.push(about(
            &["recipient"],
            "an LMTP destination needs recipient, the user mail is delivered to".into(),
        )),
        Some(recipient)
            if recipient
                .chars()
                .any(|c| c.is_whitespace() || c.is_control()) =>
        {
            problems.push(about(
                &["recipient"],
                format!("the recipient {recipient:?} holds spaces or control characters"),
            ))
        }
        Some(_) => {}
    }
    let timeout = settings.timeout.unwrap_or(DEFAULT_TIMEOUT);
    if timeout == 0 {
        problems.push(about(
            &["timeout"],
            "the timeout must be at least 1 second".into(),
        ));
    }
    Some(LmtpTarget {
        name: name.to_string(),
        address: parsed.ok()?,
        recipient: recipient?,
        timeout: Duration::from_secs(timeout),
    })
}

/// Reads `unix:/PATH`, `HOST:PORT` or `[IPV6]:PORT`.
fn parse_lmtp_address(text: &str) -> std::result::Result<LmtpAddress, String> {
    if let Some(path) = text.strip_prefix("unix:") {
        if !path.starts_with('/') {
            return Err("a Unix socket's path must be absolute (unix:/run/dovecot/lmtp)".into());
        }
        return Ok(LmtpAddress::Unix(PathBuf::from(path)));
    }
    let (host, port) = text
        .rsplit_once(':')
        .ok_or("expected unix:/PATH or HOST:PORT")?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err("expected unix:/PATH or HOST:PORT".into());
    }
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|&port| port > 0)
        .ok_or("the port is not a number from 1 to 65535")?;
    Ok(LmtpAddress::Tcp {
        host: host.to_string(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_imap_urls() {
        assert_eq!(
            parse_imap_url("imaps://alice@imap.example.org/INBOX").unwrap(),
            ImapUrl {
                tls: TlsMode::Implicit,
                user: "alice".into(),
                host: "imap.example.org".into(),
                port: None,
                mailbox: "INBOX".into(),
            }
        );
        let url = parse_imap_url("imap://me%40example.org@[::1]:1143/Old%20ISP/2019").unwrap();
        assert_eq!(
            (url.tls, url.user.as_str(), url.host.as_str(), url.port),
            (TlsMode::Starttls, "me@example.org", "::1", Some(1143))
        );
        assert_eq!(url.mailbox, "Old ISP/2019");
        assert_eq!(parse_imap_url("imaps://a@h").unwrap().mailbox, "INBOX");
        for bad in [
            "imaps://a:secret@h/INBOX",
            "pop3s://a@h",
            "imaps://h/INBOX",
            "imaps://a@h/INBOX?x=1",
            "not a url",
        ] {
            assert!(parse_imap_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_lmtp_addresses() {
        assert_eq!(
            parse_lmtp_address("unix:/run/dovecot/lmtp").unwrap(),
            LmtpAddress::Unix("/run/dovecot/lmtp".into())
        );
        assert_eq!(
            parse_lmtp_address("127.0.0.1:24").unwrap(),
            LmtpAddress::Tcp {
                host: "127.0.0.1".into(),
                port: 24
            }
        );
        assert_eq!(
            parse_lmtp_address("[::1]:2424").unwrap(),
            LmtpAddress::Tcp {
                host: "::1".into(),
                port: 2424
            }
        );
        for bad in ["unix:run/lmtp", "localhost", "h:0", "h:99999", ":24"] {
            assert!(parse_lmtp_address(bad).is_err(), "{bad}");
        }
    }
}
