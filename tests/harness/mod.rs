//! Test harness: a private Dovecot (and Cyrus, Courier, popa3d, a Kerberos KDC), scriptable
//! fake POP3, IMAP and LMTP servers, a fake Gmail API, what the randomized suites share, and the
//! real popget binary run with HOME and the XDG directories pointed into a temporary directory.

pub mod builds;
pub mod courier;
pub mod cyrus;
pub mod daemon;
pub mod destination;
pub mod dnsmasq;
pub mod dovecot;
pub mod fake;
pub mod fake_imap;
pub mod fake_lmtp;
pub mod gmail;
pub mod imap_reader;
pub mod kdc;
pub mod misbehaviour;
pub mod namespace;
pub mod oauth_server;
pub mod popa3d;
pub mod random;
pub mod server;
pub mod socks;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A sandbox for running popget: its own HOME, config, state and data directories.
pub struct Popget {
    pub home: tempfile::TempDir,
}

impl Popget {
    pub fn new() -> Popget {
        Popget {
            home: tempfile::tempdir().expect("temporary home"),
        }
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.home.path().join(relative)
    }

    /// A command for the real binary with a clean environment (no password, no user config, no
    /// Kerberos ticket), run in the sandbox's home: a relative path (`--maildir m`) lands
    /// there, never in the checkout.
    pub fn command(&self) -> Command {
        self.command_of(Path::new(env!("CARGO_BIN_EXE_popget")))
    }

    /// [`Popget::command`] for another popget binary: the lean build, the installed package.
    pub fn command_of(&self, binary: &Path) -> Command {
        let mut command = Command::new(binary);
        command
            .current_dir(self.home())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.path(".config"))
            .env("XDG_STATE_HOME", self.path(".local/state"))
            .env("XDG_DATA_HOME", self.path(".local/share"))
            // A Kerberos ticket of the user running the tests must not change what `auto`
            // does; tests/gssapi.rs points this at its own cache.
            .env(
                "KRB5CCNAME",
                format!("FILE:{}", self.path("no-krb5cc").display()),
            )
            .stdin(Stdio::null());
        command
    }

    /// Runs popget with `args` and the password in the environment.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(&mut self.command_with_password(args))
    }

    /// A command for popget with `args` and the password in the environment.
    pub fn command_with_password(&self, args: &[&str]) -> Command {
        let mut command = self.command();
        command.env("POPGET_PASSWORD", "secret").args(args);
        command
    }

    /// Runs `popget fetch` against 127.0.0.1:`port` as `user` with `--tls tls`, then `extra`.
    pub fn fetch(&self, port: &str, user: &str, tls: &str, extra: &[&str]) -> Run {
        let mut args = vec![
            "fetch",
            "--host",
            "127.0.0.1",
            "--port",
            port,
            "--user",
            user,
            "--tls",
            tls,
        ];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    pub fn run_with(&self, command: &mut Command) -> Run {
        let output = command.output().expect("popget runs");
        Run { output }
    }

    /// The default state directory.
    pub fn state_dir(&self) -> PathBuf {
        self.path(".local/state/popget")
    }
}

/// A finished run of popget.
pub struct Run {
    pub output: Output,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.output
            .status
            .code()
            .expect("popget exited normally (no signal)")
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    /// Panics with the whole output unless the exit status is `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code(),
            code,
            "popget exited {} instead of {code}\n--- stderr ---\n{}--- stdout ---\n{}",
            self.code(),
            self.stderr(),
            self.stdout()
        );
        self
    }
}

/// Messages that exercise the framing: dots, From lines, 8-bit bytes, long lines, empty body.
pub fn tricky_messages() -> Vec<Vec<u8>> {
    let mut long_line = b"Subject: long\n\n".to_vec();
    long_line.extend(std::iter::repeat_n(b'x', 100_000));
    long_line.push(b'\n');
    let mut big = b"Subject: big\n\n".to_vec();
    for i in 0..20_000 {
        big.extend_from_slice(format!("line {i} .\n.{i}\n").as_bytes());
    }
    vec![
        b"From: a@example.org\nSubject: plain\n\nHello.\n".to_vec(),
        b"Subject: dots\n\n.\n..\n...\n.x\n. \nend\n".to_vec(),
        b"Return-Path: <sender@example.org>\nSubject: from lines\n\nFrom me to you\n>From quoted\n>>From twice\nFrom: not a header\n".to_vec(),
        b"Subject: 8bit\n\ncaf\xc3\xa9 \xff\xfe bytes \x01\x7f and a \r bare CR\n".to_vec(),
        b"Subject: empty body\n\n".to_vec(),
        long_line,
        big,
    ]
}

