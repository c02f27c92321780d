//! Ctrl-C, SIGTERM and SIGKILL sent to the real popget in the middle of a fetch from a real
//! Dovecot (slowed by a throttling proxy): the exit status, the one summary line, nothing lost
//! or fetched twice, and no staging file of popget's left in the Maildir's tmp/.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::dovecot::Dovecot;
use crate::harness::{maildir_messages, parse_mboxrd, sorted, Popget};

/// Octets per second the proxy lets through from the server.
const RATE: u64 = 1_000_000;

/// A TCP proxy that passes the server's bytes on at `RATE`, or at full speed once asked.
/// (Reruns go through it too: the state file belongs to the host and port.)
struct SlowProxy {
    port: u16,
    stop: Arc<AtomicBool>,
    fast: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SlowProxy {
    fn start(upstream: u16) -> SlowProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let fast = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            let fast = fast.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok((client, _)) = listener.accept() else {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    };
                    client.set_nonblocking(false).unwrap();
                    let server = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
                    forward_slowly(client, server, fast.clone());
                }
            })
        };
        SlowProxy {
            port,
            stop,
            fast,
            thread: Some(thread),
        }
    }

    fn full_speed(&self) {
        self.fast.store(true, Ordering::Relaxed);
    }
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn forward_slowly(client: TcpStream, server: TcpStream, fast: Arc<AtomicBool>) {
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
        let started = Instant::now();
        let mut sent: u64 = 0;
        let mut buffer = [0u8; 8 * 1024];
        while let Ok(n) = server_read.read(&mut buffer) {
            if n == 0 || client_write.write_all(&buffer[..n]).is_err() {
                break;
            }
            sent += n as u64;
            if fast.load(Ordering::Relaxed) {
                continue;
            }
            let due = Duration::from_secs_f64(sent as f64 / RATE as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        let _ = client_write.shutdown(Shutdown::Both);
        let _ = server_read.shutdown(Shutdown::Both);
    });
}

/// Messages of `lines` lines (45 octets each) with the lines framing gets wrong, and a few of
/// 8000 lines (360 kB).
fn corpus(count: usize, lines: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let mut message =
                format!("Subject: signal {i}\nMessage-ID: <{i}@signals.test>\n\n").into_bytes();
            let lines = if i % 50 == 7 { 8000 } else { lines };
            for line in 0..lines {
                match line % 17 {
                    0 => message.extend_from_slice(b".\n"),
                    1 => message.extend_from_slice(b"From the start of a line\n"),
                    _ => message.extend_from_slice(
                        format!("line {line} of message {i}, some text to fill it\n").as_bytes(),
                    ),
                }
            }
            message
        })
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Target {
    Maildir,
    Mbox,
}

impl Target {
    fn args(self, popget: &Popget) -> Vec<String> {
        match self {
            Target::Maildir => vec!["--maildir".into(), maildir(popget).display().to_string()],
            Target::Mbox => vec![
                "--mbox".into(),
                popget.path("mail.mbox").display().to_string(),
            ],
        }
    }

    fn delivered(self, popget: &Popget) -> Vec<Vec<u8>> {
        match self {
            Target::Maildir => maildir_messages(&maildir(popget)),
            Target::Mbox => match std::fs::read(popget.path("mail.mbox")) {
                Ok(text) => sorted(parse_mboxrd(&text)),
                Err(_) => Vec::new(),
            },
        }
    }

    /// Some messages are in the mailbox.
    fn landed(self, popget: &Popget) -> bool {
        match self {
            Target::Maildir => std::fs::read_dir(maildir(popget).join("new"))
                .is_ok_and(|mut entries| entries.next().is_some()),
            Target::Mbox => std::fs::metadata(popget.path("mail.mbox")).is_ok_and(|m| m.len() > 0),
        }
    }
}

fn maildir(popget: &Popget) -> PathBuf {
    popget.path("mail")
}

