//! The client against a real LMTP server: a private Dovecot (crates/testbed) on a Unix socket
//! and on a loopback port, delivering into alice's Maildir, where every message is checked
//! byte for byte. Both ways of sending the message (BDAT chunks and DATA) are exercised, with
//! and without pipelining. Dovecot missing fails the tests, never skips them.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use popget_lmtp::{normalized, Client, EnhancedCode, Envelope, Extensions, Tracer};
use popget_testbed::dovecot::{Dovecot, Options};

const TIMEOUT: Duration = Duration::from_secs(60);

fn start() -> Dovecot {
    Dovecot::start_with(Options {
        destinations: true,
        ..Options::default()
    })
}

/// The messages that are easy to get wrong, as popget stores them (LF line ends, unstuffed).
fn tricky_messages() -> Vec<(&'static str, Vec<u8>)> {
    let mut big = b"Subject: five megabytes\n\n".to_vec();
    let mut n = 0u32;
    while big.len() < 5 * 1024 * 1024 {
        // Lines that start with dots, "From ", 8-bit octets, of varying lengths.
        match n % 5 {
            0 => big.extend_from_slice(b".\n"),
            1 => big.extend_from_slice(b"..starts with two dots\n"),
            2 => big.extend_from_slice(b"From somebody, not a separator\n"),
            3 => big.extend_from_slice("caf\u{e9} \u{2013} 8-bit\n".as_bytes()),
            _ => big.extend(std::iter::repeat_n(b'x', (n % 997) as usize).chain([b'\n'])),
        }
        n += 1;
    }
    vec![
        (
            "dot lines",
            b"Subject: dots\n\n.\n..\n...x\n.leading\nend\n.\n".to_vec(),
        ),
        (
            "From lines",
            b"Subject: from\n\nFrom here\n>From there\nFrom\n".to_vec(),
        ),
        (
            "8-bit",
            b"Subject: =?utf-8?q?caf=C3=A9?=\nContent-Type: text/plain; charset=utf-8\n\
              Content-Transfer-Encoding: 8bit\n\ncaf\xc3\xa9 \xe2\x82\xac \xff\x80\n"
                .to_vec(),
        ),
        (
            "no final newline",
            b"Subject: short\n\nno newline at the end".to_vec(),
        ),
        (
            "a dot at the very end",
            b"Subject: dot\n\nlast line is a dot\n.".to_vec(),
        ),
        (
            "CRLF",
            b"Subject: crlf\r\n\r\nline\r\n.\r\nend\r\n".to_vec(),
        ),
        ("empty body", b"Subject: empty\n\n".to_vec()),
        ("bare CRs", b"Subject: cr\n\na\rb\n\r.\nend\r".to_vec()),
        ("5 MB", big),
    ]
}

/// A client over `stream`, after LHLO, whose dialogue goes to `log`.
fn connect<S: Read + Write>(stream: S, log: &Arc<Mutex<Vec<String>>>) -> Client<S> {
    let log = log.clone();
    let trace: Tracer = Box::new(move |line| log.lock().unwrap().push(line.to_string()));
    let mut client = Client::with_trace(stream, "dovecot", Some(trace)).expect("greeting");
    client.lhlo("popget.test").expect("LHLO");
    client
}

fn unix(dovecot: &Dovecot) -> UnixStream {
    let path = &dovecot.destinations.as_ref().unwrap().lmtp_socket;
    let stream = UnixStream::connect(path).expect("the LMTP socket");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    stream
}

fn tcp(dovecot: &Dovecot) -> TcpStream {
    let port = dovecot.destinations.as_ref().unwrap().lmtp_port;
    let stream = TcpStream::connect((dovecot.listen, port)).expect("the LMTP port");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    stream
}

/// The files in the user's Maildir (new and cur).
fn maildir_files(dovecot: &Dovecot, user: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(entries) = fs::read_dir(dovecot.maildir(user).join(sub)) {
            files.extend(entries.map(|entry| entry.unwrap().path()));
        }
    }
    files.sort();
    files
}

