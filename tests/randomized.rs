//! A randomized hostile server: seeded cases, each a well-behaved maildrop whose
//! answers are mutated in one way (truncation, bare CR or LF, NUL and 8-bit bytes, wrong,
//! duplicate or missing listing entries, lying sizes, bad status lines, stalls, endless bodies,
//! unstuffed "." lines, extra, missing or repeated answers), fetched by the real binary in keep
//! or delete mode into a Maildir or an mbox, with or without pipelining. After each case:
//!
//! - popget did not panic and exited with a documented status, within bounded time and memory;
//! - every delivered message is byte for byte one of the served messages, and none twice;
//! - every message popget sent DELE for, and every message gone from the server, was delivered;
//! - a rerun with `--delete` against a healthy server holding what is left delivers the rest:
//!   in the end every message is in the mailbox exactly once and the server is empty.
//!
//! `POPGET_RANDOM_CASES=N` sets the number of cases (default 300), `POPGET_RANDOM_SEED=S` the
//! first seed (case i uses S + i). A failure prints each failing case's seed; rerun it alone
//! with `POPGET_RANDOM_SEED=<seed> POPGET_RANDOM_CASES=1`.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::harness::fake::{stuffed, FakeServer, Handled, Script, CONNECTED};
use crate::harness::random::{
    check_rerun, message_line, run_suite, HostileRun, Knobs, Rng, SuiteCase,
};
use crate::harness::{maildir_messages, parse_mboxrd, sorted, Popget};

const DEFAULT_CASES: usize = 300;
const DEFAULT_SEED: u64 = 0x15_0006;
/// Per-read timeout given to popget, so that stalls end quickly.
const TIMEOUT: &str = "1";
/// An endless body is cut off by the server after this many octets if popget does not stop.
const ENDLESS: u64 = 64 << 20;

/// What goes wrong in a case's answers.
#[derive(Debug, Clone)]
enum Mutation {
    /// A well-behaved server.
    None,
    /// The connection closes after this many octets of the transaction's answers.
    Truncate(u64),
    /// The status line answering `target` is replaced by this one.
    BadStatus { target: String, line: Vec<u8> },
    /// One of these bytes is inserted into the status line answering `target`, after "+OK".
    StatusByte { target: String, byte: u8 },
    /// The STAT count is off.
    StatCount(i64),
    /// LIST or UIDL (`which`) answered wrongly.
    Listing {
        which: &'static str,
        fault: ListingFault,
    },
    /// A lone "." line, not stuffed, inside RETR `message`'s body.
    UnstuffedDot { message: usize },
    /// RETR `message`'s answer with some or all CRLF line ends replaced.
    LineEnds {
        message: usize,
        ending: &'static [u8],
        all: bool,
    },
    /// RETR `message` answered with a body that never ends.
    Endless { message: usize },
    /// `target` is never answered (the server waits past popget's timeout, then closes).
    Stall { target: String },
    /// An extra answer is sent before the one answering `target`.
    Extra { target: String, answer: Vec<u8> },
    /// `target` is not answered; the server goes on with the next command.
    Missing { target: String },
    /// The answer to `target` is sent twice.
    Repeated { target: String },
    /// LIST n (the sync point) answers a size other than the listing's.
    SyncSize { message: usize },
}

