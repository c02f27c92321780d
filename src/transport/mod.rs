//! Connections: TCP with timeouts, TLS on connect (POP3S) or after STLS, and the certificate
//! policy (system roots, a CA file, or an explicit --insecure).

pub mod dial;
pub mod proxy;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use native_tls::{Certificate, HandshakeError, Protocol, TlsConnector, TlsStream};

use crate::error::{Error, NoGreeting, Remedy, Result, TlsFailure};
use crate::pop3::Security;
use crate::transport::dial::DialError;

/// When TLS starts (`--tls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    /// POP3S: TLS from the first byte (port 995).
    Implicit,
    /// Plain connection upgraded with STLS before login (port 110); refused if the server
    /// cannot do it.
    Starttls,
    /// No encryption at all; passwords are then sent only with APOP or an explicit --auth user.
    None,
}

impl TlsMode {
    /// The name the configuration file and the command line use.
    pub fn name(self) -> &'static str {
        match self {
            TlsMode::Implicit => "implicit",
            TlsMode::Starttls => "starttls",
            TlsMode::None => "none",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            TlsMode::Implicit => 995,
            TlsMode::Starttls | TlsMode::None => 110,
        }
    }
}

/// How the server's certificate is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertificatePolicy {
    /// Trust the certificates in this PEM file instead of the system store.
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate (the user asked for it; a warning is printed on every run).
    pub insecure: bool,
    /// Accept exactly the certificate with this SHA-256 digest (lowercase hex), whatever its
    /// issuer or names: the user pinned it.
    pub fingerprint: Option<String>,
}

/// The longest a whole session may take by default (`--session-timeout`): a server that
/// trickles bytes just inside the idle timeout is cut off here.
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(3600);

/// A TCP connection with two clocks: each read or write may wait at most `idle`, and nothing
/// is read or written after `deadline`, the end of the session's time. The TLS handshake runs
/// over it too, so both bound the handshake as well.
#[derive(Debug)]
pub struct TimedTcp {
    tcp: TcpStream,
    idle: Duration,
    deadline: Instant,
    session_timeout: Duration,
    /// The read timeout now set on the socket.
    armed: Duration,
    /// A shorter wait for the first octet (the greeting), until it arrives.
    greeting: Option<Duration>,
    /// The first octets read, kept while a TLS handshake may need them to explain its failure.
    first_octets: Option<Arc<Mutex<Vec<u8>>>>,
}

/// How many octets [`TimedTcp`] keeps for explaining a failed handshake.
const FIRST_OCTETS: usize = 64;

/// The longest popget waits for a greeting, whatever `--timeout` says: a server that says
/// nothing is most likely waiting for a TLS handshake (a POP3S port reached without TLS).
pub const GREETING_TIMEOUT: Duration = Duration::from_secs(10);

impl TimedTcp {
    /// Wraps a connected socket; the session's time starts now.
    pub fn new(tcp: TcpStream, idle: Duration, session_timeout: Duration) -> io::Result<Self> {
        tcp.set_read_timeout(Some(idle))?;
        tcp.set_write_timeout(Some(idle))?;
        Ok(TimedTcp {
            tcp,
            idle,
            deadline: dial::deadline_after(session_timeout),
            session_timeout,
            armed: idle,
            greeting: None,
            first_octets: None,
        })
    }

    /// Waits at most `limit` (or the idle timeout, if shorter) for the first octet.
    pub fn limit_greeting(&mut self, limit: Duration) {
        self.greeting = Some(limit);
    }

    /// The read timeout for the next read.
    fn idle_now(&self) -> Duration {
        self.greeting
            .map_or(self.idle, |limit| self.idle.min(limit))
    }

