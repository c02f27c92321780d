//! The fetch transaction for one account: list, deliver, make durable, record, delete, quit.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::Destination;
use crate::error::{Error, Result};
use crate::protocol::{Command, LineEnding};
use crate::session::Session;
use crate::state::State;
use crate::store::{Failure, Mailbox, Staged};

/// Commands kept in flight when the server announces PIPELINING. Small RETR/DELE commands, so
/// the unanswered bytes stay far below any socket buffer and the exchange cannot deadlock.
const PIPELINE_WINDOW: usize = 64;

/// A batch is made durable and recorded as a whole: at most this many messages ...
const BATCH_MESSAGES: usize = 64;
/// ... or this many octets.
const BATCH_OCTETS: u64 = 16 * 1024 * 1024;

/// What the user asked for on this run.
#[derive(Debug, Clone, Copy, Default)]
pub struct FetchOptions {
    /// Fetch messages already recorded as delivered, too.
    pub all: bool,
    /// Delete messages on the server once they are delivered and recorded.
    pub delete: bool,
    /// Larger messages (by LIST size) are left on the server; one that turns out larger while
    /// it streams is abandoned, never truncated.
    pub max_size: Option<u64>,
}

/// Follows a run's progress (for a progress bar). Sizes are the server's LIST sizes.
pub trait Observer {
    fn planned(&mut self, _messages: usize, _octets: u64) {}
    fn delivered(&mut self, _octets: u64) {}
}

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
}

/// What to do with the maildrop.
#[derive(Debug, Default)]
struct Plan {
    fetch: Vec<Message>,
    /// Over the size limit: left on the server.
    oversized: Vec<Message>,
    /// Delivered on an earlier run, still on the server, to be deleted without downloading.
    delete_only: Vec<Message>,
}

/// Runs the fetch on a logged-in session. The order per message is fixed: RETR complete →
/// delivered and fsynced → recorded in the state file → DELE; QUIT only at the end.
pub fn fetch<S: Read + Write>(
    mut session: Session<S>,
    mailbox: &mut dyn Mailbox,
    state: &mut State,
    options: FetchOptions,
    observer: &mut dyn Observer,
) -> Outcome {
    let mut report = Report::default();
    let mut deleted_uids = Vec::new();
    let result = run(
        &mut session,
        mailbox,
        state,
        options,
        observer,
        &mut report,
        &mut deleted_uids,
    );
    let error = match result {
        // A broken connection or protocol is abandoned without QUIT: nothing is committed on the
        // server, and the records of delivered messages make the next run delete them.
        Err(error) if session_is_broken(&error) => Some(error),
        result => {
            let quit_result = quit(session, state, &deleted_uids, report.deleted);
            result.err().or(quit_result.err())
        }
    };
    Outcome { report, error }
}

fn session_is_broken(error: &Error) -> bool {
    error.is_connection_lost() || matches!(error, Error::Protocol(_))
}

