//! Streaming decoder for multi-line bodies: finds the CRLF.CRLF terminator, removes dot-stuffing
//! and converts CRLF line ends, across any split of its input, without holding lines in memory.

use std::io::{self, Write};

/// How line ends are written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnding {
    /// CRLF becomes LF: the form stored in Maildir and mbox.
    Lf,
    /// The wire form, CRLF kept.
    Crlf,
}

impl LineEnding {
    fn bytes(self) -> &'static [u8] {
        match self {
            LineEnding::Lf => b"\n",
            LineEnding::Crlf => b"\r\n",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the first octet of a line.
    LineStart,
    /// A line began with `.`.
    Dot,
    /// A line began with `.` CR: the terminator if LF follows.
    DotCr,
    /// Inside a line.
    InLine,
    /// A CR inside a line: a line end if LF follows, a bare CR otherwise.
    Cr,
    Done,
}

/// Result of feeding input to the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// All input was consumed; the terminator has not been seen yet.
    NeedMore,
    /// The terminator ended at `consumed`; bytes after it belong to the next response.
    Done {
        /// How many octets of the input belonged to this body, terminator included.
        consumed: usize,
    },
}

/// Decodes one multi-line body. Only CRLF ends a line: a bare CR or LF is message data and can
/// never start a terminator, so message text cannot be read as a response.
#[derive(Debug, Clone)]
pub struct DotDecoder {
    state: State,
    ending: LineEnding,
    written: u64,
    lines: u64,
    unstuffed: u64,
}

impl DotDecoder {
    /// A decoder at the start of a body, writing line ends as `ending`.
    pub fn new(ending: LineEnding) -> Self {
        DotDecoder {
            state: State::LineStart,
            ending,
            written: 0,
            lines: 0,
            unstuffed: 0,
        }
    }

    /// Octets written to the output so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Whether the terminating `.` line has been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Line ends (CRLF) decoded so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Stuffing dots removed so far.
    pub fn unstuffed(&self) -> u64 {
        self.unstuffed
    }

    /// Decodes as much of `input` as belongs to this body, writing the result to `out`.
    pub fn feed<W: Write + ?Sized>(&mut self, input: &[u8], out: &mut W) -> io::Result<Progress> {
        let mut i = 0;
        while let Some(&byte) = input.get(i) {
            match self.state {
                State::LineStart => {
                    if byte == b'.' {
                        self.state = State::Dot;
                        i += 1;
                    } else {
                        self.state = State::InLine;
                    }
                }
                State::Dot => {
                    if byte == b'\r' {
                        self.state = State::DotCr;
                        i += 1;
                    } else {
                        // The leading dot was stuffing: drop it and read the line.
                        self.unstuffed += 1;
                        self.state = State::InLine;
                    }
                }
                State::DotCr => {
                    if byte == b'\n' {
                        self.state = State::Done;
                        return Ok(Progress::Done { consumed: i + 1 });
                    }
                    // `.` CR x: the dot was stuffing, the CR is pending line content.
                    self.unstuffed += 1;
                    self.state = State::Cr;
                }
                State::InLine => {
                    let rest = input.get(i..).unwrap_or_default();
                    match memchr::memchr(b'\r', rest) {
                        Some(offset) => {
                            self.emit(out, rest.get(..offset).unwrap_or_default())?;
                            i += offset + 1;
                            self.state = State::Cr;
                        }
                        None => {
                            self.emit(out, rest)?;
                            i = input.len();
                        }
                    }
                }
                State::Cr => match byte {
                    b'\n' => {
                        self.emit(out, self.ending.bytes())?;
                        self.lines += 1;
                        i += 1;
                        self.state = State::LineStart;
                    }
                    b'\r' => {
                        self.emit(out, b"\r")?;
                        i += 1;
                    }
                    _ => {
                        self.emit(out, b"\r")?;
                        self.state = State::InLine;
                    }
                },
                State::Done => return Ok(Progress::Done { consumed: i }),
            }
        }
        if self.state == State::Done {
            return Ok(Progress::Done { consumed: i });
        }
        Ok(Progress::NeedMore)
    }

    /// The body's length with one octet per line end, whatever `ending` writes.
    fn lf_octets(&self) -> u64 {
        match self.ending {
            LineEnding::Lf => self.written,
            LineEnding::Crlf => self.written.saturating_sub(self.lines),
        }
    }

    /// Whether the body has already grown past what a message LIST announced as `listed`
    /// octets may be (see [`ListedSizes`]): reading further is pointless.
    pub fn outgrew(&self, listed: u64, sizes: ListedSizes) -> bool {
        self.lf_octets() > listed.saturating_add(sizes.most_over(listed))
    }

