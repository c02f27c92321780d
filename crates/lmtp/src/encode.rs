//! Turns a stored message (LF line ends) into its wire form: CRLF line ends, a final line end
//! where there was none, and for DATA dot-stuffing and the terminating `.` line; a state machine
//! fed in chunks of any size, correct across any split of its input.

/// How the message goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// After `DATA`: lines starting with `.` get one more, and `.` CRLF ends the message
    /// (RFC 5321 section 4.5.2).
    DotStuffed,
    /// In `BDAT` chunks (RFC 3030): the octets as they are, the length said up front.
    Chunked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the first octet of a line.
    LineStart,
    /// Inside a line.
    InLine,
    /// A CR was read and not written: a line end if LF follows, a bare CR otherwise.
    Cr,
}

/// Encodes one message. Line ends: LF and CR LF both become CRLF, so a message already in CRLF
/// form goes out unchanged. A bare CR (one not followed by LF) is message data and goes out as
/// it is: it never ends a line and never starts one, so it cannot make a `.` the first octet of
/// a line the server sees. (RFC 5321 section 2.3.8 asks senders not to send bare CRs; changing
/// them would change the message, and LMTP servers such as Dovecot store them as they are.)
/// A message that does not end with a line end gets one; an empty message stays empty.
#[derive(Debug, Clone)]
pub struct Encoder {
    state: State,
    framing: Framing,
    /// Octets written so far.
    written: u64,
}

impl Encoder {
    /// An encoder at the start of a message.
    pub fn new(framing: Framing) -> Self {
        Encoder {
            state: State::LineStart,
            framing,
            written: 0,
        }
    }

    /// Octets written so far, the stuffing and line ends included.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Encodes the next piece of the message, appending the result to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let before = out.len();
        let mut i = 0;
        while let Some(&byte) = input.get(i) {
            match self.state {
                State::LineStart => {
                    if byte == b'.' && self.framing == Framing::DotStuffed {
                        out.push(b'.');
                    }
                    self.state = State::InLine;
                }
                State::InLine => {
                    let rest = input.get(i..).unwrap_or_default();
                    match memchr::memchr2(b'\r', b'\n', rest) {
                        Some(offset) => {
                            out.extend_from_slice(rest.get(..offset).unwrap_or_default());
                            i += offset + 1;
                            if rest.get(offset) == Some(&b'\n') {
                                out.extend_from_slice(b"\r\n");
                                self.state = State::LineStart;
                            } else {
                                self.state = State::Cr;
                            }
                        }
                        None => {
                            out.extend_from_slice(rest);
                            i = input.len();
                        }
                    }
                }
                State::Cr => {
                    if byte == b'\n' {
                        out.extend_from_slice(b"\r\n");
                        i += 1;
                        self.state = State::LineStart;
                    } else {
                        // A bare CR: data. The octet after it is read inside the line.
                        out.push(b'\r');
                        self.state = State::InLine;
                    }
                }
            }
        }
        self.written += (out.len() - before) as u64;
    }

    /// Ends the message: the final line end if it had none, and with [`Framing::DotStuffed`]
    /// the terminating `.` line. The encoder is then at the start of a new message.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let before = out.len();
        match self.state {
            State::LineStart => {}
            State::InLine => out.extend_from_slice(b"\r\n"),
            // A CR at the very end is a bare CR, then the added line end.
            State::Cr => out.extend_from_slice(b"\r\r\n"),
        }
        if self.framing == Framing::DotStuffed {
            out.extend_from_slice(b".\r\n");
        }
        self.written += (out.len() - before) as u64;
        self.state = State::LineStart;
    }
}

/// The wire form of a whole message in memory (see [`Encoder`]).
pub fn encode(message: &[u8], framing: Framing) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 16 + 5);
    let mut encoder = Encoder::new(framing);
    encoder.feed(message, &mut out);
    encoder.finish(&mut out);
    out
}

/// The octets of a message's CRLF form without stuffing: what BDAT sends, and what `SIZE=`
/// declares.
pub(crate) fn wire_size(message: &[u8]) -> u64 {
    let bare_lfs = memchr::memchr_iter(b'\n', message)
        .filter(|&i| i == 0 || message.get(i - 1) != Some(&b'\r'))
        .count();
    let final_line_end = if message.is_empty() || message.ends_with(b"\n") {
        0
    } else {
        2
    };
    (message.len() + bare_lfs + final_line_end) as u64
}

