//! What can go wrong in an LMTP session, typed so that callers decide by kind, never by text.
//! A refusal of a message or a recipient is not an error: it is in the [`crate::Delivery`].

use std::io;

use super::{InvalidArgument, Reply};

/// The result of an LMTP operation, failing with [`Error`] by default.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A violation of the protocol by the server: a malformed reply, a reply out of step, a line or
/// a reply that runs on without end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ProtocolError {
    message: String,
}

impl ProtocolError {
    /// A violation, described by `message`.
    pub fn new(message: impl Into<String>) -> Self {
        ProtocolError {
            message: message.into(),
        }
    }
}

/// A failed LMTP exchange.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The connection failed, timed out or was closed; the session is gone. Whether a message
    /// whose data was sent was delivered is unknown.
    #[error("connection to {peer}: {source}")]
    Connection {
        /// The server the connection was to, for messages.
        peer: String,
        /// What the I/O layer reported.
        #[source]
        source: io::Error,
    },
    /// The server broke the protocol; the session cannot be trusted any more.
    #[error("protocol error from {peer}: {source}")]
    Protocol {
        /// The server the connection was to, for messages.
        peer: String,
        /// What was wrong.
        #[source]
        source: ProtocolError,
    },
    /// The server greeted with a 4xx or 5xx reply instead of 220.
    #[error("{peer} refused the connection: {reply}")]
    GreetingRefused {
        /// The server the connection was to, for messages.
        peer: String,
        /// The greeting.
        reply: Reply,
    },
    /// The server refused a command outside a mail transaction (LHLO, RSET, NOOP, QUIT).
    #[error("{peer} refused {command}: {reply}")]
    Refused {
        /// The server the connection was to, for messages.
        peer: String,
        /// The verb of the refused command.
        command: &'static str,
        /// The server's reply.
        reply: Reply,
    },
    /// Reading the message to send failed. With DATA the message cannot be ended without
    /// delivering it cut short, so the session is abandoned.
    #[error("cannot read the message: {0}")]
    Message(#[source] io::Error),
    /// An address or name cannot be sent, or the server lacks an extension it needs (SMTPUTF8
    /// for an address that is not ASCII). Nothing was sent.
    #[error(transparent)]
    InvalidInput(#[from] InvalidArgument),
    /// A call in the wrong order: a delivery before LHLO.
    #[error("{0}")]
    Usage(&'static str),
    /// An earlier error ended the session; only dropping (or `quit`) is left.
    #[error("the session with {peer} ended after an earlier error")]
    SessionEnded {
        /// The server the connection was to, for messages.
        peer: String,
    },
}

impl Error {
    /// Whether the session is over: the connection lost, the protocol broken, a message cut off.
    pub fn ends_session(&self) -> bool {
        matches!(
            self,
            Error::Connection { .. }
                | Error::Protocol { .. }
                | Error::Message(_)
                | Error::SessionEnded { .. }
                | Error::GreetingRefused { .. }
        )
    }

    /// Whether the server did not answer in time (the stream's read or write timeout).
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            Error::Connection { source, .. }
                if matches!(source.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock)
        )
    }

    /// Whether trying again later may succeed: the connection failed, or the server refused
    /// with a 4xx reply. A protocol violation or a 5xx refusal is not.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Connection { .. } => true,
            Error::GreetingRefused { reply, .. } | Error::Refused { reply, .. } => {
                reply.is_transient()
            }
            _ => false,
        }
    }
}
