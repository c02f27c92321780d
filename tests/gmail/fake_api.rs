//! The fake Gmail API itself, driven with a plain HTTP client: Google's error bodies, byte-exact
//! multipart imports, de-duplication by Message-ID, labels and the 409 of a name in use, and
//! resumable uploads across a connection broken in the middle of the message.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::gmail::{Behaviour, Fault, GmailServer};

const TOKEN: &str = "good-token";

fn server(behaviour: Behaviour) -> GmailServer {
    GmailServer::start(Arc::new(|token: &str| token == TOKEN), behaviour)
}

/// A status, the header fields that matter here, and the body as JSON (`Null` when empty).
struct Reply {
    status: u16,
    headers: ureq::http::HeaderMap,
    json: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|value| value.to_str().unwrap())
    }

    /// `error.errors[0].reason`, checking that the body has Google's shape.
    fn reason(&self) -> &str {
        let error = &self.json["error"];
        assert_eq!(error["code"], self.status, "{}", self.json);
        assert!(error["message"].is_string(), "{}", self.json);
        assert!(error["status"].is_string(), "{}", self.json);
        error["errors"][0]["reason"].as_str().unwrap()
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

fn reply(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut response = response.expect("the fake answers");
    let text = response.body_mut().read_to_string().unwrap();
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        json: if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        },
    }
}

fn get(gmail: &GmailServer, path: &str) -> Reply {
    reply(
        agent()
            .get(format!("{}{path}", gmail.url()))
            .header("Authorization", format!("Bearer {TOKEN}"))
            .call(),
    )
}

fn post_json(gmail: &GmailServer, path: &str, body: &Value) -> Reply {
    reply(
        agent()
            .post(format!("{}{path}", gmail.url()))
            .header("Authorization", format!("Bearer {TOKEN}"))
            .content_type("application/json")
            .send(body.to_string().as_bytes()),
    )
}

const IMPORT: &str = "/upload/gmail/v1/users/me/messages/import";
const LABELS: &str = "/gmail/v1/users/me/labels";

/// A `multipart/related` import of `message` with `labels`, `query` after `uploadType`.
fn import(gmail: &GmailServer, query: &str, labels: &[&str], message: &[u8]) -> Reply {
    let boundary = "fake-api-boundary-7f3a";
    let mut body = format!(
        "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{}\r\n\
         --{boundary}\r\nContent-Type: message/rfc822\r\n\r\n",
        json!({ "labelIds": labels })
    )
    .into_bytes();
    body.extend_from_slice(message);
    body.extend_from_slice(format!("\r\n--{boundary}--").as_bytes());
    reply(
        agent()
            .post(format!(
                "{}{IMPORT}?uploadType=multipart{query}",
                gmail.url()
            ))
            .header("Authorization", format!("Bearer {TOKEN}"))
            .content_type(format!("multipart/related; boundary={boundary}"))
            .send(&body[..]),
    )
}

fn message(id: &str) -> Vec<u8> {
    format!(
        "From: a@example.org\r\nMessage-ID: <{id}@example.org>\r\nSubject: {id}\r\n\r\n\
         .\r\n..dots\r\nFrom me\r\n8bit caf\u{e9}\r\n"
    )
    .into_bytes()
}