/// The files in tmp/ that are popget's staging files.
fn staging_files(root: &Path) -> Vec<String> {
    match std::fs::read_dir(root.join("tmp")) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("popget."))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Connection arguments through `port` (the proxy) to Dovecot's POP3S.
fn connection(dovecot: &Dovecot, port: u16) -> Vec<String> {
    let mut args = dovecot.args("implicit", "alice");
    let at = args.iter().position(|a| a == "--port").unwrap() + 1;
    args[at] = port.to_string();
    args
}

fn spawn(popget: &Popget, args: &[String]) -> Child {
    popget
        .command()
        .env("POPGET_PASSWORD", "secret")
        .arg("fetch")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("popget starts")
}

fn send(child: &Child, signal: i32) {
    // SAFETY: a plain syscall on our own child, which has not been waited for yet.
    let result = unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    assert_eq!(result, 0, "kill: {}", std::io::Error::last_os_error());
}

#[track_caller]
fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "waited 30 s for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[track_caller]
fn expect_code(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "popget ended with {:?}\n--- stderr ---\n{}",
        output.status,
        text(output)
    );
}

/// The mailbox holds each of `messages` exactly once, and nothing else.
#[track_caller]
fn exactly_once(target: Target, popget: &Popget, messages: &[Vec<u8>], context: &str) {
    let delivered = target.delivered(popget);
    let count = |m: &Vec<u8>| delivered.iter().filter(|d| *d == m).count();
    let lost = messages.iter().filter(|m| count(m) == 0).count();
    let twice = messages.iter().filter(|m| count(m) > 1).count();
    let strangers = delivered.iter().filter(|d| !messages.contains(d)).count();
    assert_eq!(
        (lost, twice, strangers),
        (0, 0, 0),
        "{context}: (lost, delivered more than once, not sent) of {} messages, {} in the mailbox",
        messages.len(),
        delivered.len()
    );
}

/// Every message in the mailbox is one of `messages`, whole, and there only once.
#[track_caller]
fn whole_and_once(target: Target, popget: &Popget, messages: &[Vec<u8>]) -> usize {
    let delivered = target.delivered(popget);
    for message in &delivered {
        assert!(
            messages.contains(message),
            "a message in the mailbox is not one that was sent whole: {:?}",
            String::from_utf8_lossy(&message[..message.len().min(200)])
        );
    }
    let distinct: std::collections::HashSet<_> = delivered.iter().collect();
    assert_eq!(
        distinct.len(),
        delivered.len(),
        "a message was delivered twice"
    );
    delivered.len()
}

