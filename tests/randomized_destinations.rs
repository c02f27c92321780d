//! Randomized hostile destinations: seeded cases, each a well-behaved POP3 maildrop (the fake
//! server of tests/harness/fake.rs) fetched in keep or delete mode into a fake IMAP mailbox or
//! a fake LMTP server (tests/harness/fake_imap.rs, fake_lmtp.rs) that goes wrong in one way:
//! refusals with and without response codes, BAD, BYE, a connection dropped before, inside or
//! after a literal or the data, stalls, endless lines, garbage, answers out of step, a lying
//! APPENDUID, APPENDLIMIT, a new UIDVALIDITY between runs. Then a healthy rerun with `--delete`
//! against the same destination, well-behaved now and keeping what it stored. After each case:
//!
//! - popget did not panic and exited with a documented status (the one the README gives for
//!   that failure where it is determined), within bounded time and memory;
//! - a refused or failed destination login, greeting or first STATUS fetched nothing;
//! - every message DELE'd on the POP3 server had its APPEND answered OK (its data a 2xx) in that
//!   run, or was stored before it;
//! - the client broke none of the destination protocol's rules (literals it may not send, bare
//!   LFs, pipelining unoffered, commands that change a mailbox);
//! - after the rerun every served message is in the destination byte for byte, in the CRLF form
//!   the destination receives; IMAP: exactly once (but for a new UIDVALIDITY: the rerun stops
//!   with 75, and once the journal is moved away, as it says, the message in doubt may come
//!   twice); LMTP: at most the messages the server stored without acknowledging them (a close
//!   after the final dot) twice, as documented; the POP3 server is empty.
//!
//! `POPGET_DESTINATION_CASES=N` sets the number of cases, `POPGET_DESTINATION_SEED=S` the first
//! seed (case i uses S + i). A failure prints each failing case's seed; rerun it alone with
//! `POPGET_DESTINATION_SEED=<seed> POPGET_DESTINATION_CASES=1`.

use std::time::Duration;

use crate::harness::destination::{crlf, fetch_command, write_config, Destination, Server};
use crate::harness::fake::{FakeServer, Script};
use crate::harness::fake_imap::{At, Fault, ImapScript};
use crate::harness::fake_lmtp::{LmtpAt, LmtpFault, LmtpScript};
use crate::harness::misbehaviour::{closed_port, Act};
use crate::harness::random::{
    check_rerun, message_line, run_suite, HostileRun, Knobs, Measured, Rng, SuiteCase,
};
use crate::harness::{Popget, Run};

const DEFAULT_CASES: usize = 200;
const DEFAULT_SEED: u64 = 0xde57_0001;

/// One generated case.
#[derive(Debug, Clone)]
pub struct Case {
    pub seed: u64,
    pub messages: Vec<(String, Vec<u8>)>,
    pub delete: bool,
    pub destination: Destination,
}

/// The messages of a case: most with a Message-ID; those without one, in some cases all of one
/// size (which only their headers tell apart).
fn random_messages(rng: &mut Rng, seed: u64) -> Vec<(String, Vec<u8>)> {
    let count = match rng.below(10) {
        0 => rng.range(20, 70),
        _ => rng.range(1, 8),
    };
    let same_size = rng.chance(30);
    (1..=count)
        .map(|n| {
            let uid = format!("uid-{seed}-{n}");
            if rng.chance(25) {
                let body = match same_size {
                    true => format!("Subject: note {n:03} of {seed:020}\n\nsame size\n"),
                    false => format!("Subject: note {n} of {seed}\n\n{}\n", "x".repeat(n)),
                };
                return (uid, body.into_bytes());
            }
            let mut message = Vec::new();
            if rng.chance(30) {
                message.extend_from_slice(b"Return-Path: <sender@example.org>\n");
            }
            message.extend_from_slice(
                format!("Subject: {n} of case {seed}\nMessage-ID: <{n}.{seed}@dest>\n\n")
                    .as_bytes(),
            );
            let lines = match rng.chance(4) {
                true => rng.range(2000, 6000),
                false => rng.below(30),
            };
            for _ in 0..lines {
                // A NUL cannot be in an IMAP literal; a CR ending a line can.
                message.extend_from_slice(&message_line(rng, b"ends in a carriage return\r"));
                message.push(b'\n');
            }
            (uid, message)
        })
        .collect()
}