fn run<S: Read + Write>(
    session: &mut Session<S>,
    mailbox: &mut dyn Mailbox,
    state: &mut State,
    options: FetchOptions,
    observer: &mut dyn Observer,
    report: &mut Report,
    deleted_uids: &mut Vec<Vec<u8>>,
) -> Result<()> {
    let plan = make_plan(session, state, options)?;
    report.oversized = plan.oversized.len() as u64;
    // LIST sizes are the server's word: they may be absurd (up to u64::MAX), so sums saturate.
    let planned_octets = plan
        .fetch
        .iter()
        .fold(0u64, |total, m| total.saturating_add(m.size));
    observer.planned(plan.fetch.len(), planned_octets);
    let pipelining = session.capabilities().is_some_and(|capa| capa.pipelining());
    let window = if pipelining { PIPELINE_WINDOW } else { 1 };

    let mut first_refusal = None;
    if options.delete && !plan.delete_only.is_empty() {
        let (deleted, refusal) = delete(session, &plan.delete_only, window)?;
        report.deleted += deleted.len() as u64;
        deleted_uids.extend(deleted.into_iter().filter_map(|m| m.uid));
        first_refusal = first_refusal.or(refusal);
    }

    for batch in batches(&plan.fetch) {
        let mut outcome =
            retrieve_batch(session, mailbox, batch, window, options.max_size, observer);
        report.refused += outcome.refused;
        // Whatever was staged is placed, made durable and recorded even if the batch broke
        // off, so that it is not delivered again.
        let placed = place_and_record(mailbox, state, std::mem::take(&mut outcome.staged))?;
        for message in &placed {
            report.delivered += 1;
            report.octets += message.octets;
        }
        outcome.delivered = placed;
        if let Some(error) = outcome.fatal {
            return Err(error);
        }
        if options.delete && !outcome.delivered.is_empty() {
            let delivered: Vec<Message> =
                outcome.delivered.into_iter().map(|d| d.message).collect();
            let (deleted, refusal) = delete(session, &delivered, window)?;
            report.deleted += deleted.len() as u64;
            deleted_uids.extend(deleted.into_iter().filter_map(|m| m.uid));
            first_refusal = first_refusal.or(refusal);
        }
        if let Some(error) = outcome.mailbox_error {
            // The mailbox is failing (disk full, permissions): stop here. The rest stays on the
            // server for the next run.
            return Err(error);
        }
        first_refusal = first_refusal.or(outcome.refusal);
    }
    // Messages the server refused to send stay where they are; the rest of the run counts.
    first_refusal.map_or(Ok(()), Err)
}

/// Lists the maildrop and decides what to fetch and what to delete.
fn make_plan<S: Read + Write>(
    session: &mut Session<S>,
    state: &mut State,
    options: FetchOptions,
) -> Result<Plan> {
    let listing = session.list()?;
    let uidl = session.uidl()?;
    let mut plan = Plan::default();
    let Some(uidl) = uidl else {
        if !options.delete && !options.all {
            return Err(Error::unavailable(
                "the server does not support UIDL, so popget cannot tell new messages from old \
                 ones while leaving them on the server; use --delete, or --all to fetch every \
                 message on every run",
            ));
        }
        let all = listing.into_iter().map(|e| Message {
            number: e.message,
            size: e.size,
            uid: None,
        });
        (plan.oversized, plan.fetch) =
            all.partition(|m| options.max_size.is_some_and(|max| m.size > max));
        return Ok(plan);
    };

    let sizes: HashMap<u32, u64> = listing.iter().map(|e| (e.message, e.size)).collect();
    let mut uids: HashMap<u32, Vec<u8>> = HashMap::with_capacity(uidl.len());
    let mut occurrences: HashMap<&[u8], u32> = HashMap::with_capacity(uidl.len());
    for entry in &uidl {
        if !sizes.contains_key(&entry.message) {
            return Err(crate::protocol::ProtocolError::new(format!(
                "UIDL names message {}, which LIST did not",
                entry.message
            ))
            .into());
        }
        *occurrences.entry(&entry.uid).or_default() += 1;
    }
    for entry in &uidl {
        uids.insert(entry.message, entry.uid.clone());
    }

    // Entries for messages no longer on the server are forgotten, so an id the server reuses
    // later is not mistaken for an old message.
    let on_server: HashSet<&[u8]> = occurrences.keys().copied().collect();
    state.retain(|uid| on_server.contains(uid));

    let mut messages: Vec<Message> = listing
        .iter()
        .map(|e| Message {
            number: e.message,
            size: e.size,
            uid: uids.get(&e.message).cloned(),
        })
        .collect();
    messages.sort_by_key(|m| m.number);
    for message in messages {
        let seen = message
            .uid
            .as_deref()
            .is_some_and(|uid| state.contains(uid));
        let duplicated = message
            .uid
            .as_deref()
            .is_some_and(|uid| occurrences.get(uid).copied().unwrap_or(0) > 1);
        if (options.all || !seen) && options.max_size.is_some_and(|max| message.size > max) {
            plan.oversized.push(message);
        } else if options.all || !seen {
            plan.fetch.push(message);
        } else if options.delete && !duplicated {
            // Two messages sharing one id cannot be told apart: never delete one by its id.
            plan.delete_only.push(message);
        }
    }
    Ok(plan)
}

