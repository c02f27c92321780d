//! Hostile servers: the fake server scripted to attack popget in the ways other POP3 clients'
//! security advisories describe. Each test checks what popget sent (never a secret in clear),
//! its exit status, that nothing was delivered or deleted wrongly, and for the resource attacks
//! its peak memory, measured at its exit.
//!
//! The 25 attacks and where each is tested (tests here unless a file is named):
//!  1 STLS response injection ........ stls_response_injection_aborts_before_the_handshake;
//!                                      session.rs stls_rejects_bytes_injected_after_the_ok
//!  2 STLS stripping ................. stls_stripping_sends_no_credential_with_any_method;
//!                                      fake_server.rs starttls_required_but_not_offered_*,
//!                                      starttls_refused_sends_no_credentials
//!  3 credentials before TLS ......... implicit_tls_against_a_plain_server_sends_nothing,
//!                                      auto_over_plain_text_uses_apop_or_stops;
//!                                      dovecot_fetch.rs starttls_sends_credentials_only_after_*,
//!                                      auth.rs no_method_logs_in_over_plain_text_when_tls_*
//!  4 certificate identity ........... certificates_with_the_wrong_identity_or_dates_are_refused;
//!                                      dovecot_fetch.rs an_untrusted_certificate_is_rejected_*
//!  5 multi-line framing ............. fake_terminators_are_delivered_as_message_text;
//!                                      dot.rs fake_terminators_do_not_end_the_body, proptests
//!  6 truncation ..................... faults.rs a_retr_cut_at_any_point_loses_nothing_*,
//!                                      fake_server.rs a_connection_dropped_*, crash.rs
//!  7 delete ordering ................ faults.rs a_full_disk_*, a_read_only_maildir_*,
//!                                      a_refused_quit_keeps_the_records_*
//!  8 UIDL path traversal, injection . hostile_uidls_are_stored_escaped_and_never_as_paths;
//!                                      fake_server.rs hostile_uidls_never_become_paths
//!  9 UIDL edge cases ................ an_empty_uidl_is_a_protocol_error;
//!                                      fake_server.rs duplicate_uidls_*, without_uidl_keep_*;
//!                                      faults.rs a_uidl_reused_for_a_new_message_*
//! 10 overlong lines ................. an_overlong_greeting_is_refused_in_bounded_memory,
//!                                      an_overlong_capa_line_is_refused_in_bounded_memory,
//!                                      a_hundred_megabyte_line_is_streamed_not_buffered
//! 11 size lies ...................... a_message_far_larger_than_listed_is_cut_off_at_max_size;
//!                                      faults.rs a_message_larger_than_its_list_size_*
//! 12 never-ending and slowloris ..... an_endless_uidl_listing_is_cut_off_in_bounded_memory,
//!                                      a_trickling_server_is_cut_off_at_the_session_deadline,
//!                                      silence_after_the_stls_ok_times_out,
//!                                      no_greeting_times_out; faults.rs a_stalled_server_*
//! 13 numeric abuse .................. stat_claiming_four_billion_messages_is_harmless,
//!                                      abusive_message_numbers_are_protocol_errors
//! 14 CRLF injection via config ...... a_password_that_could_inject_commands_is_never_sent;
//!                                      cli.rs a_user_name_that_could_inject_commands_*
//! 15 APOP timestamp ................. auto_over_plain_text_uses_apop_or_stops;
//!                                      listing.rs finds_valid_apop_timestamps_only
//! 16 SASL strictness ................ invalid_or_oversized_sasl_challenges_are_cancelled;
//!                                      oauth.rs xoauth2_microsoft_two_step_form_*
//! 17 mutual authentication .......... scram_without_server_proof_fails_the_login;
//!                                      sasl.rs scram_refuses_a_server_that_cannot_prove_itself
//! 18 pipelining ..................... a_server_that_writes_before_reading_cannot_deadlock_the_pipeline;
//!                                      session.rs pipelined_answers_stay_in_order_after_an_err;
//!                                      the window (fetch.rs PIPELINE_WINDOW) keeps unanswered
//!                                      commands far below a socket buffer, so no deadlock
//! 19 mbox injection ................. mbox.rs unit tests; dovecot_fetch.rs starttls_into_mbox_*
//! 20 mbox locking and rollback ...... faults.rs a_mail_reader_holding_the_mbox_locks_*,
//!                                      a_full_disk_in_an_mbox_*, two_accounts_into_one_mbox_*
//! 21 Maildir atomicity .............. maildir.rs unit tests; crash.rs
//! 22 state durability, concurrency .. crash.rs; cli.rs a_second_popget_on_the_same_account_*
//! 23 pre-auth, unsolicited data ..... unsolicited_data_after_the_greeting_is_refused;
//!                                      session.rs unsolicited_data_after_the_greeting_*
//! 24 terminal and log injection ..... server_text_is_neutralised_on_the_terminal;
//!                                      scripting.rs list_headers_decodes_and_defuses_*
//! 25 mechanism downgrade ............ capabilities_from_before_tls_are_forgotten;
//!                                      auth.rs only_the_capabilities_announced_after_tls_count

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::fake::{numbered_messages, FakeServer, Handled, Handler, Script, CONNECTED};
use crate::harness::{maildir_messages, run_measuring_memory, Popget, Run};

/// What popget may add to an ordinary small fetch's peak resident memory (VmHWM) against a
/// server that attacks with one answer: a listing may take at most `--max-listing` (8 MiB by
/// default), every other answer is streamed or capped at 8 KiB; 3 MiB more for the rest. The
/// ordinary fetch's own peak (the unoptimised test build: the binary and the libraries mapped
/// from disk, about 10 MiB) is measured, not assumed, so that a library linked in later does
/// not move the bound.
const ATTACK_MEMORY_KIB: u64 = 11 * 1024;

