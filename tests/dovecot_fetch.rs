//! `popget fetch` against a real Dovecot: every TLS mode and login method, Maildir and mbox
//! byte for byte, keep and delete, repeated runs.

use crate::harness::dovecot::{Dovecot, Options};
use crate::harness::{maildir_messages, parse_mboxrd, sorted, tricky_messages, Popget};

fn fetch_args<'a>(dovecot: &'a [String], extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["fetch"];
    args.extend(dovecot.iter().map(String::as_str));
    args.extend_from_slice(extra);
    args
}

#[test]
fn pop3s_into_maildir_byte_for_byte_then_nothing_then_only_new_mail() {
    let dovecot = Dovecot::start();
    let messages = tricky_messages();
    for message in &messages {
        dovecot.deliver("alice", message);
    }
    let popget = Popget::new();
    let maildir = popget.path("Mail/inbox");
    let connection = dovecot.args("implicit", "alice");
    let args = fetch_args(&connection, &["--maildir", maildir.to_str().unwrap()]);

    let run = popget.run(&args);
    run.expect_code(0);
    assert_eq!(maildir_messages(&maildir), sorted(messages.clone()));
    assert!(
        run.stderr().starts_with(&format!(
            "alice@127.0.0.1: {} new messages (",
            messages.len()
        )),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr().contains("delivered to ~/Mail/inbox"),
        "{}",
        run.stderr()
    );
    assert!(run.output.stdout.is_empty());
    // Keep is the default: the server still has everything.
    assert_eq!(dovecot.stored("alice").len(), messages.len());

    // A second run fetches nothing and says nothing (cron).
    let run = popget.run(&args);
    run.expect_code(0);
    assert_eq!(run.stderr(), "");
    assert_eq!(maildir_messages(&maildir).len(), messages.len());

    // New mail: only it is fetched.
    dovecot.deliver("alice", b"Subject: newer\n\nfresh\n");
    let run = popget.run(&args);
    run.expect_code(0);
    assert!(
        run.stderr().starts_with("alice@127.0.0.1: 1 new message ("),
        "{}",
        run.stderr()
    );
    let mut expected = messages;
    expected.push(b"Subject: newer\n\nfresh\n".to_vec());
    assert_eq!(maildir_messages(&maildir), sorted(expected));
}

#[test]
fn maildir_files_carry_their_size_and_nothing_stays_in_tmp() {
    let dovecot = Dovecot::start();
    dovecot.deliver("alice", b"Subject: size\n\n12345\n");
    let popget = Popget::new();
    let maildir = popget.path("mail");
    let connection = dovecot.args("implicit", "alice");
    popget
        .run(&fetch_args(
            &connection,
            &["--maildir", maildir.to_str().unwrap()],
        ))
        .expect_code(0);
    let names: Vec<String> = std::fs::read_dir(maildir.join("new"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 1);
    assert!(names[0].ends_with(",S=21"), "{names:?}");
    assert_eq!(std::fs::read_dir(maildir.join("tmp")).unwrap().count(), 0);
}

#[test]
fn starttls_into_mbox_byte_for_byte() {
    let dovecot = Dovecot::start();
    let messages = tricky_messages();
    for message in &messages {
        dovecot.deliver("alice", message);
    }
    let popget = Popget::new();
    let mbox = popget.path("mbox");
    let connection = dovecot.args("starttls", "alice");
    let mut args = fetch_args(&connection, &["--mbox", mbox.to_str().unwrap(), "-v"]);
    args.push("--quiet");
    args.retain(|a| *a != "-v");
    popget.run(&args).expect_code(0);
    let text = std::fs::read(&mbox).unwrap();
    assert_eq!(sorted(parse_mboxrd(&text)), sorted(messages.clone()));
    // The sender from Return-Path is on the From_ line; the rest have MAILER-DAEMON.
    let from_lines: Vec<&[u8]> = text
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"From "))
        .collect();
    assert_eq!(from_lines.len(), messages.len());
    assert!(from_lines
        .iter()
        .any(|l| l.starts_with(b"From sender@example.org ")));
    assert!(from_lines
        .iter()
        .any(|l| l.starts_with(b"From MAILER-DAEMON ")));
}

