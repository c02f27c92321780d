//! `popget fetch` against the fake server: servers without UIDL or CAPA, refusals, dropped
//! connections, and the delivery order that keeps mail from being lost.

use crate::harness::fake::{FakeServer, Script};
use crate::harness::{maildir_messages, Popget};

fn messages(n: usize) -> Vec<(String, Vec<u8>)> {
    crate::harness::fake::numbered_messages(n)
}

fn fetch(popget: &Popget, server: &FakeServer, extra: &[&str]) -> crate::harness::Run {
    let maildir = popget.path("m");
    let mut args: Vec<String> = vec!["fetch".into()];
    args.extend(server.args());
    args.extend([
        "--auth".into(),
        "user".into(),
        "--maildir".into(),
        maildir.display().to_string(),
    ]);
    args.extend(extra.iter().map(|s| s.to_string()));
    popget.run(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn without_uidl_keep_mode_refuses_and_fetches_nothing() {
    let server = FakeServer::start(Script {
        uidl: false,
        messages: messages(2),
        ..Script::default()
    });
    let popget = Popget::new();
    let run = fetch(&popget, &server, &[]);
    run.expect_code(69);
    assert!(run.stderr().contains("UIDL"), "{}", run.stderr());
    assert!(!server.commands().iter().any(|c| c.starts_with("RETR")));
    assert_eq!(server.remaining().len(), 2);
}

#[test]
fn without_uidl_delete_mode_fetches_and_deletes_everything() {
    let server = FakeServer::start(Script {
        uidl: false,
        messages: messages(3),
        ..Script::default()
    });
    let popget = Popget::new();
    fetch(&popget, &server, &["--delete"]).expect_code(0);
    assert_eq!(maildir_messages(&popget.path("m")).len(), 3);
    assert!(server.remaining().is_empty());
}

#[test]
fn works_with_a_server_that_has_no_capa() {
    let server = FakeServer::start(Script {
        capa: None,
        messages: messages(2),
        ..Script::default()
    });
    let popget = Popget::new();
    fetch(&popget, &server, &[]).expect_code(0);
    assert_eq!(maildir_messages(&popget.path("m")).len(), 2);
    // No PIPELINING announced: one command at a time, RETR in order.
    let retrs: Vec<String> = server
        .commands()
        .into_iter()
        .filter(|c| c.starts_with("RETR"))
        .collect();
    assert_eq!(retrs, ["RETR 1", "RETR 2"]);
}

#[test]
fn starttls_required_but_not_offered_sends_no_credentials() {
    let server = FakeServer::start(Script::default());
    let popget = Popget::new();
    let port = server.port.to_string();
    let run = popget.fetch(&port, "alice", "starttls", &["--maildir", "m"]);
    run.expect_code(69);
    assert!(run.stderr().contains("STLS"), "{}", run.stderr());
    assert!(run.stderr().contains("--tls implicit"), "{}", run.stderr());
    let commands = server.commands();
    assert!(
        commands.iter().all(|c| c == "CAPA" || c == "QUIT"),
        "{commands:?}"
    );
}

#[test]
fn starttls_refused_sends_no_credentials() {
    let mut script = Script {
        capa: Some(vec!["STLS".into(), "USER".into()]),
        ..Script::default()
    };
    script
        .overrides
        .insert("STLS".into(), "-ERR not today".into());
    let server = FakeServer::start(script);
    let popget = Popget::new();
    let port = server.port.to_string();
    let run = popget.fetch(&port, "alice", "starttls", &["--maildir", "m"]);
    run.expect_code(69);
    assert_eq!(server.commands(), ["CAPA", "STLS"]);
}

#[test]
fn in_use_is_temporary_not_an_authentication_failure() {
    let mut script = Script::default();
    script
        .overrides
        .insert("PASS secret".into(), "-ERR [IN-USE] mailbox locked".into());
    let server = FakeServer::start(script);
    let popget = Popget::new();
    let run = fetch(&popget, &server, &[]);
    run.expect_code(75);
    assert!(
        run.stderr().contains("[IN-USE]") || run.stderr().contains("locked"),
        "{}",
        run.stderr()
    );
}

#[test]
fn an_err_greeting_sends_nothing() {
    let server = FakeServer::start(Script {
        greeting: "-ERR [SYS/TEMP] try later".into(),
        ..Script::default()
    });
    let popget = Popget::new();
    let run = fetch(&popget, &server, &[]);
    run.expect_code(75);
    assert!(server.commands().is_empty(), "{:?}", server.commands());
}

#[test]
fn a_refused_retr_keeps_that_message_and_delivers_the_rest() {
    let mut script = Script {
        messages: messages(3),
        ..Script::default()
    };
    script
        .overrides
        .insert("RETR 2".into(), "-ERR message is busy".into());
    let server = FakeServer::start(script);
    let popget = Popget::new();
    let run = fetch(&popget, &server, &["--delete"]);
    assert_ne!(run.code(), 0, "{}", run.stderr());
    assert_eq!(run.code(), 75);
    assert!(run.stderr().contains("message 2"), "{}", run.stderr());
    let commands = server.commands();
    assert!(commands.contains(&"DELE 1".to_string()) && commands.contains(&"DELE 3".to_string()));
    assert!(!commands.contains(&"DELE 2".to_string()), "{commands:?}");
    assert_eq!(server.remaining(), ["uid-2"]);
    assert_eq!(maildir_messages(&popget.path("m")).len(), 2);
}

#[test]
fn a_connection_dropped_mid_retr_deletes_nothing_and_loses_nothing() {
    let script = Script {
        messages: messages(3),
        drop_on: Some("RETR 3".into()),
        ..Script::default()
    };
    let server = FakeServer::start(script);
    let popget = Popget::new();
    let run = fetch(&popget, &server, &["--delete"]);
    run.expect_code(74);
    assert!(
        !server.commands().iter().any(|c| c.starts_with("DELE")),
        "{:?}",
        server.commands()
    );
    assert_eq!(server.remaining().len(), 3, "nothing may be deleted");
    // Message 1 was delivered and recorded (the first batch holds one message). Message 2
    // arrived, but its batch (2 and 3) never reached its sync point (after a broken answer
    // nothing of the batch is trusted), so it is not in the Maildir, not even in tmp/.
    assert_eq!(
        maildir_messages(&popget.path("m")),
        [messages(1)[0].1.clone()]
    );
    assert_eq!(std::fs::read_dir(popget.path("m/tmp")).unwrap().count(), 0);

    // The next run deletes 1 without downloading it again, fetches 2 and 3, and deletes them.
    let server2 = FakeServer::start(Script {
        messages: messages(3),
        ..Script::default()
    });
    let maildir = popget.path("m");
    let mut args: Vec<String> = vec!["fetch".into()];
    args.extend(server2.args());
    args.extend([
        "--auth".into(),
        "user".into(),
        "--maildir".into(),
        maildir.display().to_string(),
        "--delete".into(),
    ]);
    // Same account key (user@host_port) needs the same port: reuse the state via --state.
    let state = std::fs::read_dir(popget.state_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "state"))
        .unwrap();
    args.extend(["--state".into(), state.display().to_string()]);
    popget
        .run(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .expect_code(0);
    let retrs: Vec<String> = server2
        .commands()
        .into_iter()
        .filter(|c| c.starts_with("RETR"))
        .collect();
    assert_eq!(retrs, ["RETR 2", "RETR 3"]);
    assert!(server2.remaining().is_empty());
    let mut expected: Vec<Vec<u8>> = messages(3).into_iter().map(|(_, m)| m).collect();
    expected.sort();
    let mut delivered = maildir_messages(&maildir);
    delivered.sort();
    assert_eq!(delivered, expected);
}

#[test]
fn a_connection_dropped_before_quit_keeps_the_records() {
    let script = Script {
        messages: messages(2),
        drop_on: Some("QUIT".into()),
        ..Script::default()
    };
    let server = FakeServer::start(script);
    let popget = Popget::new();
    let run = fetch(&popget, &server, &["--delete"]);
    run.expect_code(74);
    // The server never committed the deletions, and the records say the mail is delivered.
    assert_eq!(server.remaining().len(), 2);
    assert_eq!(maildir_messages(&popget.path("m")).len(), 2);
    let run = fetch(&popget, &server, &["--delete"]);
    run.expect_code(0);
    assert!(server.remaining().is_empty());
    assert_eq!(
        maildir_messages(&popget.path("m")).len(),
        2,
        "nothing delivered twice"
    );
}

#[test]
fn duplicate_uidls_are_fetched_but_never_deleted_by_id() {
    let mut listing = messages(2);
    listing[1].0 = listing[0].0.clone();
    let server = FakeServer::start(Script {
        messages: listing,
        ..Script::default()
    });
    let popget = Popget::new();
    fetch(&popget, &server, &[]).expect_code(0);
    assert_eq!(maildir_messages(&popget.path("m")).len(), 2);
    fetch(&popget, &server, &["--delete"]).expect_code(0);
    assert!(
        !server.commands().iter().any(|c| c.starts_with("DELE")),
        "{:?}",
        server.commands()
    );
}

#[test]
fn hostile_uidls_never_become_paths() {
    let mut listing = messages(3);
    listing[0].0 = "../../escape".into();
    listing[1].0 = "/etc/passwd".into();
    listing[2].0 = "a%2Fb".into();
    let server = FakeServer::start(Script {
        messages: listing,
        ..Script::default()
    });
    let popget = Popget::new();
    fetch(&popget, &server, &[]).expect_code(0);
    fetch(&popget, &server, &[]).expect_code(0);
    assert_eq!(
        maildir_messages(&popget.path("m")).len(),
        3,
        "the second run fetched again"
    );
    let mut names: Vec<String> = std::fs::read_dir(popget.state_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    // The state, its lock, its (emptied) journal and its status: no file named after an id.
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(
        names.iter().all(|name| name.contains(".state")),
        "{names:?}"
    );
    assert!(!popget.path("escape").exists() && !popget.path("../escape").exists());
}

#[test]
fn records_of_messages_gone_from_the_server_are_pruned() {
    let popget = Popget::new();
    let state = popget.path("account.state");
    let state_arg = state.display().to_string();
    let server = FakeServer::start(Script {
        messages: messages(3),
        ..Script::default()
    });
    fetch(&popget, &server, &["--state", &state_arg]).expect_code(0);
    let text = std::fs::read_to_string(&state).unwrap();
    assert_eq!(
        text.lines().filter(|l| l.contains("uid-")).count(),
        3,
        "{text}"
    );

    // Another client deleted uid-1 and uid-2; their records go, uid-3's stays.
    let mut remaining = messages(3);
    remaining.drain(..2);
    let server = FakeServer::start(Script {
        messages: remaining,
        ..Script::default()
    });
    let run = fetch(&popget, &server, &["--state", &state_arg]);
    run.expect_code(0);
    assert_eq!(run.stderr(), "", "nothing new, so nothing printed");
    let text = std::fs::read_to_string(&state).unwrap();
    let uids: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(1))
        .filter(|u| u.starts_with("uid-"))
        .collect();
    assert_eq!(uids, ["uid-3"], "{text}");
}

/// Writes what a run killed between placing its messages and committing its state leaves
/// behind: the state without the batch, and the journal of intents.
fn simulate_crash_before_commit(state: &std::path::Path, kept: &[&str], intents: &[String]) {
    let mut text = String::from("popget-state 1\n");
    for uid in kept {
        text.push_str(&format!("1700000000 {uid}\n"));
    }
    text.push_str(&format!("end {}\n", kept.len()));
    std::fs::write(state, text).unwrap();
    let mut journal = state.as_os_str().to_owned();
    journal.push(".journal");
    std::fs::write(journal, intents.concat()).unwrap();
}

#[test]
fn a_crash_after_maildir_delivery_does_not_deliver_twice() {
    let server = FakeServer::start(Script {
        messages: messages(3),
        ..Script::default()
    });
    let popget = Popget::new();
    let state = popget.path("account.state");
    let state_arg = state.display().to_string();
    fetch(&popget, &server, &["--state", &state_arg]).expect_code(0);
    let maildir = popget.path("m");
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(maildir.join("new"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    // Map each file back to its UIDL through its content ("Subject: N").
    let intents: Vec<String> = files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            let n = text
                .lines()
                .next()
                .unwrap()
                .trim_start_matches("Subject: ")
                .to_string();
            format!(
                "uid-{n} maildir {}\n",
                std::fs::canonicalize(path).unwrap().display()
            )
        })
        .collect();
    // One of them was moved to cur/ by a mail reader meanwhile.
    let moved = &files[0];
    let name = moved.file_name().unwrap().to_str().unwrap();
    std::fs::rename(moved, maildir.join("cur").join(format!("{name}:2,S"))).unwrap();
    simulate_crash_before_commit(&state, &[], &intents);

    let run = fetch(&popget, &server, &["--state", &state_arg]);
    run.expect_code(0);
    assert!(
        run.stderr().contains("3 deliveries of an interrupted run"),
        "{}",
        run.stderr()
    );
    let retrs = server
        .commands()
        .iter()
        .filter(|c| c.starts_with("RETR"))
        .count();
    assert_eq!(
        retrs,
        3,
        "only the first run downloaded: {:?}",
        server.commands()
    );
    let mut journal = state.as_os_str().to_owned();
    journal.push(".journal");
    assert!(
        std::fs::metadata(&journal).map_or(true, |m| m.len() == 0),
        "the journal is cleared"
    );
}

#[test]
fn a_crash_in_the_middle_of_an_mbox_append_is_cut_away_and_redone_once() {
    use sha2::{Digest, Sha256};
    let server = FakeServer::start(Script {
        messages: messages(2),
        ..Script::default()
    });
    let popget = Popget::new();
    let state = popget.path("account.state");
    let state_arg = state.display().to_string();
    let mbox = popget.path("inbox.mbox");
    let mbox_arg = mbox.display().to_string();
    let mut args: Vec<String> = vec!["fetch".into()];
    args.extend(server.args());
    args.extend(["--auth", "user", "--mbox", &mbox_arg, "--state", &state_arg].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    popget.run(&args).expect_code(0);
    let complete = std::fs::read(&mbox).unwrap();
    let begin = complete.windows(6).rposition(|w| w == b"\nFrom ").unwrap() + 1;
    let digest: String = Sha256::digest(&complete[begin..])
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let intent = format!(
        "uid-2 mbox {mbox_arg} {begin} {begin} {} {digest}\n",
        complete.len()
    );
    // The second append was torn by the crash.
    std::fs::write(&mbox, &complete[..begin + 20]).unwrap();
    simulate_crash_before_commit(&state, &["uid-1"], &[intent]);

    popget.run(&args).expect_code(0);
    let messages_in_mbox = crate::harness::parse_mboxrd(&std::fs::read(&mbox).unwrap());
    assert_eq!(
        messages_in_mbox,
        [messages(2)[0].1.clone(), messages(2)[1].1.clone()]
    );
}
