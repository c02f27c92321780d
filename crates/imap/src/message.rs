//! What goes into an APPEND: the message's bytes turned from LF to CRLF line ends as they
//! stream (and their CRLF length counted beforehand), its flags, its internal date, and the
//! mailbox name in IMAP's modified UTF-7.

use std::io::{self, Read, Seek, SeekFrom};

use chrono::{FixedOffset, TimeZone};
use imap_codec::imap_types::datetime::DateTime;
use imap_codec::imap_types::flag::Flag;
use sha2::{Digest, Sha256};

use crate::{Error, Result};

const CHUNK: usize = 64 * 1024;

/// A message source: its bytes can be read twice, once to count them and once to send them.
pub trait ReadSeek: Read + Seek {}

impl<T: Read + Seek> ReadSeek for T {}

/// The LF → CRLF conversion of a message, correct across any split of the input: a LF not
/// preceded by CR becomes CRLF; CRLF, and any other byte, passes through.
#[derive(Debug, Default, Clone, Copy)]
pub struct CrlfEncoder {
    after_cr: bool,
}

impl CrlfEncoder {
    /// Appends the CRLF form of `input` to `out`.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + input.len() / 32);
        let mut rest = input;
        while let Some(at) = rest.iter().position(|&b| b == b'\n') {
            let before = &rest[..at];
            out.extend_from_slice(before);
            let after_cr = match before.last() {
                Some(&b) => b == b'\r',
                None => self.after_cr,
            };
            if !after_cr {
                out.push(b'\r');
            }
            out.push(b'\n');
            self.after_cr = false;
            rest = &rest[at + 1..];
        }
        out.extend_from_slice(rest);
        if let Some(&last) = rest.last() {
            self.after_cr = last == b'\r';
        }
    }

    /// How many octets the CRLF form of `input` takes, continuing the state.
    pub fn count(&mut self, input: &[u8]) -> u64 {
        let mut extra = 0u64;
        for (i, &b) in input.iter().enumerate() {
            if b == b'\n' {
                let after_cr = if i == 0 {
                    self.after_cr
                } else {
                    input[i - 1] == b'\r'
                };
                if !after_cr {
                    extra += 1;
                }
            }
        }
        if let Some(&last) = input.last() {
            self.after_cr = last == b'\r';
        }
        input.len() as u64 + extra
    }
}

/// The length in octets of the CRLF form of what `source` holds from where it stands, which
/// is where it is left: the size an APPEND announces, and the RFC822.SIZE the server will
/// report. Reads the source once, in bounded memory.
pub fn crlf_length(source: &mut (impl Read + Seek + ?Sized)) -> io::Result<u64> {
    let start = source.stream_position()?;
    let mut encoder = CrlfEncoder::default();
    let mut buffer = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = match source.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        total += encoder.count(&buffer[..n]);
    }
    source.seek(SeekFrom::Start(start))?;
    Ok(total)
}

/// The SHA-256 of the header section of the CRLF form of what `source` holds from where it
/// stands, which is where it is left: the octets through the empty line that ends the header
/// (the whole message if it has none), as a server returns them for `BODY[HEADER]`. What
/// [`Session::find_appended`](crate::Session::find_appended) tells messages of one size apart
/// by. `None` when the header section is longer than `limit` octets.
pub fn header_sha256(
    source: &mut (impl Read + Seek + ?Sized),
    limit: u64,
) -> io::Result<Option<[u8; 32]>> {
    let start = source.stream_position()?;
    let mut encoder = CrlfEncoder::default();
    let mut buffer = vec![0u8; CHUNK];
    let mut header = Vec::new();
    let end = loop {
        // A header that is empty: the message starts with its body's line end.
        if header.starts_with(b"\r\n") {
            break Some(2);
        }
        if let Some(at) = find_empty_line(&header) {
            break Some(at + 4);
        }
        if header.len() as u64 > limit {
            break None;
        }
        let n = match source.read(&mut buffer) {
            Ok(0) => break Some(header.len()),
            Ok(n) => n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        encoder.encode(&buffer[..n], &mut header);
    };
    source.seek(SeekFrom::Start(start))?;
    Ok(end
        .filter(|&end| end as u64 <= limit)
        .map(|end| Sha256::digest(&header[..end]).into()))
}

fn find_empty_line(text: &[u8]) -> Option<usize> {
    text.windows(4).position(|window| window == b"\r\n\r\n")
}

/// An APPEND's internal date (RFC 3501 `date-time`): an instant and the UTC offset to show it
/// in, such as a message's Date header gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InternalDate {
    seconds: i64,
    offset: i32,
}

