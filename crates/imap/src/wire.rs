//! The connection: commands out (tags, buffered writes), responses in (framed by imap-codec's
//! fragmentizer within a memory limit, parsed by its codecs), and the trace of both.

use std::io::{self, Read, Write};

use imap_codec::decode::Decoder;
use imap_codec::encode::{Encoder, Fragment};
use imap_codec::fragmentizer::{DecodeMessageError, FragmentInfo, Fragmentizer};
use imap_codec::imap_types::command::Command;
use imap_codec::imap_types::response::{
    Bye, Code, CommandContinuationRequest, Data, Greeting, Response, Status, StatusBody, StatusKind,
};
use imap_codec::imap_types::IntoStatic;
use imap_codec::{CommandCodec, GreetingCodec, ResponseCodec};

use crate::{sanitize, Error, Refusal, ResponseCode, Result, Tracer};

/// How many octets one read asks for.
const READ_CHUNK: usize = 64 * 1024;

/// Writes are gathered up to this size before they go out.
const WRITE_BUFFER: usize = 64 * 1024;

/// The server's answer to a command: its tagged status.
#[derive(Debug)]
pub(crate) struct Done {
    pub kind: StatusKind,
    pub code: Option<Code<'static>>,
    pub text: String,
}

impl Done {
    /// `Ok(())` for OK, the refusal for NO, an error for BAD.
    pub fn check(self, command: &'static str) -> Result<Done> {
        match self.kind {
            StatusKind::Ok => Ok(self),
            StatusKind::No => Err(Error::Refused {
                command,
                refusal: self.refusal(),
            }),
            StatusKind::Bad => Err(Error::Bad {
                command,
                text: self.text,
            }),
        }
    }

    pub fn refusal(&self) -> Refusal {
        Refusal {
            code: self.code.as_ref().map(classify),
            text: self.text.clone(),
        }
    }
}

/// The classified form of a response code.
pub(crate) fn classify(code: &Code<'_>) -> ResponseCode {
    match code {
        Code::TryCreate => ResponseCode::TryCreate,
        Code::OverQuota => ResponseCode::OverQuota,
        Code::TooBig => ResponseCode::TooBig,
        Code::Other(other) => {
            let raw = other.inner();
            let atom = raw.split(|&b| b == b' ').next().unwrap_or(raw);
            match atom.to_ascii_uppercase().as_slice() {
                b"LIMIT" => ResponseCode::Limit,
                b"UNAVAILABLE" => ResponseCode::Unavailable,
                b"OVERQUOTA" => ResponseCode::OverQuota,
                b"TOOBIG" => ResponseCode::TooBig,
                b"TRYCREATE" => ResponseCode::TryCreate,
                upper => ResponseCode::Other(sanitize(upper)),
            }
        }
        other => {
            let name = format!("{other:?}");
            let name = name.split(['(', ' ', '{']).next().unwrap_or("").to_string();
            ResponseCode::Other(name.to_ascii_uppercase())
        }
    }
}

