//! The session against the in-memory server: the exact octets sent on each path, with and
//! without pipelining, the replies, and hostile servers.

use std::io::{self, Read};
use std::sync::{Arc, Mutex};

use popget_pop3::{DotDecoder, LineEnding, Progress};

use super::*;
use crate::mock::MockStream;
use crate::{encode, normalized};

const GREETING: &[u8] = b"220 lmtp.example Dovecot ready.\r\n";
/// LHLO with nothing offered.
const BARE: &[u8] = b"250 lmtp.example\r\n";
const PIPELINING: &[u8] = b"250-lmtp.example\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n";
const CHUNKING: &[u8] = b"250-lmtp.example\r\n250 CHUNKING\r\n";
const BOTH: &[u8] = b"250-lmtp.example\r\n250-PIPELINING\r\n250 CHUNKING\r\n";
const EVERYTHING: &[u8] = b"250-lmtp.example\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n\
250-SIZE 10000000\r\n250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 STARTTLS\r\n";

/// What the client wrote after LHLO, cut where it flushed to wait for the server.
struct Sent {
    written: Arc<Mutex<Vec<u8>>>,
    flushes: Arc<Mutex<Vec<usize>>>,
    from: usize,
}

impl Sent {
    fn all(&self) -> Vec<u8> {
        self.written.lock().unwrap()[self.from..].to_vec()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.all()).into_owned()
    }

    /// The batches written between flushes, as text.
    fn batches(&self) -> Vec<String> {
        let written = self.written.lock().unwrap();
        let mut start = self.from;
        let mut batches = Vec::new();
        for &end in self
            .flushes
            .lock()
            .unwrap()
            .iter()
            .filter(|&&at| at > self.from)
        {
            if end > start {
                batches.push(String::from_utf8_lossy(&written[start..end]).into_owned());
                start = end;
            }
        }
        if written.len() > start {
            batches.push(String::from_utf8_lossy(&written[start..]).into_owned());
        }
        batches
    }
}

/// A client that read the greeting and LHLO (answered with `lhlo`); the server then answers
/// each flush with the next of `answers`.
fn session_with(lhlo: &[u8], answers: &[&[u8]], chunk: usize) -> (Client<MockStream>, Sent) {
    let mut segments = vec![GREETING, lhlo];
    segments.extend_from_slice(answers);
    let stream = MockStream::chunked(&segments, chunk);
    let (written, flushes) = (stream.written.clone(), stream.flushes.clone());
    let mut client = Client::new(stream, "mock").unwrap();
    client.lhlo("client.example").unwrap();
    let from = written.lock().unwrap().len();
    (
        client,
        Sent {
            written,
            flushes,
            from,
        },
    )
}

fn session(lhlo: &[u8], answers: &[&[u8]]) -> (Client<MockStream>, Sent) {
    session_with(lhlo, answers, usize::MAX)
}

fn codes(delivery: &Delivery) -> Vec<(&str, u16)> {
    delivery
        .verdicts()
        .map(|(who, reply)| (who, reply.code))
        .collect()
}

/// A reader that hands out its message in pieces cut at the given points.
struct Pieces {
    data: Vec<u8>,
    cuts: Vec<usize>,
    at: usize,
}

impl Read for Pieces {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let end = self
            .cuts
            .iter()
            .copied()
            .find(|&cut| cut > self.at)
            .unwrap_or(self.data.len())
            .min(self.data.len())
            .min(self.at + buf.len());
        let n = end - self.at;
        buf[..n].copy_from_slice(&self.data[self.at..end]);
        self.at = end;
        Ok(n)
    }
}

#[test]
fn greeting_and_lhlo() {
    let stream = MockStream::new(&[GREETING, EVERYTHING]);
    let written = stream.written.clone();
    let mut client = Client::new(stream, "mock").unwrap();
    assert_eq!(client.greeting().code, 220);
    assert_eq!(client.extensions(), None);
    let extensions = client.lhlo("client.example").unwrap().clone();
    assert_eq!(&*written.lock().unwrap(), b"LHLO client.example\r\n");
    assert!(extensions.pipelining && extensions.chunking && extensions.eight_bit_mime);
    assert!(extensions.smtputf8 && extensions.enhanced_status_codes && extensions.starttls);
    assert_eq!(extensions.size, Some(10_000_000));
    assert_eq!(extensions.keywords.len(), 7);
    assert_eq!(Client::extensions(&client), Some(&extensions));

    let bare = Extensions::parse(&ReplyBuilder::parse_all(&[b"250 x"]).unwrap());
    assert_eq!(bare, Extensions::default());
    let lower = ReplyBuilder::parse_all(&[b"250-x", b"250-size", b"250 chunking"]).unwrap();
    let lower = Extensions::parse(&lower);
    assert_eq!((lower.size, lower.chunking), (Some(0), true));
}