#[test]
fn errors_have_googles_shape_and_faults_come_in_order() {
    let gmail = server(Behaviour::default());
    let anonymous = reply(agent().get(format!("{}{LABELS}", gmail.url())).call());
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.reason(), "authError");
    assert_eq!(anonymous.json["error"]["status"], "UNAUTHENTICATED");
    assert!(anonymous
        .header("www-authenticate")
        .unwrap()
        .contains("invalid_token"));

    gmail.with(|b| {
        b.import_faults = [
            Fault::RateLimited { retry_after: 7 },
            Fault::Forbidden("dailyLimitExceeded"),
            Fault::ServerError(503),
            Fault::ServerError(500),
            Fault::Unauthorized,
        ]
        .into()
    });
    let limited = import(&gmail, "", &[], &message("one"));
    assert_eq!(
        (limited.status, limited.reason()),
        (429, "rateLimitExceeded")
    );
    assert_eq!(limited.header("retry-after"), Some("7"));
    assert_eq!(limited.json["error"]["status"], "RESOURCE_EXHAUSTED");
    let daily = import(&gmail, "", &[], &message("one"));
    assert_eq!((daily.status, daily.reason()), (403, "dailyLimitExceeded"));
    assert_eq!(daily.json["error"]["errors"][0]["domain"], "usageLimits");
    let unavailable = import(&gmail, "", &[], &message("one"));
    assert_eq!(
        (unavailable.status, unavailable.reason()),
        (503, "backendError")
    );
    let internal = import(&gmail, "", &[], &message("one"));
    assert_eq!((internal.status, internal.reason()), (500, "backendError"));
    let refused = import(&gmail, "", &[], &message("one"));
    assert_eq!((refused.status, refused.reason()), (401, "authError"));
    assert!(gmail.messages().is_empty(), "no fault stored anything");
    assert_eq!(import(&gmail, "", &[], &message("one")).status, 200);
    assert_eq!(gmail.messages().len(), 1);

    gmail.with(|b| b.limit_after = Some(2));
    assert_eq!(import(&gmail, "", &[], &message("two")).status, 200);
    let over = import(&gmail, "", &[], &message("three"));
    assert_eq!((over.status, over.reason()), (403, "dailyLimitExceeded"));
    assert_eq!(gmail.messages().len(), 2);

    let unknown = get(&gmail, "/gmail/v1/users/me/nothing");
    assert_eq!((unknown.status, unknown.reason()), (404, "notFound"));
    let bad_query = import(&gmail, "&neverMarkSpam=yes", &[], &message("four"));
    assert_eq!(
        (bad_query.status, bad_query.reason()),
        (400, "invalidArgument")
    );
}

#[test]
fn a_multipart_import_is_stored_byte_for_byte_and_deduplicated_by_message_id() {
    let gmail = server(Behaviour::default());
    let label = gmail.add_label("Old ISP");
    let query = "&internalDateSource=dateHeader&neverMarkSpam=true&processForCalendar=false";
    let first = import(&gmail, query, &["INBOX", "UNREAD", &label], &message("one"));
    assert_eq!(first.status, 200, "{}", first.json);
    let id = first.json["id"].as_str().unwrap().to_string();
    assert!(first.json["threadId"].is_string());
    assert_eq!(first.json["labelIds"], json!(["INBOX", "UNREAD", label]));
    let stored = &gmail.messages()[0];
    assert_eq!(stored.bytes, message("one"));
    assert_eq!(stored.upload_type, "multipart");
    assert_eq!(stored.internal_date_source.as_deref(), Some("dateHeader"));
    assert_eq!(stored.never_mark_spam.as_deref(), Some("true"));
    assert_eq!(stored.process_for_calendar.as_deref(), Some("false"));

    let again = import(&gmail, query, &["INBOX"], &message("one"));
    assert_eq!(again.status, 200);
    assert_eq!(again.json["id"], id, "the message already held");
    assert_eq!(gmail.messages().len(), 1);
    assert_eq!(gmail.record(|r| r.duplicates), 1);

    let anonymous = b"Subject: no id\r\n\r\nbody\r\n";
    import(&gmail, "", &[], anonymous);
    import(&gmail, "", &[], anonymous);
    assert_eq!(
        gmail.messages().len(),
        3,
        "without a Message-ID nothing is merged"
    );

    let unknown = import(&gmail, "", &["Label_999"], &message("two"));
    assert_eq!((unknown.status, unknown.reason()), (400, "invalidArgument"));
    let marked = b"Subject: refuse me\r\nX-Test-Refuse: yes\r\n\r\nbody\r\n";
    let refused = import(&gmail, "", &["INBOX"], marked);
    assert_eq!((refused.status, refused.reason()), (400, "invalidArgument"));
    assert_eq!(
        refused.json["error"]["message"],
        Behaviour::default().refusal
    );
    let spam = b"Subject: spam\r\nX-Test-Spam: yes\r\n\r\nbody\r\n";
    let classified = import(&gmail, "", &["INBOX"], spam);
    assert_eq!(classified.json["labelIds"], json!(["SPAM"]));
    let kept = import(&gmail, "&neverMarkSpam=true", &["INBOX"], &spam[..]);
    assert_eq!(kept.json["labelIds"], json!(["INBOX"]));
    assert_eq!(gmail.messages().len(), 5);
}

