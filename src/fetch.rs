//! The fetch transaction for one account: list, deliver, make durable, record, delete, quit.

use std::collections::{HashMap, HashSet, VecDeque};

use foldhash::fast::RandomState;
use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::Destination;
use crate::error::{Error, Result};
use crate::external::{self, Ended};
use crate::pop3::Session;
use crate::pop3::{Command, LineEnding};
use crate::state::State;
use crate::store::{Failure, Intent, Mailbox, MalformedIntent, Staged};

/// Commands kept in flight when the server announces PIPELINING. Enough that many small
/// messages fill a long round trip; and at most 17 octets each (`RETR 4294967295`), so under
/// 7 KiB unanswered, far below any socket buffer: the exchange cannot deadlock.
const PIPELINE_WINDOW: usize = 400;

/// A batch is made durable and recorded as a whole: at most this many messages (the first
/// batches of a session hold 1, 2, 4, ... messages) ...
const BATCH_MESSAGES: usize = 64;
/// ... or this many octets (by LIST size, as batches are cut when the RETRs are sent).
const BATCH_OCTETS: u64 = 16 * 1024 * 1024;

/// What the user asked for on this run.
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    /// Fetch messages already recorded as delivered, too.
    pub all: bool,
    /// Delete messages on the server once they are delivered and recorded.
    pub delete: bool,
    /// Larger messages (by LIST size) are left on the server; one that turns out larger while
    /// it streams is abandoned, never truncated.
    pub max_size: Option<u64>,
    /// Delete messages over `max_size` without downloading them.
    pub delete_oversized: bool,
    /// Delete fetched messages this many days after they were first seen.
    pub keep_days: Option<u64>,
    /// Fetch at most this many messages.
    pub limit: Option<u64>,
    /// Stop fetching once this many octets (by LIST size) are planned.
    pub max_bytes: Option<u64>,
    /// Decides from each new message's headers whether to fetch it.
    pub filter: Option<Filter>,
    pub pipelining: crate::pop3::Pipelining,
    /// Says whether the run was asked to stop (a signal): no more RETRs are sent, what is
    /// staged is made durable and recorded, and the session ends as soon as it safely can.
    pub stop_requested: Option<fn() -> bool>,
}

/// A command that reads a message's headers and answers by its exit status.
#[derive(Debug, Clone)]
pub struct Filter {
    pub command: String,
    pub timeout: Duration,
}

/// The filter's exit statuses.
const FILTER_FETCH: i32 = 0;
const FILTER_DELETE: i32 = 1;
const FILTER_SKIP: i32 = 2;

/// Headers longer than this (from TOP n 0) are a protocol error rather than headers.
const MAX_HEADERS: u64 = 1024 * 1024;

const SECONDS_PER_DAY: u64 = 24 * 60 * 60;

/// Follows a run's progress (for a progress bar). Sizes are the server's LIST sizes.
pub trait Observer {
    fn planned(&mut self, _messages: usize, _octets: u64) {}
    /// More of the message being read arrived: `octets` since the last call (at most every
    /// [`STREAM_REPORT_OCTETS`], or sooner on a slow link), after unstuffing.
    fn streamed(&mut self, _octets: u64) {}
    /// A message was read whole and staged; `octets` is its LIST size.
    fn delivered(&mut self, _octets: u64) {}
}

/// Bytes streamed are reported to the observer in steps of this many octets ...
pub const STREAM_REPORT_OCTETS: u64 = 64 * 1024;
/// ... or of at least [`STREAM_REPORT_MIN_OCTETS`] once this long has passed.
const STREAM_REPORT_INTERVAL: Duration = Duration::from_millis(200);
const STREAM_REPORT_MIN_OCTETS: u64 = 4096;

/// After a stop, the answers to RETRs already sent are still read (and the messages kept) if
/// that looks quicker than this at the rate seen so far; otherwise the session is abandoned.
const STOP_DRAIN_BUDGET: Duration = Duration::from_secs(1);
/// Before any rate is known, answers in flight are read after a stop only up to this size.
const STOP_DRAIN_OCTETS: u64 = 256 * 1024;
/// How long the transfer must have run before its rate decides whether to drain.
const STOP_RATE_SAMPLE: Duration = Duration::from_millis(500);

/// No progress display.
impl Observer for () {}

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
    /// Messages the MDA refused; they stay on the server.
    pub rejected: u64,
    /// Messages left on the server because the run was asked to stop.
    pub interrupted: u64,
}

/// The run's report and, if it stopped early or something failed, the first error.
#[derive(Debug)]
pub struct Outcome {
    pub report: Report,
    pub error: Option<Error>,
}

/// One message of the maildrop.
#[derive(Debug, Clone)]
struct Message {
    number: u32,
    size: u64,
    uid: Option<Vec<u8>>,
    /// Why it is deleted without being downloaded, if it is.
    unread: Option<Unread>,
}

/// Why a message is deleted without being downloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unread {
    /// Over `--max-size`, with `--delete-oversized`.
    Oversized,
    /// The filter said so.
    Filtered,
}

