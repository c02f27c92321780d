//! IMAP delivery: each batch stored in a mailbox with pipelined APPENDs, exactly once.
//!
//! Before a batch is sent, the journal holds for each message the mailbox, its UIDVALIDITY and
//! UIDNEXT, the message's size, Message-ID and the SHA-256 of its header. A message counts as
//! delivered only after the server's tagged OK (its `[APPENDUID]` shows in the `-v` trace; the
//! state does not keep it). If the outcome of an APPEND is not known (a crash, a connection cut
//! after the literal, a refusal or failure that ended the batch before its answer), recovery
//! looks in the mailbox from that UIDNEXT on for a message of that size, Message-ID and header
//! before anything is appended again. The header's digest keeps a message of the batch that
//! never arrived from being taken for another of the same size that did.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Mutex;

use popget_imap::{AppendMessage, AppendOutcome, Client, Lookup, ResponseCode, Session};

use super::{Failure, Fill, ImapAppend, Intent, Journal, Mailbox, Placement, Staged, StagedKind};
use crate::account::{ImapTarget, InternalDate};
use crate::auth::{self, AuthMethod};
use crate::credentials::Secret;
use crate::error::Error;
use crate::pop3::Security;
use crate::transport::{self, Stream, TlsMode};

/// How much of a message's start is read for its Message-ID and Date, and hashed at most as
/// its header.
const HEADER_OCTETS: u64 = 256 * 1024;

/// A logged-in IMAP session and the mailbox messages go to.
pub struct Imap {
    target: ImapTarget,
    session: Mutex<Option<Session<Stream>>>,
}

/// What a staged message needs beyond its spool: how the server will count it, its
/// Message-ID and its header's digest (for recovery) and its internal date.
struct Described {
    octets: u64,
    message_id: Option<String>,
    header_sha256: Option<[u8; 32]>,
    date: Option<popget_imap::InternalDate>,
}

impl Imap {
    /// Connects with TLS as the target asks, logs in, and makes sure the mailbox exists: a
    /// refused login is a permission error (77) before anything is fetched.
    pub fn open(target: &ImapTarget, trace: Option<super::TraceMaker>) -> Result<Imap, Error> {
        let session = login(target, trace.map(|make| make()))?;
        let imap = Imap {
            target: target.clone(),
            session: Mutex::new(Some(session)),
        };
        imap.with_session(|session, mailbox| match session.status(mailbox) {
            Ok(_) => Ok(()),
            Err(error) if error.refusal().is_some() => {
                session.create(mailbox).map_err(|e| imap_error("CREATE", e))
            }
            Err(error) => Err(imap_error("STATUS", error)),
        })?;
        Ok(imap)
    }

    fn with_session<T>(
        &self,
        run: impl FnOnce(&mut Session<Stream>, &str) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut guard = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let session = guard.as_mut().ok_or_else(|| {
            Error::Temporary(format!(
                "the connection to the IMAP server {} was lost earlier in this run",
                self.target.server.host
            ))
        })?;
        let result = run(session, &self.target.mailbox);
        if session.is_broken() {
            *guard = None;
        }
        result
    }

    /// Reads what recovery and the APPEND need from a spooled message.
    fn describe(&self, spool: &mut File) -> std::io::Result<Described> {
        let octets = popget_imap::crlf_length(spool)?;
        spool.seek(SeekFrom::Start(0))?;
        let header_sha256 = popget_imap::header_sha256(spool, HEADER_OCTETS)?;
        let mut head = Vec::new();
        (&mut *spool).take(HEADER_OCTETS).read_to_end(&mut head)?;
        spool.seek(SeekFrom::Start(0))?;
        let end = memchr::memmem::find(&head, b"\n\n").map_or(head.len(), |i| i + 1);
        let headers = mailparse::parse_headers(&head[..end]).ok().map(|(h, _)| h);
        let header = |name: &str| {
            use mailparse::MailHeaderMap;
            headers.as_ref().and_then(|h| h.get_first_value(name))
        };
        // As the server shows it: angle brackets included.
        let message_id = header("Message-ID")
            .map(|id| id.trim().to_string())
            .filter(|id| !id.is_empty());
        let date = match self.target.internal_date {
            InternalDate::Received => None,
            InternalDate::Date => header("Date")
                .and_then(|date| mailparse::dateparse(&date).ok())
                .and_then(|seconds| popget_imap::InternalDate::new(seconds, 0).ok()),
        };
        Ok(Described {
            octets,
            message_id,
            header_sha256,
            date,
        })
    }
}

