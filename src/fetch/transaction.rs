//! The POP3 transaction of one account: list, deliver, make durable, record, delete, quit.

use std::io::{Read, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use super::commit::settle_journal;
use super::transfer::{self, Ending};
use super::{Notice, Observer};
use crate::account::Policy;
use crate::error::{Error, Result};
use crate::pop3::{Command, Pipelining, Session};
use crate::set_aside::SetAside;
use crate::state::State;
use crate::store::Mailbox;

/// What the transaction is asked to do: the account's policy and this run's choices.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub policy: Policy,
    /// Fetch messages already recorded as delivered, too.
    pub all: bool,
    pub pipelining: Pipelining,
    /// Says whether the run was asked to stop (a signal): no more RETRs are sent, what is
    /// staged is made durable and recorded, and the session ends as soon as it safely can.
    pub stop_requested: Option<fn() -> bool>,
}

/// What happened on one run.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub delivered: u64,
    pub octets: u64,
    pub deleted: u64,
    /// Messages left on the server because the server refused to send them.
    pub refused: u64,
    /// Messages left on the server because they are larger than `--max-size`.
    pub oversized: u64,
    /// Messages over `--max-size` deleted unread (`--delete-oversized`).
    pub oversized_deleted: u64,
    /// Messages left for the next run by `--limit` or `--max-bytes`.
    pub deferred: u64,
    /// Messages the filter said to skip for now.
    pub skipped: u64,
    /// Messages the filter said to delete unread.
    pub filtered_out: u64,
    /// Messages the destination refused for good in this run (an MDA's failure, LMTP 5xx, an
    /// IMAP NO that is not temporary, Gmail's 400); they stay on the server and are set aside.
    pub rejected: u64,
    /// Messages left on the server because the destination refused them on an earlier run
    /// (set aside until `popget quarantine --retry`).
    pub set_aside: u64,
    /// Messages left on the server because the run was asked to stop.
    pub interrupted: u64,
    /// Messages left on the server because they are larger than the destination accepts.
    pub too_large_for_destination: u64,
}

/// The run's report and, if it stopped early or something failed, the first error.
#[derive(Debug)]
pub struct Outcome {
    pub report: Report,
    pub error: Option<Error>,
}

/// Runs the fetch on a logged-in session. The order per message is fixed: RETR complete →
/// delivered and fsynced → recorded (in the journal, synced) → DELE; QUIT, then the state file
/// written, at the end. Messages in `set_aside` are left on the server; those the destination
/// refuses for good join them.
pub fn fetch<S: Read + Write>(
    mut session: Session<S>,
    mailbox: &dyn Mailbox,
    state: &mut State,
    set_aside: &mut SetAside,
    request: &Request,
    observer: &mut dyn Observer,
) -> Outcome {
    let mut report = Report::default();
    let mut ending = Ending::default();
    let result = transfer::run(transfer::Exchange {
        session: &mut session,
        mailbox,
        state,
        set_aside,
        request,
        observer,
        report: &mut report,
        ending: &mut ending,
    });
    let now = unix_now();
    let dropped: usize = std::mem::take(&mut ending.refused_for_good)
        .iter()
        .map(|(uid, reason)| set_aside.add(uid, reason, now))
        .sum();
    if dropped > 0 {
        observer.notice(Notice::SetAsideFull { dropped });
    }
    // After a failure, or a refusal in the middle of a pipelined batch, intents may be
    // unresolved: what reached the mailbox is recorded (and a partial mbox append cut away)
    // before the state is written. A run where every intent was logged as delivered looks in
    // no mailbox here.
    let settled = settle_journal(state, mailbox).map(|recovered| {
        // Placed, but not recorded by the batch: now recorded, so they count as delivered.
        report.delivered += recovered as u64;
    });
    let error = match result {
        // A broken connection or protocol, or a stop with answers still unread, is abandoned
        // without QUIT: nothing is committed on the server, and the records of delivered
        // messages make the next run delete them.
        Err(error) if session_is_broken(&error) || session.outstanding() > 0 => Some(error),
        // Stopped with answers still on their way: abandoned the same way, on purpose.
        Ok(()) if session.outstanding() > 0 => None,
        result => {
            let quit_result = quit(session, state, ending, report.deleted);
            result.err().or(quit_result.err())
        }
    };
    // The state file is written once per run; until then the journal holds the records.
    let committed = state.commit();
    let saved = match (settled, committed) {
        (Ok(()), Ok(())) => state.clear_journal(),
        (Err(error), _) | (_, Err(error)) => Err(error),
    };
    // Lost in a crash before this, a refusal is only met again on the next run.
    let set_aside_saved = set_aside.commit();
    Outcome {
        report,
        error: error.or(saved.err()).or(set_aside_saved.err()),
    }
}