/// The IMAP server's capabilities: literals of each kind, UIDPLUS, UNSELECT, PLAIN or LOGIN.
fn imap_script(rng: &mut Rng) -> ImapScript {
    let mut capabilities = Vec::new();
    match rng.below(3) {
        0 => capabilities.push("LITERAL+"),
        1 => capabilities.push("LITERAL-"),
        _ => {}
    }
    for (name, percent) in [
        ("UIDPLUS", 60),
        ("UNSELECT", 60),
        ("AUTH=PLAIN", 70),
        ("SASL-IR", 50),
        ("ID", 30),
    ] {
        if rng.chance(percent) {
            capabilities.push(name);
        }
    }
    ImapScript {
        capabilities: capabilities.into_iter().map(String::from).collect(),
        capabilities_after_login: rng.chance(50),
        ..ImapScript::default()
    }
}

fn lmtp_script(rng: &mut Rng) -> LmtpScript {
    let mut extensions = Vec::new();
    for (name, percent) in [
        ("PIPELINING", 60),
        ("8BITMIME", 60),
        ("SMTPUTF8", 30),
        ("CHUNKING", 40),
        ("ENHANCEDSTATUSCODES", 50),
        ("SIZE 104857600", 30),
    ] {
        if rng.chance(percent) {
            extensions.push(name.to_string());
        }
    }
    LmtpScript {
        extensions,
        ..LmtpScript::default()
    }
}

/// Lines no IMAP or LMTP server sends.
const GARBAGE: [&[u8]; 4] = [
    b"HTTP/1.1 400 Bad Request\r\n",
    b"\x00\xff\xfe garbage\r\n",
    b"SSH-2.0-OpenSSH_9.6\r\n",
    b"\r\n",
];

fn imap_fault(rng: &mut Rng, count: usize) -> Fault {
    // Which APPEND: mostly one that comes, sometimes one past the last.
    let k = rng.range(1, count + 1);
    let stored = rng.chance(50);
    let strike = |at: At, act: Act| Fault::Strike(at, act);
    let refusal =
        |code: &str| Act::Replace(format!("$TAG NO {code}refused by the fake\r\n").into_bytes());
    match rng.below(22) {
        0 => Fault::None,
        1 => Fault::RefuseLogin,
        2 => strike(
            At::Greeting,
            rng.pick(&[Act::Stall, Act::Goodbye, Act::Endless, Act::Close]),
        ),
        3 => strike(At::Greeting, Act::Replace(rng.pick(&GARBAGE).to_vec())),
        4 => strike(At::Login, rng.pick(&[Act::Stall, Act::Goodbye, Act::Close])),
        5 | 6 => strike(
            At::AfterLiteral(k, false),
            refusal(rng.pick(&["[OVERQUOTA] ", "[LIMIT] ", "", "[TRYCREATE] "])),
        ),
        7 => strike(At::AppendLine(k), refusal(rng.pick(&["[OVERQUOTA] ", ""]))),
        8 => strike(
            At::AfterLiteral(k, false),
            Act::Replace(b"$TAG BAD what?\r\n".to_vec()),
        ),
        9 => strike(
            At::AppendLine(k),
            rng.pick(&[Act::Goodbye, Act::Close, Act::Stall]),
        ),
        10 => strike(
            At::AfterLiteral(k, stored),
            rng.pick(&[Act::Goodbye, Act::Close, Act::Stall]),
        ),
        11 => strike(At::MidLiteral(k, rng.below(300)), Act::Close),
        12 => strike(
            At::AfterLiteral(k, stored),
            Act::Replace(
                rng.pick(&[
                    &b"+ more please\r\n"[..],
                    b"$NEXT OK done\r\n",
                    b"* OK\r\n$NEXT NO no\r\n",
                ])
                .to_vec(),
            ),
        ),
        13 => strike(
            At::Verb(
                rng.pick(&["STATUS", "CAPABILITY", "LOGOUT"]),
                rng.range(1, 2),
            ),
            {
                let after = rng.range(1, 30);
                rng.pick(&[Act::Endless, Act::StallAfter(after), Act::Goodbye])
            },
        ),
        14 => strike(At::AfterLiteral(k, true), Act::StallAfter(rng.range(1, 12))),
        15 => strike(
            {
                let nth = rng.range(1, 2);
                rng.pick(&[At::AfterLiteral(k, true), At::Verb("STATUS", nth)])
            },
            Act::Inject(
                rng.pick(&[
                    &b"* OK caf\xc3\xa9 \xff\r\n"[..],
                    b"* 9 EXISTS\r\n",
                    b"* \x00\r\n",
                ])
                .to_vec(),
            ),
        ),
        16 => strike(
            At::AfterLiteral(k, true),
            Act::Replace(b"$TAG OK [APPENDUID 1 4294967295] stored, it says\r\n".to_vec()),
        ),
        17 => Fault::AppendLimit(rng.range(100, 3000) as u64),
        18 => strike(
            At::Verb("STATUS", 1),
            Act::Replace(rng.pick(&GARBAGE).to_vec()),
        ),
        19 => strike(
            At::AppendLine(k),
            Act::Replace(b"$TAG OK too early\r\n".to_vec()),
        ),
        _ => strike(At::AfterLiteral(k, true), Act::Close),
    }
}

