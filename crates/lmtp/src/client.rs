//! An LMTP session over any `Read + Write` stream: the greeting, LHLO and its extensions, and
//! mail transactions — envelope, message and LMTP's one reply per accepted recipient.

use std::io::{self, Read, Write};

use super::command::{Command, Data, Lhlo, MailFrom, Noop, Quit, RcptTo, Rset};
use super::{
    sanitize, Error, Framing, InvalidArgument, ProtocolError, Reply, ReplyBuilder, Result, MAX_LINE,
};

mod envelope;
mod message;

pub use envelope::{Delivery, Envelope, Recipient};

/// Receives the dialogue, one line at a time, `C: ` or `S: ` in front; message data appears
/// only as its length (`C: {n octets}`).
pub type Tracer = Box<dyn FnMut(&str) + Send>;

/// The largest BDAT chunk by default: the memory a delivery takes is about this much whatever
/// the size of the message.
pub const DEFAULT_CHUNK_SIZE: usize = 1024 * 1024;

/// Octets of the message read (and, with DATA, written) at a time.
const BLOCK: usize = 64 * 1024;

/// The read buffer: longer than any line accepted.
const READ_BUFFER: usize = 2 * MAX_LINE;

/// What the server offers, from its reply to LHLO (RFC 2033 section 4.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extensions {
    /// PIPELINING (RFC 2920): commands may go out without waiting for each reply.
    pub pipelining: bool,
    /// 8BITMIME (RFC 6152): `BODY=8BITMIME` declares a message with 8-bit octets.
    pub eight_bit_mime: bool,
    /// SMTPUTF8 (RFC 6531): addresses and headers in UTF-8.
    pub smtputf8: bool,
    /// CHUNKING (RFC 3030): the message may go in `BDAT` chunks.
    pub chunking: bool,
    /// SIZE (RFC 1870): the largest message accepted, `Some(0)` for no fixed limit.
    pub size: Option<u64>,
    /// ENHANCEDSTATUSCODES (RFC 2034): replies carry RFC 3463 codes.
    pub enhanced_status_codes: bool,
    /// STARTTLS (RFC 3207) is offered; this crate does not use it.
    pub starttls: bool,
    /// Every extension line as sent (the keyword and its parameters), in order.
    pub keywords: Vec<String>,
}

impl Extensions {
    /// Reads the extensions from a reply to LHLO: every line after the first (which names the
    /// server) is a keyword, perhaps with parameters. Keywords are case-insensitive.
    pub fn parse(reply: &Reply) -> Self {
        let mut extensions = Extensions::default();
        for line in reply.text.lines().skip(1) {
            let mut words = line.split_ascii_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            match keyword.to_ascii_uppercase().as_str() {
                "PIPELINING" => extensions.pipelining = true,
                "8BITMIME" => extensions.eight_bit_mime = true,
                "SMTPUTF8" => extensions.smtputf8 = true,
                "CHUNKING" => extensions.chunking = true,
                "ENHANCEDSTATUSCODES" => extensions.enhanced_status_codes = true,
                "STARTTLS" => extensions.starttls = true,
                "SIZE" => {
                    extensions.size = Some(words.next().and_then(|n| n.parse().ok()).unwrap_or(0));
                }
                _ => {}
            }
            extensions.keywords.push(line.to_string());
        }
        extensions
    }
}

/// An LMTP session: the greeting read, then LHLO, then any number of deliveries.
pub struct Client<S> {
    stream: S,
    peer: String,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    out: Vec<u8>,
    trace: Option<Tracer>,
    greeting: Reply,
    extensions: Option<Extensions>,
    pipelining: bool,
    chunking: bool,
    chunk_size: usize,
    /// Written to the stream and not flushed since.
    unflushed: bool,
    ended: bool,
}

/// Shows where the client is connected and what it learned, never the stream.
impl<S> std::fmt::Debug for Client<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("peer", &self.peer)
            .field("greeting", &self.greeting)
            .field("extensions", &self.extensions)
            .finish_non_exhaustive()
    }
}

impl<S: Read + Write> Client<S> {
    /// Reads the greeting (220); a 4xx or 5xx greeting is [`Error::GreetingRefused`]. `peer`
    /// names the server in messages. Timeouts are the stream's: set them before.
    pub fn new(stream: S, peer: impl Into<String>) -> Result<Self> {
        Self::with_trace(stream, peer, None)
    }

