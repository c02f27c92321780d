//! The client against an in-memory server: the exact bytes sent, the answers read, and every
//! way a server can fail or lie.

use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex};

use crate::mock::MockStream;
use crate::sasl::{Plain, Xoauth2};
use crate::{
    AppendMessage, AppendOutcome, AppendUid, Client, Error, InternalDate, Lookup, MailboxStatus,
    Refusal, ResponseCode, Session,
};

type Written = Arc<Mutex<Vec<u8>>>;

fn sent(written: &Written) -> String {
    String::from_utf8_lossy(&written.lock().unwrap()).into_owned()
}

fn client(script: &[u8]) -> (Client<MockStream>, Written) {
    let stream = MockStream::new(script);
    let written = stream.written.clone();
    (Client::new(stream).unwrap(), written)
}

/// A session logged in with LOGIN, announcing `caps`, whose server then sends `rest`; what it
/// wrote is cleared after the login.
fn session_with(
    caps: &str,
    rest: &[u8],
    stream: impl FnOnce(Vec<u8>) -> MockStream,
) -> (Session<MockStream>, Written) {
    let mut script = format!(
        "* OK [CAPABILITY IMAP4rev1 {caps}] ready\r\nA0001 OK [CAPABILITY IMAP4rev1 {caps}] in\r\n"
    )
    .into_bytes();
    script.extend_from_slice(rest);
    let stream = stream(script);
    let written = stream.written.clone();
    let session = Client::new(stream)
        .unwrap()
        .login("alice", "secret")
        .unwrap();
    assert_eq!(sent(&written), "A0001 LOGIN alice secret\r\n");
    written.lock().unwrap().clear();
    (session, written)
}

fn session(caps: &str, rest: &[u8]) -> (Session<MockStream>, Written) {
    session_with(caps, rest, |script| MockStream::new(&script))
}

fn appended(uid_validity: u32, uid: u32) -> AppendOutcome {
    AppendOutcome::Appended(Some(AppendUid { uid_validity, uid }))
}

fn refused(code: Option<ResponseCode>, text: &str) -> AppendOutcome {
    AppendOutcome::Refused(Refusal {
        code,
        text: text.to_string(),
    })
}

fn trace() -> (Option<crate::Tracer>, Arc<Mutex<Vec<String>>>) {
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = lines.clone();
    (
        Some(Box::new(move |line: &str| {
            sink.lock().unwrap().push(line.to_string())
        })),
        lines,
    )
}

// ----- greeting, capabilities, login -----

