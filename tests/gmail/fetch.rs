//! `popget fetch` into the fake Gmail API: byte-exact imports with labels created once (a 409
//! race too), archive/unread/spam/calendar/date options and per-account labels, keep and
//! delete, a refused token refreshed once, rate limits waited out as Retry-After asks, a used
//! up daily limit and server errors ending with 75 with nothing lost, dropped connections,
//! resumable uploads above 5 MB, and a message Gmail refuses (73).

use std::time::{Duration, Instant};

use super::{crlf, crlf_sorted, imported_bytes, Config, Setup};
use crate::harness::gmail::Fault;
use crate::harness::{sorted, tricky_messages};

fn numbered(count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|n| {
            format!("Subject: n{n}\nMessage-ID: <{n}@numbered.test>\n\nbody {n}\n").into_bytes()
        })
        .collect()
}

/// How many label creations Gmail saw.
fn label_creations(setup: &Setup) -> usize {
    setup
        .gmail
        .requests_to("/labels")
        .iter()
        .filter(|seen| seen.method == "POST")
        .count()
}

fn sorted_labels(labels: &[String]) -> Vec<String> {
    let mut labels = labels.to_vec();
    labels.sort();
    labels
}

#[test]
fn imports_byte_for_byte_with_the_label_created_once_then_nothing_on_a_second_run() {
    let messages = tricky_messages();
    let config = Config {
        destination: "label = \"Old ISP\"",
        ..Config::default()
    };
    let setup = Setup::start(config, &messages);
    setup.fetch(&[]).expect_code(0);
    assert_eq!(imported_bytes(&setup), crlf_sorted(&messages));
    let label = setup
        .gmail
        .label_id("Old ISP")
        .expect("the label was created");
    for stored in setup.gmail.messages() {
        assert_eq!(
            sorted_labels(&stored.label_ids),
            sorted_labels(&["INBOX".into(), "UNREAD".into(), label.clone()])
        );
        assert_eq!(stored.upload_type, "multipart");
        assert_eq!(stored.internal_date_source.as_deref(), Some("dateHeader"));
        assert_eq!(stored.never_mark_spam.as_deref(), Some("false"));
        assert_eq!(stored.process_for_calendar.as_deref(), Some("false"));
        assert_eq!(stored.deleted, None, "never asked for");
    }
    assert_eq!(setup.left(), sorted(messages.clone()), "kept on the server");
    assert_eq!(label_creations(&setup), 1);

    let imports = setup.import_requests();
    setup.fetch(&[]).expect_code(0);
    assert_eq!(setup.import_requests(), imports, "nothing new to import");
    assert_eq!(label_creations(&setup), 1, "the label is found now");
    assert_eq!(setup.gmail.messages().len(), messages.len());
    assert_eq!(setup.gmail.record(|r| r.duplicates), 0);
}

#[test]
fn with_delete_each_message_leaves_the_server_once_gmail_holds_it() {
    let messages = tricky_messages();
    let setup = Setup::deleting(&messages);
    setup.fetch(&[]).expect_code(0);
    assert_eq!(imported_bytes(&setup), crlf_sorted(&messages));
    assert!(setup.left().is_empty());
    for stored in setup.gmail.messages() {
        assert_eq!(sorted_labels(&stored.label_ids), ["INBOX", "UNREAD"]);
    }
    setup.fetch(&[]).expect_code(0);
    assert_eq!(setup.gmail.messages().len(), messages.len());
}

