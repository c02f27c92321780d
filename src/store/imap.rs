//! IMAP delivery: each batch stored in a mailbox with pipelined APPENDs, exactly once.
//!
//! Before a batch is sent, the journal holds for each message the mailbox, its UIDVALIDITY and
//! UIDNEXT (or a lower bound of it: the UID after the last batch's highest), the message's size,
//! Message-ID and the SHA-256 of its header. A message counts as delivered only after the server's
//! tagged OK; its `[APPENDUID]`, where the server has UIDPLUS, is kept with the record as an IMAP
//! URL. If the outcome of an APPEND is not known (a crash, a connection cut after the literal, a
//! refusal or failure that ended the batch before its answer), recovery looks in the mailbox from
//! that UIDNEXT on for a message of that size, Message-ID and header before anything is appended
//! again, and looks once more a few seconds later before it concludes the message never arrived.
//! The header's digest keeps a message of the batch that never arrived from being taken for another
//! of the same size that did.

use std::fs::File;
use std::io::{Seek, SeekFrom};

use std::sync::Mutex;
use std::time::Duration;

use popget_imap::{AppendMessage, AppendOutcome, Client, Lookup, ResponseCode, Session};

use super::{Failure, Fill, ImapAppend, Intent, Journal, Mailbox, Placement, Staged, StagedKind};
use crate::account::{ImapTarget, InternalDate};
use crate::auth::{self, AuthMethod};
use crate::credentials::Secret;
use crate::error::Error;
use crate::pop3::Security;
use crate::transport::{self, Stream, TlsMode};

/// How long after an interrupted run's last journal write recovery waits before it takes a
/// message as never appended: time for the server to finish what the vanished client sent.
const APPEND_SETTLE: Duration = Duration::from_secs(3);

/// A logged-in IMAP session and the mailbox messages go to.
pub struct Imap {
    target: ImapTarget,
    /// Whether recovery has already waited for an interrupted run's APPENDs to land.
    settled: Mutex<bool>,
    /// Where the mailbox stood after this run's last batch: its UIDVALIDITY and the UID after
    /// the last one the server reported (`APPENDUID`). Any message stored later gets a higher
    /// UID, so the next batch's intents can start their search there without a STATUS round
    /// trip; `None` when unknown (no batch yet, no UIDPLUS, or a batch that went wrong).
    appended_up_to: Mutex<Option<Position>>,
    session: Mutex<Option<Session<Stream>>>,
    /// The server's `APPENDLIMIT`, as it announced it after login.
    append_limit: Option<u64>,
}

/// A mailbox's UIDVALIDITY and a UID no later message will be given less than: where a look
/// for an APPEND whose outcome was lost starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Position {
    uid_validity: u32,
    uid_next: u32,
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
            append_limit: session.append_limit(),
            settled: Mutex::new(false),
            appended_up_to: Mutex::new(None),
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
        let header_sha256 = popget_imap::header_sha256(spool, super::HEADER_OCTETS)?;
        spool.seek(SeekFrom::Start(0))?;
        let [message_id, date] =
            <[Option<String>; 2]>::try_from(super::read_headers(spool, &["Message-ID", "Date"])?)
                .unwrap_or_default();
        let date = match self.target.internal_date {
            InternalDate::Received => None,
            InternalDate::Date => date
                .and_then(|date| mailparse::dateparse(&date).ok())
                .and_then(|seconds| popget_imap::InternalDate::new(seconds, 0).ok()),
        };
        // As the server shows it: angle brackets included.
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
    let refused = |(error, _client): popget_imap::LoginError<Stream>| {
        login_refused(&target.server.host, &login.user, error)
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
    let (error, client) = match client.authenticate(&mut *mechanism) {
        Ok(session) => return Ok(session),
        Err(failed) => failed,
    };
    // A token refused before its expiry may have been revoked early, or the clocks disagree:
    // a fresh one (refreshed with an OAuth table, else read again from the password source) is
    // tried once more on the same connection, as for POP3. A temporary refusal is no reason.
    let token_refused = method.is_oauth()
        && error
            .refusal()
            .is_some_and(|refusal| !refusal.is_temporary());
    if !token_refused {
        return Err(refused((error, client)));
    }
    let token = match &login.oauth {
        Some(oauth) => oauth.token_after_rejection(secret)?,
        None => login.secrets.password()?,
    };
    client
        .authenticate(&mut *auth::mechanism(method, &credentials, &token)?)
        .map_err(refused)
}