    /// Like [`Client::new`], passing every command and reply line to `trace`.
    pub fn with_trace(stream: S, peer: impl Into<String>, trace: Option<Tracer>) -> Result<Self> {
        let mut client = Client {
            stream,
            peer: peer.into(),
            buf: vec![0; READ_BUFFER].into_boxed_slice(),
            start: 0,
            end: 0,
            out: Vec::with_capacity(BLOCK),
            trace,
            greeting: Reply {
                code: 0,
                enhanced: None,
                text: String::new(),
            },
            extensions: None,
            pipelining: true,
            chunking: true,
            chunk_size: DEFAULT_CHUNK_SIZE,
            unflushed: false,
            ended: false,
        };
        let greeting = client.read_reply()?;
        if greeting.is_transient() || greeting.is_permanent() {
            return Err(Error::GreetingRefused {
                peer: client.peer,
                reply: greeting,
            });
        }
        if greeting.code != 220 {
            return Err(client.protocol(format!("the greeting is {greeting}, not 220")));
        }
        client.greeting = greeting;
        Ok(client)
    }

    /// The server's greeting.
    pub fn greeting(&self) -> &Reply {
        &self.greeting
    }

    /// The extensions from the last [`Client::lhlo`]; `None` before it.
    pub fn extensions(&self) -> Option<&Extensions> {
        self.extensions.as_ref()
    }

    /// Whether to pipeline when the server offers PIPELINING (default: yes).
    pub fn set_pipelining(&mut self, allowed: bool) {
        self.pipelining = allowed;
    }

    /// Whether to send messages in BDAT chunks when the server offers CHUNKING (default: yes);
    /// `false` sends every message after DATA, dot-stuffed.
    pub fn set_chunking(&mut self, allowed: bool) {
        self.chunking = allowed;
    }

    /// The largest BDAT chunk, at least 1 (default [`DEFAULT_CHUNK_SIZE`]).
    pub fn set_chunk_size(&mut self, octets: usize) {
        self.chunk_size = octets.max(1);
    }

    /// The stream, to change its timeouts.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// Sends `LHLO name` and records the extensions the server offers. A refusal is
    /// [`Error::Refused`].
    pub fn lhlo(&mut self, name: &str) -> Result<&Extensions> {
        let command = Lhlo::new(name)?;
        let reply = self.simple(&command)?;
        let extensions = Extensions::parse(&reply);
        Ok(self.extensions.insert(extensions))
    }

    /// Sends `RSET`, abandoning a transaction (after an error of the message reader, say).
    pub fn rset(&mut self) -> Result<()> {
        self.simple(&Rset).map(drop)
    }

    /// Sends `NOOP`: a check that the server is still there.
    pub fn noop(&mut self) -> Result<()> {
        self.simple(&Noop).map(drop)
    }

    /// Sends `QUIT` and reads the reply, ending the session.
    pub fn quit(mut self) -> Result<()> {
        self.simple(&Quit).map(drop)
    }