#[derive(Debug, Clone)]
enum ListingFault {
    DropLast,
    DropOne(usize),
    Duplicate(usize),
    Number(usize, &'static str),
    ExtraEntry,
    Reversed,
    /// LIST only: message n's size is replaced; `consistent` also in `LIST n`.
    Size(usize, &'static str, bool),
    /// A line end replaced by a bare LF or CR on entry n.
    LineEnd(usize, &'static [u8]),
    /// NUL or an 8-bit byte in entry n's number field.
    NumberByte(usize, u8),
}

impl Mutation {
    fn kind(&self) -> &'static str {
        match self {
            Mutation::None => "none",
            Mutation::Truncate(_) => "truncate",
            Mutation::BadStatus { .. } => "bad status line",
            Mutation::StatusByte { .. } => "byte in status line",
            Mutation::StatCount(_) => "STAT count",
            Mutation::Listing { fault, .. } => match fault {
                ListingFault::DropLast => "listing: last entry missing",
                ListingFault::DropOne(_) => "listing: entry missing",
                ListingFault::Duplicate(_) => "listing: duplicate entry",
                ListingFault::Number(..) => "listing: wrong number",
                ListingFault::ExtraEntry => "listing: extra entry",
                ListingFault::Reversed => "listing: reversed (valid)",
                ListingFault::Size(..) => "LIST: size",
                ListingFault::LineEnd(..) => "listing: bare CR/LF",
                ListingFault::NumberByte(..) => "listing: NUL/8-bit byte",
            },
            Mutation::UnstuffedDot { .. } => "unstuffed dot line",
            Mutation::LineEnds { all: true, .. } => "bare line ends (whole answer)",
            Mutation::LineEnds { .. } => "bare line ends (mixed)",
            Mutation::Endless { .. } => "endless body",
            Mutation::Stall { .. } => "stall",
            Mutation::Extra { .. } => "extra answer",
            Mutation::Missing { .. } => "missing answer",
            Mutation::Repeated { .. } => "repeated answer",
            Mutation::SyncSize { .. } => "sync size differs",
        }
    }
}

/// One generated case.
#[derive(Debug, Clone)]
struct Case {
    seed: u64,
    messages: Vec<(String, Vec<u8>)>,
    pipelining: bool,
    delete: bool,
    mbox: bool,
    /// The hostile run has TMPDIR=/nonexistent: the mbox cannot even create its spool file,
    /// so each RETR answer is left unread by the mailbox: the session must drain it or be
    /// abandoned, never panic.
    no_tmpdir: bool,
    mutation: Mutation,
}

fn random_messages(rng: &mut Rng, seed: u64) -> Vec<(String, Vec<u8>)> {
    let count = if rng.chance(8) {
        rng.range(65, 70)
    } else {
        rng.range(1, 8)
    };
    (1..=count)
        .map(|n| {
            let mut body =
                format!("Subject: {n} of case {seed}\nMessage-ID: <{n}.{seed}@fuzz>\n\n")
                    .into_bytes();
            for _ in 0..rng.below(30) {
                body.extend_from_slice(&message_line(rng, b"nul\0byte"));
                body.push(b'\n');
            }
            (format!("uid-{seed}-{n}"), body)
        })
        .collect()
}

fn random_target(rng: &mut Rng, case: &Case) -> String {
    let count = case.messages.len();
    let message = rng.range(1, count);
    match rng.below(10) {
        0 => "STAT".into(),
        1 => "LIST".into(),
        2 => "UIDL".into(),
        3 => format!("LIST {}", [count.min(64), count][rng.below(2)]),
        4 if case.delete => format!("DELE {message}"),
        5 => "QUIT".into(),
        _ => format!("RETR {message}"),
    }
}

fn generate(seed: u64) -> Case {
    let mut rng = Rng(seed);
    let messages = random_messages(&mut rng, seed);
    let mut case = Case {
        seed,
        messages,
        pipelining: rng.chance(60),
        delete: rng.chance(50),
        mbox: rng.chance(40),
        no_tmpdir: false,
        mutation: Mutation::None,
    };
    case.no_tmpdir = case.mbox && rng.chance(15);
    let count = case.messages.len();
    let message = rng.range(1, count);
    let entry = rng.range(1, count);
    let which = rng.pick(&["LIST", "UIDL"]);
    case.mutation = match rng.below(16) {
        0 => Mutation::None,
        1 => {
            let total: usize = case.messages.iter().map(|(_, m)| m.len() + 40).sum();
            Mutation::Truncate(rng.below(total + 200) as u64)
        }
        2 => Mutation::BadStatus {
            target: random_target(&mut rng, &case),
            line: rng.pick(&[
                b"+OKAY".to_vec(),
                b"+ok".to_vec(),
                b"OK".to_vec(),
                b"+OK\n".to_vec(),
                b"+Do you even care?".to_vec(),
                b"".to_vec(),
                b"-ERR [SYS/TEMP] try later".to_vec(),
                b"-ERR no such message".to_vec(),
                b"* OK IMAP4 ready".to_vec(),
            ]),
        },
        3 => Mutation::StatusByte {
            target: random_target(&mut rng, &case),
            byte: rng.pick(&[0, b'\r', b'\n', 0xff]),
        },
        4 => Mutation::StatCount(rng.pick(&[-1, 1, 1000])),
        5 | 6 => Mutation::Listing {
            which,
            fault: match rng.below(9) {
                0 => ListingFault::DropLast,
                1 => ListingFault::DropOne(entry),
                2 => ListingFault::Duplicate(entry),
                3 => ListingFault::Number(entry, rng.pick(&["0", "4294967295", "x", "-1"])),
                4 => ListingFault::ExtraEntry,
                5 => ListingFault::Reversed,
                6 => ListingFault::Size(
                    entry,
                    rng.pick(&[
                        "0",
                        "1",
                        "tenth",
                        "tenfold",
                        "18446744073709551615",
                        "plus1",
                    ]),
                    rng.chance(70),
                ),
                7 => ListingFault::LineEnd(entry, rng.pick(&[&b"\n"[..], b"\r"])),
                _ => ListingFault::NumberByte(entry, rng.pick(&[0u8, 0xff, 0x80])),
            },
        },
        7 | 8 => Mutation::UnstuffedDot { message },
        // A bare CR inside a body is message data, so mixed line ends use LF only (a body
        // line ending in LF instead of CRLF decodes the same).
        9 => match rng.chance(50) {
            true => Mutation::LineEnds {
                message,
                ending: rng.pick(&[&b"\n"[..], b"\r"]),
                all: true,
            },
            false => Mutation::LineEnds {
                message,
                ending: b"\n",
                all: false,
            },
        },
        10 => Mutation::Endless { message },
        11 if rng.chance(30) => Mutation::Stall {
            target: random_target(&mut rng, &case),
        },
        11 | 12 => Mutation::Extra {
            target: random_target(&mut rng, &case),
            answer: rng.pick(&[
                b"+OK\r\n".to_vec(),
                b"-ERR busy\r\n".to_vec(),
                b"+OK 1 2\r\n".to_vec(),
                b"+OK message follows\r\nSubject: forged\r\n\r\n.\r\n".to_vec(),
            ]),
        },
        13 => Mutation::Missing {
            target: random_target(&mut rng, &case),
        },
        14 => Mutation::Repeated {
            target: random_target(&mut rng, &case),
        },
        _ => Mutation::SyncSize { message },
    };
    case
}

/// LIST's size for a message: the octets of its wire form without the terminator.
fn list_size(message: &[u8]) -> u64 {
    (stuffed(message).len() - 3) as u64
}

/// The hostile server's view of one connection.
struct Hostile {
    case: Case,
    /// Octets of transaction answers written so far (for `Truncate`).
    written: u64,
}

impl Hostile {
    fn size_of(&self, n: usize) -> u64 {
        let real = list_size(&self.case.messages[n - 1].1);
        match &self.case.mutation {
            Mutation::Listing {
                which: "LIST",
                fault: ListingFault::Size(entry, how, _),
            } if *entry == n => match *how {
                "0" => 0,
                "1" => 1,
                "tenth" => real / 10,
                "tenfold" => real * 10 + 100,
                "plus1" => real + 1,
                _ => u64::MAX,
            },
            _ => real,
        }
    }

    fn listing(&self, which: &str) -> Vec<u8> {
        let count = self.case.messages.len();
        let mut entries: Vec<(String, String)> = (1..=count)
            .map(|n| {
                let field = match which {
                    "LIST" => self.size_of(n).to_string(),
                    _ => self.case.messages[n - 1].0.clone(),
                };
                (n.to_string(), field)
            })
            .collect();
        let mut line_end: BTreeMap<usize, &[u8]> = BTreeMap::new();
        let mut number_byte = None;
        if let Mutation::Listing { which: w, fault } = &self.case.mutation {
            if *w == which {
                match fault {
                    ListingFault::DropLast => {
                        entries.pop();
                    }
                    ListingFault::DropOne(n) => {
                        entries.remove(n - 1);
                    }
                    ListingFault::Duplicate(n) => {
                        let copy = entries[n - 1].clone();
                        entries.insert(*n, copy);
                    }
                    ListingFault::Number(n, number) => entries[n - 1].0 = number.to_string(),
                    ListingFault::ExtraEntry => {
                        entries.push(((count + 1).to_string(), entries[0].1.clone()));
                    }
                    ListingFault::Reversed => entries.reverse(),
                    ListingFault::Size(..) => {}
                    ListingFault::LineEnd(n, ending) => {
                        line_end.insert(n - 1, ending);
                    }
                    ListingFault::NumberByte(n, byte) => number_byte = Some((n - 1, *byte)),
                }
            }
        }
        let mut answer = b"+OK\r\n".to_vec();
        for (index, (number, field)) in entries.iter().enumerate() {
            let mut number = number.clone().into_bytes();
            if let Some((_, byte)) = number_byte.filter(|&(i, _)| i == index) {
                number.insert(number.len() / 2, byte);
            }
            answer.extend_from_slice(&number);
            answer.push(b' ');
            answer.extend_from_slice(field.as_bytes());
            answer.extend_from_slice(line_end.get(&index).copied().unwrap_or(b"\r\n"));
        }
        answer.extend_from_slice(b".\r\n");
        answer
    }

    fn retr(&self, n: usize) -> Vec<u8> {
        let message = &self.case.messages[n - 1].1;
        let mut answer = b"+OK message follows\r\n".to_vec();
        let mut body = stuffed(message);
        match &self.case.mutation {
            Mutation::UnstuffedDot { message } if *message == n => {
                // At a line start after the headers' first line.
                let starts: Vec<usize> = body
                    .windows(2)
                    .enumerate()
                    .filter(|(_, w)| w == b"\r\n")
                    .map(|(i, _)| i + 2)
                    .collect();
                let at = starts[(self.case.seed as usize) % starts.len()];
                body.splice(at..at, b".\r\n".iter().copied());
            }
            Mutation::LineEnds {
                message,
                ending,
                all,
            } if *message == n => {
                let mut out = Vec::new();
                let mut whole = answer.clone();
                whole.extend_from_slice(&body);
                let mut count = 0;
                let mut i = 0;
                while i < whole.len() {
                    if whole[i..].starts_with(b"\r\n") {
                        count += 1;
                        // Before a stuffed line a bare LF would change the message (its dot
                        // is data after a bare LF), which no client could notice; before the
                        // terminator it is exactly the framing fault wanted.
                        let stuffed_next =
                            whole.get(i + 2) == Some(&b'.') && !whole[i + 3..].starts_with(b"\r\n");
                        if *all || (!stuffed_next && count % 3 == (self.case.seed % 3) as usize) {
                            out.extend_from_slice(ending);
                        } else {
                            out.extend_from_slice(b"\r\n");
                        }
                        i += 2;
                    } else {
                        out.push(whole[i]);
                        i += 1;
                    }
                }
                return out;
            }
            _ => {}
        }
        answer.extend_from_slice(&body);
        answer
    }

    /// The well-behaved answer to `line`, or `None` to let the fake server's model answer.
    fn answer(&self, line: &str) -> Option<Vec<u8>> {
        let mut words = line.split(' ');
        let verb = words.next().unwrap_or("");
        let number = words
            .next()
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n >= 1 && n <= self.case.messages.len());
        match (verb, number) {
            ("STAT", None) => {
                let count = self.case.messages.len() as i64
                    + match self.case.mutation {
                        Mutation::StatCount(delta) => delta,
                        _ => 0,
                    };
                let octets: u64 = self.case.messages.iter().map(|(_, m)| list_size(m)).sum();
                Some(format!("+OK {count} {octets}\r\n").into_bytes())
            }
            ("LIST", None) | ("UIDL", None) => Some(self.listing(verb)),
            ("LIST", Some(n)) => {
                let consistent = !matches!(
                    self.case.mutation,
                    Mutation::Listing {
                        fault: ListingFault::Size(_, _, false),
                        ..
                    }
                );
                let mut size = if consistent {
                    self.size_of(n)
                } else {
                    list_size(&self.case.messages[n - 1].1)
                };
                if matches!(self.case.mutation, Mutation::SyncSize { message } if message == n) {
                    size += 1;
                }
                Some(format!("+OK {n} {size}\r\n").into_bytes())
            }
            ("UIDL", Some(n)) => {
                Some(format!("+OK {n} {}\r\n", self.case.messages[n - 1].0).into_bytes())
            }
            ("RETR", Some(n)) => Some(self.retr(n)),
            ("NOOP", None) => Some(b"+OK\r\n".to_vec()),
            _ => None,
        }
    }

    /// Applies the status-line mutations to an answer for `line`.
    fn mutate_status(&self, line: &str, mut answer: Vec<u8>) -> Vec<u8> {
        let status_end = answer
            .windows(2)
            .position(|w| w == b"\r\n")
            .unwrap_or(answer.len());
        match &self.case.mutation {
            Mutation::BadStatus { target, line: bad } if target == line => {
                answer.splice(..status_end, bad.iter().copied());
            }
            Mutation::StatusByte { target, byte } if target == line => {
                let at = (3 + self.case.seed as usize % 4).min(status_end);
                answer.insert(at, *byte);
            }
            _ => {}
        }
        answer
    }

    /// Handles one command line: Ok(Handled) as the fake server's handler expects.
    fn handle(&mut self, line: &str, out: &mut dyn Write) -> std::io::Result<Handled> {
        if line == CONNECTED || ["CAPA", "USER", "PASS"].iter().any(|v| line.starts_with(v)) {
            return Ok(Handled::No);
        }
        let targeted = |target: &String| target == line;
        match &self.case.mutation {
            Mutation::Stall { target } if targeted(target) => {
                std::thread::sleep(Duration::from_millis(2500));
                return Ok(Handled::Close);
            }
            Mutation::Missing { target } if targeted(target) => {
                if line == "QUIT" {
                    return Ok(Handled::Close);
                }
                return Ok(Handled::Answered);
            }
            Mutation::Extra { target, answer } if targeted(target) => {
                out.write_all(answer)?;
            }
            _ => {}
        }
        let repeated =
            matches!(&self.case.mutation, Mutation::Repeated { target } if targeted(target));
        let Some(answer) = self.answer(line) else {
            // DELE and QUIT: the model keeps the maildrop (and commits deletions at QUIT).
            if repeated && line.starts_with("DELE") {
                out.write_all(b"+OK deleted\r\n")?;
            }
            let bad = match &self.case.mutation {
                Mutation::BadStatus { target, line: bad } if targeted(target) => Some(bad.clone()),
                Mutation::StatusByte { target, byte } if targeted(target) => {
                    Some(vec![b'+', b'O', b'K', *byte, b' ', b'o', b'k'])
                }
                _ => None,
            };
            if let Some(mut bad) = bad {
                bad.extend_from_slice(b"\r\n");
                out.write_all(&bad)?;
                // After a broken answer to QUIT the model still commits (and answers).
                return Ok(if line == "QUIT" {
                    Handled::No
                } else {
                    Handled::Answered
                });
            }
            return Ok(Handled::No);
        };
        if let Mutation::Endless { message } = self.case.mutation {
            if line == format!("RETR {message}") {
                out.write_all(b"+OK message follows\r\nSubject: endless\r\n\r\n")?;
                let chunk = b"endless line of text that goes on and on\r\n".repeat(1000);
                let mut sent = 0;
                while sent < ENDLESS {
                    if out.write_all(&chunk).is_err() {
                        return Ok(Handled::Close);
                    }
                    sent += chunk.len() as u64;
                }
                return Ok(Handled::Close);
            }
        }
        let mut answer = self.mutate_status(line, answer);
        if repeated {
            answer.extend_from_within(..);
        }
        if let Mutation::Truncate(at) = self.case.mutation {
            let end = self.written + answer.len() as u64;
            if end > at {
                let keep = (at - self.written.min(at)) as usize;
                out.write_all(&answer[..keep.min(answer.len())])?;
                return Ok(Handled::Close);
            }
        }
        self.written += answer.len() as u64;
        out.write_all(&answer)?;
        Ok(Handled::Answered)
    }
}

/// Messages in the mailbox, sorted.
fn delivered(popget: &Popget, case: &Case) -> Vec<Vec<u8>> {
    if case.mbox {
        let text = std::fs::read(popget.path("mbox")).unwrap_or_default();
        sorted(parse_mboxrd(&text))
    } else {
        maildir_messages(&popget.path("m"))
    }
}

fn fetch_command(
    popget: &Popget,
    server: &FakeServer,
    case: &Case,
    hostile: bool,
) -> std::process::Command {
    let delete = !hostile || case.delete;
    let mut command = popget.command();
    command
        .env("POPGET_PASSWORD", "secret")
        .arg("fetch")
        .args(server.args())
        .args([
            "--auth",
            "user",
            "--timeout",
            TIMEOUT,
            "--session-timeout",
            "20",
        ])
        .args([
            "--state",
            &popget.path("account.state").display().to_string(),
        ]);
    if case.mbox {
        command.args(["--mbox", &popget.path("mbox").display().to_string()]);
    } else {
        command.args(["--maildir", &popget.path("m").display().to_string()]);
    }
    if delete {
        command.arg("--delete");
    }
    if hostile && case.no_tmpdir {
        command.env("TMPDIR", "/nonexistent");
    }
    command
}

fn capa(case: &Case) -> Vec<String> {
    let mut capa = vec!["USER".to_string(), "UIDL".to_string(), "TOP".to_string()];
    if case.pipelining {
        capa.push("PIPELINING".into());
    }
    capa
}

/// Runs one case; `Err` describes the first broken invariant. Returns the hostile run's exit
/// status.
/// What a passing case measured: the hostile run's exit status, peak memory (KiB) and time.
type Outcome = (i32, u64, Duration);

fn run_case(case: &Case) -> Result<Outcome, String> {
    let popget = Popget::new();
    let hostile = Arc::new(Mutex::new(Hostile {
        case: case.clone(),
        written: 0,
    }));
    let server = FakeServer::start(Script {
        capa: Some(capa(case)),
        messages: case.messages.clone(),
        handler: Some(Arc::new(move |line: &str, out: &mut dyn Write| {
            hostile.lock().unwrap().handle(line, out)
        })),
        ..Script::default()
    });
    let hostile = HostileRun::start(&mut fetch_command(&popget, &server, case, true));
    let (code, stderr) = (hostile.code(), hostile.run.stderr());
    let context = || format!("exit {code}, stderr:\n{stderr}");
    hostile.check(&context())?;
    let served: Vec<Vec<u8>> = case.messages.iter().map(|(_, m)| m.clone()).collect();
    let first = delivered(&popget, case);
    let mut unused = sorted(served.clone());
    for message in &first {
        match unused.binary_search(message) {
            Ok(i) => {
                unused.remove(i);
            }
            Err(_) => {
                return Err(format!(
                    "delivered a message that is not one of the served ones, or twice ({} \
                     octets: {:?}): {}",
                    message.len(),
                    String::from_utf8_lossy(&message[..message.len().min(120)]),
                    context()
                ))
            }
        }
    }
    // Every DELE'd message, and every message gone from the server, is in the mailbox.
    let commands = server.commands();
    for command in &commands {
        if let Some(n) = command
            .strip_prefix("DELE ")
            .and_then(|n| n.parse::<usize>().ok())
        {
            let body = &case.messages[n - 1].1;
            if !first.contains(body) {
                return Err(format!(
                    "DELE {n} for a message not delivered: {}",
                    context()
                ));
            }
        }
    }
    let remaining = server.remaining();
    for (uid, body) in &case.messages {
        if !remaining.contains(uid) && !first.contains(body) {
            return Err(format!("{uid} left the server undelivered: {}", context()));
        }
    }
    let left = server.left();
    drop(server);

    // A healthy server with what is left; --delete.
    let healthy = FakeServer::start(Script {
        capa: Some(capa(case)),
        messages: left,
        ..Script::default()
    });
    let rerun = popget.run_with(&mut fetch_command(&popget, &healthy, case, false));
    check_rerun(&rerun, &healthy, &context())?;
    let all = delivered(&popget, case);
    if all != sorted(served) {
        return Err(format!(
            "after the rerun the mailbox holds {} messages for {} served (lost or duplicated); \
             first run delivered {}: {}",
            all.len(),
            case.messages.len(),
            first.len(),
            context()
        ));
    }
    Ok((code, hostile.peak, hostile.elapsed))
}

impl SuiteCase for Case {
    fn seed(&self) -> u64 {
        self.seed
    }

    fn kind(&self) -> String {
        match self.no_tmpdir {
            true => "(any, with TMPDIR=/nonexistent)".into(),
            false => self.mutation.kind().into(),
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} messages, {}, {}{}, pipelining {}, {:?}",
            self.messages.len(),
            if self.delete { "--delete" } else { "keep" },
            if self.mbox { "mbox" } else { "Maildir" },
            if self.no_tmpdir {
                " with TMPDIR=/nonexistent"
            } else {
                ""
            },
            self.pipelining,
            self.mutation
        )
    }
}

#[test]
fn a_randomized_hostile_server_never_makes_popget_lose_duplicate_or_misfile_mail() {
    let knobs = Knobs {
        seed: "POPGET_RANDOM_SEED",
        cases: "POPGET_RANDOM_CASES",
        default_seed: DEFAULT_SEED,
        default_cases: DEFAULT_CASES,
    };
    run_suite("randomized hostile server", &knobs, generate, run_case);
}
