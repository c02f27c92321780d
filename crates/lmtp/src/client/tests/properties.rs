//! Properties over arbitrary input: hostile server bytes never panic, and the octets the
//! server reads are exactly the message.

use super::*;
use proptest::prelude::*;

/// Server bytes rich in what replies are made of.
fn server_bytes() -> impl Strategy<Value = Vec<u8>> {
    let pieces = prop_oneof![
        Just(b"250 OK\r\n".to_vec()),
        Just(b"250-x\r\n".to_vec()),
        Just(b"354 go\r\n".to_vec()),
        Just(b"550 5.1.1 no\r\n".to_vec()),
        Just(b"452 4.2.2 full\r\n".to_vec()),
        Just(b"250 2.0.0 ok\r\n".to_vec()),
        Just(b"\r\n".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..12),
    ];
    proptest::collection::vec(pieces, 0..6).prop_map(|pieces| pieces.concat())
}

fn message_bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            Just(b'.'),
            Just(b'\r'),
            Just(b'\n'),
            Just(b'x'),
            any::<u8>()
        ],
        0..300,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_server_bytes_never_panic(
        greeting in prop_oneof![Just(GREETING.to_vec()), server_bytes()],
        lhlo in prop_oneof![Just(BOTH.to_vec()), Just(PIPELINING.to_vec()), Just(EVERYTHING.to_vec()), server_bytes()],
        answers in proptest::collection::vec(server_bytes(), 0..8),
        chunk in 1usize..40,
        chunk_size in 1usize..20,
        chunking: bool,
        message in message_bytes(),
    ) {
        let mut segments: Vec<&[u8]> = vec![&greeting, &lhlo];
        segments.extend(answers.iter().map(Vec::as_slice));
        let stream = MockStream::chunked(&segments, chunk);
        if let Ok(mut client) = Client::new(stream, "fuzz") {
            client.set_chunking(chunking);
            client.set_chunk_size(chunk_size);
            let _ = client.lhlo("client.example");
            let envelope = Envelope::new("a@b", ["a", "b"]);
            if let Ok(delivery) = client.deliver(&envelope, &message[..]) {
                prop_assert_eq!(delivery.verdicts().count(), 2);
            }
            let _ = client.deliver(&envelope, &message[..]);
            let _ = client.rset();
            let _ = client.quit();
        }
    }

    #[test]
    fn the_server_unstuffs_exactly_the_message(
        message in message_bytes(),
        cuts in proptest::collection::vec(0usize..300, 0..6),
        bdat: bool,
        chunk_size in 1usize..64,
    ) {
        let (lhlo, answers): (&[u8], &[&[u8]]) = if bdat {
            // Every chunk before the last is answered at once (pipelined).
            (BOTH, &[b"250 OK\r\n250 OK\r\n", &b"250 OK\r\n".repeat(700), b"250 Saved\r\n"])
        } else {
            (PIPELINING, &[b"250 OK\r\n250 OK\r\n354 go\r\n", b"250 Saved\r\n"])
        };
        let (mut client, sent) = session(lhlo, answers);
        client.set_chunk_size(chunk_size);
        let mut cuts = cuts;
        cuts.sort_unstable();
        let reader = Pieces { data: message.clone(), cuts, at: 0 };
        // The replies to chunks may be more than were asked for: only the octets matter.
        let _ = client.deliver(&Envelope::new("", ["a"]), reader);
        let all = sent.all();
        let envelope = b"MAIL FROM:<>\r\nRCPT TO:<a>\r\n";
        prop_assert!(all.starts_with(envelope));
        let wire = &all[envelope.len()..];
        let received = if bdat {
            let chunks = parse_bdat(wire);
            prop_assert!(chunks.last().is_some_and(|(_, last)| *last));
            prop_assert!(chunks.iter().all(|(data, _)| data.len() <= chunk_size));
            chunks.into_iter().flat_map(|(data, _)| data).collect::<Vec<u8>>()
        } else {
            let body = wire.strip_prefix(b"DATA\r\n").unwrap_or_default();
            let mut decoder = DotDecoder::new(LineEnding::Crlf);
            let mut out = Vec::new();
            prop_assert_eq!(
                decoder.feed(body, &mut out).unwrap(),
                Progress::Done { consumed: body.len() }
            );
            out
        };
        // The server stores the CRLF form with LF line ends: the message, normalized.
        let mut lf = Vec::new();
        let mut bytes = received.iter().peekable();
        while let Some(&byte) = bytes.next() {
            if !(byte == b'\r' && bytes.peek() == Some(&&b'\n')) {
                lf.push(byte);
            }
        }
        prop_assert_eq!(lf, normalized(&message));
    }
}