#[test]
fn labels_are_listed_created_once_and_a_name_in_use_is_409() {
    let gmail = server(Behaviour::default());
    let listed = get(&gmail, LABELS);
    let labels = listed.json["labels"].as_array().unwrap();
    for system in ["INBOX", "UNREAD", "SPAM"] {
        assert!(
            labels
                .iter()
                .any(|l| l["id"] == system && l["type"] == "system"),
            "{system} in {labels:?}"
        );
    }
    let created = post_json(&gmail, LABELS, &json!({ "name": "Old ISP" }));
    assert_eq!(created.status, 200);
    assert_eq!(created.json["name"], "Old ISP");
    assert_eq!(created.json["type"], "user");
    assert_eq!(
        created.json["id"].as_str(),
        gmail.label_id("Old ISP").as_deref()
    );
    for name in ["old isp", "INBOX"] {
        let conflict = post_json(&gmail, LABELS, &json!({ "name": name }));
        assert_eq!(conflict.status, 409, "{name}");
        assert_eq!(conflict.json["error"]["status"], "ALREADY_EXISTS");
        assert_eq!(
            conflict.json["error"]["message"],
            "Label name exists or conflicts"
        );
    }

    let pause = Duration::from_millis(300);
    gmail.with(|b| b.label_faults = [Fault::Slow(pause)].into());
    let asked = std::time::Instant::now();
    assert_eq!(get(&gmail, LABELS).status, 200, "slow, then answered");
    let answered = gmail.requests_to(LABELS).last().unwrap().at;
    assert!(answered - asked >= pause);

    gmail.with(|b| b.label_race = Some("ISP".into()));
    let before = get(&gmail, LABELS);
    assert!(!before.json.to_string().contains("\"ISP\""));
    let raced = post_json(&gmail, LABELS, &json!({ "name": "ISP" }));
    assert_eq!(raced.status, 409, "someone else made it after the list");
    assert!(get(&gmail, LABELS).json.to_string().contains("\"ISP\""));
    assert_eq!(
        gmail.labels().iter().filter(|l| l.kind == "user").count(),
        2
    );
}

/// Starts a resumable session for `length` octets; returns the session URI.
fn start_session(gmail: &GmailServer, length: usize) -> String {
    let started = reply(
        agent()
            .post(format!(
                "{}{IMPORT}?uploadType=resumable&internalDateSource=receivedTime",
                gmail.url()
            ))
            .header("Authorization", format!("Bearer {TOKEN}"))
            .header("X-Upload-Content-Type", "message/rfc822")
            .header("X-Upload-Content-Length", length.to_string())
            .content_type("application/json; charset=UTF-8")
            .send(json!({ "labelIds": ["INBOX"] }).to_string().as_bytes()),
    );
    assert_eq!(started.status, 200, "{}", started.json);
    started.header("location").unwrap().to_string()
}

fn put(uri: &str, range: Option<String>, body: &[u8]) -> Reply {
    let mut request = agent().put(uri);
    if let Some(range) = range {
        request = request.header("Content-Range", range);
    }
    reply(request.send(body))
}

/// Sends a PUT of `body` over a raw connection the server breaks off, and waits until it has.
fn broken_put(uri: &str, body: &[u8]) {
    let url = url::Url::parse(uri).unwrap();
    let mut stream = TcpStream::connect((url.host_str().unwrap(), url.port().unwrap())).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "PUT {}?{} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n\r\n",
        url.path(),
        url.query().unwrap(),
        url.host_str().unwrap(),
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    assert!(answer.is_empty(), "no answer to a broken PUT");
}

