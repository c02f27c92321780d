//! A scriptable fake POP3 server on loopback: a small maildrop model with knobs for hostile or
//! broken behaviour, recording every command the client sends.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How the fake server behaves.
#[derive(Clone)]
pub struct Script {
    pub greeting: String,
    /// Lines of the CAPA answer; `None` answers CAPA with -ERR.
    pub capa: Option<Vec<String>>,
    /// Lines of the CAPA answer once logged in, when they differ (Gmail announces UIDL, TOP
    /// and PIPELINING only then).
    pub capa_after_login: Option<Vec<String>>,
    pub uidl: bool,
    pub password: String,
    /// Messages as stored (LF line ends), with their unique ids.
    pub messages: Vec<(String, Vec<u8>)>,
    /// Fixed answers for exact command lines (e.g. "RETR 2" → "-ERR gone"), sent instead of
    /// the model's answer. More can be added while it runs with [`FakeServer::answer`].
    pub overrides: HashMap<String, String>,
    /// Close the connection without answering when this exact command line first arrives
    /// (later connections are served normally).
    pub drop_on: Option<String>,
    /// Answer this command with only the first N octets of its answer, then close (first time
    /// only).
    pub truncate_on: Option<(String, usize)>,
    /// Never answer this command (the client's timeout must fire).
    pub stall_on: Option<String>,
    /// Log the client in when this exact line arrives (the end of a scripted SASL exchange).
    pub login_on: Option<String>,
    /// Serve AUTH XOAUTH2 and AUTH OAUTHBEARER (one-line or two-step) and log the client in
    /// when this accepts the bearer token; otherwise send the mechanism's error challenge,
    /// read the client's answer and refuse with `-ERR [AUTH]`.
    pub bearer_check: Option<BearerCheck>,
    /// With `bearer_check`: refuse an AUTH line carrying the initial response with
    /// `-ERR Protocol error.`, as Microsoft's POP3 server does; the two-step form works.
    pub auth_line_refused: bool,
    /// Speak POP3S: TLS from the first byte, with a self-signed certificate for 127.0.0.1.
    pub tls: bool,
    /// Answer STLS with `+OK` and a TLS handshake (with the same certificate as `tls`).
    pub starttls: bool,
    /// Lines of the CAPA answer once TLS is active (`None`: the same as `capa`).
    pub capa_after_tls: Option<Vec<String>>,
    /// With `tls` or `starttls`: this certificate and PKCS#8 key (PEM) instead of the
    /// generated one.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
    /// Sees every command line first (and [`CONNECTED`] before the greeting) and may answer
    /// it with raw bytes of its own: for streams, endless answers and injected data.
    pub handler: Option<Handler>,
    /// What LIST announces for a message of this many octets, instead of its size (an
    /// Exchange server that estimates).
    pub listed_size: Option<fn(usize) -> usize>,
}

/// What a [`Handler`] did with a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Nothing: the server answers as usual.
    No,
    /// It wrote the answer.
    Answered,
    /// Close the connection now.
    Close,
}

/// Whether a bearer token is valid (see `OAuthServer::token_check`).
pub type BearerCheck = Arc<dyn Fn(&str) -> bool + Send + Sync + 'static>;

/// The size LIST announces for a message of `octets`.
fn listed(script: &Script, octets: usize) -> usize {
    script
        .listed_size
        .map_or(octets, |estimate| estimate(octets))
}

/// The bearer token in a decoded XOAUTH2 or OAUTHBEARER initial response.
fn bearer_token(response: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(response);
    text.split('\x01')
        .find_map(|field| field.strip_prefix("auth=Bearer "))
        .map(str::to_string)
}

/// A hook for hostile behaviour: gets each line and the connection.
pub type Handler =
    Arc<dyn Fn(&str, &mut dyn Write) -> std::io::Result<Handled> + Send + Sync + 'static>;

/// The line a [`Handler`] sees when a client connects, before the greeting; `Answered`
/// replaces the greeting.
pub const CONNECTED: &str = "\0connected";

