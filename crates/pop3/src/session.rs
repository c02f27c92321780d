//! A POP3 session over any `Read + Write` stream: line framing, the AUTHORIZATION and
//! TRANSACTION states, pipelined commands, and message bodies streamed to a sink.

use std::io::{Read, Write};

use super::{
    parse_scan_line, parse_stat, parse_uidl_line, Capabilities, Command, Error, LineEnding,
    ListedSizes, Pipelining, ProtocolError, Result, ScanEntry, Status, UidlEntry,
};

mod login;
#[cfg(test)]
mod tests;
mod wire;

pub use login::{apop_digest, LoginError};
use wire::{check_complete, Wire};
pub use wire::{Body, ListingEntry, SaslReply};

pub(super) const READ_BUFFER: usize = 64 * 1024;

/// The most lines accepted in one CAPA answer.
pub(super) const MAX_CAPA_LINES: usize = 256;

/// The memory the entries of one LIST or UIDL answer may take by default, as estimated by
/// [`ListingEntry::memory`]: a UIDL entry with an id of up to 24 octets costs 68 octets, so
/// this holds about 120,000 messages (70,000 with ids of RFC 1939's maximum of 70 octets); a
/// LIST entry costs 20. Larger maildrops need `--max-listing`. A server that sends more is cut
/// off there, so whatever it sends, a listing never takes more.
pub const DEFAULT_MAX_LISTING: u64 = 8 * 1024 * 1024;

/// Receives the protocol dialogue, one line at a time, secrets already redacted.
pub type Tracer = Box<dyn FnMut(&str) + Send>;

/// Whether the stream under a client is protected by verified TLS. Only the transport knows;
/// authentication consults it before any secret is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain TCP (or a test stream).
    Plain,
    /// TLS with a verified (or explicitly pinned) certificate.
    Tls,
    /// TLS whose certificate was not verified because the user passed --insecure.
    TlsUnverified,
}

/// The AUTHORIZATION state: greeting read, not yet logged in.
pub struct Client<S> {
    wire: Wire<S>,
    greeting: Status,
    capabilities: Option<Capabilities>,
    security: Security,
    /// The user asked for TLS: no credential may leave unless `security` is TLS.
    tls_required: bool,
    pipelining: Pipelining,
}

/// Shows where the client is connected and what it learned, never the stream or a secret, so
/// that a failed login (which carries the client) can be unwrapped.
impl<S> std::fmt::Debug for Client<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("peer", &self.wire.peer)
            .field("security", &self.security)
            .field("greeting", &self.greeting)
            .field("capabilities", &self.capabilities)
            .finish_non_exhaustive()
    }
}

impl<S: Read + Write> Client<S> {
    /// Reads the greeting. `peer` names the server in messages.
    pub fn new(stream: S, peer: impl Into<String>, security: Security) -> Result<Self> {
        Self::with_trace(stream, peer, security, None)
    }

    /// Reads the greeting like [`Client::new`], passing every line of the dialogue to `trace`
    /// (`C: ` or `S: ` in front, secrets redacted).
    pub fn with_trace(
        stream: S,
        peer: impl Into<String>,
        security: Security,
        trace: Option<Tracer>,
    ) -> Result<Self> {
        let mut wire = Wire::new(stream, peer.into());
        wire.trace = trace;
        wire.pending.push_back(("greeting", false));
        let greeting = wire.receive_status()?;
        if !greeting.ok {
            return Err(Error::GreetingRefused {
                text: greeting.display_text(),
                code: greeting.code,
            });
        }
        Ok(Client {
            wire,
            greeting,
            capabilities: None,
            security,
            tls_required: false,
            pipelining: Pipelining::Auto,
        })
    }

    /// The server's +OK greeting, whose text may hold the APOP timestamp.
    pub fn greeting(&self) -> &Status {
        &self.greeting
    }

    /// Sets the memory one LIST or UIDL answer may take (default [`DEFAULT_MAX_LISTING`]).
    pub fn set_listing_limit(&mut self, octets: u64) {
        self.wire.listing_limit = octets;
    }

    /// How the connection is protected, as the transport said.
    pub fn security(&self) -> Security {
        self.security
    }

    /// Records that the user asked for TLS (implicit or STLS). The login gate then refuses to
    /// send any credential over this connection unless it is encrypted; the mark survives STLS.
    pub fn require_tls(&mut self) {
        self.tls_required = true;
    }

    /// Whether TLS was required with [`Client::require_tls`]; the mark survives STLS.
    pub fn tls_required(&self) -> bool {
        self.tls_required
    }

    /// Whether login commands may go out without waiting for each answer (default: when the
    /// capabilities announce PIPELINING).
    pub fn set_pipelining(&mut self, mode: Pipelining) {
        self.pipelining = mode;
    }