/// Connects and logs in. No secret leaves unless the connection is encrypted with a verified
/// certificate, or the user chose `tls = "none"`.
fn login(
    target: &ImapTarget,
    trace: Option<popget_imap::Tracer>,
) -> Result<Session<Stream>, Error> {
    let (server, login) = (&target.server, &target.login);
    let secret = match &login.oauth {
        Some(oauth) => oauth.access_token()?,
        None => login.secrets.password()?,
    };
    let tcp = transport::connect_tcp(
        &server.host,
        server.port,
        server.proxy.as_ref(),
        server.timeout,
        server.limits.session_timeout,
    )?;
    let peer = format!("{}:{}", server.host, server.port);
    let protocol = |e: popget_imap::Error| imap_error("the greeting", e);
    let (client, security) = match server.tls {
        TlsMode::Implicit => {
            let (stream, security) =
                transport::start_tls(tcp, &server.host, &server.certificates, false)?;
            (
                Client::with_trace(stream, trace).map_err(protocol)?,
                security,
            )
        }
        TlsMode::Starttls => {
            let mut client = Client::with_trace(Stream::Plain(tcp), trace).map_err(protocol)?;
            if !client.capabilities().map_err(protocol)?.starttls() {
                return Err(Error::Unavailable {
                    message: format!(
                        "the IMAP server {peer} does not offer STARTTLS, so the connection \
                         cannot be encrypted; nothing was sent"
                    ),
                    remedy: None,
                });
            }
            let mut security = Security::Plain;
            let client = client
                .starttls()
                .map_err(|e| imap_error("STARTTLS", e))?
                .handshake(|stream| -> Result<_, Error> {
                    let (stream, secured) = transport::start_tls(
                        stream.into_tcp()?,
                        &server.host,
                        &server.certificates,
                        true,
                    )?;
                    security = secured;
                    Ok(stream)
                })?;
            (client, security)
        }
        TlsMode::None => (
            Client::with_trace(Stream::Plain(tcp), trace).map_err(protocol)?,
            Security::Plain,
        ),
    };
    if server.tls != TlsMode::None && security == Security::Plain {
        return Err(Error::unavailable(
            "TLS was asked for but the IMAP connection is not encrypted; no credential was sent",
        ));
    }
    authenticate(client, target, &secret)
}

