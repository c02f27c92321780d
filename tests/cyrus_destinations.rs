//! `popget fetch` delivering into Cyrus IMAP: APPEND over TLS on connect and over STARTTLS
//! (into a mailbox created on the way, Cyrus's `/` hierarchy), LMTP into lmtpd over its Unix
//! socket and TCP, a refused recipient, and what Cyrus does differently from Dovecot: messages
//! it refuses in the middle of a pipelined batch, its APPENDLIMIT and LMTP SIZE limit.
//!
//! The POP3 source is a private Dovecot (alice), the destination Cyrus's user1; what Cyrus
//! holds is read back over IMAP (`UID FETCH BODY.PEEK[]`) and compared byte for byte with the
//! CRLF form of what Dovecot held.

use crate::harness::cyrus::{self, Cyrus};
use crate::harness::dovecot::{Dovecot, Options};
use crate::harness::imap_reader::{lf_to_crlf, Fetched};
use crate::harness::{
    assert_same_messages, crash_rounds, lost_and_duplicated_among, sorted, tricky_messages, Popget,
    Run,
};

/// The destination user on Cyrus.
const TO: &str = "user1";

/// The POP3 source: a Dovecot with alice.
fn source() -> Dovecot {
    Dovecot::start_with(Options {
        users: vec![("alice", "secret")],
        ..Options::default()
    })
}

/// The source holding `messages` for alice, and a Cyrus with user1.
fn servers_holding(messages: &[Vec<u8>]) -> (Dovecot, Cyrus) {
    let options = cyrus::Options {
        users: 1,
        ..cyrus::Options::default()
    };
    servers_with(messages, options)
}

fn servers_with(messages: &[Vec<u8>], options: cyrus::Options) -> (Dovecot, Cyrus) {
    let dovecot = source();
    for message in messages {
        dovecot.deliver("alice", message);
    }
    (dovecot, Cyrus::start_with(options))
}

/// A configuration whose account `isp` fetches alice's POP3 mailbox into the destination
/// `home`, an IMAP or LMTP table's `destination` lines, with `extra` account keys.
fn write_config(popget: &Popget, dovecot: &Dovecot, destination: &str, extra: &str) -> String {
    let config = popget.path("config.toml");
    std::fs::write(
        &config,
        format!(
            "[destinations.home]\n{destination}\n\n\
             [accounts.isp]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"alice\"\ntls = \"none\"\n\
             auth = \"user\"\ndeliver_to = \"home\"\n{extra}\n",
            dovecot.pop3_port
        ),
    )
    .unwrap();
    config.to_str().unwrap().to_string()
}

/// The `[destinations.home]` lines for user1's `mailbox` on Cyrus over `scheme` (`imaps`, or
/// `imap` with STARTTLS), the test certificate trusted.
fn imap_destination(cyrus: &Cyrus, scheme: &str, mailbox: &str) -> String {
    let port = if scheme == "imaps" {
        cyrus.imaps_port
    } else {
        cyrus.imap_port
    };
    format!(
        "imap = \"{scheme}://{TO}@127.0.0.1:{port}/{mailbox}\"\nca_file = \"{}\"\n\
         password_command = \"echo {}\"",
        cyrus.certificate().display(),
        crate::harness::server::PASSWORD
    )
}

fn fetch(popget: &Popget, config: &str) -> Run {
    popget.run(&["--config", config, "fetch"])
}

fn bodies(fetched: &[Fetched]) -> Vec<Vec<u8>> {
    sorted(fetched.iter().map(|message| message.body.clone()).collect())
}

fn crlf(messages: &[Vec<u8>]) -> Vec<Vec<u8>> {
    sorted(messages.iter().map(|message| lf_to_crlf(message)).collect())
}

