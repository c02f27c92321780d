//! The one-shot commands for scripts: stat, list, uidl, retr, top, dele, info. Each opens a
//! session, does one thing, and QUITs.

use std::collections::HashMap;
use std::io::{self, BufWriter, Write};

use serde::Serialize;

use crate::cli::args::{DeleArgs, InfoArgs, ListArgs, RetrArgs, StatArgs, TopArgs, UidlArgs};
use crate::cli::context::{print_json, Context};
use popget::account::Account;
use popget::connect::{self, BeforeTls};
use popget::pop3::Session;
use popget::pop3::{apop_timestamp, sanitize, Command, LineEnding};
use popget::transport::{Stream, TlsMode};
use popget::{Error, Result};

/// Standard output, buffered; a reader that went away is not an error (see `cli::run`).
fn stdout() -> BufWriter<io::StdoutLock<'static>> {
    BufWriter::with_capacity(64 * 1024, io::stdout().lock())
}

fn output_error(error: io::Error) -> Error {
    Error::io("cannot write the output", error)
}

fn uid_text(uid: &[u8]) -> String {
    String::from_utf8_lossy(uid).into_owned()
}

/// Finds message numbers for unique ids with one UIDL listing.
fn numbers_for_uids(session: &mut Session<Stream>, uids: &[String]) -> Result<Vec<u32>> {
    if uids.is_empty() {
        return Ok(Vec::new());
    }
    let listing = session.uidl()?.ok_or_else(|| {
        Error::unavailable("the server does not support UIDL, so --uidl cannot be used")
    })?;
    uids.iter()
        .map(|wanted| {
            let mut matches = listing
                .iter()
                .filter(|entry| entry.uid == wanted.as_bytes());
            match (matches.next(), matches.next()) {
                (Some(entry), None) => Ok(entry.message),
                (Some(_), Some(_)) => Err(Error::unavailable(format!(
                    "several messages have the unique id {}",
                    sanitize(wanted.as_bytes())
                ))),
                (None, _) => Err(Error::unavailable(format!(
                    "no message with the unique id {} is on the server",
                    sanitize(wanted.as_bytes())
                ))),
            }
        })
        .collect()
}

#[derive(Serialize)]
struct StatJson {
    messages: u32,
    octets: u64,
}

pub fn stat(context: &Context, args: &StatArgs) -> Result<()> {
    let mut session = context.session(&args.target)?;
    let (messages, octets) = session.stat()?;
    session.quit()?;
    if args.json {
        return print_json(&StatJson { messages, octets });
    }
    let mut out = stdout();
    writeln!(out, "{messages} {octets}")
        .and_then(|()| out.flush())
        .map_err(output_error)
}

#[derive(Serialize, Default)]
struct MessageJson {
    number: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    uidl: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    date: Option<String>,
}

#[derive(Serialize)]
struct ListingJson {
    messages: Vec<MessageJson>,
}

pub fn list(context: &Context, args: &ListArgs) -> Result<()> {
    let mut session = context.session(&args.target)?;
    let wanted = match (&args.uidl, args.message) {
        (Some(uid), _) => Some(numbers_for_uids(&mut session, std::slice::from_ref(uid))?[0]),
        (None, number) => number,
    };
    let mut messages = listed_messages(&mut session, wanted)?;
    if args.headers {
        for message in &mut messages {
            let headers = top_headers(&mut session, message.number)?;
            message.from = Some(headers.0);
            message.subject = Some(headers.1);
            message.date = Some(headers.2);
        }
    }
    session.quit()?;
    if args.json {
        return print_json(&ListingJson { messages });
    }
    let mut out = stdout();
    for message in &messages {
        let uid = message
            .uidl
            .as_deref()
            .map_or_else(|| "-".to_string(), |u| sanitize(u.as_bytes()));
        let mut line = format!("{} {} {uid}", message.number, message.size.unwrap_or(0));
        if args.headers {
            for field in [&message.from, &message.subject, &message.date] {
                line.push('\t');
                line.push_str(field.as_deref().unwrap_or(""));
            }
        }
        writeln!(out, "{line}").map_err(output_error)?;
    }
    out.flush().map_err(output_error)
}