/// The same for a fetch whose LIST and UIDL answers are both just under `--max-listing`
/// (123,000 messages): measured at 17 MiB over an ordinary fetch, the plan moving the ids out
/// of the listing rather than copying them.
const FULL_LISTINGS_MEMORY_KIB: u64 = 30 * 1024;

/// The password every test uses; it must never cross the wire in clear where TLS was asked for.
const SECRET: &str = "secret";

fn handler(
    f: impl Fn(&str, &mut dyn Write) -> std::io::Result<Handled> + Send + Sync + 'static,
) -> Option<Handler> {
    Some(Arc::new(f))
}

/// `popget fetch` against the fake server into ~/m with --auth user unless `extra` says
/// otherwise, and its peak memory in KiB.
fn fetch_measured(popget: &Popget, server: &FakeServer, extra: &[&str]) -> (Run, u64) {
    let mut command = popget.command();
    command
        .env("POPGET_PASSWORD", SECRET)
        .arg("fetch")
        .args(server.args())
        .args(["--maildir", &popget.path("m").display().to_string()]);
    if !extra.contains(&"--auth") {
        command.args(["--auth", "user"]);
    }
    command.args(extra);
    run_measuring_memory(&mut command)
}

fn fetch(popget: &Popget, server: &FakeServer, extra: &[&str]) -> Run {
    fetch_measured(popget, server, extra).0
}

#[track_caller]
fn assert_bounded(peak_kib: u64) {
    let bound = crate::harness::ordinary_fetch_peak_kib() + ATTACK_MEMORY_KIB;
    assert!(
        peak_kib < bound,
        "popget's peak memory was {peak_kib} KiB, over the bound of {bound} KiB (an ordinary \
         fetch's {} KiB and {ATTACK_MEMORY_KIB} KiB)",
        crate::harness::ordinary_fetch_peak_kib()
    );
    eprintln!("peak memory: {peak_kib} KiB");
}

/// Nothing was delivered, nothing is left half-written, nothing was deleted.
#[track_caller]
fn assert_nothing_delivered_or_deleted(popget: &Popget, server: &FakeServer, on_server: usize) {
    assert!(maildir_messages(&popget.path("m")).is_empty());
    if let Ok(tmp) = std::fs::read_dir(popget.path("m/tmp")) {
        assert_eq!(tmp.count(), 0, "a partial message was left in tmp/");
    }
    let commands = server.commands();
    assert!(
        !commands.iter().any(|c| c.starts_with("DELE")),
        "{commands:?}"
    );
    assert_eq!(server.remaining().len(), on_server);
}

/// Writes `chunk` until `total` octets are out or the client has gone.
fn pour(out: &mut dyn Write, chunk: &[u8], total: u64) -> std::io::Result<Handled> {
    let mut written = 0;
    while written < total {
        if out.write_all(chunk).is_err() {
            return Ok(Handled::Close);
        }
        written += chunk.len() as u64;
    }
    Ok(Handled::Close)
}

#[test]
fn an_ordinary_fetch_stays_far_below_the_memory_bound() {
    // The reference for the bound: what popget needs when nothing is wrong.
    let server = FakeServer::start(Script {
        messages: numbered_messages(20),
        ..Script::default()
    });
    let popget = Popget::new();
    let (run, peak) = fetch_measured(&popget, &server, &[]);
    run.expect_code(0);
    assert_eq!(maildir_messages(&popget.path("m")).len(), 20);
    assert_bounded(peak);
}

#[test]
fn an_overlong_greeting_is_refused_in_bounded_memory() {
    // A 1 MB greeting: lines are capped, so it is refused without being held whole.
    let server = FakeServer::start(Script {
        greeting: format!("+OK {}", "x".repeat(1 << 20)),
        messages: numbered_messages(1),
        ..Script::default()
    });
    let popget = Popget::new();
    let (run, peak) = fetch_measured(&popget, &server, &[]);
    run.expect_code(76);
    assert!(run.stderr().contains("longer than"), "{}", run.stderr());
    assert!(server.commands().is_empty(), "{:?}", server.commands());
    assert_nothing_delivered_or_deleted(&popget, &server, 1);
    assert_bounded(peak);
}

#[test]
fn an_overlong_capa_line_is_refused_in_bounded_memory() {
    // A 10 MB CAPA line: capped like any other line, and the session is abandoned.
    let server = FakeServer::start(Script {
        messages: numbered_messages(1),
        handler: handler(|line, out| {
            if line != "CAPA" {
                return Ok(Handled::No);
            }
            out.write_all(b"+OK\r\nSASL ")?;
            pour(out, &[b'X'; 64 * 1024], 10 << 20)
        }),
        ..Script::default()
    });
    let popget = Popget::new();
    let (run, peak) = fetch_measured(&popget, &server, &[]);
    run.expect_code(76);
    assert_eq!(server.commands(), ["CAPA"]);
    assert_nothing_delivered_or_deleted(&popget, &server, 1);
    assert_bounded(peak);
}

#[test]
fn a_hundred_megabyte_line_is_streamed_not_buffered() {
    // A RETR data line of 100 MB with no CRLF, then the connection closes: message data is
    // streamed, never buffered whole.
    let server = FakeServer::start(Script {
        messages: numbered_messages(1),
        handler: handler(|line, out| {
            if line != "RETR 1" {
                return Ok(Handled::No);
            }
            out.write_all(b"+OK\r\nSubject: long\r\n\r\n")?;
            pour(out, &[b'z'; 64 * 1024], 100 << 20)
        }),
        ..Script::default()
    });
    let popget = Popget::new();
    let (run, peak) = fetch_measured(&popget, &server, &["--delete"]);
    // The body outgrows its LIST size (past the tolerance) long before the connection closes,
    // which makes it a broken answer.
    run.expect_code(76);
    assert!(run.stderr().contains("LIST announced"), "{}", run.stderr());
    assert_nothing_delivered_or_deleted(&popget, &server, 1);
    assert!(!server.commands().contains(&"QUIT".to_string()));
    assert_bounded(peak);
}

