//! The proof that nothing is lost or delivered twice: popget killed with SIGKILL at random
//! moments, and connections cut at random bytes, against a real Dovecot, rerun until done.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::dovecot::Dovecot;
use crate::harness::{maildir_messages, parse_mboxrd, sorted, Popget};

const MESSAGES: usize = 300;

/// A small seeded generator (xorshift64*), so that every run of the suite is the same.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Messages of varied size with the lines that framing gets wrong: dots and From lines.
fn corpus(rng: &mut Rng) -> Vec<Vec<u8>> {
    (0..MESSAGES)
        .map(|i| {
            let mut message =
                format!("Subject: crash {i}\nMessage-ID: <{i}@crash.test>\n\n").into_bytes();
            let lines = 2 + rng.below(400);
            for line in 0..lines {
                match rng.below(20) {
                    0 => message.extend_from_slice(b".\n"),
                    1 => message.extend_from_slice(b"From the start of a line\n"),
                    2 => message.extend_from_slice(b"..two dots\n"),
                    _ => message.extend_from_slice(
                        format!(
                            "line {line} of message {i} {}\n",
                            "x".repeat(rng.below(90) as usize)
                        )
                        .as_bytes(),
                    ),
                }
            }
            message
        })
        .collect()
}

#[derive(Clone, Copy, Debug)]
enum Target {
    Maildir,
    Mbox,
}

impl Target {
    fn args(self, popget: &Popget) -> Vec<String> {
        match self {
            Target::Maildir => vec![
                "--maildir".into(),
                popget.path("mail").display().to_string(),
            ],
            Target::Mbox => vec![
                "--mbox".into(),
                popget.path("mail.mbox").display().to_string(),
            ],
        }
    }

    fn delivered(self, popget: &Popget) -> Vec<Vec<u8>> {
        match self {
            Target::Maildir => maildir_messages(&popget.path("mail")),
            Target::Mbox => match std::fs::read(popget.path("mail.mbox")) {
                Ok(text) => sorted(parse_mboxrd(&text)),
                Err(_) => Vec::new(),
            },
        }
    }
}

/// Counts the messages missing from the mailbox and those in it more than once, and checks
/// that it holds exactly the originals.
fn exactly_once(target: Target, popget: &Popget, messages: Vec<Vec<u8>>) -> (usize, usize) {
    let delivered = target.delivered(popget);
    let expected = sorted(messages);
    let lost = expected.iter().filter(|m| !delivered.contains(m)).count();
    let distinct: std::collections::HashSet<_> = delivered.iter().collect();
    let duplicated = delivered.len() - distinct.len();
    assert_eq!(
        delivered.len() - duplicated,
        expected.len() - lost,
        "messages that were never sent appeared"
    );
    (lost, duplicated)
}

fn spawn_fetch(popget: &Popget, connection: &[String], target: Target) -> Child {
    let mut command = popget.command();
    command
        .env("POPGET_PASSWORD", "secret")
        .arg("fetch")
        .args(connection)
        .args(target.args(popget))
        .arg("--delete")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command.spawn().expect("popget starts")
}

/// Kills popget at random moments and reruns it until a run completes; then every message must
/// be in the mailbox exactly once and the server empty.
fn kill_at_random_moments(target: Target, seed: u64) {
    let dovecot = Dovecot::start();
    let mut rng = Rng(seed);
    let messages = corpus(&mut rng);
    for message in &messages {
        dovecot.deliver("alice", message);
    }
    let popget = Popget::new();
    let connection = dovecot.args("implicit", "alice");
    let started = Instant::now();
    let (mut runs, mut kills, mut recoveries) = (0, 0, 0);
    loop {
        assert!(
            runs < 400 && started.elapsed() < Duration::from_secs(300),
            "no progress after {runs} runs"
        );
        runs += 1;
        let mut child = spawn_fetch(&popget, &connection, target);
        // Early runs die fast; later ones get longer, so the loop always finishes.
        let delay = Duration::from_millis(5 + rng.below(40 + runs * 10));
        std::thread::sleep(delay);
        let killed = child.try_wait().unwrap().is_none();
        if killed {
            child.kill().unwrap();
            kills += 1;
        }
        let output = child.wait_with_output().unwrap();
        if String::from_utf8_lossy(&output.stderr).contains("of an interrupted run were found") {
            recoveries += 1;
        }
        if killed {
            continue;
        }
        assert!(
            output.status.success(),
            "run {runs}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        if dovecot.stored("alice").is_empty() {
            break;
        }
    }
    let (lost, duplicated) = exactly_once(target, &popget, messages);
    eprintln!(
        "crash suite, SIGKILL, {target:?}, seed {seed}: {runs} runs, {kills} killed, {recoveries} \
         recoveries from the journal, {MESSAGES} messages, {lost} lost, {duplicated} duplicated"
    );
    assert_eq!((lost, duplicated), (0, 0));
    assert!(dovecot.stored("alice").is_empty());
    // The suite proves nothing unless runs were really interrupted and then completed.
    assert!(kills > 0, "no run was killed in {runs} runs");
    assert!(runs > kills, "no run completed after the kills");
}