    /// Sets the socket's timeouts to the idle timeout or, near the deadline, to what is left;
    /// fails once the deadline has passed.
    fn arm(&mut self) -> io::Result<()> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the session took longer than {} (session_timeout, --session-timeout)",
                    seconds(self.session_timeout)
                ),
            ));
        }
        let wanted = self.idle_now().min(left);
        if wanted != self.armed {
            self.tcp.set_read_timeout(Some(wanted))?;
            self.tcp.set_write_timeout(Some(wanted))?;
            self.armed = wanted;
        }
        Ok(())
    }

    /// Turns a timeout that the deadline caused into the deadline's own error.
    fn explain(&mut self, error: io::Error) -> io::Error {
        let timed_out = matches!(
            error.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        );
        if timed_out && self.armed < self.idle {
            if let Err(deadline) = self.arm() {
                return deadline;
            }
        }
        if timed_out && self.greeting.is_some() {
            return io::Error::new(io::ErrorKind::TimedOut, NoGreeting { waited: self.armed });
        }
        error
    }
}

impl Read for TimedTcp {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm()?;
        // Acknowledge what arrived at once: a server with Nagle's algorithm on (Dovecot) holds
        // a second small answer (PASS's, after USER's) until the first is acknowledged, and a
        // delayed ACK made every login wait 40 ms. Linux forgets the setting after a while, so
        // it is renewed before each read; elsewhere it does not exist and nothing is lost.
        #[cfg(target_os = "linux")]
        let _ = rustix::net::sockopt::set_tcp_quickack(&self.tcp, true);
        let n = self.tcp.read(buf).map_err(|e| self.explain(e))?;
        if n > 0 {
            self.greeting = None;
            if let Some(first) = &self.first_octets {
                let mut first = first.lock().unwrap_or_else(|p| p.into_inner());
                let room = FIRST_OCTETS.saturating_sub(first.len());
                first.extend_from_slice(buf.get(..n.min(room)).unwrap_or_default());
            }
        }
        Ok(n)
    }
}

impl Write for TimedTcp {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm()?;
        self.tcp.write(buf).map_err(|e| self.explain(e))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

fn seconds(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

/// A connection, before or after TLS.
pub enum Stream {
    Plain(TimedTcp),
    Tls(Box<TlsStream<TimedTcp>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.read(buf),
            Stream::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.write(buf),
            Stream::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(tcp) => tcp.flush(),
            Stream::Tls(tls) => tls.flush(),
        }
    }
}

impl Stream {
    /// The raw TCP stream, for the STLS upgrade.
    pub fn into_tcp(self) -> Result<TimedTcp> {
        match self {
            Stream::Plain(tcp) => Ok(tcp),
            Stream::Tls(_) => Err(crate::pop3::ProtocolError::new("STLS inside TLS").into()),
        }
    }

    /// The socket underneath, for shutting it down from another thread (see `signals`).
    pub fn socket(&self) -> &TcpStream {
        match self {
            Stream::Plain(tcp) => &tcp.tcp,
            Stream::Tls(tls) => &tls.get_ref().tcp,
        }
    }