/// One response, as the session acts on it.
#[derive(Debug)]
pub(crate) enum Received {
    /// `+ ...`: the server waits for the rest of a command.
    Continue(CommandContinuationRequest<'static>),
    /// The tagged answer to a command.
    Tagged { tag: String, done: Done },
    /// Untagged data (CAPABILITY, STATUS, FETCH, EXISTS ...).
    Data(Data<'static>),
    /// An untagged OK, NO or BAD: information, such as `[UIDVALIDITY n]`.
    Untagged(StatusBody<'static>),
}

/// How a command's line is shown in the trace.
#[derive(Clone, Copy)]
pub(crate) enum Shown<'a> {
    /// As it is sent (literals summarised).
    Plain,
    /// Only this text after the tag: the rest holds a secret.
    Redacted(&'a str),
}

pub(crate) struct Wire<S> {
    pub stream: S,
    fragmentizer: Fragmentizer,
    limit: u32,
    out: Vec<u8>,
    read_buffer: Vec<u8>,
    pub trace: Option<Tracer>,
    /// Hides continuation requests from the server in the trace (during AUTHENTICATE).
    pub redact_continuations: bool,
    next_tag: u32,
}

impl<S: Read + Write> Wire<S> {
    pub fn new(stream: S, limit: u32, trace: Option<Tracer>) -> Self {
        Wire {
            stream,
            // The limit is checked here after every step of the fragmentizer, each of which
            // takes in at most one read, so that it can change between responses.
            fragmentizer: Fragmentizer::without_max_message_size(),
            limit,
            out: Vec::new(),
            read_buffer: vec![0; READ_CHUNK],
            trace,
            redact_continuations: false,
            next_tag: 0,
        }
    }

    /// Changes the limit on one response's size, from the next response on.
    pub fn set_limit(&mut self, limit: u32) {
        self.limit = limit;
    }

    /// The stream, tracer, limit and tag counter, for a new wire over the TLS stream.
    pub fn into_parts(self) -> (S, Option<Tracer>, u32, u32) {
        (self.stream, self.trace, self.limit, self.next_tag)
    }

    /// Goes on counting tags where an earlier wire stopped.
    pub fn continue_tags(&mut self, next_tag: u32) {
        self.next_tag = next_tag;
    }

    pub fn trace(&mut self, line: impl FnOnce() -> String) {
        if let Some(trace) = self.trace.as_mut() {
            trace(&line());
        }
    }

    /// A new tag: `A0001`, `A0002` ...
    pub fn tag(&mut self) -> String {
        self.next_tag = self.next_tag.wrapping_add(1);
        format!("A{:04}", self.next_tag)
    }

    /// Queues raw bytes for the server.
    pub fn queue(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.extend_from_slice(bytes);
        if self.out.len() >= WRITE_BUFFER {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes out what is queued.
    pub fn flush(&mut self) -> Result<()> {
        if !self.out.is_empty() {
            let result = self.stream.write_all(&self.out);
            self.out.clear();
            result.map_err(Error::Connection)?;
        }
        self.stream.flush().map_err(Error::Connection)
    }

    /// Writes `bytes` past the queue, after flushing it (message data).
    pub fn write_through(&mut self, bytes: &[u8]) -> Result<()> {
        if self.out.len() + bytes.len() < WRITE_BUFFER {
            self.out.extend_from_slice(bytes);
            return Ok(());
        }
        if !self.out.is_empty() {
            let result = self.stream.write_all(&self.out);
            self.out.clear();
            result.map_err(Error::Connection)?;
        }
        self.stream.write_all(bytes).map_err(Error::Connection)
    }

    /// Sends a command encoded by imap-codec, with a fresh tag. A synchronising literal in it
    /// waits for the server's `+`; if the server answers the command instead, that answer is
    /// returned (the rest of the command is not sent).
    pub fn command(&mut self, command: &Command<'_>, shown: Shown<'_>) -> Result<Option<Done>> {
        let tag = command.tag.inner().to_string();
        let keyword = command.body.name();
        match shown {
            Shown::Redacted(text) => self.trace(|| format!("C: {tag} {text}")),
            Shown::Plain => {}
        }
        let mut line = Vec::new();
        for fragment in CommandCodec::default().encode(command) {
            match fragment {
                Fragment::Line { data } => {
                    if let Shown::Plain = shown {
                        line.extend_from_slice(&data);
                        if data.ends_with(b"\r\n") {
                            let text = sanitize(line.strip_suffix(b"\r\n").unwrap_or(&line));
                            self.trace(|| format!("C: {text}"));
                            line.clear();
                        }
                    }
                    self.queue(&data)?;
                }
                Fragment::Literal { data, mode } => {
                    if let imap_codec::imap_types::core::LiteralMode::Sync = mode {
                        self.flush()?;
                        if let Some(done) = self.await_continuation(&tag, keyword)? {
                            return Ok(Some(done));
                        }
                    }
                    if let Shown::Plain = shown {
                        let octets = data.len();
                        self.trace(|| format!("C: {{{octets} octets}}"));
                    }
                    self.queue(&data)?;
                }
            }
        }
        Ok(None)
    }

    /// Waits for the `+` that lets a synchronising literal go out. Untagged data on the way
    /// is passed over; the command's own tagged answer (a refusal before the literal) is
    /// returned; anything else is out of step.
    pub fn await_continuation(&mut self, tag: &str, keyword: &str) -> Result<Option<Done>> {
        loop {
            match self.receive()? {
                Received::Continue(_) => return Ok(None),
                Received::Tagged { tag: got, done } if got == tag => return Ok(Some(done)),
                Received::Tagged { tag: got, .. } => {
                    return Err(Error::protocol(format!(
                        "the server answered {} while {tag} {keyword} waited for a continuation",
                        sanitize(got.as_bytes())
                    )))
                }
                Received::Data(_) | Received::Untagged(_) => {}
            }
        }
    }

    /// Reads responses until the tagged answer to `tag`, handing untagged ones to `data`. A
    /// continuation request is out of step here.
    pub fn finish(
        &mut self,
        tag: &str,
        mut data: impl FnMut(Received) -> Result<()>,
    ) -> Result<Done> {
        loop {
            match self.receive()? {
                Received::Tagged { tag: got, done } if got == tag => return Ok(done),
                Received::Tagged { tag: got, .. } => {
                    return Err(Error::protocol(format!(
                        "the server answered {} where {tag} was due",
                        sanitize(got.as_bytes())
                    )))
                }
                Received::Continue(_) => {
                    return Err(Error::protocol(format!(
                        "the server asked for a continuation of {tag}, which has none"
                    )))
                }
                other => data(other)?,
            }
        }
    }

    /// Reads the next response: an untagged BYE is an error, everything else is returned.
    pub fn receive(&mut self) -> Result<Received> {
        self.flush()?;
        self.next_message()?;
        let response = match self.fragmentizer.decode_message(&ResponseCodec::default()) {
            Ok(response) => response.into_static(),
            Err(error) => return Err(self.undecodable(error)),
        };
        Ok(match response {
            Response::CommandContinuationRequest(request) => Received::Continue(request),
            Response::Data(data) => Received::Data(data),
            Response::Status(Status::Tagged(tagged)) => Received::Tagged {
                tag: tagged.tag.inner().to_string(),
                done: Done {
                    kind: tagged.body.kind,
                    text: sanitize(tagged.body.text.inner().as_bytes()),
                    code: tagged.body.code,
                },
            },
            Response::Status(Status::Untagged(body)) => Received::Untagged(body),
            Response::Status(Status::Bye(bye)) => return Err(bye_error(&bye)),
        })
    }

    /// Reads the greeting.
    pub fn greeting(&mut self) -> Result<Greeting<'static>> {
        self.next_message()?;
        match self.fragmentizer.decode_message(&GreetingCodec::default()) {
            Ok(greeting) => Ok(greeting.into_static()),
            Err(error) => Err(self.undecodable(error)),
        }
    }

    fn undecodable<C: Decoder>(&self, error: DecodeMessageError<'_, C>) -> Error {
        let what = match error {
            DecodeMessageError::DecodingRemainder { .. } => "with bytes left over",
            _ => "",
        };
        let bytes = self.fragmentizer.message_bytes();
        let shown = &bytes[..bytes.len().min(200)];
        Error::protocol(format!(
            "cannot parse the server's answer{}{what}: {}",
            if what.is_empty() { "" } else { " " },
            sanitize(shown)
        ))
    }

    /// Reads until the fragmentizer holds one complete response, within the size limit.
    fn next_message(&mut self) -> Result<()> {
        loop {
            match self.fragmentizer.progress() {
                Some(fragment) => {
                    self.check_size()?;
                    match fragment {
                        FragmentInfo::Line { announcement, .. } => {
                            let bytes = self.fragmentizer.fragment_bytes(fragment);
                            let line = bytes.strip_suffix(b"\n").unwrap_or(bytes);
                            let line = line.strip_suffix(b"\r").unwrap_or(line);
                            if self.trace.is_some() {
                                let text = if self.redact_continuations && line.starts_with(b"+") {
                                    "+ ***".to_string()
                                } else {
                                    sanitize(line)
                                };
                                self.trace(|| format!("S: {text}"));
                            }
                            if let Some(announcement) = announcement {
                                let held = self.fragmentizer.message_bytes().len() as u64;
                                if held + u64::from(announcement.length) > u64::from(self.limit) {
                                    return Err(self.too_long());
                                }
                            }
                        }
                        FragmentInfo::Literal { start, end } => {
                            let octets = end - start;
                            self.trace(|| format!("S: {{{octets} octets}}"));
                        }
                    }
                    if self.fragmentizer.is_message_complete() {
                        return Ok(());
                    }
                }
                None => {
                    self.check_size()?;
                    let n = loop {
                        match self.stream.read(&mut self.read_buffer) {
                            Ok(n) => break n,
                            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                            Err(error) => return Err(Error::Connection(error)),
                        }
                    };
                    if n == 0 {
                        return Err(Error::closed());
                    }
                    self.fragmentizer.enqueue_bytes(&self.read_buffer[..n]);
                }
            }
        }
    }

    fn check_size(&self) -> Result<()> {
        if self.fragmentizer.message_bytes().len() as u64 > u64::from(self.limit) {
            return Err(self.too_long());
        }
        Ok(())
    }

    fn too_long(&self) -> Error {
        Error::protocol(format!(
            "an answer from the server is longer than the {} octets accepted",
            self.limit
        ))
    }

    /// Whether the server sent bytes that no command has asked for yet (checked after STARTTLS
    /// is accepted: such bytes would be taken as if they came through TLS).
    pub fn has_unread_input(&mut self) -> bool {
        if !self.fragmentizer.is_message_complete() {
            return !self.fragmentizer.message_bytes().is_empty();
        }
        if self.fragmentizer.progress().is_some() {
            return true;
        }
        !self.fragmentizer.message_bytes().is_empty()
    }
}

pub(crate) fn bye_error(bye: &Bye<'_>) -> Error {
    Error::Bye {
        code: bye.code.as_ref().map(classify),
        text: sanitize(bye.text.inner().as_bytes()),
    }
}