#[test]
fn greeting_capabilities_are_used_and_login_quotes_its_arguments() {
    let (mut client, written) = client(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\r\nA0001 OK in\r\nA0002 OK [CAPABILITY IMAP4rev1 UIDPLUS] caps\r\n");
    assert!(client.capabilities().unwrap().has_auth("PLAIN"));
    assert_eq!(sent(&written), "");
    let session = client.login("alice@example.org", "pa ss\"\\word").unwrap();
    // Capabilities are asked again after login.
    assert_eq!(
        sent(&written),
        "A0001 LOGIN alice@example.org \"pa ss\\\"\\\\word\"\r\nA0002 CAPABILITY\r\n"
    );
    assert!(session.capabilities().uidplus());
}

#[test]
fn capabilities_are_asked_for_when_the_greeting_has_none() {
    let (mut client, written) =
        client(b"* OK hi\r\n* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\nA0001 OK done\r\n");
    let caps = client.capabilities().unwrap();
    assert!(caps.starttls() && caps.login_disabled());
    assert_eq!(sent(&written), "A0001 CAPABILITY\r\n");
}

#[test]
fn logindisabled_refuses_login_without_sending_it_and_hands_the_client_back() {
    let (client, written) = client(
        b"* OK [CAPABILITY IMAP4rev1 LOGINDISABLED AUTH=PLAIN SASL-IR] hi\r\nA0001 OK [CAPABILITY IMAP4rev1] in\r\n",
    );
    let (error, client) = client.login("alice", "secret").unwrap_err();
    assert!(matches!(error, Error::InvalidInput(_)), "{error:?}");
    assert_eq!(sent(&written), "");
    let mut plain = Plain {
        authzid: String::new(),
        user: "alice".into(),
        password: "secret".into(),
    };
    client.authenticate(&mut plain).unwrap();
    assert_eq!(
        sent(&written),
        "A0001 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n"
    );
}

#[test]
fn a_refused_login_carries_its_code_and_leaves_the_client_usable() {
    let (client, written) = client(
        b"* OK [CAPABILITY IMAP4rev1] hi\r\nA0001 NO [AUTHENTICATIONFAILED] wrong\r\nA0002 OK [CAPABILITY IMAP4rev1] in\r\n",
    );
    let (error, client) = client.login("alice", "bad").unwrap_err();
    let refusal = error.refusal().unwrap();
    assert_eq!(
        refusal.code,
        Some(ResponseCode::Other("AUTHENTICATIONFAILED".into()))
    );
    assert_eq!(refusal.text, "wrong");
    assert!(!error.ends_session());
    client.login("alice", "secret").unwrap();
    assert!(sent(&written).ends_with("A0002 LOGIN alice secret\r\n"));
}

#[test]
fn a_bye_greeting_is_an_error() {
    let error = Client::new(MockStream::new(b"* BYE [UNAVAILABLE] go away\r\n")).unwrap_err();
    assert!(
        matches!(&error, Error::Bye { code: Some(ResponseCode::Unavailable), text } if text == "go away"),
        "{error:?}"
    );
}

#[test]
fn preauth_allows_no_login_and_gives_a_session_only_when_asked() {
    let (client, written) = client(b"* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] welcome back\r\n");
    assert!(client.is_preauthenticated());
    let (error, client) = client.login("alice", "secret").unwrap_err();
    assert!(matches!(error, Error::InvalidInput(_)));
    let error = client.starttls().unwrap_err();
    assert!(matches!(error, Error::InvalidInput(_)));
    assert_eq!(sent(&written), "");

    let (client, written) =
        client_pair(b"* PREAUTH hi\r\n* CAPABILITY IMAP4rev1 UIDPLUS\r\nA0001 OK done\r\n");
    let session = client.preauthenticated_session().unwrap();
    assert!(session.capabilities().uidplus());
    assert_eq!(sent(&written), "A0001 CAPABILITY\r\n");

    let (client, _) = client_pair(b"* OK hi\r\n");
    assert!(client.preauthenticated_session().is_err());
}

fn client_pair(script: &[u8]) -> (Client<MockStream>, Written) {
    client(script)
}

// ----- SASL -----

#[test]
fn authenticate_without_sasl_ir_answers_the_empty_challenge() {
    let (client, written) = client(
        b"* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2] hi\r\n+ \r\nA0001 OK [CAPABILITY IMAP4rev1 LITERAL+] in\r\n",
    );
    let mut xoauth2 = Xoauth2 {
        user: "a".into(),
        token: "t".into(),
    };
    let session = client.authenticate(&mut xoauth2).unwrap();
    assert!(session.capabilities().literal_plus());
    assert_eq!(
        sent(&written),
        "A0001 AUTHENTICATE XOAUTH2\r\ndXNlcj1hAWF1dGg9QmVhcmVyIHQBAQ==\r\n"
    );
}

#[test]
fn a_mechanism_that_cannot_go_on_cancels_with_a_star() {
    let (client, written) = client(
        b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] hi\r\n+ Zm9v\r\nA0001 BAD cancelled\r\nA0002 OK [CAPABILITY IMAP4rev1] in\r\n",
    );
    let mut plain = Plain {
        authzid: String::new(),
        user: "alice".into(),
        password: "secret".into(),
    };
    let (error, client) = client.authenticate(&mut plain).unwrap_err();
    assert!(!error.ends_session(), "{error:?}");
    assert!(sent(&written).ends_with("\r\n*\r\n"), "{}", sent(&written));
    client.login("alice", "secret").unwrap();
}

#[test]
fn a_refused_authenticate_is_refused() {
    let (client, _) = client(
        b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] hi\r\nA0001 NO [AUTHENTICATIONFAILED] no\r\n",
    );
    let mut plain = Plain {
        authzid: String::new(),
        user: "alice".into(),
        password: "secret".into(),
    };
    let (error, _client) = client.authenticate(&mut plain).unwrap_err();
    assert!(matches!(
        error,
        Error::Refused {
            command: "AUTHENTICATE",
            ..
        }
    ));
}

#[test]
fn the_trace_never_shows_a_password_or_authenticate_data() {
    let (tracer, lines) = trace();
    let stream = MockStream::new(
        b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\r\nA0001 NO bad\r\n+ \r\nA0002 OK [CAPABILITY IMAP4rev1] in\r\n",
    );
    let client = Client::with_trace(stream, tracer).unwrap();
    let (_, client) = client.login("alice", "hunter2").unwrap_err();
    let mut plain = Plain {
        authzid: String::new(),
        user: "alice".into(),
        password: "hunter2".into(),
    };
    client.authenticate(&mut plain).unwrap();
    let lines = lines.lock().unwrap().join("\n");
    assert!(!lines.contains("hunter2"), "{lines}");
    assert!(!lines.contains("AGFsaWNl"), "{lines}");
    assert!(lines.contains("C: A0001 LOGIN alice ***"), "{lines}");
    assert!(lines.contains("C: A0002 AUTHENTICATE PLAIN"), "{lines}");
    assert!(lines.contains("C: ***"), "{lines}");
}

// ----- STARTTLS -----