/// What to do with the maildrop.
#[derive(Debug, Default)]
struct Plan {
    fetch: Vec<Message>,
    /// Over the size limit: left on the server.
    oversized: Vec<Message>,
    /// To be deleted without downloading: delivered on an earlier run (and due for deletion),
    /// or over the size limit with `--delete-oversized`.
    delete_only: Vec<Message>,
    /// Left for the next run by `--limit` or `--max-bytes`.
    deferred: usize,
}

/// Runs the fetch on a logged-in session. The order per message is fixed: RETR complete →
/// delivered and fsynced → recorded (in the journal, synced) → DELE; QUIT, then the state file
/// written, at the end.
pub fn fetch<S: Read + Write>(
    mut session: Session<S>,
    mailbox: &dyn Mailbox,
    state: &mut State,
    options: FetchOptions,
    observer: &mut dyn Observer,
) -> Outcome {
    let mut report = Report::default();
    let mut ending = Ending::default();
    let result = run(
        &mut session,
        mailbox,
        state,
        options,
        observer,
        &mut report,
        &mut ending,
    );
    // After a failure, a batch's intents may be unresolved: what reached the mailbox is
    // recorded (and a partial mbox append cut away) before the state is written.
    let settled = match &result {
        Err(_) => settle_journal(state).map(|recovered| {
            // Placed, but their record failed: now recorded, so they count as delivered.
            report.delivered += recovered as u64;
        }),
        Ok(()) => Ok(()),
    };
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
    Outcome {
        report,
        error: error.or(saved.err()),
    }
}

fn session_is_broken(error: &Error) -> bool {
    error.is_connection_lost() || matches!(error, Error::Protocol(_))
}

fn run<S: Read + Write>(
    session: &mut Session<S>,
    mailbox: &dyn Mailbox,
    state: &mut State,
    options: FetchOptions,
    observer: &mut dyn Observer,
    report: &mut Report,
    ending: &mut Ending,
) -> Result<()> {
    let pipelining = options
        .pipelining
        .allows(session.capabilities().is_some_and(|capa| capa.pipelining()));
    let window = if pipelining { PIPELINE_WINDOW } else { 1 };
    let mut plan = make_plan(session, state, &options, pipelining)?;
    let filter_error = match &options.filter {
        Some(filter) => apply_filter(session, &mut plan, filter, window, report)?,
        None => None,
    };
    limit_plan(&mut plan, &options);
    report.oversized = plan.oversized.len() as u64;
    report.deferred = plan.deferred as u64;
    // LIST sizes are the server's word: they may be absurd (up to u64::MAX), so sums saturate.
    let planned_octets = plan
        .fetch
        .iter()
        .fold(0u64, |total, m| total.saturating_add(m.size));
    observer.planned(plan.fetch.len(), planned_octets);
    let planned = plan.fetch.len() as u64;
    let batch_limit = BATCH_MESSAGES.min(mailbox.batch_limit());
    // Batches are committed on a second thread, so the disk syncs one batch while the next
    // one streams in. A rendezvous channel keeps at most one batch waiting for its turn.
    let (batches, pending) = mpsc::sync_channel::<Vec<(Message, Staged)>>(0);
    let (commits, committed) = mpsc::channel();
    std::thread::scope(|scope| {
        scope.spawn(move || commit_batches(mailbox, state, pending, commits));
        let mut transfer = Transfer {
            session,
            mailbox,
            observer,
            report,
            ending,
            options: &options,
            window,
            batch_limit,
            upcoming: plan.fetch.into(),
            to_delete: plan.delete_only.into(),
            in_flight: VecDeque::new(),
            batch: Vec::new(),
            batch_octets: 0,
            open_group: None,
            group_messages: 0,
            group_octets: 0,
            group_limit: 1,
            sync_due: None,
            batches,
            committed,
            commits_pending: 0,
            first_refusal: filter_error,
            local_failure: None,
            quit_sent: false,
            stop: Stop::default(),
        };
        let result = transfer.run();
        if transfer.stop.stopping {
            let report = &mut *transfer.report;
            let done = report.delivered + report.refused + report.rejected;
            report.interrupted = planned.saturating_sub(done);
            if transfer.stop.abandon {
                // Without QUIT no deletion takes effect; the records make the next run's.
                report.deleted = 0;
                report.oversized_deleted = 0;
                report.filtered_out = 0;
            }
        }
        result
    })
}

/// The committing thread: places, syncs and records each batch in turn. After a failure it
/// places nothing more, so the journal of the failed batch stays for the next run to settle.
fn commit_batches(
    mailbox: &dyn Mailbox,
    state: &mut State,
    pending: mpsc::Receiver<Vec<(Message, Staged)>>,
    commits: mpsc::Sender<Committed>,
) {
    let mut failed = false;
    for batch in pending {
        let committed = if failed {
            Committed::default()
        } else {
            place_and_record(mailbox, state, batch)
        };
        failed |= committed.error.is_some();
        if commits.send(committed).is_err() {
            return;
        }
    }
}

/// A command whose answer has not been read yet.
enum InFlight {
    Retr(Message),
    Dele(Message),
    /// `LIST n` for the last message of a batch, sent right behind its RETR: the sync point.
    /// Its answer names the message and its size, so it cannot be mistaken for the rest of
    /// a message or for another answer; only once it arrives exactly where expected is the
    /// batch delivered.
    Sync {
        number: u32,
        size: u64,
    },
    Quit,
}

