//! Messages a destination refuses for good are set aside: the run that meets the refusal ends
//! with 73, later runs leave the message on the POP3 server without offering it again and end
//! with 0, `popget quarantine` lists it and `--retry` offers it again. `popget status` says
//! after each step how the account stands, also while the daemon runs. Through the binary,
//! against Dovecot, with an MDA that refuses one message and with Dovecot's LMTP refusing a
//! recipient; a server without UIDL, and damaged status and set-aside files.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::daemon::Daemon;
use crate::harness::dovecot::{Dovecot, Options};
use crate::harness::fake::{numbered_messages, FakeServer, Script};
use crate::harness::{maildir_messages, Popget, Run};

fn message(subject: &str) -> Vec<u8> {
    format!("Return-Path: <sender@example.org>\nSubject: {subject}\n\nbody of {subject}\n")
        .into_bytes()
}

/// popget with the sandbox's `config.toml`.
fn popget_run(popget: &Popget, args: &[&str]) -> Run {
    let config = popget.path("config.toml");
    let mut all = vec!["--config", config.to_str().unwrap()];
    all.extend_from_slice(args);
    popget.run(&all)
}

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout())
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout(), run.stderr()))
}

/// Fails with the run's standard error unless it holds each of `words`.
#[track_caller]
fn says(run: &Run, words: &[&str]) {
    let stderr = run.stderr();
    assert!(
        words.iter().all(|word| stderr.contains(word)),
        "{words:?} not all in:\n{stderr}"
    );
}

/// `popget status isp --json`: the account's entry.
fn status(popget: &Popget) -> Value {
    let run = popget_run(popget, &["status", "isp", "--json"]);
    run.expect_code(0);
    let document = json(&run);
    assert_eq!(document["accounts"].as_array().unwrap().len(), 1);
    document["accounts"][0].clone()
}

/// `popget quarantine --json`: the messages set aside.
fn quarantined(popget: &Popget) -> Vec<Value> {
    let run = popget_run(popget, &["quarantine", "--json"]);
    run.expect_code(0);
    json(&run)["messages"].as_array().unwrap().clone()
}