    /// Whether the complete body can be the message LIST announced as `listed` octets: with
    /// [`ListedSizes::Exact`], at most [`size_slack`] more than its length counting one octet
    /// per line end, and at most that much less than its length counting two octets per line
    /// end and every stuffing dot; with [`ListedSizes::Estimated`], not over the bound.
    pub fn fits(&self, listed: u64, sizes: ListedSizes) -> bool {
        let most = self
            .lf_octets()
            .saturating_add(self.lines)
            .saturating_add(self.unstuffed);
        let short_by_at_most = match sizes {
            ListedSizes::Exact => size_slack(listed),
            ListedSizes::Estimated => u64::MAX,
        };
        !self.outgrew(listed, sizes) && most.saturating_add(short_by_at_most) >= listed
    }

    fn emit<W: Write + ?Sized>(&mut self, out: &mut W, bytes: &[u8]) -> io::Result<()> {
        if !bytes.is_empty() {
            out.write_all(bytes)?;
            self.written += bytes.len() as u64;
        }
        Ok(())
    }
}

/// How far a message may differ from its LIST size, beyond the line-end convention.
///
/// RFC 1939 section 11 asks for the exact size with each line end counted as CRLF, and
/// RFC 6856 section 2.1 says it SHOULD match what RETR sends, not counting stuffing. In
/// practice servers that store LF count one octet per line end, some count the stuffing dots,
/// some add a missing final line end or a header (`Received`, `X-UIDL`, `Status`) when they
/// send a message, some round (HP OpenMail to 1 KiB, per the fetchmail FAQ) and Microsoft
/// Exchange estimates unless `EnableExactRFC822Size` is set. So a body is accepted when its
/// length lies between the two conventions (one or two octets per line end, stuffing dots
/// included or not), widened by 1 KiB plus 1/16 of the LIST size. That still refuses what
/// matters: a body cut short by an unstuffed `.` line or by a server that gave up (a tenth of
/// its size), and one that runs on into later answers. Desynchronisation by a line or two is
/// caught by the strict status lines and the sync point instead (see `fetch.rs`).
pub fn size_slack(listed: u64) -> u64 {
    1024 + listed / 16
}

/// How closely a server's LIST sizes are trusted. With the `serde` feature it reads from the
/// names `exact` and `estimated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum ListedSizes {
    /// The messages' sizes, within the usual conventions.
    ///
    /// The conventions are those of [`size_slack`]; a body that does not fit is a protocol
    /// error (cut short, or the answers out of step).
    #[default]
    Exact,
    /// Estimates: a message may be shorter, or up to four times longer plus 1 MiB.
    ///
    /// Microsoft Exchange without `EnableExactRFC822Size` sends such sizes. A body cut short by
    /// the server is then only caught by the answers that follow it.
    Estimated,
}

impl ListedSizes {
    /// How many octets a body may exceed its LIST size `listed` by.
    fn most_over(self, listed: u64) -> u64 {
        match self {
            ListedSizes::Exact => size_slack(listed),
            ListedSizes::Estimated => listed.saturating_mul(3).saturating_add(1 << 20),
        }
    }
}

