//! What can go wrong in a POP3 session, typed so that callers decide by kind, never by text.

use std::io;

use super::{ProtocolError, ResponseCode};

/// The result of a POP3 operation, failing with [`Error`] by default.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A failed POP3 exchange.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The connection failed, timed out or was closed; the session is gone.
    #[error("connection to {peer}: {source}")]
    Connection {
        /// The server the connection was to, for messages.
        peer: String,
        /// What the I/O layer reported.
        #[source]
        source: io::Error,
    },
    /// The server broke the protocol; the session cannot be trusted any more.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// A LIST or UIDL answer would take more memory than the session allows.
    #[error(
        "the {what} answer would take more than {limit} octets of memory after {entries} entries"
    )]
    ListingTooLarge {
        /// The command whose answer it was: `LIST` or `UIDL`.
        what: &'static str,
        /// The memory limit in octets.
        limit: u64,
        /// How many entries were read before the limit was reached.
        entries: usize,
    },
    /// The server greeted with -ERR.
    #[error("the server refused the connection: {text}")]
    GreetingRefused {
        /// The response code in the greeting, if any (RFC 2449, RFC 3206).
        code: Option<ResponseCode>,
        /// The greeting's text, sanitized.
        text: String,
    },
    /// The server answered STLS with -ERR.
    #[error("the server refused STLS: {text}")]
    StlsRefused {
        /// The server's text, sanitized.
        text: String,
    },
    /// The server answered -ERR to a command.
    #[error("server refused {command}: {text}")]
    Refused {
        /// The keyword of the refused command.
        command: &'static str,
        /// The response code in the answer, if any (RFC 2449, RFC 3206).
        code: Option<ResponseCode>,
        /// The answer's text, sanitized.
        text: String,
    },
    /// The sink a message body was streamed into failed.
    #[error("cannot write the output: {0}")]
    Output(#[source] io::Error),
    /// A SASL exchange failed on the client's side of it (a server proof that does not
    /// verify, a challenge that makes no sense).
    #[error("{mechanism}: {reason}")]
    Sasl {
        /// The SASL mechanism name.
        mechanism: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// A value cannot be sent (a NUL byte in a password, no randomness for a nonce).
    #[error("{0}")]
    InvalidInput(String),
    /// Kerberos (SASL GSSAPI) failed on the client's side: no ticket, an expired one, an
    /// unknown service, a security-layer offer that makes no sense.
    #[cfg(feature = "gssapi")]
    #[error(transparent)]
    Gssapi(#[from] super::gssapi::GssapiError),
}

impl From<super::sasl::Error> for Error {
    fn from(error: super::sasl::Error) -> Error {
        use super::sasl::Error as Sasl;
        match error {
            Sasl::Unexpected(message) => Error::Protocol(ProtocolError::new(message)),
            Sasl::Failed { mechanism, reason } => Error::Sasl { mechanism, reason },
            Sasl::InvalidInput(message) => Error::InvalidInput(message),
            #[cfg(feature = "gssapi")]
            Sasl::Gssapi(error) => Error::Gssapi(error),
        }
    }
}

impl Error {
    /// The error for a -ERR answer to `command`.
    pub fn refused(command: &'static str, status: &super::Status) -> Error {
        Error::Refused {
            command,
            code: status.code.clone(),
            text: status.display_text(),
        }
    }

    /// Whether the session is over: the connection is lost or the protocol broken.
    pub fn ends_session(&self) -> bool {
        matches!(
            self,
            Error::Connection { .. } | Error::Protocol(_) | Error::ListingTooLarge { .. }
        )
    }
}
