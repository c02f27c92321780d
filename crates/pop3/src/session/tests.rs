//! The session's unit and property tests, against in-memory servers.

mod unit {
    use super::super::wire::heap_block;
    use super::super::*;
    use crate::MockStream;
    use crate::MAX_LINE;
    use std::io;
    use std::sync::{Arc, Mutex};

    use crate::mock::{client, sent as text};

    #[test]
    fn reads_capabilities_and_sends_exact_bytes() {
        let (mut client, written) =
            client(&[b"+OK ready\r\n", b"+OK\r\nUIDL\r\nSASL PLAIN\r\n.\r\n"]);
        let capa = client.capa().unwrap().unwrap();
        assert!(capa.uidl());
        assert_eq!(capa.sasl_mechanisms(), ["PLAIN"]);
        assert_eq!(text(&written), "CAPA\r\n");
    }

    #[test]
    fn capa_err_means_no_capabilities() {
        let (mut client, _) = client(&[b"+OK ready\r\n", b"-ERR unknown command\r\n"]);
        assert!(client.capa().unwrap().is_none());
    }

    #[test]
    fn an_err_greeting_is_refused() {
        let result = Client::new(
            MockStream::new(&[b"-ERR [SYS/TEMP] busy\r\n"]),
            "mock",
            Security::Tls,
        );
        assert!(matches!(
            result,
            Err(Error::GreetingRefused { code: Some(_), .. })
        ));
        let result = Client::new(
            MockStream::new(&[b"-ERR go away\r\n"]),
            "mock",
            Security::Tls,
        );
        assert!(matches!(
            result,
            Err(Error::GreetingRefused { code: None, .. })
        ));
    }

    #[test]
    fn unsolicited_data_after_the_greeting_is_an_error() {
        // Answers the server sent before any command (here after the greeting) are refused,
        // never taken as the answer to the next command.
        let (mut client, written) = client(&[b"+OK ready\r\n+OK 2 messages\r\n1 120\r\n.\r\n"]);
        assert!(matches!(client.capa(), Err(Error::Protocol(_))));
        assert_eq!(text(&written), "");
    }

    #[test]
    fn stls_rejects_bytes_injected_after_the_ok() {
        // Bytes after STLS's `+OK` would be read as if they came through TLS: `+OK` and a
        // forged CAPA in one segment.
        let stream = MockStream::new(&[
            b"+OK ready\r\n",
            b"+OK begin TLS\r\n+OK\r\nSASL PLAIN\r\n.\r\n",
        ]);
        let client = Client::new(stream, "mock", Security::Plain).unwrap();
        assert!(matches!(client.stls(), Err(Error::Protocol(_))));

        let stream = MockStream::new(&[b"+OK ready\r\n", b"+OK begin TLS\r\n+O"]);
        let client = Client::new(stream, "mock", Security::Plain).unwrap();
        assert!(matches!(client.stls(), Err(Error::Protocol(_))));

        let stream = MockStream::new(&[b"+OK ready\r\n", b"+OK begin TLS\r\n"]);
        let written = stream.written.clone();
        let client = Client::new(stream, "mock", Security::Plain).unwrap();
        assert!(client.stls().is_ok());
        assert_eq!(text(&written), "STLS\r\n");
    }

    #[test]
    fn stls_err_is_unavailable_and_never_retried() {
        let stream = MockStream::new(&[b"+OK ready\r\n", b"-ERR not now\r\n"]);
        let written = stream.written.clone();
        let client = Client::new(stream, "mock", Security::Plain).unwrap();
        assert!(matches!(client.stls(), Err(Error::StlsRefused { .. })));
        assert_eq!(text(&written), "STLS\r\n");
    }

    fn session(segments: &[&[u8]], chunk: usize) -> (Session<MockStream>, Arc<Mutex<Vec<u8>>>) {
        let stream = MockStream::chunked(segments, chunk);
        let written = stream.written.clone();
        let client = Client::new(stream, "mock", Security::Tls).unwrap();
        (client.enter_session(), written)
    }

    #[test]
    fn pipelined_listings_go_out_at_once_and_a_refused_uidl_means_none() {
        let (mut session, written) = session(
            &[
                b"+OK hi\r\n",
                b"+OK 2 30\r\n+OK 2 messages\r\n1 10\r\n2 20\r\n.\r\n+OK\r\n1 a\r\n2 b\r\n.\r\n",
                b"+OK 1 10\r\n+OK\r\n1 10\r\n.\r\n-ERR no UIDL here\r\n",
            ],
            usize::MAX,
        );
        let (scan, ids) = session.listings(true).unwrap();
        assert_eq!(scan.iter().map(|e| e.size).collect::<Vec<_>>(), [10, 20]);
        assert_eq!(ids.unwrap()[1].uid, b"b");
        let (scan, ids) = session.listings(true).unwrap();
        assert_eq!(scan.len(), 1);
        assert!(ids.is_none());
        assert_eq!(
            text(&written),
            "STAT\r\nLIST\r\nUIDL\r\nSTAT\r\nLIST\r\nUIDL\r\n"
        );
        assert_eq!(session.outstanding(), 0);
    }