#[test]
fn a_refused_or_odd_greeting_is_an_error() {
    for (greeting, transient) in [
        (&b"421 4.3.2 busy\r\n"[..], true),
        (b"554 go away\r\n", false),
    ] {
        match Client::new(MockStream::new(&[greeting]), "mock") {
            Err(error @ Error::GreetingRefused { .. }) => {
                assert_eq!(error.is_transient(), transient);
                assert!(error.ends_session());
            }
            other => panic!("{other:?}"),
        }
    }
    for greeting in [
        &b"250 not a greeting\r\n"[..],
        b"+OK pop3\r\n",
        b"220 bare LF\n",
    ] {
        assert!(matches!(
            Client::new(MockStream::new(&[greeting]), "mock"),
            Err(Error::Protocol { .. })
        ));
    }
    // A multi-line greeting is fine.
    let client = Client::new(MockStream::new(&[b"220-one\r\n220 two\r\n"]), "mock").unwrap();
    assert_eq!(client.greeting().text, "one\ntwo");
}

#[test]
fn a_refused_lhlo_is_an_error_with_its_reply() {
    let stream = MockStream::new(&[GREETING, b"500 5.5.1 what?\r\n"]);
    let mut client = Client::new(stream, "mock").unwrap();
    match client.lhlo("client.example") {
        Err(Error::Refused { command, reply, .. }) => {
            assert_eq!((command, reply.code), ("LHLO", 500));
            assert_eq!(reply.enhanced, Some((5, 5, 1)));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(client.lhlo("a b"), Err(Error::InvalidInput(_))));
}

#[test]
fn a_delivery_needs_lhlo_and_a_recipient() {
    let mut client = Client::new(MockStream::new(&[GREETING, BARE]), "mock").unwrap();
    let envelope = Envelope::new("", ["alice"]);
    assert!(matches!(
        client.deliver(&envelope, &b"x"[..]),
        Err(Error::Usage(_))
    ));
    client.lhlo("client.example").unwrap();
    let nobody = Envelope::new("", Vec::<String>::new());
    assert!(matches!(
        client.deliver(&nobody, &b"x"[..]),
        Err(Error::Usage(_))
    ));
    let injection = Envelope::new("", ["alice>\r\nRSET"]);
    assert!(matches!(
        client.deliver(&injection, &b"x"[..]),
        Err(Error::InvalidInput(_))
    ));
}

#[test]
fn data_without_pipelining_sends_one_command_at_a_time() {
    let (mut client, sent) = session(
        BARE,
        &[
            b"250 OK\r\n",
            b"250 OK\r\n",
            b"354 Start mail input\r\n",
            b"250 2.0.0 <alice> Saved\r\n",
        ],
    );
    let envelope = Envelope::new("sender@example.org", ["alice"]);
    let message = b"Subject: dots\n\n.\n..x\nFrom here\nend";
    let delivery = client.deliver(&envelope, &message[..]).unwrap();
    assert_eq!(
        sent.batches(),
        [
            "MAIL FROM:<sender@example.org>\r\n",
            "RCPT TO:<alice>\r\n",
            "DATA\r\n",
            "Subject: dots\r\n\r\n..\r\n...x\r\nFrom here\r\nend\r\n.\r\n",
        ]
    );
    assert_eq!(codes(&delivery), [("alice", 250)]);
    assert!(delivery.delivered_to_all());
    assert_eq!(
        delivery.recipients[0].reply.as_ref().unwrap().enhanced,
        Some((2, 0, 0))
    );
    assert_eq!(delivery.data_refused, None);
}

#[test]
fn data_with_pipelining_sends_the_envelope_and_data_at_once() {
    let (mut client, sent) = session(
        PIPELINING,
        &[
            b"250 2.1.0 OK\r\n250 2.1.5 OK\r\n250 2.1.5 OK\r\n354 OK\r\n",
            b"250 2.0.0 <alice> Saved\r\n250 2.0.0 <bob> Saved\r\n",
        ],
    );
    let envelope = Envelope::new("", ["alice", "bob"]);
    let delivery = client.deliver(&envelope, &b"a\r\n.b\r\n"[..]).unwrap();
    assert_eq!(
        sent.batches(),
        [
            "MAIL FROM:<>\r\nRCPT TO:<alice>\r\nRCPT TO:<bob>\r\nDATA\r\n",
            "a\r\n..b\r\n.\r\n",
        ]
    );
    assert_eq!(codes(&delivery), [("alice", 250), ("bob", 250)]);
    assert_eq!(delivery.mail.enhanced, Some((2, 1, 0)));
}

#[test]
fn bdat_without_pipelining_waits_for_each_chunk() {
    let (mut client, sent) = session(
        CHUNKING,
        &[
            b"250 OK\r\n",
            b"250 OK\r\n",
            b"250 2.0.0 OK 8 octets received\r\n",
            b"250 2.0.0 <alice> Saved\r\n",
        ],
    );
    client.set_chunk_size(8);
    let envelope = Envelope::new("a@b", ["alice"]);
    let delivery = client.deliver(&envelope, &b"Line one\n.dot\n"[..]).unwrap();
    assert_eq!(
        sent.batches(),
        [
            "MAIL FROM:<a@b>\r\n",
            "RCPT TO:<alice>\r\n",
            "BDAT 8\r\nLine one",
            "BDAT 8 LAST\r\n\r\n.dot\r\n",
        ]
    );
    assert_eq!(codes(&delivery), [("alice", 250)]);
}

#[test]
fn bdat_with_pipelining_streams_the_chunks_before_the_last() {
    let (mut client, sent) = session(
        BOTH,
        &[
            b"250 OK\r\n250 OK\r\n250 OK\r\n",
            b"250 OK\r\n250 OK\r\n250 OK\r\n",
            b"250 <alice> Saved\r\n250 <bob> Saved\r\n",
        ],
    );
    client.set_chunk_size(8);
    let envelope = Envelope::new("a@b", ["alice", "bob"]);
    // 27 octets on the wire: three chunks of 8 without waiting, then the last 3.
    let delivery = client
        .deliver(&envelope, &b"1234567\nabcdefg\nABCDEFG"[..])
        .unwrap();
    assert_eq!(
        sent.batches(),
        [
            "MAIL FROM:<a@b>\r\nRCPT TO:<alice>\r\nRCPT TO:<bob>\r\n",
            "BDAT 8\r\n1234567\rBDAT 8\r\n\nabcdefgBDAT 8\r\n\r\nABCDEF",
            "BDAT 3 LAST\r\nG\r\n",
        ]
    );
    assert_eq!(codes(&delivery), [("alice", 250), ("bob", 250)]);
}

#[test]
fn a_small_message_is_one_last_chunk_and_an_empty_one_zero_octets() {
    // With the envelope, in one round trip each.
    let saved: &[u8] = b"250 OK\r\n250 OK\r\n250 Saved\r\n";
    let (mut client, sent) = session(BOTH, &[saved, saved]);
    let envelope = Envelope::new("", ["alice"]);
    client.deliver(&envelope, &b"x"[..]).unwrap();
    client.deliver(&envelope, &b""[..]).unwrap();
    assert_eq!(
        sent.batches(),
        [
            "MAIL FROM:<>\r\nRCPT TO:<alice>\r\nBDAT 3 LAST\r\nx\r\n",
            "MAIL FROM:<>\r\nRCPT TO:<alice>\r\nBDAT 0 LAST\r\n",
        ]
    );

    // One octet over the chunk once in CRLF form: the envelope first, then two chunks.
    let envelope_ok: &[u8] = b"250 OK\r\n250 OK\r\n";
    let (mut client, sent) = session(BOTH, &[envelope_ok, b"250 OK\r\n", b"250 Saved\r\n"]);
    client.set_chunk_size(4);
    client.deliver(&envelope, &b"abc\n"[..]).unwrap();
    assert_eq!(
        sent.batches(),
        [
            "MAIL FROM:<>\r\nRCPT TO:<alice>\r\n",
            "BDAT 4\r\nabc\r",
            "BDAT 1 LAST\r\n\n",
        ]
    );
}

#[test]
fn data_can_be_forced_where_chunking_is_offered() {
    let (mut client, sent) = session(BOTH, &[b"250 OK\r\n250 OK\r\n354 go\r\n", b"250 Saved\r\n"]);
    client.set_chunking(false);
    client
        .deliver(&Envelope::new("", ["alice"]), &b".\n"[..])
        .unwrap();
    assert_eq!(
        sent.batches(),
        ["MAIL FROM:<>\r\nRCPT TO:<alice>\r\nDATA\r\n", "..\r\n.\r\n"]
    );
    let (mut client, sent) = session(
        BOTH,
        &[
            b"250 OK\r\n",
            b"250 OK\r\n",
            b"354 go\r\n",
            b"250 Saved\r\n",
        ],
    );
    client.set_chunking(false);
    client.set_pipelining(false);
    client
        .deliver(&Envelope::new("", ["alice"]), &b"x\n"[..])
        .unwrap();
    assert_eq!(sent.batches().len(), 4);
}

#[test]
fn mail_parameters_follow_the_offer_and_the_message() {
    let (mut client, sent) = session(EVERYTHING, &[b"250 OK\r\n250 OK\r\n250 Saved\r\n"]);
    let message = "Subject: gr\u{fc}\u{df}e\n\nbody\n".as_bytes();
    let envelope = Envelope::new("a@b", ["alice"]).describing(message);
    client.deliver(&envelope, message).unwrap();
    let size = message.len() + 3;
    assert!(sent.text().starts_with(&format!(
        "MAIL FROM:<a@b> BODY=8BITMIME SMTPUTF8 SIZE={size}\r\n"
    )));

    // Plain ASCII: neither BODY= nor SMTPUTF8; an address that is not ASCII asks for SMTPUTF8.
    let (mut client, sent) = session(EVERYTHING, &[b"250 OK\r\n250 OK\r\n250 Saved\r\n"]);
    let envelope = Envelope::new("", ["j\u{f6}rg"]).describing(b"a: b\n\nc\n");
    client.deliver(&envelope, &b"a: b\n\nc\n"[..]).unwrap();
    assert!(sent
        .text()
        .starts_with("MAIL FROM:<> SMTPUTF8 SIZE=11\r\nRCPT TO:<j\u{f6}rg>\r\n"));

    // Without the extensions: no parameters, and an address that is not ASCII cannot go.
    let (mut client, sent) = session(PIPELINING, &[]);
    let envelope = Envelope::new("", ["j\u{f6}rg"]);
    assert!(matches!(
        client.deliver(&envelope, &b""[..]),
        Err(Error::InvalidInput(_))
    ));
    assert_eq!(sent.all(), b"");

    // Over the announced SIZE: not offered (a server may refuse MAIL FROM and take the rest).
    let lhlo = b"250-lmtp.example\r\n250-PIPELINING\r\n250 SIZE 100\r\n";
    let (mut client, sent) = session(lhlo, &[b"250 2.0.0 OK\r\n"]);
    let envelope = Envelope::new("a@b", ["alice"]).with_size(101);
    let delivery = client.deliver(&envelope, &[b'x'; 101][..]).unwrap();
    let (_, verdict) = delivery.verdicts().next().unwrap();
    assert_eq!((verdict.code, verdict.enhanced), (552, Some((5, 3, 4))));
    assert!(verdict.text.contains("SIZE limit (100); it was not sent"));
    client.noop().unwrap();
    assert_eq!(sent.text(), "NOOP\r\n", "nothing sent for the message");
}

#[test]
fn one_recipient_refused_and_the_other_delivered() {
    let (mut client, sent) = session(
        PIPELINING,
        &[
            b"250 2.1.0 OK\r\n550 5.1.1 <nobody> User doesn't exist: nobody\r\n250 2.1.5 OK\r\n354 OK\r\n",
            // LMTP: one reply per accepted recipient, here only alice.
            b"250 2.0.0 <alice> Saved\r\n",
            b"250 2.0.0 OK\r\n",
        ],
    );
    let delivery = client
        .deliver(&Envelope::new("", ["nobody", "alice"]), &b"x\n"[..])
        .unwrap();
    assert_eq!(codes(&delivery), [("nobody", 550), ("alice", 250)]);
    assert!(!delivery.delivered_to_all());
    let nobody = &delivery.recipients[0];
    assert_eq!(nobody.rcpt.as_ref().unwrap().enhanced, Some((5, 1, 1)));
    assert_eq!(nobody.reply, None);
    // The session is in step: the next command reads the next reply.
    client.noop().unwrap();
    assert!(sent.text().ends_with("x\r\n.\r\nNOOP\r\n"));
}

#[test]
fn per_recipient_replies_after_the_data_may_differ() {
    let (mut client, _) = session(
        BOTH,
        &[b"250 OK\r\n250 OK\r\n250 OK\r\n250 OK\r\n\
250 2.0.0 <a> Saved\r\n452 4.2.2 <b> Mailbox is full\r\n552 5.2.2 <c> Quota exceeded\r\n"],
    );
    let delivery = client
        .deliver(&Envelope::new("", ["a", "b", "c"]), &b"x\n"[..])
        .unwrap();
    assert_eq!(codes(&delivery), [("a", 250), ("b", 452), ("c", 552)]);
    let verdicts: Vec<_> = delivery.verdicts().map(|(_, r)| r.clone()).collect();
    assert!(verdicts[0].is_positive() && verdicts[1].is_transient() && verdicts[2].is_permanent());
    assert_eq!(verdicts[1].enhanced, Some((4, 2, 2)));
}

#[test]
fn all_recipients_refused_delivers_nothing() {
    // Pipelined DATA: the server refuses it, the client resets.
    let (mut client, sent) = session(
        PIPELINING,
        &[
            b"250 OK\r\n550 5.1.1 no\r\n450 4.2.1 later\r\n554 5.5.1 No valid recipients\r\n",
            b"250 2.0.0 OK\r\n",
        ],
    );
    let delivery = client
        .deliver(&Envelope::new("", ["a", "b"]), &b"secret body\n"[..])
        .unwrap();
    assert_eq!(codes(&delivery), [("a", 550), ("b", 450)]);
    assert_eq!(delivery.data_refused.as_ref().unwrap().code, 554);
    assert_eq!(
        sent.batches(),
        [
            "MAIL FROM:<>\r\nRCPT TO:<a>\r\nRCPT TO:<b>\r\nDATA\r\n",
            "RSET\r\n"
        ]
    );

    // Without pipelining: no DATA, no chunk.
    for lhlo in [BARE, CHUNKING] {
        let answers: &[&[u8]] = &[b"250 OK\r\n", b"550 no\r\n", b"250 OK\r\n"];
        let (mut client, sent) = session(lhlo, answers);
        let delivery = client
            .deliver(&Envelope::new("", ["a"]), &b"secret body\n"[..])
            .unwrap();
        assert_eq!(codes(&delivery), [("a", 550)]);
        assert!(!sent.text().contains("secret"));
        assert!(
            sent.text().ends_with("RCPT TO:<a>\r\nRSET\r\n"),
            "{}",
            sent.text()
        );
    }

    // Pipelined BDAT: the one chunk went with the envelope; its refusal is read, then RSET.
    let refused: &[u8] = b"250 OK\r\n550 no\r\n503 5.5.1 No valid recipients\r\n";
    let (mut client, sent) = session(BOTH, &[refused, b"250 OK\r\n"]);
    let delivery = client
        .deliver(&Envelope::new("", ["a"]), &b"body\n"[..])
        .unwrap();
    assert_eq!(codes(&delivery), [("a", 550)]);
    assert_eq!(delivery.data_refused.as_ref().unwrap().code, 503);
    let all_at_once = "MAIL FROM:<>\r\nRCPT TO:<a>\r\nBDAT 6 LAST\r\nbody\r\n";
    assert_eq!(sent.batches(), [all_at_once, "RSET\r\n"]);
    // A server that takes that chunk with no recipient is out of step.
    let (mut client, _) = session(BOTH, &[b"250 OK\r\n550 no\r\n250 Saved\r\n"]);
    let error = client
        .deliver(&Envelope::new("", ["a"]), &b"body\n"[..])
        .unwrap_err();
    assert!(matches!(error, Error::Protocol { .. }) && error.ends_session());
}

#[test]
fn a_refused_sender_is_a_result() {
    let (mut client, sent) = session(BARE, &[b"451 4.3.0 try later\r\n", b"250 OK\r\n"]);
    let delivery = client
        .deliver(&Envelope::new("a@b", ["alice"]), &b"x"[..])
        .unwrap();
    assert_eq!(delivery.mail.code, 451);
    assert_eq!(delivery.recipients[0].rcpt, None);
    assert_eq!(codes(&delivery), [("alice", 451)]);
    assert_eq!(sent.batches(), ["MAIL FROM:<a@b>\r\n", "RSET\r\n"]);

    // Pipelined, the RCPTs and DATA are refused in turn: still MAIL's refusal decides.
    let (mut client, _) = session(
        PIPELINING,
        &[
            b"550 5.7.1 no\r\n503 5.5.1 MAIL needed first\r\n503 5.5.1 No recipients\r\n",
            b"250 OK\r\n",
        ],
    );
    let delivery = client
        .deliver(&Envelope::new("a@b", ["alice"]), &b"x"[..])
        .unwrap();
    assert_eq!(codes(&delivery), [("alice", 550)]);
    assert_eq!(delivery.recipients[0].rcpt.as_ref().unwrap().code, 503);
}

#[test]
fn a_refused_data_command_or_chunk_resets() {
    let (mut client, sent) = session(
        BARE,
        &[
            b"250 OK\r\n",
            b"250 OK\r\n",
            b"451 4.3.0 no\r\n",
            b"250 OK\r\n",
        ],
    );
    let delivery = client
        .deliver(&Envelope::new("", ["alice"]), &b"body\n"[..])
        .unwrap();
    assert_eq!(codes(&delivery), [("alice", 451)]);
    assert_eq!(delivery.recipients[0].reply, None);
    assert!(sent.text().ends_with("DATA\r\nRSET\r\n"));

    // A chunk before the last refused: the rest is not sent.
    let (mut client, sent) = session(
        CHUNKING,
        &[
            b"250 OK\r\n",
            b"250 OK\r\n",
            b"552 5.3.4 too big\r\n",
            b"250 OK\r\n",
        ],
    );
    client.set_chunk_size(4);
    let delivery = client
        .deliver(&Envelope::new("", ["alice"]), &b"12345678\n"[..])
        .unwrap();
    assert_eq!(codes(&delivery), [("alice", 552)]);
    assert_eq!(
        sent.batches(),
        [
            "MAIL FROM:<>\r\n",
            "RCPT TO:<alice>\r\n",
            "BDAT 4\r\n1234",
            "RSET\r\n"
        ]
    );

    // Pipelined chunks: all replies are read, the last chunk is not sent.
    let (mut client, sent) = session(
        BOTH,
        &[
            b"250 OK\r\n250 OK\r\n",
            b"250 OK\r\n452 4.3.1 no space\r\n",
            b"250 OK\r\n",
        ],
    );
    client.set_chunk_size(4);
    let delivery = client
        .deliver(&Envelope::new("", ["alice"]), &b"123456789\n"[..])
        .unwrap();
    assert_eq!(codes(&delivery), [("alice", 452)]);
    assert_eq!(
        sent.batches(),
        [
            "MAIL FROM:<>\r\nRCPT TO:<alice>\r\n",
            "BDAT 4\r\n1234BDAT 4\r\n5678",
            "RSET\r\n"
        ]
    );
}

#[test]
fn dot_stuffing_at_every_split_point_of_the_message() {
    let messages: &[&[u8]] = &[
        b".\n",
        b"a\n.\nb\n",
        b"..x\n..\n",
        b"a\n.",
        b"a\r\n.\r\nb\r\n",
        b"x\r.y\n.\r\n",
        b"From a\n>From b\n",
    ];
    for message in messages {
        let expected = encode(message, Framing::DotStuffed);
        for cut in 0..=message.len() {
            // DATA; BDAT streamed after the envelope; BDAT with the envelope, in one write.
            let go: &[u8] = b"250 OK\r\n250 OK\r\n354 go\r\n";
            let ways: [(&[u8], &[&[u8]]); 3] = [
                (PIPELINING, &[go, b"250 Saved\r\n"]),
                (CHUNKING, &[b"250 OK\r\n", b"250 OK\r\n", b"250 Saved\r\n"]),
                (BOTH, &[b"250 OK\r\n250 OK\r\n250 Saved\r\n"]),
            ];
            for (lhlo, answers) in ways {
                let (mut client, sent) = session(lhlo, answers);
                let reader = Pieces {
                    data: message.to_vec(),
                    cuts: vec![cut],
                    at: 0,
                };
                client.deliver(&Envelope::new("", ["a"]), reader).unwrap();
                let batches = sent.batches();
                let sent_message = batches.last().unwrap().as_bytes();
                if lhlo == PIPELINING {
                    assert_eq!(sent_message, expected, "cut {cut} of {message:?}");
                } else {
                    let chunked = encode(message, Framing::Chunked);
                    let mut wire = format!("BDAT {} LAST\r\n", chunked.len()).into_bytes();
                    wire.extend_from_slice(&chunked);
                    assert!(sent_message.ends_with(&wire), "cut {cut} of {message:?}");
                }
            }
        }
        // And one octet at a time.
        let (mut client, sent) = session(
            PIPELINING,
            &[b"250 OK\r\n250 OK\r\n354 go\r\n", b"250 Saved\r\n"],
        );
        let reader = Pieces {
            data: message.to_vec(),
            cuts: (0..message.len()).collect(),
            at: 0,
        };
        client.deliver(&Envelope::new("", ["a"]), reader).unwrap();
        assert_eq!(sent.batches()[1].as_bytes(), expected);
    }
}

#[test]
fn a_large_message_is_streamed_in_blocks() {
    // 3 MiB through DATA and through 1 MiB chunks: the octets are right on both paths.
    let line = b"0123456789abcdefghijklmnopqrstuvwxyz.ABCDEFGHIJKLMNOPQRSTUVWXYZ\n";
    let mut message = Vec::new();
    while message.len() < 3 * 1024 * 1024 {
        message.extend_from_slice(b".");
        message.extend_from_slice(line);
    }
    let (mut client, sent) = session(
        PIPELINING,
        &[b"250 OK\r\n250 OK\r\n354 go\r\n", b"250 Saved\r\n"],
    );
    client
        .deliver(&Envelope::new("", ["a"]), &message[..])
        .unwrap();
    let all = sent.all();
    let body = &all[b"MAIL FROM:<>\r\nRCPT TO:<a>\r\nDATA\r\n".len()..];
    assert_eq!(body, encode(&message, Framing::DotStuffed));

    let (mut client, sent) = session(
        BOTH,
        &[
            b"250 OK\r\n250 OK\r\n",
            b"250 OK\r\n250 OK\r\n250 OK\r\n",
            b"250 Saved\r\n",
        ],
    );
    client
        .deliver(&Envelope::new("", ["a"]), &message[..])
        .unwrap();
    let chunks = parse_bdat(&sent.all()[b"MAIL FROM:<>\r\nRCPT TO:<a>\r\n".len()..]);
    assert_eq!(chunks.len(), 4);
    assert!(chunks[..3]
        .iter()
        .all(|(data, last)| data.len() == DEFAULT_CHUNK_SIZE && !last));
    assert!(chunks[3].1);
    let joined: Vec<u8> = chunks.into_iter().flat_map(|(data, _)| data).collect();
    assert_eq!(joined, encode(&message, Framing::Chunked));
}

/// The chunks of a run of BDAT commands: (data, last).
fn parse_bdat(mut wire: &[u8]) -> Vec<(Vec<u8>, bool)> {
    let mut chunks = Vec::new();
    while !wire.is_empty() {
        let end = wire.windows(2).position(|w| w == b"\r\n").unwrap();
        let command = std::str::from_utf8(&wire[..end]).unwrap();
        let mut words = command.split(' ');
        assert_eq!(words.next(), Some("BDAT"));
        let size: usize = words.next().unwrap().parse().unwrap();
        let last = words.next() == Some("LAST");
        let data = &wire[end + 2..end + 2 + size];
        chunks.push((data.to_vec(), last));
        wire = &wire[end + 2 + size..];
    }
    chunks
}

#[test]
fn a_server_that_closes_mid_reply() {
    let stream = MockStream::new(&[GREETING, b"250-lmtp.example\r\n250-PIPEL"]);
    let mut client = Client::new(stream, "mock").unwrap();
    match client.lhlo("client.example") {
        Err(error @ Error::Connection { .. }) => {
            assert!(error.ends_session() && error.is_transient() && !error.is_timeout());
        }
        other => panic!("{other:?}"),
    }
    // After the data, before the second recipient's reply.
    let (mut client, _) = session(
        PIPELINING,
        &[
            b"250 OK\r\n250 OK\r\n250 OK\r\n354 go\r\n",
            b"250 2.0.0 <a> Saved\r\n250 2.0",
        ],
    );
    let error = client
        .deliver(&Envelope::new("", ["a", "b"]), &b"x\n"[..])
        .unwrap_err();
    assert!(
        matches!(&error, Error::Connection { source, .. } if source.kind() == io::ErrorKind::UnexpectedEof)
    );
    // The session is over.
    assert!(matches!(client.noop(), Err(Error::SessionEnded { .. })));
    assert!(matches!(
        client.deliver(&Envelope::new("", ["a"]), &b""[..]),
        Err(Error::SessionEnded { .. })
    ));
}

#[test]
fn a_silent_server_is_a_timeout() {
    // The mock fails reads as a timeout would while the server still has something to say.
    let (mut client, _) = session(BARE, &[b"", b"250 never\r\n"]);
    let error = client
        .deliver(&Envelope::new("", ["a"]), &b"x"[..])
        .unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
}

#[test]
fn an_endless_reply_line_is_cut_off() {
    for chunk in [usize::MAX, 1000, 7] {
        let endless = vec![b'2'; 100_000];
        let stream = MockStream::chunked(&[GREETING, &endless], chunk);
        let mut client = Client::new(stream, "mock").unwrap();
        assert!(matches!(client.lhlo("c"), Err(Error::Protocol { .. })));
    }
    let mut endless = b"250 ".to_vec();
    endless.extend(vec![b'x'; MAX_LINE]);
    endless.extend_from_slice(b"\r\n");
    let stream = MockStream::new(&[GREETING, &endless]);
    let mut client = Client::new(stream, "mock").unwrap();
    assert!(matches!(client.lhlo("c"), Err(Error::Protocol { .. })));
}

#[test]
fn a_reply_that_never_ends_is_cut_off() {
    let endless = b"250-more\r\n".repeat(10_000);
    let stream = MockStream::chunked(&[GREETING, &endless], 100);
    let mut client = Client::new(stream, "mock").unwrap();
    assert!(matches!(client.lhlo("c"), Err(Error::Protocol { .. })));
}

#[test]
fn replies_out_of_step_are_noticed() {
    // An extra reply before a command is sent.
    let stream = MockStream::new(&[b"220 hi\r\n250 extra\r\n", BARE]);
    let mut client = Client::new(stream, "mock").unwrap();
    assert!(matches!(client.lhlo("c"), Err(Error::Protocol { .. })));

    // 354 to DATA with no recipient accepted.
    let (mut client, _) = session(PIPELINING, &[b"250 OK\r\n550 no\r\n354 go\r\n"]);
    assert!(matches!(
        client.deliver(&Envelope::new("", ["a"]), &b"x"[..]),
        Err(Error::Protocol { .. })
    ));

    // 250 to DATA, 354 after the message, 354 to RSET.
    let (mut client, _) = session(BARE, &[b"250 OK\r\n", b"250 OK\r\n", b"250 OK\r\n"]);
    assert!(matches!(
        client.deliver(&Envelope::new("", ["a"]), &b"x"[..]),
        Err(Error::Protocol { .. })
    ));
    let (mut client, _) = session(
        PIPELINING,
        &[b"250 OK\r\n250 OK\r\n354 go\r\n", b"354 again\r\n"],
    );
    assert!(matches!(
        client.deliver(&Envelope::new("", ["a"]), &b"x"[..]),
        Err(Error::Protocol { .. })
    ));
    let (mut client, _) = session(BARE, &[b"354 what\r\n"]);
    assert!(matches!(client.rset(), Err(Error::Protocol { .. })));
}

#[test]
fn rset_quit_and_refusals_outside_a_transaction() {
    let (mut client, sent) = session(BARE, &[b"250 OK\r\n", b"421 4.4.2 shutting down\r\n"]);
    client.rset().unwrap();
    match client.noop() {
        Err(error @ Error::Refused { .. }) => {
            assert!(error.is_transient() && !error.ends_session())
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sent.text(), "RSET\r\nNOOP\r\n");
    let (client, sent) = session(BARE, &[b"221 2.0.0 Bye\r\n"]);
    client.quit().unwrap();
    assert_eq!(sent.text(), "QUIT\r\n");
}

#[test]
fn a_failing_message_reader_ends_the_session() {
    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("disk on fire"))
        }
    }
    let (mut client, sent) = session(PIPELINING, &[b"250 OK\r\n250 OK\r\n354 go\r\n"]);
    let error = client
        .deliver(&Envelope::new("", ["a"]), Failing)
        .unwrap_err();
    assert!(matches!(error, Error::Message(_)) && error.ends_session());
    // The message was not ended: nothing after DATA.
    assert!(sent.text().ends_with("DATA\r\n"));
    assert!(matches!(client.rset(), Err(Error::SessionEnded { .. })));
}