#[test]
fn imap_over_tls_byte_for_byte_with_delete_then_nothing() {
    let messages = tricky_messages();
    let (dovecot, cyrus) = servers_holding(&messages);
    let popget = Popget::new();
    let destination = imap_destination(&cyrus, "imaps", "INBOX");
    let config = write_config(&popget, &dovecot, &destination, "delete = true");
    let run = fetch(&popget, &config);
    run.expect_code(0);
    assert!(
        run.stderr()
            .contains(&format!("delivered to imaps://{TO}@127.0.0.1/INBOX")),
        "{}",
        run.stderr()
    );
    let stored = cyrus.mailbox(TO, "INBOX");
    assert_same_messages(&bodies(&stored), &crlf(&messages));
    assert!(
        stored
            .iter()
            .all(|m| !m.flags.iter().any(|f| f == "\\Seen")),
        "no flags were asked for: {stored:?}"
    );
    assert!(dovecot.stored("alice").is_empty(), "deleted once appended");
    let again = fetch(&popget, &config);
    again.expect_code(0);
    assert_eq!(cyrus.mailbox(TO, "INBOX").len(), messages.len());
}

/// Cyrus's hierarchy separator is `/` (unixhierarchysep) and a `.` is an ordinary character
/// of a name (it separates levels only inside Cyrus): `Old ISP/lists.rust` is a new mailbox
/// under a new parent, created before the first APPEND.
#[test]
fn imap_over_starttls_into_a_new_mailbox_under_a_new_parent_kept_on_the_server() {
    let messages = [
        b"Subject: one\nMessage-ID: <1@test>\n\nfirst\n".to_vec(),
        b"Subject: two\n\nsecond, no Message-ID\n".to_vec(),
    ];
    let (dovecot, cyrus) = servers_holding(&messages);
    let popget = Popget::new();
    let destination = imap_destination(&cyrus, "imap", "Old%20ISP/lists.rust");
    let config = write_config(&popget, &dovecot, &destination, "");
    let run = popget.run(&["--config", &config, "-v", "fetch"]);
    run.expect_code(0);
    let trace = run.stderr();
    // Cyrus offers LITERAL+ (every APPEND goes out without waiting) and UIDPLUS.
    assert!(trace.contains("C: {"), "{trace}");
    assert!(trace.contains("+}"), "non-synchronising literals: {trace}");
    assert!(trace.contains("[APPENDUID "), "{trace}");
    let mailboxes = cyrus.mailboxes(TO);
    assert!(
        mailboxes.contains(&"Old ISP".to_string())
            && mailboxes.contains(&"Old ISP/lists.rust".to_string()),
        "{mailboxes:?}"
    );
    let stored = cyrus.mailbox(TO, "Old ISP/lists.rust");
    assert_same_messages(&bodies(&stored), &crlf(&messages));
    assert!(stored
        .iter()
        .all(|m| !m.flags.iter().any(|f| f == "\\Seen")));
    assert!(cyrus.mailbox(TO, "INBOX").is_empty());
    assert_eq!(dovecot.stored("alice").len(), 2, "keep is the default");
    fetch(&popget, &config).expect_code(0);
    assert_eq!(cyrus.mailbox(TO, "Old ISP/lists.rust").len(), 2);
}

/// The tricky messages as delivered mail carries them, with a Message-ID and a Date: Cyrus's
/// lmtpd adds both to a message that lacks them (at the end of its header).
fn dated_messages() -> Vec<Vec<u8>> {
    tricky_messages()
        .into_iter()
        .enumerate()
        .map(|(i, message)| {
            let mut dated =
                format!("Message-ID: <{i}@cyrus.test>\nDate: Mon, 1 Jan 2024 10:0{i}:00 +0000\n")
                    .into_bytes();
            dated.extend(message);
            dated
        })
        .collect()
}

/// The header fields Cyrus's lmtpd puts after its Return-Path, in this order: the trace line
/// (folded over three lines), the session and the Sieve interpreter.
const CYRUS_LMTP_FIELDS: [&str; 3] = ["Received:", "X-Cyrus-Session-Id:", "X-Sieve:"];

/// A message as Cyrus's lmtpd stored it (CRLF), without the fields it adds after its
/// Return-Path: each of [`CYRUS_LMTP_FIELDS`] exactly once, in order, with its continuation
/// lines. Its Return-Path (the first line) stays.
fn without_cyrus_fields(stored: &[u8]) -> Vec<u8> {
    let line_end = |bytes: &[u8]| {
        bytes
            .windows(2)
            .position(|pair| pair == b"\r\n")
            .expect("a header line")
            + 2
    };
    assert!(
        stored.starts_with(b"Return-Path: <"),
        "Cyrus's Return-Path missing: {:?}",
        String::from_utf8_lossy(&stored[..stored.len().min(400)])
    );
    let return_path = &stored[..line_end(stored)];
    let mut rest = &stored[return_path.len()..];
    for name in CYRUS_LMTP_FIELDS {
        assert!(
            rest.starts_with(name.as_bytes()),
            "Cyrus's {name} missing: {:?}",
            String::from_utf8_lossy(&stored[..stored.len().min(400)])
        );
        loop {
            rest = &rest[line_end(rest)..];
            if !rest.starts_with(b" ") && !rest.starts_with(b"\t") {
                break;
            }
        }
    }
    [return_path, rest].concat()
}