#[test]
fn starttls_hands_over_the_stream_and_forgets_the_capabilities() {
    let (client, written) =
        client(b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] hi\r\nA0001 OK begin\r\n");
    let upgrade = client.starttls().unwrap();
    assert_eq!(sent(&written), "A0001 STARTTLS\r\n");
    // The "TLS" stream is a new script: the server announces its capabilities again.
    let mut client = upgrade
        .handshake(|_raw| {
            Ok::<_, io::Error>(MockStream::new(
                b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nA0002 OK caps\r\nA0003 OK [CAPABILITY IMAP4rev1] in\r\n",
            ))
        })
        .unwrap();
    assert!(!client.capabilities().unwrap().login_disabled());
    client.login("alice", "secret").unwrap();
}

#[test]
fn data_after_the_starttls_ok_is_refused_as_injection() {
    let (client, _) = client(
        b"* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\nA0001 OK begin\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n",
    );
    let error = client.starttls().unwrap_err();
    assert!(error.is_protocol(), "{error:?}");

    // Even a partial line counts.
    let (client, _) =
        client_pair(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\nA0001 OK begin\r\nA");
    assert!(client.starttls().is_err());
}

#[test]
fn starttls_is_not_sent_when_not_offered_and_a_refusal_is_reported() {
    let (client, written) = client(b"* OK [CAPABILITY IMAP4rev1] hi\r\n");
    assert!(matches!(
        client.starttls().unwrap_err(),
        Error::InvalidInput(_)
    ));
    assert_eq!(sent(&written), "");
    let (client, _) =
        client_pair(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\nA0001 BAD no tls\r\n");
    assert!(matches!(client.starttls().unwrap_err(), Error::Bad { .. }));
}

// ----- APPEND -----

const BODY: &[u8] = b"Subject: t\n\n.\nFrom me\n\xe9t\xe9\n";
const BODY_CRLF: &[u8] = b"Subject: t\r\n\r\n.\r\nFrom me\r\n\xe9t\xe9\r\n";

#[test]
fn literal_plus_appends_are_pipelined_and_answered_in_order() {
    let answers = b"A0002 OK [APPENDUID 7 10] ok\r\nA0003 OK [APPENDUID 7 11] ok\r\n";
    let (mut session, written) = session_with("LITERAL+ UIDPLUS", answers, |script| {
        MockStream::chunked(&script, 1)
    });
    let reads_at = session.connection().reads_at.clone();
    let mut first = Cursor::new(BODY.to_vec());
    let mut second = Cursor::new(b"no final newline".to_vec());
    let date = InternalDate::new(837_596_665, -7 * 3600).unwrap();
    let outcomes = session
        .append(
            "INBOX",
            &mut [
                AppendMessage::new(&mut first)
                    .flags(["\\Seen"])
                    .internal_date(date),
                AppendMessage::new(&mut second),
            ],
        )
        .unwrap();
    assert_eq!(outcomes, [appended(7, 10), appended(7, 11)]);
    let mut expected = format!(
        "A0002 APPEND INBOX (\\Seen) \"17-Jul-1996 02:44:25 -0700\" {{{}+}}\r\n",
        BODY_CRLF.len()
    )
    .into_bytes();
    expected.extend_from_slice(BODY_CRLF);
    expected.extend_from_slice(b"\r\nA0003 APPEND INBOX {16+}\r\nno final newline\r\n");
    assert_eq!(*written.lock().unwrap(), expected);
    // Every APPEND was written before the first answer was read.
    let login_len = b"* OK [CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS] ready\r\nA0001 OK [CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS] in\r\n".len();
    // (What was written is counted from the end of the login, when the record was cleared.)
    assert_eq!(reads_at.lock().unwrap()[login_len], expected.len());
}

#[test]
fn without_literal_plus_each_literal_waits_for_the_continuation() {
    let answers = b"+ go\r\nA0002 OK done\r\n";
    let (mut session, written) =
        session_with("", answers, |script| MockStream::chunked(&script, 1));
    let reads_at = session.connection().reads_at.clone();
    let mut message = Cursor::new(b"a\nb\n".to_vec());
    let outcomes = session
        .append("Sent Items", &mut [AppendMessage::new(&mut message)])
        .unwrap();
    assert_eq!(outcomes, [AppendOutcome::Appended(None)]);
    let line = "A0002 APPEND \"Sent Items\" {6}\r\n";
    assert_eq!(sent(&written), format!("{line}a\r\nb\r\n\r\n"));
    // The `+` was read when only the command line had been written.
    let login_len =
        b"* OK [CAPABILITY IMAP4rev1 ] ready\r\nA0001 OK [CAPABILITY IMAP4rev1 ] in\r\n".len();
    assert_eq!(reads_at.lock().unwrap()[login_len], line.len());
}

#[test]
fn literal_minus_is_non_synchronising_only_up_to_4096_octets() {
    let big = vec![b'x'; 5000];
    let answers = b"A0002 OK small\r\n+ more\r\nA0003 OK big\r\n";
    let (mut session, written) = session("LITERAL-", answers);
    let mut small = Cursor::new(b"tiny".to_vec());
    let mut large = Cursor::new(big.clone());
    let outcomes = session
        .append(
            "INBOX",
            &mut [
                AppendMessage::new(&mut small),
                AppendMessage::new(&mut large),
            ],
        )
        .unwrap();
    assert_eq!(outcomes.len(), 2);
    let text = sent(&written);
    assert!(text.starts_with("A0002 APPEND INBOX {4+}\r\ntiny\r\nA0003 APPEND INBOX {5000}\r\n"));
}

#[test]
fn a_refusal_in_the_middle_of_a_pipelined_batch_is_that_message_s_outcome() {
    let answers = b"A0002 OK [APPENDUID 3 1] ok\r\n\
        A0003 NO [OVERQUOTA] quota exceeded\r\n\
        A0004 NO [LIMIT] too many\r\n\
        A0005 NO [TOOBIG] too big\r\n\
        A0006 NO [TRYCREATE] no mailbox\r\n\
        A0007 NO something else\r\n\
        A0008 OK [APPENDUID 3 2] ok\r\n";
    let (mut session, _) = session("LITERAL+ UIDPLUS", answers);
    let mut sources: Vec<Cursor<Vec<u8>>> =
        (0..7).map(|i| Cursor::new(vec![b'a' + i; 3])).collect();
    let mut batch: Vec<AppendMessage<'_>> = sources
        .iter_mut()
        .map(|source| AppendMessage::new(source))
        .collect();
    let outcomes = session.append("INBOX", &mut batch).unwrap();
    assert_eq!(
        outcomes,
        [
            appended(3, 1),
            refused(Some(ResponseCode::OverQuota), "quota exceeded"),
            refused(Some(ResponseCode::Limit), "too many"),
            refused(Some(ResponseCode::TooBig), "too big"),
            refused(Some(ResponseCode::TryCreate), "no mailbox"),
            refused(None, "something else"),
            appended(3, 2),
        ]
    );
    let temporary: Vec<bool> = outcomes
        .iter()
        .map(|outcome| matches!(outcome, AppendOutcome::Refused(r) if r.is_temporary()))
        .collect();
    assert_eq!(temporary, [false, true, true, false, false, false, false]);
}

#[test]
fn a_synchronising_append_refused_before_its_literal_sends_nothing_of_it() {
    let answers = b"A0002 NO [TRYCREATE] Mailbox doesn't exist\r\nA0003 CREATE ignored\r\n";
    let (mut session, written) = session("", answers);
    let mut message = Cursor::new(b"hello\n".to_vec());
    let outcomes = session
        .append("Archive", &mut [AppendMessage::new(&mut message)])
        .unwrap();
    assert_eq!(
        outcomes,
        [refused(
            Some(ResponseCode::TryCreate),
            "Mailbox doesn't exist"
        )]
    );
    assert_eq!(sent(&written), "A0002 APPEND Archive {7}\r\n");
}

#[test]
fn bye_in_the_middle_of_a_batch_ends_it_with_the_outcomes_confirmed() {
    let answers = b"A0002 OK [APPENDUID 1 5] ok\r\n* BYE [UNAVAILABLE] shutting down\r\n";
    let (mut session, written) = session("LITERAL+ UIDPLUS", answers);
    let mut a = Cursor::new(b"a".to_vec());
    let mut b = Cursor::new(b"b".to_vec());
    let error = session
        .append(
            "INBOX",
            &mut [AppendMessage::new(&mut a), AppendMessage::new(&mut b)],
        )
        .unwrap_err();
    assert_eq!(error.outcomes, [appended(1, 5)]);
    assert!(
        matches!(error.error, Error::Bye { .. }),
        "{:?}",
        error.error
    );
    assert!(session.is_broken());
    let before = written.lock().unwrap().len();
    assert!(session.status("INBOX").is_err());
    session.logout().unwrap();
    assert_eq!(
        written.lock().unwrap().len(),
        before,
        "nothing sent after BYE"
    );
}

#[test]
fn bad_and_answers_out_of_step_end_the_batch() {
    let (mut session, _) = session("LITERAL+", b"A0002 BAD parse error\r\n");
    let mut a = Cursor::new(b"a".to_vec());
    let error = session
        .append("INBOX", &mut [AppendMessage::new(&mut a)])
        .unwrap_err();
    assert!(matches!(
        error.error,
        Error::Bad {
            command: "APPEND",
            ..
        }
    ));

    let (mut session, _) = session_pair("LITERAL+", b"A0003 OK wrong tag\r\n");
    let mut a = Cursor::new(b"a".to_vec());
    let error = session
        .append("INBOX", &mut [AppendMessage::new(&mut a)])
        .unwrap_err();
    assert!(error.error.is_protocol(), "{:?}", error.error);
    assert!(error.outcomes.is_empty());

    // A continuation nobody asked for.
    let (mut session, _) = session_pair("LITERAL+", b"+ go on\r\n");
    let mut a = Cursor::new(b"a".to_vec());
    let error = session
        .append("INBOX", &mut [AppendMessage::new(&mut a)])
        .unwrap_err();
    assert!(error.error.is_protocol(), "{:?}", error.error);
}

fn session_pair(caps: &str, rest: &[u8]) -> (Session<MockStream>, Written) {
    session(caps, rest)
}

#[test]
fn eof_or_a_timeout_instead_of_the_continuation_is_a_connection_error() {
    let (mut session, _) = session("", b"");
    let mut a = Cursor::new(b"a".to_vec());
    let error = session
        .append("INBOX", &mut [AppendMessage::new(&mut a)])
        .unwrap_err();
    assert!(error.error.is_connection() && !error.error.is_timeout());

    let (mut session, _) = session_with("", b"", |script| {
        let mut stream = MockStream::new(&script);
        stream.timeout_at_end = true;
        stream
    });
    let mut a = Cursor::new(b"a".to_vec());
    let error = session
        .append("INBOX", &mut [AppendMessage::new(&mut a)])
        .unwrap_err();
    assert!(error.error.is_timeout(), "{:?}", error.error);
}

#[test]
fn a_connection_dropped_mid_literal_ends_the_batch() {
    // The server closes after its `+`.
    let (mut session, _) = session("", b"+ go\r\n");
    let mut a = Cursor::new(vec![b'x'; 200_000]);
    let error = session
        .append("INBOX", &mut [AppendMessage::new(&mut a)])
        .unwrap_err();
    assert!(error.error.is_connection(), "{:?}", error.error);

    // Writes fail part way through the literal.
    let (mut session, written) = session_with("LITERAL+", b"", |script| {
        let mut stream = MockStream::new(&script);
        stream.fail_writes_after = Some(26 + 100_000);
        stream
    });
    let mut a = Cursor::new(vec![b'x'; 300_000]);
    let error = session
        .append("INBOX", &mut [AppendMessage::new(&mut a)])
        .unwrap_err();
    assert!(error.error.is_connection(), "{:?}", error.error);
    assert!(error.outcomes.is_empty());
    assert!(written.lock().unwrap().len() < 300_000);
    assert!(session.is_broken());
}

/// A source that grows between the count and the sending.
struct Growing {
    reads: usize,
    inner: Cursor<Vec<u8>>,
}

impl Read for Growing {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reads += 1;
        self.inner.read(buf)
    }
}

impl Seek for Growing {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        // After the count, the message gains a line.
        if self.reads > 0 {
            self.inner.get_mut().extend_from_slice(b"more\n");
        }
        self.inner.seek(to)
    }
}