/// The UIDLs the server lists for the account, in order.
fn server_uidls(popget: &Popget) -> Vec<String> {
    let run = popget_run(popget, &["uidl", "-a", "isp", "--json"]);
    run.expect_code(0);
    json(&run)["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["uidl"].as_str().unwrap().to_string())
        .collect()
}

/// An account `isp` for alice on `dovecot` (plain POP3), its state beside the config, with the
/// destination lines `destination`.
fn write_config(popget: &Popget, dovecot: &Dovecot, destination: &str) {
    let text = format!(
        "[accounts.isp]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"alice\"\ntls = \"none\"\n\
         auth = \"user\"\nstate = \"{}\"\n{destination}\n",
        dovecot.pop3_port,
        popget.path("isp.state").display()
    );
    std::fs::write(popget.path("config.toml"), text).unwrap();
}

/// An MDA that notes each message's subject in `calls`, refuses "reject" with exit 67
/// (EX_NOUSER) until the file `ready` exists, and keeps the others in `out`.
fn refusing_mda(popget: &Popget) -> String {
    let out = popget.path("delivered");
    std::fs::create_dir_all(&out).unwrap();
    let script = popget.path("mda.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nfile=$(mktemp {out}/msgXXXXXX)\ncat > \"$file\"\n\
             grep -m1 '^Subject:' \"$file\" >> {calls}\n\
             if grep -q '^Subject: reject' \"$file\" && [ ! -e {ready} ]; then rm \"$file\"; exit 67; fi\n",
            out = out.display(),
            calls = popget.path("calls").display(),
            ready = popget.path("ready").display(),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    format!("mda = \"{} %F\"\ndelete = true", script.display())
}

/// The subjects the MDA was handed, in order.
fn mda_calls(popget: &Popget) -> Vec<String> {
    std::fs::read_to_string(popget.path("calls"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_refused_message_is_set_aside_once_listed_retried_and_status_follows_each_step() {
    let dovecot = Dovecot::start();
    let popget = Popget::new();
    write_config(&popget, &dovecot, &refusing_mda(&popget));
    for subject in ["one", "reject", "two"] {
        dovecot.deliver("alice", &message(subject));
    }

    // Never checked yet.
    let before = status(&popget);
    assert_eq!(before["last_check"], Value::Null, "{before}");
    assert_eq!(before["set_aside"], 0);
    let table = popget_run(&popget, &["status"]);
    table.expect_code(0);
    assert!(
        table.stdout().contains("LAST CHECK") && table.stdout().contains("never"),
        "{}",
        table.stdout()
    );

    // The refusal: reported once with the MDA's word, 73, the message stays on the server.
    let run = popget_run(&popget, &["fetch"]);
    run.expect_code(73);
    says(&run, &["exit 67", "set aside"]);
    assert_eq!(mda_calls(&popget).len(), 3);
    assert_eq!(dovecot.stored("alice"), [message("reject")]);
    let refused_uidl = server_uidls(&popget).remove(0);
    let after = status(&popget);
    assert_eq!(after["last_check"]["result"], "failed", "{after}");
    assert_eq!(after["last_check"]["exit_code"], 73);
    assert_eq!(after["last_check"]["delivered"], 2);
    assert_eq!(after["last_error"]["exit_code"], 73);
    assert!(after["last_error"]["message"]
        .as_str()
        .unwrap()
        .contains("exit 67"));
    assert_eq!(after["last_delivery"]["delivered"], 2);
    assert_eq!(after["set_aside"], 1);
    assert_eq!(after["next_poll"], Value::Null, "no daemon polls it");
    let listed = quarantined(&popget);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["account"], "isp");
    assert_eq!(listed[0]["uidl"], refused_uidl.as_str());
    assert!(listed[0]["reason"].as_str().unwrap().contains("exit 67"));
    assert!(listed[0]["since"]
        .as_str()
        .unwrap()
        .parse::<jiff::Timestamp>()
        .is_ok());

    // The next run leaves it alone: 0, the MDA not called, the message still on the server.
    let run = popget_run(&popget, &["fetch", "--json"]);
    run.expect_code(0);
    let account = &json(&run)["accounts"][0];
    assert_eq!(account["left_on_server_set_aside"], 1, "{account}");
    assert_eq!(account["rejected_by_mda"], 0);
    assert_eq!(account["delivered"], 0);
    assert_eq!(mda_calls(&popget).len(), 3, "not offered again");
    assert_eq!(dovecot.stored("alice"), [message("reject")]);
    let after = status(&popget);
    assert_eq!(after["last_check"]["result"], "ok", "{after}");
    assert_eq!(after["last_check"]["exit_code"], 0);
    assert_eq!(after["last_check"]["delivered"], 0);
    assert_eq!(after["last_error"]["exit_code"], 73, "the last error stays");
    assert_eq!(after["last_delivery"]["delivered"], 2);
    assert_eq!(after["set_aside"], 1);
    let table = popget_run(&popget, &["status"]).stdout();
    assert!(table.contains("isp: last error"), "{table}");
    assert!(table.contains("isp: last delivery"), "{table}");

    // --retry: a UIDL that is not set aside changes nothing; the one that is, is offered again.
    let run = popget_run(&popget, &["quarantine", "isp", "--retry", "no-such-uidl"]);
    run.expect_code(64);
    says(&run, &["not set aside"]);
    assert_eq!(quarantined(&popget).len(), 1);
    popget_run(&popget, &["quarantine", "--retry"]).expect_code(64);
    let run = popget_run(&popget, &["quarantine", "isp", "--retry", &refused_uidl]);
    run.expect_code(0);
    says(
        &run,
        &["1 message will be offered to the destination again on the next fetch"],
    );
    assert!(quarantined(&popget).is_empty());
    assert_eq!(status(&popget)["set_aside"], 0);

    // The cause is fixed: the next fetch delivers it and deletes it on the server.
    std::fs::write(popget.path("ready"), "").unwrap();
    popget_run(&popget, &["fetch"]).expect_code(0);
    assert_eq!(mda_calls(&popget).len(), 4);
    assert!(dovecot.stored("alice").is_empty());
    let after = status(&popget);
    assert_eq!(after["last_check"]["result"], "ok", "{after}");
    assert_eq!(after["last_check"]["delivered"], 1);
    assert_eq!(after["last_delivery"]["delivered"], 1);
}

fn lmtp_destination(dovecot: &Dovecot, recipient: &str) -> String {
    let socket = &dovecot.destinations.as_ref().unwrap().lmtp_socket;
    format!(
        "deliver_to = \"local\"\n\n[destinations.local]\nlmtp = \"unix:{}\"\n\
         recipient = \"{recipient}\"",
        socket.display()
    )
}

#[test]
fn lmtp_refusals_are_set_aside_never_tried_twice_and_forgotten_when_gone() {
    let dovecot = Dovecot::start_with(Options {
        users: vec![("alice", "secret"), ("bob", "secret")],
        destinations: true,
        ..Options::default()
    });
    let popget = Popget::new();
    write_config(&popget, &dovecot, &lmtp_destination(&dovecot, "nobody"));
    dovecot.deliver("alice", &message("first"));
    dovecot.deliver("alice", &message("second"));

    let run = popget_run(&popget, &["fetch"]);
    run.expect_code(73);
    says(&run, &["refused the message for nobody"]);
    assert_eq!(dovecot.stored("alice").len(), 2, "both stay on the server");
    let listed = quarantined(&popget);
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed
        .iter()
        .all(|m| m["reason"].as_str().unwrap().contains("nobody")));
    assert_eq!(status(&popget)["set_aside"], 2);

    // Neither is downloaded nor handed to the LMTP server again.
    let run = popget_run(&popget, &["-v", "fetch"]);
    run.expect_code(0);
    let trace = run.stderr();
    assert!(trace.contains("UIDL"), "the dialogue is traced:\n{trace}");
    assert!(!trace.contains("RETR"), "{trace}");
    assert!(!trace.contains("RCPT"), "{trace}");

    // A message that leaves the server is forgotten.
    popget_run(&popget, &["dele", "-a", "isp", "1"]).expect_code(0);
    popget_run(&popget, &["fetch"]).expect_code(0);
    let listed = quarantined(&popget);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["uidl"], server_uidls(&popget)[0].as_str());

    // A recipient that exists, and every message set aside offered again.
    write_config(&popget, &dovecot, &lmtp_destination(&dovecot, "bob"));
    let run = popget_run(&popget, &["quarantine", "isp", "--retry"]);
    run.expect_code(0);
    says(&run, &["1 message will be"]);
    popget_run(&popget, &["fetch"]).expect_code(0);
    let delivered = maildir_messages(&dovecot.maildir("bob"));
    assert_eq!(delivered.len(), 1);
    assert!(delivered[0].ends_with(&message("second")));
    let after = status(&popget);
    assert_eq!(after["set_aside"], 0, "{after}");
    assert_eq!(after["last_check"]["delivered"], 1);
}

#[test]
fn a_message_without_uidl_cannot_be_set_aside_and_is_refused_on_every_run() {
    let server = FakeServer::start(Script {
        uidl: false,
        capa: Some(vec!["USER".into()]),
        messages: numbered_messages(1),
        ..Script::default()
    });
    let popget = Popget::new();
    let mut args = vec!["fetch".to_string()];
    args.extend(server.args());
    args.extend(["--auth", "user", "--mda", "exit 67", "--delete"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    for _ in 0..2 {
        let run = popget.run(&args);
        run.expect_code(73);
        says(&run, &["no UIDL", "every run"]);
    }
    assert_eq!(server.remaining(), ["uid-1"]);
}

/// Reads `popget status isp --json` until `ready` says yes, for at most 20 s.
#[track_caller]
fn wait_for_status(popget: &Popget, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let current = status(popget);
        if ready(&current) {
            return current;
        }
        assert!(Instant::now() < deadline, "status still {current}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn seconds_from_now(time: &Value) -> i64 {
    let at: jiff::Timestamp = time.as_str().unwrap().parse().unwrap();
    at.as_second() - jiff::Timestamp::now().as_second()
}

#[test]
fn the_daemon_records_the_next_poll_and_status_reads_while_it_runs() {
    let dovecot = Dovecot::start();
    let popget = Popget::new();
    write_config(
        &popget,
        &dovecot,
        &format!("interval = \"1h\"\n{}", refusing_mda(&popget)),
    );
    dovecot.deliver("alice", &message("reject"));
    dovecot.deliver("alice", &message("fine"));
    let daemon = Daemon::start(&popget, &[("POPGET_PASSWORD", "secret")], &[]);
    daemon.wait_for("set aside", 1, Duration::from_secs(20));
    // The next poll is recorded, an interval away or more (a refusal may back the account off).
    let failed = wait_for_status(&popget, |s| !s["next_poll"].is_null());
    assert_eq!(failed["last_check"]["exit_code"], 73, "{failed}");
    assert_eq!(failed["set_aside"], 1);
    assert!(seconds_from_now(&failed["next_poll"]) > 3500, "{failed}");
    assert_eq!(quarantined(&popget).len(), 1);

    // Polled now: the set-aside message is left alone, and the next poll is an interval away.
    daemon.signal(libc::SIGUSR1);
    let polled = wait_for_status(&popget, |s| s["last_check"]["result"] == "ok");
    let next = seconds_from_now(&polled["next_poll"]);
    assert!((3500..=3700).contains(&next), "{polled}");
    assert_eq!(mda_calls(&popget).len(), 2, "reject was offered once");

    let (exit, log) = daemon.stop();
    assert!(exit.success(), "{exit:?}\n{log}");
    assert_eq!(
        status(&popget)["next_poll"],
        Value::Null,
        "no daemon polls it now"
    );
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn damaged_status_and_set_aside_files_are_reported_then_replaced_by_a_fetch() {
    let dovecot = Dovecot::start();
    let popget = Popget::new();
    write_config(&popget, &dovecot, &refusing_mda(&popget));
    dovecot.deliver("alice", &message("fine"));
    write(&popget.path("isp.state.status"), "{\"popget_status\": ");
    write(
        &popget.path("isp.state.set-aside"),
        "popget-set-aside 1\n1 a r\n",
    );

    let run = popget_run(&popget, &["status", "isp", "--json"]);
    run.expect_code(65);
    says(&run, &["isp.state.status", "isp.state.set-aside"]);
    let document = json(&run);
    assert_eq!(document["accounts"][0]["set_aside"], Value::Null);
    let run = popget_run(&popget, &["quarantine"]);
    run.expect_code(65);
    says(&run, &["truncated"]);

    // A fetch warns, replaces both, and goes on.
    let run = popget_run(&popget, &["fetch"]);
    run.expect_code(0);
    says(&run, &["isp.state.set-aside", "replaced"]);
    let after = status(&popget);
    assert_eq!(after["last_check"]["delivered"], 1, "{after}");
    assert_eq!(after["set_aside"], 0);
    assert!(quarantined(&popget).is_empty());
    assert!(!popget.path("isp.state.set-aside").exists());
}