#[test]
fn the_tracer_sees_commands_and_replies_but_never_the_message() {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let seen = lines.clone();
    let stream = MockStream::new(&[
        GREETING,
        BOTH,
        b"250 OK\r\n250 OK\r\n250 Saved\r\n",
        b"250 OK\r\n250 OK\r\n354 go\r\n",
        b"250 Saved\r\n",
    ]);
    let trace: Tracer = Box::new(move |line| seen.lock().unwrap().push(line.to_string()));
    let mut client = Client::with_trace(stream, "mock", Some(trace)).unwrap();
    client.lhlo("client.example").unwrap();
    client
        .deliver(&Envelope::new("", ["a"]), &b"secret\n"[..])
        .unwrap();
    client.set_chunking(false);
    client
        .deliver(&Envelope::new("", ["a"]), &b"secret\n"[..])
        .unwrap();
    let lines = lines.lock().unwrap();
    assert!(lines.iter().all(|line| !line.contains("secret")));
    assert_eq!(
        lines[..],
        [
            "S: 220 lmtp.example Dovecot ready.",
            "C: LHLO client.example",
            "S: 250-lmtp.example",
            "S: 250-PIPELINING",
            "S: 250 CHUNKING",
            "C: MAIL FROM:<>",
            "C: RCPT TO:<a>",
            "C: BDAT 8 LAST",
            "C: {8 octets}",
            "S: 250 OK",
            "S: 250 OK",
            "S: 250 Saved",
            "C: MAIL FROM:<>",
            "C: RCPT TO:<a>",
            "C: DATA",
            "S: 250 OK",
            "S: 250 OK",
            "S: 354 go",
            "C: {8 octets}",
            "C: .",
            "S: 250 Saved",
        ]
    );
}

mod properties;
