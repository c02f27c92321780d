//! What can go wrong in an IMAP session, typed so that callers decide by kind, never by text.

use std::io;

/// The result of an IMAP operation, failing with [`Error`] by default.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A response code the server put in a `NO` (RFC 3501 section 7.1, RFC 5530, RFC 7889),
/// classified so that a caller can tell what to do about a refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponseCode {
    /// `[TRYCREATE]`: the mailbox does not exist; CREATE it, then try again.
    TryCreate,
    /// `[OVERQUOTA]` (RFC 5530): the mailbox or account is over quota. Temporary: it may
    /// succeed once mail is removed.
    OverQuota,
    /// `[LIMIT]` (RFC 5530): a server limit was hit (too many messages, a rate limit).
    /// Temporary.
    Limit,
    /// `[TOOBIG]` (RFC 7888, RFC 7889): this message is larger than the server accepts.
    /// Permanent for the message.
    TooBig,
    /// `[UNAVAILABLE]` (RFC 5530): a subsystem is down. Temporary.
    Unavailable,
    /// Any other code, as the server sent it (sanitized): `NONEXISTENT`, `ALREADYEXISTS`,
    /// `AUTHENTICATIONFAILED` and so on.
    Other(String),
}

impl ResponseCode {
    /// Whether the refusal may go away by itself, so that trying again later makes sense.
    pub fn is_temporary(&self) -> bool {
        matches!(
            self,
            ResponseCode::OverQuota | ResponseCode::Limit | ResponseCode::Unavailable
        ) || matches!(self, ResponseCode::Other(code) if code == "INUSE" || code == "SERVERBUG")
    }
}

impl std::fmt::Display for ResponseCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ResponseCode::TryCreate => "TRYCREATE",
            ResponseCode::OverQuota => "OVERQUOTA",
            ResponseCode::Limit => "LIMIT",
            ResponseCode::TooBig => "TOOBIG",
            ResponseCode::Unavailable => "UNAVAILABLE",
            ResponseCode::Other(code) => code,
        })
    }
}

/// A `NO` answer: the server refused a command, with the code and text it gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The response code, if the server gave one.
    pub code: Option<ResponseCode>,
    /// The human-readable text, sanitized.
    pub text: String,
}

impl Refusal {
    /// Whether trying again later may succeed (see [`ResponseCode::is_temporary`]); a refusal
    /// without a code counts as permanent.
    pub fn is_temporary(&self) -> bool {
        self.code.as_ref().is_some_and(ResponseCode::is_temporary)
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.code {
            Some(code) => write!(f, "[{code}] {}", self.text),
            None => f.write_str(&self.text),
        }
    }
}

/// A failed IMAP exchange. The variants are the kinds a caller acts on: the connection
/// ([`Error::Connection`]: lost, closed or timed out), the protocol ([`Error::Protocol`] and
/// [`Error::Bad`]: the server is out of step or the two sides disagree on the grammar), a
/// refusal ([`Error::Refused`]: a `NO`), and the server closing the session ([`Error::Bye`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing failed, timed out, or the server closed the connection; the
    /// session is gone.
    #[error("IMAP connection: {0}")]
    Connection(#[source] io::Error),
    /// The server broke the protocol: an answer that cannot be parsed, one that is longer
    /// than the client accepts, one out of step with the commands sent. The session cannot be
    /// trusted any more.
    #[error("IMAP protocol error: {0}")]
    Protocol(String),
    /// The server answered `BAD`: it did not understand a command, so one side is out of step.
    #[error("the IMAP server answered {command} with BAD: {text}")]
    Bad {
        /// The command's keyword.
        command: &'static str,
        /// The server's text, sanitized.
        text: String,
    },
    /// The server answered `NO`.
    #[error("the IMAP server refused {command}: {refusal}")]
    Refused {
        /// The command's keyword.
        command: &'static str,
        /// The code and text of the refusal.
        refusal: Refusal,
    },
    /// The server said `BYE` (in its greeting or in the middle of the session) and closes the
    /// connection.
    #[error("the IMAP server closed the session: {text}")]
    Bye {
        /// The response code, if any.
        code: Option<ResponseCode>,
        /// The server's text, sanitized.
        text: String,
    },
    /// A SASL exchange failed on the client's side of it (a server proof that does not
    /// verify, a challenge that makes no sense); the exchange was cancelled.
    #[error("{mechanism}: {reason}")]
    Sasl {
        /// The SASL mechanism name.
        mechanism: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// Reading a message to append failed, or it changed size while it was sent. If it
    /// happened in the middle of the message, the literal was left incomplete and the session
    /// is unusable.
    #[error("reading the message to append: {0}")]
    Source(#[source] io::Error),
    /// Something the caller gave cannot be sent (a CR or LF in a name, an unknown flag, a
    /// date out of range), or the server does not offer what it needs (LOGINDISABLED,
    /// no STARTTLS). Nothing was sent for it.
    #[error("{0}")]
    InvalidInput(String),
}

impl From<popget_sasl::Error> for Error {
    fn from(error: popget_sasl::Error) -> Error {
        use popget_sasl::Error as Sasl;
        match error {
            Sasl::Unexpected(message) => Error::Sasl {
                mechanism: "SASL",
                reason: message,
            },
            Sasl::Failed { mechanism, reason } => Error::Sasl { mechanism, reason },
            Sasl::InvalidInput(message) => Error::InvalidInput(message),
            #[allow(unreachable_patterns)]
            other => Error::Sasl {
                mechanism: "SASL",
                reason: other.to_string(),
            },
        }
    }
}

impl Error {
    /// Whether the session is over: the connection is lost, the protocol broken, or the
    /// server said BYE, or a message to append could not be read (possibly part way).
    pub fn ends_session(&self) -> bool {
        matches!(
            self,
            Error::Connection(_)
                | Error::Protocol(_)
                | Error::Bad { .. }
                | Error::Bye { .. }
                | Error::Source(_)
        )
    }

    /// Whether the connection failed or was closed (including a timeout).
    pub fn is_connection(&self) -> bool {
        matches!(self, Error::Connection(_))
    }

    /// Whether a read or write timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Connection(error)
            if matches!(error.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock))
    }

    /// Whether the server broke the protocol or answered BAD.
    pub fn is_protocol(&self) -> bool {
        matches!(self, Error::Protocol(_) | Error::Bad { .. })
    }

    /// The refusal, if the server answered NO.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Error::Refused { refusal, .. } => Some(refusal),
            _ => None,
        }
    }

    pub(crate) fn protocol(message: impl Into<String>) -> Error {
        Error::Protocol(message.into())
    }

    pub(crate) fn closed() -> Error {
        Error::Connection(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the server closed the connection",
        ))
    }
}