/// The destination's options reach every import; an account's own label and archive choice
/// replace the destination's for that account only. An existing label is found whatever its
/// case, and never created again.
#[test]
fn options_and_per_account_labels_reach_the_imports() {
    let config = Config {
        destination: "label = [\"Old ISP\", \"Family/Kids\"]\nunread = false\n\
                      never_mark_spam = true\nprocess_for_calendar = true\n\
                      internal_date = \"received\"",
        account: "gmail_label = \"ISP\"\ngmail_archive = true",
        second_account: Some(""),
    };
    let setup = Setup::start(config, &[b"Subject: from alice\n\nbody\n".to_vec()]);
    let family = setup.gmail.add_label("family/kids");
    setup
        .dovecot
        .deliver("carol", b"Subject: from carol\nX-Test-Spam: yes\n\nbody\n");
    setup.fetch(&[]).expect_code(0);
    let messages = setup.gmail.messages();
    assert_eq!(messages.len(), 2);
    let isp = setup.gmail.label_id("ISP").unwrap();
    let old = setup.gmail.label_id("Old ISP").unwrap();
    for stored in &messages {
        let text = String::from_utf8_lossy(&stored.bytes);
        if text.contains("from alice") {
            assert_eq!(
                stored.label_ids,
                std::slice::from_ref(&isp),
                "archived, read, ISP only"
            );
        } else {
            assert_eq!(
                sorted_labels(&stored.label_ids),
                sorted_labels(&[old.clone(), family.clone(), "INBOX".into()]),
                "neverMarkSpam kept it out of SPAM"
            );
        }
        assert_eq!(stored.internal_date_source.as_deref(), Some("receivedTime"));
        assert_eq!(stored.never_mark_spam.as_deref(), Some("true"));
        assert_eq!(stored.process_for_calendar.as_deref(), Some("true"));
    }
    let user_labels: Vec<String> = setup
        .gmail
        .labels()
        .into_iter()
        .filter(|label| label.kind == "user")
        .map(|label| label.name)
        .collect();
    assert_eq!(
        sorted_labels(&user_labels),
        ["ISP", "Old ISP", "family/kids"]
    );
}

#[test]
fn a_label_someone_else_creates_meanwhile_is_found_after_the_409() {
    let config = Config {
        destination: "label = \"Old ISP\"",
        ..Config::default()
    };
    let setup = Setup::start(config, &numbered(2));
    setup.gmail.with(|b| b.label_race = Some("Old ISP".into()));
    setup.fetch(&[]).expect_code(0);
    let creations: Vec<u16> = setup
        .gmail
        .requests_to("/labels")
        .iter()
        .filter(|seen| seen.method == "POST")
        .map(|seen| seen.status)
        .collect();
    assert_eq!(creations, [409], "created by someone else first");
    let label = setup.gmail.label_id("Old ISP").unwrap();
    assert_eq!(
        setup
            .gmail
            .labels()
            .iter()
            .filter(|l| l.kind == "user")
            .count(),
        1
    );
    for stored in setup.gmail.messages() {
        assert!(stored.label_ids.contains(&label), "{:?}", stored.label_ids);
    }
    assert_eq!(setup.gmail.messages().len(), 2);
}

/// A token the provider revoked early, and a valid token Gmail refuses once in the middle of
/// the run: each is refreshed once and the request sent again.
#[test]
fn a_token_gmail_refuses_is_refreshed_once_and_the_request_sent_again() {
    let messages = numbered(3);
    let setup = Setup::deleting(&messages);
    setup.oauth.revoke_access_tokens();
    setup.gmail.with(|b| {
        b.import_faults = [Fault::Slow(Duration::ZERO), Fault::Unauthorized].into();
    });
    let run = setup.fetch(&[]);
    run.expect_code(0);
    assert_eq!(setup.oauth.grants("refresh_token"), 2, "{}", run.stderr());
    let refused = setup
        .gmail
        .record(|r| r.requests.iter().filter(|seen| seen.status == 401).count());
    assert_eq!(refused, 2);
    assert_eq!(imported_bytes(&setup), crlf_sorted(&messages));
    assert!(setup.left().is_empty());
}

/// Gmail refuses the fresh token too: the login is refused for good (77) and nothing is
/// deleted.
#[test]
fn a_token_refused_after_its_refresh_ends_with_77_and_nothing_is_deleted() {
    let messages = numbered(2);
    let setup = Setup::deleting(&messages);
    setup
        .gmail
        .with(|b| b.import_faults = vec![Fault::Unauthorized; 2].into());
    setup.fails_with(77, &["popget login gmail"]);
    assert_eq!(
        setup.oauth.grants("refresh_token"),
        1,
        "one refresh, no more"
    );
    assert!(setup.gmail.messages().is_empty());
    assert_eq!(setup.left(), sorted(messages));
}