fn lmtp_fault(rng: &mut Rng, count: usize) -> LmtpFault {
    let k = rng.range(1, count + 1);
    let stored = rng.chance(50);
    let temporary = rng.chance(50);
    let refusal = |stage: &str| -> Act {
        Act::Replace(match temporary {
            true => format!("451 4.3.0 {stage}: try again later\r\n").into_bytes(),
            false => format!("550 5.7.1 {stage}: refused for good\r\n").into_bytes(),
        })
    };
    let strike = |at: LmtpAt, act: Act| LmtpFault::Strike(at, act);
    // After the data the message is stored: a server that says 2xx and stores nothing lies in
    // a way no client can notice.
    let anywhere = [
        LmtpAt::Lhlo,
        LmtpAt::Mail(k),
        LmtpAt::Rcpt(k),
        LmtpAt::Data(k),
        LmtpAt::AfterDot(k, true),
    ];
    match rng.below(16) {
        0 => LmtpFault::None,
        1 => strike(
            LmtpAt::Greeting,
            rng.pick(&[Act::Stall, Act::Close, Act::Endless]),
        ),
        2 => strike(LmtpAt::Greeting, Act::Replace(rng.pick(&GARBAGE).to_vec())),
        3 => strike(LmtpAt::Greeting, refusal("greeting")),
        4 => strike(LmtpAt::Lhlo, refusal("LHLO")),
        5 => strike(LmtpAt::Mail(k), refusal("MAIL")),
        6 => strike(LmtpAt::Rcpt(k), refusal("RCPT")),
        7 => strike(LmtpAt::Data(k), refusal("DATA")),
        8 | 9 => strike(LmtpAt::AfterDot(k, false), refusal("the message")),
        10 => strike(
            LmtpAt::AfterDot(k, stored),
            rng.pick(&[Act::Close, Act::Goodbye, Act::Stall]),
        ),
        11 => strike(LmtpAt::MidData(k, rng.below(300)), Act::Close),
        12 => {
            let after = rng.range(1, 5);
            let act = rng.pick(&[Act::Endless, Act::Stall, Act::StallAfter(after)]);
            strike(rng.pick(&anywhere), act)
        }
        13 => strike(
            rng.pick(&anywhere),
            Act::Inject(
                rng.pick(&[&b"250 2.0.0 extra\r\n"[..], b"451 4.3.0 extra\r\n"])
                    .to_vec(),
            ),
        ),
        14 => strike(
            rng.pick(&anywhere),
            Act::Replace(
                rng.pick(&[
                    &b"354 go ahead\r\n"[..],
                    b"250 ok\r\n250 ok again\r\n",
                    b"2x0 what\r\n",
                ])
                .to_vec(),
            ),
        ),
        _ => strike(rng.pick(&anywhere), Act::Goodbye),
    }
}