/// The size and unique id of message `wanted`, or of every message.
fn listed_messages(session: &mut Session<Stream>, wanted: Option<u32>) -> Result<Vec<MessageJson>> {
    Ok(match wanted {
        Some(number) => {
            let entry = session.list_one(number)?;
            let uidl = session.uidl_one(number).ok().map(|e| uid_text(&e.uid));
            vec![MessageJson {
                number,
                size: Some(entry.size),
                uidl,
                ..MessageJson::default()
            }]
        }
        None => {
            let listing = session.list()?;
            let uids: HashMap<u32, Vec<u8>> = session
                .uidl()?
                .unwrap_or_default()
                .into_iter()
                .map(|e| (e.message, e.uid))
                .collect();
            listing
                .into_iter()
                .map(|e| MessageJson {
                    number: e.message,
                    size: Some(e.size),
                    uidl: uids.get(&e.message).map(|uid| uid_text(uid)),
                    ..MessageJson::default()
                })
                .collect()
        }
    })
}

/// The most header octets read for `list --headers`; a server that sends more is cut off.
const MAX_HEADER_BYTES: usize = 256 * 1024;

/// A buffer that refuses to grow past its limit.
struct Capped(Vec<u8>);

impl Write for Capped {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.0.len() + bytes.len() > MAX_HEADER_BYTES {
            return Err(io::Error::other("header block too large"));
        }
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// From, Subject and Date of a message via `TOP n 0`, decoded (RFC 2047) and stripped of
/// control characters so that a hostile header cannot paint the terminal.
fn top_headers(session: &mut Session<Stream>, number: u32) -> Result<(String, String, String)> {
    session.send(&Command::Top {
        message: number,
        lines: 0,
    })?;
    let status = session.receive_status()?;
    if !status.ok {
        return Ok(Default::default());
    }
    let mut buffer = Capped(Vec::new());
    session.receive_body(LineEnding::Lf, &mut buffer)?;
    let Ok((headers, _)) = mailparse::parse_headers(&buffer.0) else {
        return Ok(Default::default());
    };
    use mailparse::MailHeaderMap;
    let field = |name: &str| {
        let value = headers.get_first_value(name).unwrap_or_default();
        let clean: String = value
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        clean.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    Ok((field("From"), field("Subject"), field("Date")))
}

#[derive(Serialize)]
struct UidlJson {
    messages: Vec<UidlEntryJson>,
}

#[derive(Serialize)]
struct UidlEntryJson {
    number: u32,
    uidl: String,
}

pub fn uidl(context: &Context, args: &UidlArgs) -> Result<()> {
    let mut session = context.session(&args.target)?;
    let entries = match args.message {
        Some(number) => vec![session.uidl_one(number)?],
        None => session
            .uidl()?
            .ok_or_else(|| Error::unavailable("the server does not support UIDL"))?,
    };
    session.quit()?;
    if args.json {
        let messages = entries
            .iter()
            .map(|e| UidlEntryJson {
                number: e.message,
                uidl: uid_text(&e.uid),
            })
            .collect();
        return print_json(&UidlJson { messages });
    }
    let mut out = stdout();
    for entry in &entries {
        writeln!(out, "{} {}", entry.message, sanitize(&entry.uid)).map_err(output_error)?;
    }
    out.flush().map_err(output_error)
}

pub fn retr(context: &Context, args: &RetrArgs) -> Result<()> {
    let mut session = context.session(&args.target)?;
    let mut numbers = args.messages.clone();
    numbers.extend(numbers_for_uids(&mut session, &args.uidl)?);
    let ending = if args.crlf {
        LineEnding::Crlf
    } else {
        LineEnding::Lf
    };
    let mut out = stdout();
    for number in numbers {
        session.stream(&Command::Retr(number), ending, &mut out)?;
    }
    out.flush().map_err(output_error)?;
    Ok(session.quit()?)
}

pub fn top(context: &Context, args: &TopArgs) -> Result<()> {
    let (number, uid, lines) = match (&args.uidl, args.numbers.as_slice()) {
        (None, [number, lines]) => (*number, None, *lines),
        (Some(uid), [lines]) => (0, Some(uid), *lines),
        (None, _) => {
            return Err(Error::Usage(
                "top takes a message number and a line count: top N LINES".into(),
            ))
        }
        (Some(_), _) => {
            return Err(Error::Usage(
                "with --uidl, top takes only the line count".into(),
            ))
        }
    };
    if uid.is_none() && number == 0 {
        return Err(Error::Usage("message numbers start at 1".into()));
    }
    let mut session = context.session(&args.target)?;
    let number = match uid {
        None => number,
        Some(uid) => numbers_for_uids(&mut session, std::slice::from_ref(uid))?[0],
    };
    let ending = if args.crlf {
        LineEnding::Crlf
    } else {
        LineEnding::Lf
    };
    let mut out = stdout();
    session.stream(
        &Command::Top {
            message: number,
            lines,
        },
        ending,
        &mut out,
    )?;
    out.flush().map_err(output_error)?;
    Ok(session.quit()?)
}

pub fn dele(context: &Context, args: &DeleArgs) -> Result<()> {
    let mut session = context.session(&args.target)?;
    let mut numbers = args.messages.clone();
    numbers.extend(numbers_for_uids(&mut session, &args.uidl)?);
    let mut confirmed = Vec::new();
    let mut first_refusal = None;
    for number in numbers {
        let status = session.dele(number)?;
        if status.ok {
            confirmed.push(number);
        } else {
            // A refused DELE is 75, as in fetch: the message stays on the server.
            first_refusal.get_or_insert_with(|| {
                Error::Temporary(format!(
                    "the server refused to delete message {number}: {}",
                    status.display_text()
                ))
            });
        }
    }
    // Deletions happen only when the server confirms QUIT.
    session.quit()?;
    let mut out = stdout();
    for number in confirmed {
        writeln!(out, "{number} deleted").map_err(output_error)?;
    }
    out.flush().map_err(output_error)?;
    first_refusal.map_or(Ok(()), Err)
}

#[derive(Serialize)]
struct InfoJson {
    host: String,
    port: u16,
    tls: &'static str,
    greeting: String,
    apop: bool,
    capabilities_before_tls: Option<Vec<String>>,
    capabilities: Option<Vec<String>>,
    capabilities_after_login: Option<Vec<String>>,
    logged_in: bool,
    /// How the certificate was checked: "verified", "pinned", "not checked", or null without TLS.
    certificate_check: Option<&'static str>,
    certificate: Option<popget::transport::CertificateInfo>,
}

/// `popget info`: what the server shows before login, without logging in. With `--login` it
/// also logs in to show the capabilities announced afterwards, but only where a password may
/// go: never to a server whose certificate was not verified (`--insecure`), which is exactly
/// when `popget info` is used to look at an unknown certificate.
pub fn info(context: &Context, args: &InfoArgs) -> Result<()> {
    let account = context.account(&args.target)?;
    refuse_login_unverified(&account, args.login)?;
    // The password is read before connecting, as for every command that logs in.
    let password = if args.login {
        Some(connect::password_before_connecting(&account)?)
    } else {
        None
    };
    let connected = connect::connect(&account, context.tracer(&account))?;
    let mut info = InfoJson::before_login(&account, &connected);
    match password {
        Some(password) => {
            let mut session = connect::login(connected.client, &account, password)?;
            // Asked again even where the login did not need to.
            info.capabilities_after_login = session.capa()?.map(|c| c.lines.clone());
            info.logged_in = true;
            session.quit()?;
        }
        None => connected.client.quit(),
    }
    if args.json {
        return print_json(&info);
    }
    let mut out = stdout();
    for line in info.text_lines() {
        writeln!(out, "{line}").map_err(output_error)?;
    }
    out.flush().map_err(output_error)
}

/// Refuses `--login` where the certificate is not verified, and warns about `--insecure`.
fn refuse_login_unverified(account: &Account, login: bool) -> Result<()> {
    let unverified = account.server.tls != TlsMode::None && account.server.certificates.insecure;
    if login && unverified {
        return Err(Error::Usage(
            "--login sends the password, and --insecure means the server's certificate is not \
             verified: nothing secret goes to such a server. Pin the certificate with \
             --fingerprint (popget info --insecure shows it) or trust its CA with --ca-file"
                .into(),
        ));
    }
    if unverified {
        popget::say!(
            "popget: {}: warning: --insecure: the server's certificate is not checked; popget \
             info does not log in, nothing secret is sent",
            account.name
        );
    }
    Ok(())
}

impl InfoJson {
    /// What the connection showed before any login.
    fn before_login(account: &Account, connected: &connect::Connected) -> InfoJson {
        let greeting = connected.client.greeting();
        InfoJson {
            host: account.server.host.clone(),
            port: account.server.port,
            tls: match account.server.tls {
                TlsMode::Implicit => "implicit",
                TlsMode::Starttls => "starttls",
                TlsMode::None => "none",
            },
            greeting: format!(
                "{} {}",
                if greeting.ok { "+OK" } else { "-ERR" },
                greeting.display_text()
            ),
            apop: apop_timestamp(&greeting.text).is_some(),
            capabilities_before_tls: match &connected.before_tls {
                BeforeTls::NotUpgraded => None,
                BeforeTls::CapaRefused => Some(Vec::new()),
                BeforeTls::Announced(capabilities) => Some(capabilities.lines.clone()),
            },
            capabilities: connected.client.capabilities().map(|c| c.lines.clone()),
            capabilities_after_login: None,
            logged_in: false,
            certificate_check: match account.server.tls {
                TlsMode::None => None,
                _ if account.server.certificates.insecure => Some("not checked"),
                _ if account.server.certificates.fingerprint.is_some() => Some("pinned"),
                _ => Some("verified"),
            },
            certificate: connected.certificate.clone(),
        }
    }

    /// The lines `popget info` prints without `--json`.
    fn text_lines(&self) -> Vec<String> {
        let mut lines = vec![
            format!("server: {}:{} (TLS: {})", self.host, self.port, self.tls),
            format!("greeting: {}", self.greeting),
            format!(
                "APOP: {}",
                if self.apop { "offered" } else { "not offered" }
            ),
        ];
        let joined = |capabilities: &Option<Vec<String>>| match capabilities {
            Some(lines) => lines.join(" | "),
            None => "(CAPA not supported)".to_string(),
        };
        if let Some(before) = &self.capabilities_before_tls {
            lines.push(format!("capabilities before TLS: {}", before.join(" | ")));
        }
        lines.push(format!("capabilities: {}", joined(&self.capabilities)));
        if self.logged_in {
            lines.push(format!(
                "capabilities after login: {}",
                joined(&self.capabilities_after_login)
            ));
        } else {
            lines.push("capabilities after login: (not logged in; --login shows them)".into());
        }
        if let Some(check) = self.certificate_check {
            // The TLS library does not report the protocol version; popget refuses anything
            // older than TLS 1.2.
            lines.push(format!("TLS: 1.2 or newer, certificate {check}"));
        }
        if let Some(certificate) = &self.certificate {
            lines.push(format!("certificate subject: {}", certificate.subject));
            lines.push(format!("certificate issuer: {}", certificate.issuer));
            lines.push(format!(
                "certificate valid: {} to {}",
                certificate.not_before, certificate.not_after
            ));
            lines.push(format!("certificate fingerprint: {}", certificate.sha256));
        }
        lines
    }
}