/// A fetch stopped by `signal` after the first messages landed; then a rerun fetches the rest.
fn stopped_by(signal: i32, target: Target, delete: bool, extra: &[&str]) {
    let dovecot = Dovecot::start();
    // About 7 MB: at the proxy's 1 MB/s the run cannot finish before the signal, even on a
    // loaded machine where the test notices the first message late.
    let messages = corpus(300, 400);
    for message in &messages {
        dovecot.deliver("alice", message);
    }
    let proxy = SlowProxy::start(dovecot.pop3s_port);
    let popget = Popget::new();
    let mut args = connection(&dovecot, proxy.port);
    args.extend(target.args(&popget));
    args.extend(extra.iter().map(|a| a.to_string()));
    if delete {
        args.push("--delete".into());
    }
    let child = spawn(&popget, &args);
    wait_until("the first messages to land", || target.landed(&popget));
    send(&child, signal);
    let sent = Instant::now();
    let output = child.wait_with_output().unwrap();
    let took = sent.elapsed();
    let (code, name) = if signal == libc::SIGINT {
        (130, "SIGINT")
    } else {
        (143, "SIGTERM")
    };
    expect_code(&output, code);
    let stderr = text(&output);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one summary line:\n{stderr}");
    assert!(
        lines[0].contains(&format!("stopped by {name}: ")),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(4), "the stop took {took:?}");
    let kept = whole_and_once(target, &popget, &messages);
    assert!(kept > 0 && kept < messages.len(), "{kept} delivered");
    assert!(
        // "1 new message", "2 new messages".
        lines[0].contains(&format!(": {kept} new message")),
        "the line counts what is in the mailbox ({kept}): {stderr}"
    );
    assert!(
        lines[0].contains("left on the server for the next run"),
        "{stderr}"
    );
    if target == Target::Maildir {
        assert_eq!(staging_files(&maildir(&popget)), Vec::<String>::new());
    }
    if delete && extra.contains(&"off") {
        // Without pipelining nothing was in flight: the DELEs of what was recorded were sent
        // and committed by QUIT.
        assert_eq!(dovecot.stored("alice").len(), messages.len() - kept);
    }

    // The rest, exactly once.
    proxy.full_speed();
    let mut args = connection(&dovecot, proxy.port);
    args.extend(target.args(&popget));
    if delete {
        args.push("--delete".into());
    }
    let rerun = spawn(&popget, &args).wait_with_output().unwrap();
    if rerun.status.code() != Some(0) {
        let log = dovecot.log();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        eprintln!(
            "--- Dovecot's log, last lines first ---\n{}",
            tail.join("\n")
        );
    }
    expect_code(&rerun, 0);
    exactly_once(target, &popget, &messages, "after the rerun");
    if delete {
        assert!(dovecot.stored("alice").is_empty(), "the server is empty");
    }
    if target == Target::Maildir {
        assert_eq!(staging_files(&maildir(&popget)), Vec::<String>::new());
    }
}

#[test]
fn sigint_keeping_into_a_maildir() {
    stopped_by(libc::SIGINT, Target::Maildir, false, &[]);
}

#[test]
fn sigterm_deleting_into_a_maildir() {
    stopped_by(libc::SIGTERM, Target::Maildir, true, &[]);
}

#[test]
fn sigint_deleting_into_an_mbox() {
    stopped_by(libc::SIGINT, Target::Mbox, true, &[]);
}

#[test]
fn sigterm_keeping_into_an_mbox() {
    stopped_by(libc::SIGTERM, Target::Mbox, false, &[]);
}

#[test]
fn sigint_without_pipelining_deletes_what_it_recorded_and_quits() {
    stopped_by(
        libc::SIGINT,
        Target::Maildir,
        true,
        &["--pipelining", "off"],
    );
}

/// Dovecot with one message that takes the proxy 8 s to pass on, between two small ones.
fn one_slow_message() -> (Dovecot, Vec<Vec<u8>>) {
    let dovecot = Dovecot::start();
    let mut big = b"Subject: big\n\n".to_vec();
    while big.len() < 8 * RATE as usize {
        big.extend_from_slice(b"a line of a large message, with text to fill it up\n");
    }
    let messages = vec![b"Subject: first\n\nx\n".to_vec(), big];
    for message in &messages {
        dovecot.deliver("alice", message);
    }
    (dovecot, messages)
}

/// popget is writing the large message (a staging file past 200 kB).
fn streaming(popget: &Popget) -> bool {
    let tmp = maildir(popget).join("tmp");
    staging_files(&maildir(popget))
        .iter()
        .any(|name| std::fs::metadata(tmp.join(name)).is_ok_and(|m| m.len() > 200_000))
}

#[test]
fn a_second_signal_stops_at_once_and_safely() {
    let (dovecot, messages) = one_slow_message();
    let proxy = SlowProxy::start(dovecot.pop3s_port);
    let popget = Popget::new();
    let mut args = connection(&dovecot, proxy.port);
    args.extend(Target::Maildir.args(&popget));
    args.push("--delete".into());
    let child = spawn(&popget, &args);
    wait_until("the large message to stream", || streaming(&popget));
    send(&child, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(300));
    send(&child, libc::SIGINT);
    let sent = Instant::now();
    let output = child.wait_with_output().unwrap();
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "{:?}",
        sent.elapsed()
    );
    expect_code(&output, 130);
    assert!(
        text(&output).contains("stopped at once"),
        "{}",
        text(&output)
    );
    assert_eq!(staging_files(&maildir(&popget)), Vec::<String>::new());
    whole_and_once(Target::Maildir, &popget, &messages);

    proxy.full_speed();
    let mut args = connection(&dovecot, proxy.port);
    args.extend(Target::Maildir.args(&popget));
    args.push("--delete".into());
    let rerun = spawn(&popget, &args).wait_with_output().unwrap();
    expect_code(&rerun, 0);
    exactly_once(Target::Maildir, &popget, &messages, "after the rerun");
    assert!(dovecot.stored("alice").is_empty());
}