/// What the end of the session needs from the stream: which deletions the server accepted,
/// and the answer to a QUIT that was pipelined behind the last commands.
#[derive(Default)]
struct Ending {
    deleted_uids: Vec<Vec<u8>>,
    quit: Option<crate::pop3::Status>,
}

/// One pipelined stream of commands for the whole run: RETRs flow without a pause while
/// earlier batches are made durable and recorded, and a batch's DELEs join the stream once it
/// is.
struct Transfer<'a, S> {
    session: &'a mut Session<S>,
    mailbox: &'a dyn Mailbox,
    observer: &'a mut dyn Observer,
    report: &'a mut Report,
    ending: &'a mut Ending,
    options: &'a FetchOptions,
    window: usize,
    /// Messages per batch.
    batch_limit: usize,
    /// Messages to fetch whose RETR is not sent yet.
    upcoming: VecDeque<Message>,
    /// Messages recorded as delivered whose DELE is not sent yet.
    to_delete: VecDeque<Message>,
    /// Commands sent, in the order their answers will arrive.
    in_flight: VecDeque<InFlight>,
    /// Messages staged and not yet handed to the committing thread: the batch whose sync
    /// answer has not arrived yet.
    batch: Vec<(Message, Staged)>,
    batch_octets: u64,
    /// The last RETR sent since the last sync point, and how many messages and LIST octets
    /// were requested since then.
    open_group: Option<(u32, u64)>,
    group_messages: usize,
    group_octets: u64,
    /// Messages in the next group: 1 at first, doubling up to `batch_limit`, so that a
    /// connection that keeps breaking still delivers something on every run (a broken
    /// batch is not delivered).
    group_limit: usize,
    /// A sync point to send before anything else.
    sync_due: Option<(u32, u64)>,
    batches: mpsc::SyncSender<Vec<(Message, Staged)>>,
    committed: mpsc::Receiver<Committed>,
    /// Batches handed over whose result has not been collected.
    commits_pending: usize,
    /// The first -ERR to RETR or DELE.
    first_refusal: Option<Error>,
    /// The mailbox or the state failed: no more RETRs are sent, the answers in flight are
    /// drained, and the session stays usable.
    local_failure: Option<Error>,
    quit_sent: bool,
    stop: Stop,
}

/// How the transfer reacts to a request to stop.
struct Stop {
    /// The request was seen: no RETR is sent any more.
    stopping: bool,
    /// The answers in flight are not worth waiting for: once the staged messages are recorded
    /// the session is abandoned, without QUIT (nothing it did is committed on the server; the
    /// records make the next run delete what was delivered).
    abandon: bool,
    started: Instant,
    /// Octets staged so far, for the rate.
    staged_octets: u64,
}

impl Default for Stop {
    fn default() -> Self {
        Stop {
            stopping: false,
            abandon: false,
            started: Instant::now(),
            staged_octets: 0,
        }
    }
}

