//! `popget daemon` against a private Dovecot and a fake server, with intervals of a second:
//! new mail, SIGHUP reloads (good and bad), SIGUSR1, SIGTERM mid-fetch, backoff and recovery,
//! a wrong password, LOGIN-DELAY, the on_new_mail hook, sd_notify, and the shipped units.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness::daemon::Daemon;
use crate::harness::dovecot::{Dovecot, Options};
use crate::harness::fake::{numbered_messages, FakeServer, Script};
use crate::harness::{maildir_messages, Popget};

/// A private config file (it may hold passwords).
fn write_config(popget: &Popget, text: &str) {
    let path = popget.path("config.toml");
    fs::write(&path, text).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
}

/// An account table for `user` of `dovecot` (plain POP3 on loopback) into Maildir `m-USER`.
fn account(dovecot: &Dovecot, user: &str, password: &str, extra: &str) -> String {
    format!(
        "[accounts.{user}]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"{user}\"\ntls = \"none\"\n\
         password = \"{password}\"\nmaildir = \"m-{user}\"\n{extra}\n",
        dovecot.pop3_port
    )
}

fn message(n: usize) -> Vec<u8> {
    format!("Subject: daemon {n}\nMessage-ID: <{n}@daemon.test>\n\nbody {n}\n").into_bytes()
}