#[test]
fn a_server_that_writes_before_reading_cannot_deadlock_the_pipeline() {
    // Pipelining must not deadlock: the server answers the first RETR with 50 MB and reads
    // nothing more until that is written, while popget has a window of commands in flight,
    // more messages waiting, and DELEs to send.
    let mut messages = numbered_messages(600);
    let mut big = b"Subject: big\n\n".to_vec();
    let mut line = vec![b'q'; 998];
    line.push(b'\n');
    while big.len() < 50 << 20 {
        big.extend_from_slice(&line);
    }
    messages[0].1 = big.clone();
    let server = FakeServer::start(Script {
        capa: Some(vec!["USER".into(), "UIDL".into(), "PIPELINING".into()]),
        messages,
        ..Script::default()
    });
    let popget = Popget::new();
    let started = Instant::now();
    let (run, peak) = fetch_measured(&popget, &server, &["--delete", "--timeout", "20"]);
    run.expect_code(0);
    assert!(started.elapsed() < Duration::from_secs(60));
    let delivered = maildir_messages(&popget.path("m"));
    assert_eq!(delivered.len(), 600);
    assert!(delivered.contains(&big));
    assert!(server.remaining().is_empty());
    let commands = server.commands();
    let first_dele = commands.iter().position(|c| c.starts_with("DELE")).unwrap();
    let last_retr = commands
        .iter()
        .rposition(|c| c.starts_with("RETR"))
        .unwrap();
    assert!(
        first_dele < last_retr,
        "DELEs and RETRs were not interleaved"
    );
    assert_bounded(peak);
}

