//! A small blocking DNS client for autoconfiguration: SRV records (RFC 2782) and whether a
//! name has addresses, asked over UDP (TCP when the answer is truncated) of the system's
//! resolver, or of `POPGET_DNS_SERVER`; hickory-proto encodes and decodes the messages.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

/// The DNS server to ask instead of /etc/resolv.conf's, as `IP` or `IP:PORT`. Meant for
/// testing against a private DNS server.
pub const SERVER_ENV: &str = "POPGET_DNS_SERVER";

/// How long one server may take to answer one query.
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("{SERVER_ENV}={value:?} is not IP or IP:PORT")]
    BadServer { value: String },
    #[error("{name:?} is not a valid DNS name: {detail}")]
    BadName { name: String, detail: String },
    #[error("DNS query for {name} to {server}: {source}")]
    Io {
        name: String,
        server: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("the DNS answer for {name} from {server} is malformed: {detail}")]
    Malformed {
        name: String,
        server: SocketAddr,
        detail: String,
    },
    #[error("the DNS server {server} answered {code} for {name}")]
    Failed {
        name: String,
        server: SocketAddr,
        code: String,
    },
}

/// One SRV record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    /// The host name without its final dot; empty for ".", which means "no such service".
    pub target: String,
}

/// The servers to ask, in order.
#[derive(Debug, Clone)]
pub struct Resolver {
    servers: Vec<SocketAddr>,
}

impl Resolver {
    /// `POPGET_DNS_SERVER` if set, else the name servers of /etc/resolv.conf, else the local
    /// one (as the C library does).
    pub fn from_env(env: &HashMap<String, String>) -> Result<Resolver, DnsError> {
        if let Some(value) = env.get(SERVER_ENV).filter(|value| !value.is_empty()) {
            let server = parse_server(value).ok_or_else(|| DnsError::BadServer {
                value: value.clone(),
            })?;
            return Ok(Resolver {
                servers: vec![server],
            });
        }
        let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let mut servers = name_servers(&text);
        if servers.is_empty() {
            servers.push(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 53));
        }
        Ok(Resolver { servers })
    }

    /// The SRV records of `name`; none when the name or its records do not exist.
    pub fn srv(&self, name: &str) -> Result<Vec<Srv>, DnsError> {
        let answer = self.query(name, RecordType::SRV)?;
        Ok(answer
            .answers
            .iter()
            .filter_map(|record| match &record.data {
                RData::SRV(srv) => Some(Srv {
                    priority: srv.priority,
                    weight: srv.weight,
                    port: srv.port,
                    target: srv.target.to_ascii().trim_end_matches('.').to_string(),
                }),
                _ => None,
            })
            .collect())
    }

    /// Whether `name` has an IPv4 or IPv6 address.
    pub fn has_address(&self, name: &str) -> Result<bool, DnsError> {
        for record_type in [RecordType::A, RecordType::AAAA] {
            let answer = self.query(name, record_type)?;
            let found = answer
                .answers
                .iter()
                .any(|record| matches!(&record.data, RData::A(_) | RData::AAAA(_)));
            if found {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Asks each server in turn until one answers; a name that does not exist is an answer
    /// with no records.
    fn query(&self, name: &str, record_type: RecordType) -> Result<Message, DnsError> {
        let fqdn = Name::from_ascii(format!("{}.", name.trim_end_matches('.'))).map_err(|e| {
            DnsError::BadName {
                name: name.to_string(),
                detail: e.to_string(),
            }
        })?;
        let mut request = Message::query();
        request.metadata.recursion_desired = true;
        request.add_query(Query::query(fqdn, record_type));
        let bytes = request.to_vec().map_err(|e| DnsError::BadName {
            name: name.to_string(),
            detail: e.to_string(),
        })?;
        let mut last_error = None;
        for &server in &self.servers {
            match exchange(server, &bytes, request.metadata.id, name) {
                Ok(answer) => return Ok(answer),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.expect("there is at least one server"))
    }
}

/// One query over UDP, again over TCP if the answer was truncated; a refusal by the server
/// is an error, a name that does not exist an answer with no records.
fn exchange(server: SocketAddr, request: &[u8], id: u16, name: &str) -> Result<Message, DnsError> {
    let io_error = |source| DnsError::Io {
        name: name.to_string(),
        server,
        source,
    };
    let malformed = |detail| DnsError::Malformed {
        name: name.to_string(),
        server,
        detail,
    };
    let mut answer = decode(&udp(server, request).map_err(io_error)?, id).map_err(malformed)?;
    if answer.metadata.truncation {
        answer = decode(&tcp(server, request).map_err(io_error)?, id).map_err(malformed)?;
    }
    match answer.metadata.response_code {
        ResponseCode::NoError | ResponseCode::NXDomain => Ok(answer),
        code => Err(DnsError::Failed {
            name: name.to_string(),
            server,
            code: code.to_string(),
        }),
    }
}

fn decode(bytes: &[u8], id: u16) -> Result<Message, String> {
    let message = Message::from_vec(bytes).map_err(|e| e.to_string())?;
    if message.metadata.id != id || message.metadata.message_type != MessageType::Response {
        return Err("it does not answer the query sent".into());
    }
    Ok(message)
}

fn udp(server: SocketAddr, request: &[u8]) -> io::Result<Vec<u8>> {
    let local: IpAddr = match server {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = UdpSocket::bind((local, 0))?;
    // Connected: datagrams from anyone but the server are dropped by the kernel.
    socket.connect(server)?;
    socket.set_read_timeout(Some(QUERY_TIMEOUT))?;
    socket.send(request)?;
    let mut buffer = vec![0u8; 4096];
    let length = socket.recv(&mut buffer)?;
    buffer.truncate(length);
    Ok(buffer)
}

fn tcp(server: SocketAddr, request: &[u8]) -> io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect_timeout(&server, QUERY_TIMEOUT)?;
    stream.set_read_timeout(Some(QUERY_TIMEOUT))?;
    stream.set_write_timeout(Some(QUERY_TIMEOUT))?;
    let length = u16::try_from(request.len()).map_err(io::Error::other)?;
    let mut framed = length.to_be_bytes().to_vec();
    framed.extend_from_slice(request);
    stream.write_all(&framed)?;
    let mut length = [0u8; 2];
    stream.read_exact(&mut length)?;
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut answer)?;
    Ok(answer)
}

/// `IP`, `IP:PORT` or `[IPv6]:PORT`.
fn parse_server(text: &str) -> Option<SocketAddr> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 53));
    }
    text.parse().ok()
}

