//! What a fake destination server (tests/harness/fake_imap.rs, fake_lmtp.rs) does at the moment
//! its fault strikes, instead of the answer that was due: the acts both protocols share, and the
//! loopback listener both serve connections from, one at a time.

use std::io::{self, BufRead, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// An endless answer is cut off by the server after this many octets if the client goes on
/// reading.
const ENDLESS: usize = 64 << 20;

/// How long a connection may sit idle (a stalled server waiting for its client to give up, a
/// client that never sends): the server then closes it, so that no test waits forever.
pub const IDLE: Duration = Duration::from_secs(10);

/// What the server does where an answer was due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Act {
    /// Answers nothing more; waits until the client gives up.
    Stall,
    /// Sends the first this many octets of the answer, then stalls.
    StallAfter(usize),
    /// Closes the connection without a word.
    Close,
    /// Says the protocol's goodbye (IMAP `* BYE`, LMTP `421`) and closes.
    Goodbye,
    /// Starts the answer and never ends its line.
    Endless,
    /// Sends these bytes, then the answer that was due, and goes on.
    Inject(Vec<u8>),
    /// Sends these bytes instead of the answer and goes on as if it had answered them.
    Replace(Vec<u8>),
}

/// Whether the connection goes on after an act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Go,
    Stop,
}

/// What a fake destination tells of its runs, whatever its protocol.
#[derive(Debug, Clone, Default)]
pub struct Record {
    /// Whether the fault struck since it was set.
    pub fired: bool,
    /// The messages the client saw acknowledged (an IMAP tagged OK, an LMTP 2xx) since the
    /// fault was set.
    pub acknowledged: Vec<Vec<u8>>,
    /// What the client did that it must not, ever.
    pub violations: Vec<String>,
}

impl Record {
    /// Starts over for a new fault; violations are kept.
    pub fn rearm(&mut self) {
        self.fired = false;
        self.acknowledged.clear();
    }
}

/// `bytes` with `$TAG` replaced by the command's tag and `$NEXT` by a tag the client has not
/// used yet (an answer out of step).
pub fn fill_tag(bytes: &[u8], tag: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes);
    if !text.contains('$') {
        return bytes.to_vec();
    }
    let digits = tag.trim_start_matches(|c: char| !c.is_ascii_digit());
    let next = match digits.parse::<u64>() {
        Ok(n) => format!(
            "{}{:0width$}",
            &tag[..tag.len() - digits.len()],
            n + 1,
            width = digits.len()
        ),
        Err(_) => format!("{tag}X"),
    };
    text.replace("$TAG", tag)
        .replace("$NEXT", &next)
        .into_bytes()
}

/// Performs `act` where `answer` was due; `goodbye` is the protocol's last word.
pub fn perform(
    act: &Act,
    input: &mut dyn Read,
    out: &mut dyn Write,
    answer: &[u8],
    goodbye: &[u8],
    tag: &str,
) -> io::Result<Flow> {
    match act {
        Act::Stall => {
            drain(input);
            Ok(Flow::Stop)
        }
        Act::StallAfter(octets) => {
            let cut = (*octets).min(answer.len().saturating_sub(1));
            out.write_all(&answer[..cut])?;
            out.flush()?;
            drain(input);
            Ok(Flow::Stop)
        }
        Act::Close => Ok(Flow::Stop),
        Act::Goodbye => {
            out.write_all(goodbye)?;
            Ok(Flow::Stop)
        }
        Act::Endless => {
            out.write_all(&answer[..answer.len().min(4)])?;
            let chunk = vec![b'x'; 64 * 1024];
            let mut sent = 0;
            while sent < ENDLESS && out.write_all(&chunk).is_ok() {
                sent += chunk.len();
            }
            Ok(Flow::Stop)
        }
        Act::Inject(bytes) => {
            out.write_all(&fill_tag(bytes, tag))?;
            out.write_all(answer)?;
            Ok(Flow::Go)
        }
        Act::Replace(bytes) => {
            out.write_all(&fill_tag(bytes, tag))?;
            Ok(Flow::Go)
        }
    }
}

/// A line from the client.
pub enum Line {
    /// A command, without its CRLF.
    Command(String),
    /// One that does not end in CRLF (shown as debug text): the client's fault.
    Broken(String),
    /// The client closed the connection.
    End,
}

/// Reads the client's next command line.
pub fn read_command(input: &mut impl BufRead) -> io::Result<Line> {
    let mut line = Vec::new();
    if input.read_until(b'\n', &mut line)? == 0 {
        return Ok(Line::End);
    }
    Ok(match line.strip_suffix(b"\r\n") {
        Some(command) => Line::Command(String::from_utf8_lossy(command).into_owned()),
        None => Line::Broken(format!("{:?}", String::from_utf8_lossy(&line))),
    })
}

/// Reads and forgets what the client sends until it closes the connection (or [`IDLE`] passes).
pub fn drain(input: &mut dyn Read) {
    let mut buffer = [0u8; 16 * 1024];
    while matches!(input.read(&mut buffer), Ok(n) if n > 0) {}
}

/// A loopback listener whose connections `serve` gets one at a time, each with [`IDLE`] as its
/// read and write timeout; stopped (and its thread joined) when dropped.
pub struct Listener {
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    pub fn start(mut serve: impl FnMut(TcpStream) + Send + 'static) -> Listener {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            stream.set_nonblocking(false).unwrap();
                            stream.set_read_timeout(Some(IDLE)).unwrap();
                            stream.set_write_timeout(Some(IDLE)).unwrap();
                            let _ = stream.set_nodelay(true);
                            serve(stream);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        Listener {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A fake server's model, shared with the thread that serves its connections one at a time;
/// stopped when dropped.
pub struct Served<M> {
    pub port: u16,
    model: Arc<Mutex<M>>,
    _listener: Listener,
}

impl<M: Send + 'static> Served<M> {
    /// Listens on loopback; `serve` gets each connection with the model.
    pub fn start(
        model: M,
        serve: impl Fn(&Mutex<M>, TcpStream) -> io::Result<()> + Send + 'static,
    ) -> Self {
        let model = Arc::new(Mutex::new(model));
        let listener = {
            let model = model.clone();
            Listener::start(move |stream| {
                let _ = serve(&model, stream);
            })
        };
        Served {
            port: listener.port,
            model,
            _listener: listener,
        }
    }

    pub fn model(&self) -> MutexGuard<'_, M> {
        self.model.lock().unwrap()
    }
}

/// A port on 127.0.0.1 where nothing listens (bound, then let go).
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_filled_in() {
        assert_eq!(fill_tag(b"$TAG OK done\r\n", "A0007"), b"A0007 OK done\r\n");
        assert_eq!(
            fill_tag(b"$NEXT OK done\r\n", "A0009"),
            b"A0010 OK done\r\n"
        );
        assert_eq!(fill_tag(b"250 ok\r\n", "x"), b"250 ok\r\n");
    }
}