/// What Cyrus's lmtpd stores of a message popget hands it (CRLF line ends): a Return-Path
/// naming the envelope sender, which popget takes from the message's own Return-Path (or `<>`),
/// in front, in place of the message's own; and every CR not followed by LF dropped (Dovecot
/// and Cyrus's own IMAP APPEND keep them).
fn as_cyrus_lmtp_keeps(message: &[u8]) -> Vec<u8> {
    let lines: Vec<&[u8]> = message.split_inclusive(|&b| b == b'\n').collect();
    let header = lines
        .iter()
        .position(|line| *line == b"\n")
        .unwrap_or(lines.len());
    let own = lines[..header]
        .iter()
        .position(|line| line.starts_with(b"Return-Path: "));
    let mut moved = match own {
        Some(i) => lines[i].to_vec(),
        None => b"Return-Path: <>\n".to_vec(),
    };
    for (i, line) in lines.iter().enumerate() {
        if Some(i) != own {
            moved.extend_from_slice(line);
        }
    }
    let crlf = lf_to_crlf(&moved);
    let mut kept = Vec::with_capacity(crlf.len());
    for (i, &byte) in crlf.iter().enumerate() {
        if byte != b'\r' || crlf.get(i + 1) == Some(&b'\n') {
            kept.push(byte);
        }
    }
    kept
}

fn lmtp_delivered(cyrus: &Cyrus) -> Vec<Vec<u8>> {
    sorted(
        cyrus
            .mailbox(TO, "INBOX")
            .iter()
            .map(|message| without_cyrus_fields(&message.body))
            .collect(),
    )
}

fn lmtp_expected(messages: &[Vec<u8>]) -> Vec<Vec<u8>> {
    sorted(messages.iter().map(|m| as_cyrus_lmtp_keeps(m)).collect())
}

#[test]
fn lmtp_over_the_unix_socket_byte_for_byte_then_nothing_twice() {
    let messages = dated_messages();
    let (dovecot, cyrus) = servers_holding(&messages);
    let popget = Popget::new();
    let address = format!("unix:{}", cyrus.lmtp_socket.display());
    let port = dovecot.pop3_port.to_string();
    let args = ["--auth", "user", "--lmtp", &address, "--recipient", TO];
    let run = popget.fetch(&port, "alice", "none", &args);
    run.expect_code(0);
    assert!(
        run.stderr()
            .contains(&format!("delivered to LMTP {address} for {TO}")),
        "{}",
        run.stderr()
    );
    assert_same_messages(&lmtp_delivered(&cyrus), &lmtp_expected(&messages));
    assert_eq!(dovecot.stored("alice").len(), messages.len(), "kept");
    for _ in 0..2 {
        popget.fetch(&port, "alice", "none", &args).expect_code(0);
        assert_eq!(cyrus.mailbox(TO, "INBOX").len(), messages.len());
    }
}

#[test]
fn lmtp_over_tcp_as_a_named_destination_with_delete() {
    let messages = dated_messages();
    let (dovecot, cyrus) = servers_holding(&messages);
    let popget = Popget::new();
    let destination = format!(
        "lmtp = \"127.0.0.1:{}\"\nrecipient = \"{TO}\"",
        cyrus.lmtp_port
    );
    let config = write_config(&popget, &dovecot, &destination, "delete = true");
    fetch(&popget, &config).expect_code(0);
    assert_same_messages(&lmtp_delivered(&cyrus), &lmtp_expected(&messages));
    assert!(dovecot.stored("alice").is_empty(), "deleted once delivered");
    fetch(&popget, &config).expect_code(0);
    assert_eq!(cyrus.mailbox(TO, "INBOX").len(), messages.len());
}