impl InternalDate {
    /// The instant `seconds` after the Unix epoch, shown at `offset_seconds` east of UTC
    /// (whole minutes; at most a day either way). Years outside 0–9999 are refused.
    pub fn new(seconds: i64, offset_seconds: i32) -> Result<InternalDate> {
        let date = InternalDate {
            seconds,
            offset: offset_seconds,
        };
        date.to_imap()?;
        Ok(date)
    }

    /// The seconds since the Unix epoch.
    pub fn timestamp(&self) -> i64 {
        self.seconds
    }

    /// The offset east of UTC, in seconds.
    pub fn offset_seconds(&self) -> i32 {
        self.offset
    }

    pub(crate) fn to_imap(self) -> Result<DateTime> {
        let invalid = || {
            Error::InvalidInput(format!(
                "{} seconds at offset {} is not an IMAP date-time",
                self.seconds, self.offset
            ))
        };
        if self.offset % 60 != 0 {
            return Err(invalid());
        }
        let offset = FixedOffset::east_opt(self.offset).ok_or_else(invalid)?;
        let date = offset
            .timestamp_opt(self.seconds, 0)
            .single()
            .ok_or_else(invalid)?;
        DateTime::try_from(date).map_err(|_| invalid())
    }
}

/// One message for [`Session::append`](crate::Session::append): its bytes as stored on disk
/// (LF line ends; CRLF ones pass through unchanged), read from where the source stands, its
/// flags and its internal date.
pub struct AppendMessage<'a> {
    pub(crate) source: &'a mut dyn ReadSeek,
    pub(crate) flags: Vec<String>,
    pub(crate) internal_date: Option<InternalDate>,
    /// The CRLF length, when the caller has counted it already ([`crlf_length`]).
    pub(crate) octets: Option<u64>,
}

impl<'a> AppendMessage<'a> {
    /// A message read from `source`, without flags (it arrives unread) or date (the server
    /// uses the time it stores the message).
    pub fn new(source: &'a mut dyn ReadSeek) -> Self {
        AppendMessage {
            source,
            flags: Vec::new(),
            internal_date: None,
            octets: None,
        }
    }

    /// The CRLF length of the message, as [`crlf_length`] counted it, so that the source is
    /// not read an extra time to count it again. Sending still checks it: a source that does
    /// not end at exactly this length never completes its literal.
    pub fn octets(mut self, octets: u64) -> Self {
        self.octets = Some(octets);
        self
    }

    /// Sets the flags, such as `\Seen` or `\Flagged`, or keywords (atoms such as `$Forwarded`).
    pub fn flags<I, F>(mut self, flags: I) -> Self
    where
        I: IntoIterator<Item = F>,
        F: Into<String>,
    {
        self.flags = flags.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the internal date.
    pub fn internal_date(mut self, date: InternalDate) -> Self {
        self.internal_date = Some(date);
        self
    }
}

impl std::fmt::Debug for AppendMessage<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppendMessage")
            .field("flags", &self.flags)
            .field("internal_date", &self.internal_date)
            .finish_non_exhaustive()
    }
}

/// The flags, as imap-codec checks them (a system flag or an atom), refused before anything is
/// sent when they cannot be: `\Recent` may not be set by a client.
pub(crate) fn parse_flags(flags: &[String]) -> Result<Vec<Flag<'static>>> {
    flags
        .iter()
        .map(|text| {
            let flag = Flag::try_from(text.as_str())
                .map_err(|_| Error::InvalidInput(format!("{text:?} is not an IMAP flag")))?;
            if text.eq_ignore_ascii_case("\\Recent") {
                return Err(Error::InvalidInput(
                    "the \\Recent flag cannot be set by a client".into(),
                ));
            }
            Ok(imap_codec::imap_types::IntoStatic::into_static(flag))
        })
        .collect()
}