#[test]
fn a_stop_that_takes_too_long_cuts_the_connection_instead_of_waiting() {
    let (dovecot, messages) = one_slow_message();
    let proxy = SlowProxy::start(dovecot.pop3s_port);
    let popget = Popget::new();
    let mut args = connection(&dovecot, proxy.port);
    args.extend(Target::Maildir.args(&popget));
    let child = spawn(&popget, &args);
    wait_until("the large message to stream", || streaming(&popget));
    send(&child, libc::SIGTERM);
    let sent = Instant::now();
    let output = child.wait_with_output().unwrap();
    let took = sent.elapsed();
    expect_code(&output, 143);
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(8),
        "{took:?}"
    );
    let stderr = text(&output);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("stopped by SIGTERM, the connection cut"),
        "{stderr}"
    );
    assert_eq!(staging_files(&maildir(&popget)), Vec::<String>::new());
    whole_and_once(Target::Maildir, &popget, &messages);
}

/// This host's name as popget puts it in Maildir file names.
fn escaped_hostname() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is valid for its length minus one, which keeps a NUL at the end.
    let result = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len() - 1) };
    assert_eq!(result, 0);
    let end = buffer.iter().position(|&b| b == 0).unwrap();
    String::from_utf8_lossy(&buffer[..end])
        .replace('/', "\\057")
        .replace(':', "\\072")
}