/// Logs in with the target's method: `auto` takes SCRAM where the server offers it, else
/// PLAIN, else LOGIN; an OAuth login XOAUTH2 (or OAUTHBEARER if asked).
fn authenticate(
    mut client: Client<Stream>,
    target: &ImapTarget,
    secret: &Secret,
) -> Result<Session<Stream>, Error> {
    let login = &target.login;
    let offered = client
        .capabilities()
        .map_err(|e| imap_error("CAPABILITY", e))?
        .clone();
    let method = match login.method {
        AuthMethod::Auto if login.oauth.is_some() => AuthMethod::Xoauth2,
        AuthMethod::Auto if offered.has_auth("SCRAM-SHA-256") => AuthMethod::ScramSha256,
        AuthMethod::Auto if offered.has_auth("SCRAM-SHA-1") => AuthMethod::ScramSha1,
        AuthMethod::Auto if offered.has_auth("PLAIN") => AuthMethod::Plain,
        AuthMethod::Auto | AuthMethod::User => AuthMethod::Login,
        method => method,
    };
    let refused = |(error, _client): popget_imap::LoginError<Stream>| match error {
        popget_imap::Error::Refused { .. } => Error::AuthFailed(format!(
            "the IMAP server {} refused the login of {}: {error}",
            target.server.host, login.user
        )),
        other => imap_error("the login", other),
    };
    if method == AuthMethod::Login && login.method != AuthMethod::Login {
        return client.login(&login.user, secret.expose()).map_err(refused);
    }
    let credentials = auth::Credentials {
        user: login.user.clone(),
        password: Some(secret.clone()),
        host: target.server.host.clone(),
        port: target.server.port,
        gssapi: login.gssapi.clone(),
    };
    let mut mechanism = match method {
        AuthMethod::Apop | AuthMethod::CramMd5 | AuthMethod::Gssapi => {
            return Err(Error::config_about(
                &["auth"],
                format!(
                    "auth = \"{}\" cannot log in to an IMAP destination; use auto, plain, \
                     login, scram-sha-256, scram-sha-1, xoauth2 or oauthbearer",
                    method.name()
                ),
            ))
        }
        method => auth::mechanism(method, &credentials, secret)?,
    };
    client.authenticate(&mut *mechanism).map_err(refused)
}

/// An IMAP failure in popget's terms: a connection that broke, timed out or said BYE is
/// temporary (the message stays on the POP3 server), a server out of step a protocol error.
fn imap_error(what: &str, error: popget_imap::Error) -> Error {
    if error.is_protocol() {
        return Error::DestinationProtocol(format!("IMAP {what}: {error}"));
    }
    match error.refusal() {
        Some(refusal) if !refusal.is_temporary() => {
            Error::Rejected(format!("IMAP {what}: {error}"))
        }
        _ => Error::Temporary(format!("IMAP {what}: {error}")),
    }
}

impl Mailbox for Imap {
    fn stage(&self, fill: &mut Fill) -> Result<Staged, Failure> {
        let (spool, octets) = super::spool(fill)?;
        Ok(Staged {
            octets,
            kind: StagedKind::Spooled {
                spool,
                sender: String::new(),
            },
        })
    }

    /// Journals each message's intent (mailbox, UIDVALIDITY, UIDNEXT, size, Message-ID), then
    /// appends the batch. A message counts as placed only after the server's tagged OK; one
    /// refused for good (73) stops the batch there, as does a temporary refusal or a broken
    /// session (75), or a server out of step (76).
    fn place(&self, staged: Vec<Staged>, journal: &mut Journal) -> Placement {
        let mut placement = Placement {
            placed: 0,
            error: None,
            rejected: None,
        };
        let mut spools = Vec::with_capacity(staged.len());
        for mut message in staged {
            let StagedKind::Spooled { spool, .. } = &mut message.kind else {
                placement.error = Some(Error::Usage(
                    "a message staged elsewhere was handed to IMAP".into(),
                ));
                return placement;
            };
            match spool.try_clone() {
                Ok(file) => spools.push(file),
                Err(e) => {
                    placement.error = Some(Error::io("cannot read the spool file", e));
                    return placement;
                }
            }
        }
        let result = self.with_session(|session, mailbox| {
            append_batch(self, session, mailbox, &mut spools, journal)
        });
        match result {
            Ok(outcome) => outcome,
            Err(error) => {
                placement.error = Some(error);
                placement
            }
        }
    }

    /// Whether an APPEND whose outcome was lost reached the mailbox: a message of the
    /// journaled size, Message-ID and header digest at or after the journaled UIDNEXT, under
    /// the same UIDVALIDITY. File intents settle as usual.
    fn recover(&self, intent: &Intent) -> Result<bool, Error> {
        let Intent::Imap(append) = intent else {
            return super::recover(intent);
        };
        self.with_session(|session, _| {
            let lookup = session
                .find_appended(
                    &append.mailbox,
                    append.uid_validity,
                    append.uid_next,
                    append.message_id.as_deref(),
                    append.octets,
                    append.header_sha256.as_ref(),
                )
                .map_err(|e| imap_error("recovery", e))?;
            match lookup {
                Lookup::Found(_) => Ok(true),
                Lookup::Absent => Ok(false),
                Lookup::UidValidityChanged(now) => Err(Error::Temporary(format!(
                    "the IMAP mailbox {:?} was recreated since an interrupted delivery \
                     (UIDVALIDITY {} is now {now}); whether that message arrived cannot be \
                     told, so it is not appended again: check the mailbox, then run `popget \
                     fetch --rebuild-state` or move the state's journal away",
                    append.mailbox, append.uid_validity
                ))),
            }
        })
    }
}