/// Reads an mboxrd file back into its messages: split at From_ lines, unquote one `>` from
/// `>+From ` lines, drop the blank separator line.
pub fn parse_mboxrd(text: &[u8]) -> Vec<Vec<u8>> {
    let mut messages: Vec<Vec<u8>> = Vec::new();
    let mut lines: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|l| !l.ends_with(b"\n")) {
        panic!("mbox does not end with a newline");
    }
    let mut current: Option<Vec<u8>> = None;
    for line in lines.drain(..) {
        if line.starts_with(b"From ") {
            if let Some(mut message) = current.take() {
                assert!(
                    message.ends_with(b"\n\n"),
                    "message not followed by a blank line"
                );
                message.pop();
                messages.push(message);
            }
            current = Some(Vec::new());
            continue;
        }
        let message = current.as_mut().expect("mbox starts with a From_ line");
        let quotes = line.iter().take_while(|&&b| b == b'>').count();
        if quotes > 0 && line[quotes..].starts_with(b"From ") {
            message.extend_from_slice(&line[1..]);
        } else {
            message.extend_from_slice(line);
        }
    }
    if let Some(mut message) = current {
        assert!(
            message.ends_with(b"\n\n"),
            "last message not followed by a blank line"
        );
        message.pop();
        messages.push(message);
    }
    messages
}

/// The files of a Maildir's new/ directory, contents sorted for comparison.
pub fn maildir_messages(root: &Path) -> Vec<Vec<u8>> {
    let mut messages: Vec<Vec<u8>> = match std::fs::read_dir(root.join("new")) {
        Ok(entries) => entries
            .map(|e| std::fs::read(e.unwrap().path()).unwrap())
            .collect(),
        Err(_) => Vec::new(),
    };
    messages.sort();
    messages
}

pub fn sorted(mut messages: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    messages.sort();
    messages
}

/// Runs `command` to its end and measures its peak resident memory: the child is traced
/// (ptrace) so that it stops on its way out, while its memory still exists, and its VmHWM is
/// read from /proc then. (`wait4`'s ru_maxrss cannot be used: it also counts the memory of
/// the test process that spawned the child.) Returns the run and the peak in KiB.
pub fn run_measuring_memory(command: &mut Command) -> (Run, u64) {
    use std::io::Read;
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    // SAFETY: ptrace(PTRACE_TRACEME) is async-signal-safe and touches no memory of ours.
    unsafe {
        command.pre_exec(|| {
            if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // Reaped below with waitpid, which the tracing needs; std's wait would find no child.
    #[allow(clippy::zombie_processes)]
    let mut child = command.spawn().expect("popget starts");
    let pid = child.id() as libc::pid_t;
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let mut peak = None;
    let mut first_stop = true;
    let status = loop {
        let mut status = 0;
        // SAFETY: waits for our own child; `status` is a valid out-pointer.
        let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(waited, pid, "waitpid: {}", std::io::Error::last_os_error());
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            break status;
        }
        assert!(libc::WIFSTOPPED(status));
        let signal = libc::WSTOPSIG(status);
        let mut forward = 0;
        if first_stop && signal == libc::SIGTRAP {
            first_stop = false;
            let options = libc::PTRACE_O_TRACEEXIT | libc::PTRACE_O_EXITKILL;
            // SAFETY: the child is stopped under our trace.
            let set = unsafe { libc::ptrace(libc::PTRACE_SETOPTIONS, pid, 0, options) };
            assert_eq!(set, 0, "PTRACE_SETOPTIONS");
        } else if status >> 8 == (libc::SIGTRAP | (libc::PTRACE_EVENT_EXIT << 8)) {
            let proc_status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
            peak = proc_status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok());
        } else {
            forward = signal;
        }
        // SAFETY: as above.
        unsafe { libc::ptrace(libc::PTRACE_CONT, pid, 0, forward) };
    };
    let output = Output {
        status: std::process::ExitStatus::from_raw(status),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    let peak = peak.expect("VmHWM was read when popget exited");
    (Run { output }, peak)
}

/// The peak resident memory (KiB) of an ordinary `popget fetch` of two small messages from the
/// fake server, measured once per test process: the base that memory bounds add to, so that a
/// library linked into the binary later does not move them.
pub fn ordinary_fetch_peak_kib() -> u64 {
    static PEAK: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *PEAK.get_or_init(|| {
        let server = fake::FakeServer::start(fake::Script {
            messages: fake::numbered_messages(2),
            ..fake::Script::default()
        });
        let popget = Popget::new();
        let mut command = popget.command();
        command
            .env("POPGET_PASSWORD", "secret")
            .arg("fetch")
            .args(server.args())
            .args(["--auth", "user", "--maildir"])
            .arg(popget.path("m"));
        let (run, peak) = run_measuring_memory(&mut command);
        run.expect_code(0);
        peak
    })
}

/// Runs `command` again and again, killing it with SIGKILL at a random moment (seeded by
/// `seed`; later runs get longer) while it is still running, until a run that ends by itself
/// succeeds and `done` says the work is over. Returns how many runs there were and how many
/// were killed. Bounded in runs and time.
pub fn kill_until_done(
    seed: u64,
    command: impl FnMut() -> Command,
    done: impl Fn() -> bool,
) -> (u64, u64) {
    kill_until_done_after(seed, std::time::Duration::ZERO, command, done)
}

/// [`kill_until_done`] with no kill before `earliest`: for a destination whose login takes
/// that long, so that the kills fall while messages are being delivered.
pub fn kill_until_done_after(
    seed: u64,
    earliest: std::time::Duration,
    mut command: impl FnMut() -> Command,
    done: impl Fn() -> bool,
) -> (u64, u64) {
    let mut seed = seed;
    let mut random = |below: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    };
    let started = std::time::Instant::now();
    let (mut runs, mut kills) = (0u64, 0u64);
    loop {
        assert!(
            runs < 200 && started.elapsed() < std::time::Duration::from_secs(240),
            "no progress after {runs} runs"
        );
        runs += 1;
        let mut child = command()
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(
            earliest + std::time::Duration::from_millis(10 + random(30 + runs * 15)),
        );
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
            let _ = child.wait();
            continue;
        }
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "run {runs}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        if done() {
            return (runs, kills);
        }
    }
}

