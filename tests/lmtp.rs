//! `popget fetch` delivering over LMTP into Dovecot's LMTP server (its Unix socket and TCP):
//! byte for byte, keep and `--delete`, a second run delivering nothing, named destinations, a
//! refused recipient and a server that is not there.

use crate::harness::dovecot::{Dovecot, Options};
use crate::harness::{
    crash_rounds, lost_and_duplicated, maildir_messages, sorted, tricky_messages, Popget,
};

fn dovecot() -> Dovecot {
    Dovecot::start_with(Options {
        users: vec![("alice", "secret"), ("bob", "secret")],
        destinations: true,
        ..Options::default()
    })
}

/// A message as Dovecot's LMTP stored it, without the three header lines it puts in front:
/// Return-Path, Delivered-To and Received (folded over several lines), exactly once each.
fn as_sent(stored: &[u8]) -> Vec<u8> {
    let mut rest = stored;
    for name in ["Return-Path:", "Delivered-To:", "Received:"] {
        assert!(
            rest.starts_with(name.as_bytes()),
            "Dovecot's {name} missing: {:?}",
            String::from_utf8_lossy(&stored[..stored.len().min(300)])
        );
        loop {
            let end = rest
                .iter()
                .position(|&b| b == b'\n')
                .expect("a header line")
                + 1;
            rest = &rest[end..];
            if !rest.starts_with(b" ") && !rest.starts_with(b"\t") {
                break;
            }
        }
    }
    rest.to_vec()
}

fn delivered(dovecot: &Dovecot, user: &str) -> Vec<Vec<u8>> {
    sorted(
        maildir_messages(&dovecot.maildir(user))
            .iter()
            .map(|message| as_sent(message))
            .collect(),
    )
}

fn fetch(popget: &Popget, dovecot: &Dovecot, extra: &[&str]) -> crate::harness::Run {
    let port = dovecot.pop3_port.to_string();
    popget.fetch(
        &port,
        "alice",
        "none",
        &[&["--auth", "user"], extra].concat(),
    )
}

#[test]
fn over_the_unix_socket_byte_for_byte_then_nothing_twice() {
    let dovecot = dovecot();
    let messages = tricky_messages();
    for message in &messages {
        dovecot.deliver("alice", message);
    }
    let socket = dovecot.destinations.as_ref().unwrap().lmtp_socket.clone();
    let address = format!("unix:{}", socket.display());
    let popget = Popget::new();
    let args = ["--lmtp", &address, "--recipient", "bob"];
    let run = fetch(&popget, &dovecot, &args);
    run.expect_code(0);
    assert!(
        run.stderr()
            .contains(&format!("delivered to LMTP {address} for bob")),
        "{}",
        run.stderr()
    );
    assert_eq!(delivered(&dovecot, "bob"), sorted(messages.clone()));
    // Keep is the default: everything is still on the POP3 server, and a second run delivers
    // nothing.
    assert_eq!(dovecot.stored("alice").len(), messages.len());
    fetch(&popget, &dovecot, &args).expect_code(0);
    assert_eq!(
        maildir_messages(&dovecot.maildir("bob")).len(),
        messages.len()
    );
}

