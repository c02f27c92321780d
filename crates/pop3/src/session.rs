//! A POP3 session over any `Read + Write` stream: line framing, the AUTHORIZATION and
//! TRANSACTION states, pipelined commands, and message bodies streamed to a sink.

use std::collections::VecDeque;
use std::io::{self, Read, Write};

use super::{
    parse_scan_line, parse_stat, parse_status, parse_uidl_line, Capabilities, Command, DotDecoder,
    Error, LineEnding, ListedSizes, Pipelining, Progress, ProtocolError, Result, ScanEntry, Status,
    UidlEntry, MAX_LINE,
};

mod login;

pub use login::{apop_digest, LoginError};

const READ_BUFFER: usize = 64 * 1024;

/// The most lines accepted in one CAPA answer.
const MAX_CAPA_LINES: usize = 256;

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

/// Framing and bookkeeping shared by both session states.
struct Wire<S> {
    stream: S,
    peer: String,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    out: Vec<u8>,
    /// Commands sent whose answers have not been read, oldest first: (name, multi-line).
    pending: VecDeque<(&'static str, bool)>,
    /// The status of a multi-line answer was read and its body was not.
    body_pending: bool,
    trace: Option<Tracer>,
    /// The memory one LIST or UIDL answer may take (see [`DEFAULT_MAX_LISTING`]).
    listing_limit: u64,
    /// How closely a body must fit its LIST size.
    listed_sizes: ListedSizes,
}

impl<S: Read + Write> Wire<S> {
    fn new(stream: S, peer: String) -> Self {
        Wire {
            stream,
            peer,
            buf: vec![0; READ_BUFFER].into_boxed_slice(),
            start: 0,
            end: 0,
            out: Vec::with_capacity(4096),
            pending: VecDeque::new(),
            body_pending: false,
            trace: None,
            listing_limit: DEFAULT_MAX_LISTING,
            listed_sizes: ListedSizes::Exact,
        }
    }

    fn trace(&mut self, line: impl FnOnce() -> String) {
        if let Some(trace) = self.trace.as_mut() {
            trace(&line());
        }
    }

    fn connection_error(&self, source: io::Error) -> Error {
        Error::Connection {
            peer: self.peer.clone(),
            source,
        }
    }

    /// Queues a command; nothing is written until [`Wire::flush`].
    fn send(&mut self, command: &Command) -> Result<()> {
        if self.pending.is_empty() && !self.body_pending && self.start < self.end {
            return Err(ProtocolError::new("the server sent data nobody asked for").into());
        }
        command.encode(&mut self.out)?;
        self.pending
            .push_back((command.name(), command.is_multiline()));
        self.trace(|| format!("C: {}", command.redacted()));
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let result = self
            .stream
            .write_all(&self.out)
            .and_then(|()| self.stream.flush());
        // The buffer may have held a password: zeroed, not just cleared.
        zeroize::Zeroize::zeroize(&mut self.out);
        result.map_err(|e| self.connection_error(e))
    }

    /// Reads more bytes into the buffer; end of stream is an error.
    fn fill(&mut self) -> Result<()> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() && self.start < self.end {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        loop {
            // Never empty: lines are far shorter than the buffer, and bodies are consumed.
            let free = match self.buf.get_mut(self.end..) {
                Some(free) if !free.is_empty() => free,
                _ => return Err(line_too_long()),
            };
            match self.stream.read(free) {
                Ok(0) => {
                    return Err(self.connection_error(io::Error::from(io::ErrorKind::UnexpectedEof)))
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.connection_error(e)),
            }
        }
    }

    /// Reads one CRLF-terminated line (without the CRLF). A bare LF or CR does not end a line;
    /// in a `status` line it is a protocol error at once (and [`parse_status`] refuses one
    /// anyway), elsewhere it is data. The length limit holds however the bytes arrive.
    fn read_line(&mut self, status: bool) -> Result<Vec<u8>> {
        let mut scanned = 0;
        loop {
            let data = self.buf.get(self.start..self.end).unwrap_or_default();
            while let Some(offset) = memchr::memchr(b'\n', data.get(scanned..).unwrap_or_default())
            {
                let lf = scanned + offset;
                if lf + 1 > MAX_LINE {
                    return Err(line_too_long());
                }
                if let Some(line) = data.get(..lf).and_then(|line| line.strip_suffix(b"\r")) {
                    let line = line.to_vec();
                    self.start += lf + 1;
                    return Ok(line);
                }
                if status {
                    return Err(ProtocolError::new("bare LF in a status line").into());
                }
                scanned = lf + 1;
            }
            scanned = data.len();
            // Without its CRLF the line is longer than what has arrived.
            if data.len() >= MAX_LINE {
                return Err(line_too_long());
            }
            self.fill()?;
        }
    }

