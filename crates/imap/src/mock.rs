//! An in-memory server for the unit tests: it serves a script of bytes and records what the
//! client writes. It can end in EOF or a timeout, hand out a few bytes per read, and fail
//! writes after a given number of octets (a connection dropped mid-literal).

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};

pub(crate) struct MockStream {
    input: Vec<u8>,
    position: usize,
    chunk: usize,
    /// When the script is exhausted: time out instead of EOF.
    pub timeout_at_end: bool,
    /// Writes fail once this many octets were written.
    pub fail_writes_after: Option<usize>,
    pub written: Arc<Mutex<Vec<u8>>>,
    /// For each read that returned data: how many octets the client had written by then (to
    /// tell pipelined commands from ones that waited for an answer).
    pub reads_at: Arc<Mutex<Vec<usize>>>,
}

impl MockStream {
    pub fn new(input: &[u8]) -> Self {
        MockStream {
            input: input.to_vec(),
            position: 0,
            chunk: usize::MAX,
            timeout_at_end: false,
            fail_writes_after: None,
            written: Arc::default(),
            reads_at: Arc::default(),
        }
    }

    pub fn chunked(input: &[u8], chunk: usize) -> Self {
        MockStream {
            chunk,
            ..Self::new(input)
        }
    }
}

impl Read for MockStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let rest = &self.input[self.position..];
        if rest.is_empty() && self.timeout_at_end {
            return Err(io::Error::from(io::ErrorKind::WouldBlock));
        }
        let n = rest.len().min(buf.len()).min(self.chunk);
        buf[..n].copy_from_slice(&rest[..n]);
        self.position += n;
        if n > 0 {
            let written = self.written.lock().unwrap().len();
            self.reads_at.lock().unwrap().push(written);
        }
        Ok(n)
    }
}

impl Write for MockStream {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mut written = self.written.lock().unwrap();
        if let Some(limit) = self.fail_writes_after {
            if written.len() >= limit {
                return Err(io::Error::from(io::ErrorKind::BrokenPipe));
            }
            let n = bytes.len().min(limit - written.len());
            written.extend_from_slice(&bytes[..n]);
            return Ok(n);
        }
        written.extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
