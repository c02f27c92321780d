//! `popget fetch` delivering into Dovecot's IMAP: byte for byte over TLS on connect and over
//! STARTTLS, keep and `--delete`, a mailbox created when the server says TRYCREATE, a refused
//! destination login before anything is fetched, and exactly once across `kill -9`.

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

/// A configuration whose account `isp` fetches alice's POP3 mailbox into bob's IMAP mailbox
/// `mailbox` through `scheme` (`imaps` or `imap`), with `extra` account keys.
fn write_config(
    popget: &Popget,
    dovecot: &Dovecot,
    scheme: &str,
    mailbox: &str,
    extra: &str,
) -> String {
    let to = dovecot.destinations.as_ref().unwrap();
    let port = if scheme == "imaps" {
        to.imaps_port
    } else {
        to.imap_port
    };
    let config = popget.path("config.toml");
    std::fs::write(
        &config,
        format!(
            "[destinations.home]\nimap = \"{scheme}://bob@127.0.0.1:{port}/{mailbox}\"\n\
             ca_file = \"{}\"\npassword_command = \"echo secret\"\n\n\
             [accounts.isp]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"alice\"\ntls = \"none\"\n\
             auth = \"user\"\ndeliver_to = \"home\"\n{extra}\n",
            dovecot.certificate().display(),
            dovecot.pop3_port
        ),
    )
    .unwrap();
    config.to_str().unwrap().to_string()
}

#[test]
fn over_tls_byte_for_byte_with_delete_then_nothing() {
    let dovecot = dovecot();
    let messages = tricky_messages();
    for message in &messages {
        dovecot.deliver("alice", message);
    }
    let popget = Popget::new();
    let config = write_config(&popget, &dovecot, "imaps", "INBOX", "delete = true");
    let run = popget.run(&["--config", &config, "fetch"]);
    run.expect_code(0);
    assert!(
        run.stderr()
            .contains("delivered to imaps://bob@127.0.0.1/INBOX"),
        "{}",
        run.stderr()
    );
    assert_eq!(
        maildir_messages(&dovecot.maildir("bob")),
        sorted(messages.clone())
    );
    assert!(dovecot.stored("alice").is_empty(), "deleted once appended");
    popget.run(&["--config", &config, "fetch"]).expect_code(0);
    assert_eq!(
        maildir_messages(&dovecot.maildir("bob")).len(),
        messages.len()
    );
}

/// The state records each message kept on the server with the IMAP URL of where Dovecot put
/// it (its APPENDUID): one per message, all in `mailbox` (as in a URL, `folder` on disk) under
/// one UIDVALIDITY, naming exactly the UIDs that Dovecot's own list gives the stored messages.
fn assert_receipts_name_the_stored_messages(
    popget: &Popget,
    (port, mailbox): (u16, &str),
    folder: &std::path::Path,
    count: usize,
) {
    let state = std::fs::read_dir(popget.state_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|e| e == "state"))
        .expect("a state file");
    let text = std::fs::read_to_string(&state).unwrap();
    assert!(text.starts_with("popget-state 2\n"), "{text}");
    let prefix = format!("imap://bob@127.0.0.1:{port}/{mailbox};UIDVALIDITY=");
    let mut validities = std::collections::BTreeSet::new();
    let mut uids: Vec<u32> = text
        .lines()
        .skip(1)
        .filter(|line| !line.starts_with("end "))
        .map(|line| {
            let receipt = line.rsplit(' ').next().unwrap();
            let rest = receipt
                .strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("{line}"));
            let (validity, uid) = rest.split_once("/;UID=").unwrap();
            validities.insert(validity.to_string());
            uid.parse().unwrap()
        })
        .collect();
    uids.sort_unstable();
    assert_eq!(uids.len(), count, "{text}");
    assert_eq!(validities.len(), 1, "{validities:?}");
    let listed = std::fs::read_to_string(folder.join("dovecot-uidlist")).unwrap();
    let mut stored: Vec<u32> = listed
        .lines()
        .skip(1)
        .map(|line| line.split(' ').next().unwrap().parse().unwrap())
        .collect();
    stored.sort_unstable();
    assert_eq!(uids, stored, "{listed}");
    let header = listed.lines().next().unwrap();
    let validity = validities.into_iter().next().unwrap();
    assert!(
        header
            .split(' ')
            .any(|field| field == format!("V{validity}")),
        "UIDVALIDITY {validity} is not in {header:?}"
    );
}

