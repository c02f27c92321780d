//! LMTP delivery (RFC 2033): each message handed to a local Dovecot or Cyrus over its Unix
//! socket or TCP, for one recipient. A 2xx after the data is a delivery, a 4xx leaves the
//! message on the POP3 server and ends the run, a 5xx leaves that message and the run goes on.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::sync::Mutex;
use std::time::Duration;

use popget_lmtp::{Client, Envelope, Reply};

use super::{Failure, Fill, Handed, Journal, Mailbox, Placement, Staged, StagedKind};
use crate::account::{LmtpAddress, LmtpTarget};
use crate::error::Error;

/// The octets of a message's start that tell MAIL FROM whether it is 8-bit (its headers, and
/// beyond them the first of its body).
const DESCRIBED_OCTETS: u64 = 256 * 1024;

/// A connection to an LMTP server and the recipient messages go to.
pub struct Lmtp {
    target: LmtpTarget,
    peer: String,
    trace: Option<super::TraceMaker>,
    client: Mutex<Option<Client<Socket>>>,
}

/// A Unix socket or a TCP connection, with the target's timeout on every read and write.
enum Socket {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Unix(stream) => stream.read(buf),
            Socket::Tcp(stream) => stream.read(buf),
        }
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Unix(stream) => stream.write(buf),
            Socket::Tcp(stream) => stream.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Socket::Unix(stream) => stream.flush(),
            Socket::Tcp(stream) => stream.flush(),
        }
    }
}

impl Lmtp {
    /// Connects, reads the greeting and says LHLO: a server that cannot be reached or does not
    /// answer within the target's timeout is a temporary failure, before anything is fetched.
    pub fn open(target: &LmtpTarget, trace: Option<super::TraceMaker>) -> Result<Lmtp, Error> {
        let peer = target.address.to_string();
        let lmtp = Lmtp {
            target: target.clone(),
            peer,
            trace,
            client: Mutex::new(None),
        };
        *lmtp.lock() = Some(lmtp.connect()?);
        Ok(lmtp)
    }

