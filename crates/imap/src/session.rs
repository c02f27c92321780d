//! The authenticated state: STATUS, CREATE, pipelined APPENDs with their outcomes, the
//! read-only search for a message whose APPEND outcome was lost, and LOGOUT.

use std::collections::VecDeque;
use std::io::{self, Read, Write};

use imap_codec::encode::{Encoder, Fragment};
use imap_codec::imap_types::command::{Command, CommandBody};
use imap_codec::imap_types::core::{AString, Vec1};
use imap_codec::imap_types::fetch::{MessageDataItem, MessageDataItemName, Section};
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::response::{Code, Data, StatusKind};
use imap_codec::imap_types::sequence::SequenceSet;
use imap_codec::imap_types::status::{StatusDataItem, StatusDataItemName};
use imap_codec::CommandCodec;

use crate::client::ask_capabilities;
use crate::message::{crlf_length, encode_mailbox, parse_flags, CrlfEncoder};
use crate::wire::{Done, Received, Shown, Wire};
use crate::{sanitize, AppendMessage, Capabilities, Error, Refusal, ResponseCode, Result};

/// The most APPENDs sent ahead of their answers. Bounds what the server queues for us (so
/// neither side blocks writing while the other is not reading) and what one lost connection
/// leaves unknown.
pub const PIPELINE_WINDOW: usize = 64;

/// LITERAL- allows non-synchronising literals up to this size (RFC 7888 section 4).
const LITERAL_MINUS_MAX: u64 = 4096;

const CHUNK: usize = 64 * 1024;

/// What STATUS says of a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxStatus {
    /// UIDVALIDITY: UIDs are only comparable while it stays the same.
    pub uid_validity: u32,
    /// UIDNEXT: the least UID the next message will get.
    pub uid_next: u32,
    /// MESSAGES: how many messages the mailbox holds.
    pub messages: u32,
}

/// Where the server put an appended message (UIDPLUS's `[APPENDUID]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendUid {
    /// The mailbox's UIDVALIDITY.
    pub uid_validity: u32,
    /// The message's UID.
    pub uid: u32,
}

/// What became of one message of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendOutcome {
    /// The server answered OK: the message is stored. Its UID when the server has UIDPLUS.
    Appended(Option<AppendUid>),
    /// The server answered NO, or the message is larger than the server's APPENDLIMIT (then
    /// nothing was sent for it and the code is [`ResponseCode::TooBig`]). With
    /// [`ResponseCode::TryCreate`] the caller creates the mailbox and appends again.
    Refused(Refusal),
}

/// A batch that failed part way: `outcomes` holds what the server confirmed for the first
/// `outcomes.len()` messages; of the rest nothing is known (an APPEND may or may not have
/// been stored). The session is unusable afterwards.
#[derive(Debug)]
pub struct BatchError {
    /// The confirmed outcomes, in message order.
    pub outcomes: Vec<AppendOutcome>,
    /// Why the batch stopped.
    pub error: Error,
}

impl std::fmt::Display for BatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (after {} confirmed outcomes)",
            self.error,
            self.outcomes.len()
        )
    }
}

impl std::error::Error for BatchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<BatchError> for Error {
    fn from(batch: BatchError) -> Error {
        batch.error
    }
}

/// The answer of [`Session::find_appended`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// A message of that size (and Message-ID) has this UID, at or above the UID looked from.
    Found(u32),
    /// No message in the range fits.
    Absent,
    /// The mailbox's UIDVALIDITY is no longer the one given: the UIDs seen before mean
    /// nothing now (the mailbox was recreated), so the range cannot be searched.
    UidValidityChanged(u32),
}

/// The authenticated state: logged in.
pub struct Session<S> {
    wire: Wire<S>,
    capabilities: Capabilities,
    /// An earlier error left the connection in an unknown state (a literal cut short, an
    /// answer out of step): nothing more may be sent, as the server might take it as
    /// message data.
    broken: bool,
}

impl<S> std::fmt::Debug for Session<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("capabilities", &self.capabilities)
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

/// One APPEND sent (or refused here) whose outcome is still to be read.
enum Pending {
    Sent(String),
    Local(AppendOutcome),
}

/// One message ready to go: the command up to its literal, and the literal's size.
struct Prepared {
    prefix: Vec<u8>,
    octets: u64,
    too_big: Option<Refusal>,
}

