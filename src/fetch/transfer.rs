//! The pipelined exchange: RETRs flowing while earlier batches are made durable, each batch
//! checked at a sync point, DELEs once recorded, a graceful stop.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::commit::{commit_batches, Committed};
use super::plan::{apply_filter, leave_too_large, limit_plan, make_plan, Message, Plan, Unread};
use super::sync_groups::SyncGroups;
use super::transaction::{Report, Request};
use super::Observer;
use crate::error::{Error, Result};
use crate::pop3::{Command, LineEnding, Session};
use crate::set_aside::SetAside;
use crate::state::State;
use crate::store::{Failure, Mailbox, Staged};

/// Commands kept in flight when the server announces PIPELINING. Enough that many small
/// messages fill a long round trip; and at most 17 octets each (`RETR 4294967295`), so under
/// 7 KiB unanswered, far below any socket buffer: the exchange cannot deadlock.
pub(super) const PIPELINE_WINDOW: usize = 400;

/// A batch is made durable and recorded as a whole: at most this many messages (the first
/// batches of a session hold 1, 2, 4, ... messages), or [`BATCH_OCTETS`].
pub(super) const BATCH_MESSAGES: usize = 64;
/// A batch is closed once its messages reach this many octets (by LIST size, as batches are
/// cut when the RETRs are sent).
pub(super) const BATCH_OCTETS: u64 = 16 * 1024 * 1024;

/// Bytes streamed are reported to the observer in steps of this many octets, or sooner on a
/// slow link (a smaller step once 200 ms have passed).
pub const STREAM_REPORT_OCTETS: u64 = 64 * 1024;
/// On a slow link, a step of at least [`STREAM_REPORT_MIN_OCTETS`] is reported once this long
/// has passed.
pub(super) const STREAM_REPORT_INTERVAL: Duration = Duration::from_millis(200);
pub(super) const STREAM_REPORT_MIN_OCTETS: u64 = 4096;

/// After a stop, the answers to RETRs already sent are still read (and the messages kept) if
/// that looks quicker than this at the rate seen so far; otherwise the session is abandoned.
pub(super) const STOP_DRAIN_BUDGET: Duration = Duration::from_secs(1);
/// Before any rate is known, answers in flight are read after a stop only up to this size.
pub(super) const STOP_DRAIN_OCTETS: u64 = 256 * 1024;
/// How long the transfer must have run before its rate decides whether to drain.
pub(super) const STOP_RATE_SAMPLE: Duration = Duration::from_millis(500);

/// What one exchange works with: the session, where messages go and are recorded, what the
/// run asks, and where its progress, report and ending go.
pub(super) struct Exchange<'a, S> {
    pub session: &'a mut Session<S>,
    pub mailbox: &'a dyn Mailbox,
    pub state: &'a mut State,
    /// Messages the destination refused for good: not fetched again.
    pub set_aside: &'a mut SetAside,
    pub request: &'a Request,
    pub observer: &'a mut dyn Observer,
    pub report: &'a mut Report,
    pub ending: &'a mut Ending,
}

/// Plans the run, then streams the planned messages while earlier batches are committed.
pub(super) fn run<S: Read + Write>(exchange: Exchange<'_, S>) -> Result<()> {
    let Exchange {
        session,
        mailbox,
        state,
        set_aside,
        request: options,
        observer,
        report,
        ending,
    } = exchange;
    let pipelining = options
        .pipelining
        .allows(session.capabilities().is_some_and(|capa| capa.pipelining()));
    let window = if pipelining { PIPELINE_WINDOW } else { 1 };
    let destination_limit = mailbox.size_limit();
    let (mut plan, filter_error) = plan_and_filter(
        session,
        (state, set_aside),
        options,
        destination_limit,
        (pipelining, window),
        report,
    )?;
    let reason = format!(
        "larger than the destination accepts ({} octets)",
        destination_limit.unwrap_or_default()
    );
    for uid in std::mem::take(&mut plan.too_large_uids) {
        ending.refused_for_good.push((uid, reason.clone()));
    }
    observer.planned(plan.fetch.len(), plan.fetch_octets());
    let planned = plan.fetch.len() as u64;
    let batch_limit = BATCH_MESSAGES.min(mailbox.batch_limit());
    // Batches are committed on a second thread, so the disk syncs one batch while the next
    // one streams in. A rendezvous channel keeps at most one batch waiting for its turn.
    let (batches, pending) = mpsc::sync_channel::<Vec<(Message, Staged)>>(0);
    let (commits, committed) = mpsc::channel();
    let nothing_to_fetch = plan.fetch.is_empty();
    std::thread::scope(|scope| {
        if nothing_to_fetch {
            // No batch will be staged, so no thread to commit one: a daemon polls hundreds of
            // accounts, most with nothing new. A batch sent all the same would fail, not hang.
            drop((pending, commits));
        } else {
            scope.spawn(move || commit_batches(mailbox, state, pending, commits));
        }
        let mut transfer = Transfer {
            session,
            mailbox,
            observer,
            report,
            ending,
            options,
            window,
            groups: SyncGroups::new(batch_limit),
            upcoming: plan.fetch.into(),
            to_delete: plan.delete_only.into(),
            in_flight: VecDeque::new(),
            batch: Vec::new(),
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
            count_stopped(transfer.report, planned, transfer.stop.abandon);
        }
        result
    })
}