/// What Dovecot stored, without the header lines it puts in front (Return-Path, Delivered-To
/// and Received, the last folded over several lines); panics if anything else precedes.
fn without_added_headers(stored: &[u8]) -> &[u8] {
    let mut rest = stored;
    let mut added = Vec::new();
    while let Some(name) = ["Return-Path:", "Delivered-To:", "Received:"]
        .iter()
        .find(|name| rest.starts_with(name.as_bytes()))
    {
        added.push(*name);
        loop {
            let end = rest
                .iter()
                .position(|&b| b == b'\n')
                .expect("a header line")
                + 1;
            rest = &rest[end..];
            if !rest.starts_with(b" ") && !rest.starts_with(b"\t") {
                break;
            }
        }
    }
    assert!(
        added.contains(&"Return-Path:") && added.contains(&"Delivered-To:"),
        "Dovecot added {added:?}"
    );
    rest
}

/// Delivers `message` to alice and returns the one file it became, after the added headers.
fn deliver_and_read<S: Read + Write>(
    client: &mut Client<S>,
    dovecot: &Dovecot,
    message: &[u8],
) -> Vec<u8> {
    let before = maildir_files(dovecot, "alice");
    let envelope = Envelope::new("sender@example.org", ["alice"]).describing(message);
    let delivery = client.deliver(&envelope, message).expect("delivery");
    assert!(delivery.delivered_to_all(), "{delivery:?}");
    let after = maildir_files(dovecot, "alice");
    let new: Vec<&PathBuf> = after.iter().filter(|path| !before.contains(path)).collect();
    assert_eq!(new.len(), 1, "one new file in the Maildir");
    let stored = fs::read(new[0]).unwrap();
    without_added_headers(&stored).to_vec()
}

/// Every tricky message through one connection, set up by `setup`, checked byte for byte.
fn deliver_all<S: Read + Write>(
    dovecot: &Dovecot,
    stream: S,
    how: &str,
    setup: impl FnOnce(&mut Client<S>),
) -> Vec<String> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut client = connect(stream, &log);
    setup(&mut client);
    for (name, message) in tricky_messages() {
        let stored = deliver_and_read(&mut client, dovecot, &message);
        assert!(
            stored == normalized(&message),
            "{how}: the message with {name} was stored differently ({} octets stored, {} expected)",
            stored.len(),
            normalized(&message).len()
        );
    }
    client.quit().expect("QUIT");
    let log = log.lock().unwrap().clone();
    log
}

fn offered(stream: impl Read + Write) -> Extensions {
    let log = Arc::new(Mutex::new(Vec::new()));
    let client = connect(stream, &log);
    let extensions = client.extensions().unwrap().clone();
    client.quit().unwrap();
    extensions
}

#[test]
fn dovecot_offers_pipelining_and_chunking() {
    // Both ways of sending the message below are only tested against Dovecot if it offers
    // CHUNKING (BDAT) and DATA is forced: a Dovecot without it must fail this test.
    let dovecot = start();
    for extensions in [offered(unix(&dovecot)), offered(tcp(&dovecot))] {
        assert!(extensions.pipelining, "{extensions:?}");
        assert!(extensions.chunking, "{extensions:?}");
        assert!(extensions.eight_bit_mime, "{extensions:?}");
        assert!(extensions.enhanced_status_codes, "{extensions:?}");
        eprintln!("Dovecot offers: {:?}", extensions.keywords);
    }
}

#[test]
fn tricky_messages_arrive_byte_for_byte_over_the_unix_socket() {
    let dovecot = start();
    let log = deliver_all(&dovecot, unix(&dovecot), "BDAT, pipelined", |_| {});
    assert!(log
        .iter()
        .any(|line| line.starts_with("C: BDAT ") && line.ends_with(" LAST")));
    assert!(!log.iter().any(|line| line == "C: DATA"));
    // The 5 MB message went in more than one chunk.
    assert!(log.iter().any(|line| line == "C: BDAT 1048576"));

    let log = deliver_all(&dovecot, unix(&dovecot), "DATA, pipelined", |client| {
        client.set_chunking(false)
    });
    assert!(log.iter().any(|line| line == "C: DATA"));
    assert!(!log.iter().any(|line| line.starts_with("C: BDAT")));
    // Dovecot offers 8BITMIME but not SIZE: BODY=8BITMIME for the messages with 8-bit octets.
    assert!(log
        .iter()
        .any(|line| line == "C: MAIL FROM:<sender@example.org> BODY=8BITMIME"));
    assert!(log
        .iter()
        .any(|line| line == "C: MAIL FROM:<sender@example.org>"));
}

