//! SOCKS5 proxies (RFC 1928, with RFC 1929's user name and password): the proxy URL, and the
//! handshake that turns a connection to the proxy into a tunnel to the POP3 server.
//!
//! Written here rather than taken from the `socks` crate (last released in 2022): its connect
//! has no timeout, and its failures are strings, where popget must tell a refused login (exit
//! 77) from a proxy that is down or cannot reach the server (exit 75).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::exit;
use crate::transport::dial::{self, DialError};

/// Where names are resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// `socks5://`: here, and the proxy is given addresses.
    Local,
    /// `socks5h://`: by the proxy, which is given the name (what Tor needs; no DNS query for
    /// the server leaves this machine).
    Proxy,
}

/// A SOCKS5 proxy: `socks5h://[USER:PASSWORD@]HOST[:PORT]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    pub host: String,
    pub port: u16,
    pub resolution: Resolution,
    login: Option<(String, String)>,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("resolution", &self.resolution)
            .field("user", &self.login.as_ref().map(|(user, _)| user))
            .finish()
    }
}

impl fmt::Display for Proxy {
    /// The proxy as `HOST:PORT`, never with its password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&dial::host_port(&self.host, self.port))
    }
}

/// The port of a proxy URL without one (Tor's is 9050).
pub const DEFAULT_PORT: u16 = 1080;

impl Proxy {
    /// Reads a proxy URL; the error says what is wrong, without repeating a password.
    pub fn parse(url: &str) -> Result<Proxy, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or("a proxy URL starts with socks5h:// or socks5://")?;
        let resolution = match scheme.to_ascii_lowercase().as_str() {
            "socks5h" => Resolution::Proxy,
            "socks5" => Resolution::Local,
            _ => {
                return Err(format!(
                    "the proxy scheme {scheme:?} is not socks5h or socks5"
                ))
            }
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err("a proxy URL has no path, query or fragment".into());
        }
        let (login, hostport) = match rest.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(parse_login(userinfo)?), hostport),
            None => (None, rest),
        };
        let (host, port) = split_host_port(hostport)?;
        Ok(Proxy {
            host,
            port: port.unwrap_or(DEFAULT_PORT),
            resolution,
            login,
        })
    }
}

fn parse_login(userinfo: &str) -> Result<(String, String), String> {
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let decode = |text: &str, what: &str| {
        percent_decode(text).ok_or_else(|| format!("the proxy {what} has a broken %-escape"))
    };
    let (user, password) = (decode(user, "user")?, decode(password, "password")?);
    // RFC 1929 gives each one octet of length.
    if user.is_empty() || user.len() > 255 || password.len() > 255 {
        return Err(
            "the proxy user name must have 1 to 255 bytes, the password at most 255".into(),
        );
    }
    Ok((user, password))
}

fn split_host_port(hostport: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or("the proxy address has an unclosed [")?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':').ok_or("junk after ]")?)),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the proxy URL has no valid host".into());
    }
    let port = port
        .map(|port| port.parse::<u16>().ok().filter(|&port| port > 0))
        .map(|port| port.ok_or("the proxy port is not a number from 1 to 65535"))
        .transpose()?;
    Ok((host.to_string(), port))
}

fn percent_decode(text: &str) -> Option<String> {
    if !escapes_are_well_formed(text) {
        return None;
    }
    percent_encoding::percent_decode(text.as_bytes())
        .decode_utf8()
        .ok()
        .map(|decoded| decoded.into_owned())
}

/// Whether every `%` in `text` is followed by two hex digits (the crate's decoder passes a
/// broken escape through as it is, which in a user name or password would hide a typo).
pub(crate) fn escapes_are_well_formed(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'%')
        .all(|(at, _)| {
            matches!(bytes.get(at + 1..at + 3), Some([high, low])
                if high.is_ascii_hexdigit() && low.is_ascii_hexdigit())
        })
}

