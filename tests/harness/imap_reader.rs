//! Reads a mailbox back from an IMAP server the tests started, as a mail client would see it:
//! LOGIN, EXAMINE (read-only, so no flag changes), one `UID FETCH 1:* (FLAGS BODY.PEEK[])`,
//! LOGOUT, over plain TCP on loopback. Each message is the server's literal taken byte for
//! byte, CRLF line ends and all. Anything unexpected panics, and every read has a deadline.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One message as the server holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub uid: u32,
    /// The flags, as the server names them (`\Seen`, `\Recent`, ...).
    pub flags: Vec<String>,
    /// `BODY[]`: the whole message exactly as stored.
    pub body: Vec<u8>,
}

/// Every message of `mailbox` (as `user`), in UID order. Panics when the login or EXAMINE is
/// refused (a mailbox that does not exist, say).
pub fn read_mailbox(port: u16, user: &str, password: &str, mailbox: &str) -> Vec<Fetched> {
    let mut client = Client::connect(port);
    client.command(&format!("LOGIN {} {}", quoted(user), quoted(password)));
    client.command(&format!("EXAMINE {}", quoted(mailbox)));
    let responses = client.command("UID FETCH 1:* (FLAGS BODY.PEEK[])");
    client.command("LOGOUT");
    let mut messages: Vec<Fetched> = responses
        .into_iter()
        .filter(|response| response.text.contains(" FETCH ("))
        .map(|response| fetched(&response))
        .collect();
    messages.sort_by_key(|message| message.uid);
    messages
}

/// The names of the mailboxes `user` sees (LIST "" "*"), unquoted, sorted.
pub fn list_mailboxes(port: u16, user: &str, password: &str) -> Vec<String> {
    let mut client = Client::connect(port);
    client.command(&format!("LOGIN {} {}", quoted(user), quoted(password)));
    let responses = client.command("LIST \"\" \"*\"");
    client.command("LOGOUT");
    let mut names: Vec<String> = responses
        .iter()
        .filter_map(|response| response.text.strip_prefix("* LIST "))
        .map(|rest| {
            // `(\HasNoChildren) "/" name`: the name is what follows the delimiter.
            let after_flags = &rest[rest.find(") ").expect("LIST flags") + 2..];
            let name = after_flags.split_once(' ').expect("LIST delimiter").1;
            name.trim_matches('"').replace("\\\"", "\"")
        })
        .collect();
    names.sort();
    names
}

/// One untagged response: its text with each literal replaced by `{n}`, and the literals.
struct Response {
    text: String,
    literals: Vec<Vec<u8>>,
}

struct Client {
    reader: BufReader<TcpStream>,
    next_tag: u32,
}

impl Client {
    fn connect(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("IMAP connects");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut client = Client {
            reader: BufReader::new(stream),
            next_tag: 1,
        };
        let greeting = client.response();
        assert!(
            greeting.text.starts_with("* OK"),
            "IMAP greeting: {:?}",
            greeting.text
        );
        client
    }

    /// Sends one command and returns its untagged responses; panics unless it ends in OK.
    fn command(&mut self, command: &str) -> Vec<Response> {
        let tag = format!("r{}", self.next_tag);
        self.next_tag += 1;
        self.reader
            .get_mut()
            .write_all(format!("{tag} {command}\r\n").as_bytes())
            .unwrap();
        let mut untagged = Vec::new();
        loop {
            let response = self.response();
            if let Some(status) = response.text.strip_prefix(&format!("{tag} ")) {
                assert!(status.starts_with("OK"), "IMAP {command:?}: {status}");
                return untagged;
            }
            untagged.push(response);
        }
    }

    /// Reads one response, its literals included.
    fn response(&mut self) -> Response {
        let mut text = String::new();
        let mut literals = Vec::new();
        loop {
            let mut line = Vec::new();
            self.reader
                .read_until(b'\n', &mut line)
                .expect("the IMAP server answers");
            let line = line
                .strip_suffix(b"\r\n")
                .unwrap_or_else(|| panic!("IMAP line without CRLF: {line:?}"));
            let line = String::from_utf8_lossy(line);
            let Some(size) = literal_size(&line) else {
                text.push_str(&line);
                return Response { text, literals };
            };
            text.push_str(&line);
            let mut literal = vec![0; size];
            self.reader
                .read_exact(&mut literal)
                .expect("the IMAP literal arrives whole");
            literals.push(literal);
        }
    }
}

/// The size of the literal a line announces at its end (`{123}`), if it does.
fn literal_size(line: &str) -> Option<usize> {
    let open = line.strip_suffix('}')?.rfind('{')?;
    line[open + 1..line.len() - 1].parse().ok()
}

fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A FETCH response's UID, flags and `BODY[]`.
fn fetched(response: &Response) -> Fetched {
    let text = &response.text;
    let uid = text
        .split_once("UID ")
        .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("FETCH without UID: {text}"));
    let flags = text
        .split_once("FLAGS (")
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(list, _)| list.split_whitespace().map(str::to_string).collect())
        .unwrap_or_else(|| panic!("FETCH without FLAGS: {text}"));
    assert!(
        text.contains("BODY[] {") && response.literals.len() == 1,
        "FETCH without one BODY[] literal: {text}"
    );
    Fetched {
        uid,
        flags,
        body: response.literals[0].clone(),
    }
}

/// LF line ends → CRLF: how a message with LF line ends goes over IMAP and LMTP, and how
/// Cyrus stores it. A CR alone stays as it is.
pub fn lf_to_crlf(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 20);
    for &byte in message {
        if byte == b'\n' {
            out.push(b'\r');
        }
        out.push(byte);
    }
    out
}