impl<S: Read + Write> Session<S> {
    pub(crate) fn new(wire: Wire<S>, capabilities: Capabilities) -> Self {
        Session {
            wire,
            capabilities,
            broken: false,
        }
    }

    /// The capabilities as last read, after login.
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// Asks for the capabilities again.
    pub fn refresh_capabilities(&mut self) -> Result<&Capabilities> {
        self.guard(|session| {
            session.capabilities = ask_capabilities(&mut session.wire)?;
            Ok(())
        })?;
        Ok(&self.capabilities)
    }

    /// The largest message the server accepts (RFC 7889 `APPENDLIMIT=n`), if it says.
    pub fn append_limit(&self) -> Option<u64> {
        self.capabilities.append_limit()
    }

    /// Sets the most octets one server response may take, literals included (default
    /// [`crate::DEFAULT_RESPONSE_LIMIT`]).
    pub fn set_response_limit(&mut self, octets: u32) {
        self.wire.set_limit(octets);
    }

    /// The stream underneath.
    pub fn connection(&self) -> &S {
        &self.wire.stream
    }

    /// Whether an earlier error left the session unusable (every command now fails).
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Runs `op` unless the session is broken, and marks it broken when `op` fails in a way
    /// that leaves the connection in an unknown state.
    fn guard<T>(&mut self, op: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        if self.broken {
            return Err(Error::protocol(
                "the session is unusable after an earlier error",
            ));
        }
        let result = op(self);
        if let Err(error) = &result {
            if error.ends_session() {
                self.broken = true;
            }
        }
        result
    }

    /// Sends a simple command and reads its answer, handing untagged data to `data`.
    fn simple(
        &mut self,
        body: CommandBody<'_>,
        data: impl FnMut(Received) -> Result<()>,
    ) -> Result<Done> {
        let keyword = body.name();
        let tag = self.wire.tag();
        let command = Command::new(tag.as_str(), body)
            .map_err(|_| Error::protocol(format!("cannot encode {keyword}")))?;
        match self.wire.command(&command, Shown::Plain)? {
            Some(done) => Ok(done),
            None => self.wire.finish(&tag, data),
        }
    }

    /// The mailbox's UIDVALIDITY, UIDNEXT and message count (STATUS). A mailbox that does not
    /// exist is an [`Error::Refused`] (usually with `[NONEXISTENT]` or `[TRYCREATE]`).
    pub fn status(&mut self, mailbox: &str) -> Result<MailboxStatus> {
        let name = encode_mailbox(mailbox)?;
        self.guard(|session| {
            let body = CommandBody::status(
                mailbox_arg(&name)?,
                vec![
                    StatusDataItemName::Messages,
                    StatusDataItemName::UidNext,
                    StatusDataItemName::UidValidity,
                ],
            )
            .map_err(|_| Error::protocol("cannot encode STATUS"))?;
            let (mut messages, mut uid_next, mut uid_validity) = (None, None, None);
            session
                .simple(body, |received| {
                    if let Received::Data(Data::Status { items, .. }) = received {
                        for item in items.iter() {
                            match item {
                                StatusDataItem::Messages(n) => messages = Some(*n),
                                StatusDataItem::UidNext(n) => uid_next = Some(n.get()),
                                StatusDataItem::UidValidity(n) => uid_validity = Some(n.get()),
                                _ => {}
                            }
                        }
                    }
                    Ok(())
                })?
                .check("STATUS")?;
            match (uid_validity, uid_next, messages) {
                (Some(uid_validity), Some(uid_next), Some(messages)) => Ok(MailboxStatus {
                    uid_validity,
                    uid_next,
                    messages,
                }),
                _ => Err(Error::protocol(
                    "the STATUS answer lacks MESSAGES, UIDNEXT or UIDVALIDITY",
                )),
            }
        })
    }

    /// Creates a mailbox (CREATE). One that exists already is an [`Error::Refused`], usually
    /// with the code `ALREADYEXISTS`.
    pub fn create(&mut self, mailbox: &str) -> Result<()> {
        let name = encode_mailbox(mailbox)?;
        self.guard(|session| {
            let body = CommandBody::create(mailbox_arg(&name)?)
                .map_err(|_| Error::protocol("cannot encode CREATE"))?;
            session.simple(body, |_| Ok(()))?.check("CREATE")?;
            Ok(())
        })
    }

