//! Smaller user-facing defects, each against the real binary: wrong-port mistakes
//! explained, cron silence, the listing limit's unit, exit statuses of dele, DNS and a declined
//! --rebuild-state.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::harness::dovecot::Dovecot;
use crate::harness::fake::{numbered_messages, FakeServer, Script};
use crate::harness::{maildir_messages, Popget};

#[test]
fn implicit_tls_on_a_plain_port_says_so() {
    // Was: "TLS: handshake failed (... wrong version number:../ssl/record/...)".
    let dovecot = Dovecot::start();
    let popget = Popget::new();
    let port = dovecot.pop3_port.to_string();
    let run = popget.run(&[
        "stat",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--user",
        "alice",
        "--tls",
        "implicit",
        "--ca-file",
        &dovecot.certificate_arg(),
    ]);
    run.expect_code(69);
    let stderr = run.stderr();
    assert!(
        stderr.contains("the server answered in plain text (\"+OK "),
        "{stderr}"
    );
    assert!(stderr.contains("hint: use --tls starttls"), "{stderr}");
    assert!(!stderr.contains("wrong version number"), "{stderr}");
}

#[test]
fn starttls_or_no_tls_on_a_pop3s_port_says_so_within_seconds() {
    // Was: a wait of --timeout (60 s), then "timed out". A POP3S server waits for the
    // ClientHello and sends no greeting.
    let dovecot = Dovecot::start();
    let popget = Popget::new();
    let port = dovecot.pop3s_port.to_string();
    let started = Instant::now();
    let run = popget.run(&[
        "stat",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--user",
        "alice",
        "--tls",
        "starttls",
        "--timeout",
        "60",
        "--ca-file",
        &dovecot.certificate_arg(),
    ]);
    let elapsed = started.elapsed();
    run.expect_code(74);
    let stderr = run.stderr();
    assert!(
        stderr.contains("the server sent no greeting within 10 s"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: is this a POP3S port") && stderr.contains("--tls implicit"),
        "{stderr}"
    );
    assert!(
        elapsed >= Duration::from_secs(9) && elapsed < Duration::from_secs(20),
        "{elapsed:?}"
    );

    // A shorter --timeout is kept; --tls none the same.
    let run = popget.run(&[
        "stat",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--user",
        "alice",
        "--tls",
        "none",
        "--auth",
        "user",
        "--timeout",
        "2",
    ]);
    run.expect_code(74);
    assert!(
        run.stderr().contains("no greeting within 2 s") && run.stderr().contains("--tls implicit"),
        "{}",
        run.stderr()
    );
}

#[test]
fn cron_is_silent_when_nothing_was_delivered() {
    // Was: with max_size, or a filter that skips, every cron run printed a line.
    let mut messages = numbered_messages(1);
    messages.push((
        "big".into(),
        format!("Subject: big\n\n{}\n", "x".repeat(5000)).into(),
    ));
    let server = FakeServer::start(Script {
        messages,
        ..Script::default()
    });
    let popget = Popget::new();
    let maildir = popget.path("m").display().to_string();
    let fetch = |extra: &[&str]| {
        let mut args = vec!["fetch".to_string()];
        args.extend(server.args());
        args.extend(["--auth", "user", "--maildir", &maildir].map(String::from));
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        popget.run(&args)
    };
    // The first run delivers one and says that one waits.
    let run = fetch(&["--max-size", "1K"]);
    run.expect_code(0);
    assert!(
        run.stderr().contains("1 new message (19 B) delivered to ")
            && run
                .stderr()
                .contains("1 over --max-size left on the server"),
        "{}",
        run.stderr()
    );
    // Later runs deliver nothing: nothing is printed (stderr is not a terminal here).
    for _ in 0..2 {
        let run = fetch(&["--max-size", "1K"]);
        run.expect_code(0);
        assert_eq!(run.stderr(), "");
    }
    // A filter that skips: silent too; with -v the run says what waits.
    let run = fetch(&["--filter", "exit 2"]);
    run.expect_code(0);
    assert_eq!(run.stderr(), "");
    let run = fetch(&["--filter", "exit 2", "-v"]);
    run.expect_code(0);
    assert!(
        run.stderr().contains("1 skipped by the filter"),
        "{}",
        run.stderr()
    );
    assert_eq!(maildir_messages(&popget.path("m")).len(), 1);
}

#[test]
fn the_listing_limit_is_reported_in_the_unit_it_was_given() {
    // Was: --max-listing 4K reported a limit of "1 MiB".
    let server = FakeServer::start(Script {
        messages: numbered_messages(400),
        ..Script::default()
    });
    let popget = Popget::new();
    let mut args = vec!["list".to_string()];
    args.extend(server.args());
    args.extend(["--auth", "user", "--max-listing", "4K"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = popget.run(&args);
    run.expect_code(76);
    assert!(
        run.stderr().contains("more than 4.00 KiB of memory"),
        "{}",
        run.stderr()
    );
    assert!(!run.stderr().contains("MiB"), "{}", run.stderr());
}

#[test]
fn a_refused_dele_exits_75_as_documented() {
    // Was: `popget dele 3 999` deleted 3 and exited 69.
    let dovecot = Dovecot::start();
    for i in 1..=3 {
        dovecot.deliver("alice", format!("Subject: {i}\n\nx\n").as_bytes());
    }
    let popget = Popget::new();
    let mut args = vec!["dele", "3", "999"];
    let connection = dovecot.args("implicit", "alice");
    args.extend(connection.iter().map(String::as_str));
    let run = popget.run(&args);
    run.expect_code(75);
    assert_eq!(run.stdout(), "3 deleted\n");
    assert!(
        run.stderr().contains("refused to delete message 999"),
        "{}",
        run.stderr()
    );
    assert_eq!(dovecot.stored("alice").len(), 2);
}

#[test]
fn a_host_that_does_not_resolve_exits_75() {
    let popget = Popget::new();
    let run = popget.run(&["stat", "--host", "no-such-host.invalid", "--user", "u"]);
    run.expect_code(75);
    assert!(
        run.stderr().contains("cannot resolve no-such-host.invalid"),
        "{}",
        run.stderr()
    );
}

/// A pseudo-terminal: the controlling side and the path-less terminal side.
fn pty() -> (std::fs::File, OwnedFd) {
    let (mut controller, mut terminal) = (0, 0);
    // SAFETY: openpty writes two descriptors into the integers given; the other arguments may
    // be null.
    let done = unsafe {
        libc::openpty(
            &mut controller,
            &mut terminal,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(done, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened and are owned by nobody else.
    unsafe {
        (
            std::fs::File::from_raw_fd(controller),
            OwnedFd::from_raw_fd(terminal),
        )
    }
}

#[test]
fn declining_rebuild_state_changes_nothing_and_exits_0() {
    // Was: answering "n" exited 64, a usage error.
    let server = FakeServer::start(Script {
        messages: numbered_messages(2),
        ..Script::default()
    });
    let popget = Popget::new();
    let state = popget.path("state");
    let (mut controller, terminal) = pty();
    let mut command = popget.command();
    command
        .env("POPGET_PASSWORD", "secret")
        .arg("fetch")
        .args(server.args())
        .args(["--maildir", &popget.path("m").display().to_string()])
        .args(["--state", state.to_str().unwrap(), "--rebuild-state"])
        .stdin(Stdio::from(terminal))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    controller.write_all(b"n\n").unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("[y/N]"), "{stderr}");
    assert!(
        stderr.contains("not confirmed; nothing changed"),
        "{stderr}"
    );
    assert!(!state.exists());
    assert!(server.commands().is_empty(), "{:?}", server.commands());
}
