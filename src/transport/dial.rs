//! Opens a TCP connection to a host name: every address it resolves to, IPv6 and IPv4 in turn,
//! attempts started 250 ms apart and the first to connect wins (Happy Eyeballs, RFC 8305).

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How long an attempt has before the next address is tried beside it (RFC 8305, section 8).
pub const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        host: String,
        #[source]
        source: io::Error,
    },
    #[error("{host} resolves to no address")]
    NoAddress { host: String },
    /// Every address was tried; `source` is the last failure.
    #[error("cannot connect to {peer}: {source}")]
    Failed {
        peer: String,
        #[source]
        source: io::Error,
    },
}

/// The host without the brackets of a literal IPv6 address (`[::1]` is `::1`).
pub fn unbracket(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(host)
}

/// `host:port`, an IPv6 address in brackets: `[::1]:995`.
pub fn host_port(host: &str, port: u16) -> String {
    let host = unbracket(host);
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The addresses of `host` (a name or a literal address), in the order to try them.
pub fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, DialError> {
    let host = unbracket(host);
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addresses: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|source| DialError::Resolve {
            host: host.to_string(),
            source,
        })?
        .collect();
    if addresses.is_empty() {
        return Err(DialError::NoAddress {
            host: host.to_string(),
        });
    }
    Ok(interleave(addresses))
}

/// The addresses with the families alternating, starting with the family the resolver put
/// first (RFC 8305, section 4): a broken IPv6 path costs one attempt, not all of them.
pub fn interleave(addresses: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let Some(first) = addresses.first() else {
        return addresses;
    };
    let first_is_v6 = first.is_ipv6();
    let (mut preferred, mut other): (Vec<_>, Vec<_>) = addresses
        .into_iter()
        .partition(|address| address.is_ipv6() == first_is_v6);
    preferred.reverse();
    other.reverse();
    let mut ordered = Vec::with_capacity(preferred.len() + other.len());
    while !preferred.is_empty() || !other.is_empty() {
        ordered.extend(preferred.pop());
        ordered.extend(other.pop());
    }
    ordered
}

/// Resolves `host` and connects to one of its addresses within `timeout` for all attempts.
pub fn connect(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, DialError> {
    let addresses = resolve(host, port)?;
    connect_any(&addresses, timeout).map_err(|(address, source)| DialError::Failed {
        peer: peer_name(host, port, address, addresses.len()),
        source,
    })
}

/// `host:port`, with the address that failed last when the name had several.
fn peer_name(host: &str, port: u16, last: Option<SocketAddr>, count: usize) -> String {
    let shown = host_port(host, port);
    match last {
        Some(address) if count > 1 => format!("{shown} ({count} addresses, the last {address})"),
        _ => shown,
    }
}

/// Connects to the first of `addresses` that answers: an attempt starts every
/// [`ATTEMPT_DELAY`], or at once when the one before it fails; all share `timeout`. On
/// failure, the last error and the address it came from.
pub fn connect_any(
    addresses: &[SocketAddr],
    timeout: Duration,
) -> Result<TcpStream, (Option<SocketAddr>, io::Error)> {
    let deadline = deadline_after(timeout);
    if let [only] = addresses {
        // Nothing to race: no thread for the one attempt (a daemon polling hundreds of
        // accounts would start one per poll).
        let left = deadline.saturating_duration_since(Instant::now());
        return TcpStream::connect_timeout(only, left).map_err(|error| (Some(*only), error));
    }
    let (sender, results) = mpsc::channel();
    let mut started = 0;
    let mut failed = 0;
    let mut last_start = Instant::now();
    let mut last_error = None;
    while Instant::now() < deadline {
        let running = started - failed;
        let more = started < addresses.len();
        if more && (running == 0 || last_start.elapsed() >= ATTEMPT_DELAY) {
            start_attempt(addresses[started], deadline, sender.clone());
            started += 1;
            last_start = Instant::now();
        } else if running == 0 {
            break;
        }
        let wake = if started < addresses.len() {
            (last_start + ATTEMPT_DELAY).min(deadline)
        } else {
            deadline
        };
        match results.recv_timeout(wake.saturating_duration_since(Instant::now())) {
            Ok((_, Ok(stream))) => return Ok(stream),
            Ok((address, Err(error))) => {
                failed += 1;
                last_error = Some((Some(address), error));
            }
            Err(_) => {}
        }
    }
    // Attempts still running end by the deadline; a late winner is dropped unused.
    Err(match last_error {
        Some(error) if started == failed && started == addresses.len() => error,
        _ => (None, io::Error::from(io::ErrorKind::TimedOut)),
    })
}

fn start_attempt(
    address: SocketAddr,
    deadline: Instant,
    results: mpsc::Sender<(SocketAddr, io::Result<TcpStream>)>,
) {
    thread::spawn(move || {
        let left = deadline.saturating_duration_since(Instant::now());
        let result = if left.is_zero() {
            Err(io::Error::from(io::ErrorKind::TimedOut))
        } else {
            TcpStream::connect_timeout(&address, left)
        };
        // The receiver is gone once another attempt won: this stream then closes here.
        let _ = results.send((address, result));
    });
}

/// The instant `duration` from now, or as far as the clock goes: `--session-timeout
/// 18446744073709551615` made `Instant + Duration` overflow and panic.
pub(crate) fn deadline_after(duration: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(duration)
        .or_else(|| now.checked_add(Duration::from_secs(u64::from(u32::MAX))))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn address(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn families_alternate_starting_with_the_first() {
        let given = ["[::1]:1", "[::2]:1", "[::3]:1", "10.0.0.1:1", "10.0.0.2:1"].map(address);
        let expected = ["[::1]:1", "10.0.0.1:1", "[::2]:1", "10.0.0.2:1", "[::3]:1"].map(address);
        assert_eq!(interleave(given.to_vec()), expected);
        let given = ["10.0.0.1:1", "[::1]:1"].map(address);
        assert_eq!(interleave(given.to_vec()), given);
        assert_eq!(interleave(Vec::new()), Vec::<SocketAddr>::new());
    }

    #[test]
    fn literal_addresses_are_not_looked_up() {
        assert_eq!(resolve("[::1]", 995).unwrap(), [address("[::1]:995")]);
        assert_eq!(resolve("::1", 995).unwrap(), [address("[::1]:995")]);
        assert_eq!(
            resolve("127.0.0.1", 110).unwrap(),
            [address("127.0.0.1:110")]
        );
    }

    #[test]
    fn a_refusing_address_is_passed_over_at_once() {
        let dead = TcpListener::bind("127.0.0.1:0").unwrap();
        let dead_address = dead.local_addr().unwrap();
        drop(dead);
        let live = TcpListener::bind("127.0.0.1:0").unwrap();
        let started = Instant::now();
        let stream = connect_any(
            &[dead_address, live.local_addr().unwrap()],
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(stream.peer_addr().unwrap(), live.local_addr().unwrap());
        assert!(started.elapsed() < ATTEMPT_DELAY, "{:?}", started.elapsed());
    }

    #[test]
    fn every_address_refusing_reports_the_last_error() {
        let dead = TcpListener::bind("127.0.0.1:0").unwrap();
        let dead_address = dead.local_addr().unwrap();
        drop(dead);
        let (address, error) = connect_any(&[dead_address, dead_address], Duration::from_secs(5))
            .map(|_| ())
            .unwrap_err();
        assert_eq!(address, Some(dead_address));
        assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
    }
}
