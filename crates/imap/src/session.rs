//! The authenticated state: STATUS, CREATE, pipelined APPENDs with their outcomes, the
//! read-only search for a message whose APPEND outcome was lost, and LOGOUT.

use std::io::{Read, Write};

use imap_codec::imap_types::command::{Command, CommandBody};
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::response::Data;
use imap_codec::imap_types::status::{StatusDataItem, StatusDataItemName};

use crate::client::ask_capabilities;
use crate::message::encode_mailbox;
use crate::wire::{Done, Received, Shown, Wire};
use crate::{sanitize, Capabilities, Error, Refusal, Result};

mod append;
mod recovery;

/// The most APPENDs sent ahead of their answers. Bounds what the server queues for us (so
/// neither side blocks writing while the other is not reading) and what one lost connection
/// leaves unknown.
pub const PIPELINE_WINDOW: usize = 64;

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
    /// nothing was sent for it and the code is
    /// [`ResponseCode::TooBig`](crate::ResponseCode::TooBig)). With
    /// [`ResponseCode::TryCreate`](crate::ResponseCode::TryCreate) the caller creates the
    /// mailbox and appends again.
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

fn mailbox_arg(name: &str) -> Result<Mailbox<'_>> {
    Mailbox::try_from(name).map_err(|_| {
        Error::InvalidInput(format!(
            "{} cannot be a mailbox name",
            sanitize(name.as_bytes())
        ))
    })
}