fn batches(messages: &[Message]) -> Vec<&[Message]> {
    let mut batches = Vec::new();
    let mut start = 0;
    let mut octets: u64 = 0;
    for (i, message) in messages.iter().enumerate() {
        let count = i - start;
        if count > 0
            && (count == BATCH_MESSAGES || octets.saturating_add(message.size) > BATCH_OCTETS)
        {
            batches.push(&messages[start..i]);
            start = i;
            octets = 0;
        }
        octets = octets.saturating_add(message.size);
    }
    if start < messages.len() {
        batches.push(&messages[start..]);
    }
    batches
}

struct DeliveredMessage {
    message: Message,
    octets: u64,
}

#[derive(Default)]
struct BatchOutcome {
    /// Messages downloaded and staged, in order.
    staged: Vec<(Message, Staged)>,
    /// Messages placed in the mailbox and recorded.
    delivered: Vec<DeliveredMessage>,
    refused: u64,
    /// The first -ERR to RETR.
    refusal: Option<Error>,
    /// The mailbox failed; the session is still usable.
    mailbox_error: Option<Error>,
    /// The connection or the protocol failed; the session is gone.
    fatal: Option<Error>,
}

/// Retrieves a batch with up to `window` RETR commands in flight, delivering each message as
/// its answer streams in.
fn retrieve_batch<S: Read + Write>(
    session: &mut Session<S>,
    mailbox: &mut dyn Mailbox,
    batch: &[Message],
    window: usize,
    max_size: Option<u64>,
    observer: &mut dyn Observer,
) -> BatchOutcome {
    let mut outcome = BatchOutcome::default();
    let mut next_to_send = 0;
    for message in batch {
        while next_to_send < batch.len()
            && session.outstanding() < window
            && outcome.mailbox_error.is_none()
        {
            if let Err(error) = session.send(&Command::Retr(batch[next_to_send].number)) {
                outcome.fatal = Some(error);
                return outcome;
            }
            next_to_send += 1;
        }
        if session.outstanding() == 0 {
            break;
        }
        let status = match session.receive_status() {
            Ok(status) => status,
            Err(error) => {
                outcome.fatal = Some(error);
                return outcome;
            }
        };
        if !status.ok {
            outcome.refused += 1;
            outcome.refusal.get_or_insert(Error::Temporary(format!(
                "the server refused to send message {} ({}); it stays on the server",
                message.number,
                status.display_text()
            )));
            continue;
        }
        if outcome.mailbox_error.is_some() {
            // Drain answers already in flight; their messages stay on the server.
            if let Err(error) = session.receive_body(LineEnding::Lf, &mut std::io::sink()) {
                outcome.fatal = Some(error);
                return outcome;
            }
            continue;
        }
        let fill =
            &mut |sink: &mut dyn Write| session.receive_body_within(LineEnding::Lf, sink, max_size);
        match mailbox.stage(fill) {
            Ok(staged) => {
                observer.delivered(message.size);
                outcome.staged.push((message.clone(), staged));
            }
            Err(Failure::Source(error)) => {
                outcome.fatal = Some(error);
                return outcome;
            }
            Err(Failure::Mailbox(error)) => outcome.mailbox_error = Some(error),
        }
    }
    outcome
}