    /// Whether to pipeline now, by the mode and the capabilities read so far.
    pub fn pipelines(&self) -> bool {
        self.pipelining.allows(
            self.capabilities
                .as_ref()
                .is_some_and(Capabilities::pipelining),
        )
    }

    /// Asks for the capabilities; `None` when the server has no CAPA.
    pub fn capa(&mut self) -> Result<Option<&Capabilities>> {
        self.settle()?;
        self.capabilities = self.wire.capa()?;
        Ok(self.capabilities.as_ref())
    }

    /// The capabilities from the last [`Client::capa`]; `None` before it, or when the server has
    /// no CAPA.
    pub fn capabilities(&self) -> Option<&Capabilities> {
        self.capabilities.as_ref()
    }

    /// Asks for STLS and hands back the raw stream for the TLS handshake. Bytes the server sent
    /// after its `+OK` would be read as if they came through TLS (response injection), so any
    /// are an error.
    pub fn stls(mut self) -> Result<Upgrade<S>> {
        if self.security != Security::Plain {
            return Err(ProtocolError::new("STLS is never sent inside TLS").into());
        }
        self.settle()?;
        let status = self.wire.command(&Command::Stls)?;
        if !status.ok {
            return Err(Error::StlsRefused {
                text: status.display_text(),
            });
        }
        if self.wire.has_buffered_input() {
            return Err(ProtocolError::new(
                "the server sent data after accepting STLS (possible response injection)",
            )
            .into());
        }
        Ok(Upgrade {
            stream: self.wire.stream,
            peer: self.wire.peer,
            greeting: self.greeting,
            trace: self.wire.trace,
            listing_limit: self.wire.listing_limit,
            tls_required: self.tls_required,
            pipelining: self.pipelining,
        })
    }

    /// Ends the session without logging in (nothing is committed on the server).
    pub fn quit(mut self) {
        let _ = self.wire.command(&Command::Quit);
    }

    /// Continues in the TRANSACTION state without logging in, for tests of code that works on
    /// a [`Session`] against a server that needs no login. Only with the `test-support`
    /// feature, which no build but a test build enables.
    #[cfg(feature = "test-support")]
    pub fn into_session(self) -> Session<S> {
        self.enter_session()
    }

    /// Enters the TRANSACTION state: only the login methods call this, after the server
    /// accepted the login.
    fn enter_session(self) -> Session<S> {
        Session {
            wire: self.wire,
            capabilities: self.capabilities,
            deletions: 0,
        }
    }

    /// Reads the answers still owed for commands a refused login had already sent (a PASS
    /// pipelined behind a refused USER), so that the next command gets its own answer.
    fn settle(&mut self) -> Result<()> {
        while !self.wire.pending.is_empty() {
            self.wire.receive_status()?;
        }
        Ok(())
    }
}

/// A connection between STLS and the TLS handshake.
pub struct Upgrade<S> {
    stream: S,
    peer: String,
    greeting: Status,
    trace: Option<Tracer>,
    listing_limit: u64,
    tls_required: bool,
    pipelining: Pipelining,
}

impl<S> Upgrade<S> {
    /// Runs the handshake on the raw stream and continues in the AUTHORIZATION state over the
    /// encrypted one. Capabilities learned before TLS are forgotten; the greeting (and its APOP
    /// timestamp) is kept, as the server does not send another.
    pub fn handshake<T: Read + Write, E>(
        self,
        start_tls: impl FnOnce(S) -> std::result::Result<(T, Security), E>,
    ) -> std::result::Result<Client<T>, E> {
        let (stream, security) = start_tls(self.stream)?;
        let mut wire = Wire::new(stream, self.peer);
        wire.trace = self.trace;
        wire.listing_limit = self.listing_limit;
        Ok(Client {
            wire,
            greeting: self.greeting,
            capabilities: None,
            security,
            tls_required: self.tls_required,
            pipelining: self.pipelining,
        })
    }
}

/// The TRANSACTION state: logged in.
pub struct Session<S> {
    wire: Wire<S>,
    capabilities: Option<Capabilities>,
    /// DELE commands sent in this session: message numbers run from 1 to the number of
    /// messages at login, so a listing may name no number above its length plus these.
    deletions: u32,
}

impl<S: Read + Write> Session<S> {
    /// Sets how closely a retrieved message must fit its LIST size (default
    /// [`ListedSizes::Exact`]).
    pub fn set_listed_sizes(&mut self, sizes: ListedSizes) {
        self.wire.listed_sizes = sizes;
    }

    /// Asks for the capabilities again (servers such as Gmail announce UIDL, TOP and PIPELINING
    /// only after login). Keeps the earlier set when the server has no CAPA.
    pub fn capa(&mut self) -> Result<Option<&Capabilities>> {
        if let Some(capabilities) = self.wire.capa()? {
            self.capabilities = Some(capabilities);
        }
        Ok(self.capabilities.as_ref())
    }