/// Why the proxy gave no tunnel.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("cannot reach the proxy {proxy}: {source}")]
    Unreachable {
        proxy: String,
        #[source]
        source: DialError,
    },
    /// With `socks5://`, the server's name could not be resolved here.
    #[error("{0}")]
    Resolve(#[source] DialError),
    #[error("the connection to the proxy {proxy} failed during the SOCKS5 handshake: {source}")]
    Io {
        proxy: String,
        #[source]
        source: io::Error,
    },
    #[error("the proxy {proxy} does not speak SOCKS5 as expected: {detail}")]
    Protocol { proxy: String, detail: String },
    #[error(
        "the proxy {proxy} requires a user name and password: give them in the proxy URL \
         (socks5h://USER:PASSWORD@HOST:PORT)"
    )]
    LoginRequired { proxy: String },
    #[error("the proxy {proxy} accepts none of the login methods offered")]
    NoAcceptableMethod { proxy: String },
    #[error("the proxy {proxy} rejected the user name or password")]
    LoginRejected { proxy: String },
    #[error("the proxy {proxy} could not connect to {target}: {reply}")]
    Refused {
        proxy: String,
        target: String,
        reply: Reply,
    },
}

impl ProxyError {
    /// The sysexits status: a login problem is a permission problem (77), a rule that forbids
    /// the destination too; anything else may go away by itself (75).
    pub fn exit_code(&self) -> u8 {
        match self {
            ProxyError::LoginRequired { .. }
            | ProxyError::NoAcceptableMethod { .. }
            | ProxyError::LoginRejected { .. }
            | ProxyError::Refused {
                reply: Reply::NotAllowed,
                ..
            } => exit::NO_PERM,
            ProxyError::Protocol { .. }
            | ProxyError::Refused {
                reply: Reply::CommandNotSupported | Reply::AddressTypeNotSupported,
                ..
            } => exit::PROTOCOL,
            _ => exit::TEMP_FAIL,
        }
    }
}

/// A SOCKS5 reply other than success (RFC 1928, section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    GeneralFailure,
    NotAllowed,
    NetworkUnreachable,
    HostUnreachable,
    ConnectionRefused,
    TtlExpired,
    CommandNotSupported,
    AddressTypeNotSupported,
    Other(u8),
}

impl Reply {
    fn from_code(code: u8) -> Reply {
        match code {
            1 => Reply::GeneralFailure,
            2 => Reply::NotAllowed,
            3 => Reply::NetworkUnreachable,
            4 => Reply::HostUnreachable,
            5 => Reply::ConnectionRefused,
            6 => Reply::TtlExpired,
            7 => Reply::CommandNotSupported,
            8 => Reply::AddressTypeNotSupported,
            other => Reply::Other(other),
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            // Tor answers this for names it cannot resolve, among others.
            Reply::GeneralFailure => "general failure (for Tor: often a name it cannot resolve)",
            Reply::NotAllowed => "not allowed by the proxy's rules",
            Reply::NetworkUnreachable => "network unreachable",
            Reply::HostUnreachable => "host unreachable",
            Reply::ConnectionRefused => "connection refused",
            Reply::TtlExpired => "TTL expired",
            Reply::CommandNotSupported => "CONNECT not supported",
            Reply::AddressTypeNotSupported => "address type not supported",
            Reply::Other(code) => return write!(f, "unknown reply {code}"),
        };
        f.write_str(text)
    }
}

/// The destination as the proxy is told it.
enum Target<'a> {
    Address(SocketAddr),
    Name(&'a str, u16),
}

impl fmt::Display for Target<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Address(address) => write!(f, "{address}"),
            Target::Name(name, port) => write!(f, "{name}:{port}"),
        }
    }
}