/// The `nameserver` lines of resolv.conf, at most three as the C library reads.
fn name_servers(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.split_whitespace().next())
        .filter_map(|ip| ip.split('%').next()?.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .take(3)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_servers() {
        assert_eq!(
            parse_server("127.0.0.1"),
            Some("127.0.0.1:53".parse().unwrap())
        );
        assert_eq!(
            parse_server("127.0.0.1:5353"),
            Some("127.0.0.1:5353".parse().unwrap())
        );
        assert_eq!(
            parse_server("[::1]:5353"),
            Some("[::1]:5353".parse().unwrap())
        );
        assert_eq!(parse_server("::1"), Some("[::1]:53".parse().unwrap()));
        assert_eq!(parse_server("dns.example"), None);
        let conf = "# x\nnameserver 10.0.0.1\nsearch example\nnameserver fe80::1%eth0\n\
                    nameserver 10.0.0.2\nnameserver 10.0.0.3\n";
        assert_eq!(
            name_servers(conf),
            ["10.0.0.1:53", "[fe80::1]:53", "10.0.0.2:53"].map(|a| a.parse().unwrap())
        );
    }

    #[test]
    fn a_silent_or_closed_server_is_an_io_error() {
        let closed = UdpSocket::bind("127.0.0.1:0").unwrap();
        let address = closed.local_addr().unwrap();
        drop(closed);
        let resolver = Resolver {
            servers: vec![address],
        };
        let error = resolver.srv("_pop3s._tcp.example.org").unwrap_err();
        assert!(matches!(error, DnsError::Io { .. }), "{error}");
    }
}
