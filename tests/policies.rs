//! Many accounts and delivery policies against a real Dovecot: parallel fetch, MDA delivery,
//! Maildir++ folders, size limits, keep-for-days, per-run limits and filters.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::harness::dovecot::{Dovecot, Options};
use crate::harness::{maildir_messages, parse_mboxrd, sorted, Popget, Run};

fn message(subject: &str, body: &str) -> Vec<u8> {
    format!("Return-Path: <sender@example.org>\nSubject: {subject}\n\n{body}\n").into_bytes()
}

/// `popget fetch` for `user` over POP3S with `extra` options.
fn fetch(popget: &Popget, dovecot: &Dovecot, user: &str, extra: &[&str]) -> Run {
    let mut args = vec!["fetch".to_string()];
    args.extend(dovecot.args("implicit", user));
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    popget.run(&args)
}

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_slice(&run.output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout(), run.stderr()))
}

/// The LIST size of each message on the server, in order.
fn list_sizes(popget: &Popget, dovecot: &Dovecot, user: &str) -> Vec<u64> {
    let mut args = vec!["list".to_string(), "--json".to_string()];
    args.extend(dovecot.args("implicit", user));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = popget.run(&args);
    run.expect_code(0);
    json(&run)["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["size"].as_u64().unwrap())
        .collect()
}

fn write_script(path: &Path, text: &str) -> String {
    std::fs::write(path, format!("#!/bin/sh\n{text}")).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path.display().to_string()
}

#[test]
fn parallel_fetch_gives_what_sequential_fetch_gives() {
    let users = ["u1", "u2", "u3", "u4", "u5"];
    let dovecot = Dovecot::start_with(Options {
        users: users.iter().map(|u| (*u, "secret")).collect(),
        ..Options::default()
    });
    for (n, user) in users.iter().enumerate() {
        for i in 0..=n * 3 {
            dovecot.deliver(user, &message(&format!("{user} {i}"), &"x".repeat(i * 500)));
        }
    }
    let config = |mail: &Path| {
        let mut text = format!(
            "[defaults]\nhost = \"127.0.0.1\"\nport = {}\nca_file = \"{}\"\npassword_command = \"echo secret\"\n",
            dovecot.pop3s_port,
            dovecot.certificate_arg()
        );
        for (n, user) in users.iter().enumerate() {
            let destination = if n % 2 == 0 {
                format!("maildir = \"{}/{user}\"", mail.display())
            } else {
                // Two accounts share one mbox: its locks keep their appends apart.
                format!("mbox = \"{}/shared.mbox\"", mail.display())
            };
            text += &format!("\n[accounts.{user}]\nuser = \"{user}\"\n{destination}\n");
        }
        text
    };
    let mut outcomes = Vec::new();
    for jobs in ["1", "4"] {
        let popget = Popget::new();
        let mail = popget.path("Mail");
        let config_path = popget.path("config.toml");
        std::fs::write(&config_path, config(&mail)).unwrap();
        let run = popget.run_with(popget.command().args([
            "--config",
            config_path.to_str().unwrap(),
            "fetch",
            "--json",
            "-j",
            jobs,
        ]));
        run.expect_code(0);
        let document = json(&run);
        let delivered: Vec<(String, u64)> = document["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["account"].as_str().unwrap().to_string(),
                    a["delivered"].as_u64().unwrap(),
                )
            })
            .collect();
        let mut per_user = Vec::new();
        for (n, user) in users.iter().enumerate() {
            if n % 2 == 0 {
                per_user.push(maildir_messages(&mail.join(user)));
            }
        }
        let shared = parse_mboxrd(&std::fs::read(mail.join("shared.mbox")).unwrap());
        per_user.push(sorted(shared));
        outcomes.push((delivered, per_user));
    }
    assert_eq!(outcomes[0], outcomes[1]);
    // And both are what the server holds, account by account, in config order.
    let (delivered, per_user) = &outcomes[1];
    let expected: Vec<(String, u64)> = users
        .iter()
        .enumerate()
        .map(|(n, u)| (u.to_string(), (n * 3 + 1) as u64))
        .collect();
    assert_eq!(delivered, &expected);
    assert_eq!(per_user[0], dovecot.stored("u1"));
    assert_eq!(per_user[1], dovecot.stored("u3"));
    assert_eq!(per_user[2], dovecot.stored("u5"));
    let mut shared = dovecot.stored("u2");
    shared.extend(dovecot.stored("u4"));
    assert_eq!(per_user[3], sorted(shared));
}