/// A mailbox name as IMAP4rev1 sends it: modified UTF-7 (RFC 3501 section 5.1.3) for
/// anything outside printable ASCII, `&` as `&-`. Names with CR, LF or NUL are refused.
pub fn encode_mailbox(name: &str) -> Result<String> {
    if name.is_empty() || name.contains(['\r', '\n', '\0']) {
        return Err(Error::InvalidInput(format!(
            "{name:?} cannot be a mailbox name"
        )));
    }
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        let bytes: Vec<u8> = pending.iter().flat_map(|unit| unit.to_be_bytes()).collect();
        let encoded = popget_sasl::encode(&bytes);
        out.push('&');
        out.push_str(&encoded.trim_end_matches('=').replace('/', ","));
        out.push('-');
        pending.clear();
    };
    for ch in name.chars() {
        if (' '..='~').contains(&ch) {
            flush(&mut pending, &mut out);
            if ch == '&' {
                out.push_str("&-");
            } else {
                out.push(ch);
            }
        } else {
            let mut units = [0u16; 2];
            pending.extend_from_slice(ch.encode_utf16(&mut units));
        }
    }
    flush(&mut pending, &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crlf(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        CrlfEncoder::default().encode(input, &mut out);
        out
    }

    #[test]
    fn lf_becomes_crlf_and_crlf_stays() {
        assert_eq!(crlf(b"a\nb\r\nc\n"), b"a\r\nb\r\nc\r\n");
        assert_eq!(crlf(b"\n\n"), b"\r\n\r\n");
        assert_eq!(crlf(b"no newline"), b"no newline");
        assert_eq!(crlf(b"bare\rcr"), b"bare\rcr");
        assert_eq!(crlf(b""), b"");
    }

    #[test]
    fn conversion_and_count_agree_at_every_split_point() {
        let input = b"From x\n.\r\n\r\n\n\ra\n\xff\xfe\r\r\n\nend";
        let whole = crlf(input);
        for split in 0..=input.len() {
            let mut encoder = CrlfEncoder::default();
            let mut out = Vec::new();
            encoder.encode(&input[..split], &mut out);
            encoder.encode(&input[split..], &mut out);
            assert_eq!(out, whole, "split at {split}");
            let mut counter = CrlfEncoder::default();
            let count = counter.count(&input[..split]) + counter.count(&input[split..]);
            assert_eq!(count, whole.len() as u64, "count split at {split}");
        }
    }

    #[test]
    fn the_header_digest_covers_the_crlf_header_through_its_empty_line() {
        let digest = |message: &[u8], limit| {
            let mut source = std::io::Cursor::new(message.to_vec());
            source.set_position(1);
            let digest = header_sha256(&mut source, limit).unwrap();
            assert_eq!(source.position(), 1, "left where it stood");
            digest
        };
        let sha = |bytes: &[u8]| Some(<[u8; 32]>::from(Sha256::digest(bytes)));
        assert_eq!(
            digest(b"xA: 1\nB: 2\n\nbody\n", 100),
            sha(b"A: 1\r\nB: 2\r\n\r\n")
        );
        // Already CRLF, or mixed: the same header.
        assert_eq!(
            digest(b"xA: 1\r\nB: 2\n\r\nbody\n", 100),
            sha(b"A: 1\r\nB: 2\r\n\r\n")
        );
        // No body: the whole message. No header: the empty line alone.
        assert_eq!(digest(b"xA: 1\nB: 2", 100), sha(b"A: 1\r\nB: 2"));
        assert_eq!(digest(b"x\nbody\n", 100), sha(b"\r\n"));
        // Longer than the limit: none.
        assert_eq!(digest(b"xA: 1\nB: 2\n\nbody\n", 10), None);
        let mut long = b"xSubject: ".to_vec();
        long.extend(std::iter::repeat_n(b'y', 3 * CHUNK));
        long.extend_from_slice(b"\n\nbody\n");
        let mut expected = long[1..long.len() - 5].to_vec();
        expected.truncate(expected.len() - 2);
        expected.extend_from_slice(b"\r\n\r\n");
        assert_eq!(digest(&long, 4 * CHUNK as u64), sha(&expected));
    }

    #[test]
    fn crlf_length_counts_from_the_position_and_seeks_back() {
        let mut source = io::Cursor::new(b"skip\na\nb\r\n".to_vec());
        source.set_position(5);
        assert_eq!(crlf_length(&mut source).unwrap(), 6);
        assert_eq!(source.position(), 5);
    }

    #[test]
    fn mailbox_names_in_modified_utf7() {
        // RFC 3501 section 5.1.3's example.
        assert_eq!(
            encode_mailbox("~peter/mail/台北/日本語").unwrap(),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
        assert_eq!(encode_mailbox("Tom & Jerry").unwrap(), "Tom &- Jerry");
        assert_eq!(encode_mailbox("Entwürfe").unwrap(), "Entw&APw-rfe");
        assert_eq!(encode_mailbox("INBOX").unwrap(), "INBOX");
        assert!(encode_mailbox("a\r\nb").is_err());
        assert!(encode_mailbox("").is_err());
    }

    #[test]
    fn internal_dates_in_range_only() {
        assert!(InternalDate::new(0, 0).is_ok());
        assert!(InternalDate::new(1_700_000_000, -7 * 3600).is_ok());
        assert!(InternalDate::new(0, 30).is_err());
        assert!(InternalDate::new(i64::MAX, 0).is_err());
        assert!(InternalDate::new(-100_000_000_000, 0).is_err());
        assert!(InternalDate::new(0, 90_000).is_err());
    }

    #[test]
    fn flags_are_checked() {
        assert!(parse_flags(&["\\Seen".into(), "$Forwarded".into()]).is_ok());
        assert!(parse_flags(&["\\Recent".into()]).is_err());
        assert!(parse_flags(&["two words".into()]).is_err());
        assert!(parse_flags(&["\\Seen)".into()]).is_err());
    }
}