    #[test]
    fn a_refused_pipelined_list_leaves_the_uidl_answer_outstanding() {
        let (mut session, _) =
            session(&[b"+OK hi\r\n", b"+OK 0 0\r\n-ERR busy\r\n+OK\r\n.\r\n"], 3);
        assert!(matches!(session.listings(true), Err(Error::Refused { .. })));
        assert_eq!(session.outstanding(), 1);
    }

    #[test]
    fn lists_and_retrieves_in_any_chunking() {
        let script: &[&[u8]] = &[
            b"+OK hi\r\n",
            b"+OK 2 messages\r\n1 5\r\n2 9\r\n.\r\n",
            b"+OK\r\n1 aaa\r\n2 bbb\r\n.\r\n",
            b"+OK 5 octets\r\nab\r\n..c\r\n.\r\n",
            b"+OK\r\n",
        ];
        for chunk in [1, 2, 3, 7, 64, usize::MAX] {
            let (mut session, written) = session(script, chunk);
            let list = session.list().unwrap();
            assert_eq!(
                list,
                [
                    ScanEntry {
                        message: 1,
                        size: 5
                    },
                    ScanEntry {
                        message: 2,
                        size: 9
                    }
                ]
            );
            let uidl = session.uidl().unwrap().unwrap();
            assert_eq!(
                uidl[1],
                UidlEntry {
                    message: 2,
                    uid: b"bbb".to_vec()
                }
            );
            let mut out = Vec::new();
            let body = session.retr(1, LineEnding::Lf, &mut out).unwrap();
            assert_eq!(out, b"ab\n.c\n");
            assert_eq!(body.octets, 6);
            session.quit().unwrap();
            assert_eq!(text(&written), "LIST\r\nUIDL\r\nRETR 1\r\nQUIT\r\n");
        }
    }

    #[test]
    fn pipelined_answers_stay_in_order_after_an_err() {
        // -ERR in the middle must not shift the answers that follow.
        let (mut session, written) = session(
            &[
                b"+OK\r\n",
                b"+OK\r\none\r\n.\r\n-ERR no such message\r\n+OK\r\nthree\r\n.\r\n",
            ],
            5,
        );
        for n in 1..=3 {
            session.send(&Command::Retr(n)).unwrap();
        }
        assert_eq!(session.outstanding(), 3);
        let mut bodies = Vec::new();
        for _ in 1..=3 {
            let status = session.receive_status().unwrap();
            if status.ok {
                let mut out = Vec::new();
                session.receive_body(LineEnding::Lf, &mut out).unwrap();
                bodies.push(out);
            } else {
                bodies.push(b"ERR".to_vec());
            }
        }
        assert_eq!(
            bodies,
            [b"one\n".to_vec(), b"ERR".to_vec(), b"three\n".to_vec()]
        );
        assert_eq!(text(&written), "RETR 1\r\nRETR 2\r\nRETR 3\r\n");
    }

    #[test]
    fn a_truncated_body_is_an_error() {
        let (mut session, _) = session(&[b"+OK\r\n", b"+OK\r\npartial line\r\n"], usize::MAX);
        let mut out = Vec::new();
        let error = session.retr(1, LineEnding::Lf, &mut out).unwrap_err();
        assert!(matches!(error, Error::Connection { .. }), "{error}");
    }