#[test]
fn starttls_sends_credentials_only_after_the_handshake() {
    let dovecot = Dovecot::start();
    let popget = Popget::new();
    let connection = dovecot.args("starttls", "alice");
    let maildir = popget.path("m");
    let run = popget.run(&fetch_args(
        &connection,
        &["--maildir", maildir.to_str().unwrap(), "-v"],
    ));
    run.expect_code(0);
    let trace = run.stderr();
    let stls = trace.find("C: STLS").expect("STLS was sent");
    // auto chooses SASL PLAIN, the strongest this Dovecot offers, inside TLS.
    let login = trace
        .find("C: AUTH PLAIN ***")
        .expect("AUTH PLAIN was sent");
    assert!(stls < login, "{trace}");
    assert!(
        !trace.contains("secret"),
        "the password leaked into the trace:\n{trace}"
    );
}

#[test]
fn plain_with_explicit_user_and_delete_empties_the_server() {
    let dovecot = Dovecot::start();
    for i in 0..5 {
        dovecot.deliver("alice", format!("Subject: {i}\n\nbody {i}\n").as_bytes());
    }
    let popget = Popget::new();
    let maildir = popget.path("m");
    let connection = dovecot.args("none", "alice");
    let run = popget.run(&fetch_args(
        &connection,
        &[
            "--auth",
            "user",
            "--delete",
            "--maildir",
            maildir.to_str().unwrap(),
        ],
    ));
    run.expect_code(0);
    assert!(
        run.stderr().contains("5 new messages") && run.stderr().ends_with(", 5 deleted\n"),
        "{}",
        run.stderr()
    );
    assert_eq!(maildir_messages(&maildir).len(), 5);
    assert!(
        dovecot.stored("alice").is_empty(),
        "the server still holds mail"
    );
    // Deleted messages are forgotten once the server confirmed (the state file is small).
    let state = std::fs::read_to_string(
        popget
            .state_dir()
            .join(format!("alice@127.0.0.1_{}.state", dovecot.pop3_port)),
    )
    .unwrap();
    assert_eq!(state, "popget-state 1\nend 0\n");
}

#[test]
fn switching_from_keep_to_delete_deletes_without_downloading_again() {
    let dovecot = Dovecot::start();
    for i in 0..3 {
        dovecot.deliver("alice", format!("Subject: {i}\n\nbody\n").as_bytes());
    }
    let popget = Popget::new();
    let maildir = popget.path("m");
    let connection = dovecot.args("implicit", "alice");
    popget
        .run(&fetch_args(
            &connection,
            &["--maildir", maildir.to_str().unwrap()],
        ))
        .expect_code(0);
    let run = popget.run(&fetch_args(
        &connection,
        &["--maildir", maildir.to_str().unwrap(), "--delete", "-v"],
    ));
    run.expect_code(0);
    assert!(!run.stderr().contains("C: RETR"), "{}", run.stderr());
    assert_eq!(run.stderr().matches("C: DELE").count(), 3);
    assert_eq!(maildir_messages(&maildir).len(), 3);
    assert!(dovecot.stored("alice").is_empty());
}

#[test]
fn apop_over_plain_is_chosen_automatically() {
    let dovecot = Dovecot::start();
    dovecot.deliver("alice", b"Subject: apop\n\nhi\n");
    let popget = Popget::new();
    let maildir = popget.path("m");
    let connection = dovecot.args("none", "alice");
    let run = popget.run(&fetch_args(
        &connection,
        &["--maildir", maildir.to_str().unwrap(), "-v"],
    ));
    run.expect_code(0);
    assert!(
        run.stderr().contains("C: APOP alice ***"),
        "{}",
        run.stderr()
    );
    assert!(!run.stderr().contains("C: USER") && !run.stderr().contains("C: PASS"));
    assert_eq!(
        maildir_messages(&maildir),
        [b"Subject: apop\n\nhi\n".to_vec()]
    );
    assert!(dovecot.log().contains("method=APOP"), "{}", dovecot.log());
}