    /// Reads the status line answering the oldest pending command.
    fn receive_status(&mut self) -> Result<Status> {
        if self.body_pending {
            // Whoever asked for the previous body did not read it (a mailbox that failed
            // before it started writing): it is read and discarded here, so an answer can
            // never be taken for the next one.
            self.receive_body(LineEnding::Lf, &mut io::sink(), false, None, None)?;
        }
        let Some((_, multiline)) = self.pending.pop_front() else {
            return Err(ProtocolError::new("read without a command outstanding").into());
        };
        self.flush()?;
        let line = self.read_line(true)?;
        self.trace(|| format!("S: {}", super::sanitize(&line)));
        let status = parse_status(&line)?;
        self.body_pending = multiline && status.ok;
        Ok(status)
    }

    /// Streams the pending multi-line body through the decoder into `sink`. If the sink fails,
    /// `abort_on_sink_error` decides: stop at once (the session is then unusable), or read and
    /// discard the rest so the session stays in step. With `listed` (message number, LIST
    /// size), a body whose size does not fit the LIST size (see [`protocol::size_slack`]) is
    /// a protocol error, raised as soon as it outgrows it.
    fn receive_body(
        &mut self,
        ending: LineEnding,
        sink: &mut dyn Write,
        abort_on_sink_error: bool,
        limit: Option<u64>,
        listed: Option<(u32, u64)>,
    ) -> Result<Body> {
        if !self.body_pending {
            return Err(ProtocolError::new("no multi-line answer is pending").into());
        }
        let mut decoder = DotDecoder::new(ending);
        let mut guarded = GuardedSink {
            inner: sink,
            error: None,
            abort: abort_on_sink_error,
            head: Vec::new(),
            head_complete: false,
        };
        loop {
            if self.start == self.end {
                self.fill()?;
            }
            let input = self.buf.get(self.start..self.end).unwrap_or_default();
            let progress = match decoder.feed(input, &mut guarded) {
                Ok(progress) => progress,
                Err(_) => {
                    let source = guarded
                        .error
                        .take()
                        .unwrap_or_else(|| io::Error::other("write failed"));
                    return Err(Error::Output(source));
                }
            };
            if limit.is_some_and(|limit| decoder.written() > limit) {
                // Never deliver a truncated message: the session is abandoned instead.
                return Err(ProtocolError::new(format!(
                    "a message grew past the size limit of {} octets while it was read (the \
                     server's LIST size was wrong)",
                    limit.unwrap_or_default()
                ))
                .into());
            }
            let sizes = self.listed_sizes;
            if let Some((number, size)) = listed.filter(|&(_, size)| decoder.outgrew(size, sizes)) {
                return Err(ProtocolError::listed_size(format!(
                    "message {number} runs on past the {size} octets LIST announced for it \
                     (the answers are out of step, or the server's sizes are wrong)"
                ))
                .into());
            }
            match progress {
                Progress::NeedMore => self.start = self.end,
                Progress::Done { consumed } => {
                    self.start += consumed;
                    break;
                }
            }
        }
        self.body_pending = false;
        let octets = decoder.written();
        if let Some((number, _)) = listed.filter(|_| looks_like_status(&guarded.head)) {
            // A message begins with a header; one that begins with a status line is the
            // answer after an extra one (the answers are shifted).
            return Err(ProtocolError::new(format!(
                "message {number} begins with a status line (the answers are out of step)"
            ))
            .into());
        }
        let sizes = self.listed_sizes;
        if let Some((number, size)) = listed.filter(|&(_, size)| !decoder.fits(size, sizes)) {
            return Err(ProtocolError::listed_size(format!(
                "message {number} has {octets} octets where LIST announced {size} (it was cut \
                 short, the answers are out of step, or the server's sizes are wrong)"
            ))
            .into());
        }
        self.trace(|| format!("S: [{octets} octets]"));
        Ok(Body {
            octets,
            sink_error: guarded.error,
        })
    }

    /// Reads the next line of the pending multi-line body, unstuffed; `None` at its end.
    fn next_line(&mut self) -> Result<Option<Vec<u8>>> {
        if !self.body_pending {
            return Err(ProtocolError::new("no multi-line answer is pending").into());
        }
        let line = self.read_line(false)?;
        if line == b"." {
            self.body_pending = false;
            return Ok(None);
        }
        let line = match line.strip_prefix(b".") {
            Some(unstuffed) => unstuffed.to_vec(),
            None => line,
        };
        self.trace(|| format!("S: {}", super::sanitize(&line)));
        Ok(Some(line))
    }