pub fn generate(seed: u64) -> Case {
    let mut rng = Rng(seed);
    let messages = random_messages(&mut rng, seed);
    let delete = rng.chance(50);
    let count = messages.len();
    let destination = if rng.chance(55) {
        let mut script = imap_script(&mut rng);
        // Archive exists or is created on the way (TRYCREATE, or a STATUS refused).
        if rng.chance(50) {
            script.mailboxes.push("Archive".into());
        }
        let renumbered = rng.chance(8);
        let fault = match renumbered {
            true => Fault::Strike(At::AfterLiteral(rng.range(1, count), true), Act::Close),
            false => imap_fault(&mut rng, count),
        };
        Destination::Imap {
            script,
            mailbox: rng.pick(&["INBOX", "INBOX", "Archive", "Old ISP"]),
            fault,
            unreachable: rng.chance(4),
            renumbered,
        }
    } else {
        Destination::Lmtp {
            script: lmtp_script(&mut rng),
            fault: lmtp_fault(&mut rng, count),
            unreachable: rng.chance(4),
        }
    };
    Case {
        seed,
        messages,
        delete,
        destination,
    }
}

/// The exit status the README gives for the case's failure, where it is determined; `fired`:
/// whether the fault struck.
fn expected_status(case: &Case, fired: bool) -> Option<i32> {
    match &case.destination {
        Destination::Imap {
            unreachable: true, ..
        }
        | Destination::Lmtp {
            unreachable: true, ..
        } => Some(75),
        Destination::Imap { fault, .. } => imap_status(case, fault, fired),
        Destination::Lmtp { fault, .. } => lmtp_status(fault, fired),
    }
}

fn imap_status(case: &Case, fault: &Fault, fired: bool) -> Option<i32> {
    let refusal = |bytes: &[u8]| match std::str::from_utf8(bytes).unwrap_or("") {
        text if text.contains("[OVERQUOTA]") || text.contains("[LIMIT]") => 75,
        text if text.contains(" NO ") => 73,
        _ => 76,
    };
    match fault {
        Fault::None => Some(0),
        Fault::RefuseLogin => Some(77),
        Fault::AppendLimit(limit) => Some(
            match case
                .messages
                .iter()
                .any(|(_, m)| crlf(m).len() as u64 > *limit)
            {
                true => 73,
                false => 0,
            },
        ),
        Fault::Strike(_, _) if !fired => Some(0),
        Fault::Strike(at, act) => match (at, act) {
            // The session's work is done: what LOGOUT meets changes nothing.
            (At::Verb("LOGOUT", _), _) => Some(0),
            (_, Act::Stall | Act::StallAfter(_) | Act::Close | Act::Goodbye) => Some(75),
            (_, Act::Endless) => Some(76),
            (At::Greeting | At::Verb("STATUS", 1), Act::Replace(_)) => Some(76),
            (At::AppendLine(_) | At::AfterLiteral(..), Act::Replace(bytes))
                if bytes.starts_with(b"$TAG NO") || bytes.starts_with(b"$TAG BAD") =>
            {
                Some(refusal(bytes))
            }
            (At::AfterLiteral(_, true), Act::Replace(bytes)) if bytes.starts_with(b"$TAG OK") => {
                Some(0)
            }
            // An OK before the literal: out of step for a synchronising literal, an answer
            // like any other for a non-synchronising one.
            (At::AppendLine(_), Act::Replace(_)) => match literals(case) {
                Literals::Synchronising => Some(76),
                Literals::NonSynchronising => Some(0),
                Literals::BySize => None,
            },
            (At::AfterLiteral(..), Act::Replace(_)) => Some(76),
            _ => None,
        },
    }
}

/// How the case's IMAP server lets literals go.
enum Literals {
    Synchronising,
    NonSynchronising,
    /// LITERAL-: non-synchronising up to 4096 octets.
    BySize,
}