/// One batch: STATUS, the intents journaled, the pipelined APPENDs, then the outcomes; a
/// missing mailbox is created once and the refused rest appended again.
fn append_batch(
    imap: &Imap,
    session: &mut Session<Stream>,
    mailbox: &str,
    spools: &mut [File],
    journal: &mut Journal,
) -> Result<Placement, Error> {
    let mut placement = Placement {
        placed: 0,
        error: None,
        rejected: None,
    };
    let mut described = Vec::with_capacity(spools.len());
    for spool in spools.iter_mut() {
        described.push(
            imap.describe(spool)
                .map_err(|e| Error::io("cannot read the spool file", e))?,
        );
    }
    let mut created = false;
    while placement.placed < spools.len() {
        let status = session
            .status(mailbox)
            .map_err(|e| imap_error("STATUS", e))?;
        let rest = placement.placed..spools.len();
        // The intents name the whole batch, in order, as the journal expects; for the messages
        // already placed they are never looked at (they are logged as delivered).
        let intents: Vec<Intent> = described
            .iter()
            .map(|message| {
                Intent::Imap(ImapAppend {
                    mailbox: mailbox.to_string(),
                    uid_validity: status.uid_validity,
                    uid_next: status.uid_next,
                    octets: message.octets,
                    message_id: message.message_id.clone(),
                    header_sha256: message.header_sha256,
                })
            })
            .collect();
        journal(&intents)?;
        let flags = &imap.target.flags;
        let mut messages: Vec<AppendMessage> = spools[rest.clone()]
            .iter_mut()
            .zip(&described[rest])
            .map(|(spool, message)| {
                let append = AppendMessage::new(spool)
                    .flags(flags.iter().map(String::as_str))
                    .octets(message.octets);
                match message.date {
                    Some(date) => append.internal_date(date),
                    None => append,
                }
            })
            .collect();
        let outcomes = match session.append(mailbox, &mut messages) {
            Ok(outcomes) => outcomes,
            Err(batch) => {
                placement.placed += appended_prefix(&batch.outcomes);
                placement.error = Some(imap_error("APPEND", batch.error));
                return Ok(placement);
            }
        };
        let prefix = appended_prefix(&outcomes);
        placement.placed += prefix;
        let Some(AppendOutcome::Refused(refusal)) = outcomes.get(prefix) else {
            break;
        };
        if refusal.code == Some(ResponseCode::TryCreate) && !created {
            session
                .create(mailbox)
                .map_err(|e| imap_error("CREATE", e))?;
            created = true;
            continue;
        }
        let text = format!(
            "the IMAP server {} refused the message for {mailbox}: {}",
            imap.target.server.host, refusal.text
        );
        if refusal.is_temporary() {
            placement.error = Some(Error::Temporary(format!(
                "{text}; it stays on the server for the next run"
            )));
        } else {
            placement.rejected = Some(Error::Rejected(format!("{text}; it stays on the server")));
        }
        break;
    }
    Ok(placement)
}

/// How many outcomes from the first are appends.
fn appended_prefix(outcomes: &[AppendOutcome]) -> usize {
    outcomes
        .iter()
        .take_while(|outcome| matches!(outcome, AppendOutcome::Appended(_)))
        .count()
}

impl Drop for Imap {
    fn drop(&mut self) {
        let session = self
            .session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(session) = session {
            let _ = session.logout();
        }
    }
}