    /// Reads the pending multi-line body as unstuffed lines, at most `max_lines` of them.
    fn receive_lines(&mut self, max_lines: usize, what: &str) -> Result<Vec<Vec<u8>>> {
        let mut lines = Vec::new();
        while let Some(line) = self.next_line()? {
            if lines.len() == max_lines {
                return Err(ProtocolError::new(format!(
                    "the {what} listing is longer than {max_lines} lines"
                ))
                .into());
            }
            lines.push(line);
        }
        Ok(lines)
    }

    /// Sends one step of a SASL exchange and reads the answer: a `+` challenge or a status.
    fn sasl(&mut self, command: &Command) -> Result<SaslReply> {
        self.send(command)?;
        self.pending.pop_front();
        self.flush()?;
        let line = self.read_line(true)?;
        self.trace(|| format!("S: {}", super::sanitize(&line)));
        if line == b"+" {
            return Ok(SaslReply::Challenge(Vec::new()));
        }
        if let Some(challenge) = line.strip_prefix(b"+ ") {
            return Ok(SaslReply::Challenge(challenge.to_vec()));
        }
        Ok(SaslReply::Done(parse_status(&line)?))
    }

    /// Sends one command and reads its status line.
    fn command(&mut self, command: &Command) -> Result<Status> {
        self.send(command)?;
        self.receive_status()
    }

    fn capa(&mut self) -> Result<Option<Capabilities>> {
        let status = self.command(&Command::Capa)?;
        if !status.ok {
            return Ok(None);
        }
        let lines = self.receive_lines(MAX_CAPA_LINES, "CAPA")?;
        let lines = lines.iter().map(|line| super::sanitize(line)).collect();
        Ok(Some(Capabilities::from_lines(lines)))
    }

    fn has_buffered_input(&self) -> bool {
        self.start < self.end
    }
}

fn line_too_long() -> Error {
    ProtocolError::new(format!(
        "the server sent a line longer than {MAX_LINE} octets"
    ))
    .into()
}

/// The server's answer within a SASL exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslReply {
    /// `+ base64`: the text after `+ `, not yet decoded.
    Challenge(Vec<u8>),
    /// The exchange is over: `+OK` or `-ERR`.
    Done(Status),
}

/// What a streamed body amounted to.
#[derive(Debug)]
pub struct Body {
    /// Octets written to the sink (after unstuffing and line-end conversion).
    pub octets: u64,
    /// The first error the sink returned. The rest of the body was read and discarded so that
    /// the session stays usable.
    pub sink_error: Option<io::Error>,
}

/// An entry of a LIST or UIDL answer and what holding it costs.
pub trait ListingEntry {
    /// The message number the entry is for.
    fn number(&self) -> u32;
    /// Octets of memory the entry takes while the listing is held: the entry itself, the
    /// allocator's share for its id, and the 4 octets of the duplicate check.
    fn memory(&self) -> u64;
}

impl ListingEntry for ScanEntry {
    fn number(&self) -> u32 {
        self.message
    }

    fn memory(&self) -> u64 {
        (std::mem::size_of::<ScanEntry>() + 4) as u64
    }
}

impl ListingEntry for UidlEntry {
    fn number(&self) -> u32 {
        self.message
    }

    fn memory(&self) -> u64 {
        (std::mem::size_of::<UidlEntry>() + 4 + heap_block(self.uid.len())) as u64
    }
}

/// Checks that a listing names every message from 1 to `count` exactly once (duplicates are
/// refused as it is read).
fn check_complete<T: ListingEntry>(what: &str, entries: &[T], count: u32) -> Result<()> {
    let beyond = entries
        .iter()
        .map(ListingEntry::number)
        .find(|&n| n > count);
    if entries.len() as u64 != u64::from(count) || beyond.is_some() {
        return Err(ProtocolError::new(format!(
            "the {what} answer lists {} messages, but STAT counts {count}",
            entries.len()
        ))
        .into());
    }
    Ok(())
}

/// What the allocator sets aside for `len` octets on the heap (glibc: 8 octets of header,
/// 16-octet granules, 32 at least).
fn heap_block(len: usize) -> usize {
    (len + 8).div_ceil(16).max(2) * 16
}

/// Remembers the sink's first error and then either discards everything after it or, with
/// `abort`, fails.
struct GuardedSink<'a> {
    inner: &'a mut dyn Write,
    error: Option<io::Error>,
    abort: bool,
    /// The start of the first line, up to [`HEAD`] octets and its line end if it came.
    head: Vec<u8>,
    head_complete: bool,
}

/// Octets of a body's first line kept to tell a status line from a header.
const HEAD: usize = 5;

/// Whether the start of a first line is a status line: `+OK` alone or before a space, or
/// `-ERR`.
fn looks_like_status(head: &[u8]) -> bool {
    head.starts_with(b"+OK ")
        || head.starts_with(b"+OK\n")
        || head.starts_with(b"+OK\r")
        || head.starts_with(b"-ERR")
}