/// Cyrus knows its users by their mailboxes: a recipient without one is refused at RCPT
/// (`550 5.1.1 User unknown`, over three reply lines).
#[test]
fn lmtp_refuses_an_unknown_user_and_the_mail_stays_on_the_server() {
    let (dovecot, cyrus) = servers_holding(&[
        b"Subject: one\nMessage-ID: <1@test>\n\nbody\n".to_vec(),
        b"Subject: two\nMessage-ID: <2@test>\n\nbody\n".to_vec(),
    ]);
    let popget = Popget::new();
    let address = format!("unix:{}", cyrus.lmtp_socket.display());
    let port = dovecot.pop3_port.to_string();
    let args = [
        "--auth",
        "user",
        "--lmtp",
        &address,
        "--recipient",
        "nobody",
        "--delete",
    ];
    let run = popget.fetch(&port, "alice", "none", &args);
    run.expect_code(73);
    assert!(
        run.stderr().contains("refused the message for nobody")
            && run.stderr().contains(": 550 Mailbox unknown"),
        "{}",
        run.stderr()
    );
    assert_eq!(dovecot.stored("alice").len(), 2, "nothing deleted");
    assert!(cyrus.mailbox(TO, "INBOX").is_empty());
}

/// Cyrus refuses to store a message whose header is not a header (`NO Message contains invalid
/// header`; Dovecot stores it). With LITERAL+ the message after it in the batch went out
/// before the refusal came back and was stored: it counts as delivered, the refused one stays
/// on the POP3 server, even when the two are the same size and have no Message-ID (what the
/// look for a lost APPEND goes by). Guards against the refused message being taken for the
/// other one when the journal was settled, and deleted by the second run.
#[test]
fn imap_a_message_refused_in_the_middle_of_a_batch_stays_and_the_rest_is_delivered_once() {
    let first = b"Subject: first\nMessage-ID: <1@test>\n\nfirst\n".to_vec();
    let refused = b"Bad Header: x\n\nbody A\n".to_vec();
    let after = b"Subject: thre\n\nbody B\n".to_vec();
    assert_eq!(refused.len(), after.len());
    let (dovecot, cyrus) = servers_holding(&[first.clone(), refused.clone(), after.clone()]);
    let popget = Popget::new();
    let destination = imap_destination(&cyrus, "imaps", "INBOX");
    let config = write_config(&popget, &dovecot, &destination, "delete = true");
    for run in 1..=2 {
        let outcome = fetch(&popget, &config);
        // Refused for good: reported once and set aside, then left alone.
        if run == 1 {
            outcome.expect_code(73);
            assert!(
                outcome.stderr().contains("Message contains invalid header"),
                "{}",
                outcome.stderr()
            );
        } else {
            outcome.expect_code(0);
            assert!(
                outcome.stderr().contains("1 set aside"),
                "{}",
                outcome.stderr()
            );
        }
        assert_same_messages(
            &bodies(&cyrus.mailbox(TO, "INBOX")),
            &crlf(&[first.clone(), after.clone()]),
        );
        let left = dovecot.stored("alice");
        assert!(
            left.contains(&refused),
            "run {run}: the refused message was deleted"
        );
        // The one stored after the refusal is recorded when the run settles its journal,
        // after its DELEs: the next run deletes it.
        if run == 2 {
            assert_eq!(left, std::slice::from_ref(&refused));
        }
    }
}

/// Cyrus with `maxmessagesize`, and three messages for alice: small, over that size, small.
fn servers_with_a_size_limit() -> (Dovecot, Cyrus, Vec<Vec<u8>>) {
    const LIMIT: u64 = 100_000;
    let mut big =
        b"Subject: big\nMessage-ID: <big@test>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n\n".to_vec();
    big.extend("x".repeat(99).repeat(LIMIT as usize / 100 * 2).as_bytes());
    big.push(b'\n');
    let messages = vec![
        b"Subject: before\nMessage-ID: <1@test>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n\nsmall\n"
            .to_vec(),
        big,
        b"Subject: after\nMessage-ID: <3@test>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n\nsmall\n"
            .to_vec(),
    ];
    let options = cyrus::Options {
        users: 1,
        max_message_size: Some(LIMIT),
    };
    let (dovecot, cyrus) = servers_with(&messages, options);
    (dovecot, cyrus, messages)
}