#[test]
fn sigkill_at_random_moments_into_a_maildir() {
    kill_at_random_moments(Target::Maildir, 0x5eed_0001);
}

#[test]
fn sigkill_at_random_moments_into_an_mbox() {
    kill_at_random_moments(Target::Mbox, 0x5eed_0002);
}

/// A TCP proxy that cuts each connection after a random number of octets from the server.
struct CuttingProxy {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CuttingProxy {
    fn start(upstream: u16, seed: u64, max_cut: u64) -> CuttingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let rng = Arc::new(Mutex::new(Rng(seed)));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok((client, _)) = listener.accept() else {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    };
                    client.set_nonblocking(false).unwrap();
                    let server = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
                    let budget = rng.lock().unwrap().below(max_cut);
                    forward(client, server, budget);
                }
            })
        };
        CuttingProxy {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Copies both ways; after `budget` octets from the server, closes both connections.
fn forward(client: TcpStream, server: TcpStream, budget: u64) {
    let (mut client_read, mut server_write) =
        (client.try_clone().unwrap(), server.try_clone().unwrap());
    std::thread::spawn(move || {
        let mut buffer = [0u8; 16 * 1024];
        while let Ok(n) = client_read.read(&mut buffer) {
            if n == 0 || server_write.write_all(&buffer[..n]).is_err() {
                break;
            }
        }
        let _ = server_write.shutdown(Shutdown::Both);
    });
    let (mut server_read, mut client_write) = (server, client);
    std::thread::spawn(move || {
        let mut left = budget;
        let mut buffer = [0u8; 16 * 1024];
        while let Ok(n) = server_read.read(&mut buffer) {
            if n == 0 {
                break;
            }
            let n = (n as u64).min(left) as usize;
            if client_write.write_all(&buffer[..n]).is_err() {
                break;
            }
            left -= n as u64;
            if left == 0 {
                break;
            }
        }
        let _ = client_write.shutdown(Shutdown::Both);
        let _ = server_read.shutdown(Shutdown::Both);
    });
}

fn connections_cut_at_random_bytes(target: Target, seed: u64) {
    let dovecot = Dovecot::start();
    let mut rng = Rng(seed);
    let messages = corpus(&mut rng);
    for message in &messages {
        dovecot.deliver("alice", message);
    }
    let total: u64 = messages.iter().map(|m| m.len() as u64).sum();
    let proxy = CuttingProxy::start(dovecot.pop3_port, seed, total / 10);
    let popget = Popget::new();
    let connection: Vec<String> = [
        "--host",
        "127.0.0.1",
        "--port",
        &proxy.port.to_string(),
        "--user",
        "alice",
        "--tls",
        "none",
        "--auth",
        "user",
    ]
    .map(String::from)
    .to_vec();
    let started = Instant::now();
    let mut runs = 0;
    let mut cut = 0;
    let mut completed = 0;
    // Until the mailbox is empty and a run has completed: the run that empties it may itself
    // be cut (after the server took QUIT, before its answer arrived).
    while !dovecot.stored("alice").is_empty() || completed == 0 {
        assert!(
            runs < 400 && started.elapsed() < Duration::from_secs(300),
            "no progress after {runs} runs"
        );
        runs += 1;
        let output = spawn_fetch(&popget, &connection, target)
            .wait_with_output()
            .unwrap();
        match output.status.code() {
            Some(0) => completed += 1,
            Some(74) | Some(76) => cut += 1,
            other => panic!(
                "run {runs} exited {other:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            ),
        }
    }
    let (lost, duplicated) = exactly_once(target, &popget, messages);
    eprintln!(
        "crash suite, connection cuts, {target:?}, seed {seed}: {runs} runs, {cut} cut, {MESSAGES} messages, {lost} lost, {duplicated} duplicated"
    );
    assert_eq!((lost, duplicated), (0, 0));
    // The suite proves nothing unless connections were really cut.
    assert!(cut > 0, "no connection was cut in {runs} runs");
}

#[test]
fn connections_cut_at_random_bytes_into_a_maildir() {
    connections_cut_at_random_bytes(Target::Maildir, 0x00c0_ffee_0001);
}

#[test]
fn connections_cut_at_random_bytes_into_an_mbox() {
    connections_cut_at_random_bytes(Target::Mbox, 0x00c0_ffee_0002);
}