    /// The TLS session's details, if any.
    pub fn tls(&self) -> Option<&TlsStream<TimedTcp>> {
        match self {
            Stream::Plain(_) => None,
            Stream::Tls(tls) => Some(tls),
        }
    }
}

/// Opens a TCP connection, directly to one of the addresses the host resolves to or through
/// `proxy`, with `timeout` for the connect and for every later read and write, and
/// `session_timeout` for all of it together.
pub fn connect_tcp(
    host: &str,
    port: u16,
    proxy: Option<&crate::transport::proxy::Proxy>,
    timeout: Duration,
    session_timeout: Duration,
) -> Result<TimedTcp> {
    let peer = || format!("{host}:{port}");
    let tcp = match proxy {
        Some(proxy) => crate::transport::proxy::connect(proxy, host, port, timeout)?,
        None => {
            crate::transport::dial::connect(host, port, timeout).map_err(|error| match error {
                DialError::Failed { source, .. }
                    if matches!(
                        source.kind(),
                        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                    ) =>
                {
                    Error::Connection {
                        peer: peer(),
                        source,
                    }
                }
                other => Error::Temporary(other.to_string()),
            })?
        }
    };
    tcp.set_nodelay(true)
        .and_then(|()| TimedTcp::new(tcp, timeout, session_timeout))
        .map_err(|source| Error::Connection {
            peer: peer(),
            source,
        })
}

/// Performs the TLS handshake (TLS 1.2 at least) and checks the certificate against `host`.
/// The socket's timeouts bound the handshake.
pub fn start_tls(
    tcp: TimedTcp,
    host: &str,
    policy: &CertificatePolicy,
    after_stls: bool,
) -> Result<(Stream, Security)> {
    let connector = cached_connector(policy)?;
    // What the server sends during the handshake, to tell a plain POP3 greeting (a plain port
    // reached with TLS) from a TLS failure.
    let first_octets = Arc::new(Mutex::new(Vec::new()));
    let mut tcp = tcp;
    tcp.first_octets = Some(first_octets.clone());
    match connector.connect(host, tcp) {
        Ok(mut tls) => {
            tls.get_mut().first_octets = None;
            if let Some(pinned) = &policy.fingerprint {
                check_pin(&tls, pinned)?;
            }
            let security = if policy.insecure {
                Security::TlsUnverified
            } else {
                Security::Tls
            };
            Ok((Stream::Tls(Box::new(tls)), security))
        }
        Err(HandshakeError::Failure(e)) => {
            let first = first_octets
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            Err(handshake_failure(host, &first, after_stls, &e))
        }
        Err(HandshakeError::WouldBlock(_)) => Err(Error::io(
            format!("TLS handshake with {host}"),
            io::Error::from(io::ErrorKind::TimedOut),
        )),
    }
}

/// The TLS connectors built so far, by policy. Building one loads the system's trusted roots,
/// which takes OpenSSL about 45 ms of CPU here: a daemon polling hundreds of accounts over TLS
/// paid it on every poll, and `fetch` once per account.
static CONNECTORS: Mutex<Vec<(CertificatePolicy, TlsConnector)>> = Mutex::new(Vec::new());

/// The connector for `policy`, built once (and again after [`forget_tls_connectors`]).
fn cached_connector(policy: &CertificatePolicy) -> Result<TlsConnector> {
    let mut connectors = CONNECTORS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, connector)) = connectors.iter().find(|(built_for, _)| built_for == policy) {
        return Ok(connector.clone());
    }
    let connector = tls_connector(policy)?;
    connectors.push((policy.clone(), connector.clone()));
    Ok(connector)
}

/// Drops the connectors built so far, so that the next connection reads the trusted roots and
/// CA files again (`popget daemon` on SIGHUP).
pub fn forget_tls_connectors() {
    CONNECTORS.lock().unwrap_or_else(|p| p.into_inner()).clear();
}

/// The TLS connector for `policy`: TLS 1.2 at least, its CA file, and no checks with a pin or
/// `--insecure`.
fn tls_connector(policy: &CertificatePolicy) -> Result<TlsConnector> {
    let mut builder = TlsConnector::builder();
    builder.min_protocol_version(Some(Protocol::Tlsv12));
    if let Some(path) = &policy.ca_file {
        let certificates = read_ca_file(path)?;
        builder.disable_built_in_roots(true);
        for certificate in certificates {
            builder.add_root_certificate(certificate);
        }
    }
    if policy.insecure || policy.fingerprint.is_some() {
        // With a pin, the chain and names are not what is trusted: the exact certificate is,
        // and it is checked below before anything is sent.
        builder.danger_accept_invalid_certs(true);
        builder.danger_accept_invalid_hostnames(true);
    }
    builder.build().map_err(|e| Error::Tls {
        failure: TlsFailure::Setup,
        detail: format!("cannot set up TLS: {e}"),
    })
}

/// The certificates of a PEM CA file; at least one.
fn read_ca_file(path: &std::path::Path) -> Result<Vec<Certificate>> {
    let pem = std::fs::read(path)
        .map_err(|e| Error::config(format!("cannot read CA file {}: {e}", path.display())))?;
    let certificates = Certificate::stack_from_pem(&pem).map_err(|e| {
        Error::config(format!(
            "CA file {} holds no usable certificate: {e}",
            path.display()
        ))
    })?;
    if certificates.is_empty() {
        return Err(Error::config(format!(
            "CA file {} holds no certificate",
            path.display()
        )));
    }
    Ok(certificates)
}