impl Write for GuardedSink<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if !self.head_complete {
            let wanted = HEAD.saturating_sub(self.head.len());
            let take = bytes.iter().take(wanted);
            self.head.extend(take);
            self.head_complete = self.head.len() >= HEAD || self.head.contains(&b'\n');
        }
        if self.error.is_none() {
            if let Err(e) = self.inner.write_all(bytes) {
                self.error = Some(e);
                if self.abort {
                    return Err(io::Error::other("output failed"));
                }
            }
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MockStream;
    use std::sync::{Arc, Mutex};

    fn client(segments: &[&[u8]]) -> (Client<MockStream>, Arc<Mutex<Vec<u8>>>) {
        let stream = MockStream::new(segments);
        let written = stream.written.clone();
        (Client::new(stream, "mock", Security::Tls).unwrap(), written)
    }

    fn text(written: &Arc<Mutex<Vec<u8>>>) -> String {
        String::from_utf8(written.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn reads_capabilities_and_sends_exact_bytes() {
        let (mut client, written) =
            client(&[b"+OK ready\r\n", b"+OK\r\nUIDL\r\nSASL PLAIN\r\n.\r\n"]);
        let capa = client.capa().unwrap().unwrap();
        assert!(capa.uidl());
        assert_eq!(capa.sasl_mechanisms(), ["PLAIN"]);
        assert_eq!(text(&written), "CAPA\r\n");
    }

    #[test]
    fn capa_err_means_no_capabilities() {
        let (mut client, _) = client(&[b"+OK ready\r\n", b"-ERR unknown command\r\n"]);
        assert!(client.capa().unwrap().is_none());
    }

    #[test]
    fn an_err_greeting_is_refused() {
        let result = Client::new(
            MockStream::new(&[b"-ERR [SYS/TEMP] busy\r\n"]),
            "mock",
            Security::Tls,
        );
        assert!(matches!(
            result,
            Err(Error::GreetingRefused { code: Some(_), .. })
        ));
        let result = Client::new(
            MockStream::new(&[b"-ERR go away\r\n"]),
            "mock",
            Security::Tls,
        );
        assert!(matches!(
            result,
            Err(Error::GreetingRefused { code: None, .. })
        ));
    }

    #[test]
    fn unsolicited_data_after_the_greeting_is_an_error() {
        // Answers the server sent before any command (here after the greeting) are refused,
        // never taken as the answer to the next command.
        let (mut client, written) = client(&[b"+OK ready\r\n+OK 2 messages\r\n1 120\r\n.\r\n"]);
        assert!(matches!(client.capa(), Err(Error::Protocol(_))));
        assert_eq!(text(&written), "");
    }

    #[test]
    fn stls_rejects_bytes_injected_after_the_ok() {
        // Bytes after STLS's `+OK` would be read as if they came through TLS: `+OK` and a
        // forged CAPA in one segment.
        let stream = MockStream::new(&[
            b"+OK ready\r\n",
            b"+OK begin TLS\r\n+OK\r\nSASL PLAIN\r\n.\r\n",
        ]);
        let client = Client::new(stream, "mock", Security::Plain).unwrap();
        assert!(matches!(client.stls(), Err(Error::Protocol(_))));

        let stream = MockStream::new(&[b"+OK ready\r\n", b"+OK begin TLS\r\n+O"]);
        let client = Client::new(stream, "mock", Security::Plain).unwrap();
        assert!(matches!(client.stls(), Err(Error::Protocol(_))));

        let stream = MockStream::new(&[b"+OK ready\r\n", b"+OK begin TLS\r\n"]);
        let written = stream.written.clone();
        let client = Client::new(stream, "mock", Security::Plain).unwrap();
        assert!(client.stls().is_ok());
        assert_eq!(text(&written), "STLS\r\n");
    }

    #[test]
    fn stls_err_is_unavailable_and_never_retried() {
        let stream = MockStream::new(&[b"+OK ready\r\n", b"-ERR not now\r\n"]);
        let written = stream.written.clone();
        let client = Client::new(stream, "mock", Security::Plain).unwrap();
        assert!(matches!(client.stls(), Err(Error::StlsRefused { .. })));
        assert_eq!(text(&written), "STLS\r\n");
    }

    fn session(segments: &[&[u8]], chunk: usize) -> (Session<MockStream>, Arc<Mutex<Vec<u8>>>) {
        let stream = MockStream::chunked(segments, chunk);
        let written = stream.written.clone();
        let client = Client::new(stream, "mock", Security::Tls).unwrap();
        (client.enter_session(), written)
    }

    #[test]
    fn pipelined_listings_go_out_at_once_and_a_refused_uidl_means_none() {
        let (mut session, written) = session(
            &[
                b"+OK hi\r\n",
                b"+OK 2 30\r\n+OK 2 messages\r\n1 10\r\n2 20\r\n.\r\n+OK\r\n1 a\r\n2 b\r\n.\r\n",
                b"+OK 1 10\r\n+OK\r\n1 10\r\n.\r\n-ERR no UIDL here\r\n",
            ],
            usize::MAX,
        );
        let (scan, ids) = session.listings(true).unwrap();
        assert_eq!(scan.iter().map(|e| e.size).collect::<Vec<_>>(), [10, 20]);
        assert_eq!(ids.unwrap()[1].uid, b"b");
        let (scan, ids) = session.listings(true).unwrap();
        assert_eq!(scan.len(), 1);
        assert!(ids.is_none());
        assert_eq!(
            text(&written),
            "STAT\r\nLIST\r\nUIDL\r\nSTAT\r\nLIST\r\nUIDL\r\n"
        );
        assert_eq!(session.outstanding(), 0);
    }

    #[test]
    fn a_refused_pipelined_list_leaves_the_uidl_answer_outstanding() {
        let (mut session, _) =
            session(&[b"+OK hi\r\n", b"+OK 0 0\r\n-ERR busy\r\n+OK\r\n.\r\n"], 3);
        assert!(matches!(session.listings(true), Err(Error::Refused { .. })));
        assert_eq!(session.outstanding(), 1);
    }

    #[test]
    fn lists_and_retrieves_in_any_chunking() {
        let script: &[&[u8]] = &[
            b"+OK hi\r\n",
            b"+OK 2 messages\r\n1 5\r\n2 9\r\n.\r\n",
            b"+OK\r\n1 aaa\r\n2 bbb\r\n.\r\n",
            b"+OK 5 octets\r\nab\r\n..c\r\n.\r\n",
            b"+OK\r\n",
        ];
        for chunk in [1, 2, 3, 7, 64, usize::MAX] {
            let (mut session, written) = session(script, chunk);
            let list = session.list().unwrap();
            assert_eq!(
                list,
                [
                    ScanEntry {
                        message: 1,
                        size: 5
                    },
                    ScanEntry {
                        message: 2,
                        size: 9
                    }
                ]
            );
            let uidl = session.uidl().unwrap().unwrap();
            assert_eq!(
                uidl[1],
                UidlEntry {
                    message: 2,
                    uid: b"bbb".to_vec()
                }
            );
            let mut out = Vec::new();
            let body = session.retr(1, LineEnding::Lf, &mut out).unwrap();
            assert_eq!(out, b"ab\n.c\n");
            assert_eq!(body.octets, 6);
            session.quit().unwrap();
            assert_eq!(text(&written), "LIST\r\nUIDL\r\nRETR 1\r\nQUIT\r\n");
        }
    }

    #[test]
    fn pipelined_answers_stay_in_order_after_an_err() {
        // -ERR in the middle must not shift the answers that follow.
        let (mut session, written) = session(
            &[
                b"+OK\r\n",
                b"+OK\r\none\r\n.\r\n-ERR no such message\r\n+OK\r\nthree\r\n.\r\n",
            ],
            5,
        );
        for n in 1..=3 {
            session.send(&Command::Retr(n)).unwrap();
        }
        assert_eq!(session.outstanding(), 3);
        let mut bodies = Vec::new();
        for _ in 1..=3 {
            let status = session.receive_status().unwrap();
            if status.ok {
                let mut out = Vec::new();
                session.receive_body(LineEnding::Lf, &mut out).unwrap();
                bodies.push(out);
            } else {
                bodies.push(b"ERR".to_vec());
            }
        }
        assert_eq!(
            bodies,
            [b"one\n".to_vec(), b"ERR".to_vec(), b"three\n".to_vec()]
        );
        assert_eq!(text(&written), "RETR 1\r\nRETR 2\r\nRETR 3\r\n");
    }

    #[test]
    fn a_truncated_body_is_an_error() {
        let (mut session, _) = session(&[b"+OK\r\n", b"+OK\r\npartial line\r\n"], usize::MAX);
        let mut out = Vec::new();
        let error = session.retr(1, LineEnding::Lf, &mut out).unwrap_err();
        assert!(matches!(error, Error::Connection { .. }), "{error}");
    }

    #[test]
    fn a_failing_sink_does_not_desynchronise_the_session() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let (mut session, _) = session(&[b"+OK\r\n", b"+OK\r\nbody\r\n.\r\n", b"+OK 1 4\r\n"], 3);
        let body = session.retr(1, LineEnding::Lf, &mut Full).unwrap();
        assert!(body.sink_error.is_some());
        assert_eq!(session.stat().unwrap(), (1, 4));
    }

    #[test]
    fn overlong_lines_and_listings_are_bounded() {
        let mut answer = b"+OK\r\n".to_vec();
        answer.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        let (mut session, _) = session(&[b"+OK\r\n", &answer], usize::MAX);
        assert!(matches!(session.uidl(), Err(Error::Protocol(_))));
    }

    #[test]
    fn malformed_and_duplicate_listing_lines_are_protocol_errors() {
        let (mut listing, _) = session(&[b"+OK\r\n", b"+OK\r\n1 5\r\n1 6\r\n.\r\n"], usize::MAX);
        assert!(matches!(listing.list(), Err(Error::Protocol(_))));
        let (mut uidl, _) = session(&[b"+OK\r\n", b"+OK\r\n0 x\r\n.\r\n"], usize::MAX);
        assert!(matches!(uidl.uidl(), Err(Error::Protocol(_))));
    }

    fn uidl_answer(count: u32, id_len: usize) -> Vec<u8> {
        let mut answer = b"+OK\r\n".to_vec();
        for n in 1..=count {
            answer.extend_from_slice(format!("{n} {:0>id_len$}\r\n", n).as_bytes());
        }
        answer.extend_from_slice(b".\r\n");
        answer
    }

    #[test]
    fn a_hundred_thousand_typical_uidls_fit_the_default_listing_limit() {
        let answer = uidl_answer(100_000, 24);
        let (mut session, _) = session(&[b"+OK\r\n", &answer], usize::MAX);
        let uidl = session.uidl().unwrap().unwrap();
        assert_eq!(uidl.len(), 100_000);
        let memory: u64 = uidl.iter().map(ListingEntry::memory).sum();
        assert!(memory <= DEFAULT_MAX_LISTING, "{memory}");
    }

    #[test]
    fn a_listing_past_its_memory_limit_is_cut_off() {
        // An endless listing stops at the limit, not at the end of memory.
        let answer = uidl_answer(1000, 10);
        let per_entry = UidlEntry {
            message: 1,
            uid: vec![b'0'; 10],
        }
        .memory();
        for (limit, fits) in [(per_entry * 1000, true), (per_entry * 1000 - 1, false)] {
            let stream = MockStream::new(&[b"+OK\r\n", &answer]);
            let mut client = Client::new(stream, "mock", Security::Tls).unwrap();
            client.set_listing_limit(limit);
            let mut session = client.enter_session();
            match session.uidl() {
                Ok(listing) => assert!(fits && listing.unwrap().len() == 1000),
                Err(Error::ListingTooLarge { entries, .. }) => {
                    assert!(!fits);
                    assert_eq!(entries, 999);
                }
                Err(e) => panic!("{e}"),
            }
        }
        // The limit survives the STLS upgrade.
        let stream = MockStream::new(&[b"+OK\r\n", b"+OK go\r\n"]);
        let mut client = Client::new(stream, "mock", Security::Plain).unwrap();
        client.set_listing_limit(1);
        let upgraded = client
            .stls()
            .unwrap()
            .handshake(|_| Ok::<_, Error>((MockStream::new(&[b"", &answer]), Security::Tls)))
            .unwrap();
        let mut session = upgraded.enter_session();
        assert!(matches!(session.uidl(), Err(Error::ListingTooLarge { .. })));
    }

    #[test]
    fn listing_memory_estimates_follow_the_allocator() {
        assert_eq!(heap_block(0), 32);
        assert_eq!(heap_block(24), 32);
        assert_eq!(heap_block(25), 48);
        assert_eq!(heap_block(70), 80);
        let entry = UidlEntry {
            message: 1,
            uid: vec![b'x'; 24],
        };
        assert_eq!(entry.memory(), 68);
        assert_eq!(
            ScanEntry {
                message: 1,
                size: 1
            }
            .memory(),
            20
        );
    }

    #[test]
    fn listed_numbers_stay_within_the_maildrop() {
        // A listing may not name a message the maildrop does not have: `999 5` in a listing
        // of two messages.
        let (mut list, _) = session(&[b"+OK\r\n", b"+OK\r\n1 5\r\n999 5\r\n.\r\n"], 4);
        assert!(matches!(list.list(), Err(Error::Protocol(_))));
        // After DELE 1 the listing shows 2 and 3 of three messages.
        let (mut list, _) = session(
            &[
                b"+OK\r\n",
                b"+OK\r\n",
                b"+OK\r\n2 a\r\n3 b\r\n.\r\n",
                b"+OK\r\n2 5\r\n4 5\r\n.\r\n",
            ],
            usize::MAX,
        );
        assert!(list.dele(1).unwrap().ok);
        assert_eq!(list.uidl().unwrap().unwrap().len(), 2);
        assert!(matches!(list.list(), Err(Error::Protocol(_))));
    }

    #[test]
    fn a_number_listed_twice_out_of_order_is_a_protocol_error() {
        let (mut listing, _) = session(
            &[b"+OK\r\n", b"+OK\r\n2 a\r\n1 b\r\n3 c\r\n2 d\r\n.\r\n"],
            usize::MAX,
        );
        assert!(matches!(listing.uidl(), Err(Error::Protocol(_))));
    }

    #[test]
    fn an_unread_body_is_drained_before_the_next_answer() {
        // A mailbox that fails before it reads the body (no staging file)
        // must not shift the answers, and nothing may panic.
        for chunk in [1, 3, usize::MAX] {
            let (mut drained, _) = session(
                &[b"+OK\r\n", b"+OK\r\nline\r\n..dot\r\n.\r\n+OK 1 4\r\n"],
                chunk,
            );
            drained.send(&Command::Retr(1)).unwrap();
            drained.send(&Command::Stat).unwrap();
            assert!(drained.receive_status().unwrap().ok);
            // The body is never read; the next status comes from the right answer.
            let status = drained.receive_status().unwrap();
            assert_eq!(status.text, b"1 4");
            assert!(!drained.has_unread_input());
        }
        // Reading a body when none is pending is an error, not a panic.
        let (mut idle, _) = session(&[b"+OK\r\n", b""], usize::MAX);
        assert!(idle.receive_body(LineEnding::Lf, &mut Vec::new()).is_err());
    }

    #[test]
    fn bare_line_ends_break_status_and_listing_lines() {
        // A bare LF or CR never ends a line; a status line holding one is
        // refused, and a listing line holding one does not parse.
        for answer in [
            &b"+OK\nSubject: 18\r\n"[..],
            b"+OK 1 5\rx\r\n",
            b"+OK\n",
            b"+OK\r\n1 5\n2 6\r\n.\r\n",
            b"+OK\r\n1 5\r2 6\r\n.\r\n",
        ] {
            for chunk in [1, 2, usize::MAX] {
                let (mut strict, _) = session(&[b"+OK\r\n", answer], chunk);
                assert!(
                    matches!(strict.list(), Err(Error::Protocol(_))),
                    "{answer:?} in chunks of {chunk}"
                );
            }
        }
    }

    #[test]
    fn the_line_limit_does_not_depend_on_how_the_bytes_arrive() {
        let mut answer = b"+OK\r\n".to_vec();
        answer.extend(std::iter::repeat_n(b'X', 9000));
        answer.extend_from_slice(b"\r\n.\r\n");
        let mut fits = b"+OK\r\n".to_vec();
        fits.extend(std::iter::repeat_n(b'X', MAX_LINE - 2));
        fits.extend_from_slice(b"\r\n.\r\n");
        for chunk in [1, 7, 4096, 8192, usize::MAX] {
            let (mut long, _) = session(&[b"+OK\r\n", &answer], chunk);
            assert!(matches!(long.capa(), Err(Error::Protocol(_))), "{chunk}");
            let (mut limit, _) = session(&[b"+OK\r\n", &fits], chunk);
            assert!(limit.capa().is_ok(), "{chunk}");
        }
    }

    #[test]
    fn a_message_must_fit_its_list_size() {
        // "Subject: x\n\nbody\n": 17 octets with LF, 20 with CRLF.
        let retr: &[u8] = b"+OK\r\nSubject: x\r\n\r\nbody\r\n.\r\n";
        for (listed, fits) in [
            (17, true),
            (20, true),
            (0, true),
            (1200, false),
            (u64::MAX, false),
        ] {
            let (mut one, _) = session(&[b"+OK\r\n", retr], 5);
            one.send(&Command::Retr(1)).unwrap();
            assert!(one.receive_status().unwrap().ok);
            let result = one.receive_message(LineEnding::Lf, &mut Vec::new(), None, 1, listed);
            assert_eq!(result.is_ok(), fits, "{listed}: {result:?}");
        }
        // An endless body stops once it outgrows its LIST size, long before any timeout.
        let mut endless = b"+OK\r\n".to_vec();
        endless.extend(std::iter::repeat_n(b'y', 100_000));
        let (mut endless, _) = session(&[b"+OK\r\n", &endless], 1000);
        endless.send(&Command::Retr(1)).unwrap();
        assert!(endless.receive_status().unwrap().ok);
        let result = endless.receive_message(LineEnding::Lf, &mut Vec::new(), None, 1, 100);
        assert!(matches!(result, Err(Error::Protocol(_))), "{result:?}");
    }

    #[test]
    fn a_message_that_begins_with_a_status_line_is_an_extra_answer() {
        // An extra "+OK" before a RETR answer: the real status line becomes the first line of
        // the "body", within any size tolerance.
        for first in [&b"+OK message follows"[..], b"+OK", b"-ERR x", b"-ERR"] {
            let mut answer = b"+OK\r\n".to_vec();
            answer.extend_from_slice(first);
            answer.extend_from_slice(b"\r\nSubject: x\r\n\r\nbody\r\n.\r\n");
            let (mut shifted, _) = session(&[b"+OK\r\n", &answer], 3);
            shifted.send(&Command::Retr(1)).unwrap();
            assert!(shifted.receive_status().unwrap().ok);
            let result = shifted.receive_message(LineEnding::Lf, &mut Vec::new(), None, 1, 20);
            assert!(matches!(result, Err(Error::Protocol(_))), "{first:?}");
        }
        // Headers that merely start alike are messages.
        for first in [&b"+OKAY: 1"[..], b"+Oh: no", b"-ER: x", b"X: +OK"] {
            let mut answer = b"+OK\r\n".to_vec();
            answer.extend_from_slice(first);
            answer.extend_from_slice(b"\r\n\r\nbody\r\n.\r\n");
            let (mut fine, _) = session(&[b"+OK\r\n", &answer], 2);
            fine.send(&Command::Retr(1)).unwrap();
            assert!(fine.receive_status().unwrap().ok);
            let result = fine.receive_message(LineEnding::Lf, &mut Vec::new(), None, 1, 20);
            assert!(result.is_ok(), "{first:?}: {result:?}");
        }
    }

    #[test]
    fn listings_must_name_every_message_once() {
        // A listing must name each message once: a UIDL listing without its last entry, a
        // LIST without its last entry (STAT counts it), and a number outside the count.
        let cases: &[&[u8]] = &[
            b"+OK 3 30\r\n+OK\r\n1 10\r\n2 10\r\n3 10\r\n.\r\n+OK\r\n1 a\r\n2 b\r\n.\r\n",
            b"+OK 3 30\r\n+OK\r\n1 10\r\n2 10\r\n.\r\n+OK\r\n1 a\r\n2 b\r\n.\r\n",
            b"+OK 2 20\r\n+OK\r\n1 10\r\n2 10\r\n.\r\n+OK\r\n1 a\r\n3 b\r\n.\r\n",
            b"+OK 2 20\r\n+OK\r\n1 10\r\n2 10\r\n.\r\n+OK\r\n1 a\r\n2 b\r\n2 c\r\n.\r\n",
        ];
        for answer in cases {
            let (mut listing, _) = session(&[b"+OK\r\n", answer], usize::MAX);
            assert!(
                matches!(listing.listings(true), Err(Error::Protocol(_))),
                "{}",
                String::from_utf8_lossy(answer)
            );
        }
        let whole: &[u8] = b"+OK 2 20\r\n+OK\r\n2 10\r\n1 10\r\n.\r\n+OK\r\n2 b\r\n1 a\r\n.\r\n";
        let (mut listing, _) = session(&[b"+OK\r\n", whole], usize::MAX);
        let (scan, ids) = listing.listings(true).unwrap();
        assert_eq!((scan.len(), ids.unwrap().len()), (2, 2));
    }

    #[test]
    fn a_bare_lf_does_not_end_a_status_line() {
        let (mut session, _) = session(&[b"+OK\r\n", b"+OK 1\n2 3\r\n"], usize::MAX);
        // "1\n2 3" is not "count octets".
        assert!(matches!(session.stat(), Err(Error::Protocol(_))));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::MockStream;
    use proptest::prelude::*;

    fn answer() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just(b"+OK".to_vec()),
            Just(b"-ERR".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b".\r\n".to_vec()),
            Just(b" ".to_vec()),
            "[0-9]{1,11}".prop_map(String::into_bytes),
            proptest::collection::vec(any::<u8>(), 0..6),
        ];
        proptest::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_answer_is_read_or_refused_without_panicking(answer in answer(), chunk in 1usize..16) {
            for operation in 0..4 {
                let stream = MockStream::chunked(&[b"+OK\r\n", &answer], chunk);
                let mut session = Client::new(stream, "mock", Security::Tls).unwrap().enter_session();
                match operation {
                    0 => {
                        if let Ok(list) = session.list() {
                            prop_assert!(list.iter().all(|e| e.message as usize <= list.len()));
                        }
                    }
                    1 => { let _ = session.uidl(); }
                    2 => { let _ = session.stat(); }
                    _ => { let _ = session.retr(1, LineEnding::Lf, &mut Vec::new()); }
                }
            }
        }
    }
}
