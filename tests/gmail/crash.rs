//! popget killed while it imports into Gmail: a kill after Gmail stored a message but before
//! its answer arrived is repaired by importing the message again, which Gmail drops as a
//! repeat of a Message-ID it holds (popget's own for a message without one); and `kill -9` at
//! random points while 300 messages at a time are imported with `--delete`, round after
//! round: no message ever leaves the POP3 server before Gmail holds it, and in the end Gmail
//! holds each exactly once.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::{crlf, without_added_id, Config, Setup};
use crate::harness::crash_rounds;
use crate::harness::gmail::Fault;

#[test]
fn a_kill_after_gmail_stored_a_message_is_repaired_without_a_second_copy() {
    let message = b"Subject: no Message-ID\n\nbody\n".to_vec();
    let setup = Setup::deleting(std::slice::from_ref(&message));
    setup.gmail.with(|b| {
        b.import_faults = [Fault::StoreThenStall(Duration::from_secs(30))].into();
    });
    let mut child = setup
        .popget
        .command()
        .arg("fetch")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while setup.gmail.messages().is_empty() {
        assert!(Instant::now() < deadline, "the import never arrived");
        assert!(child.try_wait().unwrap().is_none(), "popget ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        setup.left(),
        std::slice::from_ref(&message),
        "not deleted without an id"
    );

    setup.fetch(&[]).expect_code(0);
    let stored = setup.gmail.messages();
    assert_eq!(stored.len(), 1);
    assert_eq!(without_added_id(&stored[0].bytes), crlf(&message));
    assert_ne!(
        stored[0].bytes,
        crlf(&message),
        "popget gave it a Message-ID"
    );
    assert_eq!(
        setup.gmail.record(|r| r.duplicates),
        1,
        "imported twice, held once"
    );
    assert!(setup.left().is_empty());
}

/// The Subject of a message (LF or CRLF line ends): its name in the crash suite.
fn subject(message: &[u8]) -> Option<String> {
    String::from_utf8_lossy(message)
        .lines()
        .take_while(|line| !line.trim_end().is_empty())
        .find_map(|line| line.strip_prefix("Subject: "))
        .map(|subject| subject.trim_end().to_string())
}

/// `kill -9` at random moments while 300 messages are imported with `--delete`, then a
/// healthy run, round after round until popget was killed at least 100 times. A third of the
/// messages have no Message-ID. Before every run: each message gone from the POP3 server is
/// in Gmail. At the end: every message in Gmail exactly once.
#[test]
fn exactly_once_across_sigkill() {
    const COUNT: u64 = 300;
    const KILLS: u64 = 100;
    let config = Config {
        destination: "imports_per_second = 1000",
        ..Config::deleting()
    };
    let setup = Setup::start(config, &[]);
    let delivered = std::cell::RefCell::new(Vec::new());
    let mut checks = 0u64;
    let crashes = crash_rounds(
        0x6a_0001,
        KILLS,
        |round| {
            for n in 0..COUNT {
                let id = if n % 3 == 0 {
                    String::new()
                } else {
                    format!("Message-ID: <{round}.{n}@crash.test>\n")
                };
                let body = format!(
                    "Subject: crash {round}.{n}\n{id}\n{}",
                    "line\n".repeat(n as usize % 40)
                );
                setup.dovecot.deliver("alice", body.as_bytes());
                delivered.borrow_mut().push(format!("crash {round}.{n}"));
            }
        },
        || {
            checks += 1;
            let on_server: HashSet<String> =
                setup.left().iter().filter_map(|m| subject(m)).collect();
            let in_gmail: HashSet<String> = setup
                .gmail
                .messages()
                .iter()
                .filter_map(|m| subject(&m.bytes))
                .collect();
            for name in delivered.borrow().iter() {
                assert!(
                    on_server.contains(name) || in_gmail.contains(name),
                    "{name} left the server before Gmail held it"
                );
            }
            let mut command = setup.popget.command();
            command.arg("fetch");
            command
        },
        || setup.left().is_empty(),
    );
    let mut held: HashMap<String, usize> = HashMap::new();
    for stored in setup.gmail.messages() {
        *held.entry(subject(&stored.bytes).unwrap()).or_default() += 1;
    }
    let delivered = delivered.into_inner();
    let lost = delivered.iter().filter(|n| !held.contains_key(*n)).count();
    let duplicated: usize = held.values().map(|count| count - 1).sum();
    let repeats = setup.gmail.record(|r| r.duplicates);
    eprintln!(
        "Gmail crash suite: {crashes:?}, {checks} checks, {lost} lost, {duplicated} duplicated, \
         {repeats} repeated imports dropped by Gmail"
    );
    assert_eq!((lost, duplicated), (0, 0));
    assert_eq!(held.len(), delivered.len());
}