#[test]
fn auto_over_plain_without_apop_sends_no_password() {
    let dovecot = Dovecot::start_with(Options {
        mechanisms: "plain login",
        ..Options::default()
    });
    let popget = Popget::new();
    let maildir = popget.path("m");
    let connection = dovecot.args("none", "alice");
    let run = popget.run(&fetch_args(
        &connection,
        &["--maildir", maildir.to_str().unwrap(), "-v"],
    ));
    run.expect_code(69);
    assert!(
        !run.stderr().contains("C: USER") && !run.stderr().contains("C: PASS"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr().contains("--auth user"),
        "the hint names the way out: {}",
        run.stderr()
    );
}

#[test]
fn an_untrusted_certificate_is_rejected_before_anything_is_sent() {
    let dovecot = Dovecot::start();
    let popget = Popget::new();
    let maildir = popget.path("m");
    let port = dovecot.pop3s_port.to_string();
    let args = [
        "fetch",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--user",
        "alice",
        "--maildir",
        maildir.to_str().unwrap(),
        "-v",
    ];
    let run = popget.run(&args);
    run.expect_code(69);
    assert!(run.stderr().contains("certificate"), "{}", run.stderr());
    assert!(
        run.stderr().contains("--ca-file"),
        "hint expected: {}",
        run.stderr()
    );
    assert!(
        !run.stderr().contains("C: "),
        "something was sent: {}",
        run.stderr()
    );
    assert!(!dovecot.log().contains("Login: user=<alice>"));

    // --insecure connects but warns.
    let mut insecure = args.to_vec();
    insecure.push("--insecure");
    let run = popget.run(&insecure);
    run.expect_code(0);
    assert!(
        run.stderr().contains("warning: --insecure"),
        "{}",
        run.stderr()
    );
}

#[test]
fn starttls_with_an_untrusted_certificate_sends_no_credentials() {
    let dovecot = Dovecot::start();
    let popget = Popget::new();
    let maildir = popget.path("m");
    let port = dovecot.pop3_port.to_string();
    let run = popget.fetch(
        &port,
        "alice",
        "starttls",
        &["--maildir", maildir.to_str().unwrap(), "-v"],
    );
    run.expect_code(69);
    assert!(run.stderr().contains("C: STLS"));
    assert!(!run.stderr().contains("C: USER"), "{}", run.stderr());
}

#[test]
fn a_wrong_password_exits_77() {
    let dovecot = Dovecot::start();
    let popget = Popget::new();
    let maildir = popget.path("m");
    let connection = dovecot.args("implicit", "alice");
    let args = fetch_args(&connection, &["--maildir", maildir.to_str().unwrap()]);
    let run = popget.run_with(popget.command().env("POPGET_PASSWORD", "wrong").args(&args));
    run.expect_code(77);
    assert!(
        run.stderr()
            .starts_with("popget: alice@127.0.0.1: authentication failed"),
        "{}",
        run.stderr()
    );
}

#[test]
fn password_command_is_used_and_never_shown() {
    let dovecot = Dovecot::start();
    dovecot.deliver("alice", b"Subject: x\n\ny\n");
    let popget = Popget::new();
    let maildir = popget.path("m");
    let connection = dovecot.args("implicit", "alice");
    let args = fetch_args(
        &connection,
        &[
            "--maildir",
            maildir.to_str().unwrap(),
            "--password-command",
            "echo secret",
            "-v",
        ],
    );
    let run = popget.run_with(popget.command().args(&args));
    run.expect_code(0);
    assert!(!run.stderr().contains("secret"), "{}", run.stderr());
    assert_eq!(maildir_messages(&maildir).len(), 1);
}

#[test]
fn config_accounts_are_fetched_by_name_or_all_in_order() {
    let dovecot = Dovecot::start_with(Options {
        users: vec![("alice", "secret"), ("bob", "secret")],
        ..Options::default()
    });
    dovecot.deliver("alice", b"Subject: for alice\n\na\n");
    dovecot.deliver("bob", b"Subject: for bob\n\nb\n");
    let popget = Popget::new();
    let config_dir = popget.path(".config/popget");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("config.toml"),
        format!(
            r#"
[defaults]
host = "127.0.0.1"
port = {port}
ca_file = "{ca}"
password_command = "echo secret"

[accounts.work]
user = "alice"
maildir = "~/Mail/work"

[accounts.home]
user = "bob"
mbox = "~/Mail/home.mbox"
"#,
            port = dovecot.pop3s_port,
            ca = dovecot.certificate_arg()
        ),
    )
    .unwrap();

    let run = popget.run_with(popget.command().args(["fetch", "work"]));
    run.expect_code(0);
    assert_eq!(run.stderr().lines().count(), 1);
    assert!(
        run.stderr().starts_with("work: 1 new message"),
        "{}",
        run.stderr()
    );
    assert!(!popget.path("Mail/home.mbox").exists());

    let run = popget.run_with(popget.command().args(["fetch"]));
    run.expect_code(0);
    assert!(
        run.stderr().starts_with("home: 1 new message"),
        "only home had news: {}",
        run.stderr()
    );
    assert_eq!(
        maildir_messages(&popget.path("Mail/work")),
        [b"Subject: for alice\n\na\n".to_vec()]
    );
    let mbox = std::fs::read(popget.path("Mail/home.mbox")).unwrap();
    assert_eq!(parse_mboxrd(&mbox), [b"Subject: for bob\n\nb\n".to_vec()]);
}