#[test]
fn a_source_that_changes_size_never_completes_its_literal() {
    let (mut session, written) = session("LITERAL+", b"");
    let mut source = Growing {
        reads: 0,
        inner: Cursor::new(b"line\n".to_vec()),
    };
    let error = session
        .append("INBOX", &mut [AppendMessage::new(&mut source)])
        .unwrap_err();
    assert!(matches!(error.error, Error::Source(_)), "{:?}", error.error);
    // The literal announced 6 octets; fewer went out (here not even the command line, which
    // was still queued).
    let text = sent(&written);
    assert!(
        text.len() < "A0002 APPEND INBOX {6+}\r\n".len() + 6,
        "{text:?}"
    );
    assert!(session.is_broken());
}

#[test]
fn a_length_counted_by_the_caller_is_used_and_still_checked() {
    let (mut session, written) = session("LITERAL+", b"A0002 OK ok\r\n");
    let mut source = Cursor::new(b"line\n".to_vec());
    let counted = crate::crlf_length(&mut source).unwrap();
    let outcomes = session
        .append(
            "INBOX",
            &mut [AppendMessage::new(&mut source).octets(counted)],
        )
        .unwrap();
    assert_eq!(outcomes, [AppendOutcome::Appended(None)]);
    assert_eq!(sent(&written), "A0002 APPEND INBOX {6+}\r\nline\r\n\r\n");
    // A wrong length never completes a literal.
    let (mut wrong, _) = self::session("LITERAL+", b"");
    let mut source = Cursor::new(b"line\n".to_vec());
    let error = wrong
        .append("INBOX", &mut [AppendMessage::new(&mut source).octets(7)])
        .unwrap_err();
    assert!(matches!(error.error, Error::Source(_)), "{:?}", error.error);
    assert!(wrong.is_broken());
}

