//! APPEND batches: every message checked first, then pipelined, literals streamed as CRLF.

use std::collections::VecDeque;
use std::io::{self, Read, Write};

use imap_codec::encode::{Encoder, Fragment};
use imap_codec::imap_types::command::{Command, CommandBody};
use imap_codec::imap_types::response::{Code, StatusKind};
use imap_codec::CommandCodec;

use super::{mailbox_arg, AppendOutcome, AppendUid, BatchError, Session, PIPELINE_WINDOW};
use crate::message::{crlf_length, encode_mailbox, parse_flags, CrlfEncoder};
use crate::wire::{Done, Received};
use crate::{sanitize, AppendMessage, Error, Refusal, ResponseCode, Result};

/// LITERAL- allows non-synchronising literals up to this size (RFC 7888 section 4).
const LITERAL_MINUS_MAX: u64 = 4096;

const CHUNK: usize = 64 * 1024;

/// One APPEND sent (or refused here) whose outcome is still to be read.
enum Pending {
    Sent(String),
    Local(AppendOutcome),
}

/// One message ready to go: the command up to its literal, and the literal's size.
struct Prepared {
    prefix: Vec<u8>,
    octets: u64,
    too_big: Option<Refusal>,
}

impl<S: Read + Write> Session<S> {
    /// Appends a batch of messages to `mailbox`, one APPEND each, and returns each one's
    /// outcome in order.
    ///
    /// Each message is read twice from where its source stands: once to count its CRLF length
    /// (the literal's size), once to send it with LF turned into CRLF, 64 KiB at a time, so a
    /// message of any size takes bounded memory. Everything is checked (mailbox name, flags,
    /// dates, sizes) before anything is sent.
    ///
    /// The literal is non-synchronising (`{n+}`) when the server announces LITERAL+, or
    /// LITERAL- and the message is at most 4096 octets; then APPENDs go out without waiting
    /// for their answers, up to [`PIPELINE_WINDOW`] ahead, and the answers are read in order.
    /// Otherwise each literal waits for the server's `+` (`{n}`), and a server that answers
    /// NO instead has refused that message without it being sent.
    ///
    /// A message larger than the server's APPENDLIMIT is not sent: its outcome is a refusal
    /// with [`ResponseCode::TooBig`]. A `[TRYCREATE]` refusal is left to the caller: CREATE
    /// the mailbox, then append the refused messages again (with pipelining, every message of
    /// the batch after the first is refused the same way).
    ///
    /// A `BAD`, a `BYE`, a lost connection, an answer out of step, or a source that cannot be
    /// read or changes size while sent ends the batch with a [`BatchError`] holding the
    /// outcomes confirmed until then, and leaves the session unusable: whether the later
    /// messages were stored is unknown. A literal is never completed with bytes other than
    /// the message's own: a source that fails stops the literal short, so the server cannot
    /// store a truncated message once the connection is dropped.
    pub fn append(
        &mut self,
        mailbox: &str,
        messages: &mut [AppendMessage<'_>],
    ) -> std::result::Result<Vec<AppendOutcome>, BatchError> {
        let mut outcomes = Vec::with_capacity(messages.len());
        let result = self.guard(|session| session.append_batch(mailbox, messages, &mut outcomes));
        match result {
            Ok(()) => Ok(outcomes),
            Err(error) => Err(BatchError { outcomes, error }),
        }
    }

    fn append_batch(
        &mut self,
        mailbox: &str,
        messages: &mut [AppendMessage<'_>],
        outcomes: &mut Vec<AppendOutcome>,
    ) -> Result<()> {
        let name = encode_mailbox(mailbox)?;
        let limit = self.append_limit();
        let mut prepared = Vec::with_capacity(messages.len());
        for message in messages.iter_mut() {
            let flags = parse_flags(&message.flags)?;
            let date = message
                .internal_date
                .map(|date| date.to_imap())
                .transpose()?;
            let octets = match message.octets {
                Some(octets) => octets,
                None => crlf_length(&mut *message.source).map_err(Error::Source)?,
            };
            if octets > u64::from(u32::MAX) {
                return Err(Error::InvalidInput(format!(
                    "a message of {octets} octets is too large for IMAP"
                )));
            }
            let too_big = limit.filter(|&limit| octets > limit).map(|limit| Refusal {
                code: Some(ResponseCode::TooBig),
                text: format!(
                    "the message ({octets} octets) is larger than the server's APPENDLIMIT ({limit})"
                ),
            });
            prepared.push(Prepared {
                prefix: append_prefix(&name, flags, date)?,
                octets,
                too_big,
            });
        }
        let plus = self.capabilities.literal_plus();
        let minus = self.capabilities.literal_minus();
        let mut pending: VecDeque<Pending> = VecDeque::new();
        for (message, prepared) in messages.iter_mut().zip(prepared) {
            if let Some(refusal) = prepared.too_big {
                pending.push_back(Pending::Local(AppendOutcome::Refused(refusal)));
                continue;
            }
            while pending.len() >= PIPELINE_WINDOW {
                self.settle_front(&mut pending, outcomes)?;
            }
            let octets = prepared.octets;
            let non_sync = plus || (minus && octets <= LITERAL_MINUS_MAX);
            let tag = self.wire.tag();
            let mut line = Vec::with_capacity(tag.len() + 1 + prepared.prefix.len() + 16);
            line.extend_from_slice(tag.as_bytes());
            line.push(b' ');
            line.extend_from_slice(&prepared.prefix);
            line.extend_from_slice(
                format!("{{{octets}{}}}", if non_sync { "+" } else { "" }).as_bytes(),
            );
            let text = sanitize(&line);
            self.wire.trace(|| format!("C: {text}"));
            line.extend_from_slice(b"\r\n");
            self.wire.queue(&line)?;
            if !non_sync {
                self.wire.flush()?;
                if let Some(done) = self.await_continuation(&tag, &mut pending, outcomes)? {
                    // Refused before the literal: nothing of the message was sent.
                    outcomes.push(outcome(done, false)?);
                    continue;
                }
            }
            self.wire.trace(|| format!("C: {{{octets} octets}}"));
            self.send_literal(&mut *message.source, octets)?;
            self.wire.queue(b"\r\n")?;
            pending.push_back(Pending::Sent(tag));
        }
        self.wire.flush()?;
        while !pending.is_empty() {
            self.settle_front(&mut pending, outcomes)?;
        }
        Ok(())
    }

    /// Reads the outcome of the oldest pending APPEND.
    fn settle_front(
        &mut self,
        pending: &mut VecDeque<Pending>,
        outcomes: &mut Vec<AppendOutcome>,
    ) -> Result<()> {
        match pending.pop_front() {
            Some(Pending::Local(local)) => outcomes.push(local),
            Some(Pending::Sent(tag)) => {
                let done = self.wire.finish(&tag, |_| Ok(()))?;
                outcomes.push(outcome(done, true)?);
            }
            None => {}
        }
        Ok(())
    }

    /// Waits for the `+` that lets the literal of `tag` go out, reading the answers to the
    /// APPENDs still pending (in order) on the way. Returns the answer to `tag` if the server
    /// refused it before the literal.
    fn await_continuation(
        &mut self,
        tag: &str,
        pending: &mut VecDeque<Pending>,
        outcomes: &mut Vec<AppendOutcome>,
    ) -> Result<Option<Done>> {
        loop {
            while let Some(Pending::Local(_)) = pending.front() {
                self.settle_front(pending, outcomes)?;
            }
            match self.wire.receive()? {
                Received::Continue(_) if pending.is_empty() => return Ok(None),
                Received::Continue(_) => {
                    return Err(Error::protocol(format!(
                        "the server asked for the literal of {tag} before answering the APPENDs before it"
                    )))
                }
                Received::Tagged { tag: got, done } => match pending.front() {
                    Some(Pending::Sent(due)) if *due == got => {
                        pending.pop_front();
                        outcomes.push(outcome(done, true)?);
                    }
                    None if got == tag => return Ok(Some(done)),
                    _ => {
                        return Err(Error::protocol(format!(
                            "the server answered {} out of step",
                            sanitize(got.as_bytes())
                        )))
                    }
                },
                Received::Data(_) | Received::Untagged(_) => {}
            }
        }
    }

    /// Streams the CRLF form of `source` as a literal of `octets` octets. The last chunk is
    /// held back until the source has ended at exactly that size, so a source that fails or
    /// changes size leaves the literal incomplete.
    fn send_literal(&mut self, source: &mut dyn Read, octets: u64) -> Result<()> {
        let mut encoder = CrlfEncoder::default();
        let mut buffer = vec![0u8; CHUNK];
        let mut held: Vec<u8> = Vec::with_capacity(CHUNK + CHUNK / 8);
        let mut converted: Vec<u8> = Vec::with_capacity(CHUNK + CHUNK / 8);
        let mut sent = 0u64;
        loop {
            let n = match source.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(Error::Source(error)),
            };
            converted.clear();
            encoder.encode(&buffer[..n], &mut converted);
            if sent + (held.len() + converted.len()) as u64 > octets {
                return Err(changed_size(octets));
            }
            self.wire.write_through(&held)?;
            sent += held.len() as u64;
            std::mem::swap(&mut held, &mut converted);
        }
        if sent + held.len() as u64 != octets {
            return Err(changed_size(octets));
        }
        self.wire.write_through(&held)
    }
}

fn changed_size(octets: u64) -> Error {
    Error::Source(io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the message no longer has the {octets} octets counted before it was sent"),
    ))
}

