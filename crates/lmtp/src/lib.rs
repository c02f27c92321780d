//! A synchronous LMTP client (RFC 2033) over any `Read + Write` stream — a Unix socket, TCP, or
//! a test buffer — needing nothing else of popget.
//!
//! The wire format is a set of small pieces: one type per [`command`] whose `Display` is its
//! wire form, [`Reply`] parsing with enhanced status codes (RFC 3463), the [`Encoder`] that turns
//! a stored message (LF line ends) into CRLF form, dot-stuffed for DATA. On top of them,
//! [`Client`] reads the greeting, sends LHLO, and delivers messages: MAIL FROM, one RCPT TO per
//! recipient, then the message in `BDAT` chunks (RFC 3030 CHUNKING) or after `DATA`, pipelined
//! (RFC 2920) when the server offers it (a message of one chunk in the same write as its
//! envelope), and reads LMTP's one reply per accepted recipient.
//! Refusals — of the sender, of a recipient, of the message for one recipient — are results in
//! the [`Delivery`], never errors; [`Error`] is for a lost connection, a server out of step and
//! arguments that cannot be sent.
//!
//! ```
//! use std::collections::VecDeque;
//! use std::io::{self, Read, Write};
//! use popget_lmtp::{Client, Envelope};
//!
//! /// A server that answers each flush with the next of its canned answers.
//! struct Scripted {
//!     answers: VecDeque<&'static [u8]>,
//!     ready: Vec<u8>,
//!     sent: Vec<u8>,
//! }
//! impl Read for Scripted {
//!     fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
//!         let n = self.ready.len().min(buf.len());
//!         buf[..n].copy_from_slice(&self.ready[..n]);
//!         self.ready.drain(..n);
//!         Ok(n)
//!     }
//! }
//! impl Write for Scripted {
//!     fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
//!         self.sent.extend_from_slice(bytes);
//!         Ok(bytes.len())
//!     }
//!     fn flush(&mut self) -> io::Result<()> {
//!         self.ready.extend_from_slice(self.answers.pop_front().unwrap_or(b""));
//!         Ok(())
//!     }
//! }
//!
//! # fn main() -> Result<(), popget_lmtp::Error> {
//! let server = Scripted {
//!     ready: b"220 mail.example LMTP ready\r\n".to_vec(),
//!     answers: VecDeque::from([
//!         &b"250-mail.example\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n"[..],
//!         b"250 2.1.0 OK\r\n250 2.1.5 OK\r\n550 5.1.1 <bob> unknown\r\n354 go on\r\n",
//!         b"250 2.0.0 <alice> saved\r\n",
//!         b"221 2.0.0 bye\r\n",
//!     ]),
//!     sent: Vec::new(),
//! };
//! let mut client = Client::new(server, "mail.example")?;
//! client.lhlo("client.example")?;
//! let envelope = Envelope::new("sender@example.org", ["alice", "bob"]);
//! let delivery = client.deliver(&envelope, &b"Subject: hi\n\n.dot\n"[..])?;
//! let verdicts: Vec<(&str, u16)> = delivery.verdicts().map(|(who, reply)| (who, reply.code)).collect();
//! assert_eq!(verdicts, [("alice", 250), ("bob", 550)]);
//! client.quit()?;
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod client;
pub mod command;
mod encode;
mod error;
#[cfg(test)]
mod mock;
mod reply;

pub use client::{Client, Delivery, Envelope, Extensions, Recipient, Tracer, DEFAULT_CHUNK_SIZE};
pub use command::{Command, InvalidArgument};
pub use encode::{encode, normalized, Encoder, Framing};
pub use error::{Error, ProtocolError, Result};
pub use reply::{parse_reply_line, EnhancedCode, Reply, ReplyBuilder, ReplyLine};

/// The longest reply line accepted, CRLF included. RFC 5321 allows 512 octets; the margin is
/// for servers that exceed it, the limit for those that never end a line.
pub const MAX_LINE: usize = 8 * 1024;

/// The most lines accepted in one reply (LHLO's list of extensions is the longest real one).
pub const MAX_REPLY_LINES: usize = 256;

/// Makes server-controlled bytes safe to print on a terminal or in a log: control characters and
/// invalid UTF-8 become visible escapes, so a hostile server cannot paint the screen or forge
/// lines.
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