#[test]
fn mda_delivers_defers_on_tempfail_and_reports_failures() {
    let dovecot = Dovecot::start();
    let popget = Popget::new();
    let out = popget.path("delivered");
    std::fs::create_dir_all(&out).unwrap();
    // Refuses "reject" for good; asks to try "later" again until the flag file exists.
    let mda = write_script(
        &popget.path("mda.sh"),
        &format!(
            "sender=\"$1\"\nfile=$(mktemp {out}/msgXXXXXX)\ncat > \"$file\"\n\
             if grep -q '^Subject: reject' \"$file\"; then rm \"$file\"; exit 1; fi\n\
             if grep -q '^Subject: later' \"$file\" && [ ! -e {out}/../ready ]; then rm \"$file\"; exit 75; fi\n\
             echo \"$sender\" > \"$file.sender\"\n",
            out = out.display()
        ),
    );
    let mda_command = format!("{mda} %F");
    for subject in ["one", "reject", "two", "later", "three"] {
        dovecot.deliver("alice", &message(subject, subject));
    }
    let delivered = || -> Vec<Vec<u8>> {
        let mut found: Vec<Vec<u8>> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_none())
            .map(|p| std::fs::read(p).unwrap())
            .collect();
        found.sort();
        found
    };

    // "reject" is refused and stays; "later" stops the run; "three" waits behind it.
    let run = fetch(&popget, &dovecot, "alice", &["--mda", &mda_command]);
    run.expect_code(75);
    let stderr = run.stderr();
    assert!(
        stderr.contains("2 new messages") && stderr.contains("1 refused by the destination"),
        "{stderr}"
    );
    assert!(stderr.contains("exit 75"), "{stderr}");
    assert!(
        stderr.contains(&format!("delivered to | {mda_command}")),
        "{stderr}"
    );
    assert_eq!(
        delivered(),
        sorted(vec![message("one", "one"), message("two", "two")])
    );
    let senders: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some())
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert_eq!(senders, ["sender@example.org\n", "sender@example.org\n"]);

    // Nothing new is delivered while the MDA still says "later"; "reject" was set aside and is
    // not offered again.
    let run = fetch(
        &popget,
        &dovecot,
        "alice",
        &["--mda", &mda_command, "--json"],
    );
    run.expect_code(75);
    let account = &json(&run)["accounts"][0];
    assert_eq!(account["delivered"], 0, "{account}");
    assert_eq!(account["rejected_by_mda"], 0, "{account}");
    assert_eq!(account["left_on_server_set_aside"], 1, "{account}");
    assert_eq!(account["destination"], format!("| {mda_command}"));

    // Ready: the rest arrives. "reject" was refused once, on the first run; set aside since,
    // it is not offered again and fails no later run.
    std::fs::write(popget.path("ready"), "").unwrap();
    let run = fetch(
        &popget,
        &dovecot,
        "alice",
        &["--mda", &mda_command, "--delete"],
    );
    run.expect_code(0);
    assert!(run.stderr().contains("1 set aside"), "{}", run.stderr());
    assert_eq!(delivered().len(), 4);
    // Only "reject" is left on the server: delivered messages were deleted, refused ones kept.
    assert_eq!(dovecot.stored("alice"), [message("reject", "reject")]);
}

#[test]
fn a_hanging_mda_is_stopped_and_the_message_kept() {
    let dovecot = Dovecot::start();
    dovecot.deliver("alice", &message("slow", "x"));
    let popget = Popget::new();
    let started = std::time::Instant::now();
    let run = fetch(
        &popget,
        &dovecot,
        "alice",
        &["--mda", "sleep 60", "--timeout", "2", "--delete"],
    );
    run.expect_code(75);
    assert!(started.elapsed().as_secs() < 30);
    assert!(run.stderr().contains("did not finish"), "{}", run.stderr());
    assert_eq!(dovecot.stored("alice").len(), 1);
}