/// The error for a failed handshake: a plain-text POP3 answer (`first` octets) is told apart
/// from a TLS failure.
fn handshake_failure(
    host: &str,
    first: &[u8],
    after_stls: bool,
    error: &native_tls::Error,
) -> Error {
    match plain_greeting(first) {
        Some(text) if after_stls => Error::unavailable(format!(
            "TLS handshake with {host}: after STLS the server answered in plain text \
             ({text}) instead of starting TLS; nothing was sent"
        )),
        Some(greeting) => Error::Unavailable {
            message: format!(
                "TLS handshake with {host}: the server answered in plain text \
                 ({greeting}), not TLS: this port speaks POP3 without TLS"
            ),
            remedy: Some(Remedy::StarttlsOrImplicitTls),
        },
        None => handshake_error(error),
    }
}

/// Fails unless the server's certificate is exactly the pinned one.
fn check_pin(tls: &TlsStream<TimedTcp>, pinned: &str) -> Result<()> {
    let presented = tls
        .peer_certificate()
        .ok()
        .flatten()
        .and_then(|certificate| certificate.to_der().ok())
        .map(|der| fingerprint(&der));
    let expected = format!("SHA256:{pinned}");
    if presented.as_deref() == Some(expected.as_str()) {
        return Ok(());
    }
    Err(Error::Tls {
        failure: TlsFailure::PinMismatch,
        detail: format!(
            "the server's certificate does not match the pinned fingerprint (expected \
             {expected}, got {})",
            presented.as_deref().unwrap_or("no certificate")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A server that sends one byte every 50 ms, for as long as the client listens.
    fn trickling_server() -> (u16, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let thread = std::thread::spawn(move || {
            let (mut client, _) = listener.accept().unwrap();
            for _ in 0..200 {
                if client.write_all(b"x").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        (port, thread)
    }

    #[test]
    fn a_trickling_server_is_cut_off_at_the_session_deadline() {
        // A slowloris server: every read arrives well inside the idle timeout, and the session
        // as a whole still ends at its deadline.
        let (port, server) = trickling_server();
        let started = Instant::now();
        let mut tcp = connect_tcp(
            "127.0.0.1",
            port,
            None,
            Duration::from_secs(5),
            Duration::from_millis(600),
        )
        .unwrap();
        let mut buf = [0u8; 16];
        let mut received = 0;
        let error = loop {
            match tcp.read(&mut buf) {
                Ok(n) => received += n,
                Err(e) => break e,
            }
        };
        let elapsed = started.elapsed();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(error.to_string().contains("--session-timeout"), "{error}");
        assert!(received >= 5, "{received}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
        drop(tcp);
        server.join().unwrap();
    }

    #[test]
    fn a_silent_server_is_cut_off_at_the_deadline_not_the_idle_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let started = Instant::now();
        let mut tcp = connect_tcp(
            "127.0.0.1",
            port,
            None,
            Duration::from_secs(30),
            Duration::from_millis(300),
        )
        .unwrap();
        let error = tcp.read(&mut [0u8; 4]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut, "{error}");
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(listener);
    }

    #[test]
    fn reads_pinned_fingerprints() {
        let hex = "ab".repeat(32);
        let colons: Vec<String> = (0..32).map(|_| "AB".to_string()).collect();
        let colons = colons.join(":");
        for form in [
            format!("SHA256:{hex}"),
            format!("sha256:{hex}"),
            format!("SHA256:{colons}"),
            format!("Sha256:{colons}"),
            // As `openssl x509 -fingerprint -sha256` prints it (OpenSSL 3 and 1.1).
            format!("sha256 Fingerprint={colons}"),
            format!("SHA256 Fingerprint={colons}\n"),
            // As providers print it, without the algorithm: 64 digits can only be SHA-256.
            colons.clone(),
            colons.to_ascii_lowercase(),
            hex.clone(),
        ] {
            assert_eq!(parse_fingerprint(&form), Some(hex.clone()), "{form}");
        }
        assert_eq!(parse_fingerprint("SHA256:abcd"), None);
        assert_eq!(
            parse_fingerprint(&"ab".repeat(20)),
            None,
            "a SHA-1 is too short"
        );
        assert_eq!(parse_fingerprint(&format!("SHA1:{hex}")), None);
        assert_eq!(
            parse_fingerprint(&format!("SHA256:{}", "zz".repeat(32))),
            None
        );
    }
}

/// The start of a POP3 status line, made safe to print, when `octets` begin with one: what a
/// plain POP3 server sends where a TLS ServerHello was expected.
fn plain_greeting(octets: &[u8]) -> Option<String> {
    if !(octets.starts_with(b"+OK") || octets.starts_with(b"-ERR")) {
        return None;
    }
    let line = octets
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or_default();
    Some(format!("\"{}\"", crate::pop3::sanitize(line)))
}

/// OpenSSL's reason code for a certificate that did not verify (`SSL_R_CERTIFICATE_VERIFY_FAILED`
/// in its `sslerr.h`).
const CERTIFICATE_VERIFY_FAILED: i32 = 134;

/// A failed handshake, told apart by OpenSSL's error codes in its source chain rather than by
/// the wording of any message.
fn handshake_error(error: &native_tls::Error) -> Error {
    let mut source = std::error::Error::source(error);
    let mut rejected = false;
    while let Some(cause) = source {
        if let Some(stack) = cause.downcast_ref::<openssl::error::ErrorStack>() {
            rejected |= stack
                .errors()
                .iter()
                .any(|e| e.reason_code() == CERTIFICATE_VERIFY_FAILED);
        }
        source = cause.source();
    }
    if rejected {
        Error::Tls {
            failure: TlsFailure::CertificateRejected,
            detail: format!("the server's certificate was rejected ({error})"),
        }
    } else {
        Error::Tls {
            failure: TlsFailure::Handshake,
            detail: format!("handshake failed ({error})"),
        }
    }
}

/// What `popget info` shows of the server's certificate; every field is made safe to print.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CertificateInfo {
    pub subject: String,
    pub issuer: String,
    pub not_before: String,
    pub not_after: String,
    /// `SHA256:` and the lowercase hex SHA-256 of the DER certificate: the value to pin.
    pub sha256: String,
}

impl Stream {
    /// The server's certificate, when the stream is TLS.
    pub fn certificate(&self) -> Option<CertificateInfo> {
        let der = self.tls()?.peer_certificate().ok()??.to_der().ok()?;
        certificate_info(&der)
    }
}

/// Reads a pinned fingerprint: 64 hex digits, in any case, with or without colons between the
/// pairs, optionally after `SHA256:` (as `popget info` prints it), `SHA256 Fingerprint=` or
/// `sha256 Fingerprint=` (as `openssl x509 -fingerprint -sha256` prints it), in any case.
/// Returns the lowercase hex.
pub fn parse_fingerprint(text: &str) -> Option<String> {
    let text = text.trim();
    let lower = text.to_ascii_lowercase();
    let hex = ["sha256 fingerprint=", "sha256:", "sha-256:"]
        .iter()
        .find_map(|prefix| lower.strip_prefix(prefix))
        .unwrap_or(&lower);
    let hex: String = hex.trim().chars().filter(|&c| c != ':').collect();
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// The pinning form of a certificate's fingerprint.
pub fn fingerprint(der: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(der);
    format!("SHA256:{}", hex::encode(digest))
}

fn certificate_info(der: &[u8]) -> Option<CertificateInfo> {
    let certificate = openssl::x509::X509::from_der(der).ok()?;
    let name = |name: &openssl::x509::X509NameRef| {
        let parts: Vec<String> = name
            .entries()
            .map(|entry| {
                let key = entry.object().nid().short_name().unwrap_or("?");
                let value = entry.data().as_slice();
                format!("{key}={}", crate::pop3::sanitize(value))
            })
            .collect();
        parts.join(", ")
    };
    Some(CertificateInfo {
        subject: name(certificate.subject_name()),
        issuer: name(certificate.issuer_name()),
        not_before: certificate.not_before().to_string(),
        not_after: certificate.not_after().to_string(),
        sha256: fingerprint(der),
    })
}