#[test]
fn messages_over_the_appendlimit_are_refused_without_being_sent() {
    let (mut session, written) = session("LITERAL+ APPENDLIMIT=10", b"A0002 OK ok\r\n");
    assert_eq!(session.append_limit(), Some(10));
    let mut big = Cursor::new(vec![b'x'; 11]);
    let mut small = Cursor::new(b"fits\n".to_vec());
    let outcomes = session
        .append(
            "INBOX",
            &mut [AppendMessage::new(&mut big), AppendMessage::new(&mut small)],
        )
        .unwrap();
    assert!(matches!(
        &outcomes[0],
        AppendOutcome::Refused(Refusal {
            code: Some(ResponseCode::TooBig),
            ..
        })
    ));
    assert_eq!(outcomes[1], AppendOutcome::Appended(None));
    assert_eq!(sent(&written), "A0002 APPEND INBOX {6+}\r\nfits\r\n\r\n");
}

#[test]
fn bad_arguments_are_refused_before_anything_is_sent() {
    let (mut session, written) = session("LITERAL+", b"");
    let mut a = Cursor::new(b"a".to_vec());
    let mut b = Cursor::new(b"b".to_vec());
    let error = session
        .append(
            "INBOX",
            &mut [
                AppendMessage::new(&mut a),
                AppendMessage::new(&mut b).flags(["\\Recent"]),
            ],
        )
        .unwrap_err();
    assert!(matches!(error.error, Error::InvalidInput(_)));
    assert!(session.append("a\r\nA1 LOGOUT", &mut []).is_err());
    assert_eq!(sent(&written), "");
    assert!(!session.is_broken());
}