#[test]
fn maildir_plus_plus_folders_are_created_and_used() {
    let dovecot = Dovecot::start();
    dovecot.deliver("alice", &message("list mail", "x"));
    let popget = Popget::new();
    let root = popget.path("Mail");
    let run = fetch(
        &popget,
        &dovecot,
        "alice",
        &[
            "--maildir",
            root.to_str().unwrap(),
            "--folder",
            "Lists.rust",
        ],
    );
    run.expect_code(0);
    let folder = root.join(".Lists.rust");
    assert!(folder.join("maildirfolder").is_file());
    assert!(root.join("cur").is_dir() && root.join("new").is_dir());
    assert_eq!(maildir_messages(&folder), [message("list mail", "x")]);
    assert_eq!(maildir_messages(&root), Vec::<Vec<u8>>::new());
    assert!(
        run.stderr().contains("delivered to ~/Mail/.Lists.rust"),
        "{}",
        run.stderr()
    );

    let run = fetch(
        &popget,
        &dovecot,
        "alice",
        &["--maildir", root.to_str().unwrap(), "--folder", "../escape"],
    );
    run.expect_code(78);
}

#[test]
fn max_size_is_inclusive_and_delete_oversized_deletes_unread() {
    let dovecot = Dovecot::start();
    let small = message("small", &"s".repeat(100));
    let large = message("large", &"l".repeat(200));
    dovecot.deliver("alice", &small);
    dovecot.deliver("alice", &large);
    let popget = Popget::new();
    let sizes = list_sizes(&popget, &dovecot, "alice");
    let limit = sizes[0].to_string();
    let maildir = popget.path("Mail");
    let maildir_arg = maildir.to_str().unwrap();

    // Exactly at the limit is fetched; one octet over stays.
    let run = fetch(
        &popget,
        &dovecot,
        "alice",
        &["--maildir", maildir_arg, "--max-size", &limit, "--json"],
    );
    run.expect_code(0);
    let account = &json(&run)["accounts"][0];
    assert_eq!(account["delivered"], 1);
    assert_eq!(account["left_on_server_oversized"], 1);
    assert_eq!(maildir_messages(&maildir), std::slice::from_ref(&small));

    let run = fetch(
        &popget,
        &dovecot,
        "alice",
        &[
            "--maildir",
            maildir_arg,
            "--max-size",
            &limit,
            "--delete-oversized",
        ],
    );
    run.expect_code(0);
    assert!(
        run.stderr()
            .contains("1 deleted (1 over --max-size without downloading)"),
        "{}",
        run.stderr()
    );
    assert_eq!(maildir_messages(&maildir), std::slice::from_ref(&small));
    assert_eq!(dovecot.stored("alice"), [small]);

    let run = fetch(
        &popget,
        &dovecot,
        "alice",
        &["--maildir", maildir_arg, "--delete-oversized"],
    );
    run.expect_code(78);
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Sets the first-seen time of every entry of the state file: the test's clock.
fn age_state(state: &Path, first_seen: impl Fn(&str) -> u64) {
    let text = std::fs::read_to_string(state).unwrap();
    let rewritten: Vec<String> = text
        .lines()
        .map(|line| match line.split_once(' ') {
            Some((time, uid)) if time.bytes().all(|b| b.is_ascii_digit()) => {
                format!("{} {uid}", first_seen(uid))
            }
            _ => line.to_string(),
        })
        .collect();
    std::fs::write(state, rewritten.join("\n") + "\n").unwrap();
}

#[test]
fn keep_days_deletes_exactly_when_the_days_are_over() {
    let dovecot = Dovecot::start();
    for subject in ["old", "young"] {
        dovecot.deliver("alice", &message(subject, subject));
    }
    let popget = Popget::new();
    let state = popget.path("alice.state");
    let uids: Vec<String> = {
        let mut args = vec!["uidl".to_string(), "--json".to_string()];
        args.extend(dovecot.args("implicit", "alice"));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        json(&popget.run(&args))["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["uidl"].as_str().unwrap().to_string())
            .collect()
    };
    let maildir = popget.path("Mail");
    let args = [
        "--maildir",
        maildir.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
        "--keep-days",
        "3",
    ];
    fetch(&popget, &dovecot, "alice", &args).expect_code(0);
    assert_eq!(dovecot.stored("alice").len(), 2);

    // Fetched 3 days and a minute ago, and 3 days less a minute ago.
    let three_days = 3 * 24 * 3600;
    let old_uid = uids[0].clone();
    age_state(&state, |uid| {
        if uid == old_uid {
            now() - three_days - 60
        } else {
            now() - three_days + 60
        }
    });
    let run = fetch(&popget, &dovecot, "alice", &args);
    run.expect_code(0);
    assert!(run.stderr().contains("0 new messages"), "{}", run.stderr());
    assert!(run.stderr().contains("1 deleted"), "{}", run.stderr());
    assert_eq!(dovecot.stored("alice"), [message("young", "young")]);
    // The deleted message's record is gone; the other is still known.
    let text = std::fs::read_to_string(&state).unwrap();
    assert!(
        !text.contains(&uids[0]) && text.contains(&uids[1]),
        "{text}"
    );

    let run = fetch(
        &popget,
        &dovecot,
        "alice",
        &["--keep-days", "3", "--delete"],
    );
    run.expect_code(64);
}

#[test]
fn limit_and_max_bytes_leave_the_rest_for_the_next_run() {
    let dovecot = Dovecot::start();
    let messages: Vec<Vec<u8>> = (0..5)
        .map(|i| message(&format!("m{i}"), &"b".repeat(300)))
        .collect();
    for m in &messages {
        dovecot.deliver("alice", m);
    }
    let popget = Popget::new();
    let sizes = list_sizes(&popget, &dovecot, "alice");
    let maildir = popget.path("Mail");
    let base = ["--maildir", maildir.to_str().unwrap(), "--json"];
    let delivered_now = |extra: &[&str]| -> (u64, u64) {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        let run = fetch(&popget, &dovecot, "alice", &args);
        run.expect_code(0);
        let account = &json(&run)["accounts"][0];
        (
            account["delivered"].as_u64().unwrap(),
            account["left_for_next_run"].as_u64().unwrap(),
        )
    };
    assert_eq!(delivered_now(&["--limit", "2"]), (2, 3));
    // Exactly the first message's size: the limit is reached after it.
    assert_eq!(
        delivered_now(&["--max-bytes", &sizes[2].to_string()]),
        (1, 2)
    );
    // One octet more: the next message crosses the limit and is still fetched.
    assert_eq!(
        delivered_now(&["--max-bytes", &(sizes[3] + 1).to_string()]),
        (2, 0)
    );
    assert_eq!(delivered_now(&["--limit", "2"]), (0, 0));
    assert_eq!(maildir_messages(&maildir), sorted(messages));
}

#[test]
fn filter_fetches_deletes_skips_and_reports_its_own_failures() {
    let dovecot = Dovecot::start();
    for subject in ["fetch me", "spam", "not now", "broken"] {
        dovecot.deliver("alice", &message(subject, &"body ".repeat(50)));
    }
    let popget = Popget::new();
    let seen = popget.path("filter-saw");
    let filter = write_script(
        &popget.path("filter.sh"),
        &format!(
            "headers=$(mktemp)\ncat > \"$headers\"\ncat \"$headers\" >> {seen}\n\
             case \"$(grep '^Subject:' \"$headers\")\" in\n\
             *spam*) rc=1;; *'not now'*) rc=2;; *broken*) rc=9;; *) rc=0;;\n\
             esac\nrm -f \"$headers\"\nexit $rc\n",
            seen = seen.display()
        ),
    );
    let maildir = popget.path("Mail");
    let run = fetch(
        &popget,
        &dovecot,
        "alice",
        &[
            "--maildir",
            maildir.to_str().unwrap(),
            "--filter",
            &filter,
            "--json",
        ],
    );
    run.expect_code(75);
    let account = &json(&run)["accounts"][0];
    assert_eq!(account["delivered"], 1, "{account}");
    assert_eq!(account["deleted_by_filter"], 1, "{account}");
    assert_eq!(account["skipped_by_filter"], 2, "{account}");
    assert!(run.stderr().contains("exit 9"), "{}", run.stderr());
    // The filter saw headers only (TOP n 0), never the bodies.
    let saw = std::fs::read_to_string(&seen).unwrap();
    assert!(!saw.contains("body"), "{saw}");
    assert_eq!(saw.matches("Subject:").count(), 4);
    assert_eq!(
        maildir_messages(&maildir),
        [message("fetch me", &"body ".repeat(50))]
    );
    let left: Vec<String> = dovecot
        .stored("alice")
        .iter()
        .map(|m| {
            String::from_utf8_lossy(m)
                .lines()
                .nth(1)
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        sorted_strings(left),
        ["Subject: broken", "Subject: fetch me", "Subject: not now"]
    );
}

fn sorted_strings(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}
