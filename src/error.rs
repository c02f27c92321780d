//! The library's typed errors and the sysexits status each one maps to.

use std::io;
use std::path::PathBuf;

use crate::protocol::{ProtocolError, ResponseCode};

/// Exit statuses (sysexits.h), documented in the README and the man page.
pub mod exit {
    pub const OK: u8 = 0;
    pub const USAGE: u8 = 64;
    pub const DATA_ERR: u8 = 65;
    pub const UNAVAILABLE: u8 = 69;
    pub const CANT_CREATE: u8 = 73;
    pub const IO_ERR: u8 = 74;
    pub const TEMP_FAIL: u8 = 75;
    pub const PROTOCOL: u8 = 76;
    pub const NO_PERM: u8 = 77;
    pub const CONFIG: u8 = 78;
    /// `fetch` stopped by SIGINT (128 + 2, as shells report it).
    pub const INTERRUPTED: u8 = 130;
    /// `fetch` stopped by SIGTERM (128 + 15).
    pub const TERMINATED: u8 = 143;
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `eprintln!` that cannot panic: standard error closed or a broken pipe loses the line, and
/// the run goes on (`eprintln!` panics on a write error).
#[doc(hidden)]
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

/// `eprint!` (no line end, flushed) that cannot panic, for a prompt.
#[doc(hidden)]
#[macro_export]
macro_rules! say_partly {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, $($arg)*);
        let _ = stderr.flush();
    }};
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line is wrong.
    #[error("{0}")]
    Usage(String),
    /// The state file cannot be read as one.
    #[error("state file {}: {detail}", path.display())]
    CorruptState { path: PathBuf, detail: String },
    /// The server cannot give what is required (TLS, STLS, UIDL, an acceptable login method).
    #[error("{message}")]
    Unavailable {
        message: String,
        hint: Option<String>,
    },
    /// The TLS handshake failed or the certificate was rejected.
    #[error("TLS: {0}")]
    Tls(String),
    /// The mailbox (or a directory for state) cannot be created or opened.
    #[error("cannot create {}: {source}", path.display())]
    CantCreate { path: PathBuf, source: io::Error },
    /// Reading or writing failed locally (disk, output) or a timeout outside a session.
    #[error("{context}: {}", describe_io(source))]
    Io { context: String, source: io::Error },
    /// The connection to the server failed, timed out or was closed; no session is left.
    #[error("connection to {peer}: {}", describe_io(source))]
    Connection { peer: String, source: io::Error },
    /// Try again later: connection refused, mailbox in use, login delay, account locked.
    #[error("{0}")]
    Temporary(String),
    /// The server broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// The server rejected the credentials.
    #[error("{0}")]
    AuthFailed(String),
    /// The configuration (file, environment or password source) is wrong.
    #[error("{0}")]
    Config(String),
    /// The MDA refused a message (a permanent failure for that message).
    #[error("{0}")]
    Rejected(String),
    /// The SOCKS5 proxy gave no tunnel to the server.
    #[error(transparent)]
    Proxy(#[from] crate::proxy::ProxyError),
    /// Kerberos (SASL GSSAPI) could not log in: no ticket, an expired one, an unknown service.
    #[error(transparent)]
    Gssapi(#[from] crate::auth::gssapi::GssapiError),
    /// The server answered -ERR to a command.
    #[error("server refused {command}: {text}")]
    Refused {
        command: &'static str,
        code: Option<ResponseCode>,
        text: String,
    },
}

impl Error {
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Error::Unavailable {
            message: message.into(),
            hint: None,
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => exit::USAGE,
            Error::CorruptState { .. } => exit::DATA_ERR,
            Error::Unavailable { .. } | Error::Tls(_) => exit::UNAVAILABLE,
            Error::CantCreate { .. } | Error::Rejected(_) => exit::CANT_CREATE,
            Error::Io { .. } | Error::Connection { .. } => exit::IO_ERR,
            Error::Temporary(_) => exit::TEMP_FAIL,
            Error::Protocol(_) => exit::PROTOCOL,
            Error::AuthFailed(_) => exit::NO_PERM,
            Error::Config(_) => exit::CONFIG,
            Error::Proxy(error) => error.exit_code(),
            Error::Gssapi(error) => error.exit_code(),
            Error::Refused { code, .. } => match code {
                Some(code) if code.is_temporary() => exit::TEMP_FAIL,
                _ => exit::UNAVAILABLE,
            },
        }
    }

    /// Advice for the common cases, printed after the error line.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Unavailable { hint, .. } => hint.clone(),
            Error::Gssapi(error) => error.hint(),
            Error::Tls(message) if message.contains("pinned") => Some(
                "the server presents another certificate than the one you pinned; if it was \
                 renewed, check the new one with popget info --insecure and update --fingerprint"
                    .to_string(),
            ),
            Error::Tls(message) if message.contains("certificate") => Some(
                "if the server uses a private CA or a self-signed certificate, pass it with \
                 --ca-file PEM, or pin it with --fingerprint (popget info --insecure shows it)"
                    .to_string(),
            ),
            Error::Connection { source, .. }
                if source
                    .get_ref()
                    .is_some_and(|e| e.is::<crate::transport::NoGreeting>()) =>
            {
                Some(
                    "is this a POP3S port (TLS from the first byte, usually 995)? Then use \
                     --tls implicit"
                        .to_string(),
                )
            }
            Error::CorruptState { .. } => Some(
                "popget fetch --rebuild-state marks every message now on the server as fetched \
                 (without downloading); or move the file away to fetch everything again"
                    .to_string(),
            ),
            _ => None,
        }
    }

    /// Whether writing our own output failed because the reader went away.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
    }

    /// Whether the error came from the connection rather than local storage.
    pub fn is_connection_lost(&self) -> bool {
        matches!(self, Error::Connection { .. })
    }
}

fn describe_io(error: &io::Error) -> String {
    if let Some(own) = error.get_ref() {
        // A message of our own (such as the session deadline's) says more than the kind.
        return own.to_string();
    }
    match error.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => "timed out".to_string(),
        io::ErrorKind::UnexpectedEof => "connection closed by the server".to_string(),
        _ => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_by_response_code() {
        let refused = |code| Error::Refused {
            command: "PASS",
            code,
            text: String::new(),
        };
        assert_eq!(
            refused(Some(ResponseCode::InUse)).exit_code(),
            exit::TEMP_FAIL
        );
        assert_eq!(
            refused(Some(ResponseCode::SysTemp)).exit_code(),
            exit::TEMP_FAIL
        );
        assert_eq!(
            refused(Some(ResponseCode::SysPerm)).exit_code(),
            exit::UNAVAILABLE
        );
        assert_eq!(refused(None).exit_code(), exit::UNAVAILABLE);
    }

    #[test]
    fn timeouts_read_as_timeouts() {
        let error = Error::Connection {
            peer: "h:995".into(),
            source: io::Error::from(io::ErrorKind::WouldBlock),
        };
        assert_eq!(error.to_string(), "connection to h:995: timed out");
        assert_eq!(error.exit_code(), exit::IO_ERR);
    }
}