/// The inverse of decoding with [`LineEnding::Lf`]: LF becomes CRLF, lines starting with `.` are
/// stuffed, and the terminator is appended. What a server sends for a stored message.
pub fn stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 32 + 5);
    let mut at_line_start = true;
    for &byte in message {
        if at_line_start && byte == b'.' {
            out.push(b'.');
        }
        if byte == b'\n' {
            out.push(b'\r');
        }
        out.push(byte);
        at_line_start = byte == b'\n';
    }
    if !at_line_start {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_chunks(chunks: &[&[u8]], ending: LineEnding) -> (Vec<u8>, Option<usize>) {
        let mut decoder = DotDecoder::new(ending);
        let mut out = Vec::new();
        let mut offset = 0;
        for chunk in chunks {
            match decoder.feed(chunk, &mut out).unwrap() {
                Progress::NeedMore => offset += chunk.len(),
                Progress::Done { consumed } => return (out, Some(offset + consumed)),
            }
        }
        (out, None)
    }

    fn decode(input: &[u8]) -> (Vec<u8>, Option<usize>) {
        decode_chunks(&[input], LineEnding::Lf)
    }

    /// Known answers: (wire body, decoded with LF line ends).
    const VECTORS: &[(&[u8], &[u8])] = &[
        (b".\r\n", b""),
        (b"hello\r\n.\r\n", b"hello\n"),
        (b"..x\r\n.\r\n", b".x\n"),
        (b"...\r\n.\r\n", b"..\n"),
        (b".x\r\n.\r\n", b"x\n"),
        (b"..\r\n.\r\n", b".\n"),
        (b"\r\n\r\n.\r\n", b"\n\n"),
        (b"a\nb\r\n.\r\n", b"a\nb\n"),
        (b"a\n.\nb\r\n.\r\n", b"a\n.\nb\n"),
        (b"a\rb\r\n.\r\n", b"a\rb\n"),
        (b". \r\n.\r\n", b" \n"),
        (b".\r\r\n.\r\n", b"\r\n"),
        (b".\rx\r\n.\r\n", b"\rx\n"),
        (b"x.\r\n.\r\n", b"x.\n"),
        (b"end\r\r\n.\r\n", b"end\r\n"),
        (b"From me\r\n>From you\r\n.\r\n", b"From me\n>From you\n"),
        (b"\x00\xff\xfe\r\n.\r\n", b"\x00\xff\xfe\n"),
    ];

    #[test]
    fn decodes_known_vectors() {
        for (wire, expected) in VECTORS {
            let (out, end) = decode(wire);
            assert_eq!(out, *expected, "wire {:?}", String::from_utf8_lossy(wire));
            assert_eq!(
                end,
                Some(wire.len()),
                "wire {:?}",
                String::from_utf8_lossy(wire)
            );
        }
    }

    #[test]
    fn every_split_point_gives_the_same_result() {
        for (wire, expected) in VECTORS {
            for a in 0..=wire.len() {
                for b in a..=wire.len() {
                    let (out, end) =
                        decode_chunks(&[&wire[..a], &wire[a..b], &wire[b..]], LineEnding::Lf);
                    assert_eq!(
                        out,
                        *expected,
                        "split {a},{b} of {:?}",
                        String::from_utf8_lossy(wire)
                    );
                    assert_eq!(end, Some(wire.len()));
                }
            }
            let bytes: Vec<&[u8]> = wire.chunks(1).collect();
            assert_eq!(decode_chunks(&bytes, LineEnding::Lf).0, *expected);
        }
    }

    #[test]
    fn stops_exactly_at_the_terminator() {
        let wire = b"body\r\n.\r\n+OK next\r\n";
        let (out, end) = decode(wire);
        assert_eq!(out, b"body\n");
        assert_eq!(end, Some(9));
    }

    #[test]
    fn fake_terminators_do_not_end_the_body() {
        // Only CRLF "." CRLF at a line start ends a body; none of these is one, so a message
        // cannot end early and leave its rest to be read as answers.
        for wire in [
            &b"a\n.\n"[..],
            b"a\r\n.\n",
            b"a\r\n. \r\n",
            b"a\r\n.\r\r\n",
            b"a\r\n..\r\n",
            b"a\n.\r\n",
        ] {
            let (_, end) = decode(wire);
            assert_eq!(end, None, "{:?}", String::from_utf8_lossy(wire));
        }
    }

    #[test]
    fn keeps_wire_line_ends_on_request() {
        let (out, _) = decode_chunks(&[b"a\r\n..b\r\nc\rd\r\n.\r\n"], LineEnding::Crlf);
        assert_eq!(out, b"a\r\n.b\r\nc\rd\r\n");
    }

    #[test]
    fn counts_written_octets() {
        let mut decoder = DotDecoder::new(LineEnding::Lf);
        let mut out = Vec::new();
        decoder.feed(b"..ab\r\ncd\r\n.\r\n", &mut out).unwrap();
        assert_eq!(decoder.written(), out.len() as u64);
        assert!(decoder.is_done());
        assert_eq!((decoder.lines(), decoder.unstuffed()), (2, 1));
    }

    #[test]
    fn sizes_are_checked_within_the_documented_slack() {
        // 100 lines of 50 octets: 5,100 octets with LF, 5,200 with CRLF.
        let mut wire = Vec::new();
        for _ in 0..100 {
            wire.extend_from_slice(&[b'x'; 50]);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b".\r\n");
        for ending in [LineEnding::Lf, LineEnding::Crlf] {
            let mut decoder = DotDecoder::new(ending);
            decoder.feed(&wire, &mut Vec::new()).unwrap();
            // Both conventions, and the slack (1024 + 1/16) either side.
            for listed in [5100, 5200, 3900, 6600] {
                assert!(
                    decoder.fits(listed, ListedSizes::Exact),
                    "{listed} {ending:?}"
                );
            }
            // A tenth of the size, or far less than it, or more than it.
            for listed in [51_000, 7000, 3000, u64::MAX] {
                assert!(
                    !decoder.fits(listed, ListedSizes::Exact),
                    "{listed} {ending:?}"
                );
            }
            assert!(decoder.outgrew(3000, ListedSizes::Exact));
            assert!(!decoder.outgrew(51_000, ListedSizes::Exact));
            // A server reporting 0 for small messages still passes.
            assert!(!decoder.fits(0, ListedSizes::Exact));
        }
        let mut small = DotDecoder::new(LineEnding::Lf);
        small
            .feed(b"Subject: x\r\n\r\nbody\r\n.\r\n", &mut Vec::new())
            .unwrap();
        assert!(
            small.fits(0, ListedSizes::Exact)
                && small.fits(21, ListedSizes::Exact)
                && small.fits(1000, ListedSizes::Exact)
        );
    }

    #[test]
    fn estimated_sizes_bound_only_the_growth() {
        // 5,100 octets: any estimate from 1 to far more is accepted, and a body four times and
        // 1 MiB past its estimate is still refused.
        let mut decoder = DotDecoder::new(LineEnding::Lf);
        let mut wire = b"x".repeat(5098);
        wire.extend_from_slice(b"\r\n.\r\n");
        decoder.feed(&wire, &mut Vec::new()).unwrap();
        for listed in [1, 1000, 3000, 5100, 51_000, u64::MAX] {
            assert!(decoder.fits(listed, ListedSizes::Estimated), "{listed}");
        }
        assert!(!decoder.fits(1000, ListedSizes::Exact));
        let mut runaway = DotDecoder::new(LineEnding::Lf);
        runaway
            .feed(&b"y".repeat(4 * 1000 + (1 << 20) + 1), &mut Vec::new())
            .unwrap();
        assert!(runaway.outgrew(1000, ListedSizes::Estimated));
        assert!(!runaway.outgrew(2000, ListedSizes::Estimated));
    }

    #[test]
    fn stuffing_then_decoding_round_trips() {
        let messages: &[&[u8]] = &[
            b"",
            b"x",
            b"plain\n",
            b".\n..\n...\n",
            b"no final newline",
            b"\n\n\n",
            b"cr\rinside\n.\n",
            b"From a\n>From b\n",
            b"\xff\x00binary\n",
        ];
        for message in messages {
            let wire = stuff(message);
            let (out, end) = decode(&wire);
            let mut expected = message.to_vec();
            if !expected.is_empty() && !expected.ends_with(b"\n") {
                expected.push(b'\n');
            }
            assert_eq!(out, expected, "{:?}", String::from_utf8_lossy(message));
            assert_eq!(end, Some(wire.len()));
        }
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Decodes `input` fed in pieces cut at `cuts` (positions, in any order).
    fn decode_split(input: &[u8], cuts: &[usize], ending: LineEnding) -> (Vec<u8>, Option<usize>) {
        let mut cuts: Vec<usize> = cuts.iter().map(|&c| c % (input.len() + 1)).collect();
        cuts.push(0);
        cuts.push(input.len());
        cuts.sort_unstable();
        cuts.dedup();
        let mut decoder = DotDecoder::new(ending);
        let mut out = Vec::new();
        for pair in cuts.windows(2) {
            if let Progress::Done { consumed } =
                decoder.feed(&input[pair[0]..pair[1]], &mut out).unwrap()
            {
                return (out, Some(pair[0] + consumed));
            }
        }
        (out, None)
    }

    /// Bytes rich in the ones that matter: dots, CR, LF.
    fn wire_bytes() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                Just(b'.'),
                Just(b'\r'),
                Just(b'\n'),
                Just(b'x'),
                any::<u8>()
            ],
            0..200,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_split_gives_the_same_output(
            input in wire_bytes(),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
            crlf: bool,
        ) {
            let ending = if crlf { LineEnding::Crlf } else { LineEnding::Lf };
            let whole = decode_split(&input, &[], ending);
            prop_assert_eq!(decode_split(&input, &cuts, ending), whole.clone());
            let bytes: Vec<usize> = (0..input.len()).collect();
            prop_assert_eq!(decode_split(&input, &bytes, ending), whole);
        }

        #[test]
        fn unstuff_of_stuff_is_the_identity(
            message in wire_bytes(),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            let wire = stuff(&message);
            let (out, end) = decode_split(&wire, &cuts, LineEnding::Lf);
            let mut expected = message.clone();
            if !expected.is_empty() && !expected.ends_with(b"\n") {
                expected.push(b'\n');
            }
            prop_assert_eq!(out, expected);
            prop_assert_eq!(end, Some(wire.len()));
        }

        #[test]
        fn nothing_after_the_terminator_is_consumed(
            message in wire_bytes(),
            next in proptest::collection::vec(any::<u8>(), 0..50),
        ) {
            let mut wire = stuff(&message);
            let body = wire.len();
            wire.extend_from_slice(&next);
            prop_assert_eq!(decode_split(&wire, &[], LineEnding::Lf).1, Some(body));
        }
    }
}
