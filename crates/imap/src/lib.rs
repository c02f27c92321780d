//! A synchronous IMAP client for delivering mail (RFC 3501 / RFC 9051) over any
//! `Read + Write` stream, needing nothing else of popget: it knows no TLS library, no
//! configuration and no journal.
//!
//! Responses are framed and parsed by [`imap_codec`] (within a bound on the memory one
//! response may take); commands are encoded by it too, except the literal of an APPEND, which
//! is streamed from its source with LF line ends turned into CRLF.
//!
//! [`Client`] is the not-authenticated state: greeting read, capabilities, STARTTLS (through
//! an [`Upgrade`] that runs the caller's TLS handshake). Only a login makes a [`Session`]
//! ([`Client::login`], [`Client::authenticate`] with a [`sasl`] mechanism, or
//! [`Client::preauthenticated_session`] after a PREAUTH greeting), and a refused login hands
//! the client back. A session offers what delivery needs: STATUS, CREATE, pipelined APPEND
//! batches with a typed outcome per message ([`AppendOutcome`]), and
//! [`Session::find_appended`] to learn after a crash whether an APPEND whose answer was lost
//! was stored.
//!
//! ```
//! use std::io::{self, Cursor, Read, Write};
//! use popget_imap::{AppendMessage, AppendOutcome, AppendUid, Client};
//!
//! /// A server whose whole dialogue is known in advance; what the client sends is kept.
//! struct Scripted { input: Cursor<Vec<u8>>, sent: Vec<u8> }
//! impl Read for Scripted {
//!     fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> { self.input.read(buf) }
//! }
//! impl Write for Scripted {
//!     fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
//!         self.sent.extend_from_slice(bytes);
//!         Ok(bytes.len())
//!     }
//!     fn flush(&mut self) -> io::Result<()> { Ok(()) }
//! }
//!
//! # fn main() -> Result<(), popget_imap::Error> {
//! let server = Scripted {
//!     input: Cursor::new(
//!         b"* OK [CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS] ready\r\n\
//!           A0001 OK [CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS] logged in\r\n\
//!           A0002 OK [APPENDUID 7 42] stored\r\n\
//!           * BYE logging out\r\nA0003 OK done\r\n"
//!             .to_vec(),
//!     ),
//!     sent: Vec::new(),
//! };
//! let mut session = Client::new(server)?.login("alice", "secret")?;
//! let mut message = Cursor::new(b"Subject: hi\n\nHello\n".to_vec());
//! let outcomes = session.append("INBOX", &mut [AppendMessage::new(&mut message).flags(["\\Seen"])])?;
//! assert_eq!(outcomes, [AppendOutcome::Appended(Some(AppendUid { uid_validity: 7, uid: 42 }))]);
//! session.logout()?;
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod capabilities;
mod client;
mod error;
mod message;
#[cfg(test)]
mod mock;
mod session;
#[cfg(test)]
mod tests;
mod wire;

pub use imap_codec;
pub use popget_sasl as sasl;

pub use capabilities::Capabilities;
pub use client::{Client, LoginError, Upgrade};
pub use error::{Error, Refusal, ResponseCode, Result};
pub use message::{
    crlf_length, encode_mailbox, header_sha256, AppendMessage, CrlfEncoder, InternalDate, ReadSeek,
};
pub use session::{
    AppendOutcome, AppendUid, BatchError, Lookup, MailboxStatus, Session, PIPELINE_WINDOW,
};

/// Receives the protocol dialogue, one line at a time: `C: ` or `S: ` in front, passwords,
/// tokens and AUTHENTICATE data redacted, literals summarised as `{n octets}` (message bodies
/// never appear).
pub type Tracer = Box<dyn FnMut(&str) + Send>;

/// The most octets one server response may take by default, literals included: 1 MiB, far
/// more than any answer delivery asks for (capabilities, STATUS, tagged answers, a message's
/// Message-ID header), far less than a hostile server could make the client hold.
pub const DEFAULT_RESPONSE_LIMIT: u32 = 1024 * 1024;

/// Makes server-controlled bytes safe to print on a terminal or in a log: control characters
/// and invalid UTF-8 become visible escapes.
pub fn sanitize(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if ch.is_control() {
            out.extend(ch.escape_default());
        } else {
            out.push(ch);
        }
    }
    out
}
