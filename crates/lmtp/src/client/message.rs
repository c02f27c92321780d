//! Sending the message itself: dot-stuffed after DATA's 354, or in BDAT chunks.

use std::io::{self, Read, Write};

use super::{Client, BLOCK};
use crate::command::Bdat;
use crate::{Encoder, Error, Framing, Reply, Result};

impl<S: Read + Write> Client<S> {
    /// Streams the message after DATA's 354, dot-stuffed, and the terminating `.` line.
    pub(super) fn send_dot_stuffed<R: Read>(&mut self, mut message: R) -> Result<()> {
        let mut encoder = Encoder::new(Framing::DotStuffed);
        let mut block = vec![0; BLOCK];
        self.out.clear();
        loop {
            let n = read_some(&mut message, &mut block)?;
            if n == 0 {
                break;
            }
            encoder.feed(block.get(..n).unwrap_or_default(), &mut self.out);
            if self.out.len() >= BLOCK {
                self.write_out()?;
            }
        }
        encoder.finish(&mut self.out);
        // Everything but the terminating ".\r\n".
        let octets = encoder.written().saturating_sub(3);
        self.write_out()?;
        self.trace(|| format!("C: {{{octets} octets}}"));
        self.trace(|| "C: .".to_string());
        Ok(())
    }

    /// Sends the message in BDAT chunks of at most the chunk size, the last one marked LAST
    /// (and never sent if an earlier chunk was refused). Returns the refusal of a chunk, if
    /// any. Chunks before the last go out without waiting for their replies when pipelining;
    /// the replies are read before the last chunk.
    pub(super) fn send_chunks<R: Read>(
        &mut self,
        mut message: R,
        pipelining: bool,
    ) -> Result<Option<Reply>> {
        let mut encoder = Encoder::new(Framing::Chunked);
        let mut block = vec![0; BLOCK];
        let mut pending: Vec<u8> = Vec::new();
        let mut unanswered = 0usize;
        let mut refusal = None;
        loop {
            let n = read_some(&mut message, &mut block)?;
            if n == 0 {
                encoder.finish(&mut pending);
            } else {
                encoder.feed(block.get(..n).unwrap_or_default(), &mut pending);
            }
            while pending.len() > self.chunk_size {
                let chunk = pending.get(..self.chunk_size).unwrap_or_default();
                self.send_chunk(chunk, false)?;
                pending.drain(..self.chunk_size);
                if pipelining {
                    unanswered += 1;
                } else {
                    let reply = self.chunk_reply()?;
                    if !reply.is_positive() {
                        return Ok(Some(reply));
                    }
                }
            }
            if n == 0 {
                break;
            }
        }
        for _ in 0..unanswered {
            let reply = self.chunk_reply()?;
            if !reply.is_positive() && refusal.is_none() {
                refusal = Some(reply);
            }
        }
        if refusal.is_some() {
            return Ok(refusal);
        }
        self.send_chunk(&pending, true)?;
        Ok(None)
    }

    pub(super) fn send_chunk(&mut self, chunk: &[u8], last: bool) -> Result<()> {
        let command = Bdat {
            size: chunk.len() as u64,
            last,
        };
        self.queue(&command);
        self.out.extend_from_slice(chunk);
        self.trace(|| format!("C: {{{} octets}}", chunk.len()));
        self.write_out()
    }

    /// The reply to a BDAT chunk before the last: 250, or a refusal.
    fn chunk_reply(&mut self) -> Result<Reply> {
        let reply = self.read_reply()?;
        if reply.is_intermediate() {
            return Err(self.protocol(format!("the server answered BDAT with {reply}")));
        }
        Ok(reply)
    }
}

/// Reads what the message has next, retrying interrupted reads; 0 at its end.
fn read_some<R: Read>(message: &mut R, block: &mut [u8]) -> Result<usize> {
    loop {
        match message.read(block) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::Message(e)),
        }
    }
}
