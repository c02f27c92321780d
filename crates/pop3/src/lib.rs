//! A synchronous POP3 client (RFC 1939, with RFC 2449 extensions, STLS and SASL) over any
//! `Read + Write` stream, needing nothing else of popget.
//!
//! The wire format is a set of pure functions over bytes: [`Command`]s, status lines
//! ([`parse_status`]), listings, and dot-unstuffing ([`DotDecoder`]). On top of them,
//! [`Client`] is the AUTHORIZATION state (greeting read, not logged in) and [`Session`] the
//! TRANSACTION state. Only a login makes a session ([`Client::login_user_pass`],
//! [`Client::apop`], [`Client::authenticate`]), and before it a client can send nothing but
//! CAPA, STLS, the login commands and QUIT, so the type system keeps transaction commands away
//! from an unauthenticated connection; both states pipeline commands when asked to. The SASL
//! mechanisms come from the `popget-sasl` crate, re-exported as [`sasl`] and [`gssapi`] (whose
//! Kerberos mechanism needs the default `gssapi` feature): they compute what to send,
//! [`Client::authenticate`] sends it.
//!
//! ```
//! use std::collections::VecDeque;
//! use std::io::{self, Read, Write};
//! use popget_pop3::{Client, LineEnding, Security};
//!
//! /// A server that answers each command line with the next of its canned answers, as a
//! /// real one would; what the client sends is kept to look at.
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
//!         for _ in bytes.iter().filter(|&&b| b == b'\n') {
//!             self.ready.extend_from_slice(self.answers.pop_front().unwrap_or(b""));
//!         }
//!         Ok(bytes.len())
//!     }
//!     fn flush(&mut self) -> io::Result<()> {
//!         Ok(())
//!     }
//! }
//!
//! # fn main() -> Result<(), popget_pop3::Error> {
//! let server = Scripted {
//!     ready: b"+OK ready\r\n".to_vec(),
//!     answers: VecDeque::from([
//!         &b"+OK\r\n"[..],
//!         b"+OK logged in\r\n",
//!         b"+OK 1 message\r\nSubject: hi\r\n\r\n..dot\r\n.\r\n",
//!         b"+OK bye\r\n",
//!     ]),
//!     sent: Vec::new(),
//! };
//! // The transport tells whether the stream is protected; here it pretends to be TLS.
//! let client = Client::new(server, "example", Security::Tls)?;
//! let mut session = client.login_user_pass("alice", "secret")?;
//! let mut message = Vec::new();
//! session.retr(1, LineEnding::Lf, &mut message)?;
//! assert_eq!(message, b"Subject: hi\n\n.dot\n");
//! session.quit()?;
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod command;
mod dot;
mod error;
mod listing;
#[cfg(any(test, feature = "test-support"))]
mod mock;
mod response;
mod session;

pub use popget_sasl as sasl;
pub use popget_sasl::gssapi;

pub use command::Command;
pub use dot::{size_slack, stuff, DotDecoder, LineEnding, ListedSizes, Progress};
pub use error::{Error, Result};
pub use listing::{
    apop_timestamp, parse_scan_line, parse_stat, parse_uidl_line, Capabilities, ScanEntry,
    UidlEntry,
};
#[cfg(any(test, feature = "test-support"))]
pub use mock::MockStream;
pub use response::{parse_status, ResponseCode, Status};
pub use session::{
    apop_digest, Body, Client, ListingEntry, LoginError, Security, Session, Tracer, Upgrade,
    DEFAULT_MAX_LISTING,
};

/// Whether to send commands without waiting for each answer (RFC 2449 PIPELINING). With the
/// `serde` feature it reads from the names `auto`, `on` and `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum Pipelining {
    /// When the server announces PIPELINING.
    #[default]
    Auto,
    /// Even when the server does not announce it.
    On,
    /// One command at a time.
    Off,
}

impl Pipelining {
    /// Whether to pipeline with a server that does (or does not) announce PIPELINING.
    pub fn allows(self, announced: bool) -> bool {
        match self {
            Pipelining::Auto => announced,
            Pipelining::On => true,
            Pipelining::Off => false,
        }
    }
}

/// The longest status or listing line accepted, CRLF included. RFC 1939 allows 512 octets; real
/// servers exceed that slightly, so a modest tolerance is kept.
pub const MAX_LINE: usize = 8 * 1024;

/// The longest command the client may send, CRLF included (RFC 2449 section 4).
pub const MAX_COMMAND: usize = 255;

/// A violation of the POP3 grammar by the server, or an argument that cannot be sent safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ProtocolError {
    message: String,
    violation: Violation,
}

/// Which rule a [`ProtocolError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Violation {
    /// The grammar of the protocol: status lines, listings, the order of answers.
    Grammar,
    /// A message's length does not fit the size LIST announced for it (see [`ListedSizes`]).
    ListedSize,
}

impl ProtocolError {
    /// A violation of the grammar, with the given message.
    pub fn new(message: impl Into<String>) -> Self {
        ProtocolError {
            message: message.into(),
            violation: Violation::Grammar,
        }
    }

    /// A message whose length does not fit its LIST size, with the given message.
    pub fn listed_size(message: impl Into<String>) -> Self {
        ProtocolError {
            message: message.into(),
            violation: Violation::ListedSize,
        }
    }

    /// Which rule was broken.
    pub fn violation(&self) -> Violation {
        self.violation
    }
}

/// Makes server-controlled bytes safe to print on a terminal or in a log: control characters and
/// invalid UTF-8 become visible escapes, so a hostile server cannot paint the screen or forge lines.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "serde")]
    #[test]
    fn settings_read_from_their_lowercase_names() {
        use serde::de::{value::Error, Deserialize, IntoDeserializer};
        let pipelining = |name: &str| -> Result<Pipelining, Error> {
            Pipelining::deserialize(name.into_deserializer())
        };
        let sizes = |name: &str| -> Result<ListedSizes, Error> {
            ListedSizes::deserialize(name.into_deserializer())
        };
        assert_eq!(pipelining("auto"), Ok(Pipelining::Auto));
        assert_eq!(pipelining("on"), Ok(Pipelining::On));
        assert_eq!(pipelining("off"), Ok(Pipelining::Off));
        assert!(pipelining("Auto").is_err());
        assert_eq!(sizes("exact"), Ok(ListedSizes::Exact));
        assert_eq!(sizes("estimated"), Ok(ListedSizes::Estimated));
        assert!(sizes("Exact").is_err());
    }

    #[test]
    fn sanitize_neutralises_escape_sequences_and_newlines() {
        assert_eq!(
            sanitize(b"ok\x1b[31mred\r\nforged"),
            "ok\\u{1b}[31mred\\r\\nforged"
        );
        assert_eq!(sanitize(b"caf\xc3\xa9 \xff"), "caf\u{e9} \u{fffd}");
    }
}