    /// Delivers one message to the envelope's recipients. `message` is read to its end once,
    /// a block at a time (memory stays bounded whatever its size); its line ends go out as CRLF
    /// (see [`Encoder`](crate::Encoder) for bare CRs and a missing final line end).
    ///
    /// The MAIL FROM and RCPT TO replies, and the reply for each accepted recipient after the
    /// message, are in the [`Delivery`]; refusals are results, not errors. A message whose
    /// declared size ([`Envelope::with_size`]) is over the limit the server announced (SIZE)
    /// is refused without anything sent, with a 552 made here ([`Delivery::mail`]). When no
    /// recipient is accepted the transaction is reset and the message is not delivered; it is
    /// not even sent, except where the server offers PIPELINING and CHUNKING and the message
    /// fits in one chunk: then it goes out with the envelope as one `BDAT LAST` (RFC 3030 lets
    /// BDAT follow MAIL and RCPT unanswered, and a server reads a chunk it refuses), so that a
    /// delivery takes one round trip instead of two. An error means the connection or the
    /// protocol failed (the session is then over, see
    /// [`Error::ends_session`]): once the message was sent, whether it was delivered is
    /// unknown.
    pub fn deliver<R: Read>(&mut self, envelope: &Envelope, message: R) -> Result<Delivery> {
        if self.ended {
            return Err(Error::SessionEnded {
                peer: self.peer.clone(),
            });
        }
        let extensions = self
            .extensions
            .as_ref()
            .ok_or(Error::Usage("LHLO must come before a delivery"))?;
        if envelope.recipients.is_empty() {
            return Err(Error::Usage("a delivery needs at least one recipient"));
        }
        let utf8_addresses =
            !envelope.reverse_path.is_ascii() || envelope.recipients.iter().any(|r| !r.is_ascii());
        if utf8_addresses && !extensions.smtputf8 {
            let address = std::iter::once(&envelope.reverse_path)
                .chain(&envelope.recipients)
                .find(|a| !a.is_ascii())
                .cloned()
                .unwrap_or_default();
            return Err(InvalidArgument::new(
                "the address",
                address,
                "it is not ASCII and the server does not offer SMTPUTF8",
            )
            .into());
        }
        let mut mail = MailFrom::new(&envelope.reverse_path)?;
        mail.eight_bit_mime = extensions.eight_bit_mime && envelope.eight_bit;
        mail.smtputf8 = extensions.smtputf8 && (utf8_addresses || envelope.utf8);
        mail.size = envelope.size.filter(|_| extensions.size.is_some());
        // A server refuses a MAIL FROM whose SIZE= is over its limit (RFC 1870 section 6.1),
        // but some (Cyrus) then take the pipelined RCPT TO and DATA as if it had been accepted:
        // a message that is too large is not offered at all.
        let limit = extensions.size.filter(|&limit| limit > 0);
        if let (Some(octets), Some(limit)) = (mail.size, limit) {
            if octets > limit {
                return Ok(Delivery::too_large(envelope, octets, limit));
            }
        }
        let rcpts = envelope
            .recipients
            .iter()
            .map(|r| RcptTo::new(r))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let pipelining = self.pipelining && extensions.pipelining;
        let framing = if self.chunking && extensions.chunking {
            Framing::Chunked
        } else {
            Framing::DotStuffed
        };
        let plan = Plan {
            envelope,
            mail,
            rcpts,
            pipelining,
            framing,
        };
        let result = self.transaction(&plan, message);
        if result.as_ref().is_err_and(Error::ends_session) {
            self.ended = true;
        }
        result
    }

    fn transaction<R: Read>(&mut self, plan: &Plan<'_>, mut message: R) -> Result<Delivery> {
        self.check_idle()?;
        if !(plan.pipelining && plan.framing == Framing::Chunked) {
            return self.exchange(plan, message);
        }
        // Up to one chunk's worth of the message (and one octet more, to know whether it
        // ends there): a message that fits in one chunk goes out with the envelope.
        let limit = self.chunk_size;
        let mut head = Vec::new();
        (&mut message)
            .take(limit as u64 + 1)
            .read_to_end(&mut head)
            .map_err(Error::Message)?;
        if head.len() <= limit {
            let chunk = crate::encode(&head, Framing::Chunked);
            if chunk.len() <= limit {
                return self.in_one_round_trip(plan, &chunk);
            }
        }
        let message = io::Cursor::new(head).chain(message);
        self.exchange(plan, message)
    }

    /// The envelope and the message as one `BDAT LAST` chunk in one write, then the replies:
    /// MAIL's, each RCPT's, and one per accepted recipient, or with none accepted the one
    /// reply that refuses the chunk.
    fn in_one_round_trip(&mut self, plan: &Plan<'_>, chunk: &[u8]) -> Result<Delivery> {
        self.queue_envelope(plan);
        self.send_chunk(chunk, true)?;
        let mut delivery = self.envelope_replies(plan.envelope)?;
        if delivery.accepted() == 0 {
            let reply = self.read_reply()?;
            return self.refused_for_all(delivery, "BDAT", Some(reply));
        }
        self.read_verdicts(&mut delivery)?;
        Ok(delivery)
    }

    /// Queues MAIL FROM and every RCPT TO, to go out with the next write.
    fn queue_envelope(&mut self, plan: &Plan<'_>) {
        self.queue(&plan.mail);
        for rcpt in &plan.rcpts {
            self.queue(rcpt);
        }
    }