/// What a message is once delivered and stored with LF line ends: CR LF read as LF, and a final
/// LF added to a message without one. A message encoded by [`Encoder`] and unstuffed by the
/// server comes back as this.
pub fn normalized(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 1);
    let mut bytes = message.iter().peekable();
    while let Some(&byte) = bytes.next() {
        if byte == b'\r' && bytes.peek() == Some(&&b'\n') {
            continue;
        }
        out.push(byte);
    }
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use popget_pop3::{DotDecoder, LineEnding, Progress};

    /// Known answers: (message, DATA form, BDAT form).
    const VECTORS: &[(&[u8], &[u8], &[u8])] = &[
        (b"", b".\r\n", b""),
        (b"x", b"x\r\n.\r\n", b"x\r\n"),
        (b"hello\n", b"hello\r\n.\r\n", b"hello\r\n"),
        // A line that is only a dot, and lines that start with dots.
        (b".\n", b"..\r\n.\r\n", b".\r\n"),
        (b"a\n.\nb\n", b"a\r\n..\r\nb\r\n.\r\n", b"a\r\n.\r\nb\r\n"),
        (b"..\n", b"...\r\n.\r\n", b"..\r\n"),
        (b"..x\n", b"...x\r\n.\r\n", b"..x\r\n"),
        (b".x\n", b"..x\r\n.\r\n", b".x\r\n"),
        // A dot at the very end without a line end.
        (b"a\n.", b"a\r\n..\r\n.\r\n", b"a\r\n.\r\n"),
        (b".", b"..\r\n.\r\n", b".\r\n"),
        // Dots inside lines are data.
        (b"x.\n", b"x.\r\n.\r\n", b"x.\r\n"),
        (b"a.b\n", b"a.b\r\n.\r\n", b"a.b\r\n"),
        // CRLF input is the same as LF input.
        (
            b"a\r\n.\r\nb\r\n",
            b"a\r\n..\r\nb\r\n.\r\n",
            b"a\r\n.\r\nb\r\n",
        ),
        (b".\r\n", b"..\r\n.\r\n", b".\r\n"),
        (b"a\r\n", b"a\r\n.\r\n", b"a\r\n"),
        // Bare CRs are data and never start a line.
        (b"a\rb\n", b"a\rb\r\n.\r\n", b"a\rb\r\n"),
        (b"a\r.\n", b"a\r.\r\n.\r\n", b"a\r.\r\n"),
        (b"\r.\n", b"\r.\r\n.\r\n", b"\r.\r\n"),
        (b"a\r\r\n", b"a\r\r\n.\r\n", b"a\r\r\n"),
        (b"a\r", b"a\r\r\n.\r\n", b"a\r\r\n"),
        (b"\r", b"\r\r\n.\r\n", b"\r\r\n"),
        (b"\n\n", b"\r\n\r\n.\r\n", b"\r\n\r\n"),
        (b"\n.\n", b"\r\n..\r\n.\r\n", b"\r\n.\r\n"),
        // "From " lines are left alone (LMTP is not mbox).
        (
            b"From me\n>From you\n",
            b"From me\r\n>From you\r\n.\r\n",
            b"From me\r\n>From you\r\n",
        ),
        (
            b"\x00\xff\xfe\n",
            b"\x00\xff\xfe\r\n.\r\n",
            b"\x00\xff\xfe\r\n",
        ),
    ];

    fn encode_pieces(pieces: &[&[u8]], framing: Framing) -> Vec<u8> {
        let mut encoder = Encoder::new(framing);
        let mut out = Vec::new();
        for piece in pieces {
            encoder.feed(piece, &mut out);
        }
        encoder.finish(&mut out);
        assert_eq!(encoder.written(), out.len() as u64);
        out
    }

    /// The server's side: unstuffs a DATA body and stores it with LF line ends.
    fn server_unstuff(wire: &[u8]) -> Vec<u8> {
        let mut decoder = DotDecoder::new(LineEnding::Lf);
        let mut out = Vec::new();
        let progress = decoder.feed(wire, &mut out).unwrap();
        assert_eq!(
            progress,
            Progress::Done {
                consumed: wire.len()
            },
            "{wire:?}"
        );
        out
    }

    #[test]
    fn known_vectors() {
        for (message, data, bdat) in VECTORS {
            let shown = String::from_utf8_lossy(message);
            assert_eq!(encode(message, Framing::DotStuffed), *data, "{shown:?}");
            assert_eq!(encode(message, Framing::Chunked), *bdat, "{shown:?}");
            assert_eq!(server_unstuff(data), normalized(message), "{shown:?}");
        }
    }

    #[test]
    fn every_split_point_gives_the_same_result() {
        for (message, data, bdat) in VECTORS {
            for a in 0..=message.len() {
                for b in a..=message.len() {
                    let pieces = [&message[..a], &message[a..b], &message[b..]];
                    let shown = String::from_utf8_lossy(message);
                    assert_eq!(
                        encode_pieces(&pieces, Framing::DotStuffed),
                        *data,
                        "split {a},{b} of {shown:?}"
                    );
                    assert_eq!(
                        encode_pieces(&pieces, Framing::Chunked),
                        *bdat,
                        "split {a},{b} of {shown:?}"
                    );
                }
            }
            let bytes: Vec<&[u8]> = message.chunks(1).collect();
            assert_eq!(encode_pieces(&bytes, Framing::DotStuffed), *data);
        }
    }

    #[test]
    fn pop3_stuffing_does_not_leak_through() {
        // What popget stores was unstuffed when it was fetched: "..x" is a line that really
        // starts with two dots, and it is stuffed once more, never sent as it came over POP3.
        let fetched = b"Subject: dots\n\n..x\n.\n";
        let wire = encode(fetched, Framing::DotStuffed);
        assert_eq!(wire, b"Subject: dots\r\n\r\n...x\r\n..\r\n.\r\n");
        assert_eq!(server_unstuff(&wire), fetched);
    }

    #[test]
    fn wire_size_is_the_chunked_length() {
        for (message, _, bdat) in VECTORS {
            assert_eq!(wire_size(message), bdat.len() as u64, "{message:?}");
        }
    }

    #[test]
    fn an_encoder_can_be_reused_after_finish() {
        let mut encoder = Encoder::new(Framing::DotStuffed);
        let mut out = Vec::new();
        encoder.feed(b"a", &mut out);
        encoder.finish(&mut out);
        encoder.feed(b".b", &mut out);
        encoder.finish(&mut out);
        assert_eq!(out, b"a\r\n.\r\n..b\r\n.\r\n");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use popget_pop3::{DotDecoder, LineEnding, Progress};
    use proptest::prelude::*;

    /// Bytes rich in the ones that matter: dots, CR, LF.
    fn message_bytes() -> impl Strategy<Value = Vec<u8>> {
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

    fn encode_split(message: &[u8], cuts: &[usize], framing: Framing) -> Vec<u8> {
        let mut cuts: Vec<usize> = cuts.iter().map(|&c| c % (message.len() + 1)).collect();
        cuts.extend([0, message.len()]);
        cuts.sort_unstable();
        let mut encoder = Encoder::new(framing);
        let mut out = Vec::new();
        for pair in cuts.windows(2) {
            encoder.feed(&message[pair[0]..pair[1]], &mut out);
        }
        encoder.finish(&mut out);
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_split_gives_the_same_output(
            message in message_bytes(),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            for framing in [Framing::DotStuffed, Framing::Chunked] {
                prop_assert_eq!(encode_split(&message, &cuts, framing), encode(&message, framing));
            }
        }

        #[test]
        fn the_server_unstuffs_the_message_back(message in message_bytes()) {
            let wire = encode(&message, Framing::DotStuffed);
            let mut decoder = DotDecoder::new(LineEnding::Lf);
            let mut out = Vec::new();
            // The terminator is found exactly at the end: nothing of the message ends it early.
            prop_assert_eq!(
                decoder.feed(&wire, &mut out).unwrap(),
                Progress::Done { consumed: wire.len() }
            );
            prop_assert_eq!(&out, &normalized(&message));
            // Chunked: the same octets without the stuffing.
            let chunked = encode(&message, Framing::Chunked);
            let mut crlf = Vec::new();
            let mut decoder = DotDecoder::new(LineEnding::Crlf);
            decoder.feed(&wire, &mut crlf).unwrap();
            prop_assert_eq!(chunked, crlf);
        }

        #[test]
        fn every_line_end_on_the_wire_is_crlf(message in message_bytes()) {
            let wire = encode(&message, Framing::Chunked);
            for (i, &byte) in wire.iter().enumerate() {
                if byte == b'\n' {
                    prop_assert!(i > 0 && wire[i - 1] == b'\r');
                }
            }
        }
    }
}