fn session_is_broken(error: &Error) -> bool {
    error.is_connection_lost() || matches!(error, Error::Protocol(_))
}

/// Marks every message now on the server as delivered, without downloading or deleting
/// anything. Returns how many were marked.
pub fn rebuild_state<S: Read + Write>(mut session: Session<S>, state: &mut State) -> Result<usize> {
    let listing = session.uidl()?.ok_or_else(|| {
        Error::unavailable(
            "the server does not support UIDL, so there is nothing to rebuild the state from",
        )
    })?;
    let now = unix_now();
    for entry in &listing {
        state.record(&entry.uid, now);
    }
    state.commit()?;
    state.clear_journal()?;
    session.quit()?;
    Ok(state.len())
}

/// Sends QUIT, unless its answer came with the stream. Only a `+OK` means the deletions
/// happened; then their records are dropped (the caller writes the state). On anything else
/// the records stay, and the next run deletes those messages without fetching. A broken
/// answer, or data after it, is reported even when nothing was deleted: it may be the sign
/// of an earlier answer that was not what it seemed.
fn quit<S: Read + Write>(
    mut session: Session<S>,
    state: &mut State,
    ending: Ending,
    deleted: u64,
) -> Result<()> {
    let status = match ending.quit {
        Some(status) => status,
        None => {
            session.send(&Command::Quit)?;
            session.receive_status()?
        }
    };
    if status.ok {
        for uid in &ending.deleted_uids {
            state.remove(uid);
        }
    }
    if session.has_unread_input() {
        return Err(crate::pop3::ProtocolError::new(
            "the server sent data nobody asked for after its answer to QUIT",
        )
        .into());
    }
    if !status.ok && deleted > 0 {
        return Err(Error::Temporary(format!(
            "the server did not confirm the deletions (QUIT: {}); they will be retried on the \
             next run",
            status.display_text()
        )));
    }
    Ok(())
}

pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::super::transfer::BATCH_MESSAGES;
    use super::*;
    use crate::pop3::{Client, Security};
    use crate::store::Maildir;
    use std::cell::RefCell;
    use std::collections::BTreeSet;
    use std::collections::HashMap;
    use std::io;
    use std::io::Write;
    use std::path::{Path, PathBuf};
    use std::rc::Rc;

    /// What the in-memory server saw, shared with the test.
    #[derive(Default)]
    struct Log {
        commands: Vec<String>,
        /// Each DELE checked that its message was already in new/ and in the state file.
        deletes_checked: usize,
        /// The most commands that were sent and not completely answered at one time.
        most_outstanding: usize,
        /// Octets of earlier answers the client had not read when it sent QUIT.
        unread_at_quit: usize,
    }

    /// An in-memory POP3 server that answers each command as it is written, so that any
    /// pipelining is exercised for real: reading an answer to an unsent command fails.
    struct Maildrop {
        messages: Vec<(String, Vec<u8>)>,
        refuse_retr: BTreeSet<u32>,
        /// Raw answers sent instead of the model's, by command line.
        raw: HashMap<String, Vec<u8>>,
        maildir: PathBuf,
        state: PathBuf,
        input: Vec<u8>,
        output: Vec<u8>,
        position: usize,
        /// Where each answer ends in `output`.
        answer_ends: Vec<usize>,
        log: Rc<RefCell<Log>>,
    }

    impl Maildrop {
        fn answer(&mut self, line: &str) {
            let mut words = line.split(' ');
            let verb = words.next().unwrap_or_default();
            let number = words.next().and_then(|n| n.parse::<usize>().ok());
            if let Some(raw) = self.raw.get(line) {
                self.output.extend_from_slice(&raw.clone());
                self.log.borrow_mut().commands.push(line.to_string());
                return;
            }
            let answer = match (verb, number) {
                ("CAPA", None) => "+OK\r\nUIDL\r\nPIPELINING\r\n.\r\n".to_string(),
                ("STAT", None) => format!("+OK {} 0\r\n", self.messages.len()),
                ("LIST", None) => self.listing(|(_, body)| body.len().to_string()),
                ("LIST", Some(n)) => format!("+OK {n} {}\r\n", self.messages[n - 1].1.len()),
                ("UIDL", None) => self.listing(|(uid, _)| uid.clone()),
                ("RETR", Some(n)) if self.refuse_retr.contains(&(n as u32)) => {
                    "-ERR cannot read that one\r\n".to_string()
                }
                ("RETR", Some(n)) => {
                    let body = crate::pop3::stuff(&self.messages[n - 1].1);
                    self.output.extend_from_slice(b"+OK\r\n");
                    self.output.extend_from_slice(&body);
                    String::new()
                }
                ("DELE", Some(n)) => {
                    self.check_delivered(n);
                    "+OK\r\n".to_string()
                }
                ("QUIT", None) => {
                    self.log.borrow_mut().unread_at_quit = self.output.len() - self.position;
                    "+OK bye\r\n".to_string()
                }
                _ => panic!("unexpected command {line:?}"),
            };
            self.output.extend_from_slice(answer.as_bytes());
            self.log.borrow_mut().commands.push(line.to_string());
        }

        fn listing(&self, column: impl Fn(&(String, Vec<u8>)) -> String) -> String {
            let mut text = String::from("+OK\r\n");
            for (index, message) in self.messages.iter().enumerate() {
                text += &format!("{} {}\r\n", index + 1, column(message));
            }
            text + ".\r\n"
        }

        /// The order that keeps mail safe: a message is deleted only once it is in the
        /// mailbox and recorded.
        fn check_delivered(&self, number: usize) {
            let (uid, body) = &self.messages[number - 1];
            let delivered = maildir_messages(&self.maildir);
            assert!(delivered.contains(body), "DELE {number} before delivery");
            let state = State::load(&self.state).unwrap();
            let logged = state
                .pending_intents()
                .unwrap()
                .into_iter()
                .any(|(id, intent)| {
                    id == uid.as_bytes() && crate::state::delivered_line(&intent).is_some()
                });
            assert!(
                logged || state.contains(uid.as_bytes()),
                "DELE {number} before record"
            );
            self.log.borrow_mut().deletes_checked += 1;
        }
    }

    impl Read for Maildrop {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let available = &self.output[self.position..];
            if available.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "the client waits for an answer to a command it did not send",
                ));
            }
            let n = available.len().min(buf.len()).min(1000);
            buf[..n].copy_from_slice(&available[..n]);
            self.position += n;
            Ok(n)
        }
    }

    impl Write for Maildrop {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.input.extend_from_slice(bytes);
            while let Some(end) = self.input.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8(self.input[..end].to_vec()).unwrap();
                self.input.drain(..end + 2);
                let unread = self
                    .answer_ends
                    .iter()
                    .filter(|&&e| e > self.position)
                    .count();
                let mut log = self.log.borrow_mut();
                log.most_outstanding = log.most_outstanding.max(unread + 1);
                drop(log);
                self.answer(&line);
                self.answer_ends.push(self.output.len());
            }
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn maildir_messages(root: &Path) -> Vec<Vec<u8>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("new"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        files.sort();
        files.iter().map(|f| std::fs::read(f).unwrap()).collect()
    }

    struct Run {
        report: Report,
        error: Option<Error>,
        log: Rc<RefCell<Log>>,
        delivered: Vec<Vec<u8>>,
    }

    fn run_fetch(count: usize, refuse_retr: &[u32], options: Request) -> Run {
        run_hostile(count, refuse_retr, HashMap::new(), options, None)
    }

    fn run_fetch_observed(
        count: usize,
        refuse_retr: &[u32],
        options: Request,
        observer: Option<&mut dyn Observer>,
    ) -> Run {
        run_hostile(count, refuse_retr, HashMap::new(), options, observer)
    }

    fn message_body(n: usize) -> Vec<u8> {
        format!("Subject: {n}\n\n.line {n}\n{}\n", "x".repeat(n * 37)).into_bytes()
    }

    fn run_hostile(
        count: usize,
        refuse_retr: &[u32],
        raw: HashMap<String, Vec<u8>>,
        options: Request,
        observer: Option<&mut dyn Observer>,
    ) -> Run {
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("Maildir");
        let state_path = dir.path().join("state");
        let messages: Vec<(String, Vec<u8>)> = (1..=count)
            .map(|n| (format!("uid-{n}"), message_body(n)))
            .collect();
        let log = Rc::new(RefCell::new(Log::default()));
        let server = Maildrop {
            messages: messages.clone(),
            refuse_retr: refuse_retr.iter().copied().collect(),
            raw,
            maildir: maildir.clone(),
            state: state_path.clone(),
            input: Vec::new(),
            output: b"+OK ready\r\n".to_vec(),
            position: 0,
            answer_ends: Vec::new(),
            log: log.clone(),
        };
        let mut session = Client::new(server, "mock", Security::Tls)
            .unwrap()
            .into_session();
        session.capa().unwrap();
        let mailbox = Maildir::open(&maildir).unwrap();
        let mut state = State::load(&state_path).unwrap();
        let mut set_aside = SetAside::load(&state_path).unwrap();
        let (state, set_aside) = (&mut state, &mut set_aside);
        let outcome = match observer {
            Some(observer) => fetch(session, &mailbox, state, set_aside, &options, observer),
            None => fetch(session, &mailbox, state, set_aside, &options, &mut ()),
        };
        let mut delivered = maildir_messages(&maildir);
        delivered.sort_by_key(|m| m.len());
        Run {
            report: outcome.report,
            error: outcome.error,
            log,
            delivered,
        }
    }

    fn position(commands: &[String], wanted: &str) -> usize {
        commands.iter().position(|c| c == wanted).unwrap()
    }

    #[test]
    fn retrs_keep_flowing_while_batches_commit_and_deletes_follow_records() {
        let count = 3 * BATCH_MESSAGES + 5;
        let options = Request {
            policy: Policy {
                delete: true,
                ..Policy::default()
            },
            ..Request::default()
        };
        let run = run_fetch(count, &[], options);
        assert!(run.error.is_none(), "{:?}", run.error);
        assert_eq!(run.report.delivered, count as u64);
        assert_eq!(run.report.deleted, count as u64);
        assert_eq!(run.delivered.len(), count);
        let log = run.log.borrow();
        assert_eq!(log.deletes_checked, count);
        let commands = &log.commands;
        // The second batch was requested before the first batch's deletions: no pause.
        let first_dele = position(commands, "DELE 1");
        let second_batch_retr = position(commands, &format!("RETR {}", BATCH_MESSAGES + 1));
        assert!(second_batch_retr < first_dele, "{commands:?}");
        assert_eq!(commands.last().unwrap(), "QUIT");
    }

    #[test]
    fn a_refused_retr_in_the_pipeline_shifts_nothing() {
        let count = BATCH_MESSAGES + 10;
        let options = Request {
            policy: Policy {
                delete: true,
                ..Policy::default()
            },
            ..Request::default()
        };
        let run = run_fetch(count, &[3, 70], options);
        assert!(
            matches!(run.error, Some(Error::Temporary(_))),
            "{:?}",
            run.error
        );
        assert_eq!(run.report.refused, 2);
        assert_eq!(run.report.delivered, count as u64 - 2);
        assert_eq!(run.report.deleted, count as u64 - 2);
        let commands = &run.log.borrow().commands;
        assert!(!commands.contains(&"DELE 3".to_string()));
        assert!(!commands.contains(&"DELE 70".to_string()));
        // Every delivered file is exactly one of the served messages, none shifted.
        for body in &run.delivered {
            let subject =
                String::from_utf8_lossy(&body[..body.iter().position(|&b| b == b'\n').unwrap()])
                    .to_string();
            let n: usize = subject.trim_start_matches("Subject: ").parse().unwrap();
            assert_eq!(
                body.len(),
                format!("Subject: {n}\n\n.line {n}\n").len() + n * 37 + 1
            );
        }
    }

    #[test]
    fn pipelining_follows_the_server_unless_turned_off() {
        let run = run_fetch(100, &[], Request::default());
        assert_eq!(run.report.delivered, 100);
        assert!(run.log.borrow().most_outstanding > 50);
        let off = Request {
            pipelining: crate::pop3::Pipelining::Off,
            policy: Policy {
                delete: true,
                ..Policy::default()
            },
            ..Request::default()
        };
        let run = run_fetch(100, &[], off);
        assert_eq!(run.report.delivered, 100);
        assert_eq!(run.report.deleted, 100);
        assert_eq!(run.log.borrow().most_outstanding, 1);
        assert_eq!(run.log.borrow().unread_at_quit, 0);
    }

    #[test]
    fn quit_follows_the_last_commands_without_a_round_trip_of_its_own() {
        // Keeping: behind the last RETRs, whose answers are still coming.
        let run = run_fetch(2 * BATCH_MESSAGES + 3, &[], Request::default());
        assert!(run.error.is_none());
        let log = run.log.borrow();
        assert_eq!(log.commands.last().map(String::as_str), Some("QUIT"));
        assert!(log.unread_at_quit > 0);
        // Deleting: behind the last batch's DELEs, once that batch is recorded.
        let delete = Request {
            policy: Policy {
                delete: true,
                ..Policy::default()
            },
            ..Request::default()
        };
        let run = run_fetch(2 * BATCH_MESSAGES + 3, &[], delete);
        assert!(run.error.is_none());
        assert_eq!(run.report.deleted, 2 * BATCH_MESSAGES as u64 + 3);
        let log = run.log.borrow();
        assert_eq!(log.deletes_checked, 2 * BATCH_MESSAGES + 3);
        let quit = log.commands.iter().position(|c| c == "QUIT").unwrap();
        assert_eq!(quit, log.commands.len() - 1, "nothing after QUIT");
        assert!(log.unread_at_quit > 0);
    }

    #[test]
    fn a_crash_after_logging_delivered_loses_no_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("account.state");
        let mut state = State::empty(&path);
        state.commit().unwrap();
        state
            .log_delivered(
                &[
                    (b"a", None),
                    (b"b c", Some("imap://x/INBOX;UIDVALIDITY=1/;UID=2")),
                ],
                1,
            )
            .unwrap();
        drop(state); // killed before the state file was rewritten

        let mut state = State::load(&path).unwrap();
        assert!(!state.contains(b"a"));
        let mailbox = Maildir::open(&dir.path().join("Maildir")).unwrap();
        assert_eq!(super::super::recover(&mut state, &mailbox).unwrap(), 2);
        assert!(state.contains(b"a") && state.contains(b"b c"));
        let state = State::load(&path).unwrap();
        assert!(state.contains(b"b c"));
        assert_eq!(
            state.receipt(b"b c"),
            Some("imap://x/INBOX;UIDVALIDITY=1/;UID=2")
        );
        assert!(state.pending_intents().unwrap().is_empty());
        let journal = dir.path().join("account.state.journal");
        assert_eq!(
            std::fs::metadata(journal).unwrap().len(),
            0,
            "emptied, not removed"
        );
    }

    /// Asks the run to stop at the first message delivered, or at the plan.
    struct Stopper {
        at_plan: bool,
        flag: &'static std::sync::atomic::AtomicBool,
        streamed: u64,
    }

    impl Observer for Stopper {
        fn planned(&mut self, _: usize, _: u64) {
            if self.at_plan {
                self.flag.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
        fn streamed(&mut self, octets: u64) {
            self.streamed += octets;
        }
        fn delivered(&mut self, _: u64) {
            self.flag.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn a_stop_sends_no_more_retrs_and_deletes_what_is_recorded() {
        static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        let options = Request {
            policy: Policy {
                delete: true,
                ..Policy::default()
            },
            pipelining: crate::pop3::Pipelining::Off,
            stop_requested: Some(|| STOP.load(std::sync::atomic::Ordering::SeqCst)),
            ..Request::default()
        };
        let mut stopper = Stopper {
            at_plan: false,
            flag: &STOP,
            streamed: 0,
        };
        let run = run_fetch_observed(20, &[], options, Some(&mut stopper));
        assert!(run.error.is_none(), "{:?}", run.error);
        assert_eq!(run.report.delivered, 1);
        assert_eq!(run.report.deleted, 1);
        assert_eq!(run.report.interrupted, 19);
        assert_eq!(run.delivered.len(), 1);
        assert!(stopper.streamed > 0, "bytes were reported as they streamed");
        let log = run.log.borrow();
        assert_eq!(log.deletes_checked, 1);
        let retrs = log
            .commands
            .iter()
            .filter(|c| c.starts_with("RETR"))
            .count();
        assert_eq!(retrs, 1, "{:?}", log.commands);
        assert_eq!(
            &log.commands[log.commands.len() - 2..],
            ["DELE 1", "QUIT"],
            "{:?}",
            log.commands
        );
    }

    #[test]
    fn a_stop_before_the_first_retr_quits_at_once() {
        static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        let options = Request {
            stop_requested: Some(|| STOP.load(std::sync::atomic::Ordering::SeqCst)),
            ..Request::default()
        };
        let mut stopper = Stopper {
            at_plan: true,
            flag: &STOP,
            streamed: 0,
        };
        let run = run_fetch_observed(30, &[], options, Some(&mut stopper));
        assert!(run.error.is_none(), "{:?}", run.error);
        assert_eq!(run.report.delivered, 0);
        assert_eq!(run.report.interrupted, 30);
        let log = run.log.borrow();
        assert!(log.commands.iter().all(|c| !c.starts_with("RETR")));
        assert_eq!(log.commands.last().map(String::as_str), Some("QUIT"));
    }

    #[test]
    fn keep_mode_sends_no_dele() {
        let run = run_fetch(10, &[], Request::default());
        assert!(run.error.is_none());
        assert_eq!(run.report.delivered, 10);
        let commands = &run.log.borrow().commands;
        assert!(commands.iter().all(|c| !c.starts_with("DELE")));
    }

    fn retr_answer(n: usize) -> Vec<u8> {
        let mut answer = b"+OK\r\n".to_vec();
        answer.extend_from_slice(&crate::pop3::stuff(&message_body(n)));
        answer
    }

    fn deleting() -> Request {
        Request {
            policy: Policy {
                delete: true,
                ..Policy::default()
            },
            ..Request::default()
        }
    }

    /// Checks that exactly messages 1 to `last` were delivered and none later was deleted,
    /// and that no QUIT committed a deletion (in keep mode QUIT follows the last sync point).
    fn assert_only_delivered(run: &Run, last: usize) {
        assert!(
            matches!(run.error, Some(Error::Protocol(_))),
            "{:?}",
            run.error
        );
        assert_eq!(run.report.delivered, last as u64);
        let mut expected: Vec<Vec<u8>> = (1..=last).map(message_body).collect();
        expected.sort_by_key(Vec::len);
        assert_eq!(run.delivered, expected);
        let commands = &run.log.borrow().commands;
        for command in commands {
            if let Some(n) = command.strip_prefix("DELE ") {
                assert!(n.parse::<usize>().unwrap() <= last, "{commands:?}");
            }
        }
        if commands.iter().any(|c| c.starts_with("DELE")) {
            assert!(!commands.contains(&"QUIT".to_string()));
        }
    }

    #[test]
    fn a_bare_lf_answer_delivers_nothing_of_its_batch() {
        // A line ends only at CRLF: a bare-LF answer to RETR 18 must not let 19's body be
        // stored as 18 and 20's as 19.
        // Batches hold 1, 2, 4, 8, 16 messages: 18 is in the one after 15.
        let bare_lf = retr_answer(18)
            .iter()
            .filter(|&&b| b != b'\r')
            .copied()
            .collect::<Vec<u8>>();
        let raw = HashMap::from([("RETR 18".to_string(), bare_lf)]);
        assert_only_delivered(&run_hostile(30, &[], raw, deleting(), None), 15);
    }

    #[test]
    fn a_message_cut_by_an_unstuffed_dot_is_not_delivered_even_when_keeping() {
        // The last message ends early at a "." line the server did not stuff; its rest
        // arrives where the sync answer belongs. Its batch (4 and 5) is not delivered.
        let mut cut = b"+OK\r\nSubject: 5\r\n\r\n.\r\n".to_vec();
        cut.extend_from_slice(&crate::pop3::stuff(b"the rest of 5\n"));
        let raw = HashMap::from([("RETR 5".to_string(), cut)]);
        assert_only_delivered(&run_hostile(5, &[], raw, Request::default(), None), 3);
    }

    #[test]
    fn a_shifted_pipeline_is_caught_by_the_sync_point() {
        // An extra -ERR before RETR 3's answer shifts every later answer by one: 3's body
        // would be stored as 4, and so on. The sync answer is then out of place.
        let mut shifted = b"-ERR busy\r\n".to_vec();
        shifted.extend_from_slice(&retr_answer(3));
        let raw = HashMap::from([("RETR 3".to_string(), shifted)]);
        assert_only_delivered(&run_hostile(70, &[], raw, deleting(), None), 1);
        // A shift in a later batch leaves the earlier ones delivered and recorded, though not
        // deleted: no QUIT is sent. Batches hold 1, 2, 4, ... 32 messages, then 64: 66 is in
        // the one after 63.
        let mut shifted = b"-ERR busy\r\n".to_vec();
        shifted.extend_from_slice(&retr_answer(66));
        let raw = HashMap::from([("RETR 66".to_string(), shifted)]);
        assert_only_delivered(&run_hostile(70, &[], raw, deleting(), None), 63);
    }

    #[test]
    fn an_extra_answer_before_a_message_is_caught_where_it_lands() {
        // The extra "+OK" is taken for RETR 3's status; the real one starts the body.
        let mut extra = b"+OK\r\n".to_vec();
        extra.extend_from_slice(&retr_answer(3));
        let raw = HashMap::from([("RETR 3".to_string(), extra)]);
        assert_only_delivered(&run_hostile(10, &[], raw, deleting(), None), 1);
    }

    #[test]
    fn each_batch_ends_with_a_sync_point() {
        // Batches of 1, 2, 4, ..., 32 messages, then 64 (BATCH_MESSAGES).
        let count = 130;
        let run = run_fetch(count, &[], deleting());
        assert!(run.error.is_none(), "{:?}", run.error);
        assert_eq!(run.report.delivered, count as u64);
        let commands = &run.log.borrow().commands;
        let syncs: Vec<&str> = commands
            .iter()
            .filter(|c| c.starts_with("LIST "))
            .map(String::as_str)
            .collect();
        assert_eq!(
            syncs,
            [
                "LIST 1", "LIST 3", "LIST 7", "LIST 15", "LIST 31", "LIST 63", "LIST 127",
                "LIST 130"
            ]
        );
        for sync in syncs {
            let retr = sync.replace("LIST", "RETR");
            assert_eq!(position(commands, sync), position(commands, &retr) + 1);
        }
        assert!(position(commands, "LIST 1") < position(commands, "DELE 1"));
    }
}
