//! The sharpest hostile-destination cases by name: each runs through the checks of the
//! randomized suite (tests/randomized_destinations.rs: documented exit status, bounded time
//! and memory, DELE only after an acknowledgement, a healthy rerun that leaves every message in
//! the destination byte for byte, exactly once for IMAP), then asserts what is particular to it.

use std::time::{Duration, Instant};

use crate::harness::destination::{crlf, Destination, Server};
use crate::harness::fake::{FakeServer, Script};
use crate::harness::fake_imap::{At, FakeImap, Fault, ImapScript};
use crate::harness::fake_lmtp::{FakeLmtp, LmtpAt, LmtpFault, LmtpScript};
use crate::harness::misbehaviour::Act;
use crate::harness::Popget;
use crate::randomized_destinations::{run_case_on, Case, Outcome};

/// `count` messages with Message-IDs, or without and all of one size.
fn messages(count: usize, message_ids: bool) -> Vec<(String, Vec<u8>)> {
    (1..=count)
        .map(|n| {
            let message = match message_ids {
                true => format!("Subject: {n}\nMessage-ID: <{n}@named.test>\n\nbody {n}\n"),
                false => format!("Subject: note {n:03}\n\nthe same size\n"),
            };
            (format!("uid-{n}"), message.into_bytes())
        })
        .collect()
}

fn imap(capabilities: &[&str], fault: Fault) -> Destination {
    Destination::Imap {
        script: ImapScript {
            capabilities: capabilities.iter().map(|c| c.to_string()).collect(),
            ..ImapScript::default()
        },
        mailbox: "INBOX",
        fault,
        unreachable: false,
        renumbered: false,
    }
}

fn lmtp(fault: LmtpFault) -> Destination {
    Destination::Lmtp {
        script: LmtpScript::default(),
        fault,
        unreachable: false,
    }
}

/// Runs the case through the suite's checks; the server, for a look inside, and the outcome.
fn run(
    messages: Vec<(String, Vec<u8>)>,
    delete: bool,
    destination: Destination,
) -> (Server, Outcome, Case) {
    let case = Case {
        seed: 0,
        messages,
        delete,
        destination,
    };
    let server = Server::start(&case.destination);
    let outcome = run_case_on(&case, &server).unwrap_or_else(|error| panic!("{error}"));
    assert!(outcome.fired, "the fault never struck");
    (server, outcome, case)
}

/// How many times each served message is in the destination.
fn copies(server: &Server, case: &Case) -> Vec<usize> {
    let stored = server.stored(&case.destination);
    case.messages
        .iter()
        .map(|(_, message)| stored.iter().filter(|m| **m == crlf(message)).count())
        .collect()
}

#[test]
fn imap_bye_after_the_literal_before_the_tagged_ok_the_rerun_finds_it_and_appends_it_once() {
    for capabilities in [&["LITERAL+", "UIDPLUS"][..], &[]] {
        let fault = Fault::Strike(At::AfterLiteral(2, true), Act::Goodbye);
        let (server, outcome, case) = run(messages(3, true), true, imap(capabilities, fault));
        assert_eq!(outcome.code, 75);
        assert_eq!(copies(&server, &case), [1, 1, 1], "{capabilities:?}");
    }
}

/// A refusal ends the batch with messages whose outcome the journal does not hold: the one
/// refused, and (with pipelining) the one after it, which was stored. Without Message-IDs and
/// all of one size, only their headers tell which arrived: the refused message is not taken for
/// the first, which was stored, so it is not deleted on the POP3 server undelivered.
#[test]
fn imap_a_refused_message_is_never_taken_for_a_stored_one_of_the_same_size() {
    for capabilities in [&["LITERAL+"][..], &[]] {
        for refusal in ["[OVERQUOTA] ", ""] {
            let fault = Fault::Strike(
                At::AfterLiteral(2, false),
                Act::Replace(format!("$TAG NO {refusal}not now\r\n").into_bytes()),
            );
            let (server, outcome, case) = run(messages(3, false), true, imap(capabilities, fault));
            let expected = if refusal.is_empty() { 73 } else { 75 };
            assert_eq!(outcome.code, expected, "{capabilities:?} {refusal}");
            assert_eq!(
                copies(&server, &case),
                [1, 1, 1],
                "{capabilities:?} {refusal}"
            );
        }
    }
}

