//! The scripting commands (stat, list, uidl, retr, top, dele, info), their JSON forms, account
//! URLs and `fetch --json`, against a real Dovecot.

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::dovecot::Dovecot;
use crate::harness::{sorted, tricky_messages, Popget};

/// Dovecot with the tricky messages, in a known order.
fn dovecot_with_mail() -> (Dovecot, Vec<Vec<u8>>) {
    let dovecot = Dovecot::start();
    let messages = tricky_messages();
    for message in &messages {
        dovecot.deliver("alice", message);
    }
    (dovecot, messages)
}

fn run(popget: &Popget, dovecot: &Dovecot, command: &str, extra: &[&str]) -> crate::harness::Run {
    let connection = dovecot.args("implicit", "alice");
    let mut args = vec![command];
    args.extend(extra);
    args.extend(connection.iter().map(String::as_str));
    popget.run(&args)
}

fn json(run: &crate::harness::Run) -> Value {
    serde_json::from_slice(&run.output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", run.stdout()))
}

/// Size on the wire as Dovecot reports it: every LF counts as CRLF.
fn wire_size(message: &[u8]) -> u64 {
    (message.len() + message.iter().filter(|&&b| b == b'\n').count()) as u64
}

#[test]
fn stat_counts_what_the_server_holds() {
    let (dovecot, messages) = dovecot_with_mail();
    let popget = Popget::new();
    let total: u64 = messages.iter().map(|m| wire_size(m)).sum();
    let run = run(&popget, &dovecot, "stat", &[]);
    run.expect_code(0);
    assert_eq!(run.stdout(), format!("{} {total}\n", messages.len()));
    let run = crate::scripting::run(&popget, &dovecot, "stat", &["--json"]);
    let value = json(run.expect_code(0));
    assert_eq!(value["messages"], messages.len());
    assert_eq!(value["octets"], total);
}

#[test]
fn list_and_uidl_agree_with_the_server_in_text_and_json() {
    let (dovecot, messages) = dovecot_with_mail();
    let popget = Popget::new();
    let list = run(&popget, &dovecot, "list", &[]);
    list.expect_code(0);
    let lines: Vec<Vec<String>> = list
        .stdout()
        .lines()
        .map(|l| l.split(' ').map(str::to_string).collect())
        .collect();
    assert_eq!(lines.len(), messages.len());
    let mut sizes: Vec<u64> = lines.iter().map(|l| l[1].parse().unwrap()).collect();
    sizes.sort();
    let mut expected: Vec<u64> = messages.iter().map(|m| wire_size(m)).collect();
    expected.sort();
    assert_eq!(sizes, expected);

    let uidl = run(&popget, &dovecot, "uidl", &[]);
    uidl.expect_code(0);
    let from_list: Vec<String> = lines.iter().map(|l| format!("{} {}", l[0], l[2])).collect();
    assert_eq!(uidl.stdout().lines().collect::<Vec<_>>(), from_list);

    let value = json(run(&popget, &dovecot, "list", &["--json"]).expect_code(0));
    let entries = value["messages"].as_array().unwrap();
    assert_eq!(entries.len(), messages.len());
    assert_eq!(entries[0]["number"], 1);
    assert_eq!(entries[0]["uidl"], lines[0][2].as_str());
    assert_eq!(entries[0]["size"], lines[0][1].parse::<u64>().unwrap());

    let value = json(run(&popget, &dovecot, "uidl", &["--json", "2"]).expect_code(0));
    assert_eq!(value["messages"][0]["number"], 2);
    assert_eq!(value["messages"][0]["uidl"], lines[1][2].as_str());

    let one = run(&popget, &dovecot, "list", &["3"]);
    assert_eq!(
        one.expect_code(0).stdout(),
        format!("{}\n", lines[2].join(" "))
    );
}

#[test]
fn list_headers_decodes_and_defuses_hostile_header_text() {
    let dovecot = Dovecot::start();
    dovecot.deliver(
        "alice",
        b"From: =?UTF-8?B?SsO8cmdlbg==?= <j@example.org>\nSubject: \x1b[31mRED\x1b[0m =?ISO-8859-1?Q?caf=E9?=\nDate: Mon, 23 Nov 2026 10:00:00 +0000\n\nbody\n",
    );
    let popget = Popget::new();
    let run = run(&popget, &dovecot, "list", &["--headers"]);
    let out = run.expect_code(0).stdout();
    assert!(
        !out.contains('\x1b'),
        "an escape sequence reached the terminal: {out:?}"
    );
    let fields: Vec<&str> = out.trim_end().split('\t').collect();
    assert_eq!(fields[1], "Jürgen <j@example.org>");
    assert!(
        fields[2].contains("RED") && fields[2].ends_with("café"),
        "{fields:?}"
    );
    assert_eq!(fields[3], "Mon, 23 Nov 2026 10:00:00 +0000");
    let value = json(
        crate::scripting::run(&popget, &dovecot, "list", &["--headers", "--json"]).expect_code(0),
    );
    assert_eq!(value["messages"][0]["from"], "Jürgen <j@example.org>");
}

#[test]
fn retr_writes_exactly_what_fetch_stores() {
    let (dovecot, messages) = dovecot_with_mail();
    let popget = Popget::new();
    let mut got = Vec::new();
    for n in 1..=messages.len() {
        let run = run(&popget, &dovecot, "retr", &[&n.to_string()]);
        got.push(run.expect_code(0).output.stdout.clone());
    }
    assert_eq!(sorted(got), sorted(messages.clone()));

    let crlf = run(&popget, &dovecot, "retr", &["--crlf", "1"]);
    let lf = run(&popget, &dovecot, "retr", &["1"]);
    let converted: Vec<u8> = String::from_utf8_lossy(&crlf.expect_code(0).output.stdout)
        .replace("\r\n", "\n")
        .into_bytes();
    assert_eq!(converted, lf.output.stdout);
    assert!(crlf.output.stdout.windows(2).any(|w| w == b"\r\n"));

    // By unique id.
    let uidl = run(&popget, &dovecot, "uidl", &["2"]).stdout();
    let uid = uidl.split_whitespace().nth(1).unwrap().to_string();
    let by_uid = run(&popget, &dovecot, "retr", &["--uidl", &uid]);
    assert_eq!(
        by_uid.expect_code(0).output.stdout,
        run(&popget, &dovecot, "retr", &["2"]).output.stdout
    );
    let missing = run(&popget, &dovecot, "retr", &["--uidl", "no-such-id"]);
    missing.expect_code(69);
}

#[test]
fn retr_into_a_reader_that_closes_early_exits_0_promptly() {
    let dovecot = Dovecot::start();
    let mut big = b"Subject: big\n\n".to_vec();
    while big.len() < 60 * 1024 * 1024 {
        big.extend_from_slice(
            b"0123456789 abcdefghijklmnopqrstuvwxyz 0123456789 abcdefghijklmnopqrstuvwxyz\n",
        );
    }
    dovecot.deliver("alice", &big);
    let popget = Popget::new();
    let connection = dovecot.args("implicit", "alice");
    let mut command = popget.command();
    command
        .env("POPGET_PASSWORD", "secret")
        .arg("retr")
        .arg("1")
        .args(&connection);
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut head = [0u8; 100];
    stdout.read_exact(&mut head).unwrap();
    assert!(head.starts_with(b"Subject: big\n"));
    drop(stdout);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "popget kept going after the reader left"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(stderr, "");
}

#[test]
fn top_prints_headers_and_the_first_lines() {
    let dovecot = Dovecot::start();
    dovecot.deliver("alice", b"Subject: top\nFrom: a@b\n\none\ntwo\nthree\n");
    let popget = Popget::new();
    let run = run(&popget, &dovecot, "top", &["1", "2"]);
    assert_eq!(
        run.expect_code(0).stdout(),
        "Subject: top\nFrom: a@b\n\none\ntwo\n"
    );
    let usage = crate::scripting::run(&popget, &dovecot, "top", &["1"]);
    usage.expect_code(64);
}

#[test]
fn dele_deletes_and_prints_what_the_server_confirmed() {
    let dovecot = Dovecot::start();
    for i in 0..3 {
        dovecot.deliver("alice", format!("Subject: {i}\n\nx\n").as_bytes());
    }
    let popget = Popget::new();
    let run = run(&popget, &dovecot, "dele", &["1", "3"]);
    assert_eq!(run.expect_code(0).stdout(), "1 deleted\n3 deleted\n");
    assert_eq!(dovecot.stored("alice").len(), 1);
    let missing = crate::scripting::run(&popget, &dovecot, "dele", &["9"]);
    missing.expect_code(75);
    assert_eq!(dovecot.stored("alice").len(), 1);
}

#[test]
fn info_shows_capabilities_and_the_certificate_fingerprint() {
    let dovecot = Dovecot::start();
    let popget = Popget::new();
    let der = std::process::Command::new("openssl")
        .args(["x509", "-outform", "der", "-in"])
        .arg(dovecot.certificate())
        .output()
        .unwrap()
        .stdout;
    let expected = format!(
        "SHA256:{}",
        popget::transport::fingerprint(&der).trim_start_matches("SHA256:")
    );
    let connection = dovecot.args("starttls", "alice");
    let mut args = vec!["info", "--json", "--login"];
    args.extend(connection.iter().map(String::as_str));
    let value = json(popget.run(&args).expect_code(0));
    assert_eq!(value["certificate"]["sha256"], expected.as_str());
    assert!(value["certificate"]["subject"]
        .as_str()
        .unwrap()
        .contains("CN=localhost"));
    let before: Vec<&str> = value["capabilities_before_tls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(before.contains(&"STLS"), "{before:?}");
    assert!(value["logged_in"].as_bool().unwrap());
    assert!(value["capabilities_after_login"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "PIPELINING"));
    assert!(value["greeting"].as_str().unwrap().starts_with("+OK"));

    // Human form, and without --login: no login, still the certificate.
    args.retain(|a| *a != "--json" && *a != "--login");
    let run = popget.run_with(popget.command().args(&args));
    let out = run.expect_code(0).stdout();
    assert!(
        out.contains(&format!("certificate fingerprint: {expected}")),
        "{out}"
    );
    assert!(out.contains("not logged in"), "{out}");
}

#[test]
fn account_urls_work_wherever_an_account_name_does() {
    let dovecot = Dovecot::start();
    dovecot.deliver("alice", b"Subject: url\n\nx\n");
    let popget = Popget::new();
    let ca = dovecot.certificate_arg();
    let url = format!("pop3s://alice@127.0.0.1:{}", dovecot.pop3s_port);
    let run = popget.run(&["stat", "-a", &url, "--ca-file", &ca]);
    assert_eq!(
        run.expect_code(0).stdout(),
        format!("1 {}\n", wire_size(b"Subject: url\n\nx\n"))
    );
    let starttls = format!("pop3://alice@127.0.0.1:{}", dovecot.pop3_port);
    let maildir = popget.path("m");
    let run = popget.run(&[
        "fetch",
        &starttls,
        "--ca-file",
        &ca,
        "--maildir",
        maildir.to_str().unwrap(),
        "-v",
    ]);
    run.expect_code(0);
    assert!(run.stderr().contains("C: STLS"), "{}", run.stderr());
    let apop = format!("pop://alice;AUTH=+APOP@127.0.0.1:{}", dovecot.pop3_port);
    let run = popget.run(&["uidl", "-a", &apop, "--tls", "none", "-v"]);
    run.expect_code(0);
    assert!(
        run.stderr().contains("C: APOP alice ***"),
        "{}",
        run.stderr()
    );
    popget
        .run(&["stat", "-a", "pop3s://alice:pw@127.0.0.1"])
        .expect_code(78);
}

#[test]
fn fetch_json_reports_each_account() {
    let dovecot = Dovecot::start();
    dovecot.deliver("alice", b"Subject: json\n\nx\n");
    let popget = Popget::new();
    let connection = dovecot.args("implicit", "alice");
    let maildir = popget.path("m");
    let mut args = vec!["fetch", "--json", "--maildir", maildir.to_str().unwrap()];
    args.extend(connection.iter().map(String::as_str));
    let run = popget.run(&args);
    let value = json(run.expect_code(0));
    assert_eq!(
        run.stderr(),
        "",
        "with --json the summary goes to stdout only"
    );
    assert_eq!(value["exit_code"], 0);
    assert_eq!(value["accounts"][0]["account"], "alice@127.0.0.1");
    assert_eq!(value["accounts"][0]["delivered"], 1);
    assert_eq!(
        value["accounts"][0]["octets"],
        b"Subject: json\n\nx\n".len()
    );
    assert_eq!(value["accounts"][0]["error"], Value::Null);
}

#[test]
fn fetch_progress_is_drawn_only_when_asked_off_a_terminal() {
    let dovecot = Dovecot::start();
    dovecot.deliver("alice", b"Subject: p\n\nx\n");
    let popget = Popget::new();
    let connection = dovecot.args("implicit", "alice");
    let maildir = popget.path("m");
    let mut args = vec!["fetch", "--all", "--maildir", maildir.to_str().unwrap()];
    args.extend(connection.iter().map(String::as_str));
    let quiet = popget.run(&args);
    assert!(
        !quiet.expect_code(0).stderr().contains("messages "),
        "{}",
        quiet.stderr()
    );
    args.extend(["--progress", "always"]);
    let drawn = popget.run(&args);
    assert!(
        drawn.expect_code(0).stderr().contains("1/1 messages"),
        "{}",
        drawn.stderr()
    );
}