impl<S: Read + Write> Transfer<'_, S> {
    fn run(&mut self) -> Result<()> {
        if let Err(error) = self.exchange() {
            // The batch whose sync answer has not arrived is not delivered: after a broken
            // answer, any of it may be cut short or another message's text (a missing or
            // extra answer shifts all that follow). It stays on the server for the next run.
            // Batches handed over before are placed and recorded, so they are not fetched
            // again.
            self.batch.clear();
            self.batch_octets = 0;
            while self.commits_pending > 0 {
                self.collect_commit(true);
            }
            return Err(error);
        }
        if let Some(error) = self.local_failure.take() {
            // The mailbox is failing (disk full, permissions): the rest stays on the server for
            // the next run.
            return Err(error);
        }
        // Messages the server refused to send stay where they are; the rest of the run counts.
        self.first_refusal.take().map_or(Ok(()), Err)
    }

    /// Sends and answers commands until none is left; an error means the session broke.
    fn exchange(&mut self) -> Result<()> {
        loop {
            while self.collect_commit(false) {}
            self.check_stop();
            if self.stop.abandon {
                // The open batch has had no sync point (answers are still on their way before
                // it): like after a broken answer, it is not delivered and stays on the server.
                self.batch.clear();
                self.batch_octets = 0;
                while self.commits_pending > 0 {
                    self.collect_commit(true);
                }
                return Ok(());
            }
            self.fill_window()?;
            let Some(next) = self.in_flight.pop_front() else {
                if let Some((message, _)) = self.batch.last() {
                    // Staged messages no sync point follows (RETRs stopped early): one is
                    // sent now, unless the session is over, and then they are not delivered.
                    if self.quit_sent {
                        self.batch.clear();
                        self.batch_octets = 0;
                    } else {
                        let (number, size) = (message.number, message.size);
                        self.session.send(&Command::List(Some(number)))?;
                        self.in_flight.push_back(InFlight::Sync { number, size });
                    }
                    continue;
                }
                if self.commits_pending == 0 {
                    return Ok(());
                }
                // Nothing left to read: wait for the last batches, then send their DELEs.
                self.collect_commit(true);
                continue;
            };
            match next {
                InFlight::Dele(message) => self.receive_dele(message)?,
                InFlight::Quit => self.ending.quit = Some(self.session.receive_status()?),
                InFlight::Retr(message) => self.receive_retr(message)?,
                InFlight::Sync { number, size } => {
                    self.receive_sync(number, size)?;
                    self.commit_batch();
                }
            }
        }
    }

    /// Takes notice of a request to stop: no more RETRs, and the answers already on their way
    /// are read only if that looks quick (they are delivered then); otherwise the session is
    /// abandoned. A message being read when the request came is finished first.
    fn check_stop(&mut self) {
        if self.stop.stopping || !self.options.stop_requested.is_some_and(|stop| stop()) {
            return;
        }
        self.stop.stopping = true;
        self.upcoming.clear();
        let coming: u64 = self
            .in_flight
            .iter()
            .map(|command| match command {
                InFlight::Retr(message) => message.size,
                _ => 0,
            })
            .fold(0, u64::saturating_add);
        let elapsed = self.stop.started.elapsed().as_secs_f64();
        // A rate measured over the first moments says little (the first answers arrive in
        // one burst from the socket buffers), so it is trusted only after a while.
        let quick = if self.stop.staged_octets > 0 && elapsed >= STOP_RATE_SAMPLE.as_secs_f64() {
            let rate = self.stop.staged_octets as f64 / elapsed;
            (coming as f64) <= rate * STOP_DRAIN_BUDGET.as_secs_f64()
        } else {
            coming <= STOP_DRAIN_OCTETS
        };
        self.stop.abandon = !quick;
        // When no RETR is left in flight, the open batch gets its sync point as usual (see
        // `exchange`) and is committed once that answers.
    }

    /// Sends commands until `window` are unanswered: DELEs first, as they are ready, then RETRs
    /// unless the mailbox has failed. Waits until a quarter of the window is free, so that
    /// commands go out a hundred to a write rather than one per answer.
    fn fill_window(&mut self) -> Result<()> {
        let step = (self.window / 4).max(1);
        if !self.in_flight.is_empty() && self.in_flight.len() + step > self.window {
            return Ok(());
        }
        while self.in_flight.len() < self.window {
            let next = if let Some((number, size)) = self.sync_due.take() {
                self.session.send(&Command::List(Some(number)))?;
                InFlight::Sync { number, size }
            } else if let Some(message) = self.to_delete.pop_front() {
                self.session.send(&Command::Dele(message.number))?;
                InFlight::Dele(message)
            } else if let Some(message) = self.next_retr() {
                self.session.send(&Command::Retr(message.number))?;
                self.open_group = Some((message.number, message.size));
                self.group_messages += 1;
                self.group_octets = self.group_octets.saturating_add(message.size);
                if self.group_messages >= self.group_limit || self.group_octets >= BATCH_OCTETS {
                    self.close_group();
                }
                InFlight::Retr(message)
            } else if self.open_group.is_some() {
                // No RETR follows for now: the sync point goes right behind the last one.
                self.close_group();
                continue;
            } else {
                break;
            };
            self.in_flight.push_back(next);
        }
        if self.window > 1 && !self.quit_sent && self.nothing_more_to_send() {
            // Behind the last commands, so that its answer needs no round trip of its own.
            self.session.send(&Command::Quit)?;
            self.in_flight.push_back(InFlight::Quit);
            self.quit_sent = true;
        }
        Ok(())
    }

    /// Every RETR is sent, and no DELE can follow: all are sent, or none will be (keeping).
    /// The checks that scan the window come last.
    fn nothing_more_to_send(&self) -> bool {
        self.local_failure.is_none()
            && self.sync_due.is_none()
            && self.open_group.is_none()
            && self.upcoming.is_empty()
            && self.to_delete.is_empty()
            && (!self.options.delete
                || (self.commits_pending == 0 && self.batch.is_empty() && !self.retr_in_flight()))
    }

    /// The next message to request, unless the mailbox has failed.
    fn next_retr(&mut self) -> Option<Message> {
        match self.local_failure {
            Some(_) => None,
            None => self.upcoming.pop_front(),
        }
    }

    /// Ends the group of RETRs sent since the last sync point: its sync is sent next.
    fn close_group(&mut self) {
        self.sync_due = self.open_group.take();
        self.group_messages = 0;
        self.group_octets = 0;
        self.group_limit = self.group_limit.saturating_mul(2).min(self.batch_limit);
    }

    /// Reads a sync point's answer: `+OK n size` exactly as the listing said, or the stream
    /// is out of step and the session is broken.
    fn receive_sync(&mut self, number: u32, size: u64) -> Result<()> {
        let status = self.session.receive_status()?;
        let entry = crate::pop3::parse_scan_line(&status.text);
        if status.ok
            && entry
                == Ok(crate::pop3::ScanEntry {
                    message: number,
                    size,
                })
        {
            return Ok(());
        }
        Err(crate::pop3::ProtocolError::new(format!(
            "the answers are out of step: LIST {number} was answered \"{}{}\" (expected \
             \"+OK {number} {size}\"); nothing of the last batch was delivered",
            if status.ok { "+OK " } else { "-ERR " },
            status.display_text()
        ))
        .into())
    }

    fn retr_in_flight(&self) -> bool {
        self.in_flight
            .iter()
            .any(|command| matches!(command, InFlight::Retr(_)))
    }

    /// Reads one RETR answer and stages the message. Only a broken session is an error.
    fn receive_retr(&mut self, message: Message) -> Result<()> {
        let status = self.session.receive_status()?;
        if !status.ok {
            self.report.refused += 1;
            self.first_refusal.get_or_insert(Error::Temporary(format!(
                "the server refused to send message {} ({}); it stays on the server",
                message.number,
                status.display_text()
            )));
            return Ok(());
        }
        if self.local_failure.is_some() {
            // Answers already in flight are drained (and checked); their messages stay on
            // the server.
            self.drain(&message)?;
            return Ok(());
        }
        let session = &mut *self.session;
        let observer = &mut *self.observer;
        let max_size = self.options.max_size;
        let (number, listed) = (message.number, message.size);
        let fill = &mut |sink: &mut dyn Write| {
            let mut counted = Counted::new(sink, observer);
            let body =
                session.receive_message(LineEnding::Lf, &mut counted, max_size, number, listed);
            counted.report();
            Ok(body?)
        };
        match self.mailbox.stage(fill) {
            Ok(staged) => {
                self.observer.delivered(message.size);
                self.stop.staged_octets += staged.octets;
                self.batch_octets += staged.octets;
                self.batch.push((message, staged));
                Ok(())
            }
            Err(Failure::Source(error)) => Err(error),
            Err(Failure::Mailbox(error)) => {
                // A mailbox that failed before reading the body (no staging file) leaves it
                // unread: it is drained here, so the next answer is read in its place.
                self.local_failure = Some(error);
                self.drain(&message)
            }
        }
    }

    /// Reads and discards the rest of a RETR answer, if any is unread.
    fn drain(&mut self, message: &Message) -> Result<()> {
        if self.session.body_pending() {
            let (number, size) = (message.number, message.size);
            let sink = &mut std::io::sink();
            self.session
                .receive_message(LineEnding::Lf, sink, None, number, size)?;
        }
        Ok(())
    }

    fn receive_dele(&mut self, message: Message) -> Result<()> {
        let status = self.session.receive_status()?;
        if status.ok {
            self.report.deleted += 1;
            match message.unread {
                Some(Unread::Oversized) => self.report.oversized_deleted += 1,
                Some(Unread::Filtered) => self.report.filtered_out += 1,
                None => {}
            }
            self.ending.deleted_uids.extend(message.uid);
        } else {
            // A refused DELE leaves the message recorded, so the next run tries again without
            // downloading it.
            self.first_refusal.get_or_insert_with(|| {
                Error::Temporary(format!(
                    "the server refused to delete message {} ({}); it is recorded as fetched \
                     and will be deleted on the next run",
                    message.number,
                    status.display_text()
                ))
            });
        }
        Ok(())
    }

    /// Hands the staged batch to the committing thread, waiting while it is busy with the
    /// previous one.
    fn commit_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        self.batch_octets = 0;
        if self.batches.send(batch).is_ok() {
            self.commits_pending += 1;
        } else {
            self.local_failure
                .get_or_insert_with(|| Error::Temporary("the committing thread stopped".into()));
        }
    }

    /// Takes one batch result, if there is one (or waiting for it), and queues the DELEs of
    /// what it recorded. Returns whether it took one.
    fn collect_commit(&mut self, wait: bool) -> bool {
        if self.commits_pending == 0 {
            return false;
        }
        let result = if wait {
            self.committed.recv().map_err(|_| ())
        } else {
            self.committed.try_recv().map_err(|_| ())
        };
        let committed = match result {
            Ok(committed) => committed,
            Err(()) if !wait => return false,
            Err(()) => Committed {
                error: Some(Error::Temporary("the committing thread stopped".into())),
                ..Committed::default()
            },
        };
        self.commits_pending -= 1;
        // What was recorded counts and is deleted, even from a batch that failed part way.
        for message in committed.delivered {
            self.report.delivered += 1;
            self.report.octets += message.octets;
            if self.options.delete {
                self.to_delete.push_back(message.message);
            }
        }
        if let Some(error) = committed.rejected {
            self.report.rejected += 1;
            self.first_refusal.get_or_insert(error);
        }
        if let Some(error) = committed.error {
            self.local_failure.get_or_insert(error);
        }
        true
    }
}