/// A failed login in popget's terms: a refusal the server calls temporary (`[UNAVAILABLE]`:
/// its password database cannot be asked just now) is 75 and blames no credential; any other
/// refusal is 77.
fn login_refused(host: &str, user: &str, error: popget_imap::Error) -> Error {
    match error.refusal() {
        Some(refusal) if refusal.is_temporary() => Error::Temporary(format!(
            "the IMAP server {host} cannot log in {user} for now: {error}"
        )),
        Some(_) => Error::AuthFailed(format!(
            "the IMAP server {host} refused the login of {user}: {error}"
        )),
        None => imap_error("the login", error),
    }
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
        super::stage_spooled(fill)
    }

    /// Journals each message's intent (mailbox, UIDVALIDITY, UIDNEXT, size, Message-ID), then
    /// appends the batch. A message counts as placed only after the server's tagged OK; one
    /// refused for good (73) stops the batch there, as does a temporary refusal or a broken
    /// session (75), or a server out of step (76).
    fn place(&self, staged: Vec<Staged>, journal: &mut Journal) -> Placement {
        let mut placement = Placement::default();
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
    fn size_limit(&self) -> Option<u64> {
        self.append_limit
    }

    fn recover(&self, intent: &Intent, journal_age: Duration) -> Result<bool, Error> {
        let Intent::Imap(append) = intent else {
            return super::recover(intent);
        };
        if self.look_for(append)? {
            return Ok(true);
        }
        // A server may still be finishing APPENDs that a vanished client had already sent
        // (their literals in its buffer): before a message is taken as absent, and so appended
        // again, the interrupted run's last APPEND is given time to land. Once per run.
        let mut settled = self.settled.lock().unwrap_or_else(|p| p.into_inner());
        if !*settled {
            *settled = true;
            if let Some(wait) = APPEND_SETTLE.checked_sub(journal_age) {
                std::thread::sleep(wait);
            }
            drop(settled);
            return self.look_for(append);
        }
        Ok(false)
    }
}