/// Lists the maildrop, applies the destination's size limit, the filter and the limits;
/// returns the plan and the first refusal: the filter's failure, or messages the destination
/// will not take.
fn plan_and_filter<S: Read + Write>(
    session: &mut Session<S>,
    (state, set_aside): (&mut State, &mut SetAside),
    options: &Request,
    destination_limit: Option<u64>,
    (pipelining, window): (bool, usize),
    report: &mut Report,
) -> Result<(Plan, Option<Error>)> {
    let mut plan = make_plan(session, (state, set_aside), options, pipelining)?;
    leave_too_large(&mut plan, destination_limit);
    let filter_error = match &options.policy.filter {
        Some(filter) => apply_filter(session, &mut plan, filter, window, report)?,
        None => None,
    };
    limit_plan(&mut plan, options);
    report.oversized = plan.oversized as u64;
    report.deferred = plan.deferred as u64;
    report.too_large_for_destination = plan.too_large_for_destination as u64;
    report.set_aside = plan.set_aside as u64;
    let too_large = plan.too_large_refusal(destination_limit);
    Ok((plan, filter_error.or(too_large)))
}

/// Accounts for a stop: the planned messages not done are interrupted, and an abandoned
/// session deleted nothing.
fn count_stopped(report: &mut Report, planned: u64, abandon: bool) {
    let done = report.delivered + report.refused + report.rejected;
    report.interrupted = planned.saturating_sub(done);
    if abandon {
        // Without QUIT no deletion takes effect; the records make the next run's.
        report.deleted = 0;
        report.oversized_deleted = 0;
        report.filtered_out = 0;
    }
}

/// A command whose answer has not been read yet.
pub(super) enum InFlight {
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
pub(super) struct Ending {
    pub(super) deleted_uids: Vec<Vec<u8>>,
    pub(super) quit: Option<crate::pop3::Status>,
    /// UIDLs refused for good in this run, with the reason: set aside once the run is over.
    pub(super) refused_for_good: Vec<(Vec<u8>, String)>,
}

/// One pipelined stream of commands for the whole run: RETRs flow without a pause while
/// earlier batches are made durable and recorded, and a batch's DELEs join the stream once it
/// is.
pub(super) struct Transfer<'a, S> {
    pub(super) session: &'a mut Session<S>,
    pub(super) mailbox: &'a dyn Mailbox,
    pub(super) observer: &'a mut dyn Observer,
    pub(super) report: &'a mut Report,
    pub(super) ending: &'a mut Ending,
    pub(super) options: &'a Request,
    pub(super) window: usize,
    /// The RETRs sent since the last sync point.
    pub(super) groups: SyncGroups,
    /// Messages to fetch whose RETR is not sent yet.
    pub(super) upcoming: VecDeque<Message>,
    /// Messages recorded as delivered whose DELE is not sent yet.
    pub(super) to_delete: VecDeque<Message>,
    /// Commands sent, in the order their answers will arrive.
    pub(super) in_flight: VecDeque<InFlight>,
    /// Messages staged and not yet handed to the committing thread: the batch whose sync
    /// answer has not arrived yet.
    pub(super) batch: Vec<(Message, Staged)>,
    pub(super) batches: mpsc::SyncSender<Vec<(Message, Staged)>>,
    pub(super) committed: mpsc::Receiver<Committed>,
    /// Batches handed over whose result has not been collected.
    pub(super) commits_pending: usize,
    /// The first -ERR to RETR or DELE.
    pub(super) first_refusal: Option<Error>,
    /// The mailbox or the state failed: no more RETRs are sent, the answers in flight are
    /// drained, and the session stays usable.
    pub(super) local_failure: Option<Error>,
    pub(super) quit_sent: bool,
    pub(super) stop: Stop,
}