#[test]
fn over_starttls_into_a_mailbox_created_on_trycreate_kept_on_the_server_with_receipts() {
    let dovecot = dovecot();
    dovecot.deliver("alice", b"Subject: one\nMessage-ID: <1@test>\n\nfirst\n");
    dovecot.deliver("alice", b"Subject: two\n\nsecond, no Message-ID\n");
    let popget = Popget::new();
    let config = write_config(&popget, &dovecot, "imap", "Old%20ISP", "");
    popget.run(&["--config", &config, "fetch"]).expect_code(0);
    let folder = dovecot.maildir("bob").join(".Old ISP");
    assert_eq!(maildir_messages(&folder).len(), 2, "{}", folder.display());
    assert_eq!(dovecot.stored("alice").len(), 2, "keep is the default");
    // Unread: no flags were asked for.
    let names: Vec<String> = std::fs::read_dir(folder.join("new"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "both unseen, in new/: {names:?}");
    let port = dovecot.destinations.as_ref().unwrap().imap_port;
    assert_receipts_name_the_stored_messages(&popget, (port, "Old%20ISP"), &folder, 2);
    popget.run(&["--config", &config, "fetch"]).expect_code(0);
    assert_eq!(maildir_messages(&folder).len(), 2);
}

#[test]
fn a_refused_destination_login_stops_before_anything_is_fetched() {
    let dovecot = dovecot();
    dovecot.deliver("alice", b"Subject: one\n\nbody\n");
    let popget = Popget::new();
    let config = write_config(&popget, &dovecot, "imaps", "INBOX", "delete = true");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("echo secret", "echo wrong");
    std::fs::write(&config, text).unwrap();
    let run = popget.run(&["--config", &config, "fetch"]);
    run.expect_code(77);
    assert!(
        run.stderr().contains("refused the login of bob"),
        "{}",
        run.stderr()
    );
    assert_eq!(dovecot.stored("alice").len(), 1);
    assert!(maildir_messages(&dovecot.maildir("bob")).is_empty());
}

/// `kill -9` at random moments while 300 messages are appended with `--delete`, then a healthy
/// run, round after round until popget was killed at least 100 times: every message is in the
/// IMAP mailbox exactly once and none is left on the server.
#[test]
fn exactly_once_across_sigkill() {
    const COUNT: u64 = 300;
    const KILLS: u64 = 100;
    let dovecot = dovecot();
    let popget = Popget::new();
    let config = write_config(&popget, &dovecot, "imaps", "INBOX", "delete = true");
    let crashes = crash_rounds(
        0x1a9_0001,
        KILLS,
        |round| {
            for n in 0..COUNT {
                let body = format!(
                    "Subject: crash {round}.{n}\nMessage-ID: <{round}.{n}@crash.test>\n\n{}\n",
                    "line\n".repeat(n as usize % 40)
                );
                dovecot.deliver("alice", body.as_bytes());
            }
        },
        || {
            let mut command = popget.command();
            command
                .env("POPGET_PASSWORD", "secret")
                .args(["--config", &config, "fetch"]);
            command
        },
        || dovecot.stored("alice").is_empty(),
    );
    let expected = (0..crashes.rounds)
        .flat_map(|round| (0..COUNT).map(move |n| format!("<{round}.{n}@crash.test>")));
    let (lost, duplicated) = lost_and_duplicated(&dovecot.maildir("bob"), expected);
    eprintln!("IMAP crash suite: {crashes:?}, {lost} lost, {duplicated} duplicated");
    assert_eq!((lost, duplicated), (0, 0));
}

#[test]
fn the_destination_dialogue_is_traced_without_secrets() {
    let dovecot = dovecot();
    dovecot.deliver("alice", b"Subject: one\n\nbody\n");
    let popget = Popget::new();
    let config = write_config(&popget, &dovecot, "imaps", "INBOX", "");
    let run = popget.run(&["--config", &config, "-v", "fetch"]);
    run.expect_code(0);
    let stderr = run.stderr();
    assert!(stderr.contains("popget: isp to home: C: "), "{stderr}");
    assert!(stderr.contains("APPEND"), "{stderr}");
    // bob's password, alone or inside SASL PLAIN's base64 (\0bob\0secret).
    assert!(!stderr.contains("secret"), "{stderr}");
    assert!(!stderr.contains("AGJvYgBzZWNyZXQ"), "{stderr}");
}