impl Imap {
    fn appended_up_to(&self) -> std::sync::MutexGuard<'_, Option<Position>> {
        self.appended_up_to
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the message an intent describes is in the mailbox.
    fn look_for(&self, append: &ImapAppend) -> Result<bool, Error> {
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

/// One batch: where the mailbox stands (STATUS, unless the last batch said), the intents
/// journaled, the pipelined APPENDs, then the outcomes; a missing mailbox is created once and
/// the refused rest appended again.
fn append_batch(
    imap: &Imap,
    session: &mut Session<Stream>,
    mailbox: &str,
    spools: &mut [File],
    journal: &mut Journal,
) -> Result<Placement, Error> {
    let mut placement = Placement::default();
    let mut described = Vec::with_capacity(spools.len());
    for spool in spools.iter_mut() {
        described.push(
            imap.describe(spool)
                .map_err(|e| Error::io("cannot read the spool file", e))?,
        );
    }
    let mut created = false;
    // A batch that goes wrong leaves the position unknown; one that succeeds sets it below.
    // Known, it serves the first APPEND only: after a CREATE the mailbox is asked again.
    let mut known = imap.appended_up_to().take();
    while placement.placed < spools.len() {
        let status = match known.take() {
            Some(position) => position,
            None => {
                let status = session
                    .status(mailbox)
                    .map_err(|e| imap_error("STATUS", e))?;
                Position {
                    uid_validity: status.uid_validity,
                    uid_next: status.uid_next,
                }
            }
        };
        let offset = placement.placed;
        let rest = offset..spools.len();
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
                take_appended(imap, mailbox, &batch.outcomes, &mut placement);
                placement.refused = refused_positions(&batch.outcomes, offset);
                placement.error = Some(imap_error("APPEND", batch.error));
                return Ok(placement);
            }
        };
        let prefix = take_appended(imap, mailbox, &outcomes, &mut placement);
        let Some(AppendOutcome::Refused(refusal)) = outcomes.get(prefix) else {
            *imap.appended_up_to() = position_after(&outcomes);
            break;
        };
        if refusal.code == Some(ResponseCode::TryCreate) && !created {
            session
                .create(mailbox)
                .map_err(|e| imap_error("CREATE", e))?;
            created = true;
            continue;
        }
        // With pipelining, messages after the refused one were sent too: those stored are
        // found when the journal is settled, those refused must not be taken for them.
        placement.refused = refused_positions(&outcomes, offset);
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

/// Where the mailbox stands after a batch whose every message was appended: the UIDVALIDITY
/// and the UID after the highest the server reported; `None` unless it reported each one.
fn position_after(outcomes: &[AppendOutcome]) -> Option<Position> {
    let mut position: Option<Position> = None;
    for outcome in outcomes {
        let AppendOutcome::Appended(Some(uid)) = outcome else {
            return None;
        };
        if position.is_some_and(|p| p.uid_validity != uid.uid_validity) {
            return None;
        }
        let uid_next = uid.uid.checked_add(1)?;
        position = Some(Position {
            uid_validity: uid.uid_validity,
            uid_next: position.map_or(uid_next, |p| p.uid_next.max(uid_next)),
        });
    }
    position
}

/// Counts the appends at the start of `outcomes` as placed, each with its receipt; returns
/// how many there were.
fn take_appended(
    imap: &Imap,
    mailbox: &str,
    outcomes: &[AppendOutcome],
    placement: &mut Placement,
) -> usize {
    let mut count = 0;
    for outcome in outcomes {
        let AppendOutcome::Appended(uid) = outcome else {
            break;
        };
        placement
            .receipts
            .push(uid.map(|uid| receipt(&imap.target, mailbox, uid)));
        count += 1;
    }
    placement.placed += count;
    count
}

/// Everything but RFC 3986's unreserved characters is escaped in a receipt's user and mailbox.
const URL_ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Where the server put a message, as an IMAP URL (RFC 5092) naming the server, the user, the
/// mailbox, its UIDVALIDITY and the message's UID: the record's proof of delivery.
fn receipt(target: &ImapTarget, mailbox: &str, uid: popget_imap::AppendUid) -> String {
    let escape = |text: &str| percent_encoding::utf8_percent_encode(text, URL_ESCAPED).to_string();
    let host = &target.server.host;
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.clone()
    };
    format!(
        "imap://{}@{host}:{}/{};UIDVALIDITY={}/;UID={}",
        escape(&target.login.user),
        target.server.port,
        escape(mailbox),
        uid.uid_validity,
        uid.uid
    )
}

/// The positions in the batch of the refused messages among `outcomes`, the first of which
/// is the batch's message `offset`.
fn refused_positions(outcomes: &[AppendOutcome], offset: usize) -> Vec<usize> {
    outcomes
        .iter()
        .enumerate()
        .filter(|(_, outcome)| matches!(outcome, AppendOutcome::Refused(_)))
        .map(|(i, _)| offset + i)
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use popget_imap::{Refusal, ResponseCode};

    fn refusal(code: Option<ResponseCode>) -> popget_imap::Error {
        popget_imap::Error::Refused {
            command: "AUTHENTICATE",
            refusal: Refusal {
                code,
                text: "no".into(),
            },
        }
    }

    #[test]
    fn a_login_refused_for_now_is_temporary_and_any_other_refusal_blames_the_login() {
        let error = |code| login_refused("imap.test", "bob", refusal(code)).exit_code();
        assert_eq!(error(Some(ResponseCode::Unavailable)), 75);
        assert_eq!(error(None), 77);
        let failed = ResponseCode::Other("AUTHENTICATIONFAILED".into());
        assert_eq!(error(Some(failed)), 77);
        let broken = popget_imap::Error::Protocol("garbage".into());
        assert_eq!(login_refused("imap.test", "bob", broken).exit_code(), 76);
    }

    #[test]
    fn after_a_batch_the_next_starts_past_the_highest_uid_only_if_every_uid_is_known() {
        let appended = |uid_validity, uid| {
            AppendOutcome::Appended(Some(popget_imap::AppendUid { uid_validity, uid }))
        };
        let position = |uid_validity, uid_next| Position {
            uid_validity,
            uid_next,
        };
        // UIDs need not come in order (another client may append in between).
        let batch = [appended(7, 40), appended(7, 52), appended(7, 41)];
        assert_eq!(position_after(&batch), Some(position(7, 53)));
        assert_eq!(position_after(&[]), None);
        assert_eq!(
            position_after(&[appended(7, 40), AppendOutcome::Appended(None)]),
            None
        );
        let refused = AppendOutcome::Refused(Refusal {
            code: None,
            text: "no".into(),
        });
        assert_eq!(position_after(&[appended(7, 40), refused]), None);
        // A mailbox recreated in the middle of the batch: its position is not known.
        assert_eq!(position_after(&[appended(7, 40), appended(8, 1)]), None);
        assert_eq!(position_after(&[appended(7, u32::MAX)]), None);
    }
}