#[test]
fn a_resumable_upload_resumes_after_a_broken_put() {
    let gmail = server(Behaviour::default());
    let mut big = message("big");
    big.extend(std::iter::repeat_n(b'x', 3 * 1024 * 1024));
    big.extend_from_slice(b"\r\n");
    let total = big.len();
    let uri = start_session(&gmail, total);
    assert!(uri.starts_with(&gmail.url()), "{uri}");
    assert!(uri.contains("upload_id="), "{uri}");

    let nothing_yet = put(&uri, Some(format!("bytes */{total}")), b"");
    assert_eq!(nothing_yet.status, 308);
    assert_eq!(nothing_yet.header("range"), None, "no octet arrived yet");

    gmail.with(|b| b.upload_faults = [Fault::DropMidBody(100_000)].into());
    broken_put(&uri, &big);
    assert!(gmail.messages().is_empty());
    let status = put(&uri, Some(format!("bytes */{total}")), b"");
    assert_eq!(status.status, 308);
    assert_eq!(status.header("range"), Some("bytes=0-99999"));

    let rest = put(
        &uri,
        Some(format!("bytes 100000-{}/{total}", total - 1)),
        &big[100_000..],
    );
    assert_eq!(rest.status, 200, "{}", rest.json);
    assert_eq!(rest.json["labelIds"], json!(["INBOX"]));
    let stored = gmail.messages();
    assert_eq!(stored.len(), 1);
    assert!(stored[0].bytes == big, "the message reassembled exactly");
    assert_eq!(stored[0].upload_type, "resumable");
    assert_eq!(
        stored[0].internal_date_source.as_deref(),
        Some("receivedTime")
    );
    let asked_again = put(&uri, Some(format!("bytes */{total}")), b"");
    assert_eq!((asked_again.status, &asked_again.json), (200, &rest.json));

    // A client that starts over instead gets a new session and Gmail's de-duplication.
    let second = start_session(&gmail, total);
    let whole = put(&second, None, &big);
    assert_eq!(whole.json["id"], rest.json["id"]);
    assert_eq!(gmail.messages().len(), 1);
    let gone = put(
        &format!(
            "{}{IMPORT}?uploadType=resumable&upload_id=nope",
            gmail.url()
        ),
        None,
        b"x",
    );
    assert_eq!((gone.status, gone.reason()), (404, "notFound"));
}

/// The import is stored but its answer never leaves: a client that tries again gets the same
/// message back, not a second copy. A chunked body is read like any other.
#[test]
fn an_answer_lost_after_the_import_is_found_again_by_message_id() {
    let gmail = server(Behaviour::default());
    gmail.with(|b| b.import_faults = [Fault::DropAnswer].into());
    let body = message("lost");
    let lost = agent()
        .post(format!("{}{IMPORT}?uploadType=media", gmail.url()))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .content_type("message/rfc822")
        .send(&body[..]);
    assert!(lost.is_err(), "the connection broke without an answer");
    assert_eq!(gmail.messages().len(), 1, "stored all the same");
    let mut reader = &body[..];
    let again = reply(
        agent()
            .post(format!("{}{IMPORT}?uploadType=media", gmail.url()))
            .header("Authorization", format!("Bearer {TOKEN}"))
            .content_type("message/rfc822")
            .send(ureq::SendBody::from_reader(&mut reader)),
    );
    assert_eq!(again.status, 200);
    assert_eq!(again.json["id"].as_str().unwrap(), gmail.messages()[0].id);
    assert_eq!(gmail.messages().len(), 1);
    let requests = gmail.requests_to("/messages/import");
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].status, 0, "broken off");
    assert_eq!(
        requests[1]
            .headers
            .get("transfer-encoding")
            .map(String::as_str),
        Some("chunked")
    );
    assert_eq!(requests[1].body_len, body.len());
    assert_eq!(requests[1].method, "POST");
    assert_eq!(requests[1].query["uploadType"], "media");
    assert_eq!(gmail.messages()[0].deleted, None, "not asked for");
}