/// Opens a tunnel through `proxy` to `host:port` within `timeout`. With `socks5h` a name is
/// passed to the proxy unresolved; with `socks5` each of its local addresses is tried in turn.
pub fn connect(
    proxy: &Proxy,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<TcpStream, ProxyError> {
    let deadline = dial::deadline_after(timeout);
    let host = dial::unbracket(host);
    if let Ok(ip) = host.parse::<IpAddr>() {
        return tunnel(proxy, &Target::Address(SocketAddr::new(ip, port)), deadline);
    }
    if proxy.resolution == Resolution::Proxy {
        return tunnel(proxy, &Target::Name(host, port), deadline);
    }
    // socks5:// asks for local resolution: the proxy then sees only addresses.
    let addresses = dial::resolve(host, port).map_err(ProxyError::Resolve)?;
    let mut last = None;
    for address in addresses {
        match tunnel(proxy, &Target::Address(address), deadline) {
            Err(error @ ProxyError::Refused { .. }) => last = Some(error),
            other => return other,
        }
    }
    Err(last.expect("resolve gives at least one address"))
}

/// One connection to the proxy and the SOCKS5 exchange on it.
fn tunnel(proxy: &Proxy, target: &Target, deadline: Instant) -> Result<TcpStream, ProxyError> {
    let name = proxy.to_string();
    let left = deadline.saturating_duration_since(Instant::now());
    let mut stream =
        dial::connect(&proxy.host, proxy.port, left).map_err(|source| ProxyError::Unreachable {
            proxy: name.clone(),
            source,
        })?;
    let io_error = |source| ProxyError::Io {
        proxy: name.clone(),
        source,
    };
    let left = deadline.saturating_duration_since(Instant::now());
    let limit = Some(left.max(Duration::from_millis(1)));
    stream
        .set_read_timeout(limit)
        .and_then(|()| stream.set_write_timeout(limit))
        .map_err(io_error)?;
    // The caller sets the session's own timeouts on the tunnel (`TimedTcp`).
    handshake(&mut stream, proxy, target)?;
    Ok(stream)
}

const VERSION: u8 = 5;
const NO_LOGIN: u8 = 0;
const USER_PASSWORD: u8 = 2;
const NO_ACCEPTABLE: u8 = 0xff;

/// Greeting, login if asked, CONNECT; the stream then carries the POP3 connection.
fn handshake<S: Read + Write>(
    stream: &mut S,
    proxy: &Proxy,
    target: &Target,
) -> Result<(), ProxyError> {
    let name = proxy.to_string();
    let io_error = |source| ProxyError::Io {
        proxy: name.clone(),
        source,
    };
    let protocol = |detail: String| ProxyError::Protocol {
        proxy: name.clone(),
        detail,
    };
    let greeting: &[u8] = match proxy.login {
        Some(_) => &[VERSION, 2, NO_LOGIN, USER_PASSWORD],
        None => &[VERSION, 1, NO_LOGIN],
    };
    stream.write_all(greeting).map_err(io_error)?;
    let mut choice = [0u8; 2];
    stream.read_exact(&mut choice).map_err(io_error)?;
    if choice[0] != VERSION {
        return Err(protocol(format!("it answered version {}", choice[0])));
    }
    match (choice[1], &proxy.login) {
        (NO_LOGIN, _) => {}
        (USER_PASSWORD, Some((user, password))) => {
            log_in(stream, user, password).map_err(|error| match error {
                LoginError::Io(source) => io_error(source),
                LoginError::Rejected => ProxyError::LoginRejected {
                    proxy: name.clone(),
                },
                LoginError::Version(version) => {
                    protocol(format!("its login answer has version {version}"))
                }
            })?
        }
        (NO_ACCEPTABLE, None) => return Err(ProxyError::LoginRequired { proxy: name }),
        (NO_ACCEPTABLE, Some(_)) => return Err(ProxyError::NoAcceptableMethod { proxy: name }),
        (method, _) => return Err(protocol(format!("it chose method {method}, not offered"))),
    }
    let request = connect_request(target).map_err(protocol)?;
    stream.write_all(&request).map_err(io_error)?;
    read_reply(stream).map_err(|error| match error {
        ReplyError::Io(source) => io_error(source),
        ReplyError::Malformed(detail) => protocol(detail),
        ReplyError::Refused(reply) => ProxyError::Refused {
            proxy: name.clone(),
            target: target.to_string(),
            reply,
        },
    })
}

enum LoginError {
    Io(io::Error),
    Rejected,
    Version(u8),
}

/// RFC 1929: version 1, the user name and the password, each after its length.
fn log_in<S: Read + Write>(stream: &mut S, user: &str, password: &str) -> Result<(), LoginError> {
    let mut request = vec![1, user.len() as u8];
    request.extend_from_slice(user.as_bytes());
    request.push(password.len() as u8);
    request.extend_from_slice(password.as_bytes());
    let sent = stream.write_all(&request);
    zeroize::Zeroize::zeroize(&mut request);
    sent.map_err(LoginError::Io)?;
    let mut status = [0u8; 2];
    stream.read_exact(&mut status).map_err(LoginError::Io)?;
    match status {
        [1, 0] => Ok(()),
        [1, _] => Err(LoginError::Rejected),
        [version, _] => Err(LoginError::Version(version)),
    }
}

fn connect_request(target: &Target) -> Result<Vec<u8>, String> {
    let mut request = vec![VERSION, 1, 0];
    let port = match target {
        Target::Address(SocketAddr::V4(address)) => {
            request.push(1);
            request.extend_from_slice(&address.ip().octets());
            address.port()
        }
        Target::Address(SocketAddr::V6(address)) => {
            request.push(4);
            request.extend_from_slice(&address.ip().octets());
            address.port()
        }
        Target::Name(name, port) => {
            let length = u8::try_from(name.len())
                .map_err(|_| format!("the host name {name:?} is longer than 255 bytes"))?;
            request.push(3);
            request.push(length);
            request.extend_from_slice(name.as_bytes());
            *port
        }
    };
    request.extend_from_slice(&port.to_be_bytes());
    Ok(request)
}

enum ReplyError {
    Io(io::Error),
    Malformed(String),
    Refused(Reply),
}

/// Reads the CONNECT reply to its last byte, so that the next byte read is the server's.
fn read_reply<S: Read>(stream: &mut S) -> Result<(), ReplyError> {
    let mut head = [0u8; 4];
    stream.read_exact(&mut head).map_err(ReplyError::Io)?;
    let [version, code, _, address_type] = head;
    if version != VERSION {
        return Err(ReplyError::Malformed(format!(
            "its reply has version {version}"
        )));
    }
    if code != 0 {
        return Err(ReplyError::Refused(Reply::from_code(code)));
    }
    let address_length = match address_type {
        1 => 4,
        4 => 16,
        3 => {
            let mut length = [0u8];
            stream.read_exact(&mut length).map_err(ReplyError::Io)?;
            usize::from(length[0])
        }
        other => {
            return Err(ReplyError::Malformed(format!(
                "its reply has address type {other}"
            )))
        }
    };
    let mut bound = vec![0u8; address_length + 2];
    stream.read_exact(&mut bound).map_err(ReplyError::Io)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream that answers with fixed bytes and records what was written.
    struct Scripted {
        input: io::Cursor<Vec<u8>>,
        written: Vec<u8>,
    }

    impl Scripted {
        fn new(input: &[u8]) -> Scripted {
            Scripted {
                input: io::Cursor::new(input.to_vec()),
                written: Vec::new(),
            }
        }
    }

    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.input.read(buf)
        }
    }

    impl Write for Scripted {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn reads_proxy_urls() {
        let proxy = Proxy::parse("socks5h://127.0.0.1:9050").unwrap();
        assert_eq!(
            (proxy.host.as_str(), proxy.port, proxy.resolution),
            ("127.0.0.1", 9050, Resolution::Proxy)
        );
        assert_eq!(proxy.login, None);
        let proxy = Proxy::parse("SOCKS5://me:p%40ss%3A@[::1]").unwrap();
        assert_eq!(
            (proxy.host.as_str(), proxy.port, proxy.resolution),
            ("::1", DEFAULT_PORT, Resolution::Local)
        );
        assert_eq!(proxy.login, Some(("me".into(), "p@ss:".into())));
        assert_eq!(proxy.to_string(), "[::1]:1080");
        assert!(!format!("{proxy:?}").contains("p@ss"));
        for bad in [
            "http://h:1",
            "h:1080",
            "socks5h://",
            "socks5h://h:0",
            "socks5h://h:99999",
            "socks5h://h/x",
            "socks5h://:pw@h",
            "socks5h://[::1",
            "socks5h://u:%zz@h",
        ] {
            assert!(Proxy::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sends_the_name_unresolved_and_logs_in() {
        let proxy = Proxy::parse("socks5h://bob:pw@h:1").unwrap();
        let mut stream = Scripted::new(&[5, 2, 1, 0, 5, 0, 0, 1, 10, 0, 0, 1, 0, 25, b'+']);
        handshake(&mut stream, &proxy, &Target::Name("pop.example", 995)).unwrap();
        let mut expected = vec![5, 2, 0, 2, 1, 3, b'b', b'o', b'b', 2, b'p', b'w'];
        expected.extend_from_slice(&[5, 1, 0, 3, 11]);
        expected.extend_from_slice(b"pop.example");
        expected.extend_from_slice(&995u16.to_be_bytes());
        assert_eq!(stream.written, expected);
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"+", "the reply is consumed to its last byte");
    }

    #[test]
    fn sends_ipv6_addresses_and_reads_name_replies() {
        let proxy = Proxy::parse("socks5://h").unwrap();
        let mut stream = Scripted::new(&[5, 0, 5, 0, 0, 3, 2, b'h', b'i', 0, 1]);
        let target = Target::Address("[::1]:110".parse().unwrap());
        handshake(&mut stream, &proxy, &target).unwrap();
        let mut expected = vec![5, 1, 0, 5, 1, 0, 4];
        expected.extend_from_slice(&[0; 15]);
        expected.extend_from_slice(&[1, 0, 110]);
        assert_eq!(stream.written, expected);
    }

    #[test]
    fn failures_map_to_their_exit_codes() {
        let run = |url: &str, input: &[u8]| {
            let proxy = Proxy::parse(url).unwrap();
            handshake(&mut Scripted::new(input), &proxy, &Target::Name("x", 1)).unwrap_err()
        };
        let error = run("socks5h://h", &[5, 0xff]);
        assert!(matches!(error, ProxyError::LoginRequired { .. }));
        assert_eq!(error.exit_code(), exit::NO_PERM);
        let error = run("socks5h://u:p@h", &[5, 2, 1, 1]);
        assert!(matches!(error, ProxyError::LoginRejected { .. }));
        assert_eq!(error.exit_code(), exit::NO_PERM);
        let error = run("socks5h://h", &[5, 0, 5, 5, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert!(
            matches!(
                error,
                ProxyError::Refused {
                    reply: Reply::ConnectionRefused,
                    ..
                }
            ),
            "{error}"
        );
        assert_eq!(error.exit_code(), exit::TEMP_FAIL);
        assert_eq!(
            run("socks5h://h", &[5, 0, 5, 2, 0, 1]).exit_code(),
            exit::NO_PERM
        );
        let error = run("socks5h://h", &[4, 0]);
        assert_eq!(error.exit_code(), exit::PROTOCOL);
        let error = run("socks5h://h", &[5]);
        assert!(matches!(error, ProxyError::Io { .. }));
        assert_eq!(error.exit_code(), exit::TEMP_FAIL);
    }
}
