//! Quirks of real servers and big providers, modelled with the fake server: capabilities that
//! appear only after login (Gmail), status lines that are not exactly `+OK`/`-ERR`, odd UIDL and
//! LIST listings, a greeting without an APOP timestamp, and a server without TOP.
//!
//! Covered elsewhere, not repeated here: Microsoft 365's two-step `AUTH XOAUTH2` (a bare `+`,
//! then the token on its own line) in tests/oauth.rs
//! (`xoauth2_microsoft_two_step_form_for_long_tokens`), and CAPA answered `-ERR` in
//! tests/fake_server.rs (`works_with_a_server_that_has_no_capa`).

use crate::harness::fake::{numbered_messages, FakeServer, Script};
use crate::harness::{maildir_messages, sorted, Popget};

fn run(
    popget: &Popget,
    server: &FakeServer,
    command: &[&str],
    extra: &[&str],
) -> crate::harness::Run {
    let mut args: Vec<String> = command.iter().map(|s| s.to_string()).collect();
    args.extend(server.args());
    args.extend(extra.iter().map(|s| s.to_string()));
    popget.run(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn fetch(popget: &Popget, server: &FakeServer, extra: &[&str]) -> crate::harness::Run {
    let maildir = popget.path("m").display().to_string();
    let mut args = vec!["--auth", "user", "--maildir", &maildir];
    args.extend_from_slice(extra);
    run(popget, server, &["fetch"], &args)
}

fn bodies(messages: &[(String, Vec<u8>)]) -> Vec<Vec<u8>> {
    sorted(messages.iter().map(|(_, m)| m.clone()).collect())
}

#[test]
fn gmail_capabilities_after_login() {
    // Gmail's POP3 announces UIDL, TOP and PIPELINING only to a logged-in client.
    let messages = numbered_messages(3);
    let server = FakeServer::start(Script {
        tls: true,
        capa: Some(vec![
            "USER".into(),
            "RESP-CODES".into(),
            "SASL PLAIN XOAUTH2 OAUTHBEARER".into(),
        ]),
        capa_after_login: Some(vec![
            "USER".into(),
            "RESP-CODES".into(),
            "UIDL".into(),
            "TOP".into(),
            "PIPELINING".into(),
        ]),
        messages: messages.clone(),
        ..Script::default()
    });
    let popget = Popget::new();
    // Keep mode needs UIDL: refused if popget judged by the CAPA before login.
    fetch(&popget, &server, &[]).expect_code(0);
    assert_eq!(maildir_messages(&popget.path("m")), bodies(&messages));
    let commands = server.commands();
    let pass = commands.iter().position(|c| c.starts_with("PASS")).unwrap();
    assert!(
        commands[pass..].iter().any(|c| c == "CAPA"),
        "no CAPA after login: {commands:?}"
    );
    // The second run recognises everything by UIDL.
    let again = fetch(&popget, &server, &[]);
    again.expect_code(0);
    assert_eq!(again.stderr(), "");
    // TOP, announced only after login, works for the scripting commands.
    let top = run(&popget, &server, &["top", "2", "0"], &["--auth", "user"]);
    top.expect_code(0);
    assert_eq!(top.stdout(), "Subject: 2\n\n");
}

#[test]
fn err_glued_to_its_text_is_still_a_refusal() {
    // Tolerant form: `-ERR` followed directly by text (no space) is unambiguously negative, so
    // it is taken as a refusal with its response code, not as a protocol violation.
    let mut script = Script {
        messages: numbered_messages(1),
        ..Script::default()
    };
    script
        .overrides
        .insert("PASS secret".into(), "-ERR[AUTH] invalid password".into());
    let server = FakeServer::start(script);
    let popget = Popget::new();
    let run = fetch(&popget, &server, &[]);
    run.expect_code(77);
    assert!(
        run.stderr().contains("invalid password"),
        "{}",
        run.stderr()
    );

    let mut script = Script {
        messages: numbered_messages(1),
        ..Script::default()
    };
    script
        .overrides
        .insert("PASS secret".into(), "-ERR[IN-USE] mailbox locked".into());
    let server = FakeServer::start(script);
    fetch(&popget, &server, &[]).expect_code(75);
}

#[test]
fn positive_replies_must_be_exactly_plus_ok() {
    // Strict: anything that starts with `+` but is not `+OK` alone or `+OK ` is a protocol
    // violation (exit 76): nothing is delivered or deleted on a reply that might not be success.
    for answer in [
        "+OKAY 1 message follows",
        "+ok",
        "+OK1 15",
        "+ 1 15",
        "+Yes",
    ] {
        let messages = numbered_messages(1);
        let mut script = Script {
            messages: messages.clone(),
            ..Script::default()
        };
        script.overrides.insert("STAT".into(), answer.into());
        script.overrides.insert("LIST 1".into(), answer.into());
        script.overrides.insert("RETR 1".into(), answer.into());
        let server = FakeServer::start(script);
        let popget = Popget::new();
        let run = fetch(&popget, &server, &["--delete"]);
        run.expect_code(76);
        assert!(
            maildir_messages(&popget.path("m")).is_empty(),
            "delivered after {answer:?}"
        );
        assert_eq!(server.remaining().len(), 1, "deleted after {answer:?}");
    }
}

#[test]
fn extra_spaces_in_uidl_and_uidls_over_70_characters() {
    // RFC 1939 says one space and at most 70 characters; servers send more of both.
    let long = format!("{}-long", "x".repeat(200));
    let messages = vec![
        (long.clone(), b"Subject: long id\n\nx\n".to_vec()),
        ("spaced".to_string(), b"Subject: spaced\n\ny\n".to_vec()),
    ];
    let mut script = Script {
        messages: messages.clone(),
        ..Script::default()
    };
    script.overrides.insert(
        "UIDL".into(),
        format!("+OK\r\n1 {long}\r\n2    spaced  \r\n."),
    );
    let server = FakeServer::start(script);
    let popget = Popget::new();
    fetch(&popget, &server, &[]).expect_code(0);
    assert_eq!(maildir_messages(&popget.path("m")), bodies(&messages));
    let again = fetch(&popget, &server, &[]);
    again.expect_code(0);
    assert_eq!(again.stderr(), "", "the ids were not recognised again");
    // uidl prints the ids as the server meant them.
    let uidl = run(&popget, &server, &["uidl"], &["--auth", "user"]);
    uidl.expect_code(0);
    assert_eq!(uidl.stdout(), format!("1 {long}\n2 spaced\n"));
}

#[test]
fn list_sizes_of_zero_and_absurd() {
    // A size of 0 for a small message is within the tolerance (1 KiB plus 1/16 of the LIST
    // size) and is delivered unchanged.
    let messages = numbered_messages(3);
    let mut script = Script {
        messages: messages.clone(),
        ..Script::default()
    };
    script
        .overrides
        .insert("LIST".into(), "+OK\r\n1 0\r\n2 0\r\n3 0\r\n.".into());
    // The sync points after the batches ask for sizes again.
    for n in 1..=3 {
        script
            .overrides
            .insert(format!("LIST {n}"), format!("+OK {n} 0"));
    }
    let server = FakeServer::start(script);
    let popget = Popget::new();
    fetch(&popget, &server, &["--delete"]).expect_code(0);
    assert_eq!(maildir_messages(&popget.path("m")), bodies(&messages));
    assert!(server.remaining().is_empty());

    // Sizes far beyond the message (up to u64::MAX) mean the body is not the message LIST
    // described: a protocol error, with nothing of that batch delivered and nothing deleted.
    // Message 1 (size 0) is a batch of its own and delivered.
    let mut script = Script {
        messages: messages.clone(),
        ..Script::default()
    };
    script.overrides.insert(
        "LIST".into(),
        "+OK\r\n1 0\r\n2 18446744073709551615\r\n3 18446744073709551615\r\n.".into(),
    );
    script.overrides.insert("LIST 1".into(), "+OK 1 0".into());
    let server = FakeServer::start(script);
    let popget = Popget::new();
    let run = fetch(&popget, &server, &["--delete"]);
    run.expect_code(76);
    assert!(
        run.stderr()
            .contains("message 2 has 19 octets where LIST announced"),
        "{}",
        run.stderr()
    );
    assert_eq!(maildir_messages(&popget.path("m")), [messages[0].1.clone()]);
    assert_eq!(server.remaining().len(), 3);
}

#[test]
fn greeting_without_apop_timestamp() {
    // No `<...>` in the greeting: APOP is impossible. Asked for explicitly, it is refused before
    // any credential is sent; USER/PASS (asked for) still works.
    let server = FakeServer::start(Script {
        greeting: "+OK POP3 server ready".into(),
        messages: numbered_messages(1),
        ..Script::default()
    });
    let popget = Popget::new();
    let maildir = popget.path("m").display().to_string();
    let run = run(
        &popget,
        &server,
        &["fetch"],
        &["--auth", "apop", "--maildir", &maildir],
    );
    run.expect_code(69);
    assert!(run.stderr().contains("APOP"), "{}", run.stderr());
    assert!(
        !server
            .commands()
            .iter()
            .any(|c| c.starts_with("APOP") || c.starts_with("USER") || c.starts_with("PASS")),
        "{:?}",
        server.commands()
    );
    fetch(&popget, &server, &[]).expect_code(0);
    assert_eq!(maildir_messages(&popget.path("m")).len(), 1);
}

#[test]
fn top_missing() {
    // A server without TOP (not announced, answered -ERR): fetch never needs it; `popget top`
    // fails with the server's refusal; `list --headers` still lists, with empty header fields.
    let messages = numbered_messages(2);
    let mut script = Script {
        capa: Some(vec!["USER".into(), "UIDL".into()]),
        messages: messages.clone(),
        ..Script::default()
    };
    for n in 1..=2 {
        script
            .overrides
            .insert(format!("TOP {n} 0"), "-ERR unknown command".into());
    }
    let server = FakeServer::start(script);
    let popget = Popget::new();
    fetch(&popget, &server, &[]).expect_code(0);
    assert_eq!(maildir_messages(&popget.path("m")), bodies(&messages));
    assert!(!server.commands().iter().any(|c| c.starts_with("TOP")));
    let top = run(&popget, &server, &["top", "1", "0"], &["--auth", "user"]);
    assert_ne!(top.code(), 0);
    assert!(top.stdout().is_empty());
    assert!(top.stderr().contains("TOP"), "{}", top.stderr());
    let list = run(
        &popget,
        &server,
        &["list", "--headers"],
        &["--auth", "user"],
    );
    list.expect_code(0);
    assert_eq!(list.stdout(), "1 22 uid-1\t\t\t\n2 22 uid-2\t\t\t\n");
}