    /// Reads the replies to a pipelined MAIL FROM and to each RCPT TO.
    fn envelope_replies(&mut self, envelope: &Envelope) -> Result<Delivery> {
        let mail = self.read_reply()?;
        let mut recipients = envelope.unanswered();
        for recipient in &mut recipients {
            recipient.rcpt = Some(self.read_reply()?);
        }
        Ok(Delivery {
            mail,
            recipients,
            data_refused: None,
        })
    }

    /// Ends a transaction in which no recipient was accepted: the reply to the DATA or BDAT
    /// `command` sent with the envelope, if any, must refuse it; then RSET.
    fn refused_for_all(
        &mut self,
        mut delivery: Delivery,
        command: &str,
        reply: Option<Reply>,
    ) -> Result<Delivery> {
        if let Some(reply) = reply {
            if !(reply.is_transient() || reply.is_permanent()) {
                return Err(self.protocol(format!(
                    "the server answered {command} with {reply} with no recipient accepted"
                )));
            }
            delivery.data_refused = Some(reply);
        }
        self.reset()?;
        Ok(delivery)
    }

    /// The envelope first, then the message after DATA or in chunks.
    fn exchange<R: Read>(&mut self, plan: &Plan<'_>, message: R) -> Result<Delivery> {
        let (envelope, pipelining, framing) = (plan.envelope, plan.pipelining, plan.framing);
        // The envelope, and with DATA the DATA command, in one round trip when pipelining.
        let data_sent_early = pipelining && framing == Framing::DotStuffed;
        let mut data_reply = None;
        let mut delivery = if pipelining {
            self.queue_envelope(plan);
            if data_sent_early {
                self.queue(&Data);
            }
            let delivery = self.envelope_replies(envelope)?;
            if data_sent_early {
                data_reply = Some(self.read_reply()?);
            }
            delivery
        } else {
            self.queue(&plan.mail);
            let mail = self.read_reply()?;
            let mut recipients = envelope.unanswered();
            if mail.is_positive() {
                for (recipient, rcpt) in recipients.iter_mut().zip(&plan.rcpts) {
                    self.queue(rcpt);
                    recipient.rcpt = Some(self.read_reply()?);
                }
            }
            Delivery {
                mail,
                recipients,
                data_refused: None,
            }
        };
        if delivery.accepted() == 0 {
            return self.refused_for_all(delivery, "DATA", data_reply);
        }
        let completed = match framing {
            Framing::DotStuffed => {
                let reply = match data_reply {
                    Some(reply) => reply,
                    None => {
                        self.queue(&Data);
                        self.read_reply()?
                    }
                };
                if reply.code == 354 {
                    self.send_dot_stuffed(message)?;
                    true
                } else if reply.is_transient() || reply.is_permanent() {
                    delivery.data_refused = Some(reply);
                    false
                } else {
                    return Err(self.protocol(format!("the server answered DATA with {reply}")));
                }
            }
            Framing::Chunked => match self.send_chunks(message, pipelining)? {
                None => true,
                Some(refusal) => {
                    delivery.data_refused = Some(refusal);
                    false
                }
            },
        };
        if !completed {
            self.reset()?;
            return Ok(delivery);
        }
        self.read_verdicts(&mut delivery)?;
        Ok(delivery)
    }

    /// RFC 2033 section 4.2: after the message, one reply per accepted recipient, in the order
    /// of RCPT.
    fn read_verdicts(&mut self, delivery: &mut Delivery) -> Result<()> {
        let mail_ok = delivery.mail.is_positive();
        for recipient in &mut delivery.recipients {
            if mail_ok && recipient.rcpt.as_ref().is_some_and(Reply::is_positive) {
                let reply = self.read_reply()?;
                if reply.is_intermediate() {
                    return Err(self.protocol(format!(
                        "the server answered the message for {} with {reply}",
                        sanitize(recipient.address.as_bytes())
                    )));
                }
                recipient.reply = Some(reply);
            }
        }
        Ok(())
    }

    /// Abandons the transaction; the reply must be 250.
    fn reset(&mut self) -> Result<()> {
        self.simple(&Rset).map(drop)
    }