trait Connection: Read + Write + Send {}
impl<T: Read + Write + Send> Connection for T {}

impl Default for Script {
    fn default() -> Self {
        Script {
            greeting: "+OK fake POP3 ready".into(),
            capa: Some(vec!["USER".into(), "UIDL".into(), "TOP".into()]),
            capa_after_login: None,
            uidl: true,
            password: "secret".into(),
            messages: Vec::new(),
            overrides: HashMap::new(),
            drop_on: None,
            truncate_on: None,
            stall_on: None,
            login_on: None,
            bearer_check: None,
            auth_line_refused: false,
            tls: false,
            starttls: false,
            capa_after_tls: None,
            identity: None,
            handler: None,
            listed_size: None,
        }
    }
}

/// The server's messages by position; `None` once deleted by a committed QUIT.
type Maildrop = Mutex<Vec<Option<(String, Vec<u8>)>>>;

/// `n` small messages with ids uid-1..uid-n and bodies "Subject: i".
pub fn numbered_messages(n: usize) -> Vec<(String, Vec<u8>)> {
    (1..=n)
        .map(|i| {
            (
                format!("uid-{i}"),
                format!("Subject: {i}\n\nbody {i}\n").into_bytes(),
            )
        })
        .collect()
}

pub struct FakeServer {
    pub port: u16,
    overrides: Arc<Mutex<HashMap<String, String>>>,
    /// With `tls`: the directory holding the certificate clients must trust.
    certificate: Option<tempfile::TempDir>,
    /// TLS from the first byte (otherwise STLS when there is a certificate).
    implicit: bool,
    commands: Arc<Mutex<Vec<String>>>,
    maildrop: Arc<Maildrop>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeServer {
    pub fn start(script: Script) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let overrides = Arc::new(Mutex::new(script.overrides.clone()));
        let commands = Arc::new(Mutex::new(Vec::new()));
        let maildrop = Arc::new(Mutex::new(
            script.messages.iter().cloned().map(Some).collect(),
        ));
        let stop = Arc::new(AtomicBool::new(false));
        let dropped = AtomicBool::new(false);
        let implicit = script.tls;
        let certificate = (script.tls || script.starttls).then(|| tempfile::tempdir().unwrap());
        let acceptor = certificate.as_ref().map(|dir| {
            let (cert, key) = match &script.identity {
                Some((cert, key)) => {
                    std::fs::write(dir.path().join("cert.pem"), cert).unwrap();
                    (cert.clone(), key.clone())
                }
                None => {
                    crate::harness::dovecot::generate_certificate(dir.path());
                    (
                        std::fs::read(dir.path().join("cert.pem")).unwrap(),
                        std::fs::read(dir.path().join("key.pem")).unwrap(),
                    )
                }
            };
            Arc::new(
                native_tls::TlsAcceptor::new(
                    native_tls::Identity::from_pkcs8(&cert, &key).unwrap(),
                )
                .unwrap(),
            )
        });
        let thread = {
            let (commands, maildrop, stop) = (commands.clone(), maildrop.clone(), stop.clone());
            let overrides = overrides.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            stream.set_nonblocking(false).unwrap();
                            stream
                                .set_read_timeout(Some(Duration::from_secs(20)))
                                .unwrap();
                            let server = Server {
                                script: &script,
                                overrides: &overrides,
                                commands: &commands,
                                maildrop: &maildrop,
                                dropped: &dropped,
                                acceptor: acceptor.as_deref(),
                            };
                            if script.tls {
                                let acceptor = acceptor.as_ref().expect("a certificate");
                                if let Ok(tls) = acceptor.accept(stream) {
                                    let _ = server.serve(Box::new(tls), true);
                                }
                                continue;
                            }
                            let _ = server.serve(Box::new(stream), false);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        FakeServer {
            port,
            overrides,
            certificate,
            implicit,
            commands,
            maildrop,
            stop,
            thread: Some(thread),
        }
    }

    /// Answers `line` with `answer` from now on.
    pub fn answer(&self, line: &str, answer: &str) {
        self.overrides
            .lock()
            .unwrap()
            .insert(line.to_string(), answer.to_string());
    }

    /// Every command line received so far, across connections (PASS arguments included, so
    /// tests can check what crossed the wire).
    pub fn commands(&self) -> Vec<String> {
        self.commands.lock().unwrap().clone()
    }

    /// Messages still on the server.
    pub fn remaining(&self) -> Vec<String> {
        self.maildrop
            .lock()
            .unwrap()
            .iter()
            .flatten()
            .map(|(uid, _)| uid.clone())
            .collect()
    }

    /// The messages still on the server, with their unique ids.
    pub fn left(&self) -> Vec<(String, Vec<u8>)> {
        self.maildrop
            .lock()
            .unwrap()
            .iter()
            .flatten()
            .cloned()
            .collect()
    }

    pub fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = [
            "--host",
            "127.0.0.1",
            "--port",
            &self.port.to_string(),
            "--user",
            "alice",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        match &self.certificate {
            Some(dir) => args.extend([
                "--tls".into(),
                if self.implicit {
                    "implicit"
                } else {
                    "starttls"
                }
                .into(),
                "--ca-file".into(),
                dir.path().join("cert.pem").display().to_string(),
            ]),
            None => args.extend(["--tls".into(), "none".into()]),
        }
        args
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What a dot-stuffing server sends for a stored message (LF line ends), terminator included.
pub fn stuffed(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in message.split_inclusive(|&b| b == b'\n') {
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        if content.starts_with(b".") {
            out.push(b'.');
        }
        out.extend_from_slice(content);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// One connection's view of the server.
struct Server<'a> {
    script: &'a Script,
    overrides: &'a Mutex<HashMap<String, String>>,
    commands: &'a Mutex<Vec<String>>,
    maildrop: &'a Maildrop,
    dropped: &'a AtomicBool,
    acceptor: Option<&'a native_tls::TlsAcceptor>,
}

impl Server<'_> {
    fn serve(&self, stream: Box<dyn Connection>, mut in_tls: bool) -> std::io::Result<()> {
        let Server {
            script,
            overrides,
            commands,
            maildrop,
            dropped,
            ..
        } = *self;
        let mut reader = BufReader::new(stream);
        let handler = script.handler.clone();
        let greeted = match &handler {
            Some(handler) => handler(CONNECTED, reader.get_mut())?,
            None => Handled::No,
        };
        match greeted {
            Handled::Close => return Ok(()),
            Handled::Answered => {}
            Handled::No => reader
                .get_mut()
                .write_all(format!("{}\r\n", script.greeting).as_bytes())?,
        }
        let mut authenticated = false;
        let mut user_given = false;
        let mut deleted: Vec<usize> = Vec::new();
        let snapshot: Vec<Option<(String, Vec<u8>)>> = maildrop.lock().unwrap().clone();
        let live: Vec<(usize, &(String, Vec<u8>))> = snapshot
            .iter()
            .enumerate()
            .filter_map(|(i, m)| m.as_ref().map(|m| (i, m)))
            .collect();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let line = line.trim_end_matches(['\r', '\n']).to_string();
            commands.lock().unwrap().push(line.clone());
            if let Some(handler) = &handler {
                match handler(&line, reader.get_mut())? {
                    Handled::No => {}
                    Handled::Answered => continue,
                    Handled::Close => return Ok(()),
                }
            }
            if script.drop_on.as_deref() == Some(line.as_str())
                && !dropped.swap(true, Ordering::Relaxed)
            {
                return Ok(());
            }
            if script.stall_on.as_deref() == Some(line.as_str()) {
                std::thread::sleep(Duration::from_secs(4));
                return Ok(());
            }
            if script.login_on.as_deref() == Some(line.as_str()) {
                authenticated = true;
                reader.get_mut().write_all(b"+OK logged in\r\n")?;
                continue;
            }
            if let Some(check) = script.bearer_check.as_ref().filter(|_| !authenticated) {
                let upper = line.to_ascii_uppercase();
                let mechanism = ["AUTH XOAUTH2", "AUTH OAUTHBEARER"]
                    .into_iter()
                    .find(|m| upper == *m || upper.starts_with(&format!("{m} ")));
                if let Some(mechanism) = mechanism {
                    let inline = line[mechanism.len()..].trim().to_string();
                    let stream = reader.get_mut();
                    if !inline.is_empty() && script.auth_line_refused {
                        stream.write_all(b"-ERR Protocol error.\r\n")?;
                        continue;
                    }
                    let response = if inline.is_empty() {
                        stream.write_all(b"+ \r\n")?;
                        let mut next = String::new();
                        reader.read_line(&mut next)?;
                        let next = next.trim_end_matches(['\r', '\n']).to_string();
                        commands.lock().unwrap().push(next.clone());
                        next
                    } else {
                        inline
                    };
                    use base64::Engine as _;
                    let token = base64::engine::general_purpose::STANDARD
                        .decode(response.as_bytes())
                        .ok()
                        .and_then(|decoded| bearer_token(&decoded));
                    if token.is_some_and(|token| check(&token)) {
                        authenticated = true;
                        reader.get_mut().write_all(b"+OK logged in\r\n")?;
                        continue;
                    }
                    let error = base64::engine::general_purpose::STANDARD
                        .encode(r#"{"status":"401","schemes":"bearer"}"#);
                    reader
                        .get_mut()
                        .write_all(format!("+ {error}\r\n").as_bytes())?;
                    let mut answer = String::new();
                    reader.read_line(&mut answer)?;
                    commands
                        .lock()
                        .unwrap()
                        .push(answer.trim_end_matches(['\r', '\n']).to_string());
                    reader
                        .get_mut()
                        .write_all(b"-ERR [AUTH] invalid bearer token\r\n")?;
                    continue;
                }
            }
            let overridden = overrides.lock().unwrap().get(&line).cloned();
            if let Some(answer) = overridden {
                reader
                    .get_mut()
                    .write_all(format!("{answer}\r\n").as_bytes())?;
                if line == "QUIT" {
                    return Ok(());
                }
                continue;
            }
            if line.eq_ignore_ascii_case("STLS") && script.starttls && !in_tls {
                let acceptor = self.acceptor.expect("a certificate");
                reader.get_mut().write_all(b"+OK begin TLS\r\n")?;
                let raw = reader.into_inner();
                let Ok(tls) = acceptor.accept(raw) else {
                    return Ok(());
                };
                reader = BufReader::new(Box::new(tls));
                in_tls = true;
                continue;
            }
            let mut words = line.splitn(3, ' ');
            let verb = words.next().unwrap_or("").to_ascii_uppercase();
            let arg = words.next();
            let number = arg
                .and_then(|a| a.parse::<usize>().ok())
                .filter(|&n| n >= 1 && n <= live.len() && !deleted.contains(&n));
            let reply: Vec<u8> = match (verb.as_str(), authenticated) {
                ("CAPA", _) => match script
                    .capa_after_login
                    .as_ref()
                    .filter(|_| authenticated)
                    .or(script.capa_after_tls.as_ref().filter(|_| in_tls))
                    .or(script.capa.as_ref())
                {
                    Some(lines) => {
                        let mut reply = b"+OK\r\n".to_vec();
                        for capa in lines {
                            reply.extend_from_slice(format!("{capa}\r\n").as_bytes());
                        }
                        reply.extend_from_slice(b".\r\n");
                        reply
                    }
                    None => b"-ERR unknown command\r\n".to_vec(),
                },
                ("USER", false) => {
                    user_given = true;
                    b"+OK\r\n".to_vec()
                }
                ("PASS", false) if user_given => {
                    let password = line.get(5..).unwrap_or("");
                    if password == script.password {
                        authenticated = true;
                        b"+OK logged in\r\n".to_vec()
                    } else {
                        b"-ERR [AUTH] invalid password\r\n".to_vec()
                    }
                }
                ("QUIT", _) => {
                    if authenticated {
                        let mut drop = maildrop.lock().unwrap();
                        for n in &deleted {
                            drop[live[n - 1].0] = None;
                        }
                    }
                    reader.get_mut().write_all(b"+OK bye\r\n")?;
                    return Ok(());
                }
                (_, false) => b"-ERR not authenticated\r\n".to_vec(),
                ("STAT", true) => {
                    let (count, size) = live
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| !deleted.contains(&(i + 1)))
                        .fold((0, 0), |(c, s), (_, (_, m))| {
                            (c + 1, s + stuffed(&m.1).len() - 3)
                        });
                    format!("+OK {count} {size}\r\n").into_bytes()
                }
                ("LIST", true) | ("UIDL", true) if arg.is_none() => {
                    if verb == "UIDL" && !script.uidl {
                        b"-ERR unknown command\r\n".to_vec()
                    } else {
                        let mut reply = b"+OK\r\n".to_vec();
                        for (i, (_, (uid, message))) in live.iter().enumerate() {
                            if deleted.contains(&(i + 1)) {
                                continue;
                            }
                            let field = if verb == "UIDL" {
                                uid.clone()
                            } else {
                                listed(script, stuffed(message).len() - 3).to_string()
                            };
                            reply.extend_from_slice(format!("{} {field}\r\n", i + 1).as_bytes());
                        }
                        reply.extend_from_slice(b".\r\n");
                        reply
                    }
                }
                ("LIST", true) | ("UIDL", true) if verb == "UIDL" && !script.uidl => {
                    b"-ERR unknown command\r\n".to_vec()
                }
                ("LIST", true) | ("UIDL", true) => match number {
                    Some(n) => {
                        let (uid, message) = &live[n - 1].1;
                        let field = if verb == "UIDL" {
                            uid.clone()
                        } else {
                            listed(script, stuffed(message).len() - 3).to_string()
                        };
                        format!("+OK {n} {field}\r\n").into_bytes()
                    }
                    None => b"-ERR no such message\r\n".to_vec(),
                },
                ("RETR", true) => match number {
                    Some(n) => {
                        let mut reply = b"+OK message follows\r\n".to_vec();
                        reply.extend_from_slice(&stuffed(&live[n - 1].1 .1));
                        reply
                    }
                    None => b"-ERR no such message\r\n".to_vec(),
                },
                ("TOP", true) => {
                    let lines = words.next().and_then(|l| l.trim().parse::<usize>().ok());
                    match (number, lines) {
                        (Some(n), Some(lines)) => {
                            let message = &live[n - 1].1 .1;
                            let split = message
                                .windows(2)
                                .position(|w| w == b"\n\n")
                                .map_or(message.len(), |i| i + 2);
                            let mut top = message[..split].to_vec();
                            for line in message[split..]
                                .split_inclusive(|&b| b == b'\n')
                                .take(lines)
                            {
                                top.extend_from_slice(line);
                            }
                            let mut reply = b"+OK top of message follows\r\n".to_vec();
                            reply.extend_from_slice(&stuffed(&top));
                            reply
                        }
                        _ => b"-ERR no such message\r\n".to_vec(),
                    }
                }
                ("DELE", true) => match number {
                    Some(n) => {
                        deleted.push(n);
                        b"+OK deleted\r\n".to_vec()
                    }
                    None => b"-ERR no such message\r\n".to_vec(),
                },
                ("NOOP", true) => b"+OK\r\n".to_vec(),
                ("RSET", true) => {
                    deleted.clear();
                    b"+OK\r\n".to_vec()
                }
                _ => b"-ERR unknown command\r\n".to_vec(),
            };
            if let Some((command, octets)) = &script.truncate_on {
                if *command == line && !dropped.swap(true, Ordering::Relaxed) {
                    reader
                        .get_mut()
                        .write_all(&reply[..(*octets).min(reply.len())])?;
                    return Ok(());
                }
            }
            reader.get_mut().write_all(&reply)?;
        }
    }
}