/// Places a batch of staged messages: their intents go to the journal first, then the mailbox
/// places them, then the state records those that arrived and the journal is cleared. A
/// placement error is returned only after what did arrive is recorded.
fn place_and_record(
    mailbox: &mut dyn Mailbox,
    state: &mut State,
    staged: Vec<(Message, Staged)>,
) -> Result<Vec<DeliveredMessage>> {
    if staged.is_empty() {
        return Ok(Vec::new());
    }
    let (messages, staged): (Vec<Message>, Vec<Staged>) = staged.into_iter().unzip();
    let octets: Vec<u64> = staged.iter().map(|s| s.octets).collect();
    let placement = {
        let messages = &messages;
        let state_ref = &*state;
        mailbox.place(staged, &mut |intents: &[String]| {
            let records: Vec<(&[u8], &str)> = messages
                .iter()
                .zip(intents)
                .filter_map(|(message, intent)| {
                    message.uid.as_deref().map(|uid| (uid, intent.as_str()))
                })
                .collect();
            state_ref.write_intents(&records)
        })
    };
    let now = unix_now();
    let delivered: Vec<DeliveredMessage> = messages
        .into_iter()
        .zip(octets)
        .take(placement.placed)
        .map(|(message, octets)| DeliveredMessage { message, octets })
        .collect();
    for message in &delivered {
        if let Some(uid) = &message.message.uid {
            state.record(uid, now);
        }
    }
    state.commit()?;
    match placement.error {
        // The journal stays: the next run checks what of this batch reached the mailbox.
        Some(error) => Err(error),
        None => {
            state.clear_journal()?;
            Ok(delivered)
        }
    }
}

/// Settles what an interrupted run left in the journal: deliveries that reached the mailbox are
/// recorded (so they are not fetched again), partial mbox appends are cut away. Returns how
/// many deliveries were recovered.
pub fn recover(state: &mut State) -> Result<usize> {
    let intents = state.pending_intents()?;
    if intents.is_empty() {
        return Ok(0);
    }
    let now = unix_now();
    let mut recovered = 0;
    for (uid, intent) in &intents {
        if crate::store::recover(intent)? && !state.contains(uid) {
            state.record(uid, now);
            recovered += 1;
        }
    }
    state.commit()?;
    state.clear_journal()?;
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

/// Marks messages deleted, pipelined; returns those the server accepted and, if it refused
/// any, an error saying so. A refused DELE leaves the message recorded, so the next run tries
/// again without downloading it.
fn delete<S: Read + Write>(
    session: &mut Session<S>,
    messages: &[Message],
    window: usize,
) -> Result<(Vec<Message>, Option<Error>)> {
    let mut deleted = Vec::new();
    let mut refusal = None;
    let mut next_to_send = 0;
    for message in messages {
        while next_to_send < messages.len() && session.outstanding() < window {
            session.send(&Command::Dele(messages[next_to_send].number))?;
            next_to_send += 1;
        }
        let status = session.receive_status()?;
        if status.ok {
            deleted.push(message.clone());
        } else {
            refusal.get_or_insert_with(|| {
                Error::Temporary(format!(
                    "the server refused to delete message {} ({}); it is recorded as fetched \
                     and will be deleted on the next run",
                    message.number,
                    status.display_text()
                ))
            });
        }
    }
    Ok((deleted, refusal))
}

/// Sends QUIT. Only a `+OK` means the deletions happened; then their records are dropped. On
/// anything else the records stay, and the next run deletes those messages without fetching.
fn quit<S: Read + Write>(
    mut session: Session<S>,
    state: &mut State,
    deleted_uids: &[Vec<u8>],
    deleted: u64,
) -> Result<()> {
    let status = session
        .send(&Command::Quit)
        .and_then(|()| session.receive_status());
    match status {
        Ok(status) if status.ok => {
            for uid in deleted_uids {
                state.remove(uid);
            }
            state.commit()
        }
        Ok(status) if deleted > 0 => Err(Error::Temporary(format!(
            "the server did not confirm the deletions (QUIT: {}); they will be retried on the \
             next run",
            status.display_text()
        ))),
        Err(error) if deleted > 0 => Err(error),
        _ => Ok(()),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A short description of the destination for the summary line, with `~` for the home directory.
pub fn describe_destination(destination: &Destination, home: Option<&std::path::Path>) -> String {
    let path = destination.path();
    if let Some(home) = home {
        if let Ok(rest) = path.strip_prefix(home) {
            return format!("~/{}", rest.display());
        }
    }
    path.display().to_string()
}