/// The outcome an APPEND's tagged answer gives. `literal_sent`: an OK before the literal was
/// sent is out of step.
fn outcome(done: Done, literal_sent: bool) -> Result<AppendOutcome> {
    match done.kind {
        StatusKind::Ok if literal_sent => {
            let uid = match &done.code {
                Some(Code::AppendUid { uid_validity, uid }) => Some(AppendUid {
                    uid_validity: uid_validity.get(),
                    uid: uid.get(),
                }),
                _ => None,
            };
            Ok(AppendOutcome::Appended(uid))
        }
        StatusKind::Ok => Err(Error::protocol(
            "the server accepted an APPEND whose message it never asked for",
        )),
        StatusKind::No => Ok(AppendOutcome::Refused(done.refusal())),
        StatusKind::Bad => Err(Error::Bad {
            command: "APPEND",
            text: done.text,
        }),
    }
}

/// `APPEND mailbox (flags) "date" ` as imap-codec encodes it (quoting the name, checking the
/// flags and the date), without the tag and the literal, which the caller adds.
fn append_prefix(
    name: &str,
    flags: Vec<imap_codec::imap_types::flag::Flag<'static>>,
    date: Option<imap_codec::imap_types::datetime::DateTime>,
) -> Result<Vec<u8>> {
    let body = CommandBody::append(mailbox_arg(name)?, flags, date, &b""[..])
        .map_err(|_| Error::InvalidInput("cannot encode the APPEND".into()))?;
    let command = Command::new("T", body)
        .map_err(|_| Error::InvalidInput("cannot encode the APPEND".into()))?;
    let mut fragments = CommandCodec::default().encode(&command);
    let odd = || Error::protocol("imap-codec encoded APPEND in an unexpected form");
    let Some(Fragment::Line { data }) = fragments.next() else {
        return Err(odd());
    };
    let line = data
        .strip_prefix(b"T ")
        .and_then(|line| line.strip_suffix(b"{0}\r\n"))
        .ok_or_else(odd)?;
    Ok(line.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_prefix_quotes_names_and_checks_flags_and_dates() {
        let seen = parse_flags(&["\\Seen".to_string(), "$Label1".to_string()]).unwrap();
        let date = crate::InternalDate::new(837_596_665, -7 * 3600)
            .unwrap()
            .to_imap()
            .unwrap();
        assert_eq!(
            append_prefix("INBOX", seen, Some(date)).unwrap(),
            b"APPEND INBOX (\\Seen $Label1) \"17-Jul-1996 02:44:25 -0700\" "
        );
        assert_eq!(
            append_prefix("My \"Box\"", Vec::new(), None).unwrap(),
            b"APPEND \"My \\\"Box\\\"\" "
        );
        assert_eq!(
            append_prefix("Archive", Vec::new(), None).unwrap(),
            b"APPEND Archive "
        );
    }
}
