//! Faults that must lose nothing and deliver nothing twice: truncated answers, refusals,
//! stalls, reused ids, a full disk, corrupt state, concurrent writers and held locks.

use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use crate::harness::dovecot::{Dovecot, Options};
use crate::harness::fake::{FakeServer, Script};
use crate::harness::{maildir_messages, namespace, parse_mboxrd, sorted, Popget, Run};

fn messages(n: usize) -> Vec<(String, Vec<u8>)> {
    crate::harness::fake::numbered_messages(n)
}

fn bodies(n: usize) -> Vec<Vec<u8>> {
    messages(n).into_iter().map(|(_, body)| body).collect()
}

/// `popget fetch` against the fake server into ~/m, with a fixed state file so that several
/// servers (one per run) share it.
fn fetch(popget: &Popget, server: &FakeServer, extra: &[&str]) -> Run {
    let maildir = popget.path("m").display().to_string();
    let state = popget.path("account.state").display().to_string();
    let mut args: Vec<String> = vec!["fetch".into()];
    args.extend(server.args());
    args.extend(["--auth", "user", "--maildir", &maildir, "--state", &state].map(String::from));
    args.extend(extra.iter().map(|s| s.to_string()));
    popget.run(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn retrs(server: &FakeServer) -> Vec<String> {
    server
        .commands()
        .into_iter()
        .filter(|c| c.starts_with("RETR"))
        .collect()
}

#[test]
fn a_retr_cut_at_any_point_loses_nothing_and_duplicates_nothing() {
    let answer_length = "+OK message follows\r\nSubject: 2\r\n\r\nbody 2\r\n.\r\n".len();
    for cut in [0, 5, 21, 30, answer_length - 3, answer_length - 1] {
        let popget = Popget::new();
        let mut script = Script {
            messages: messages(3),
            ..Script::default()
        };
        script.truncate_on = Some(("RETR 2".into(), cut));
        let server = FakeServer::start(script);
        let run = fetch(&popget, &server, &["--delete"]);
        run.expect_code(74);
        assert!(
            !server.commands().iter().any(|c| c.starts_with("DELE")),
            "cut {cut}: {:?}",
            server.commands()
        );
        assert_eq!(server.remaining().len(), 3, "cut {cut}");
        assert_eq!(
            std::fs::read_dir(popget.path("m/tmp")).unwrap().count(),
            0,
            "cut {cut}: staging left over"
        );
        // The next run finishes the job: every message exactly once, the server empty.
        fetch(&popget, &server, &["--delete"]).expect_code(0);
        assert_eq!(
            maildir_messages(&popget.path("m")),
            sorted(bodies(3)),
            "cut {cut}"
        );
        assert!(server.remaining().is_empty(), "cut {cut}");
    }
}

#[test]
fn a_refused_dele_is_retried_on_the_next_run_without_downloading() {
    let mut script = Script {
        messages: messages(3),
        ..Script::default()
    };
    script
        .overrides
        .insert("DELE 2".into(), "-ERR [SYS/TEMP] cannot delete now".into());
    let server = FakeServer::start(script);
    let popget = Popget::new();
    let run = fetch(&popget, &server, &["--delete"]);
    run.expect_code(75);
    assert!(
        run.stderr().contains("refused to delete message 2"),
        "{}",
        run.stderr()
    );
    assert_eq!(server.remaining(), ["uid-2"]);

    let server = FakeServer::start(Script {
        messages: vec![messages(3)[1].clone()],
        ..Script::default()
    });
    fetch(&popget, &server, &["--delete"]).expect_code(0);
    assert!(retrs(&server).is_empty(), "{:?}", server.commands());
    assert!(server.remaining().is_empty());
    assert_eq!(maildir_messages(&popget.path("m")), sorted(bodies(3)));
}

#[test]
fn a_refused_quit_keeps_the_records_and_the_next_run_deletes() {
    let mut script = Script {
        messages: messages(2),
        ..Script::default()
    };
    script.overrides.insert(
        "QUIT".into(),
        "-ERR some deleted messages not removed".into(),
    );
    let server = FakeServer::start(script);
    let popget = Popget::new();
    let run = fetch(&popget, &server, &["--delete"]);
    run.expect_code(75);
    assert_eq!(
        server.remaining().len(),
        2,
        "the fake server commits nothing on -ERR"
    );

    let server = FakeServer::start(Script {
        messages: messages(2),
        ..Script::default()
    });
    fetch(&popget, &server, &["--delete"]).expect_code(0);
    assert!(retrs(&server).is_empty());
    assert!(server.remaining().is_empty());
    assert_eq!(maildir_messages(&popget.path("m")).len(), 2);
}

#[test]
fn a_stalled_server_times_out_without_deleting() {
    let script = Script {
        messages: messages(3),
        stall_on: Some("RETR 2".into()),
        ..Script::default()
    };
    let server = FakeServer::start(script);
    let popget = Popget::new();
    let started = Instant::now();
    let run = fetch(&popget, &server, &["--delete", "--timeout", "1"]);
    run.expect_code(74);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    assert!(run.stderr().contains("timed out"), "{}", run.stderr());
    assert!(!server.commands().iter().any(|c| c.starts_with("DELE")));
}

#[test]
fn a_uidl_reused_for_a_new_message_after_deletion_is_fetched() {
    let popget = Popget::new();
    let server = FakeServer::start(Script {
        messages: messages(1),
        ..Script::default()
    });
    fetch(&popget, &server, &["--delete"]).expect_code(0);
    assert!(server.remaining().is_empty());
    let reused = vec![(
        "uid-1".to_string(),
        b"Subject: another\n\nnew text\n".to_vec(),
    )];
    let server = FakeServer::start(Script {
        messages: reused,
        ..Script::default()
    });
    fetch(&popget, &server, &[]).expect_code(0);
    assert_eq!(retrs(&server), ["RETR 1"]);
    assert_eq!(maildir_messages(&popget.path("m")).len(), 2);
}

/// Runs popget with a file-size limit, as a full disk or quota would stop it.
fn fetch_with_file_limit(
    popget: &Popget,
    server: &FakeServer,
    limit: u64,
    destination: &[&str],
) -> Run {
    let state = popget.path("account.state").display().to_string();
    let mut command = popget.command();
    command
        .env("POPGET_PASSWORD", "secret")
        .arg("fetch")
        .args(server.args());
    command
        .args(["--auth", "user", "--delete", "--state", &state])
        .args(destination);
    // SAFETY: setrlimit is async-signal-safe and only affects the child.
    unsafe {
        command.pre_exec(move || {
            let rlimit = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &rlimit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    popget.run_with(&mut command)
}

fn with_big_second_message() -> Vec<(String, Vec<u8>)> {
    let mut listing = messages(3);
    let mut big = b"Subject: 2\n\n".to_vec();
    big.extend(std::iter::repeat_n(b'x', 200_000));
    big.push(b'\n');
    listing[1].1 = big;
    listing
}

#[test]
fn a_full_disk_in_a_maildir_keeps_the_message_on_the_server() {
    let server = FakeServer::start(Script {
        messages: with_big_second_message(),
        ..Script::default()
    });
    let popget = Popget::new();
    let maildir = popget.path("m").display().to_string();
    let run = fetch_with_file_limit(&popget, &server, 100_000, &["--maildir", &maildir]);
    run.expect_code(74);
    assert!(run.stderr().contains("cannot write"), "{}", run.stderr());
    // Message 1 made it and was deleted; 2 and 3 stay; nothing partial anywhere.
    assert_eq!(maildir_messages(&popget.path("m")), [bodies(1)[0].clone()]);
    assert_eq!(std::fs::read_dir(popget.path("m/tmp")).unwrap().count(), 0);
    assert_eq!(server.remaining(), ["uid-2", "uid-3"]);
    assert!(!server.commands().contains(&"DELE 2".to_string()));
}

#[test]
fn a_full_disk_in_an_mbox_keeps_the_message_on_the_server() {
    let server = FakeServer::start(Script {
        messages: with_big_second_message(),
        ..Script::default()
    });
    let popget = Popget::new();
    let mbox = popget.path("inbox").display().to_string();
    let run = fetch_with_file_limit(&popget, &server, 100_000, &["--mbox", &mbox]);
    run.expect_code(74);
    let delivered = parse_mboxrd(&std::fs::read(popget.path("inbox")).unwrap());
    assert_eq!(delivered, [bodies(1)[0].clone()]);
    assert_eq!(server.remaining(), ["uid-2", "uid-3"]);
}

#[test]
fn an_unusable_mailbox_fails_before_connecting() {
    let server = FakeServer::start(Script {
        messages: messages(1),
        ..Script::default()
    });
    let popget = Popget::new();
    std::fs::write(popget.path("m"), b"a file, not a directory").unwrap();
    let run = fetch(&popget, &server, &["--delete"]);
    run.expect_code(73);
    assert!(server.commands().is_empty());
}

#[test]
fn a_corrupt_state_is_rebuilt_on_request_without_downloading() {
    let server = FakeServer::start(Script {
        messages: messages(3),
        ..Script::default()
    });
    let popget = Popget::new();
    std::fs::write(popget.path("account.state"), b"popget-state 1\n1 a\n").unwrap();
    let run = fetch(&popget, &server, &[]);
    run.expect_code(65);
    assert!(
        run.stderr().contains("account.state") && run.stderr().contains("--rebuild-state"),
        "{}",
        run.stderr()
    );
    fetch(&popget, &server, &["--rebuild-state"]).expect_code(64);
    let run = fetch(&popget, &server, &["--rebuild-state", "--yes"]);
    run.expect_code(0);
    assert!(
        run.stderr()
            .contains("3 messages on the server marked as fetched"),
        "{}",
        run.stderr()
    );
    fetch(&popget, &server, &[]).expect_code(0);
    assert!(retrs(&server).is_empty(), "{:?}", server.commands());
    assert_eq!(server.remaining().len(), 3, "nothing deleted");
}

#[test]
fn two_accounts_into_one_mbox_at_once_interleave_nothing() {
    let dovecot = Dovecot::start_with(Options {
        users: vec![("alice", "secret"), ("bob", "secret")],
        ..Options::default()
    });
    let mut expected = Vec::new();
    for user in ["alice", "bob"] {
        for i in 0..60 {
            let mut message = format!("Subject: {user} {i}\n\n").into_bytes();
            message.extend(std::iter::repeat_n(
                b'a' + (i % 26) as u8,
                1000 + i as usize * 300,
            ));
            message.push(b'\n');
            dovecot.deliver(user, &message);
            expected.push(message);
        }
    }
    let popget = Popget::new();
    let mbox = popget.path("shared.mbox").display().to_string();
    let children: Vec<_> = ["alice", "bob"]
        .iter()
        .map(|user| {
            let mut command = popget.command();
            command
                .env("POPGET_PASSWORD", "secret")
                .arg("fetch")
                .args(dovecot.args("implicit", user))
                .args(["--mbox", &mbox]);
            command
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let delivered = parse_mboxrd(&std::fs::read(popget.path("shared.mbox")).unwrap());
    assert_eq!(sorted(delivered), sorted(expected));
}

#[test]
fn a_mail_reader_holding_the_mbox_locks_is_waited_for() {
    let server = FakeServer::start(Script {
        messages: messages(2),
        ..Script::default()
    });
    let popget = Popget::new();
    let mbox_path = popget.path("inbox");
    std::fs::write(&mbox_path, b"").unwrap();
    // A reader holds the fcntl lock and the dotlock for a moment.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&mbox_path)
        .unwrap();
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    // SAFETY: a valid descriptor and flock structure.
    assert_eq!(
        unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&file), libc::F_SETLK, &lock) },
        0
    );
    let dotlock = popget.path("inbox.lock");
    // The dotlock names a live process (this test), so it is not stale.
    std::fs::write(&dotlock, format!("{}\n", std::process::id())).unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        drop(file);
        std::thread::sleep(Duration::from_millis(500));
        std::fs::remove_file(dotlock).unwrap();
    });
    let started = Instant::now();
    let mbox = mbox_path.display().to_string();
    let state = popget.path("account.state").display().to_string();
    let mut args: Vec<String> = vec!["fetch".into()];
    args.extend(server.args());
    args.extend(["--auth", "user", "--mbox", &mbox, "--state", &state].map(String::from));
    let run = popget.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    release.join().unwrap();
    run.expect_code(0);
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "did not wait: {:?}",
        started.elapsed()
    );
    assert_eq!(parse_mboxrd(&std::fs::read(&mbox_path).unwrap()), bodies(2));
}

#[test]
fn a_read_only_maildir_keeps_every_message_on_the_server() {
    let server = FakeServer::start(Script {
        messages: messages(3),
        ..Script::default()
    });
    let popget = Popget::new();
    let maildir = popget.path("m");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    let state = popget.path("account.state").display().to_string();
    let mut command = popget.command();
    command
        .env("POPGET_PASSWORD", "secret")
        .arg("fetch")
        .args(server.args());
    command.args([
        "--auth",
        "user",
        "--delete",
        "--maildir",
        maildir.to_str().unwrap(),
        "--state",
        &state,
    ]);
    let run = popget.run_with(&mut namespace::read_only(&maildir.join("new"), &command));
    run.expect_code(74);
    assert!(
        run.stderr().contains("Read-only file system"),
        "{}",
        run.stderr()
    );
    assert!(
        !server.commands().iter().any(|c| c.starts_with("DELE")),
        "{:?}",
        server.commands()
    );
    assert_eq!(server.remaining().len(), 3);
    assert_eq!(std::fs::read_dir(maildir.join("tmp")).unwrap().count(), 0);

    // Writable again: the journal left behind is settled, everything arrives exactly once.
    fetch(&popget, &server, &["--delete"]).expect_code(0);
    assert_eq!(maildir_messages(&maildir), sorted(bodies(3)));
    assert!(server.remaining().is_empty());
}

#[test]
fn messages_over_max_size_stay_on_the_server_and_are_reported() {
    let server = FakeServer::start(Script {
        messages: with_big_second_message(),
        ..Script::default()
    });
    let popget = Popget::new();
    let run = fetch(&popget, &server, &["--delete", "--max-size", "100K"]);
    run.expect_code(0);
    assert!(
        run.stderr()
            .contains("1 over --max-size left on the server"),
        "{}",
        run.stderr()
    );
    assert!(
        !retrs(&server).contains(&"RETR 2".to_string()),
        "{:?}",
        server.commands()
    );
    assert_eq!(server.remaining(), ["uid-2"]);
    assert_eq!(maildir_messages(&popget.path("m")).len(), 2);
    // Exactly at the limit is allowed.
    let exact = with_big_second_message()[1].1.len()
        + with_big_second_message()[1]
            .1
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
    let run = fetch(
        &popget,
        &server,
        &["--delete", "--max-size", &exact.to_string()],
    );
    run.expect_code(0);
    assert!(server.remaining().is_empty());
}

#[test]
fn a_message_larger_than_its_list_size_is_never_truncated() {
    let mut body = b"Subject: liar\n\n".to_vec();
    body.extend(std::iter::repeat_n(b'y', 50_000));
    body.push(b'\n');
    let mut script = Script {
        messages: vec![("uid-1".into(), body)],
        ..Script::default()
    };
    script
        .overrides
        .insert("LIST".into(), "+OK\r\n1 10\r\n.".into());
    let server = FakeServer::start(script);
    let popget = Popget::new();
    let run = fetch(&popget, &server, &["--delete", "--max-size", "1000"]);
    run.expect_code(76);
    assert!(run.stderr().contains("size limit"), "{}", run.stderr());
    assert!(maildir_messages(&popget.path("m")).is_empty());
    assert_eq!(std::fs::read_dir(popget.path("m/tmp")).unwrap().count(), 0);
    assert!(!server.commands().iter().any(|c| c.starts_with("DELE")));
    assert_eq!(server.remaining().len(), 1);
}