fn literals(case: &Case) -> Literals {
    let Destination::Imap { script, .. } = &case.destination else {
        return Literals::Synchronising;
    };
    let has = |name: &str| script.capabilities.iter().any(|c| c == name);
    match (has("LITERAL+"), has("LITERAL-")) {
        (true, _) => Literals::NonSynchronising,
        (false, true) => Literals::BySize,
        (false, false) => Literals::Synchronising,
    }
}

fn lmtp_status(fault: &LmtpFault, fired: bool) -> Option<i32> {
    let LmtpFault::Strike(at, act) = fault else {
        return Some(0);
    };
    if !fired {
        return Some(0);
    }
    match (at, act) {
        (_, Act::Stall | Act::StallAfter(_) | Act::Close) => Some(75),
        (_, Act::Endless) => Some(76),
        // The goodbye is a 421 reply: temporary, wherever it comes.
        (_, Act::Goodbye) => Some(75),
        (LmtpAt::Greeting, Act::Replace(bytes)) if GARBAGE.contains(&bytes.as_slice()) => Some(76),
        (_, Act::Replace(bytes)) if bytes.starts_with(b"451 ") => Some(75),
        (LmtpAt::Greeting | LmtpAt::Lhlo, Act::Replace(bytes)) if bytes.starts_with(b"550 ") => {
            Some(69)
        }
        (_, Act::Replace(bytes)) if bytes.starts_with(b"550 ") => Some(73),
        _ => None,
    }
}

/// The served messages a POP3 server was told to DELE (by number, in its own listing).
fn deleted(server: &FakeServer, messages: &[(String, Vec<u8>)]) -> Vec<Vec<u8>> {
    server
        .commands()
        .iter()
        .filter_map(|command| command.strip_prefix("DELE ")?.parse::<usize>().ok())
        .filter_map(|n| messages.get(n.checked_sub(1)?))
        .map(|(_, message)| message.clone())
        .collect()
}