#[test]
fn imap_a_refused_login_is_77_before_the_pop3_server_is_asked_anything() {
    let (_, outcome, _) = run(
        messages(2, true),
        true,
        imap(&["LITERAL+"], Fault::RefuseLogin),
    );
    // The suite checks that the POP3 server saw no command at all.
    assert_eq!(outcome.code, 77);
}

/// After an APPEND whose answer was lost the mailbox gets a new UIDVALIDITY: the rerun stops
/// with 75 and says why, deleting nothing (checked by the suite); with the journal moved away,
/// as the message says, the message in doubt is appended a second time, and no other.
#[test]
fn imap_a_new_uidvalidity_after_a_lost_answer_stops_the_rerun() {
    let destination = Destination::Imap {
        script: ImapScript::default(),
        mailbox: "INBOX",
        fault: Fault::Strike(At::AfterLiteral(2, true), Act::Close),
        unreachable: false,
        renumbered: true,
    };
    let (server, outcome, case) = run(messages(3, true), true, destination);
    assert_eq!(outcome.code, 75);
    assert_eq!(copies(&server, &case), [1, 2, 1]);
}

/// The documented duplicate: the connection closes after the final dot, before the reply.
#[test]
fn lmtp_a_close_after_the_final_dot_delivers_that_message_twice_and_no_other() {
    let fault = LmtpFault::Strike(LmtpAt::AfterDot(2, true), Act::Close);
    let (server, outcome, case) = run(messages(3, true), true, lmtp(fault));
    assert_eq!(outcome.code, 75);
    assert_eq!(copies(&server, &case), [1, 2, 1]);
}

/// 5xx after the data: that message stays and the run goes on (73); 4xx: the run ends (75).
#[test]
fn lmtp_a_permanent_refusal_skips_one_message_a_temporary_one_ends_the_run() {
    for (reply, code, first_run) in [
        ("550 5.7.1 no", 73, &[1, 3][..]),
        ("452 4.2.2 full", 75, &[1]),
    ] {
        let fault = LmtpFault::Strike(
            LmtpAt::AfterDot(2, false),
            Act::Replace(format!("{reply}\r\n").into_bytes()),
        );
        let (server, outcome, case) = run(messages(3, true), false, lmtp(fault));
        assert_eq!(outcome.code, code, "{reply}");
        let delivered: Vec<Vec<u8>> = first_run
            .iter()
            .map(|&n| crlf(&case.messages[n - 1].1))
            .collect();
        assert_eq!(outcome.stored, delivered, "{reply}");
        assert_eq!(copies(&server, &case), [1, 1, 1], "{reply}");
    }
}

/// A destination given for one run (`--lmtp`, `--imap`) that never greets is given up after
/// `--timeout`, as the POP3 server would be (75), and nothing is fetched.
#[test]
fn a_one_off_destination_that_never_answers_is_given_up_after_the_timeout() {
    let lmtp = FakeLmtp::start(LmtpScript::default());
    lmtp.set_fault(LmtpFault::Strike(LmtpAt::Greeting, Act::Stall));
    let imap = FakeImap::start(ImapScript::default());
    imap.set_fault(Fault::Strike(At::Greeting, Act::Stall));
    let lmtp_address = format!("127.0.0.1:{}", lmtp.port());
    let imap_url = format!("imap://bob@127.0.0.1:{}/INBOX", imap.port());
    for destination in [
        ["--lmtp", &lmtp_address, "--recipient", "bob"].as_slice(),
        &["--imap", &imap_url],
    ] {
        let pop3 = FakeServer::start(Script {
            messages: messages(2, true),
            ..Script::default()
        });
        let popget = Popget::new();
        let mut command = popget.command();
        command
            .env("POPGET_PASSWORD", "secret")
            .env("POPGET_DESTINATION_PASSWORD", "secret")
            .arg("fetch")
            .args(pop3.args())
            .args(["--auth", "user", "--timeout", "1", "--delete"])
            .args(destination);
        let started = Instant::now();
        let run = popget.run_with(&mut command);
        run.expect_code(75);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{destination:?}: {:?}",
            started.elapsed()
        );
        assert!(pop3.commands().is_empty(), "{:?}", pop3.commands());
    }
}
