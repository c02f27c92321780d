//! The client against a real IMAP server: a private Dovecot on loopback (popget-testbed),
//! delivering into the users' Maildirs, which the tests read back.

use std::fs;
use std::io::Cursor;
use std::net::TcpStream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use native_tls::{Certificate, TlsConnector, TlsStream};
use popget_imap::sasl::Plain;
use popget_imap::{
    crlf_length, header_sha256, AppendMessage, AppendOutcome, Client, InternalDate, Lookup,
    ResponseCode, Session,
};
use popget_testbed::dovecot::{Dovecot, Options};

fn start() -> Dovecot {
    Dovecot::start_with(Options {
        destinations: true,
        ..Options::default()
    })
}

fn tcp(dovecot: &Dovecot, port: u16) -> TcpStream {
    let stream = TcpStream::connect((dovecot.listen, port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
}

fn tls(dovecot: &Dovecot, stream: TcpStream) -> Result<TlsStream<TcpStream>, String> {
    let pem = fs::read(dovecot.certificate()).unwrap();
    let connector = TlsConnector::builder()
        .add_root_certificate(Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    connector
        .connect("localhost", stream)
        .map_err(|error| error.to_string())
}

fn plain_login(dovecot: &Dovecot) -> Session<TcpStream> {
    let ports = dovecot.destinations.as_ref().unwrap();
    let client = Client::new(tcp(dovecot, ports.imap_port)).unwrap();
    client.login("alice", "secret").map_err(|(e, _)| e).unwrap()
}

/// The messages of alice's Maildir whose file names end in one of `flags` (or all).
fn stored(dovecot: &Dovecot) -> Vec<(String, Vec<u8>)> {
    let mut messages = Vec::new();
    for sub in ["new", "cur"] {
        for entry in fs::read_dir(dovecot.maildir("alice").join(sub)).unwrap() {
            let entry = entry.unwrap();
            messages.push((
                entry.file_name().to_string_lossy().into_owned(),
                fs::read(entry.path()).unwrap(),
            ));
        }
    }
    messages
}

/// The flags in a Maildir file name (after `:2,`).
fn flags_of(name: &str) -> &str {
    name.split_once(":2,").map_or("", |(_, flags)| flags)
}

#[test]
fn login_with_login_and_status_over_plain_tcp() {
    let dovecot = start();
    let mut session = plain_login(&dovecot);
    assert!(session.capabilities().uidplus());
    let status = session.status("INBOX").unwrap();
    assert_eq!(status.messages, 0);
    assert!(status.uid_next >= 1 && status.uid_validity > 0);
    session.logout().unwrap();
}

#[test]
fn starttls_then_authenticate_plain() {
    let dovecot = start();
    let ports = dovecot.destinations.as_ref().unwrap();
    let mut client = Client::new(tcp(&dovecot, ports.imap_port)).unwrap();
    assert!(client.capabilities().unwrap().starttls());
    let mut client = client
        .starttls()
        .unwrap()
        .handshake(|raw| tls(&dovecot, raw))
        .unwrap();
    assert!(!client.capabilities().unwrap().starttls());
    let mut plain = Plain {
        authzid: String::new(),
        user: "alice".into(),
        password: "secret".into(),
    };
    let mut session = client.authenticate(&mut plain).map_err(|(e, _)| e).unwrap();
    session.status("INBOX").unwrap();
    session.logout().unwrap();
}

#[test]
fn tls_on_connect_login_and_a_refused_password() {
    let dovecot = start();
    let ports = dovecot.destinations.as_ref().unwrap();
    let stream = tls(&dovecot, tcp(&dovecot, ports.imaps_port)).unwrap();
    let client = Client::new(stream).unwrap();
    let (error, client) = client.login("alice", "wrong").unwrap_err();
    assert!(error.refusal().is_some(), "{error:?}");
    let mut plain = Plain {
        authzid: String::new(),
        user: "alice".into(),
        password: "wrong".into(),
    };
    let (error, client) = client.authenticate(&mut plain).unwrap_err();
    assert!(error.refusal().is_some(), "{error:?}");
    let mut session = client.login("alice", "secret").map_err(|(e, _)| e).unwrap();
    session.status("INBOX").unwrap();
    session.logout().unwrap();
}

#[test]
fn a_pipelined_batch_of_tricky_messages_is_stored_byte_exact() {
    let dovecot = start();
    let mut session = plain_login(&dovecot);
    assert!(session.capabilities().literal_plus());
    let before = session.status("INBOX").unwrap();

    let mut big = Vec::with_capacity(5 * 1024 * 1024 + 100);
    big.extend_from_slice(b"Subject: big\nMessage-ID: <big@popget.test>\n\n");
    let mut n = 0u64;
    while big.len() < 5 * 1024 * 1024 {
        big.extend_from_slice(format!("line {n} of a large message, with some text\n").as_bytes());
        n += 1;
    }
    let messages: Vec<Vec<u8>> = vec![
        b"Subject: dot\n\n.\nafter the dot\n..\n.\n".to_vec(),
        b"Subject: from\n\nFrom the start of a line\n>From quoted\nFrom \n".to_vec(),
        b"Subject: 8bit\nContent-Type: text/plain; charset=latin1\n\n\xe9t\xe9 \xff\xfe\x80\n"
            .to_vec(),
        b"Subject: no final newline\n\nthe end".to_vec(),
        b"Subject: crlf already\r\n\r\nmixed\r\nline ends\n".to_vec(),
        big,
    ];
    let mut sources: Vec<Cursor<Vec<u8>>> = messages.iter().cloned().map(Cursor::new).collect();
    let date = InternalDate::new(1_600_000_000, 2 * 3600).unwrap();
    let mut batch: Vec<AppendMessage<'_>> = sources
        .iter_mut()
        .enumerate()
        .map(|(i, source)| {
            let message = AppendMessage::new(source);
            if i == 0 {
                message.flags(["\\Seen", "\\Flagged"]).internal_date(date)
            } else {
                message
            }
        })
        .collect();
    let outcomes = session.append("INBOX", &mut batch).unwrap();
    let uids: Vec<u32> = outcomes
        .iter()
        .map(|outcome| match outcome {
            AppendOutcome::Appended(Some(uid)) => {
                assert_eq!(uid.uid_validity, before.uid_validity);
                uid.uid
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(uids.windows(2).all(|pair| pair[0] < pair[1]), "{uids:?}");
    assert_eq!(uids[0], before.uid_next);
    let after = session.status("INBOX").unwrap();
    assert_eq!(after.messages, messages.len() as u32);
    session.logout().unwrap();

    // Dovecot keeps LF line ends in a Maildir: what is stored is what was on disk, except
    // that the CRLF already there became LF too.
    let stored = stored(&dovecot);
    let mut expected: Vec<Vec<u8>> = messages.clone();
    expected[4] = b"Subject: crlf already\n\nmixed\nline ends\n".to_vec();
    let mut got: Vec<Vec<u8>> = stored.iter().map(|(_, bytes)| bytes.clone()).collect();
    expected.sort();
    got.sort();
    assert_eq!(got.len(), expected.len());
    for (got, expected) in got.iter().zip(&expected) {
        assert!(
            got == expected,
            "a message came back changed ({} octets, {} expected)",
            got.len(),
            expected.len()
        );
    }
    // The flags and the internal date of the first message.
    let (name, _) = stored
        .iter()
        .find(|(_, bytes)| bytes.starts_with(b"Subject: dot"))
        .unwrap();
    assert_eq!(
        flags_of(name),
        "FS",
        "{name} {:?}",
        stored.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    let path = ["cur", "new"]
        .iter()
        .map(|sub| dovecot.maildir("alice").join(sub).join(name))
        .find(|path| path.exists())
        .unwrap();
    let mtime = fs::metadata(path).unwrap().modified().unwrap();
    assert_eq!(
        mtime.duration_since(UNIX_EPOCH).unwrap().as_secs(),
        1_600_000_000
    );
    let unflagged = stored
        .iter()
        .filter(|(_, bytes)| !bytes.starts_with(b"Subject: dot"));
    for (name, _) in unflagged {
        assert!(!flags_of(name).contains('S'), "{name}");
    }
}

#[test]
fn trycreate_for_a_missing_mailbox_then_create_and_append() {
    let dovecot = start();
    let mut session = plain_login(&dovecot);
    let mut message = Cursor::new(b"Subject: archived\n\nhello\n".to_vec());
    let outcomes = session
        .append("Archive", &mut [AppendMessage::new(&mut message)])
        .unwrap();
    match &outcomes[0] {
        AppendOutcome::Refused(refusal) => {
            assert_eq!(refusal.code, Some(ResponseCode::TryCreate), "{refusal:?}")
        }
        other => panic!("{other:?}"),
    }
    session.create("Archive").unwrap();
    let error = session.create("Archive").unwrap_err();
    assert!(error.refusal().is_some(), "{error:?}");
    message.set_position(0);
    let outcomes = session
        .append("Archive", &mut [AppendMessage::new(&mut message)])
        .unwrap();
    assert!(
        matches!(outcomes[0], AppendOutcome::Appended(Some(_))),
        "{outcomes:?}"
    );
    assert_eq!(session.status("Archive").unwrap().messages, 1);
    // A name outside ASCII, in modified UTF-7.
    session.create("Entwürfe").unwrap();
    assert_eq!(session.status("Entwürfe").unwrap().messages, 0);
    session.logout().unwrap();
}

#[test]
fn find_appended_finds_what_was_appended_and_nothing_else() {
    let dovecot = start();
    let mut session = plain_login(&dovecot);
    let mut first = Cursor::new(b"Subject: other\nMessage-ID: <other@popget.test>\n\nx\n".to_vec());
    session
        .append("INBOX", &mut [AppendMessage::new(&mut first)])
        .unwrap();
    let before = session.status("INBOX").unwrap();
    let text = b"Subject: lost\nMessage-ID: <lost@popget.test>\n\nbody\n".to_vec();
    let mut source = Cursor::new(text);
    let octets = crlf_length(&mut source).unwrap();
    let outcomes = session
        .append("INBOX", &mut [AppendMessage::new(&mut source)])
        .unwrap();
    let AppendOutcome::Appended(Some(uid)) = outcomes[0] else {
        panic!("{outcomes:?}");
    };
    assert_eq!(
        session
            .find_appended(
                "INBOX",
                before.uid_validity,
                before.uid_next,
                Some("<lost@popget.test>"),
                octets,
                None
            )
            .unwrap(),
        Lookup::Found(uid.uid)
    );
    // The header as Dovecot returns it hashes as popget hashes the message it sent.
    source.set_position(0);
    let header = header_sha256(&mut source, 4096).unwrap().unwrap();
    for (digest, found) in [(header, Lookup::Found(uid.uid)), ([0; 32], Lookup::Absent)] {
        let lookup = session.find_appended(
            "INBOX",
            before.uid_validity,
            before.uid_next,
            Some("<lost@popget.test>"),
            octets,
            Some(&digest),
        );
        assert_eq!(lookup.unwrap(), found);
    }
    // Another Message-ID, another size, a range after it: absent.
    for (id, size, since) in [
        ("<absent@popget.test>", octets, before.uid_next),
        ("<lost@popget.test>", octets + 1, before.uid_next),
        ("<lost@popget.test>", octets, uid.uid + 1),
        // The earlier message is below the range.
        ("<other@popget.test>", 51, before.uid_next),
    ] {
        assert_eq!(
            session
                .find_appended("INBOX", before.uid_validity, since, Some(id), size, None)
                .unwrap(),
            Lookup::Absent,
            "{id} {size} {since}"
        );
    }
    assert_eq!(
        session
            .find_appended("INBOX", before.uid_validity + 1, 1, None, octets, None)
            .unwrap(),
        Lookup::UidValidityChanged(before.uid_validity)
    );
    // After the EXAMINE and CLOSE, APPEND still works, and nothing was marked seen.
    let mut more = Cursor::new(b"Subject: more\n\n".to_vec());
    session
        .append("INBOX", &mut [AppendMessage::new(&mut more)])
        .unwrap();
    session.logout().unwrap();
    for (name, _) in stored(&dovecot) {
        assert!(!flags_of(&name).contains('S'), "{name} was marked seen");
    }
    let _ = SystemTime::now();
}