#[test]
fn mailbox_names_are_quoted_and_encoded() {
    let (mut session, written) =
        session("", b"A0002 NO [ALREADYEXISTS] exists\r\nA0003 OK made\r\n");
    let error = session.create("Entwürfe").unwrap_err();
    assert_eq!(
        error.refusal().unwrap().code,
        Some(ResponseCode::Other("ALREADYEXISTS".into()))
    );
    session.create("a\"b\\c").unwrap();
    assert_eq!(
        sent(&written),
        "A0002 CREATE Entw&APw-rfe\r\nA0003 CREATE \"a\\\"b\\\\c\"\r\n"
    );
}

#[test]
fn the_trace_summarises_literals_and_never_shows_a_message() {
    let (tracer, lines) = trace();
    let stream = MockStream::new(
        b"* OK [CAPABILITY IMAP4rev1 LITERAL+] hi\r\nA0001 OK [CAPABILITY IMAP4rev1 LITERAL+] in\r\nA0002 OK stored\r\n",
    );
    let mut session = Client::with_trace(stream, tracer)
        .unwrap()
        .login("alice", "x")
        .unwrap();
    let mut message = Cursor::new(b"Subject: secret body\n".to_vec());
    session
        .append("INBOX", &mut [AppendMessage::new(&mut message)])
        .unwrap();
    let lines = lines.lock().unwrap();
    assert!(
        lines.contains(&"C: A0002 APPEND INBOX {22+}".to_string()),
        "{lines:?}"
    );
    assert!(lines.contains(&"C: {22 octets}".to_string()), "{lines:?}");
    assert!(
        lines.contains(&"S: A0002 OK stored".to_string()),
        "{lines:?}"
    );
    assert!(!lines.iter().any(|line| line.contains("secret body")));
}

// ----- STATUS and recovery -----

#[test]
fn status_reads_uidvalidity_uidnext_and_messages() {
    let (mut session, written) = session(
        "",
        b"* STATUS INBOX (MESSAGES 3 UIDNEXT 9 UIDVALIDITY 1700000000)\r\nA0002 OK done\r\n",
    );
    assert_eq!(
        session.status("INBOX").unwrap(),
        MailboxStatus {
            uid_validity: 1_700_000_000,
            uid_next: 9,
            messages: 3
        }
    );
    assert_eq!(
        sent(&written),
        "A0002 STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY)\r\n"
    );
}

const EXAMINED: &[u8] = b"* FLAGS (\\Seen)\r\n* 3 EXISTS\r\n* OK [UIDVALIDITY 77] ok\r\n* OK [UIDNEXT 12] ok\r\nA0002 OK [READ-ONLY] examined\r\n";

#[test]
fn find_appended_matches_size_and_message_id_read_only() {
    let mut script = EXAMINED.to_vec();
    script.extend_from_slice(
        b"* 2 FETCH (UID 10 RFC822.SIZE 120 BODY[HEADER.FIELDS (MESSAGE-ID)] {21}\r\nMessage-ID: <x@y>\r\n\r\n)\r\n\
          * 3 FETCH (UID 11 RFC822.SIZE 120 BODY[HEADER.FIELDS (MESSAGE-ID)] {21}\r\nMessage-ID: <a@b>\r\n\r\n)\r\n\
          A0003 OK fetched\r\nA0004 OK closed\r\n",
    );
    let (mut session, written) = session("", &script);
    let found = session
        .find_appended("INBOX", 77, 10, Some("<a@b>"), 120, None)
        .unwrap();
    assert_eq!(found, Lookup::Found(11));
    assert_eq!(
        sent(&written),
        "A0002 EXAMINE INBOX\r\n\
         A0003 UID FETCH 10:* (UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])\r\n\
         A0004 CLOSE\r\n"
    );
}