fn dovecot(users: &[&'static str]) -> Dovecot {
    Dovecot::start_with(Options {
        users: users.iter().map(|user| (*user, "secret")).collect(),
        ..Options::default()
    })
}

const SECONDS: fn(u64) -> Duration = Duration::from_secs;

#[test]
fn new_mail_is_picked_up_on_the_next_cycle_and_the_hook_runs_only_then() {
    let dovecot = dovecot(&["alice"]);
    let popget = Popget::new();
    let hook = "env | grep ^POPGET_ | sort >> hook.out";
    write_config(
        &popget,
        &format!(
            "[defaults]\ninterval = \"1s\"\non_new_mail = \"{hook}\"\n{}",
            account(&dovecot, "alice", "secret", "")
        ),
    );
    let daemon = Daemon::start(&popget, &[], &["-v"]);
    daemon.wait_for("cycle 2:", 1, SECONDS(10));
    assert!(
        !popget.path("hook.out").exists(),
        "nothing was delivered yet"
    );
    dovecot.deliver("alice", &message(1));
    dovecot.deliver("alice", &message(2));
    daemon.wait_for("alice: 2 new messages", 1, SECONDS(10));
    let cycles = daemon.log().matches("cycle ").count();
    daemon.wait_for("cycle ", cycles + 2, SECONDS(10));
    let (status, log) = daemon.stop();
    assert!(status.success(), "{status:?}\n{log}");
    assert_eq!(maildir_messages(&popget.path("m-alice")).len(), 2, "{log}");
    let hook_out = fs::read_to_string(popget.path("hook.out")).unwrap();
    let octets: usize = [message(1), message(2)].iter().map(Vec::len).sum();
    assert_eq!(
        hook_out,
        format!(
            "POPGET_ACCOUNT=alice\nPOPGET_MAILBOX={}\nPOPGET_NEW=2\nPOPGET_OCTETS={octets}\n",
            popget.path("m-alice").display()
        ),
        "the hook ran once, after the delivery; the log:\n{log}"
    );
}

#[test]
fn sighup_adds_and_drops_accounts_and_an_invalid_file_keeps_the_old_one() {
    let dovecot = dovecot(&["alice", "bob"]);
    let popget = Popget::new();
    let defaults = "[defaults]\ninterval = 1\n";
    // alice is polled once, at the start, and that run is over before the reload: a run in
    // flight when its account is removed goes on to its end, and could pick up mail
    // delivered after the reload.
    dovecot.deliver("alice", &message(0));
    write_config(
        &popget,
        &format!(
            "{defaults}{}",
            account(&dovecot, "alice", "secret", "interval = 3600")
        ),
    );
    let daemon = Daemon::start(&popget, &[], &[]);
    daemon.wait_for("daemon started: 1 accounts", 1, SECONDS(10));
    daemon.wait_for("alice: 1 new message", 1, SECONDS(10));
    write_config(
        &popget,
        &format!("{defaults}{}", account(&dovecot, "bob", "secret", "")),
    );
    daemon.signal(libc::SIGHUP);
    daemon.wait_for("added: bob; removed: alice", 1, SECONDS(10));
    dovecot.deliver("alice", &message(1));
    dovecot.deliver("bob", &message(2));
    daemon.wait_for("bob: 1 new message", 1, SECONDS(10));
    write_config(&popget, "[defaults\ninterval = 1\n");
    daemon.signal(libc::SIGHUP);
    daemon.wait_for(
        "was not reloaded, the previous one stays in use",
        1,
        SECONDS(10),
    );
    dovecot.deliver("bob", &message(3));
    daemon.wait_for("bob: 1 new message", 2, SECONDS(10));
    let (status, log) = daemon.stop();
    assert!(status.success(), "{status:?}\n{log}");
    assert_eq!(
        log.matches("alice: 1 new").count(),
        1,
        "alice was dropped:\n{log}"
    );
    assert_eq!(
        maildir_messages(&popget.path("m-alice")),
        [message(0)],
        "only what came before the reload"
    );
    assert_eq!(maildir_messages(&popget.path("m-bob")).len(), 2, "{log}");
}

#[test]
fn sigusr1_polls_every_account_at_once() {
    let dovecot = dovecot(&["alice"]);
    let popget = Popget::new();
    write_config(
        &popget,
        &format!(
            "[defaults]\ninterval = \"1h\"\n{}",
            account(&dovecot, "alice", "secret", "")
        ),
    );
    let daemon = Daemon::start(&popget, &[], &["-v"]);
    daemon.wait_for("cycle 1:", 1, SECONDS(10));
    dovecot.deliver("alice", &message(1));
    std::thread::sleep(SECONDS(1));
    assert!(!daemon.log().contains("alice: 1 new"), "{}", daemon.log());
    let asked = Instant::now();
    daemon.signal(libc::SIGUSR1);
    daemon.wait_for("alice: 1 new message", 1, SECONDS(5));
    assert!(asked.elapsed() < SECONDS(5));
    let (status, log) = daemon.stop();
    assert!(status.success(), "{status:?}\n{log}");
}

/// The Message-IDs in a Maildir, sorted.
fn message_ids(maildir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = maildir_messages(maildir)
        .iter()
        .filter_map(|m| {
            let text = String::from_utf8_lossy(m);
            let line = text.lines().find(|l| l.starts_with("Message-ID:"))?;
            Some(line.to_string())
        })
        .collect();
    ids.sort();
    ids
}

#[test]
fn sigterm_mid_fetch_records_every_delivery_and_the_next_start_duplicates_nothing() {
    let dovecot = dovecot(&["alice"]);
    let total = 1500;
    let filler = "x".repeat(8000);
    for n in 0..total {
        let mut text = message(n);
        text.extend_from_slice(filler.as_bytes());
        text.push(b'\n');
        dovecot.deliver("alice", &text);
    }
    let popget = Popget::new();
    write_config(
        &popget,
        &format!(
            "[defaults]\ninterval = \"1h\"\n{}",
            account(&dovecot, "alice", "secret", "")
        ),
    );
    let daemon = Daemon::start(&popget, &[], &[]);
    let new = popget.path("m-alice/new");
    let deadline = Instant::now() + SECONDS(20);
    while fs::read_dir(&new).map_or(0, |d| d.count()) < 20 {
        assert!(
            Instant::now() < deadline,
            "nothing fetched: {}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let (status, log) = daemon.stop();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("stopped by SIGTERM"), "{log}");
    let first = message_ids(&popget.path("m-alice"));
    assert!(
        first.len() < total,
        "the stop came too late to test anything:\n{log}"
    );
    let daemon = Daemon::start(&popget, &[], &["-v"]);
    daemon.wait_for("cycle 1:", 1, SECONDS(40));
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
    let all = message_ids(&popget.path("m-alice"));
    let mut distinct = all.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), all.len(), "a message was delivered twice");
    assert_eq!(all.len(), total, "{log}");
}

#[test]
fn a_stopped_server_is_retried_with_backoff_and_polled_again_when_it_returns() {
    let mut dovecot = dovecot(&["alice"]);
    let popget = Popget::new();
    write_config(
        &popget,
        &format!(
            "[defaults]\ninterval = 1\n{}",
            account(&dovecot, "alice", "secret", "")
        ),
    );
    let daemon = Daemon::start(&popget, &[], &["-v"]);
    daemon.wait_for("cycle 1:", 1, SECONDS(10));
    dovecot.pause();
    let log = daemon.wait_for("; trying again in ", 2, SECONDS(15));
    let waits: Vec<u64> = log
        .lines()
        .filter_map(|l| l.split("; trying again in ").nth(1))
        .filter_map(|rest| rest.trim_end_matches(" s").parse().ok())
        .collect();
    assert!(waits[1] > waits[0], "the waits grow: {waits:?}\n{log}");
    dovecot.restart();
    dovecot.deliver("alice", &message(1));
    daemon.wait_for("alice: polled again after", 1, SECONDS(20));
    daemon.wait_for("alice: 1 new message", 1, SECONDS(5));
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
}

#[test]
fn a_wrong_password_stops_that_account_only_and_is_logged_once() {
    let dovecot = dovecot(&["alice", "bob"]);
    let popget = Popget::new();
    write_config(
        &popget,
        &format!(
            "[defaults]\ninterval = 1\n{}{}",
            account(&dovecot, "alice", "secret", ""),
            account(&dovecot, "bob", "wrong", "")
        ),
    );
    let daemon = Daemon::start(&popget, &[], &[]);
    daemon.wait_for("bob: authentication failed", 1, SECONDS(10));
    // Four more cycles of alice's.
    std::thread::sleep(SECONDS(4));
    dovecot.deliver("alice", &message(1));
    daemon.wait_for("alice: 1 new message", 1, SECONDS(10));
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
    assert_eq!(log.matches("bob:").count(), 1, "{log}");
    assert!(
        log.contains("not polled again until the configuration is reloaded"),
        "{log}"
    );
    let logins = dovecot.log().matches("user=<bob>").count();
    assert!(
        logins <= 2,
        "bob was tried again: {logins}\n{}",
        dovecot.log()
    );
}

/// A fake server announcing LOGIN-DELAY 3 before and after login.
fn delaying_server() -> FakeServer {
    FakeServer::start(Script {
        capa: Some(vec![
            "USER".into(),
            "UIDL".into(),
            "TOP".into(),
            "LOGIN-DELAY 3".into(),
        ]),
        messages: numbered_messages(1),
        ..Script::default()
    })
}

fn logins(server: &FakeServer) -> usize {
    server
        .commands()
        .iter()
        .filter(|c| c.starts_with("PASS"))
        .count()
}

#[test]
fn login_delay_is_honoured_by_the_daemon() {
    let server = delaying_server();
    let popget = Popget::new();
    write_config(
        &popget,
        &format!(
            "[accounts.slow]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"alice\"\ntls = \"none\"\n\
             password = \"secret\"\nauth = \"user\"\nmaildir = \"m\"\ninterval = 1\n",
            server.port
        ),
    );
    let daemon = Daemon::start(&popget, &[], &[]);
    let started = Instant::now();
    daemon.wait_for("slow: 1 new message", 1, SECONDS(10));
    std::thread::sleep(SECONDS(5).saturating_sub(started.elapsed()));
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
    // Every second without LOGIN-DELAY: 5 or 6 logins in 5 s; with it, at 0 and 3 s.
    assert_eq!(logins(&server), 2, "{:?}\n{log}", server.commands());
}

#[test]
fn login_delay_is_honoured_across_fetch_runs() {
    let server = delaying_server();
    let popget = Popget::new();
    let mut args: Vec<String> = vec!["fetch".into()];
    args.extend(server.args());
    args.extend([
        "--maildir".into(),
        "m".into(),
        "--auth".into(),
        "user".into(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    popget.run(&args).expect_code(0);
    assert_eq!(logins(&server), 1);
    let early = popget.run(&args);
    early.expect_code(0);
    assert_eq!(early.stderr(), "", "a run that comes too early is silent");
    let mut verbose = args.clone();
    verbose.push("-v");
    let told = popget.run(&verbose);
    told.expect_code(0);
    assert!(
        told.stderr()
            .contains("LOGIN-DELAY allows the next login in"),
        "{}",
        told.stderr()
    );
    assert_eq!(logins(&server), 1, "no login before the delay is over");
    std::thread::sleep(SECONDS(3));
    popget.run(&args).expect_code(0);
    assert_eq!(logins(&server), 2);
}

#[test]
fn readiness_status_and_the_watchdog_reach_the_notify_socket() {
    let dovecot = dovecot(&["alice"]);
    let popget = Popget::new();
    write_config(
        &popget,
        &format!(
            "[defaults]\ninterval = 1\n{}",
            account(&dovecot, "alice", "secret", "")
        ),
    );
    let socket_path = popget.path("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(SECONDS(10))).unwrap();
    let daemon = Daemon::start(
        &popget,
        &[
            ("NOTIFY_SOCKET", socket_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "400000"),
            ("JOURNAL_STREAM", "8:1234"),
        ],
        &[],
    );
    let mut received = String::new();
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + SECONDS(10);
    while !(received.contains("READY=1")
        && received.contains("STATUS=cycle 2:")
        && received.contains("WATCHDOG=1"))
    {
        assert!(Instant::now() < deadline, "received so far:\n{received}");
        let n = socket.recv(&mut buffer).expect("a notification");
        received.push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
    assert!(
        received.contains("STATUS=cycle 1: 1 accounts polled in "),
        "{received}"
    );
    while let Ok(n) = {
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        socket.recv(&mut buffer)
    } {
        received.push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
    assert!(received.contains("STOPPING=1"), "{received}");
    // With JOURNAL_STREAM, each line carries its priority.
    assert!(log.lines().all(|line| line.starts_with('<')), "{log}");
    assert!(log.contains("<6>popget: daemon started"), "{log}");
}

/// The shipped systemd units pass `systemd-analyze verify`, with their ExecStart pointing at
/// the popget under test.
#[test]
fn the_shipped_units_verify() {
    let analyze = Path::new("/usr/bin/systemd-analyze");
    assert!(
        analyze.exists(),
        "systemd-analyze is missing: install the systemd package (scripts/install-deps)"
    );
    let dir = tempfile::tempdir().unwrap();
    let contrib = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib");
    let binary = env!("CARGO_BIN_EXE_popget");
    let mut units = Vec::new();
    for name in [
        "popget.service",
        "popget-fetch.service",
        "popget-fetch.timer",
    ] {
        let text = fs::read_to_string(contrib.join(name)).unwrap();
        assert!(
            text.contains("%h/.cargo/bin/popget") || !name.ends_with(".service"),
            "{name}"
        );
        let text = text.replace("%h/.cargo/bin/popget", binary);
        fs::write(dir.path().join(name), text).unwrap();
        units.push(dir.path().join(name));
    }
    let output = std::process::Command::new(analyze)
        .arg("verify")
        .arg("--man=no")
        .args(&units)
        .env("SYSTEMD_LOG_LEVEL", "warning")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // A unit's problems (an unknown key, a command that cannot run) name its file; an unknown
    // key is only a warning, so the lines count as much as the status.
    let about_units: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("popget"))
        .collect();
    assert!(
        output.status.success() && about_units.is_empty(),
        "systemd-analyze verify:\n{stderr}"
    );
}
