//! An in-memory LMTP server for the unit tests: it answers each flush with the next scripted
//! segment, as a server answers the commands it was sent, and records what the client wrote.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};

/// Serves the first segment at once and each later one after a flush of the client. Reading
/// when nothing is available fails as a timeout would while segments remain, and is the end of
/// the stream once all were served.
pub struct MockStream {
    segments: VecDeque<Vec<u8>>,
    available: VecDeque<u8>,
    chunk: usize,
    /// Every octet the client wrote, shared so a test can read it after the stream moved.
    pub written: Arc<Mutex<Vec<u8>>>,
    /// How much had been written at each flush: where the client waited for the server.
    pub flushes: Arc<Mutex<Vec<usize>>>,
}

impl MockStream {
    /// A server that sends `segments[0]` at once and each later segment after a flush.
    pub fn new(segments: &[&[u8]]) -> Self {
        let mut segments: VecDeque<Vec<u8>> = segments.iter().map(|s| s.to_vec()).collect();
        let available = segments.pop_front().unwrap_or_default().into();
        MockStream {
            segments,
            available,
            chunk: usize::MAX,
            written: Arc::default(),
            flushes: Arc::default(),
        }
    }

    /// Like [`MockStream::new`], handing out at most `chunk` octets per read.
    pub fn chunked(segments: &[&[u8]], chunk: usize) -> Self {
        MockStream {
            chunk: chunk.max(1),
            ..Self::new(segments)
        }
    }
}

impl Read for MockStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.available.is_empty() && !self.segments.is_empty() {
            return Err(io::Error::from(io::ErrorKind::WouldBlock));
        }
        let n = self.available.len().min(buf.len()).min(self.chunk);
        for (slot, byte) in buf.iter_mut().zip(self.available.drain(..n)) {
            *slot = byte;
        }
        Ok(n)
    }
}

impl Write for MockStream {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.written.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let written = self.written.lock().unwrap().len();
        self.flushes.lock().unwrap().push(written);
        if let Some(next) = self.segments.pop_front() {
            self.available.extend(next);
        }
        Ok(())
    }
}