/// `left` with each of `taken` removed once; `Err` with the first that is not there.
fn remove_each(mut left: Vec<Vec<u8>>, taken: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, Vec<u8>> {
    for message in taken {
        match left.iter().position(|m| m == message) {
            Some(i) => {
                left.swap_remove(i);
            }
            None => return Err(message.clone()),
        }
    }
    Ok(left)
}

fn shown(message: &[u8]) -> String {
    format!(
        "{} octets: {:?}",
        message.len(),
        String::from_utf8_lossy(&message[..message.len().min(100)])
    )
}

/// What a passing case measured of its hostile run.
pub struct Outcome {
    pub code: i32,
    /// Peak resident memory, KiB.
    pub peak: u64,
    pub elapsed: Duration,
    /// Whether the fault struck.
    pub fired: bool,
    /// What the destination held after it.
    pub stored: Vec<Vec<u8>>,
}

/// Runs one case; `Err` describes the first broken rule.
pub fn run_case(case: &Case) -> Result<Outcome, String> {
    run_case_on(case, &Server::start(&case.destination))
}

/// Runs one case against `server`, a destination of its kind that the caller may look into
/// afterwards.
pub fn run_case_on(case: &Case, server: &Server) -> Result<Outcome, String> {
    let popget = Popget::new();
    server.arm(&case.destination, true);
    let pop3 = FakeServer::start(Script {
        messages: case.messages.clone(),
        ..Script::default()
    });
    let (unreachable, renumbered) = match case.destination {
        Destination::Imap {
            unreachable,
            renumbered,
            ..
        } => (unreachable, renumbered),
        Destination::Lmtp { unreachable, .. } => (unreachable, false),
    };
    let port = if unreachable {
        closed_port()
    } else {
        server.port()
    };
    let config = write_config(&popget, &case.destination, pop3.port, port);
    let hostile = HostileRun::start(&mut fetch_command(&popget, &config, case.delete));
    let (code, stderr) = (hostile.code(), hostile.run.stderr());
    let fired = server.record().fired;
    let context = || format!("exit {code}, fault struck: {fired}, stderr:\n{stderr}");
    hostile.check(&context())?;
    if let Some(expected) = expected_status(case, fired) {
        if code != expected {
            return Err(format!(
                "exit {code} where the README says {expected}: {}",
                context()
            ));
        }
    }
    if before_fetching(case, fired) && !pop3.commands().is_empty() {
        return Err(format!(
            "the destination failed before anything was fetched, yet the POP3 server got {:?}: {}",
            pop3.commands(),
            context()
        ));
    }
    let served: Vec<Vec<u8>> = case.messages.iter().map(|(_, m)| crlf(m)).collect();
    let first = server.stored(&case.destination);
    let acknowledged = server.record().acknowledged;
    for message in deleted(&pop3, &case.messages) {
        if !acknowledged.contains(&crlf(&message)) {
            return Err(format!(
                "DELE for a message the destination never acknowledged ({}): {}",
                shown(&message),
                context()
            ));
        }
    }
    if let Err(stray) = remove_each(served.clone(), &first) {
        let twice = served.contains(&stray);
        return Err(format!(
            "the destination holds {} message ({}): {}",
            if twice {
                "a repeated"
            } else {
                "a foreign or altered"
            },
            shown(&stray),
            context()
        ));
    }
    // Stored, but the client never saw it acknowledged: LMTP may deliver these again.
    let unacknowledged = remove_each(first.clone(), &acknowledged).unwrap_or_default();

    // The rerun: a healthy POP3 server with what is left, a healthy destination, --delete.
    let left = pop3.left();
    drop(pop3);
    let healthy = FakeServer::start(Script {
        messages: left,
        ..Script::default()
    });
    server.arm(&case.destination, false);
    if renumbered {
        if let Server::Imap(imap) = &server {
            let Destination::Imap { mailbox, .. } = case.destination else {
                unreachable!()
            };
            imap.change_uid_validity(mailbox);
        }
    }
    let config = write_config(&popget, &case.destination, healthy.port, server.port());
    // What the destination refused for good was set aside; with the destination healthy again
    // the user offers it once more, as the refusal's message says.
    let retry = popget.run(&["--config", &config, "quarantine", "isp", "--retry"]);
    if retry.code() != 0 {
        return Err(format!(
            "popget quarantine --retry exited {}: {}; first run: {}",
            retry.code(),
            retry.stderr(),
            context()
        ));
    }
    let mut rerun = popget.run_with(&mut fetch_command(&popget, &config, true));
    let mut allowed_twice = match case.destination {
        Destination::Lmtp { .. } => unacknowledged.clone(),
        Destination::Imap { .. } => Vec::new(),
    };
    if renumbered && rerun.code() != 0 {
        renumbered_rerun(&rerun, &healthy, &context)?;
        // As the message says: look at the mailbox, then move the journal away. What was
        // stored without an answer is then appended again.
        std::fs::remove_file(popget.path("isp.state.journal")).map_err(|e| e.to_string())?;
        rerun = popget.run_with(&mut fetch_command(&popget, &config, true));
        allowed_twice = unacknowledged.clone();
    }
    check_rerun(&rerun, &healthy, &context())?;
    let violations = server.record().violations;
    if !violations.is_empty() {
        return Err(format!(
            "the client broke the protocol: {violations:?}; first run: {}",
            context()
        ));
    }
    let all = server.stored(&case.destination);
    let extra = match remove_each(all, &served) {
        Ok(extra) => extra,
        Err(lost) => {
            return Err(format!(
                "lost after the rerun ({}); first run: {}",
                shown(&lost),
                context()
            ))
        }
    };
    if let Err(twice) = remove_each(allowed_twice, &extra) {
        return Err(format!(
            "delivered twice, which the README does not allow here ({}); first run: {}",
            shown(&twice),
            context()
        ));
    }
    Ok(Outcome {
        code,
        peak: hostile.peak,
        elapsed: hostile.elapsed,
        fired,
        stored: first,
    })
}

/// Whether the case's failure comes before popget may fetch anything: the destination cannot
/// be reached, greets wrongly, refuses the login, or fails the first STATUS.
fn before_fetching(case: &Case, fired: bool) -> bool {
    match &case.destination {
        Destination::Imap {
            unreachable: true, ..
        }
        | Destination::Lmtp {
            unreachable: true, ..
        } => true,
        Destination::Imap {
            fault: Fault::RefuseLogin,
            ..
        } => true,
        Destination::Imap {
            fault: Fault::None | Fault::AppendLimit(_),
            ..
        } => false,
        Destination::Imap {
            fault: Fault::Strike(at, act),
            ..
        } => {
            fired
                && !matches!(act, Act::Inject(_))
                && matches!(
                    at,
                    At::Greeting | At::Login | At::Verb("STATUS" | "CAPABILITY", 1)
                )
        }
        // A positive reply with more behind it shows only when the next command is due.
        Destination::Lmtp {
            fault: LmtpFault::Strike(LmtpAt::Greeting | LmtpAt::Lhlo, act),
            ..
        } => {
            fired
                && match act {
                    Act::Inject(_) => false,
                    Act::Replace(bytes) => !bytes.starts_with(b"2"),
                    _ => true,
                }
        }
        Destination::Lmtp { .. } => false,
    }
}

/// After a new UIDVALIDITY, a run with an interrupted APPEND in its journal stops (75), says
/// why, and deletes nothing.
fn renumbered_rerun(
    rerun: &Run,
    pop3: &FakeServer,
    context: &dyn Fn() -> String,
) -> Result<(), String> {
    let says = rerun
        .stderr()
        .contains("was recreated since an interrupted delivery");
    let dele = pop3.commands().iter().any(|c| c.starts_with("DELE"));
    if rerun.code() != 75 || !says || dele {
        return Err(format!(
            "after a new UIDVALIDITY the rerun exited {} (DELE sent: {dele}): {}\nfirst run: {}",
            rerun.code(),
            rerun.stderr(),
            context()
        ));
    }
    Ok(())
}

impl SuiteCase for Case {
    fn seed(&self) -> u64 {
        self.seed
    }

    fn kind(&self) -> String {
        let describe = |at: String, act: &Act| {
            let act = match act {
                Act::Inject(_) => "inject".to_string(),
                Act::Replace(bytes) => {
                    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(12)]).into_owned();
                    format!("replace {text:?}")
                }
                other => format!("{other:?}")
                    .split('(')
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            };
            let at = at.split('(').next().unwrap_or_default().to_string();
            format!("{at} {act}")
        };
        match &self.destination {
            Destination::Imap {
                unreachable: true, ..
            } => "IMAP unreachable".into(),
            Destination::Lmtp {
                unreachable: true, ..
            } => "LMTP unreachable".into(),
            Destination::Imap {
                renumbered: true, ..
            } => "IMAP new UIDVALIDITY".into(),
            Destination::Imap { fault, .. } => match fault {
                Fault::Strike(at, act) => format!("IMAP {}", describe(format!("{at:?}"), act)),
                other => format!("IMAP {other:?}")
                    .split('(')
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            },
            Destination::Lmtp { fault, .. } => match fault {
                LmtpFault::Strike(at, act) => format!("LMTP {}", describe(format!("{at:?}"), act)),
                LmtpFault::None => "LMTP None".into(),
            },
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} messages, {}, {:?}",
            self.messages.len(),
            if self.delete { "--delete" } else { "keep" },
            self.destination
        )
    }
}

impl Measured for Outcome {
    fn measured(&self) -> (i32, u64, Duration) {
        (self.code, self.peak, self.elapsed)
    }
}

#[test]
fn randomized_hostile_destinations_never_lose_or_wrongly_repeat_mail() {
    let knobs = Knobs {
        seed: "POPGET_DESTINATION_SEED",
        cases: "POPGET_DESTINATION_CASES",
        default_seed: DEFAULT_SEED,
        default_cases: DEFAULT_CASES,
    };
    run_suite(
        "randomized hostile destinations",
        &knobs,
        generate,
        run_case,
    );
}