#[test]
fn a_named_destination_over_tcp_with_delete() {
    let dovecot = dovecot();
    let messages = tricky_messages();
    for message in &messages {
        dovecot.deliver("alice", message);
    }
    let lmtp_port = dovecot.destinations.as_ref().unwrap().lmtp_port;
    let popget = Popget::new();
    let config = popget.path("config.toml");
    std::fs::write(
        &config,
        format!(
            "[destinations.local]\nlmtp = \"127.0.0.1:{lmtp_port}\"\nrecipient = \"bob\"\n\n\
             [accounts.isp]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"alice\"\ntls = \"none\"\n\
             auth = \"user\"\ndeliver_to = \"local\"\ndelete = true\n",
            dovecot.pop3_port
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    popget.run(&["--config", config, "fetch"]).expect_code(0);
    assert_eq!(delivered(&dovecot, "bob"), sorted(messages.clone()));
    assert!(dovecot.stored("alice").is_empty(), "deleted once delivered");
    popget.run(&["--config", config, "fetch"]).expect_code(0);
    assert_eq!(
        maildir_messages(&dovecot.maildir("bob")).len(),
        messages.len()
    );
    let accounts = popget.run(&["--config", config, "accounts", "--json"]);
    accounts.expect_code(0);
    assert!(
        accounts.stdout().contains("\"store\": \"lmtp\""),
        "{}",
        accounts.stdout()
    );
}

#[test]
fn a_refused_recipient_leaves_the_mail_on_the_server() {
    let dovecot = dovecot();
    dovecot.deliver("alice", b"Subject: one\n\nbody\n");
    dovecot.deliver("alice", b"Subject: two\n\nbody\n");
    let socket = dovecot.destinations.as_ref().unwrap().lmtp_socket.clone();
    let address = format!("unix:{}", socket.display());
    let popget = Popget::new();
    let run = fetch(
        &popget,
        &dovecot,
        &["--lmtp", &address, "--recipient", "nobody", "--delete"],
    );
    run.expect_code(73);
    assert!(
        run.stderr().contains("refused the message for nobody"),
        "{}",
        run.stderr()
    );
    assert_eq!(dovecot.stored("alice").len(), 2, "nothing deleted");
}

#[test]
fn a_server_that_is_not_there_is_temporary_and_nothing_is_fetched() {
    let dovecot = dovecot();
    dovecot.deliver("alice", b"Subject: one\n\nbody\n");
    let popget = Popget::new();
    let missing = popget.path("no-such-socket");
    let address = format!("unix:{}", missing.display());
    let run = fetch(
        &popget,
        &dovecot,
        &["--lmtp", &address, "--recipient", "bob", "--delete"],
    );
    run.expect_code(75);
    assert!(
        run.stderr().contains("cannot reach the LMTP server"),
        "{}",
        run.stderr()
    );
    assert_eq!(dovecot.stored("alice").len(), 1);
    assert!(!dovecot.log().contains("alice") || !dovecot.log().contains("RETR"));
}

/// `kill -9` at random moments while 300 messages go over LMTP with `--delete`, then healthy
/// runs, round after round until popget was killed at least 50 times: none lost, and at most
/// one message delivered twice per kill (the one whose reply was lost after its data), as the
/// README says.
#[test]
fn across_sigkill_nothing_is_lost_and_at_most_one_per_kill_is_repeated() {
    const COUNT: u64 = 300;
    const KILLS: u64 = 50;
    let dovecot = dovecot();
    let socket = dovecot.destinations.as_ref().unwrap().lmtp_socket.clone();
    let address = format!("unix:{}", socket.display());
    let popget = Popget::new();
    let port = dovecot.pop3_port.to_string();
    let args = [
        "fetch",
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
        "--lmtp",
        &address,
        "--recipient",
        "bob",
        "--delete",
    ];
    let crashes = crash_rounds(
        0x17a7_0001,
        KILLS,
        |round| {
            for n in 0..COUNT {
                let body = format!(
                    "Subject: lmtp {round}.{n}\nMessage-ID: <{round}.{n}@lmtp.test>\n\nbody {n}\n"
                );
                dovecot.deliver("alice", body.as_bytes());
            }
        },
        || {
            let mut command = popget.command();
            command.env("POPGET_PASSWORD", "secret").args(args);
            command
        },
        || dovecot.stored("alice").is_empty(),
    );
    let expected = (0..crashes.rounds)
        .flat_map(|round| (0..COUNT).map(move |n| format!("<{round}.{n}@lmtp.test>")));
    let (lost, duplicated) = lost_and_duplicated(&dovecot.maildir("bob"), expected);
    eprintln!("LMTP crash suite: {crashes:?}, {lost} lost, {duplicated} duplicated");
    assert_eq!(lost, 0);
    assert!(
        duplicated as u64 <= crashes.kills,
        "{duplicated} duplicates from {} kills",
        crashes.kills
    );
}