    #[test]
    fn a_failing_sink_does_not_desynchronise_the_session() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let (mut session, _) = session(&[b"+OK\r\n", b"+OK\r\nbody\r\n.\r\n", b"+OK 1 4\r\n"], 3);
        let body = session.retr(1, LineEnding::Lf, &mut Full).unwrap();
        assert!(body.sink_error.is_some());
        assert_eq!(session.stat().unwrap(), (1, 4));
    }

    #[test]
    fn overlong_lines_and_listings_are_bounded() {
        let mut answer = b"+OK\r\n".to_vec();
        answer.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        let (mut session, _) = session(&[b"+OK\r\n", &answer], usize::MAX);
        assert!(matches!(session.uidl(), Err(Error::Protocol(_))));
    }

    #[test]
    fn malformed_and_duplicate_listing_lines_are_protocol_errors() {
        let (mut listing, _) = session(&[b"+OK\r\n", b"+OK\r\n1 5\r\n1 6\r\n.\r\n"], usize::MAX);
        assert!(matches!(listing.list(), Err(Error::Protocol(_))));
        let (mut uidl, _) = session(&[b"+OK\r\n", b"+OK\r\n0 x\r\n.\r\n"], usize::MAX);
        assert!(matches!(uidl.uidl(), Err(Error::Protocol(_))));
    }

    fn uidl_answer(count: u32, id_len: usize) -> Vec<u8> {
        let mut answer = b"+OK\r\n".to_vec();
        for n in 1..=count {
            answer.extend_from_slice(format!("{n} {:0>id_len$}\r\n", n).as_bytes());
        }
        answer.extend_from_slice(b".\r\n");
        answer
    }

    #[test]
    fn a_hundred_thousand_typical_uidls_fit_the_default_listing_limit() {
        let answer = uidl_answer(100_000, 24);
        let (mut session, _) = session(&[b"+OK\r\n", &answer], usize::MAX);
        let uidl = session.uidl().unwrap().unwrap();
        assert_eq!(uidl.len(), 100_000);
        let memory: u64 = uidl.iter().map(ListingEntry::memory).sum();
        assert!(memory <= DEFAULT_MAX_LISTING, "{memory}");
    }

    #[test]
    fn a_listing_past_its_memory_limit_is_cut_off() {
        // An endless listing stops at the limit, not at the end of memory.
        let answer = uidl_answer(1000, 10);
        let per_entry = UidlEntry {
            message: 1,
            uid: vec![b'0'; 10],
        }
        .memory();
        for (limit, fits) in [(per_entry * 1000, true), (per_entry * 1000 - 1, false)] {
            let stream = MockStream::new(&[b"+OK\r\n", &answer]);
            let mut client = Client::new(stream, "mock", Security::Tls).unwrap();
            client.set_listing_limit(limit);
            let mut session = client.enter_session();
            match session.uidl() {
                Ok(listing) => assert!(fits && listing.unwrap().len() == 1000),
                Err(Error::ListingTooLarge { entries, .. }) => {
                    assert!(!fits);
                    assert_eq!(entries, 999);
                }
                Err(e) => panic!("{e}"),
            }
        }
        // The limit survives the STLS upgrade.
        let stream = MockStream::new(&[b"+OK\r\n", b"+OK go\r\n"]);
        let mut client = Client::new(stream, "mock", Security::Plain).unwrap();
        client.set_listing_limit(1);
        let upgraded = client
            .stls()
            .unwrap()
            .handshake(|_| Ok::<_, Error>((MockStream::new(&[b"", &answer]), Security::Tls)))
            .unwrap();
        let mut session = upgraded.enter_session();
        assert!(matches!(session.uidl(), Err(Error::ListingTooLarge { .. })));
    }

    #[test]
    fn listing_memory_estimates_follow_the_allocator() {
        assert_eq!(heap_block(0), 32);
        assert_eq!(heap_block(24), 32);
        assert_eq!(heap_block(25), 48);
        assert_eq!(heap_block(70), 80);
        let entry = UidlEntry {
            message: 1,
            uid: vec![b'x'; 24],
        };
        assert_eq!(entry.memory(), 68);
        assert_eq!(
            ScanEntry {
                message: 1,
                size: 1
            }
            .memory(),
            20
        );
    }

    #[test]
    fn listed_numbers_stay_within_the_maildrop() {
        // A listing may not name a message the maildrop does not have: `999 5` in a listing
        // of two messages.
        let (mut list, _) = session(&[b"+OK\r\n", b"+OK\r\n1 5\r\n999 5\r\n.\r\n"], 4);
        assert!(matches!(list.list(), Err(Error::Protocol(_))));
        // After DELE 1 the listing shows 2 and 3 of three messages.
        let (mut list, _) = session(
            &[
                b"+OK\r\n",
                b"+OK\r\n",
                b"+OK\r\n2 a\r\n3 b\r\n.\r\n",
                b"+OK\r\n2 5\r\n4 5\r\n.\r\n",
            ],
            usize::MAX,
        );
        assert!(list.dele(1).unwrap().ok);
        assert_eq!(list.uidl().unwrap().unwrap().len(), 2);
        assert!(matches!(list.list(), Err(Error::Protocol(_))));
    }

    #[test]
    fn a_number_listed_twice_out_of_order_is_a_protocol_error() {
        let (mut listing, _) = session(
            &[b"+OK\r\n", b"+OK\r\n2 a\r\n1 b\r\n3 c\r\n2 d\r\n.\r\n"],
            usize::MAX,
        );
        assert!(matches!(listing.uidl(), Err(Error::Protocol(_))));
    }

    #[test]
    fn an_unread_body_is_drained_before_the_next_answer() {
        // A mailbox that fails before it reads the body (no staging file)
        // must not shift the answers, and nothing may panic.
        for chunk in [1, 3, usize::MAX] {
            let (mut drained, _) = session(
                &[b"+OK\r\n", b"+OK\r\nline\r\n..dot\r\n.\r\n+OK 1 4\r\n"],
                chunk,
            );
            drained.send(&Command::Retr(1)).unwrap();
            drained.send(&Command::Stat).unwrap();
            assert!(drained.receive_status().unwrap().ok);
            // The body is never read; the next status comes from the right answer.
            let status = drained.receive_status().unwrap();
            assert_eq!(status.text, b"1 4");
            assert!(!drained.has_unread_input());
        }
        // Reading a body when none is pending is an error, not a panic.
        let (mut idle, _) = session(&[b"+OK\r\n", b""], usize::MAX);
        assert!(idle.receive_body(LineEnding::Lf, &mut Vec::new()).is_err());
    }

    #[test]
    fn bare_line_ends_break_status_and_listing_lines() {
        // A bare LF or CR never ends a line; a status line holding one is
        // refused, and a listing line holding one does not parse.
        for answer in [
            &b"+OK\nSubject: 18\r\n"[..],
            b"+OK 1 5\rx\r\n",
            b"+OK\n",
            b"+OK\r\n1 5\n2 6\r\n.\r\n",
            b"+OK\r\n1 5\r2 6\r\n.\r\n",
        ] {
            for chunk in [1, 2, usize::MAX] {
                let (mut strict, _) = session(&[b"+OK\r\n", answer], chunk);
                assert!(
                    matches!(strict.list(), Err(Error::Protocol(_))),
                    "{answer:?} in chunks of {chunk}"
                );
            }
        }
    }

    #[test]
    fn the_line_limit_does_not_depend_on_how_the_bytes_arrive() {
        let mut answer = b"+OK\r\n".to_vec();
        answer.extend(std::iter::repeat_n(b'X', 9000));
        answer.extend_from_slice(b"\r\n.\r\n");
        let mut fits = b"+OK\r\n".to_vec();
        fits.extend(std::iter::repeat_n(b'X', MAX_LINE - 2));
        fits.extend_from_slice(b"\r\n.\r\n");
        for chunk in [1, 7, 4096, 8192, usize::MAX] {
            let (mut long, _) = session(&[b"+OK\r\n", &answer], chunk);
            assert!(matches!(long.capa(), Err(Error::Protocol(_))), "{chunk}");
            let (mut limit, _) = session(&[b"+OK\r\n", &fits], chunk);
            assert!(limit.capa().is_ok(), "{chunk}");
        }
    }

    #[test]
    fn a_message_must_fit_its_list_size() {
        // "Subject: x\n\nbody\n": 17 octets with LF, 20 with CRLF.
        let retr: &[u8] = b"+OK\r\nSubject: x\r\n\r\nbody\r\n.\r\n";
        for (listed, fits) in [
            (17, true),
            (20, true),
            (0, true),
            (1200, false),
            (u64::MAX, false),
        ] {
            let (mut one, _) = session(&[b"+OK\r\n", retr], 5);
            one.send(&Command::Retr(1)).unwrap();
            assert!(one.receive_status().unwrap().ok);
            let result = one.receive_message(LineEnding::Lf, &mut Vec::new(), None, 1, listed);
            assert_eq!(result.is_ok(), fits, "{listed}: {result:?}");
        }
        // An endless body stops once it outgrows its LIST size, long before any timeout.
        let mut endless = b"+OK\r\n".to_vec();
        endless.extend(std::iter::repeat_n(b'y', 100_000));
        let (mut endless, _) = session(&[b"+OK\r\n", &endless], 1000);
        endless.send(&Command::Retr(1)).unwrap();
        assert!(endless.receive_status().unwrap().ok);
        let result = endless.receive_message(LineEnding::Lf, &mut Vec::new(), None, 1, 100);
        assert!(matches!(result, Err(Error::Protocol(_))), "{result:?}");
    }

    #[test]
    fn a_message_that_begins_with_a_status_line_is_an_extra_answer() {
        // An extra "+OK" before a RETR answer: the real status line becomes the first line of
        // the "body", within any size tolerance.
        for first in [&b"+OK message follows"[..], b"+OK", b"-ERR x", b"-ERR"] {
            let mut answer = b"+OK\r\n".to_vec();
            answer.extend_from_slice(first);
            answer.extend_from_slice(b"\r\nSubject: x\r\n\r\nbody\r\n.\r\n");
            let (mut shifted, _) = session(&[b"+OK\r\n", &answer], 3);
            shifted.send(&Command::Retr(1)).unwrap();
            assert!(shifted.receive_status().unwrap().ok);
            let result = shifted.receive_message(LineEnding::Lf, &mut Vec::new(), None, 1, 20);
            assert!(matches!(result, Err(Error::Protocol(_))), "{first:?}");
        }
        // Headers that merely start alike are messages.
        for first in [&b"+OKAY: 1"[..], b"+Oh: no", b"-ER: x", b"X: +OK"] {
            let mut answer = b"+OK\r\n".to_vec();
            answer.extend_from_slice(first);
            answer.extend_from_slice(b"\r\n\r\nbody\r\n.\r\n");
            let (mut fine, _) = session(&[b"+OK\r\n", &answer], 2);
            fine.send(&Command::Retr(1)).unwrap();
            assert!(fine.receive_status().unwrap().ok);
            let result = fine.receive_message(LineEnding::Lf, &mut Vec::new(), None, 1, 20);
            assert!(result.is_ok(), "{first:?}: {result:?}");
        }
    }

    #[test]
    fn listings_must_name_every_message_once() {
        // A listing must name each message once: a UIDL listing without its last entry, a
        // LIST without its last entry (STAT counts it), and a number outside the count.
        let cases: &[&[u8]] = &[
            b"+OK 3 30\r\n+OK\r\n1 10\r\n2 10\r\n3 10\r\n.\r\n+OK\r\n1 a\r\n2 b\r\n.\r\n",
            b"+OK 3 30\r\n+OK\r\n1 10\r\n2 10\r\n.\r\n+OK\r\n1 a\r\n2 b\r\n.\r\n",
            b"+OK 2 20\r\n+OK\r\n1 10\r\n2 10\r\n.\r\n+OK\r\n1 a\r\n3 b\r\n.\r\n",
            b"+OK 2 20\r\n+OK\r\n1 10\r\n2 10\r\n.\r\n+OK\r\n1 a\r\n2 b\r\n2 c\r\n.\r\n",
        ];
        for answer in cases {
            let (mut listing, _) = session(&[b"+OK\r\n", answer], usize::MAX);
            assert!(
                matches!(listing.listings(true), Err(Error::Protocol(_))),
                "{}",
                String::from_utf8_lossy(answer)
            );
        }
        let whole: &[u8] = b"+OK 2 20\r\n+OK\r\n2 10\r\n1 10\r\n.\r\n+OK\r\n2 b\r\n1 a\r\n.\r\n";
        let (mut listing, _) = session(&[b"+OK\r\n", whole], usize::MAX);
        let (scan, ids) = listing.listings(true).unwrap();
        assert_eq!((scan.len(), ids.unwrap().len()), (2, 2));
    }

    #[test]
    fn a_bare_lf_does_not_end_a_status_line() {
        let (mut session, _) = session(&[b"+OK\r\n", b"+OK 1\n2 3\r\n"], usize::MAX);
        // "1\n2 3" is not "count octets".
        assert!(matches!(session.stat(), Err(Error::Protocol(_))));
    }
}

mod properties {
    use super::super::*;
    use crate::MockStream;
    use proptest::prelude::*;

    fn answer() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just(b"+OK".to_vec()),
            Just(b"-ERR".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b".\r\n".to_vec()),
            Just(b" ".to_vec()),
            "[0-9]{1,11}".prop_map(String::into_bytes),
            proptest::collection::vec(any::<u8>(), 0..6),
        ];
        proptest::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_answer_is_read_or_refused_without_panicking(answer in answer(), chunk in 1usize..16) {
            for operation in 0..4 {
                let stream = MockStream::chunked(&[b"+OK\r\n", &answer], chunk);
                let mut session = Client::new(stream, "mock", Security::Tls).unwrap().enter_session();
                match operation {
                    0 => {
                        if let Ok(list) = session.list() {
                            prop_assert!(list.iter().all(|e| e.message as usize <= list.len()));
                        }
                    }
                    1 => { let _ = session.uidl(); }
                    2 => { let _ = session.stat(); }
                    _ => { let _ = session.retr(1, LineEnding::Lf, &mut Vec::new()); }
                }
            }
        }
    }
}