/// Cyrus announces `maxmessagesize` as APPENDLIMIT only after login, and answers a larger
/// APPEND with LITERAL+ by NO [TOOBIG] and BYE, dropping the connection: popget does not even
/// download it. The message stays on the POP3 server (73 once, then set aside), the others
/// are delivered once.
#[test]
fn imap_a_message_over_the_appendlimit_is_not_sent_and_stays() {
    let (dovecot, cyrus, messages) = servers_with_a_size_limit();
    let popget = Popget::new();
    let destination = imap_destination(&cyrus, "imaps", "INBOX");
    let config = write_config(&popget, &dovecot, &destination, "delete = true");
    for round in 0..2 {
        let run = fetch(&popget, &config);
        expect_too_large_once(&run, round);
        assert_same_messages(
            &bodies(&cyrus.mailbox(TO, "INBOX")),
            &crlf(&[messages[0].clone(), messages[2].clone()]),
        );
    }
    assert_eq!(dovecot.stored("alice"), &messages[1..2]);
}

/// The message over the 100000-octet limit is not downloaded: the first run reports it and
/// sets it aside (73), later runs leave it alone (0).
fn expect_too_large_once(run: &Run, round: usize) {
    if round == 0 {
        run.expect_code(73);
        assert!(
            run.stderr()
                .contains("larger than the destination accepts (100000 octets)"),
            "{}",
            run.stderr()
        );
    } else {
        run.expect_code(0);
    }
}

/// Cyrus's lmtpd announces `SIZE 100000`; a MAIL FROM with a larger SIZE= is refused (552),
/// yet Cyrus goes on as if it had been accepted: it takes the pipelined RCPT and DATA (354).
/// popget does not download a message over its limit: 73 once, then set aside; it stays on
/// the POP3 server, and the message after it is delivered.
#[test]
fn lmtp_a_message_over_the_size_limit_is_not_offered_and_stays() {
    let (dovecot, cyrus, messages) = servers_with_a_size_limit();
    let popget = Popget::new();
    let address = format!("unix:{}", cyrus.lmtp_socket.display());
    let port = dovecot.pop3_port.to_string();
    let args = [
        "--auth",
        "user",
        "--lmtp",
        &address,
        "--recipient",
        TO,
        "--delete",
    ];
    for round in 0..2 {
        let run = popget.fetch(&port, "alice", "none", &args);
        expect_too_large_once(&run, round);
        assert_same_messages(
            &lmtp_delivered(&cyrus),
            &lmtp_expected(&[messages[0].clone(), messages[2].clone()]),
        );
    }
    assert_eq!(dovecot.stored("alice"), &messages[1..2]);
}

/// `kill -9` at random moments while 40 messages are appended with `--delete`, then a healthy
/// run: every message is in Cyrus's mailbox exactly once (an APPEND whose answer was lost is
/// found by Message-ID and size through Cyrus's EXAMINE and UID FETCH) and none is left on the
/// POP3 server.
#[test]
fn imap_exactly_once_across_sigkill() {
    const COUNT: usize = 40;
    let message = |round: u64, n: usize| {
        format!("Subject: crash {n}\nMessage-ID: <{round}.{n}@crash.test>\n\nbody {n}\n")
            .into_bytes()
    };
    let (dovecot, cyrus) = servers_holding(&[]);
    let popget = Popget::new();
    let destination = imap_destination(&cyrus, "imaps", "INBOX");
    let config = write_config(&popget, &dovecot, &destination, "delete = true");
    // Rounds of 40 messages until popget was killed 10 times: a fast machine may append a
    // whole round before the first kill.
    let crashes = crash_rounds(
        0xc1_0001,
        10,
        |round| {
            for n in 0..COUNT {
                dovecot.deliver("alice", &message(round, n));
            }
        },
        || popget.command_with_password(&["--config", &config, "fetch"]),
        || dovecot.stored("alice").is_empty(),
    );
    let (lost, duplicated) = lost_and_duplicated_among(
        &bodies(&cyrus.mailbox(TO, "INBOX")),
        (0..crashes.rounds)
            .flat_map(|round| (0..COUNT).map(move |n| format!("<{round}.{n}@crash.test>"))),
    );
    eprintln!("Cyrus IMAP crash suite: {crashes:?}, {lost} lost, {duplicated} duplicated");
    assert_eq!((lost, duplicated), (0, 0));
}