#[test]
fn tricky_messages_arrive_byte_for_byte_over_tcp() {
    let dovecot = start();
    deliver_all(&dovecot, tcp(&dovecot), "BDAT, one at a time", |client| {
        client.set_pipelining(false);
        client.set_chunk_size(64 * 1024);
    });
    deliver_all(&dovecot, tcp(&dovecot), "DATA, one at a time", |client| {
        client.set_pipelining(false);
        client.set_chunking(false);
    });
    let log = deliver_all(&dovecot, tcp(&dovecot), "DATA, pipelined", |client| {
        client.set_chunking(false);
    });
    // The envelope and DATA went out together: DATA before the reply to MAIL.
    let data = log.iter().position(|line| line == "C: DATA").unwrap();
    let mail = log
        .iter()
        .position(|line| line.starts_with("C: MAIL"))
        .unwrap();
    assert!(log[mail..data].iter().all(|line| line.starts_with("C: ")));
}

#[test]
fn an_unknown_recipient_is_refused_next_to_a_delivered_one() {
    let dovecot = start();
    for chunking in [true, false] {
        for (name, stream) in [
            ("unix", Box::new(unix(&dovecot)) as Box<dyn ReadWrite>),
            ("tcp", Box::new(tcp(&dovecot))),
        ] {
            let log = Arc::new(Mutex::new(Vec::new()));
            let mut client = connect(stream, &log);
            client.set_chunking(chunking);
            let message = format!("Subject: {name} {chunking}\n\nhello\n").into_bytes();
            let before = maildir_files(&dovecot, "alice").len();
            let envelope = Envelope::new("", ["nobody", "alice", "alice"]);
            let delivery = client.deliver(&envelope, &message[..]).unwrap();
            let verdicts: Vec<(&str, u16, Option<EnhancedCode>)> = delivery
                .verdicts()
                .map(|(who, reply)| (who, reply.code, reply.enhanced))
                .collect();
            assert_eq!(verdicts[0].0, "nobody");
            assert!(verdicts[0].1 == 550, "{verdicts:?}");
            assert_eq!(verdicts[0].2, Some((5, 1, 1)));
            assert!(delivery.recipients[0].reply.is_none());
            for verdict in &verdicts[1..] {
                assert_eq!(verdict.1, 250, "{verdicts:?}");
            }
            // alice twice: Dovecot delivers once per RCPT (or once for both); either way
            // each accepted RCPT got its own reply after the data.
            assert!(delivery.recipients[1..].iter().all(|r| r.reply.is_some()));
            let after = maildir_files(&dovecot, "alice").len();
            assert!(after > before);

            // Nobody at all: no message is sent, the transaction is reset, the session goes on.
            let delivery = client
                .deliver(&Envelope::new("", ["nobody"]), &b"Subject: lost\n\nx\n"[..])
                .unwrap();
            assert!(!delivery.delivered_to_all());
            assert_eq!(delivery.verdicts().next().unwrap().1.code, 550);
            assert_eq!(maildir_files(&dovecot, "alice").len(), after);
            client.noop().unwrap();
            client.quit().unwrap();
            let log = log.lock().unwrap();
            if name == "unix" {
                eprintln!("chunking {chunking}:\n{}", log.join("\n"));
            }
            let sent_body = log
                .iter()
                .any(|line| line.contains("octets") && line.contains("{"));
            assert!(sent_body);
            assert!(log.iter().any(|line| line == "C: RSET"));
        }
    }
}

/// A stream of either kind, for tests that run over both.
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}