/// A sink that tells the observer how much of the message has arrived, in steps rather than
/// per write.
struct Counted<'a> {
    inner: &'a mut dyn Write,
    observer: &'a mut dyn Observer,
    unreported: u64,
    last_report: Instant,
}

impl<'a> Counted<'a> {
    fn new(inner: &'a mut dyn Write, observer: &'a mut dyn Observer) -> Self {
        Counted {
            inner,
            observer,
            unreported: 0,
            last_report: Instant::now(),
        }
    }

    fn report(&mut self) {
        if self.unreported > 0 {
            self.observer.streamed(self.unreported);
            self.unreported = 0;
            self.last_report = Instant::now();
        }
    }
}

impl Write for Counted<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(bytes)?;
        self.unreported += written as u64;
        // The clock is read only once a few KiB are waiting.
        if self.unreported >= STREAM_REPORT_OCTETS
            || (self.unreported >= STREAM_REPORT_MIN_OCTETS
                && self.last_report.elapsed() >= STREAM_REPORT_INTERVAL)
        {
            self.report();
        }
        Ok(written)
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.inner.write_all(bytes)?;
        self.unreported += bytes.len() as u64;
        if self.unreported >= STREAM_REPORT_OCTETS
            || (self.unreported >= STREAM_REPORT_MIN_OCTETS
                && self.last_report.elapsed() >= STREAM_REPORT_INTERVAL)
        {
            self.report();
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Lists the maildrop and decides what to fetch and what to delete.
fn make_plan<S: Read + Write>(
    session: &mut Session<S>,
    state: &mut State,
    options: &FetchOptions,
    pipelining: bool,
) -> Result<Plan> {
    let (mut listing, uidl) = session.listings(pipelining)?;
    listing.sort_unstable_by_key(|e| e.message);
    let mut plan = Plan::default();
    let Some(mut uidl) = uidl else {
        if !options.delete && !options.all {
            return Err(Error::unavailable(
                "the server does not support UIDL, so popget cannot tell new messages from old \
                 ones while leaving them on the server; use --delete, or --all to fetch every \
                 message on every run",
            ));
        }
        for entry in listing {
            plan.take_new(
                Message {
                    number: entry.message,
                    size: entry.size,
                    uid: None,
                    unread: None,
                },
                options,
            );
        }
        return Ok(plan);
    };
    uidl.sort_unstable_by_key(|e| e.message);

    // Two messages sharing one id cannot be told apart by it: neither is ever deleted as "seen".
    let mut duplicated: HashSet<u32, RandomState> = HashSet::default();
    let mut known = Vec::with_capacity(uidl.len());
    {
        let mut first_with: HashMap<&[u8], u32, RandomState> =
            HashMap::with_capacity_and_hasher(uidl.len(), RandomState::default());
        for entry in &uidl {
            if listing
                .binary_search_by_key(&entry.message, |e| e.message)
                .is_err()
            {
                return Err(crate::pop3::ProtocolError::new(format!(
                    "UIDL names message {}, which LIST did not",
                    entry.message
                ))
                .into());
            }
            if let Some(first) = first_with.insert(&entry.uid, entry.message) {
                duplicated.insert(first);
                duplicated.insert(entry.message);
            }
        }
        // One lookup per listed id says which are known. Entries for messages no longer on the
        // server are forgotten, so an id the server reuses later is not mistaken for an old
        // message; there are none to forget when every entry was found.
        let mut distinct_known = 0;
        for entry in &uidl {
            let is_known = state.contains(&entry.uid);
            if is_known && first_with.get(entry.uid.as_slice()) == Some(&entry.message) {
                distinct_known += 1;
            }
            known.push(is_known);
        }
        if distinct_known < state.len() {
            state.retain(|uid| first_with.contains_key(uid));
        }
    }

    let now = unix_now();
    let expired = |uid: &[u8]| {
        options.keep_days.is_some_and(|days| {
            state.first_seen(uid).is_some_and(|seen| {
                now >= seen.saturating_add(days.saturating_mul(SECONDS_PER_DAY))
            })
        })
    };
    let mut uids = uidl.into_iter().zip(known).peekable();
    for entry in listing {
        let (uid, seen) = uids
            .next_if(|(u, _)| u.message == entry.message)
            .map_or((None, false), |(u, known)| (Some(u.uid), known));
        let due = uid
            .as_deref()
            .is_some_and(|uid| options.delete || expired(uid));
        let message = Message {
            number: entry.message,
            size: entry.size,
            uid,
            unread: None,
        };
        if options.all || !seen {
            plan.take_new(message, options);
        } else if due && !duplicated.contains(&message.number) {
            plan.delete_only.push(message);
        }
    }
    Ok(plan)
}

impl Plan {
    /// A message not fetched before: to fetch, or over the size limit to leave or delete.
    fn take_new(&mut self, mut message: Message, options: &FetchOptions) {
        if options.max_size.is_none_or(|max| message.size <= max) {
            self.fetch.push(message);
        } else if options.delete_oversized {
            message.unread = Some(Unread::Oversized);
            self.delete_only.push(message);
        } else {
            self.oversized.push(message);
        }
    }
}

/// Leaves what is over `--limit` or `--max-bytes` for the next run. The message that crosses
/// `--max-bytes` is still fetched, so that a message larger than the limit is not stuck.
fn limit_plan(plan: &mut Plan, options: &FetchOptions) {
    let mut octets: u64 = 0;
    let cut = plan.fetch.iter().enumerate().position(|(count, message)| {
        let over = options.limit.is_some_and(|limit| count as u64 >= limit)
            || options.max_bytes.is_some_and(|max| octets >= max);
        octets = octets.saturating_add(message.size);
        over
    });
    if let Some(cut) = cut {
        plan.deferred = plan.fetch.len() - cut;
        plan.fetch.truncate(cut);
    }
}

/// Runs the filter on the headers (`TOP n 0`) of each message planned for fetching: it stays
/// planned, is deleted unread, or is skipped for now. Returns the first error of the filter
/// itself; its message stays on the server.
fn apply_filter<S: Read + Write>(
    session: &mut Session<S>,
    plan: &mut Plan,
    filter: &Filter,
    window: usize,
    report: &mut Report,
) -> Result<Option<Error>> {
    let candidates = std::mem::take(&mut plan.fetch);
    let mut headers_file =
        tempfile::tempfile().map_err(|e| Error::io("cannot create a file for the headers", e))?;
    let mut first_error = None;
    let mut refused = None;
    let mut sent = 0;
    let mut headers = Vec::new();
    for (index, message) in candidates.iter().enumerate() {
        while sent < candidates.len() && sent < index + window {
            session.send(&Command::Top {
                message: candidates[sent].number,
                lines: 0,
            })?;
            sent += 1;
        }
        let status = session.receive_status()?;
        if !status.ok {
            refused.get_or_insert_with(|| {
                Error::unavailable(format!(
                    "the server refused TOP ({}), which --filter needs",
                    status.display_text()
                ))
            });
            continue;
        }
        headers.clear();
        let body = session.receive_body_within(LineEnding::Lf, &mut headers, Some(MAX_HEADERS))?;
        if refused.is_some() {
            continue;
        }
        if let Some(error) = body.sink_error {
            return Err(Error::io("cannot keep the headers", error));
        }
        let verdict = run_filter(filter, &mut headers_file, &headers, message.number)?;
        match verdict {
            Ok(FILTER_FETCH) => plan.fetch.push(message.clone()),
            Ok(FILTER_DELETE) => {
                let mut message = message.clone();
                message.unread = Some(Unread::Filtered);
                plan.delete_only.push(message);
            }
            Ok(_) => report.skipped += 1,
            Err(error) => {
                report.skipped += 1;
                first_error.get_or_insert(error);
            }
        }
    }
    match refused {
        Some(error) => Err(error),
        None => Ok(first_error),
    }
}

/// Runs the filter on one message's headers; its exit status, or the error it caused.
fn run_filter(
    filter: &Filter,
    file: &mut std::fs::File,
    headers: &[u8],
    number: u32,
) -> Result<std::result::Result<i32, Error>> {
    use std::io::{Seek, SeekFrom};
    let io_error = |e| Error::io("cannot write the headers for the filter", e);
    file.set_len(0).map_err(io_error)?;
    file.seek(SeekFrom::Start(0)).map_err(io_error)?;
    file.write_all(headers).map_err(io_error)?;
    file.seek(SeekFrom::Start(0)).map_err(io_error)?;
    let stdin = file.try_clone().map_err(io_error)?;
    let failed = |what: String| {
        Error::Temporary(format!(
            "the filter {:?} {what} on message {number}; it stays on the server",
            filter.command
        ))
    };
    Ok(
        match external::run(&filter.command, stdin, filter.timeout)? {
            Ended::Exited(code @ (FILTER_FETCH | FILTER_DELETE | FILTER_SKIP)) => Ok(code),
            Ended::Exited(code) => Err(failed(format!("failed (exit {code})"))),
            Ended::Killed => Err(failed("was killed by a signal".into())),
            Ended::TimedOut => Err(failed(format!(
                "did not finish within {} s",
                filter.timeout.as_secs()
            ))),
        },
    )
}

/// What the committing thread did with a batch.
#[derive(Default)]
struct Committed {
    /// Placed, durable and recorded.
    delivered: Vec<DeliveredMessage>,
    /// The MDA refused the message after the delivered ones.
    rejected: Option<Error>,
    /// The mailbox or the state failed after the delivered ones: nothing more is placed.
    error: Option<Error>,
}

struct DeliveredMessage {
    message: Message,
    octets: u64,
}

/// Places a batch of staged messages: their intents go to the journal first, then the mailbox
/// places them, then those that arrived are logged as delivered. A placement error is returned
/// with what did arrive and is recorded.
fn place_and_record(
    mailbox: &dyn Mailbox,
    state: &mut State,
    staged: Vec<(Message, Staged)>,
) -> Committed {
    if staged.is_empty() {
        return Committed::default();
    }
    let (messages, staged): (Vec<Message>, Vec<Staged>) = staged.into_iter().unzip();
    let octets: Vec<u64> = staged.iter().map(|s| s.octets).collect();
    let placement = {
        let messages = &messages;
        let state_ref = &*state;
        mailbox.place(staged, &mut |intents: &[Intent]| {
            let lines: Vec<String> = intents.iter().map(Intent::to_string).collect();
            let records: Vec<(&[u8], &str)> = messages
                .iter()
                .zip(&lines)
                .filter_map(|(message, line)| {
                    message.uid.as_deref().map(|uid| (uid, line.as_str()))
                })
                .collect();
            state_ref.write_intents(&records)
        })
    };
    let delivered: Vec<DeliveredMessage> = messages
        .into_iter()
        .zip(octets)
        .take(placement.placed)
        .map(|(message, octets)| DeliveredMessage { message, octets })
        .collect();
    let uids: Vec<&[u8]> = delivered
        .iter()
        .filter_map(|message| message.message.uid.as_deref())
        .collect();
    if let Err(error) = state.log_delivered(&uids, unix_now()) {
        // Placed but not recorded: settling the journal at the end of the run (or the next
        // run) finds them in the mailbox. Until then they are neither counted nor deleted.
        return Committed {
            error: Some(error),
            ..Committed::default()
        };
    }
    // After a placement error the intents of the rest stay unresolved: what of them reached
    // the mailbox is settled at the end of the run, or by the next run after a crash.
    Committed {
        delivered,
        rejected: placement.rejected,
        error: placement.error,
    }
}

/// Settles what an interrupted run left in the journal: deliveries that reached the mailbox are
/// recorded (so they are not fetched again), partial mbox appends are cut away. Returns how
/// many deliveries were recovered.
pub fn recover(state: &mut State) -> Result<usize> {
    let recovered = settle_journal(state)?;
    state.commit()?;
    state.clear_journal()?;
    Ok(recovered)
}

/// Records (in memory) every delivery the journal shows complete: logged as delivered, or
/// found in the mailbox. Returns how many were not recorded yet.
fn settle_journal(state: &mut State) -> Result<usize> {
    let intents = state.pending_intents()?;
    let now = unix_now();
    let mut recovered = 0;
    for (uid, line) in &intents {
        let arrived = line == crate::state::DELIVERED
            || crate::store::recover(&line.parse().map_err(|MalformedIntent(line)| {
                Error::CorruptState {
                    path: state.path().to_path_buf(),
                    detail: format!("its journal has a malformed line {line:?}"),
                }
            })?)?;
        if arrived && !state.contains(uid) {
            state.record(uid, now);
            recovered += 1;
        }
    }
    Ok(recovered)
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

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A short description of the destination for the summary line, with `~` for the home
/// directory; an MDA is shown as `| COMMAND`.
pub fn describe_destination(destination: &Destination, home: Option<&std::path::Path>) -> String {
    let Some(path) = destination.path() else {
        return match destination {
            Destination::Mda(command) => format!("| {command}"),
            _ => String::new(),
        };
    };
    if let Some(home) = home {
        if let Ok(rest) = path.strip_prefix(home) {
            return format!("~/{}", rest.display());
        }
    }
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pop3::{Client, Security};
    use crate::store::Maildir;
    use std::cell::RefCell;
    use std::collections::BTreeSet;
    use std::io;
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
                .any(|(id, intent)| id == uid.as_bytes() && intent == crate::state::DELIVERED);
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

    fn run_fetch(count: usize, refuse_retr: &[u32], options: FetchOptions) -> Run {
        run_hostile(count, refuse_retr, HashMap::new(), options, None)
    }

    fn run_fetch_observed(
        count: usize,
        refuse_retr: &[u32],
        options: FetchOptions,
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
        options: FetchOptions,
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
        let outcome = match observer {
            Some(observer) => fetch(session, &mailbox, &mut state, options, observer),
            None => fetch(session, &mailbox, &mut state, options, &mut ()),
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
        let options = FetchOptions {
            delete: true,
            ..FetchOptions::default()
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
        let options = FetchOptions {
            delete: true,
            ..FetchOptions::default()
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
        let run = run_fetch(100, &[], FetchOptions::default());
        assert_eq!(run.report.delivered, 100);
        assert!(run.log.borrow().most_outstanding > 50);
        let off = FetchOptions {
            pipelining: crate::pop3::Pipelining::Off,
            delete: true,
            ..FetchOptions::default()
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
        let run = run_fetch(2 * BATCH_MESSAGES + 3, &[], FetchOptions::default());
        assert!(run.error.is_none());
        let log = run.log.borrow();
        assert_eq!(log.commands.last().map(String::as_str), Some("QUIT"));
        assert!(log.unread_at_quit > 0);
        // Deleting: behind the last batch's DELEs, once that batch is recorded.
        let delete = FetchOptions {
            delete: true,
            ..FetchOptions::default()
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
        state.log_delivered(&[b"a", b"b c"], 1).unwrap();
        drop(state); // killed before the state file was rewritten

        let mut state = State::load(&path).unwrap();
        assert!(!state.contains(b"a"));
        assert_eq!(recover(&mut state).unwrap(), 2);
        assert!(state.contains(b"a") && state.contains(b"b c"));
        let state = State::load(&path).unwrap();
        assert!(state.contains(b"b c"));
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
        let options = FetchOptions {
            delete: true,
            pipelining: crate::pop3::Pipelining::Off,
            stop_requested: Some(|| STOP.load(std::sync::atomic::Ordering::SeqCst)),
            ..FetchOptions::default()
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
        let options = FetchOptions {
            stop_requested: Some(|| STOP.load(std::sync::atomic::Ordering::SeqCst)),
            ..FetchOptions::default()
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
        let run = run_fetch(10, &[], FetchOptions::default());
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

    fn deleting() -> FetchOptions {
        FetchOptions {
            delete: true,
            ..FetchOptions::default()
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
        // Issue 15 item 6: a bare-LF RETR 18 once stored 19's body as 18 and 20's as 19.
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
        assert_only_delivered(&run_hostile(5, &[], raw, FetchOptions::default(), None), 3);
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