    /// Appends a batch of messages to `mailbox`, one APPEND each, and returns each one's
    /// outcome in order.
    ///
    /// Each message is read twice from where its source stands: once to count its CRLF length
    /// (the literal's size), once to send it with LF turned into CRLF, 64 KiB at a time, so a
    /// message of any size takes bounded memory. Everything is checked (mailbox name, flags,
    /// dates, sizes) before anything is sent.
    ///
    /// The literal is non-synchronising (`{n+}`) when the server announces LITERAL+, or
    /// LITERAL- and the message is at most 4096 octets; then APPENDs go out without waiting
    /// for their answers, up to [`PIPELINE_WINDOW`] ahead, and the answers are read in order.
    /// Otherwise each literal waits for the server's `+` (`{n}`), and a server that answers
    /// NO instead has refused that message without it being sent.
    ///
    /// A message larger than the server's APPENDLIMIT is not sent: its outcome is a refusal
    /// with [`ResponseCode::TooBig`]. A `[TRYCREATE]` refusal is left to the caller: CREATE
    /// the mailbox, then append the refused messages again (with pipelining, every message of
    /// the batch after the first is refused the same way).
    ///
    /// A `BAD`, a `BYE`, a lost connection, an answer out of step, or a source that cannot be
    /// read or changes size while sent ends the batch with a [`BatchError`] holding the
    /// outcomes confirmed until then, and leaves the session unusable: whether the later
    /// messages were stored is unknown. A literal is never completed with bytes other than
    /// the message's own: a source that fails stops the literal short, so the server cannot
    /// store a truncated message once the connection is dropped.
    pub fn append(
        &mut self,
        mailbox: &str,
        messages: &mut [AppendMessage<'_>],
    ) -> std::result::Result<Vec<AppendOutcome>, BatchError> {
        let mut outcomes = Vec::with_capacity(messages.len());
        let result = self.guard(|session| session.append_batch(mailbox, messages, &mut outcomes));
        match result {
            Ok(()) => Ok(outcomes),
            Err(error) => Err(BatchError { outcomes, error }),
        }
    }

    fn append_batch(
        &mut self,
        mailbox: &str,
        messages: &mut [AppendMessage<'_>],
        outcomes: &mut Vec<AppendOutcome>,
    ) -> Result<()> {
        let name = encode_mailbox(mailbox)?;
        let limit = self.append_limit();
        let mut prepared = Vec::with_capacity(messages.len());
        for message in messages.iter_mut() {
            let flags = parse_flags(&message.flags)?;
            let date = message
                .internal_date
                .map(|date| date.to_imap())
                .transpose()?;
            let octets = crlf_length(&mut *message.source).map_err(Error::Source)?;
            if octets > u64::from(u32::MAX) {
                return Err(Error::InvalidInput(format!(
                    "a message of {octets} octets is too large for IMAP"
                )));
            }
            let too_big = limit.filter(|&limit| octets > limit).map(|limit| Refusal {
                code: Some(ResponseCode::TooBig),
                text: format!(
                    "the message ({octets} octets) is larger than the server's APPENDLIMIT ({limit})"
                ),
            });
            prepared.push(Prepared {
                prefix: append_prefix(&name, flags, date)?,
                octets,
                too_big,
            });
        }
        let plus = self.capabilities.literal_plus();
        let minus = self.capabilities.literal_minus();
        let mut pending: VecDeque<Pending> = VecDeque::new();
        for (message, prepared) in messages.iter_mut().zip(prepared) {
            if let Some(refusal) = prepared.too_big {
                pending.push_back(Pending::Local(AppendOutcome::Refused(refusal)));
                continue;
            }
            while pending.len() >= PIPELINE_WINDOW {
                self.settle_front(&mut pending, outcomes)?;
            }
            let octets = prepared.octets;
            let non_sync = plus || (minus && octets <= LITERAL_MINUS_MAX);
            let tag = self.wire.tag();
            let mut line = Vec::with_capacity(tag.len() + 1 + prepared.prefix.len() + 16);
            line.extend_from_slice(tag.as_bytes());
            line.push(b' ');
            line.extend_from_slice(&prepared.prefix);
            line.extend_from_slice(
                format!("{{{octets}{}}}", if non_sync { "+" } else { "" }).as_bytes(),
            );
            let text = sanitize(&line);
            self.wire.trace(|| format!("C: {text}"));
            line.extend_from_slice(b"\r\n");
            self.wire.queue(&line)?;
            if !non_sync {
                self.wire.flush()?;
                if let Some(done) = self.await_continuation(&tag, &mut pending, outcomes)? {
                    // Refused before the literal: nothing of the message was sent.
                    outcomes.push(outcome(done, false)?);
                    continue;
                }
            }
            self.wire.trace(|| format!("C: {{{octets} octets}}"));
            self.send_literal(&mut *message.source, octets)?;
            self.wire.queue(b"\r\n")?;
            pending.push_back(Pending::Sent(tag));
        }
        self.wire.flush()?;
        while !pending.is_empty() {
            self.settle_front(&mut pending, outcomes)?;
        }
        Ok(())
    }

    /// Reads the outcome of the oldest pending APPEND.
    fn settle_front(
        &mut self,
        pending: &mut VecDeque<Pending>,
        outcomes: &mut Vec<AppendOutcome>,
    ) -> Result<()> {
        match pending.pop_front() {
            Some(Pending::Local(local)) => outcomes.push(local),
            Some(Pending::Sent(tag)) => {
                let done = self.wire.finish(&tag, |_| Ok(()))?;
                outcomes.push(outcome(done, true)?);
            }
            None => {}
        }
        Ok(())
    }

    /// Waits for the `+` that lets the literal of `tag` go out, reading the answers to the
    /// APPENDs still pending (in order) on the way. Returns the answer to `tag` if the server
    /// refused it before the literal.
    fn await_continuation(
        &mut self,
        tag: &str,
        pending: &mut VecDeque<Pending>,
        outcomes: &mut Vec<AppendOutcome>,
    ) -> Result<Option<Done>> {
        loop {
            while let Some(Pending::Local(_)) = pending.front() {
                self.settle_front(pending, outcomes)?;
            }
            match self.wire.receive()? {
                Received::Continue(_) if pending.is_empty() => return Ok(None),
                Received::Continue(_) => {
                    return Err(Error::protocol(format!(
                        "the server asked for the literal of {tag} before answering the APPENDs before it"
                    )))
                }
                Received::Tagged { tag: got, done } => match pending.front() {
                    Some(Pending::Sent(due)) if *due == got => {
                        pending.pop_front();
                        outcomes.push(outcome(done, true)?);
                    }
                    None if got == tag => return Ok(Some(done)),
                    _ => {
                        return Err(Error::protocol(format!(
                            "the server answered {} out of step",
                            sanitize(got.as_bytes())
                        )))
                    }
                },
                Received::Data(_) | Received::Untagged(_) => {}
            }
        }
    }

    /// Streams the CRLF form of `source` as a literal of `octets` octets. The last chunk is
    /// held back until the source has ended at exactly that size, so a source that fails or
    /// changes size leaves the literal incomplete.
    fn send_literal(&mut self, source: &mut dyn Read, octets: u64) -> Result<()> {
        let mut encoder = CrlfEncoder::default();
        let mut buffer = vec![0u8; CHUNK];
        let mut held: Vec<u8> = Vec::with_capacity(CHUNK + CHUNK / 8);
        let mut converted: Vec<u8> = Vec::with_capacity(CHUNK + CHUNK / 8);
        let mut sent = 0u64;
        loop {
            let n = match source.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(Error::Source(error)),
            };
            converted.clear();
            encoder.encode(&buffer[..n], &mut converted);
            if sent + (held.len() + converted.len()) as u64 > octets {
                return Err(changed_size(octets));
            }
            self.wire.write_through(&held)?;
            sent += held.len() as u64;
            std::mem::swap(&mut held, &mut converted);
        }
        if sent + held.len() as u64 != octets {
            return Err(changed_size(octets));
        }
        self.wire.write_through(&held)
    }

    /// Looks for a message appended before a crash whose outcome was lost: in `mailbox`, if
    /// its UIDVALIDITY is still `uid_validity`, among the messages with a UID of at least
    /// `since_uid` (the UIDNEXT seen before the APPEND), one of `octets` octets (the CRLF size
    /// sent, as [`crate::crlf_length`] counts it) whose Message-ID is `message_id` (angle
    /// brackets included, compared after trimming white space); without a Message-ID the
    /// size alone decides. The lowest such UID is returned.
    ///
    /// Read-only: the mailbox is opened with EXAMINE, headers are fetched with BODY.PEEK, so
    /// no flag changes; it is closed again before returning.
    pub fn find_appended(
        &mut self,
        mailbox: &str,
        uid_validity: u32,
        since_uid: u32,
        message_id: Option<&str>,
        octets: u64,
    ) -> Result<Lookup> {
        let name = encode_mailbox(mailbox)?;
        self.guard(|session| {
            let body = CommandBody::examine(mailbox_arg(&name)?)
                .map_err(|_| Error::protocol("cannot encode EXAMINE"))?;
            let mut current = None;
            session
                .simple(body, |received| {
                    if let Received::Untagged(body) = received {
                        if let Some(Code::UidValidity(value)) = body.code {
                            current = Some(value.get());
                        }
                    }
                    Ok(())
                })?
                .check("EXAMINE")?;
            let current =
                current.ok_or_else(|| Error::protocol("the EXAMINE answer lacks UIDVALIDITY"))?;
            let found = if current != uid_validity {
                Lookup::UidValidityChanged(current)
            } else {
                session.search_range(since_uid.max(1), message_id, octets)?
            };
            session.unselect()?;
            Ok(found)
        })
    }

    fn search_range(
        &mut self,
        since_uid: u32,
        message_id: Option<&str>,
        octets: u64,
    ) -> Result<Lookup> {
        let range = SequenceSet::try_from(format!("{since_uid}:*").as_str())
            .map_err(|_| Error::protocol("cannot encode a UID range"))?;
        let header = AString::try_from("MESSAGE-ID")
            .map_err(|_| Error::protocol("cannot encode a header name"))?;
        let items = vec![
            MessageDataItemName::Uid,
            MessageDataItemName::Rfc822Size,
            MessageDataItemName::BodyExt {
                section: Some(Section::HeaderFields(None, Vec1::from(header))),
                partial: None,
                peek: true,
            },
        ];
        let body = CommandBody::fetch(range, items, true)
            .map_err(|_| Error::protocol("cannot encode UID FETCH"))?;
        let wanted = message_id.map(str::trim);
        let mut best: Option<u32> = None;
        session_fetch(self, body, |items| {
            let mut uid = None;
            let mut size = None;
            let mut id = None;
            for item in items {
                match item {
                    MessageDataItem::Uid(value) => uid = Some(value.get()),
                    MessageDataItem::Rfc822Size(value) => size = Some(u64::from(*value)),
                    MessageDataItem::BodyExt { data, .. } => {
                        id = data.0.as_ref().map(|header| message_id_of(header.as_ref()));
                    }
                    _ => {}
                }
            }
            let (Some(uid), Some(size)) = (uid, size) else {
                return;
            };
            let id_fits = match wanted {
                None => true,
                Some(wanted) => id.flatten().as_deref() == Some(wanted),
            };
            if uid >= since_uid && size == octets && id_fits {
                best = Some(best.map_or(uid, |best| best.min(uid)));
            }
        })?;
        Ok(best.map_or(Lookup::Absent, Lookup::Found))
    }

    /// Leaves the selected mailbox: UNSELECT where offered, else CLOSE (which expunges
    /// nothing in a mailbox opened with EXAMINE).
    fn unselect(&mut self) -> Result<()> {
        let body = if self.capabilities.has("UNSELECT") {
            CommandBody::Unselect
        } else {
            CommandBody::Close
        };
        let keyword = body.name();
        self.simple(body, |_| Ok(()))?.check(keyword)?;
        Ok(())
    }

    /// Ends the session (LOGOUT). A broken session is dropped without a word, as anything sent
    /// might be taken as message data.
    pub fn logout(mut self) -> Result<()> {
        if self.broken {
            return Ok(());
        }
        let body = CommandBody::Logout;
        let tag = self.wire.tag();
        let command = Command::new(tag.as_str(), body)
            .map_err(|_| Error::protocol("cannot encode LOGOUT"))?;
        self.wire.command(&command, Shown::Plain)?;
        // The server says BYE before its OK: the BYE of a LOGOUT is no error.
        loop {
            match self.wire.receive() {
                Ok(Received::Tagged { tag: got, done }) if got == tag => {
                    done.check("LOGOUT")?;
                    return Ok(());
                }
                Ok(Received::Tagged { .. }) | Ok(Received::Continue(_)) => {
                    return Err(Error::protocol("the server answered LOGOUT out of step"))
                }
                Ok(_) | Err(Error::Bye { .. }) => {}
                Err(error) if error.is_connection() => return Ok(()),
                Err(error) => return Err(error),
            }
        }
    }
}

/// Sends a UID FETCH and hands the items of each FETCH response to `each`.
fn session_fetch<S: Read + Write>(
    session: &mut Session<S>,
    body: CommandBody<'_>,
    mut each: impl FnMut(&[MessageDataItem<'_>]),
) -> Result<()> {
    session
        .simple(body, |received| {
            if let Received::Data(Data::Fetch { items, .. }) = received {
                each(items.as_ref());
            }
            Ok(())
        })?
        .check("FETCH")?;
    Ok(())
}

/// The Message-ID in a header block (`Message-ID: <a@b>`, folded lines unfolded), trimmed.
fn message_id_of(header: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(header);
    let mut value: Option<String> = None;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with([' ', '\t']) {
            if let Some(value) = value.as_mut() {
                value.push_str(line.trim());
            }
            continue;
        }
        if value.is_some() {
            break;
        }
        if let Some((name, rest)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("message-id") {
                value = Some(rest.trim().to_string());
            }
        }
    }
    value
}

fn changed_size(octets: u64) -> Error {
    Error::Source(io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the message no longer has the {octets} octets counted before it was sent"),
    ))
}

/// The outcome an APPEND's tagged answer gives. `literal_sent`: an OK before the literal was
/// sent is out of step.
fn outcome(done: Done, literal_sent: bool) -> Result<AppendOutcome> {
    match done.kind {
        StatusKind::Ok if literal_sent => {
            let uid = match &done.code {
                Some(Code::AppendUid { uid_validity, uid }) => Some(AppendUid {
                    uid_validity: uid_validity.get(),
                    uid: uid.get(),
                }),
                _ => None,
            };
            Ok(AppendOutcome::Appended(uid))
        }
        StatusKind::Ok => Err(Error::protocol(
            "the server accepted an APPEND whose message it never asked for",
        )),
        StatusKind::No => Ok(AppendOutcome::Refused(done.refusal())),
        StatusKind::Bad => Err(Error::Bad {
            command: "APPEND",
            text: done.text,
        }),
    }
}

fn mailbox_arg(name: &str) -> Result<Mailbox<'_>> {
    Mailbox::try_from(name).map_err(|_| {
        Error::InvalidInput(format!(
            "{} cannot be a mailbox name",
            sanitize(name.as_bytes())
        ))
    })
}