#[test]
fn find_appended_ignores_uids_below_the_range_and_other_sizes() {
    let mut script = EXAMINED.to_vec();
    // `12:*` names the highest UID even when it is below 12.
    script.extend_from_slice(
        b"* 3 FETCH (UID 11 RFC822.SIZE 120 BODY[HEADER.FIELDS (MESSAGE-ID)] {21}\r\nMessage-ID: <a@b>\r\n\r\n)\r\n\
          A0003 OK fetched\r\nA0004 OK closed\r\n",
    );
    let (mut session, _) = session("UNSELECT", &script);
    assert_eq!(
        session
            .find_appended("INBOX", 77, 12, Some("<a@b>"), 120, None)
            .unwrap(),
        Lookup::Absent
    );
}

/// Two messages of one size without a Message-ID: only the header's digest tells which one
/// was appended, so a message that never arrived is not taken for the other.
#[test]
fn find_appended_tells_messages_of_one_size_apart_by_their_header() {
    let sought = b"Subject: b\r\n\r\nsame\r\n";
    let digest = crate::header_sha256(&mut Cursor::new(sought.to_vec()), 1000)
        .unwrap()
        .unwrap();
    for (stored, found) in [
        (&b"Subject: b\r\n\r\n"[..], Lookup::Found(11)),
        (b"Subject: c\r\n\r\n", Lookup::Absent),
    ] {
        let mut script = EXAMINED.to_vec();
        script.extend_from_slice(
            b"* 2 FETCH (UID 10 RFC822.SIZE 22 BODY[HEADER.FIELDS (MESSAGE-ID)] {2}\r\n\r\n)\r\n\
              * 3 FETCH (UID 11 RFC822.SIZE 22 BODY[HEADER.FIELDS (MESSAGE-ID)] {2}\r\n\r\n)\r\n\
              A0003 OK fetched\r\n",
        );
        script.extend_from_slice(b"* 2 FETCH (UID 10 BODY[HEADER] {14}\r\nSubject: a\r\n\r\n)\r\n");
        script.extend_from_slice(
            format!("* 3 FETCH (UID 11 BODY[HEADER] {{{}}}\r\n", stored.len()).as_bytes(),
        );
        script.extend_from_slice(stored);
        script.extend_from_slice(b")\r\nA0004 OK fetched\r\nA0005 OK closed\r\n");
        let (mut session, written) = session("", &script);
        assert_eq!(
            session
                .find_appended("INBOX", 77, 10, None, 22, Some(&digest))
                .unwrap(),
            found
        );
        assert!(
            sent(&written).contains("A0004 UID FETCH 10:11 (UID BODY.PEEK[HEADER])\r\n"),
            "{}",
            sent(&written)
        );
    }
    // Without the digest (a journal of an earlier version), the size decides.
    let mut script = EXAMINED.to_vec();
    script.extend_from_slice(
        b"* 2 FETCH (UID 10 RFC822.SIZE 22 BODY[HEADER.FIELDS (MESSAGE-ID)] {2}\r\n\r\n)\r\n\
          A0003 OK fetched\r\nA0004 OK closed\r\n",
    );
    let (mut session, _) = session("", &script);
    assert_eq!(
        session
            .find_appended("INBOX", 77, 10, None, 22, None)
            .unwrap(),
        Lookup::Found(10)
    );
}

#[test]
fn find_appended_reports_a_changed_uidvalidity() {
    let mut script = EXAMINED.to_vec();
    script.extend_from_slice(b"A0003 OK unselected\r\n");
    let (mut session, written) = session("UNSELECT", &script);
    assert_eq!(
        session
            .find_appended("INBOX", 76, 10, None, 1, None)
            .unwrap(),
        Lookup::UidValidityChanged(77)
    );
    assert!(sent(&written).ends_with("A0003 UNSELECT\r\n"));
}

// ----- hostile servers -----

#[test]
fn an_endless_line_is_an_error_within_the_limit() {
    let mut script = b"* OK ".to_vec();
    script.extend(std::iter::repeat_n(b'a', 3 * 1024 * 1024));
    let error = Client::new(MockStream::new(&script)).unwrap_err();
    assert!(error.is_protocol(), "{error:?}");

    let (mut session, _) = session(
        "",
        &[b"* CAPABILITY ".as_slice(), &[b'X'; 200], b"\r\n"].concat(),
    );
    session.set_response_limit(100);
    assert!(session.refresh_capabilities().unwrap_err().is_protocol());
}

#[test]
fn an_oversize_literal_is_refused_when_announced() {
    let (mut session, _) = session("", b"* 1 FETCH (BODY[] {4000000000}\r\nxx");
    let error = session.status("INBOX").unwrap_err();
    assert!(error.is_protocol(), "{error:?}");
}

