//! The library's typed errors and the sysexits status each one maps to.

use std::io;
use std::path::PathBuf;

pub use crate::config::error::ConfigError;
use crate::credentials::netrc::NetrcError;
use crate::credentials::oauth::OAuthError;
pub use crate::credentials::password::PasswordError;
use crate::durable::CantCreateDir;
use crate::external::RunError;
#[cfg(feature = "gssapi")]
use crate::pop3::gssapi::GssapiError;
use crate::pop3::{ProtocolError, ResponseCode};

pub use crate::exit;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the user can change when a server cannot give what is required; the command line
/// words it with its own flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remedy {
    /// Another login method.
    OtherLogin,
    /// TLS, or a clear-text login chosen on purpose.
    EncryptOrClearTextLogin,
    /// TLS on connect, on the POP3S port.
    ImplicitTls,
    /// STLS on this port, or TLS on connect on the POP3S port.
    StarttlsOrImplicitTls,
    /// Let `config add` guess the server's host name.
    GuessHost,
    /// A reachable, unlocked OS keyring, or another password source.
    Keyring,
}

/// The server said nothing within the greeting's time (the payload of the connection error):
/// probably a POP3S port reached without TLS.
#[derive(Debug)]
pub struct NoGreeting {
    pub waited: std::time::Duration,
}

impl std::fmt::Display for NoGreeting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "timed out: the server sent no greeting within {} s",
            self.waited.as_secs()
        )
    }
}

impl std::error::Error for NoGreeting {}

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