/// How the transfer reacts to a request to stop.
pub(super) struct Stop {
    /// The request was seen: no RETR is sent any more.
    pub(super) stopping: bool,
    /// The answers in flight are not worth waiting for: once the staged messages are recorded
    /// the session is abandoned, without QUIT (nothing it did is committed on the server; the
    /// records make the next run delete what was delivered).
    pub(super) abandon: bool,
    pub(super) started: Instant,
    /// Octets staged so far, for the rate.
    pub(super) staged_octets: u64,
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
            self.drop_open_batch();
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
                self.drop_open_batch();
                return Ok(());
            }
            self.fill_window()?;
            let Some(next) = self.in_flight.pop_front() else {
                if let Some((message, _)) = self.batch.last() {
                    // Staged messages no sync point follows (RETRs stopped early): one is
                    // sent now, unless the session is over, and then they are not delivered.
                    if self.quit_sent {
                        self.batch.clear();
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
            let next = if let Some((number, size)) = self.groups.take_due() {
                self.session.send(&Command::List(Some(number)))?;
                InFlight::Sync { number, size }
            } else if let Some(message) = self.to_delete.pop_front() {
                self.session.send(&Command::Dele(message.number))?;
                InFlight::Dele(message)
            } else if let Some(message) = self.next_retr() {
                self.session.send(&Command::Retr(message.number))?;
                self.groups.retr_sent(&message);
                InFlight::Retr(message)
            } else if self.groups.is_open() {
                // No RETR follows for now: the sync point goes right behind the last one.
                self.groups.close();
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
            && self.groups.is_settled()
            && self.upcoming.is_empty()
            && self.to_delete.is_empty()
            && (!self.options.policy.delete
                || (self.commits_pending == 0 && self.batch.is_empty() && !self.retr_in_flight()))
    }

    /// The next message to request, unless the mailbox has failed.
    fn next_retr(&mut self) -> Option<Message> {
        match self.local_failure {
            Some(_) => None,
            None => self.upcoming.pop_front(),
        }
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
        let max_size = self.options.policy.max_size;
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
        if self.batches.send(batch).is_ok() {
            self.commits_pending += 1;
        } else {
            self.local_failure
                .get_or_insert_with(|| Error::Temporary("the committing thread stopped".into()));
        }
    }

    /// Forgets the staged batch no sync point confirmed (it is not delivered and stays on the
    /// server), and waits for the batches already handed over.
    fn drop_open_batch(&mut self) {
        self.batch.clear();
        while self.commits_pending > 0 {
            self.collect_commit(true);
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
            if self.options.policy.delete {
                self.to_delete.push_back(message.message);
            }
        }
        if let Some(rejected) = committed.rejected {
            self.report.rejected += 1;
            let error = rejected.set_aside_in(&mut self.ending.refused_for_good);
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
pub(super) struct Counted<'a> {
    pub(super) inner: &'a mut dyn Write,
    pub(super) observer: &'a mut dyn Observer,
    pub(super) unreported: u64,
    pub(super) last_report: Instant,
    /// The `unreported` count at which the clock is read next.
    pub(super) next_clock_check: u64,
}

impl<'a> Counted<'a> {
    fn new(inner: &'a mut dyn Write, observer: &'a mut dyn Observer) -> Self {
        Counted {
            inner,
            observer,
            unreported: 0,
            last_report: Instant::now(),
            next_clock_check: STREAM_REPORT_MIN_OCTETS,
        }
    }

    /// Adds what was written, and reports in steps: every [`STREAM_REPORT_OCTETS`], or once
    /// a few KiB wait and [`STREAM_REPORT_INTERVAL`] has passed. The clock is read once per
    /// [`STREAM_REPORT_MIN_OCTETS`], not per write: writes come a line at a time, and reading
    /// it for each took a quarter of popget's own CPU time in a fetch.
    fn count(&mut self, octets: usize) {
        self.unreported += octets as u64;
        if self.unreported >= STREAM_REPORT_OCTETS {
            self.report();
        } else if self.unreported >= self.next_clock_check {
            self.next_clock_check = self.unreported + STREAM_REPORT_MIN_OCTETS;
            if self.last_report.elapsed() >= STREAM_REPORT_INTERVAL {
                self.report();
            }
        }
    }

    fn report(&mut self) {
        if self.unreported > 0 {
            self.observer.streamed(self.unreported);
            self.unreported = 0;
            self.next_clock_check = STREAM_REPORT_MIN_OCTETS;
            self.last_report = Instant::now();
        }
    }
}

impl Write for Counted<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(bytes)?;
        self.count(written);
        Ok(written)
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.inner.write_all(bytes)?;
        self.count(bytes.len());
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What was reported as streamed, call by call.
    #[derive(Default)]
    struct Reports(Vec<u64>);

    impl Observer for Reports {
        fn streamed(&mut self, octets: u64) {
            self.0.push(octets);
        }
    }

    #[test]
    fn streamed_octets_are_reported_in_steps() {
        let mut sink = Vec::new();
        let mut reports = Reports::default();
        let mut counted = Counted::new(&mut sink, &mut reports);
        for _ in 0..2048 {
            counted.write_all(&[b'x'; 64]).unwrap();
        }
        assert_eq!(reports.0, [STREAM_REPORT_OCTETS, STREAM_REPORT_OCTETS]);

        // On a slow link (the interval has passed), at the next few-KiB step.
        let mut reports = Reports::default();
        let mut counted = Counted::new(&mut sink, &mut reports);
        counted.last_report = Instant::now() - STREAM_REPORT_INTERVAL * 2;
        for _ in 0..100 {
            counted.write_all(&[b'x'; 64]).unwrap();
        }
        assert_eq!(reports.0, [STREAM_REPORT_MIN_OCTETS]);
    }
}