/// `APPEND mailbox (flags) "date" ` as imap-codec encodes it (quoting the name, checking the
/// flags and the date), without the tag and the literal, which the caller adds.
fn append_prefix(
    name: &str,
    flags: Vec<imap_codec::imap_types::flag::Flag<'static>>,
    date: Option<imap_codec::imap_types::datetime::DateTime>,
) -> Result<Vec<u8>> {
    let body = CommandBody::append(mailbox_arg(name)?, flags, date, &b""[..])
        .map_err(|_| Error::InvalidInput("cannot encode the APPEND".into()))?;
    let command = Command::new("T", body)
        .map_err(|_| Error::InvalidInput("cannot encode the APPEND".into()))?;
    let mut fragments = CommandCodec::default().encode(&command);
    let odd = || Error::protocol("imap-codec encoded APPEND in an unexpected form");
    let Some(Fragment::Line { data }) = fragments.next() else {
        return Err(odd());
    };
    let line = data
        .strip_prefix(b"T ")
        .and_then(|line| line.strip_suffix(b"{0}\r\n"))
        .ok_or_else(odd)?;
    Ok(line.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_prefix_quotes_names_and_checks_flags_and_dates() {
        let seen = parse_flags(&["\\Seen".to_string(), "$Label1".to_string()]).unwrap();
        let date = crate::InternalDate::new(837_596_665, -7 * 3600)
            .unwrap()
            .to_imap()
            .unwrap();
        assert_eq!(
            append_prefix("INBOX", seen, Some(date)).unwrap(),
            b"APPEND INBOX (\\Seen $Label1) \"17-Jul-1996 02:44:25 -0700\" "
        );
        assert_eq!(
            append_prefix("My \"Box\"", Vec::new(), None).unwrap(),
            b"APPEND \"My \\\"Box\\\"\" "
        );
        assert_eq!(
            append_prefix("Archive", Vec::new(), None).unwrap(),
            b"APPEND Archive "
        );
    }

    #[test]
    fn message_ids_from_header_blocks() {
        assert_eq!(
            message_id_of(b"Message-ID: <a@b>\r\n\r\n").as_deref(),
            Some("<a@b>")
        );
        assert_eq!(
            message_id_of(b"message-id:\r\n  <folded@x>\r\n\r\n").as_deref(),
            Some("<folded@x>")
        );
        assert_eq!(message_id_of(b"\r\n"), None);
    }
}