    /// Sends one command and reads its reply, which must be positive.
    fn simple<C: Command>(&mut self, command: &C) -> Result<Reply> {
        if self.ended {
            return Err(Error::SessionEnded {
                peer: self.peer.clone(),
            });
        }
        let result = self.check_idle().and_then(|()| {
            self.queue(command);
            self.read_reply()
        });
        let reply = match result {
            Ok(reply) => reply,
            Err(error) => {
                self.ended = true;
                return Err(error);
            }
        };
        if reply.is_positive() {
            Ok(reply)
        } else if reply.is_intermediate() {
            self.ended = true;
            Err(self.protocol(format!("the server answered {} with {reply}", C::NAME)))
        } else {
            Err(Error::Refused {
                peer: self.peer.clone(),
                command: C::NAME,
                reply,
            })
        }
    }

    /// Refuses to begin an exchange while the server has sent something nobody asked for: it
    /// would be read as the reply to the next command.
    fn check_idle(&mut self) -> Result<()> {
        if self.start < self.end {
            return Err(self.protocol("the server sent a reply nobody asked for"));
        }
        Ok(())
    }

    /// Adds a command to the output; it goes out with the next flush.
    fn queue<C: Command>(&mut self, command: &C) {
        let wire = command.to_string();
        self.trace(|| format!("C: {}", wire.trim_end()));
        self.out.extend_from_slice(wire.as_bytes());
    }

    fn write_out(&mut self) -> Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let result = self.stream.write_all(&self.out);
        self.out.clear();
        self.unflushed = true;
        result.map_err(|e| self.connection(e))
    }

    /// Writes what is queued and flushes the stream: the server's replies are awaited next.
    fn flush(&mut self) -> Result<()> {
        self.write_out()?;
        if self.unflushed {
            self.unflushed = false;
            self.stream.flush().map_err(|e| self.connection(e))?;
        }
        Ok(())
    }

    /// Reads one complete reply, sending what is queued first.
    fn read_reply(&mut self) -> Result<Reply> {
        self.flush()?;
        let mut builder = ReplyBuilder::default();
        loop {
            let line = self.read_line()?;
            self.trace(|| format!("S: {}", sanitize(&line)));
            match builder.push(&line) {
                Ok(Some(reply)) => return Ok(reply),
                Ok(None) => {}
                Err(error) => {
                    return Err(Error::Protocol {
                        peer: self.peer.clone(),
                        source: error,
                    })
                }
            }
        }
    }

    /// Reads one CRLF-terminated line, without the CRLF. A line longer than [`MAX_LINE`] or a
    /// bare LF is a protocol error, however the bytes arrive.
    fn read_line(&mut self) -> Result<Vec<u8>> {
        let mut scanned = 0;
        loop {
            let data = self.buf.get(self.start..self.end).unwrap_or_default();
            if let Some(offset) = memchr::memchr(b'\n', data.get(scanned..).unwrap_or_default()) {
                let lf = scanned + offset;
                if lf + 1 > MAX_LINE {
                    return Err(self.protocol("a reply line is too long"));
                }
                let Some(line) = data.get(..lf).and_then(|line| line.strip_suffix(b"\r")) else {
                    return Err(self.protocol("a reply line ends in a bare LF"));
                };
                let line = line.to_vec();
                self.start += lf + 1;
                return Ok(line);
            }
            scanned = data.len();
            if data.len() >= MAX_LINE {
                return Err(self.protocol("a reply line is too long"));
            }
            self.fill()?;
        }
    }

    /// Reads more bytes into the buffer; the end of the stream is an error.
    fn fill(&mut self) -> Result<()> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        loop {
            let Some(free) = self.buf.get_mut(self.end..).filter(|free| !free.is_empty()) else {
                return Err(self.protocol("a reply line is too long"));
            };
            match self.stream.read(free) {
                Ok(0) => return Err(self.connection(io::ErrorKind::UnexpectedEof.into())),
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.connection(e)),
            }
        }
    }

    fn trace(&mut self, line: impl FnOnce() -> String) {
        if let Some(trace) = self.trace.as_mut() {
            trace(&line());
        }
    }

    fn connection(&self, source: io::Error) -> Error {
        Error::Connection {
            peer: self.peer.clone(),
            source,
        }
    }

    fn protocol(&self, message: impl Into<String>) -> Error {
        Error::Protocol {
            peer: self.peer.clone(),
            source: ProtocolError::new(message),
        }
    }
}

/// One delivery's commands before the message, and how they go out.
struct Plan<'a> {
    envelope: &'a Envelope,
    mail: MailFrom<'a>,
    rcpts: Vec<RcptTo<'a>>,
    pipelining: bool,
    framing: Framing,
}

#[cfg(test)]
mod tests;