#[test]
fn after_sigkills_the_next_run_leaves_no_staging_debris_and_no_duplicate() {
    let dovecot = Dovecot::start();
    let messages = corpus(400, 400);
    for message in &messages {
        dovecot.deliver("alice", message);
    }
    let proxy = SlowProxy::start(dovecot.pop3s_port);
    let popget = Popget::new();
    let mut args = connection(&dovecot, proxy.port);
    args.extend(Target::Maildir.args(&popget));
    args.push("--delete".into());
    // Killed at moments spread over the transfer, seeded so every run of the suite is alike.
    let mut seed: u64 = 0x5167_0009;
    let mut kills = 0;
    while kills < 20 || staging_files(&maildir(&popget)).is_empty() {
        assert!(kills < 60, "no staging file was ever left by a kill");
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut child = spawn(&popget, &args);
        // Every other kill lands while a message streams; the others at any moment of the
        // run (login, listing, commit).
        if kills % 2 == 0 {
            let started = Instant::now();
            while staging_files(&maildir(&popget)).is_empty()
                && started.elapsed() < Duration::from_secs(5)
            {
                std::thread::sleep(Duration::from_millis(2));
            }
            std::thread::sleep(Duration::from_millis(seed % 200));
        } else {
            std::thread::sleep(Duration::from_millis(seed % 3000));
        }
        if child.try_wait().unwrap().is_some() {
            let output = child.wait_with_output().unwrap();
            panic!(
                "run {kills} ended before its kill ({:?}): {}",
                output.status,
                text(&output)
            );
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
    }
    let tmp = maildir(&popget).join("tmp");
    // Another program's file (Dovecot's naming, a process that is gone), and the staging
    // file of a popget that is running now.
    let host = escaped_hostname();
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let gone_pid = gone.id();
    gone.wait().unwrap();
    let mut live = std::process::Command::new("sleep")
        .arg("120")
        .spawn()
        .unwrap();
    let others = [
        format!("1700000000.M1P{gone_pid}Q1.{host}"),
        format!("popget.1700000000.M1P{}Q1.{host}", live.id()),
        "courier.tmp.12345".to_string(),
    ];
    for name in &others {
        std::fs::write(tmp.join(name), "not popget's to remove").unwrap();
    }
    let before = staging_files(&maildir(&popget)).len();
    eprintln!(
        "signals: {kills} SIGKILLs, {before} popget staging files in tmp/, {} messages \
         delivered, {} left on the server before the clean run",
        Target::Maildir.delivered(&popget).len(),
        dovecot.stored("alice").len()
    );

    proxy.full_speed();
    let mut args = connection(&dovecot, proxy.port);
    args.extend(Target::Maildir.args(&popget));
    args.push("--delete".into());
    let clean = spawn(&popget, &args).wait_with_output().unwrap();
    let _ = live.kill();
    let _ = live.wait();
    expect_code(&clean, 0);
    let mut left: Vec<String> = std::fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    let mut expected = others.to_vec();
    expected.sort();
    assert_eq!(
        left, expected,
        "{before} popget files were in tmp/ before the clean run"
    );
    exactly_once(
        Target::Maildir,
        &popget,
        &messages,
        &format!("after {kills} kills and a clean run"),
    );
    assert!(dovecot.stored("alice").is_empty());
}

#[test]
fn progress_with_braces_in_the_account_name_is_cleared_after_sigint() {
    let dovecot = Dovecot::start();
    // About 7 MB: at the proxy's 1 MB/s the run cannot finish before the signal, even on a
    // loaded machine where the test notices the first message late.
    let messages = corpus(300, 400);
    for message in &messages {
        dovecot.deliver("alice", message);
    }
    let proxy = SlowProxy::start(dovecot.pop3s_port);
    let popget = Popget::new();
    let config = popget.path(".config/popget/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(
        &config,
        "[accounts.\"a{x}b\"]\nhost = \"127.0.0.1\"\nuser = \"alice\"\n",
    )
    .unwrap();
    let mut args = vec!["a{x}b".to_string()];
    args.extend(connection(&dovecot, proxy.port));
    args.extend(Target::Maildir.args(&popget));
    args.extend(["--progress".into(), "always".into()]);
    let child = spawn(&popget, &args);
    wait_until("the first messages to land", || {
        Target::Maildir.landed(&popget)
    });
    send(&child, libc::SIGINT);
    let output = child.wait_with_output().unwrap();
    expect_code(&output, 130);
    let stderr = text(&output);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("a{x}b: "), "the bar was drawn: {stderr:?}");
    // The last thing before the summary line is the bar being cleared, not drawn.
    let summary = stderr.rfind("a{x}b: stopped by SIGINT: ").expect(&stderr);
    let before = &stderr[..summary];
    let last_draw = before.rfind(" messages [").expect(&stderr);
    let last_clear = before.rfind("\x1b[2K").expect(&stderr);
    assert!(last_clear > last_draw, "{:?}", &stderr[last_draw..]);
    assert!(stderr[summary..].lines().count() == 1, "{stderr:?}");
}

#[test]
fn a_signal_while_no_transfer_is_under_way_exits_at_once() {
    // A server that accepts and never greets: popget waits in the connection phase.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let popget = Popget::new();
    let args: Vec<String> = [
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--user",
        "alice",
        "--tls",
        "none",
        "--auth",
        "user",
    ]
    .iter()
    .map(|a| a.to_string())
    .chain(Target::Maildir.args(&popget))
    .collect();
    let child = spawn(&popget, &args);
    let (_connection, _) = listener.accept().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    send(&child, libc::SIGTERM);
    let sent = Instant::now();
    let output = child.wait_with_output().unwrap();
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "{:?}",
        sent.elapsed()
    );
    expect_code(&output, 143);
    let stderr = text(&output);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("SIGTERM"), "{stderr}");
}