/// What went wrong with TLS, as the hints need to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFailure {
    /// TLS could not be set up locally (a CA file that cannot be used, say).
    Setup,
    /// The certificate did not verify against the trusted roots or the name.
    CertificateRejected,
    /// The certificate is not the pinned one.
    PinMismatch,
    /// Any other handshake failure.
    Handshake,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line is wrong.
    #[error("{0}")]
    Usage(String),
    /// The state file cannot be read as one.
    #[error("state file {}: {detail}", path.display())]
    CorruptState { path: PathBuf, detail: String },
    /// A file popget keeps beside the state (the set-aside messages, the status) cannot be
    /// read as one.
    #[error("{}: {detail}", path.display())]
    CorruptFile { path: PathBuf, detail: String },
    /// The server cannot give what is required (TLS, STLS, UIDL, an acceptable login method).
    #[error("{message}")]
    Unavailable {
        message: String,
        /// What the user could change, for the command line to word as a hint.
        remedy: Option<Remedy>,
    },
    /// TLS could not be set up, the handshake failed, or the certificate was rejected.
    #[error("TLS: {detail}")]
    Tls { failure: TlsFailure, detail: String },
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
    /// A destination server (IMAP, LMTP) broke its protocol: the run stops, nothing of the
    /// message in flight is recorded.
    #[error("{0}")]
    DestinationProtocol(String),
    /// The server broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// The server rejected the credentials.
    #[error("{0}")]
    AuthFailed(String),
    /// The configuration (file, environment or password source) is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The MDA refused a message (a permanent failure for that message).
    #[error("{0}")]
    Rejected(String),
    /// The SOCKS5 proxy gave no tunnel to the server.
    #[error(transparent)]
    Proxy(#[from] crate::transport::proxy::ProxyError),
    /// Kerberos (SASL GSSAPI) could not log in: no ticket, an expired one, an unknown service.
    #[cfg(feature = "gssapi")]
    #[error(transparent)]
    Gssapi(#[from] GssapiError),
    /// No password could be had, or its source failed (kept apart from other configuration
    /// problems: "no password" and "the password command failed" are different advice).
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// No OAuth2 access token could be had: not logged in, the login expired or was revoked,
    /// the token endpoint is down. Its exit status is the OAuth error's own.
    #[error(transparent)]
    OAuth(#[from] OAuthError),
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

    /// A configuration problem about no setting in particular.
    pub fn config(message: impl Into<String>) -> Self {
        Error::Config(ConfigError::new(message))
    }

    /// A configuration problem about the settings `keys`.
    pub fn config_about(keys: &[&'static str], message: impl Into<String>) -> Self {
        Error::Config(ConfigError::about(keys, message))
    }

    /// A configuration problem about the settings `keys` of an account its message names.
    pub fn config_of_account(keys: &[&'static str], message: impl Into<String>) -> Self {
        Error::Config(ConfigError::about(keys, message).naming_account())
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Error::Unavailable {
            message: message.into(),
            remedy: None,
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => exit::USAGE,
            Error::CorruptState { .. } | Error::CorruptFile { .. } => exit::DATA_ERR,
            Error::Unavailable { .. } | Error::Tls { .. } => exit::UNAVAILABLE,
            Error::CantCreate { .. } | Error::Rejected(_) => exit::CANT_CREATE,
            Error::Io { .. } | Error::Connection { .. } => exit::IO_ERR,
            Error::Temporary(_) => exit::TEMP_FAIL,
            Error::Protocol(_) | Error::DestinationProtocol(_) => exit::PROTOCOL,
            Error::AuthFailed(_) => exit::NO_PERM,
            Error::Config(_) => exit::CONFIG,
            Error::Proxy(error) => error.exit_code(),
            #[cfg(feature = "gssapi")]
            Error::Gssapi(error) => gssapi_exit_code(error),
            Error::Password(error) => error.exit_code(),
            Error::OAuth(error) => error.exit_code(),
            Error::Refused { code, .. } => match code {
                Some(code) if code.is_temporary() => exit::TEMP_FAIL,
                _ => exit::UNAVAILABLE,
            },
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

impl From<RunError> for Error {
    fn from(error: RunError) -> Error {
        Error::Io {
            context: format!("cannot {} {:?}", error.action, error.command),
            source: error.source,
        }
    }
}

impl From<CantCreateDir> for Error {
    fn from(error: CantCreateDir) -> Error {
        Error::CantCreate {
            path: error.path,
            source: error.source,
        }
    }
}

/// A `.netrc` that cannot be read, or that others can read, is a problem of configuration.
impl From<NetrcError> for Error {
    fn from(error: NetrcError) -> Error {
        Error::config(error.to_string())
    }
}

/// A POP3 failure as popget reports it: the kinds of failure that share an exit status with
/// failures elsewhere (a refused greeting is temporary or unavailable) become those.
impl From<crate::pop3::Error> for Error {
    fn from(error: crate::pop3::Error) -> Error {
        use crate::pop3::Error as Pop3;
        match error {
            Pop3::Connection { peer, source } => Error::Connection { peer, source },
            Pop3::Protocol(error) => Error::Protocol(error),
            Pop3::ListingTooLarge {
                what,
                limit,
                entries,
            } => Error::Protocol(ProtocolError::new(format!(
                "the {what} answer would take more than {} of memory after {entries} entries \
                 (raise --max-listing if the maildrop really is that large)",
                binary_size(limit)
            ))),
            Pop3::GreetingRefused { code, text } => {
                let message = format!("the server refused the connection: {text}");
                match code {
                    Some(code) if code.is_temporary() => Error::Temporary(message),
                    _ => Error::unavailable(message),
                }
            }
            Pop3::StlsRefused { text } => Error::Unavailable {
                message: format!("the server refused STLS: {text}"),
                remedy: Some(Remedy::ImplicitTls),
            },
            Pop3::Refused {
                command,
                code,
                text,
            } => Error::Refused {
                command,
                code,
                text,
            },
            Pop3::Output(source) => Error::io("cannot write the output", source),
            Pop3::Sasl { mechanism, reason } => Error::AuthFailed(format!("{mechanism}: {reason}")),
            Pop3::InvalidInput(message) => Error::config(message),
            #[cfg(feature = "gssapi")]
            Pop3::Gssapi(error) => Error::Gssapi(error),
        }
    }
}

/// The sysexits status of a Kerberos failure: what the user fixes with `kinit` or the
/// principal's names is a permission problem (77), an unreachable KDC may pass (75), a broken
/// exchange is the server's fault (76).
#[cfg(feature = "gssapi")]
fn gssapi_exit_code(error: &GssapiError) -> u8 {
    match error {
        GssapiError::NoTicket { .. }
        | GssapiError::TicketExpired { .. }
        | GssapiError::UnknownService { .. }
        | GssapiError::Failed { .. }
        | GssapiError::Refused { .. }
        | GssapiError::NotMutual { .. }
        | GssapiError::Incomplete => exit::NO_PERM,
        GssapiError::KdcUnreachable { .. } => exit::TEMP_FAIL,
        GssapiError::BadLayerOffer { .. }
        | GssapiError::LayerRequired { .. }
        | GssapiError::UnexpectedChallenge => exit::PROTOCOL,
    }
}

/// A size in binary units as people read them: `512 B`, `4.00 KiB`, `8.00 MiB`.
fn binary_size(octets: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if octets < 1024 {
        return format!("{octets} B");
    }
    let mut value = octets as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2} {}", UNITS[unit])
}

/// An I/O error in popget's words: our own message when it carries one, "timed out" and
/// "connection closed by the server" for those kinds, else the system's.
pub fn describe_io(error: &io::Error) -> String {
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

    #[cfg(feature = "gssapi")]
    #[test]
    fn kerberos_failures_map_to_exit_codes_and_hints() {
        use crate::pop3::gssapi::{GssError, MajorFlags, Target};
        let failure = |major, minor: i32| GssError {
            major,
            minor: minor as u32,
        };
        let target = Target::pop("localhost");
        let no_cache = Error::from(GssapiError::classify(
            &target,
            failure(MajorFlags::GSS_S_NO_CRED, -1_765_328_189),
        ));
        assert_eq!(no_cache.exit_code(), exit::NO_PERM);
        let unknown = Error::from(GssapiError::classify(
            &target,
            failure(MajorFlags::GSS_S_FAILURE, -1_765_328_377),
        ));
        assert_eq!(unknown.exit_code(), exit::NO_PERM);
        let layer = Error::from(GssapiError::LayerRequired { offered: 6 });
        assert_eq!(layer.exit_code(), exit::PROTOCOL);
    }

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(binary_size(512), "512 B");
        assert_eq!(binary_size(4096), "4.00 KiB");
        assert_eq!(binary_size(8 << 20), "8.00 MiB");
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