#[test]
fn several_accounts_report_each_failure_and_exit_with_the_first() {
    let dovecot = Dovecot::start();
    let popget = Popget::new();
    let config_dir = popget.path(".config/popget");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("config.toml"),
        format!(
            r#"
[defaults]
host = "127.0.0.1"
port = {port}
ca_file = "{ca}"
maildir = "~/m"

[accounts.wrongpass]
user = "alice"
password_command = "echo nope"

[accounts.good]
user = "alice"
password_command = "echo secret"

[accounts.nouser]
user = "nobody-here"
password_command = "echo secret"
"#,
            port = dovecot.pop3s_port,
            ca = dovecot.certificate_arg()
        ),
    )
    .unwrap();
    let run = popget.run_with(popget.command().args(["fetch"]));
    run.expect_code(77);
    let stderr = run.stderr();
    assert!(
        stderr.contains("popget: wrongpass: authentication failed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("popget: nouser: authentication failed"),
        "{stderr}"
    );
    assert!(!stderr.contains("popget: good:"), "{stderr}");
}

#[test]
fn a_pinned_certificate_is_accepted_exactly() {
    let dovecot = Dovecot::start();
    dovecot.deliver("alice", b"Subject: pinned\n\nx\n");
    let popget = Popget::new();
    let port = dovecot.pop3s_port.to_string();
    // The value to pin, as popget info shows it for a certificate nobody vouches for.
    let info = popget.run(&[
        "info",
        "--json",
        "--insecure",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--user",
        "alice",
    ]);
    let info: serde_json::Value =
        serde_json::from_slice(&info.expect_code(0).output.stdout).unwrap();
    let pin = info["certificate"]["sha256"].as_str().unwrap().to_string();
    let maildir = popget.path("m");
    let maildir = maildir.to_str().unwrap();

    let run = popget.fetch(
        &port,
        "alice",
        "implicit",
        &["--fingerprint", &pin, "--maildir", maildir],
    );
    run.expect_code(0);
    assert!(
        !run.stderr().contains("warning"),
        "a pin is not --insecure: {}",
        run.stderr()
    );
    assert_eq!(maildir_messages(&popget.path("m")).len(), 1);

    let wrong = format!("SHA256:{}", "0".repeat(64));
    let plain_port = dovecot.pop3_port.to_string();
    let run = popget.fetch(
        &plain_port,
        "alice",
        "starttls",
        &["--fingerprint", &wrong, "--maildir", maildir, "-v"],
    );
    run.expect_code(69);
    assert!(
        run.stderr().contains("pinned fingerprint"),
        "{}",
        run.stderr()
    );
    assert!(!run.stderr().contains("C: USER"), "{}", run.stderr());
    popget
        .fetch(
            &port,
            "alice",
            "implicit",
            &["--fingerprint", "SHA256:abc", "--maildir", maildir],
        )
        .expect_code(78);
}

fn sasl_dovecot() -> Dovecot {
    Dovecot::start_with(Options {
        mechanisms: "plain login cram-md5 scram-sha-1 scram-sha-256 apop",
        ..Options::default()
    })
}