/// Gmail refuses access for want of a scope (403 insufficientPermissions): the login must be
/// done again (77), nothing is deleted.
#[test]
fn a_missing_scope_ends_with_77_and_asks_for_a_new_login() {
    let messages = numbered(1);
    let setup = Setup::deleting(&messages);
    setup.gmail.with(|b| {
        b.import_faults = [Fault::Forbidden("insufficientPermissions")].into();
    });
    setup.fails_with(77, &["insufficientPermissions", "popget login gmail"]);
    assert!(setup.gmail.messages().is_empty());
    assert_eq!(setup.left(), messages);
}

/// An answer slower than the destination's timeout: popget gives up on it and sends the
/// import again; the slow one still lands in Gmail, which drops it as a repeat.
#[test]
fn an_answer_slower_than_the_timeout_is_sent_again_without_a_second_copy() {
    let messages = numbered(2);
    let config = Config {
        destination: "timeout = 1",
        ..Config::deleting()
    };
    let setup = Setup::start(config, &messages);
    setup
        .gmail
        .with(|b| b.import_faults = [Fault::Slow(Duration::from_secs(3))].into());
    setup.fetch(&[]).expect_code(0);
    assert!(setup.left().is_empty());
    let deadline = Instant::now() + Duration::from_secs(10);
    while setup.import_requests() < 3 {
        assert!(Instant::now() < deadline, "the slow import never ended");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(setup.gmail.record(|r| r.duplicates), 1);
    assert_eq!(imported_bytes(&setup), crlf_sorted(&messages));
}

/// A 429 waits as long as its Retry-After asks; a 403 for a user's rate is waited out too.
#[test]
fn rate_limits_are_waited_out_as_retry_after_asks() {
    let messages = numbered(3);
    let setup = Setup::start(Config::default(), &messages);
    setup.gmail.with(|b| {
        b.import_faults = [
            Fault::RateLimited { retry_after: 2 },
            Fault::Forbidden("userRateLimitExceeded"),
        ]
        .into();
    });
    let started = Instant::now();
    setup.fetch(&[]).expect_code(0);
    assert!(started.elapsed() < Duration::from_secs(30));
    let imports = setup.gmail.requests_to("/messages/import");
    let statuses: Vec<u16> = imports.iter().map(|seen| seen.status).collect();
    assert_eq!(statuses, [429, 403, 200, 200, 200]);
    let first_wait = imports[1].at - imports[0].at;
    assert!(first_wait >= Duration::from_secs(2), "{first_wait:?}");
    assert_eq!(imported_bytes(&setup), crlf_sorted(&messages));
}

/// The daily limit runs out after two imports: the run ends with 75, the two imported are
/// the only ones gone from the server, and the next day's run imports the rest.
#[test]
fn a_used_up_daily_limit_ends_with_75_and_the_rest_stays() {
    let messages = numbered(5);
    let setup = Setup::deleting(&messages);
    setup.gmail.with(|b| b.limit_after = Some(2));
    setup.fails_with(75, &["Daily Limit Exceeded"]);
    assert_eq!(setup.gmail.messages().len(), 2);
    assert_eq!(setup.left().len(), 3, "the rest stays");
    assert_nothing_lost(&setup, &messages);

    setup.gmail.with(|b| b.limit_after = None);
    setup.fetch(&[]).expect_code(0);
    assert_eq!(imported_bytes(&setup), crlf_sorted(&messages));
    assert!(setup.left().is_empty());
    assert_eq!(setup.gmail.record(|r| r.duplicates), 0);
}

/// Every message missing from the POP3 server is in Gmail.
fn assert_nothing_lost(setup: &Setup, messages: &[Vec<u8>]) {
    let left = setup.left();
    let imported = imported_bytes(setup);
    for message in messages {
        assert!(
            left.contains(message) || imported.contains(&crlf(message)),
            "lost: {}",
            String::from_utf8_lossy(message)
        );
    }
}

/// A 500 and a 503 are retried; a server that keeps failing is given up on after a few
/// tries (75), with the message still on the server.
#[test]
fn server_errors_are_retried_then_the_run_ends_with_75() {
    let messages = numbered(2);
    let setup = Setup::deleting(&messages);
    setup.gmail.with(|b| {
        b.import_faults = [Fault::ServerError(500), Fault::ServerError(503)].into();
    });
    setup.fetch(&[]).expect_code(0);
    assert_eq!(imported_bytes(&setup), crlf_sorted(&messages));

    let more = numbered(4)[2..].to_vec();
    for message in &more {
        setup.dovecot.deliver("alice", message);
    }
    let before = setup.import_requests();
    setup
        .gmail
        .with(|b| b.import_faults = vec![Fault::ServerError(500); 50].into());
    let started = Instant::now();
    setup.fails_with(75, &["Backend Error"]);
    let tries = setup.import_requests() - before;
    assert!((2..=10).contains(&tries), "{tries} tries");
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(setup.left(), sorted(more.clone()), "nothing deleted");
    assert_eq!(setup.gmail.messages().len(), 2);
}

/// The connection breaks in the middle of an upload, and after Gmail stored a message but
/// before its answer: both are sent again; Gmail holds each message once, the second through
/// its de-duplication of the Message-ID popget gave the message.
#[test]
fn dropped_connections_lose_nothing_and_repeat_nothing() {
    let messages = vec![
        b"Subject: no id one\n\nfirst\n".to_vec(),
        b"Subject: no id two\n\nsecond\n".to_vec(),
    ];
    let setup = Setup::deleting(&messages);
    setup.gmail.with(|b| {
        b.import_faults = [
            Fault::DropMidBody(100),
            Fault::Slow(Duration::ZERO),
            Fault::DropAnswer,
        ]
        .into();
    });
    setup.fetch(&[]).expect_code(0);
    assert_eq!(imported_bytes(&setup), crlf_sorted(&messages));
    assert_eq!(
        setup.gmail.record(|r| r.duplicates),
        1,
        "the lost answer's message"
    );
    assert!(setup.left().is_empty());
}

/// A message over 5 MB (5.6 MB with CRLF line ends).
fn big_message() -> Vec<u8> {
    let mut big = b"Subject: big\nMessage-ID: <big@resumable.test>\n\n".to_vec();
    for n in 0..120_000 {
        big.extend_from_slice(
            format!("line {n:06} of a message over five megabytes.\n").as_bytes(),
        );
    }
    assert!(big.len() > 5 * 1024 * 1024);
    big
}

/// Above 5 MB the import is a resumable upload. Its PUT breaks off after a megabyte; popget
/// asks Gmail how much arrived and sends only the rest.
#[test]
fn a_message_over_5_mb_goes_resumable_and_resumes_where_gmail_says() {
    let big = big_message();
    let small = b"Subject: small\n\nbody\n".to_vec();
    let setup = Setup::deleting(&[big.clone(), small.clone()]);
    setup
        .gmail
        .with(|b| b.upload_faults = [Fault::DropMidBody(1_000_000)].into());
    setup.fetch(&[]).expect_code(0);
    let stored = setup.gmail.messages();
    let resumable = stored
        .iter()
        .find(|s| s.upload_type == "resumable")
        .unwrap();
    assert!(resumable.bytes == crlf(&big), "the big message exactly");
    assert_eq!(
        stored
            .iter()
            .filter(|s| s.upload_type == "multipart")
            .count(),
        1
    );
    let puts: Vec<_> = setup
        .gmail
        .requests_to("/messages/import")
        .into_iter()
        .filter(|seen| seen.method == "PUT")
        .collect();
    let status_query = puts
        .iter()
        .position(|seen| {
            seen.headers
                .get("content-range")
                .is_some_and(|r| r.starts_with("bytes */"))
        })
        .expect("popget asked how much arrived");
    assert_eq!(puts[status_query].status, 308);
    let last = puts.last().unwrap();
    let total = crlf(&big).len();
    assert_eq!(
        last.headers.get("content-range").map(String::as_str),
        Some(format!("bytes 1000000-{}/{total}", total - 1).as_str())
    );
    assert_eq!(last.body_len, total - 1_000_000, "only the rest");
    assert_eq!(
        last.headers.get("content-length"),
        Some(&last.body_len.to_string())
    );
    assert_eq!(
        last.headers.get("transfer-encoding"),
        None,
        "{:?}",
        last.headers
    );
    assert_eq!(last.status, 200);
    assert!(setup.left().is_empty());
}

/// Every request to the upload session breaks off, the status queries too: popget gives up
/// for this run (75) with the message still on the server, and the next run imports it whole
/// in a new session.
#[test]
fn an_upload_that_keeps_breaking_ends_with_75_and_the_next_run_imports_it() {
    let big = big_message();
    let setup = Setup::deleting(std::slice::from_ref(&big));
    setup
        .gmail
        .with(|b| b.upload_faults = vec![Fault::DropMidBody(1_000_000); 40].into());
    let started = Instant::now();
    setup.fails_with(75, &["did not answer"]);
    assert!(started.elapsed() < Duration::from_secs(60));
    assert!(setup.gmail.messages().is_empty());
    assert_eq!(setup.left(), std::slice::from_ref(&big));
    setup.gmail.with(|b| b.upload_faults.clear());
    setup.fetch(&[]).expect_code(0);
    let stored = setup.gmail.messages();
    assert_eq!(stored.len(), 1);
    assert!(stored[0].bytes == crlf(&big), "the big message exactly");
    assert!(setup.left().is_empty());
}

/// Gmail refuses one message for good (400 invalidArgument): the others are imported and the
/// run ends with 73 and Gmail's reason. The message is set aside: left on the server and not
/// offered again (0), listed by `popget quarantine` with Gmail's reason, counted by `popget
/// status`. `--retry` offers it again; once Gmail takes it, it is imported and deleted.
#[test]
fn a_message_gmail_refuses_is_73_once_then_set_aside_until_retried() {
    let refused = b"Subject: refused\nX-Test-Refuse: yes\n\nbody\n".to_vec();
    let messages = vec![
        numbered(1).remove(0),
        refused.clone(),
        b"Subject: after\n\nb\n".to_vec(),
    ];
    let setup = Setup::deleting(&messages);
    let reason = crate::harness::gmail::Behaviour::default().refusal;
    setup.fails_with(73, &[reason, "invalidArgument"]);
    assert_eq!(setup.gmail.messages().len(), 2);
    assert_eq!(setup.left(), std::slice::from_ref(&refused));

    let imports = setup.import_requests();
    setup.fetch(&[]).expect_code(0);
    assert_eq!(setup.import_requests(), imports, "not offered again");
    assert_eq!(setup.left(), std::slice::from_ref(&refused));
    let listed = setup.json(&["quarantine", "--json"])["messages"].clone();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["account"], "isp");
    assert!(
        listed[0]["reason"].as_str().unwrap().contains(reason),
        "{listed}"
    );
    let status = setup.json(&["status", "isp", "--json"])["accounts"][0].clone();
    assert_eq!(status["set_aside"], 1, "{status}");
    assert_eq!(status["last_error"]["exit_code"], 73, "{status}");
    assert_eq!(status["last_check"]["exit_code"], 0, "{status}");

    setup.run_ok(&["quarantine", "isp", "--retry"]);
    setup
        .gmail
        .with(|b| b.refuse_marker = "X-Test-Refuse: no longer");
    setup.fetch(&[]).expect_code(0);
    assert_eq!(imported_bytes(&setup), crlf_sorted(&messages));
    assert!(setup.left().is_empty());
    assert_eq!(
        setup.json(&["quarantine", "--json"])["messages"],
        serde_json::json!([])
    );
    assert_eq!(
        setup.json(&["status", "isp", "--json"])["accounts"][0]["set_aside"],
        0
    );
}
