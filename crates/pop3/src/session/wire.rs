//! The wire under both session states: line framing, the queue of answers owed for
//! pipelined commands, status lines, listings and bodies read into a sink.

use std::collections::VecDeque;
use std::io::{self, Read, Write};

use super::super::{
    parse_status, Capabilities, Command, DotDecoder, Error, LineEnding, ListedSizes, Progress,
    ProtocolError, Result, ScanEntry, Status, UidlEntry, MAX_LINE,
};
use super::{Tracer, DEFAULT_MAX_LISTING, MAX_CAPA_LINES, READ_BUFFER};

/// Framing and bookkeeping shared by both session states.
pub(super) struct Wire<S> {
    pub(super) stream: S,
    pub(super) peer: String,
    pub(super) buf: Box<[u8]>,
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) out: Vec<u8>,
    /// Commands sent whose answers have not been read, oldest first: (name, multi-line).
    pub(super) pending: VecDeque<(&'static str, bool)>,
    /// The status of a multi-line answer was read and its body was not.
    pub(super) body_pending: bool,
    pub(super) trace: Option<Tracer>,
    /// The memory one LIST or UIDL answer may take (see [`DEFAULT_MAX_LISTING`]).
    pub(super) listing_limit: u64,
    /// How closely a body must fit its LIST size.
    pub(super) listed_sizes: ListedSizes,
}

impl<S: Read + Write> Wire<S> {
    pub(super) fn new(stream: S, peer: String) -> Self {
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

    pub(super) fn trace(&mut self, line: impl FnOnce() -> String) {
        if let Some(trace) = self.trace.as_mut() {
            trace(&line());
        }
    }

    pub(super) fn connection_error(&self, source: io::Error) -> Error {
        Error::Connection {
            peer: self.peer.clone(),
            source,
        }
    }

    /// Queues a command; nothing is written until [`Wire::flush`].
    pub(super) fn send(&mut self, command: &Command) -> Result<()> {
        if self.pending.is_empty() && !self.body_pending && self.start < self.end {
            return Err(ProtocolError::new("the server sent data nobody asked for").into());
        }
        command.encode(&mut self.out)?;
        self.pending
            .push_back((command.name(), command.is_multiline()));
        self.trace(|| format!("C: {}", command.redacted()));
        Ok(())
    }

    pub(super) fn flush(&mut self) -> Result<()> {
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
    pub(super) fn fill(&mut self) -> Result<()> {
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
    pub(super) fn read_line(&mut self, status: bool) -> Result<Vec<u8>> {
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
    pub(super) fn receive_status(&mut self) -> Result<Status> {
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
        self.trace(|| format!("S: {}", super::super::sanitize(&line)));
        let status = parse_status(&line)?;
        self.body_pending = multiline && status.ok;
        Ok(status)
    }

    /// Streams the pending multi-line body through the decoder into `sink`. If the sink fails,
    /// `abort_on_sink_error` decides: stop at once (the session is then unusable), or read and
    /// discard the rest so the session stays in step. With `listed` (message number, LIST
    /// size), a body whose size does not fit the LIST size (see [`protocol::size_slack`]) is
    /// a protocol error, raised as soon as it outgrows it.
    pub(super) fn receive_body(
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
    pub(super) fn next_line(&mut self) -> Result<Option<Vec<u8>>> {
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
        self.trace(|| format!("S: {}", super::super::sanitize(&line)));
        Ok(Some(line))
    }

    /// Reads the pending multi-line body as unstuffed lines, at most `max_lines` of them.
    pub(super) fn receive_lines(&mut self, max_lines: usize, what: &str) -> Result<Vec<Vec<u8>>> {
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
    pub(super) fn sasl(&mut self, command: &Command) -> Result<SaslReply> {
        self.send(command)?;
        self.pending.pop_front();
        self.flush()?;
        let line = self.read_line(true)?;
        self.trace(|| format!("S: {}", super::super::sanitize(&line)));
        if line == b"+" {
            return Ok(SaslReply::Challenge(Vec::new()));
        }
        if let Some(challenge) = line.strip_prefix(b"+ ") {
            return Ok(SaslReply::Challenge(challenge.to_vec()));
        }
        Ok(SaslReply::Done(parse_status(&line)?))
    }

    /// Sends one command and reads its status line.
    pub(super) fn command(&mut self, command: &Command) -> Result<Status> {
        self.send(command)?;
        self.receive_status()
    }

    pub(super) fn capa(&mut self) -> Result<Option<Capabilities>> {
        let status = self.command(&Command::Capa)?;
        if !status.ok {
            return Ok(None);
        }
        let lines = self.receive_lines(MAX_CAPA_LINES, "CAPA")?;
        let lines = lines
            .iter()
            .map(|line| super::super::sanitize(line))
            .collect();
        Ok(Some(Capabilities::from_lines(lines)))
    }

    pub(super) fn has_buffered_input(&self) -> bool {
        self.start < self.end
    }
}

pub(super) fn line_too_long() -> Error {
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
pub(super) fn check_complete<T: ListingEntry>(what: &str, entries: &[T], count: u32) -> Result<()> {
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
pub(super) fn heap_block(len: usize) -> usize {
    (len + 8).div_ceil(16).max(2) * 16
}

/// Remembers the sink's first error and then either discards everything after it or, with
/// `abort`, fails.
pub(super) struct GuardedSink<'a> {
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
pub(super) fn looks_like_status(head: &[u8]) -> bool {
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