    /// The capabilities last read, before or after login; `None` if none were.
    pub fn capabilities(&self) -> Option<&Capabilities> {
        self.capabilities.as_ref()
    }

    /// The number of messages in the maildrop and their total size in octets (STAT).
    pub fn stat(&mut self) -> Result<(u32, u64)> {
        self.wire.send(&Command::Stat)?;
        self.finish_stat()
    }

    /// The scan listing of every message.
    pub fn list(&mut self) -> Result<Vec<ScanEntry>> {
        self.wire.send(&Command::List(None))?;
        self.finish_list()
    }

    /// The unique-id listing, or `None` when the server does not support UIDL.
    pub fn uidl(&mut self) -> Result<Option<Vec<UidlEntry>>> {
        self.wire.send(&Command::Uidl(None))?;
        self.finish_uidl()
    }

    /// Reads the answer to a STAT already sent.
    fn finish_stat(&mut self) -> Result<(u32, u64)> {
        let status = self.wire.receive_status()?;
        if !status.ok {
            return Err(Error::refused("STAT", &status));
        }
        Ok(parse_stat(&status.text)?)
    }

    /// Reads the answer to a LIST (of every message) already sent.
    fn finish_list(&mut self) -> Result<Vec<ScanEntry>> {
        let status = self.wire.receive_status()?;
        if !status.ok {
            return Err(Error::refused("LIST", &status));
        }
        self.receive_listing("LIST", parse_scan_line)
    }

    /// Reads the answer to a UIDL (of every message) already sent.
    fn finish_uidl(&mut self) -> Result<Option<Vec<UidlEntry>>> {
        let status = self.wire.receive_status()?;
        if !status.ok {
            return Ok(None);
        }
        self.receive_listing("UIDL", parse_uidl_line).map(Some)
    }

    /// The scan listing and the unique-id listing (`None` without UIDL) at the start of the
    /// transaction, checked against STAT's message count: each must name every message from 1
    /// to that count exactly once, so that no message is fetched without its id or left out
    /// (its record would be forgotten as if it had left the server). STAT, LIST and UIDL are
    /// sent at once when `pipelined`. If STAT or LIST is refused, the answers after it stay
    /// unread, so the session is left [outstanding](Session::outstanding) and must be
    /// abandoned.
    pub fn listings(
        &mut self,
        pipelined: bool,
    ) -> Result<(Vec<ScanEntry>, Option<Vec<UidlEntry>>)> {
        let (count, scan, ids) = if pipelined {
            self.wire.send(&Command::Stat)?;
            self.wire.send(&Command::List(None))?;
            self.wire.send(&Command::Uidl(None))?;
            (
                self.finish_stat()?.0,
                self.finish_list()?,
                self.finish_uidl()?,
            )
        } else {
            (self.stat()?.0, self.list()?, self.uidl()?)
        };
        check_complete("LIST", &scan, count)?;
        if let Some(ids) = &ids {
            check_complete("UIDL", ids, count)?;
        }
        Ok((scan, ids))
    }

    /// Reads a listing body, parsing each line as it arrives. A message number listed twice is
    /// an error, and so is a listing whose entries would take more memory than the limit.
    fn receive_listing<T: ListingEntry>(
        &mut self,
        what: &'static str,
        parse: impl Fn(&[u8]) -> Result<T, ProtocolError>,
    ) -> Result<Vec<T>> {
        let limit = self.wire.listing_limit;
        let mut memory = 0u64;
        let mut entries = Vec::new();
        while let Some(line) = self.wire.next_line()? {
            let entry = parse(&line)?;
            memory += entry.memory();
            if memory > limit {
                // The rest of the body is not read: the session is abandoned.
                return Err(Error::ListingTooLarge {
                    what,
                    limit,
                    entries: entries.len(),
                });
            }
            entries.push(entry);
        }
        let mut numbers: Vec<u32> = entries.iter().map(ListingEntry::number).collect();
        numbers.sort_unstable();
        let highest = entries.len() as u64 + u64::from(self.deletions);
        if let Some(&last) = numbers.last().filter(|&&last| u64::from(last) > highest) {
            return Err(ProtocolError::new(format!(
                "the {what} answer names message {last}, but lists only {} messages",
                entries.len()
            ))
            .into());
        }
        let twice = numbers.windows(2).find_map(|pair| match pair {
            [a, b] if a == b => Some(*a),
            _ => None,
        });
        if let Some(number) = twice {
            return Err(ProtocolError::new(format!(
                "message {number} appears twice in the {what} answer"
            ))
            .into());
        }
        Ok(entries)
    }