#[test]
fn garbage_is_a_protocol_error() {
    let error = Client::new(MockStream::new(b"HTTP/1.1 400 Bad Request\r\n\r\n")).unwrap_err();
    assert!(error.is_protocol(), "{error:?}");
    let (mut session, _) = session("", b"A0002 MAYBE\r\n");
    assert!(session.status("INBOX").unwrap_err().is_protocol());
    // A continuation whose text starts like a code but is none.
    let (mut session, _) = session_pair("", b"+ [foo\r\n");
    let mut a = Cursor::new(b"a".to_vec());
    let _ = session.append("INBOX", &mut [AppendMessage::new(&mut a)]);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn exercise(script: &[u8]) {
        let Ok(client) = Client::new(MockStream::new(script)) else {
            return;
        };
        let Ok(mut session) = client.login("alice", "secret") else {
            return;
        };
        let mut a = Cursor::new(b"a\nb".to_vec());
        let mut b = Cursor::new(vec![b'x'; 5000]);
        let _ = session.append(
            "INBOX",
            &mut [AppendMessage::new(&mut a), AppendMessage::new(&mut b)],
        );
        let _ = session.status("INBOX");
        let _ = session.find_appended("INBOX", 1, 1, Some("<a@b>"), 3, Some(&[0; 32]));
        let _ = session.logout();
    }

    proptest! {
        #[test]
        fn arbitrary_server_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            exercise(&bytes);
        }

        #[test]
        fn plausible_server_lines_never_panic(
            lines in proptest::collection::vec(
                prop_oneof![
                    Just("* OK [CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS] hi".to_string()),
                    Just("* OK hi".to_string()),
                    Just("* PREAUTH hi".to_string()),
                    Just("* BYE no".to_string()),
                    "A000[1-6] (OK|NO|BAD)( \\[[A-Z]+( [0-9]+)*\\])? [a-z]*",
                    "\\+ [A-Za-z0-9+/=\\[\\] ]*",
                    "\\* [0-9]+ (EXISTS|FETCH \\(UID [0-9]+\\))",
                    "\\* STATUS INBOX \\((MESSAGES|UIDNEXT|UIDVALIDITY) [0-9]+\\)",
                    "\\* OK \\[(UIDVALIDITY|APPENDUID) [0-9 ]+\\] x",
                    "[ -~]{0,40}",
                    "\\* 1 FETCH \\(BODY\\[\\] \\{[0-9]{1,12}\\}",
                ],
                0..12,
            )
        ) {
            let script: String = lines.iter().map(|line| format!("{line}\r\n")).collect();
            exercise(script.as_bytes());
        }
    }
}

#[test]
fn a_long_batch_keeps_at_most_the_window_of_appends_unanswered() {
    let count = crate::PIPELINE_WINDOW + 36;
    let answers: String = (0..count)
        .map(|i| format!("A{:04} OK [APPENDUID 1 {}] ok\r\n", i + 2, i + 1))
        .collect();
    let (mut session, _) = session_with("LITERAL+ UIDPLUS", answers.as_bytes(), |script| {
        MockStream::chunked(&script, 1)
    });
    let reads_at = session.connection().reads_at.clone();
    let mut sources: Vec<Cursor<Vec<u8>>> =
        (0..count).map(|_| Cursor::new(b"m\n".to_vec())).collect();
    let mut batch: Vec<AppendMessage<'_>> =
        sources.iter_mut().map(|s| AppendMessage::new(s)).collect();
    let outcomes = session.append("INBOX", &mut batch).unwrap();
    let uids: Vec<AppendOutcome> = (1..=count as u32).map(|uid| appended(1, uid)).collect();
    assert_eq!(outcomes, uids);
    // The first answer was read once the window was full, not before and not after.
    let login_len = b"* OK [CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS] ready\r\nA0001 OK [CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS] in\r\n".len();
    let one_append = "A0002 APPEND INBOX {3+}\r\nm\r\n\r\n".len();
    assert_eq!(
        reads_at.lock().unwrap()[login_len],
        crate::PIPELINE_WINDOW * one_append
    );
}

/// A mechanism whose initial response is empty.
struct Empty;

impl crate::sasl::Mechanism for Empty {
    fn name(&self) -> &'static str {
        "EXTERNAL"
    }
    fn initial(&mut self) -> crate::sasl::Result<Option<Vec<u8>>> {
        Ok(Some(Vec::new()))
    }
    fn respond(&mut self, _: &[u8]) -> crate::sasl::Result<Vec<u8>> {
        Ok(Vec::new())
    }
}

#[test]
fn an_empty_initial_response_is_sent_as_an_equals_sign_or_an_empty_line() {
    let (client, written) = client(
        b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=EXTERNAL] hi\r\nA0001 OK [CAPABILITY IMAP4rev1] in\r\n",
    );
    client.authenticate(&mut Empty).unwrap();
    assert_eq!(sent(&written), "A0001 AUTHENTICATE EXTERNAL =\r\n");

    let (client, written) = client_pair(
        b"* OK [CAPABILITY IMAP4rev1 AUTH=EXTERNAL] hi\r\n+ \r\nA0001 OK [CAPABILITY IMAP4rev1] in\r\n",
    );
    client.authenticate(&mut Empty).unwrap();
    assert_eq!(sent(&written), "A0001 AUTHENTICATE EXTERNAL\r\n\r\n");
}
