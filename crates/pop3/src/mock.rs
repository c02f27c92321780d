//! An in-memory server for tests of code that speaks POP3 through [`crate::Client`] and
//! [`crate::Session`]: it answers with scripted segments and records what the client wrote.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};

/// An in-memory server: serves the first segment at once and each later segment after the
/// client writes, like a server answering commands, and records what the client writes.
/// Reading when nothing has been released yet fails as a timeout would.
pub struct MockStream {
    segments: VecDeque<Vec<u8>>,
    available: Vec<u8>,
    position: usize,
    chunk: usize,
    /// Every byte the client wrote, shared so a test can read it after the stream moved.
    pub written: Arc<Mutex<Vec<u8>>>,
}

impl MockStream {
    /// A server that sends `segments[0]` at once and each later segment after a write.
    pub fn new(segments: &[&[u8]]) -> Self {
        let mut segments: VecDeque<Vec<u8>> = segments.iter().map(|s| s.to_vec()).collect();
        let available = segments.pop_front().unwrap_or_default();
        MockStream {
            segments,
            available,
            position: 0,
            chunk: usize::MAX,
            written: Arc::default(),
        }
    }

    /// Like [`MockStream::new`], handing out at most `chunk` octets per read.
    pub fn chunked(segments: &[&[u8]], chunk: usize) -> Self {
        MockStream {
            chunk,
            ..Self::new(segments)
        }
    }
}

impl Read for MockStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = &self.available[self.position..];
        if available.is_empty() && !self.segments.is_empty() {
            return Err(io::Error::from(io::ErrorKind::WouldBlock));
        }
        let n = available.len().min(buf.len()).min(self.chunk);
        buf[..n].copy_from_slice(&available[..n]);
        self.position += n;
        Ok(n)
    }
}

impl Write for MockStream {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.written.lock().unwrap().extend_from_slice(bytes);
        if let Some(next) = self.segments.pop_front() {
            self.available.drain(..self.position);
            self.position = 0;
            self.available.extend_from_slice(&next);
        }
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A client over a [`MockStream`] that answers with `segments` (the greeting first), and what
/// it wrote.
#[cfg(test)]
pub(crate) fn client(segments: &[&[u8]]) -> (crate::Client<MockStream>, Arc<Mutex<Vec<u8>>>) {
    let stream = MockStream::new(segments);
    let written = stream.written.clone();
    let client = crate::Client::new(stream, "mock", crate::Security::Tls).unwrap();
    (client, written)
}

/// What a [`MockStream`] was sent, as text.
#[cfg(test)]
pub(crate) fn sent(written: &Arc<Mutex<Vec<u8>>>) -> String {
    String::from_utf8(written.lock().unwrap().clone()).unwrap()
}