/// What a crash suite did: rounds of a whole delivery, runs, and runs killed.
#[derive(Debug, Default, Clone, Copy)]
pub struct Crashes {
    pub rounds: u64,
    pub runs: u64,
    pub kills: u64,
}

/// Round after round, `fill(round)` puts a fresh set of messages on the server and
/// [`kill_until_done`] delivers them while killing popget at random moments, until at least
/// `kills` runs were killed in all. Bounded: at most 40 rounds.
pub fn crash_rounds(
    seed: u64,
    kills: u64,
    mut fill: impl FnMut(u64),
    mut command: impl FnMut() -> Command,
    done: impl Fn() -> bool,
) -> Crashes {
    let mut crashes = Crashes::default();
    while crashes.kills < kills {
        assert!(crashes.rounds < 40, "only {crashes:?} after 40 rounds");
        fill(crashes.rounds);
        let (runs, killed) = kill_until_done(seed + crashes.rounds, &mut command, &done);
        crashes.rounds += 1;
        crashes.runs += runs;
        crashes.kills += killed;
    }
    crashes
}

/// Of the Message-IDs `expected`, how many no message in `maildir` carries (lost), and how
/// many messages there repeat one already seen (duplicated).
pub fn lost_and_duplicated(
    maildir: &Path,
    expected: impl IntoIterator<Item = String>,
) -> (usize, usize) {
    lost_and_duplicated_among(&maildir_messages(maildir), expected)
}

/// Of the Message-IDs `expected`, how many none of `messages` carries (lost), and how many
/// messages repeat one already seen (duplicated).
pub fn lost_and_duplicated_among(
    messages: &[Vec<u8>],
    expected: impl IntoIterator<Item = String>,
) -> (usize, usize) {
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for message in messages {
        let text = String::from_utf8_lossy(message).into_owned();
        let id = text
            .lines()
            .find_map(|line| line.strip_prefix("Message-ID: "))
            .unwrap_or("none")
            .to_string();
        *seen.entry(id).or_default() += 1;
    }
    let lost = expected
        .into_iter()
        .filter(|id| !seen.contains_key(id))
        .count();
    let duplicated = seen.values().map(|count| count - 1).sum();
    (lost, duplicated)
}

/// Panics unless `got` and `expected` hold the same messages in the same order, saying where
/// the first pair that differs parts, with a little of each around that point (escaped), rather
/// than printing whole messages as byte arrays.
#[track_caller]
pub fn assert_same_messages(got: &[Vec<u8>], expected: &[Vec<u8>]) {
    let shown = |bytes: &[u8], at: usize| {
        let from = at.saturating_sub(40);
        let to = bytes.len().min(at + 40);
        format!("{:?}", String::from_utf8_lossy(&bytes[from..to]))
    };
    for (i, (got, expected)) in got.iter().zip(expected).enumerate() {
        if got != expected {
            let at = got
                .iter()
                .zip(expected)
                .position(|(a, b)| a != b)
                .unwrap_or(got.len().min(expected.len()));
            panic!(
                "message {i} differs at octet {at} (got {} octets, expected {}):\n  got      \
                 {}\n  expected {}",
                got.len(),
                expected.len(),
                shown(got, at),
                shown(expected, at)
            );
        }
    }
    assert_eq!(got.len(), expected.len(), "number of messages");
}