    /// Queues a command without waiting for its answer (pipelining). Answers are read in order
    /// with [`Session::receive_status`] and, for multi-line ones, [`Session::receive_body`].
    pub fn send(&mut self, command: &Command) -> Result<()> {
        if matches!(command, Command::Dele(_)) {
            self.deletions = self.deletions.saturating_add(1);
        }
        self.wire.send(command)
    }

    /// Writes every queued command.
    pub fn flush(&mut self) -> Result<()> {
        self.wire.flush()
    }

    /// The connection underneath.
    pub fn connection(&self) -> &S {
        &self.wire.stream
    }

    /// Commands sent whose answers have not been read yet.
    pub fn outstanding(&self) -> usize {
        self.wire.pending.len()
    }

    /// Reads the status answering the oldest outstanding command (flushing queued commands
    /// first, so this can never wait for an answer to an unsent command).
    pub fn receive_status(&mut self) -> Result<Status> {
        self.wire.receive_status()
    }

    /// Streams the body of a positive multi-line answer (RETR, TOP) into `sink`. A failing
    /// sink is reported in [`Body::sink_error`] and the rest of the body is discarded, so the
    /// session stays usable.
    pub fn receive_body(&mut self, ending: LineEnding, sink: &mut dyn Write) -> Result<Body> {
        self.wire.receive_body(ending, sink, false, None, None)
    }

    /// Like [`Session::receive_body`], but a body longer than `limit` octets is an error that
    /// leaves the session unusable (it is not read to its end).
    pub fn receive_body_within(
        &mut self,
        ending: LineEnding,
        sink: &mut dyn Write,
        limit: Option<u64>,
    ) -> Result<Body> {
        self.wire.receive_body(ending, sink, false, limit, None)
    }

    /// Streams a RETR body like [`Session::receive_body_within`] and checks it against the
    /// size LIST announced for `message`: a body that does not fit it (see
    /// [`super::size_slack`]) is a protocol error that leaves the session unusable, as the
    /// answers that follow cannot be trusted either.
    pub fn receive_message(
        &mut self,
        ending: LineEnding,
        sink: &mut dyn Write,
        limit: Option<u64>,
        message: u32,
        listed: u64,
    ) -> Result<Body> {
        self.wire
            .receive_body(ending, sink, false, limit, Some((message, listed)))
    }

    /// Whether the status of a multi-line answer was read and its body was not.
    pub fn body_pending(&self) -> bool {
        self.wire.body_pending
    }

    /// Whether the server sent something that no command asked for yet, or a body is unread.
    pub fn has_unread_input(&self) -> bool {
        self.wire.has_buffered_input() || self.wire.body_pending
    }

    /// Retrieves one message into `sink` (no pipelining).
    pub fn retr(&mut self, message: u32, ending: LineEnding, sink: &mut dyn Write) -> Result<Body> {
        let status = self.wire.command(&Command::Retr(message))?;
        if !status.ok {
            return Err(Error::refused("RETR", &status));
        }
        self.receive_body(ending, sink)
    }

    /// Sends RETR or TOP and streams the answer into `sink`, stopping at once if the sink
    /// fails (a reader that closed its pipe is not kept waiting for a large message).
    pub fn stream(
        &mut self,
        command: &Command,
        ending: LineEnding,
        sink: &mut dyn Write,
    ) -> Result<u64> {
        let status = self.wire.command(command)?;
        if !status.ok {
            return Err(Error::refused(command.name(), &status));
        }
        Ok(self
            .wire
            .receive_body(ending, sink, true, None, None)?
            .octets)
    }

    /// The scan listing of one message (`LIST n`).
    pub fn list_one(&mut self, message: u32) -> Result<ScanEntry> {
        let status = self.wire.command(&Command::List(Some(message)))?;
        if !status.ok {
            return Err(Error::refused("LIST", &status));
        }
        Ok(parse_scan_line(&status.text)?)
    }

    /// The unique id of one message (`UIDL n`).
    pub fn uidl_one(&mut self, message: u32) -> Result<UidlEntry> {
        let status = self.wire.command(&Command::Uidl(Some(message)))?;
        if !status.ok {
            return Err(Error::refused("UIDL", &status));
        }
        Ok(parse_uidl_line(&status.text)?)
    }

    /// Marks one message deleted; the server removes it only after a successful QUIT.
    pub fn dele(&mut self, message: u32) -> Result<Status> {
        self.send(&Command::Dele(message))?;
        self.wire.receive_status()
    }

    /// Ends the session; deletions take effect only if the server answers `+OK`.
    pub fn quit(mut self) -> Result<()> {
        let status = self.wire.command(&Command::Quit)?;
        if !status.ok {
            return Err(Error::refused("QUIT", &status));
        }
        Ok(())
    }
}