#[test]
fn every_sasl_mechanism_logs_in_to_dovecot() {
    let dovecot = sasl_dovecot();
    dovecot.deliver("alice", b"Subject: sasl\n\nx\n");
    for (method, name) in [
        ("plain", "PLAIN"),
        ("login", "LOGIN"),
        ("cram-md5", "CRAM-MD5"),
        ("scram-sha-1", "SCRAM-SHA-1"),
        ("scram-sha-256", "SCRAM-SHA-256"),
    ] {
        let popget = Popget::new();
        let connection = dovecot.args("implicit", "alice");
        let maildir = popget.path("m");
        let run = popget.run(&fetch_args(
            &connection,
            &[
                "--auth",
                method,
                "--maildir",
                maildir.to_str().unwrap(),
                "-v",
            ],
        ));
        run.expect_code(0);
        assert!(
            run.stderr().contains(&format!("C: AUTH {name}")),
            "{method}: {}",
            run.stderr()
        );
        assert!(
            !run.stderr().contains("secret"),
            "{method}: the password leaked: {}",
            run.stderr()
        );
        assert_eq!(maildir_messages(&maildir).len(), 1, "{method}");
        assert!(
            dovecot.log().contains(&format!("method={name}")),
            "{method}: {}",
            dovecot.log()
        );
        let wrong = popget.run_with(popget.command().env("POPGET_PASSWORD", "wrong").args(
            fetch_args(
                &connection,
                &["--auth", method, "--maildir", maildir.to_str().unwrap()],
            ),
        ));
        wrong.expect_code(77);
    }
}

#[test]
fn auto_picks_scram_sha_256_and_never_a_clear_password_without_tls() {
    let dovecot = sasl_dovecot();
    let popget = Popget::new();
    let maildir = popget.path("m");
    for tls in ["implicit", "none"] {
        let connection = dovecot.args(tls, "alice");
        let run = popget.run(&fetch_args(
            &connection,
            &["--maildir", maildir.to_str().unwrap(), "-v"],
        ));
        run.expect_code(0);
        assert!(
            run.stderr().contains("C: AUTH SCRAM-SHA-256"),
            "{tls}: {}",
            run.stderr()
        );
    }
    // Without SCRAM and TLS, CRAM-MD5 keeps the password off the wire.
    let cram = Dovecot::start_with(Options {
        mechanisms: "plain login cram-md5",
        ..Options::default()
    });
    let connection = cram.args("none", "alice");
    let run = popget.run(&fetch_args(
        &connection,
        &["--maildir", maildir.to_str().unwrap(), "-v"],
    ));
    run.expect_code(0);
    assert!(
        run.stderr().contains("C: AUTH CRAM-MD5"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_requested_mechanism_the_server_lacks_is_an_error_not_a_fallback() {
    let dovecot = Dovecot::start_with(Options {
        mechanisms: "plain login",
        ..Options::default()
    });
    let popget = Popget::new();
    let maildir = popget.path("m");
    let connection = dovecot.args("implicit", "alice");
    let run = popget.run(&fetch_args(
        &connection,
        &[
            "--auth",
            "scram-sha-256",
            "--maildir",
            maildir.to_str().unwrap(),
            "-v",
        ],
    ));
    run.expect_code(69);
    assert!(
        run.stderr().contains("does not offer SASL SCRAM-SHA-256"),
        "{}",
        run.stderr()
    );
    assert!(
        !run.stderr().contains("C: AUTH") && !run.stderr().contains("C: USER"),
        "{}",
        run.stderr()
    );
    // OAuth tokens never cross an unencrypted connection.
    let connection = dovecot.args("none", "alice");
    let run = popget.run(&fetch_args(
        &connection,
        &[
            "--auth",
            "xoauth2",
            "--maildir",
            maildir.to_str().unwrap(),
            "-v",
        ],
    ));
    run.expect_code(69);
    assert!(!run.stderr().contains("C: AUTH"), "{}", run.stderr());
}

#[test]
fn the_password_can_come_from_netrc() {
    use std::os::unix::fs::PermissionsExt;
    let dovecot = Dovecot::start();
    dovecot.deliver("alice", b"Subject: netrc\n\nx\n");
    let popget = Popget::new();
    let netrc = popget.path(".netrc");
    std::fs::write(
        &netrc,
        "machine 127.0.0.1\n  login alice\n  password secret\n",
    )
    .unwrap();
    std::fs::set_permissions(&netrc, std::fs::Permissions::from_mode(0o600)).unwrap();
    let connection = dovecot.args("implicit", "alice");
    let maildir = popget.path("m");
    let args = fetch_args(&connection, &["--maildir", maildir.to_str().unwrap()]);
    popget.run_with(popget.command().args(&args)).expect_code(0);
    assert_eq!(maildir_messages(&maildir).len(), 1);
    std::fs::set_permissions(&netrc, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = popget.run_with(popget.command().args(&args));
    run.expect_code(78);
    assert!(run.stderr().contains(".netrc"), "{}", run.stderr());
}