#[test]
fn a_message_far_larger_than_listed_is_cut_off_at_max_size() {
    // A size lie: LIST says 100 octets, RETR would go on for 10 GB. Nothing is kept or
    // deleted, in bounded time and memory.
    let mut script = Script {
        messages: numbered_messages(1),
        handler: handler(|line, out| {
            if line != "RETR 1" {
                return Ok(Handled::No);
            }
            out.write_all(b"+OK\r\n")?;
            let mut line = vec![b'y'; 998];
            line.extend_from_slice(b"\r\n");
            pour(out, &line.repeat(64), 10 << 30)
        }),
        ..Script::default()
    };
    script
        .overrides
        .insert("LIST".into(), "+OK\r\n1 100\r\n.".into());
    let server = FakeServer::start(script);
    let popget = Popget::new();
    let started = Instant::now();
    let (run, peak) = fetch_measured(&popget, &server, &["--delete", "--max-size", "1M"]);
    run.expect_code(76);
    // Cut off once it outgrows its LIST size (past the tolerance), before --max-size.
    assert!(
        run.stderr()
            .contains("runs on past the 100 octets LIST announced"),
        "{}",
        run.stderr()
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_nothing_delivered_or_deleted(&popget, &server, 1);
    assert_bounded(peak);
}

/// A server whose answer to `command` never ends: `+OK`, then `N FIELD` lines for ever.
fn endless_listing(command: &'static str, field: &'static str) -> FakeServer {
    FakeServer::start(Script {
        messages: numbered_messages(1),
        handler: handler(move |line, out| {
            if line != command {
                return Ok(Handled::No);
            }
            out.write_all(b"+OK\r\n")?;
            let mut block = Vec::new();
            for n in 1..=50_000_000u64 {
                block.extend_from_slice(format!("{n} {field}\r\n").as_bytes());
                if block.len() > 60_000 {
                    if out.write_all(&block).is_err() {
                        return Ok(Handled::Close);
                    }
                    block.clear();
                }
            }
            Ok(Handled::Close)
        }),
        ..Script::default()
    })
}

#[test]
fn an_endless_uidl_listing_is_cut_off_in_bounded_memory() {
    // Listings are capped (--max-listing): a UIDL answer that never ends, with the shortest
    // ids (the most entries, so the most memory, per octet sent).
    let server = endless_listing("UIDL", "u");
    let popget = Popget::new();
    let (run, peak) = fetch_measured(&popget, &server, &["--delete"]);
    run.expect_code(76);
    assert!(run.stderr().contains("--max-listing"), "{}", run.stderr());
    assert_nothing_delivered_or_deleted(&popget, &server, 1);
    assert_bounded(peak);
}

#[test]
fn an_endless_list_answer_is_cut_off_in_bounded_memory() {
    // The same cap for LIST, whose entries are the cheapest, so the most numerous.
    let server = endless_listing("LIST", "1");
    let popget = Popget::new();
    let (run, peak) = fetch_measured(&popget, &server, &["--delete"]);
    run.expect_code(76);
    assert_nothing_delivered_or_deleted(&popget, &server, 1);
    assert_bounded(peak);
}

#[test]
fn stat_claiming_four_billion_messages_is_harmless() {
    // Numeric abuse: nothing is allocated in proportion to what STAT claims, and a count
    // past 32 bits is a protocol error.
    let popget = Popget::new();
    for (answer, code) in [("+OK 4294967295 1", 0), ("+OK 4294967296 1", 76)] {
        let mut script = Script::default();
        script.overrides.insert("STAT".into(), answer.into());
        let server = FakeServer::start(script);
        let mut command = popget.command();
        command
            .env("POPGET_PASSWORD", SECRET)
            .arg("stat")
            .args(server.args())
            .args(["--auth", "user"]);
        let (run, peak) = run_measuring_memory(&mut command);
        run.expect_code(code);
        if code == 0 {
            assert_eq!(run.stdout(), "4294967295 1\n");
        }
        assert_bounded(peak);
    }
    // A listing that claims message 4294967295 of a one-message maildrop.
    let mut script = Script {
        messages: numbered_messages(1),
        ..Script::default()
    };
    script
        .overrides
        .insert("LIST".into(), "+OK\r\n4294967295 5\r\n.".into());
    let server = FakeServer::start(script);
    let (run, peak) = fetch_measured(&popget, &server, &["--delete"]);
    run.expect_code(76);
    assert_nothing_delivered_or_deleted(&popget, &server, 1);
    assert_bounded(peak);
}

#[test]
fn listings_just_under_the_limit_keep_the_whole_fetch_bounded() {
    // The other side of the listing cap: the largest LIST and UIDL answers popget accepts by
    // default (about 123,000 messages), all over --max-size so that nothing is downloaded.
    const MESSAGES: u64 = 123_000;
    let server = FakeServer::start(Script {
        messages: numbered_messages(1),
        handler: handler(|line, out| {
            if line == "STAT" {
                out.write_all(format!("+OK {MESSAGES} 0\r\n").as_bytes())?;
                return Ok(Handled::Answered);
            }
            if line != "UIDL" && line != "LIST" {
                return Ok(Handled::No);
            }
            let mut answer = b"+OK\r\n".to_vec();
            for n in 1..=MESSAGES {
                let entry = match line {
                    "UIDL" => format!("{n} {n:0>24}\r\n"),
                    _ => format!("{n} 99999999\r\n"),
                };
                answer.extend_from_slice(entry.as_bytes());
            }
            answer.extend_from_slice(b".\r\n");
            out.write_all(&answer)?;
            Ok(Handled::Answered)
        }),
        ..Script::default()
    });
    let popget = Popget::new();
    // --json: off a terminal, a run that only leaves messages on the server prints no line.
    let (run, peak) = fetch_measured(
        &popget,
        &server,
        &["--delete", "--max-size", "1000", "--json"],
    );
    run.expect_code(0);
    let document: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(
        document["accounts"][0]["left_on_server_oversized"], 123_000,
        "{document}"
    );
    assert_nothing_delivered_or_deleted(&popget, &server, 1);
    let bound = crate::harness::ordinary_fetch_peak_kib() + FULL_LISTINGS_MEMORY_KIB;
    assert!(peak < bound, "peak memory {peak} KiB, over {bound} KiB");
    eprintln!("peak memory with full listings: {peak} KiB");
}

#[test]
fn no_greeting_times_out() {
    // No greeting: the server accepts the connection and says nothing; the read times out.
    let server = FakeServer::start(Script {
        handler: handler(|line, _| {
            if line == CONNECTED {
                std::thread::sleep(Duration::from_secs(3));
                return Ok(Handled::Close);
            }
            Ok(Handled::No)
        }),
        ..Script::default()
    });
    let popget = Popget::new();
    let started = Instant::now();
    let run = fetch(&popget, &server, &["--timeout", "1"]);
    run.expect_code(74);
    assert!(run.stderr().contains("timed out"), "{}", run.stderr());
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(server.commands().is_empty());
}

#[test]
fn a_trickling_server_is_cut_off_at_the_session_deadline() {
    // Slowloris: each byte of the RETR answer comes well inside the idle timeout; the
    // session deadline ends it anyway, and nothing is delivered or deleted.
    let server = FakeServer::start(Script {
        messages: numbered_messages(1),
        handler: handler(|line, out| {
            if line != "RETR 1" {
                return Ok(Handled::No);
            }
            out.write_all(b"+OK\r\n")?;
            for _ in 0..100 {
                if out.write_all(b"x").and_then(|()| out.flush()).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok(Handled::Close)
        }),
        ..Script::default()
    });
    let popget = Popget::new();
    let started = Instant::now();
    let run = fetch(
        &popget,
        &server,
        &["--delete", "--timeout", "5", "--session-timeout", "2"],
    );
    run.expect_code(74);
    assert!(
        run.stderr().contains("--session-timeout"),
        "{}",
        run.stderr()
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_nothing_delivered_or_deleted(&popget, &server, 1);
}

/// Every login method popget has; the gate in front of them must hold for each.
const METHODS: &[&str] = &[
    "auto",
    "user",
    "apop",
    "plain",
    "login",
    "cram-md5",
    "scram-sha-256",
    "scram-sha-1",
    "xoauth2",
    "oauthbearer",
    "gssapi",
];

/// A STLS server whose greeting offers APOP and whose CAPA offers every mechanism.
fn starttls_script() -> Script {
    Script {
        greeting: "+OK ready <1896.697170952@dbc.mtview.ca.us>".into(),
        capa: Some(vec![
            "STLS".into(),
            "USER".into(),
            "UIDL".into(),
            "SASL PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256 SCRAM-SHA-1 XOAUTH2 OAUTHBEARER GSSAPI".into(),
        ]),
        starttls: true,
        messages: numbered_messages(1),
        ..Script::default()
    }
}

/// No command carried the password, in clear or base64.
#[track_caller]
fn assert_no_secret_sent(server: &FakeServer) {
    use base64::Engine;
    let commands = server.commands();
    let encoded = base64::engine::general_purpose::STANDARD.encode(SECRET);
    assert!(
        !commands
            .iter()
            .any(|c| c.contains(SECRET) || c.contains(&encoded[..6])),
        "a secret crossed the wire: {commands:?}"
    );
    for forbidden in ["USER", "PASS", "APOP", "AUTH"] {
        assert!(
            !commands.iter().any(|c| c.starts_with(forbidden)),
            "{forbidden} was sent: {commands:?}"
        );
    }
}

#[test]
fn stls_response_injection_aborts_before_the_handshake() {
    // STARTTLS response injection: plaintext after the STLS +OK, in the same segment, stops
    // the run before the handshake; nothing read in clear is used after it.
    for injected in ["+OK\r\nSASL PLAIN\r\n.\r\n", "+OK\r\n", "+O", "-ERR x\r\n"] {
        let server = FakeServer::start(Script {
            handler: handler(move |line, out| {
                if line != "STLS" {
                    return Ok(Handled::No);
                }
                out.write_all(format!("+OK begin TLS\r\n{injected}").as_bytes())?;
                std::thread::sleep(Duration::from_millis(500));
                Ok(Handled::Close)
            }),
            ..starttls_script()
        });
        let popget = Popget::new();
        let run = fetch(&popget, &server, &["--auth", "auto"]);
        run.expect_code(76);
        assert!(run.stderr().contains("injection"), "{}", run.stderr());
        assert_eq!(server.commands(), ["CAPA", "STLS"]);
        assert_no_secret_sent(&server);
        assert_nothing_delivered_or_deleted(&popget, &server, 1);
    }
}

#[test]
fn stls_stripping_sends_no_credential_with_any_method() {
    // STARTTLS stripping: STLS missing from CAPA, CAPA refused, STLS refused; for every
    // login method, nothing secret is sent and STLS is asked for once at most.
    let no_stls = Script {
        capa: Some(vec!["USER".into(), "SASL PLAIN CRAM-MD5".into()]),
        ..starttls_script()
    };
    let no_capa = Script {
        capa: None,
        ..starttls_script()
    };
    let mut stls_refused = starttls_script();
    stls_refused
        .overrides
        .insert("STLS".into(), "-ERR not today".into());
    for script in [no_stls, no_capa, stls_refused] {
        let server = FakeServer::start(script);
        for method in METHODS {
            let popget = Popget::new();
            let run = fetch(&popget, &server, &["--auth", method]);
            run.expect_code(69);
            assert_nothing_delivered_or_deleted(&popget, &server, 1);
        }
        assert_no_secret_sent(&server);
        let stls = server.commands().iter().filter(|c| *c == "STLS").count();
        assert!(stls <= METHODS.len(), "{:?}", server.commands());
    }
}

#[test]
fn implicit_tls_against_a_plain_server_sends_nothing() {
    // Implicit TLS whose handshake fails (the server speaks plain text): no fallback to plain
    // text, nothing sent.
    let server = FakeServer::start(Script {
        messages: numbered_messages(1),
        ..Script::default()
    });
    let popget = Popget::new();
    let mut args = server.args();
    let tls = args.iter().position(|a| a == "--tls").unwrap();
    args[tls + 1] = "implicit".into();
    let mut command = popget.command();
    command
        .env("POPGET_PASSWORD", SECRET)
        .arg("fetch")
        .args(&args)
        .args(["--maildir", &popget.path("m").display().to_string()]);
    let run = popget.run_with(&mut command);
    assert!(matches!(run.code(), 69 | 74), "{}", run.stderr());
    assert!(server.commands().is_empty(), "{:?}", server.commands());
    assert_nothing_delivered_or_deleted(&popget, &server, 1);
}

#[test]
fn auto_over_plain_text_uses_apop_or_stops() {
    // No password in clear by default: without TLS, auto sends the password only as an APOP
    // digest of a valid timestamp; anything doubtful stops the run before any credential.
    let digest = popget::auth::apop_digest(b"<1896.697170952@dbc.mtview.ca.us>", SECRET);
    let apop = format!("APOP alice {digest}");
    let server = FakeServer::start(Script {
        greeting: "+OK ready <1896.697170952@dbc.mtview.ca.us>".into(),
        login_on: Some(apop.clone()),
        messages: numbered_messages(1),
        ..Script::default()
    });
    let popget = Popget::new();
    fetch(&popget, &server, &["--auth", "auto"]).expect_code(0);
    assert!(server.commands().contains(&apop));
    assert_eq!(maildir_messages(&popget.path("m")).len(), 1);

    for greeting in [
        "+OK ready",
        "+OK ready <a@b> <c@d>",
        "+OK ready <>",
        "+OK ready <caf\u{e9}@b>",
        "+OK ready <a b@c>",
        "+OK ready <a@b",
    ] {
        let server = FakeServer::start(Script {
            greeting: greeting.into(),
            messages: numbered_messages(1),
            ..Script::default()
        });
        let popget = Popget::new();
        let run = fetch(&popget, &server, &["--auth", "auto"]);
        run.expect_code(69);
        assert!(run.stderr().contains("--auth user"), "{}", run.stderr());
        assert_no_secret_sent(&server);
        assert_nothing_delivered_or_deleted(&popget, &server, 1);
    }
}

/// A self-signed certificate (PEM) and its PKCS#8 key with the given subject CN, DNS names
/// and validity (seconds from now).
fn certificate(cn: &str, dns: &[&str], valid: (i64, i64)) -> (Vec<u8>, Vec<u8>) {
    use openssl::asn1::Asn1Time;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
    use openssl::x509::{X509Builder, X509NameBuilder};
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    let name = name.build();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut builder = X509Builder::new().unwrap();
    builder.set_version(2).unwrap();
    builder.set_subject_name(&name).unwrap();
    builder.set_issuer_name(&name).unwrap();
    builder.set_pubkey(&key).unwrap();
    let not_before = Asn1Time::from_unix(now + valid.0).unwrap();
    let not_after = Asn1Time::from_unix(now + valid.1).unwrap();
    builder.set_not_before(&not_before).unwrap();
    builder.set_not_after(&not_after).unwrap();
    builder
        .append_extension(BasicConstraints::new().critical().ca().build().unwrap())
        .unwrap();
    if !dns.is_empty() {
        let mut san = SubjectAlternativeName::new();
        for name in dns {
            san.dns(name);
        }
        let san = san.build(&builder.x509v3_context(None, None)).unwrap();
        builder.append_extension(san).unwrap();
    }
    builder.sign(&key, MessageDigest::sha256()).unwrap();
    (
        builder.build().to_pem().unwrap(),
        key.private_key_to_pem_pkcs8().unwrap(),
    )
}

#[test]
fn certificates_with_the_wrong_identity_or_dates_are_refused() {
    // Certificate identity and dates: each certificate is trusted (--ca-file), only its
    // names or its dates are wrong; popget connects to "localhost".
    const DAY: i64 = 86_400;
    /// What the case is, the subject CN, the DNS names, the validity, the exit status.
    type Case<'a> = (&'a str, &'a str, &'a [&'a str], (i64, i64), i32);
    let cases: &[Case] = &[
        ("right name", "localhost", &["localhost"], (-DAY, DAY), 0),
        (
            "other name",
            "localhost",
            &["other.example"],
            (-DAY, DAY),
            69,
        ),
        (
            "wildcard vs apex",
            "localhost",
            &["*.localhost"],
            (-DAY, DAY),
            69,
        ),
        ("CN-only mismatch", "other.example", &[], (-DAY, DAY), 69),
        (
            "CN ignored beside a SAN",
            "localhost",
            &["x.example"],
            (-DAY, DAY),
            69,
        ),
        (
            "NUL in a SAN",
            "x",
            &["localhost\0.evil.example"],
            (-DAY, DAY),
            69,
        ),
        ("expired", "localhost", &["localhost"], (-2 * DAY, -DAY), 69),
        (
            "not yet valid",
            "localhost",
            &["localhost"],
            (DAY, 2 * DAY),
            69,
        ),
    ];
    for (what, cn, dns, valid, code) in cases {
        let server = FakeServer::start(Script {
            tls: true,
            identity: Some(certificate(cn, dns, *valid)),
            messages: numbered_messages(1),
            ..Script::default()
        });
        let popget = Popget::new();
        let mut args = server.args();
        let host = args.iter().position(|a| a == "--host").unwrap();
        args[host + 1] = "localhost".into();
        let mut command = popget.command();
        command
            .env("POPGET_PASSWORD", SECRET)
            .arg("fetch")
            .args(&args)
            .args(["--maildir", &popget.path("m").display().to_string()]);
        let run = popget.run_with(&mut command);
        assert_eq!(run.code(), *code, "{what}: {}", run.stderr());
        if *code != 0 {
            assert!(
                server.commands().is_empty(),
                "{what}: {:?}",
                server.commands()
            );
            assert_nothing_delivered_or_deleted(&popget, &server, 1);
        }
    }
}

#[test]
fn fake_terminators_are_delivered_as_message_text() {
    // Only a line holding just "." ends a body: none of these lines does; the message text
    // that follows them (a status line, a listing) is never read as a response.
    let mut script = Script {
        messages: numbered_messages(1),
        ..Script::default()
    };
    script.overrides.insert(
        "RETR 1".into(),
        "+OK\r\nSubject: dots\r\n\r\na\n.\n+OK 1 1\r\n. \r\n.\r\r\n..\r\n.x\r\nx.\r\n.\n.\r\n1 5\r\n."
            .into(),
    );
    let server = FakeServer::start(script);
    let popget = Popget::new();
    fetch(&popget, &server, &["--delete"]).expect_code(0);
    assert_eq!(
        maildir_messages(&popget.path("m")),
        [b"Subject: dots\n\na\n.\n+OK 1 1\n \n\r\n.\nx\nx.\n\n.\n1 5\n".to_vec()]
    );
    assert!(server.remaining().is_empty());
}

#[test]
fn hostile_uidls_are_stored_escaped_and_never_as_paths() {
    // A UIDL is never a path and cannot forge a state line: ids with a bare LF, '/', '%',
    // and 200 octets.
    let mut messages = numbered_messages(4);
    messages[0].0 = "x\nINJECT 1 y".into();
    messages[1].0 = "../../x".into();
    messages[2].0 = "%41".into();
    messages[3].0 = "u".repeat(200);
    let server = FakeServer::start(Script {
        messages,
        ..Script::default()
    });
    let popget = Popget::new();
    fetch(&popget, &server, &[]).expect_code(0);
    fetch(&popget, &server, &[]).expect_code(0);
    assert_eq!(
        maildir_messages(&popget.path("m")).len(),
        4,
        "fetched again"
    );
    let states: Vec<_> = std::fs::read_dir(popget.state_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "state"))
        .collect();
    assert_eq!(states.len(), 1, "{states:?}");
    let state = std::fs::read_to_string(&states[0]).unwrap();
    assert_eq!(state.lines().count(), 6, "{state}");
    assert!(!state.lines().any(|l| l.starts_with("INJECT")), "{state}");
    assert!(state.contains("%2541"), "{state}");
    for escaped in ["x", ".local/x", "m/x", ".local/state/x"] {
        assert!(!popget.path(escaped).exists(), "{escaped}");
    }
}

#[test]
fn an_empty_uidl_is_a_protocol_error() {
    // A UIDL entry with an empty id is a protocol error: nothing is delivered or deleted.
    let mut script = Script {
        messages: numbered_messages(1),
        ..Script::default()
    };
    script
        .overrides
        .insert("UIDL".into(), "+OK\r\n1 \r\n.".into());
    let server = FakeServer::start(script);
    let popget = Popget::new();
    fetch(&popget, &server, &["--delete"]).expect_code(76);
    assert_nothing_delivered_or_deleted(&popget, &server, 1);
}

#[test]
fn abusive_message_numbers_are_protocol_errors() {
    // Listing entries numbered zero, signed, not decimal, twice or past the count, or with
    // a negative size: a protocol error before any RETR.
    for listing in [
        "-1 100",
        "0 5",
        "+1 5",
        "x 5",
        "1 5\r\n1 6",
        "1 5\r\n999 5",
        "1 -5",
    ] {
        let mut script = Script {
            messages: numbered_messages(2),
            ..Script::default()
        };
        script
            .overrides
            .insert("LIST".into(), format!("+OK\r\n{listing}\r\n."));
        let server = FakeServer::start(script);
        let popget = Popget::new();
        let run = fetch(&popget, &server, &["--delete"]);
        run.expect_code(76);
        assert_nothing_delivered_or_deleted(&popget, &server, 2);
        assert!(!server.commands().iter().any(|c| c.starts_with("RETR")));
    }
}

#[test]
fn a_password_that_could_inject_commands_is_never_sent() {
    // A password holding CR, LF or NUL could inject commands and is never sent: from the
    // environment (CRLF) and from a password command (a NUL byte).
    let server = FakeServer::start(Script {
        messages: numbered_messages(1),
        ..Script::default()
    });
    let popget = Popget::new();
    let maildir = popget.path("m").display().to_string();
    let mut command = popget.command();
    command
        .env("POPGET_PASSWORD", "x\r\nDELE 1")
        .arg("fetch")
        .args(server.args())
        .args(["--auth", "user", "--maildir", &maildir]);
    popget.run_with(&mut command).expect_code(78);
    let mut command = popget.command();
    command
        .arg("fetch")
        .args(server.args())
        .args(["--auth", "user", "--maildir", &maildir])
        .args(["--password-command", "printf 'a\\000b'"]);
    popget.run_with(&mut command).expect_code(78);
    assert_no_secret_sent(&server);
    assert_nothing_delivered_or_deleted(&popget, &server, 1);
}

#[test]
fn invalid_or_oversized_sasl_challenges_are_cancelled() {
    // SASL strictness: bad base64 is cancelled with `*`; a challenge past the line limit,
    // or `+` glued to text, ends the session.
    for (challenge, code, cancelled) in [
        ("+ =AAA".to_string(), 76, true),
        ("+ AAA=BBB".to_string(), 76, true),
        (format!("+ {}", "QUFB".repeat(30_000)), 76, false),
        ("+hello".to_string(), 76, false),
    ] {
        let mut script = Script {
            capa: Some(vec!["UIDL".into(), "SASL CRAM-MD5".into()]),
            messages: numbered_messages(1),
            ..Script::default()
        };
        script.overrides.insert("AUTH CRAM-MD5".into(), challenge);
        script.overrides.insert("*".into(), "-ERR cancelled".into());
        let server = FakeServer::start(script);
        let popget = Popget::new();
        fetch(&popget, &server, &["--auth", "cram-md5"]).expect_code(code);
        let mut expected = vec!["CAPA", "AUTH CRAM-MD5"];
        if cancelled {
            expected.push("*");
        }
        assert_eq!(server.commands(), expected);
        assert_nothing_delivered_or_deleted(&popget, &server, 1);
    }
}

#[test]
fn scram_without_server_proof_fails_the_login() {
    // SCRAM authenticates the server too: +OK straight after the client's first message, or
    // a nonce that does not extend the client's, fails the login.
    use base64::Engine;
    let forged = base64::engine::general_purpose::STANDARD
        .encode("r=not-the-client-nonce,s=c2FsdA==,i=4096");
    for answer in [
        "+OK welcome, no proof needed".to_string(),
        format!("+ {forged}"),
    ] {
        let server = FakeServer::start(Script {
            capa: Some(vec!["UIDL".into(), "SASL SCRAM-SHA-256".into()]),
            messages: numbered_messages(1),
            handler: handler(move |line, out| {
                if !line.starts_with("AUTH SCRAM-SHA-256") {
                    return Ok(Handled::No);
                }
                out.write_all(format!("{answer}\r\n").as_bytes())?;
                Ok(Handled::Answered)
            }),
            ..Script::default()
        });
        let popget = Popget::new();
        fetch(&popget, &server, &["--auth", "scram-sha-256"]).expect_code(77);
        let commands = server.commands();
        assert!(
            !commands
                .iter()
                .any(|c| ["STAT", "LIST", "UIDL", "RETR"].contains(&c.as_str())),
            "{commands:?}"
        );
        assert_nothing_delivered_or_deleted(&popget, &server, 1);
    }
}

#[test]
fn unsolicited_data_after_the_greeting_is_refused() {
    // Unsolicited data is never taken as the next answer: a scan listing nobody asked for,
    // in the greeting's segment.
    let server = FakeServer::start(Script {
        messages: numbered_messages(1),
        handler: handler(|line, out| {
            if line != CONNECTED {
                return Ok(Handled::No);
            }
            out.write_all(b"+OK hi\r\n+OK 2 messages\r\n1 120\r\n2 200\r\n.\r\n")?;
            Ok(Handled::Answered)
        }),
        ..Script::default()
    });
    let popget = Popget::new();
    let run = fetch(&popget, &server, &[]);
    run.expect_code(76);
    assert!(
        run.stderr().contains("nobody asked for"),
        "{}",
        run.stderr()
    );
    assert!(server.commands().is_empty(), "{:?}", server.commands());
    assert_nothing_delivered_or_deleted(&popget, &server, 1);
}

/// Nothing a terminal would act on: no ESC, BEL, CR or other control character but the
/// line ends, and no line that the server's text began.
#[track_caller]
fn assert_inert(output: &str) {
    assert!(
        !output
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t'),
        "{output:?}"
    );
    assert!(
        !output.lines().any(|l| l.starts_with("forged")),
        "{output:?}"
    );
}

#[test]
fn server_text_is_neutralised_on_the_terminal() {
    // Terminal and log injection: escapes and line breaks in the greeting, in -ERR text, in
    // IMPLEMENTATION; the -v trace is defused too and shows no password.
    let popget = Popget::new();
    let server = FakeServer::start(Script {
        greeting: "-ERR \u{1b}[2J\u{1b}[31mgone\rforged: ok\nforged line\u{7}".into(),
        ..Script::default()
    });
    let run = fetch(&popget, &server, &[]);
    // Status lines are strict: a bare CR or LF makes the greeting a protocol error; nothing
    // of it is shown.
    run.expect_code(76);
    assert_inert(&run.stderr());
    let server = FakeServer::start(Script {
        greeting: "-ERR \u{1b}[2J\u{1b}[31mgone\u{7} forged: ok".into(),
        ..Script::default()
    });
    let run = fetch(&popget, &server, &[]);
    run.expect_code(69);
    assert_inert(&run.stderr());

    let server = FakeServer::start(Script {
        password: "other".into(),
        capa: Some(vec![
            "UIDL".into(),
            "USER".into(),
            "IMPLEMENTATION \u{1b}]0;owned\u{7}\u{1b}[1m".into(),
        ]),
        ..Script::default()
    });
    let mut script_err = server.args();
    script_err.extend(["--auth".into(), "user".into()]);
    // Without a password, info shows the greeting and capabilities without logging in.
    let mut command = popget.command();
    command.arg("info").args(&script_err);
    let run = popget.run_with(&mut command);
    assert_inert(&run.stdout());
    assert_inert(&run.stderr());
    assert!(run.stdout().contains("owned"), "{}", run.stdout());

    let mut command = popget.command();
    command
        .env("POPGET_PASSWORD", SECRET)
        .arg("fetch")
        .arg("-v")
        .args(&script_err)
        .args(["--maildir", &popget.path("m").display().to_string()]);
    let run = popget.run_with(&mut command);
    run.expect_code(77);
    assert_inert(&run.stderr());
    assert!(run.stderr().contains("PASS ***"), "{}", run.stderr());
    assert!(!run.stderr().contains(SECRET), "{}", run.stderr());
}

#[test]
fn capabilities_from_before_tls_are_forgotten() {
    // No downgrade: only the capabilities after TLS count. Before TLS the server offers
    // CRAM-MD5, after it only PLAIN (and STLS again). The requested CRAM-MD5 is not used,
    // nothing weaker replaces it, and STLS is never sent inside TLS.
    let script = Script {
        capa: Some(vec![
            "STLS".into(),
            "USER".into(),
            "UIDL".into(),
            "SASL CRAM-MD5".into(),
        ]),
        capa_after_tls: Some(vec![
            "STLS".into(),
            "USER".into(),
            "UIDL".into(),
            "SASL PLAIN".into(),
        ]),
        starttls: true,
        messages: numbered_messages(1),
        ..Script::default()
    };
    let server = FakeServer::start(script.clone());
    let popget = Popget::new();
    let run = fetch(&popget, &server, &["--auth", "cram-md5"]);
    run.expect_code(69);
    assert!(run.stderr().contains("PLAIN"), "{}", run.stderr());
    assert_eq!(server.commands(), ["CAPA", "STLS", "CAPA"]);
    assert_nothing_delivered_or_deleted(&popget, &server, 1);

    // With USER/PASS the whole session runs inside TLS, with one STLS.
    let server = FakeServer::start(script);
    let popget = Popget::new();
    fetch(&popget, &server, &["--auth", "user"]).expect_code(0);
    let commands = server.commands();
    assert_eq!(
        commands[..5],
        [
            "CAPA",
            "STLS",
            "CAPA",
            "USER alice",
            &format!("PASS {SECRET}")
        ]
    );
    assert_eq!(commands.iter().filter(|c| *c == "STLS").count(), 1);
    assert_eq!(maildir_messages(&popget.path("m")).len(), 1);
}

#[test]
fn insecure_warns_on_every_run() {
    // --insecure accepts the self-signed certificate, and says so each time, even with -q.
    let server = FakeServer::start(Script {
        tls: true,
        messages: numbered_messages(1),
        ..Script::default()
    });
    let popget = Popget::new();
    let args: Vec<String> = server
        .args()
        .into_iter()
        .filter(|a| a != "--ca-file" && !a.ends_with("cert.pem"))
        .collect();
    for quiet in [false, true] {
        let mut command = popget.command();
        command
            .env("POPGET_PASSWORD", SECRET)
            .arg("fetch")
            .args(&args)
            .args([
                "--insecure",
                "--maildir",
                &popget.path("m").display().to_string(),
            ]);
        if quiet {
            command.arg("-q");
        }
        let run = popget.run_with(&mut command);
        run.expect_code(0);
        assert!(
            run.stderr().contains("warning: --insecure"),
            "{}",
            run.stderr()
        );
    }
    assert_eq!(maildir_messages(&popget.path("m")).len(), 1);
}

#[test]
fn silence_after_the_stls_ok_times_out() {
    // The server accepts STLS and then never starts the handshake: the timeout ends it.
    let server = FakeServer::start(Script {
        handler: handler(|line, out| {
            if line != "STLS" {
                return Ok(Handled::No);
            }
            out.write_all(b"+OK begin TLS\r\n")?;
            std::thread::sleep(Duration::from_secs(3));
            Ok(Handled::Close)
        }),
        ..starttls_script()
    });
    let popget = Popget::new();
    let started = Instant::now();
    let run = fetch(&popget, &server, &["--timeout", "1"]);
    run.expect_code(74);
    assert!(run.stderr().contains("timed out"), "{}", run.stderr());
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(server.commands(), ["CAPA", "STLS"]);
    assert_nothing_delivered_or_deleted(&popget, &server, 1);
}