    fn connect(&self) -> Result<Client<Socket>, Error> {
        let timeout = Some(self.target.timeout);
        let unreachable = |source: io::Error| {
            Error::Temporary(format!(
                "cannot reach the LMTP server {}: {}",
                self.peer,
                crate::error::describe_io(&source)
            ))
        };
        let socket = match &self.target.address {
            LmtpAddress::Unix(path) => {
                let stream = UnixStream::connect(path).map_err(unreachable)?;
                stream.set_read_timeout(timeout).map_err(unreachable)?;
                stream.set_write_timeout(timeout).map_err(unreachable)?;
                Socket::Unix(stream)
            }
            LmtpAddress::Tcp { host, port } => {
                let stream = connect_tcp(host, *port, self.target.timeout).map_err(unreachable)?;
                stream.set_read_timeout(timeout).map_err(unreachable)?;
                stream.set_write_timeout(timeout).map_err(unreachable)?;
                let _ = stream.set_nodelay(true);
                Socket::Tcp(stream)
            }
        };
        let trace = self.trace.as_ref().map(|make| make());
        let mut client =
            Client::with_trace(socket, self.peer.clone(), trace).map_err(|e| self.failed(e))?;
        let name = rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned();
        client.lhlo(&name).map_err(|e| self.failed(e))?;
        Ok(client)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Client<Socket>>> {
        self.client.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An LMTP failure in popget's terms: a connection that broke or timed out is temporary
    /// (the message stays on the POP3 server), a server out of step a protocol error.
    fn failed(&self, error: popget_lmtp::Error) -> Error {
        match error {
            popget_lmtp::Error::Protocol { .. } => Error::DestinationProtocol(error.to_string()),
            popget_lmtp::Error::GreetingRefused { ref reply, .. }
            | popget_lmtp::Error::Refused { ref reply, .. }
                if reply.is_permanent() =>
            {
                Error::Unavailable {
                    message: error.to_string(),
                    remedy: None,
                }
            }
            _ => Error::Temporary(format!("LMTP: {error}")),
        }
    }

    /// Hands one spooled message to the server.
    fn deliver(&self, spool: &mut File, sender: &str) -> Handed {
        let mut guard = self.lock();
        if guard.is_none() {
            match self.connect() {
                Ok(client) => *guard = Some(client),
                Err(error) => return Handed::Failed(error),
            }
        }
        let Some(client) = guard.as_mut() else {
            return Handed::Failed(Error::Temporary("no LMTP connection".into()));
        };
        let envelope = match describe(spool) {
            Ok(head) => Envelope::new(sender, [self.target.recipient.as_str()]).describing(&head),
            Err(e) => return Handed::Failed(Error::io("cannot read the spool file", e)),
        };
        let size = spool.metadata().map(|m| m.len()).ok();
        let envelope = match size {
            Some(size) => envelope.with_size(size),
            None => envelope,
        };
        let delivery = match client.deliver(&envelope, &mut *spool) {
            Ok(delivery) => delivery,
            Err(error) => {
                // Whether a message whose data went out was delivered is unknown: the session
                // is gone, the message stays on the POP3 server.
                *guard = None;
                return Handed::Failed(self.failed(error));
            }
        };
        let refusal = delivery
            .verdicts()
            .find(|(_, reply)| !reply.is_positive())
            .map(|(recipient, reply)| (recipient.to_string(), reply.clone()));
        match refusal {
            None => Handed::Delivered,
            Some((recipient, reply)) => self.refused(&recipient, &reply),
        }
    }

    fn refused(&self, recipient: &str, reply: &Reply) -> Handed {
        let text = format!(
            "the LMTP server {} refused the message for {recipient}: {reply}",
            self.peer
        );
        if reply.is_permanent() {
            Handed::Rejected(Error::Rejected(format!("{text}; it stays on the server")))
        } else {
            Handed::Failed(Error::Temporary(format!(
                "{text}; it stays on the server for the next run"
            )))
        }
    }
}

/// The start of a spooled message, the spool rewound.
fn describe(spool: &mut File) -> io::Result<Vec<u8>> {
    spool.seek(SeekFrom::Start(0))?;
    let mut head = Vec::new();
    (&mut *spool)
        .take(DESCRIBED_OCTETS)
        .read_to_end(&mut head)?;
    spool.seek(SeekFrom::Start(0))?;
    Ok(head)
}

/// Connects to the first address of `host` that answers within `timeout`.
fn connect_tcp(host: &str, port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for address in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&address, timeout) {
            Ok(stream) => return Ok(stream),
            Err(error) => last = error,
        }
    }
    Err(last)
}

impl Mailbox for Lmtp {
    fn stage(&self, fill: &mut Fill) -> Result<Staged, Failure> {
        let (mut spool, octets) = super::spool(fill)?;
        let sender = super::return_path(&mut spool)
            .map_err(|e| Failure::Mailbox(Error::io("cannot read the spool file", e)))?;
        Ok(Staged {
            octets,
            kind: StagedKind::Spooled { spool, sender },
        })
    }

    /// No intents: the server's answer after the data is the only proof, and if it is lost the
    /// message is delivered again on the next run (at most one message, see `batch_limit`).
    fn place(&self, staged: Vec<Staged>, _journal: &mut Journal) -> Placement {
        super::place_spooled(staged, "LMTP", |spool, sender| self.deliver(spool, sender))
    }

    fn batch_limit(&self) -> usize {
        1
    }

    fn size_limit(&self) -> Option<u64> {
        let client = self.lock();
        let size = client.as_ref()?.extensions()?.size?;
        // `SIZE` alone, or `SIZE 0`, announces the extension without a fixed limit.
        (size > 0).then_some(size)
    }
}

impl Drop for Lmtp {
    fn drop(&mut self) {
        if let Some(client) = self.lock().take() {
            let _ = client.quit();
        }
    }
}
