//! The committing thread: each batch placed in the mailbox, synced and recorded, in order;
//! and settling what an interrupted run left in the journal.

use std::sync::mpsc;

use super::plan::Message;
use super::transaction::unix_now;
use crate::error::{Error, Result};
use crate::state::{delivered_line, State};
use crate::store::{Intent, Mailbox, MalformedIntent, Staged};

/// The committing thread: places, syncs and records each batch in turn. After a failure it
/// places nothing more, so the journal of the failed batch stays for the next run to settle.
pub(super) fn commit_batches(
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

/// What the committing thread did with a batch.
#[derive(Default)]
pub(super) struct Committed {
    /// Placed, durable and recorded.
    pub(super) delivered: Vec<DeliveredMessage>,
    /// The message after the delivered ones, refused by the destination for good.
    pub(super) rejected: Option<Rejected>,
    /// The mailbox or the state failed after the delivered ones: nothing more is placed.
    pub(super) error: Option<Error>,
}

/// A message the destination refused for good, and its words.
pub(super) struct Rejected {
    /// `None` only if the destination refused a message the batch did not hold.
    pub(super) message: Option<Message>,
    pub(super) error: Error,
}

impl Rejected {
    /// Notes the message in `refused` to be set aside, unless it has no UIDL; returns the
    /// error that reports the refusal, once.
    pub(super) fn set_aside_in(self, refused: &mut Vec<(Vec<u8>, String)>) -> Error {
        let reason = self.error.to_string();
        match self.message.and_then(|message| message.uid) {
            Some(uid) => {
                refused.push((uid, reason.clone()));
                Error::Rejected(format!(
                    "{reason}; set aside, so later runs leave it there (`popget quarantine` \
                     lists it, `--retry` offers it again)"
                ))
            }
            None => Error::Rejected(format!(
                "{reason}; the server gives it no UIDL, so it cannot be set aside and every \
                 run offers it again"
            )),
        }
    }
}

pub(super) struct DeliveredMessage {
    pub(super) message: Message,
    pub(super) octets: u64,
}

/// Places a batch of staged messages: their intents go to the journal first, then the mailbox
/// places them, then those that arrived are logged as delivered. A placement error is returned
/// with what did arrive and is recorded.
pub(super) fn place_and_record(
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
    // Before any look in the mailbox settles their intents: a look by size alone would take a
    // stored message of the same size for a refused one.
    let refused: Vec<&[u8]> = placement
        .refused
        .iter()
        .filter_map(|&i| messages.get(i)?.uid.as_deref())
        .collect();
    if let Err(error) = state.log_refused(&refused) {
        // Nothing more is placed; what this batch placed is found when the journal is settled.
        return Committed {
            error: Some(error),
            ..Committed::default()
        };
    }
    // The refused message is the one after those placed.
    let rejected = placement.rejected.map(|error| Rejected {
        message: messages.get(placement.placed).cloned(),
        error,
    });
    let delivered: Vec<DeliveredMessage> = messages
        .into_iter()
        .zip(octets)
        .take(placement.placed)
        .map(|(message, octets)| DeliveredMessage { message, octets })
        .collect();
    let uids: Vec<(&[u8], Option<&str>)> = delivered
        .iter()
        .zip(
            placement
                .receipts
                .iter()
                .map(Option::as_deref)
                .chain(std::iter::repeat(None)),
        )
        .filter_map(|(message, receipt)| Some((message.message.uid.as_deref()?, receipt)))
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
        rejected,
        error: placement.error,
    }
}

/// Settles what an interrupted run left in the journal: deliveries that reached the mailbox are
/// recorded (so they are not fetched again), partial mbox appends are cut away. Returns how
/// many deliveries were recovered.
pub fn recover(state: &mut State, mailbox: &dyn Mailbox) -> Result<usize> {
    let recovered = settle_journal(state, mailbox)?;
    state.commit()?;
    state.clear_journal()?;
    Ok(recovered)
}

/// Records (in memory) every delivery the journal shows complete: logged as delivered, or
/// found in the mailbox. Returns how many were not recorded yet.
pub(super) fn settle_journal(state: &mut State, mailbox: &dyn Mailbox) -> Result<usize> {
    let intents = state.pending_intents()?;
    let journal_age = state.journal_age();
    let now = unix_now();
    // A message logged as delivered was placed and synced before that line was written: its
    // intent needs no look in the mailbox (a sync of new/ or an mbox lock for each one).
    let logged: std::collections::HashSet<&[u8]> = intents
        .iter()
        .filter(|(_, line)| delivered_line(line).is_some())
        .map(|(uid, _)| uid.as_slice())
        .collect();
    // Refused by the mailbox: a look could take another message of the same size for it.
    let refused: std::collections::HashSet<&[u8]> = intents
        .iter()
        .filter(|(_, line)| line == crate::state::REFUSED)
        .map(|(uid, _)| uid.as_slice())
        .collect();
    let mut recovered = 0;
    for (uid, line) in &intents {
        if let Some(receipt) = delivered_line(line) {
            if !state.contains(uid) {
                state.record_with_receipt(uid, receipt, now);
                recovered += 1;
            }
            continue;
        }
        if refused.contains(uid.as_slice()) {
            continue;
        }
        let intent = line
            .parse()
            .map_err(|MalformedIntent(line)| Error::CorruptState {
                path: state.path().to_path_buf(),
                detail: format!("its journal has a malformed line {line:?}"),
            })?;
        let arrived = logged.contains(uid.as_slice()) || mailbox.recover(&intent, journal_age)?;
        if arrived && !state.contains(uid) {
            state.record(uid, now);
            recovered += 1;
        }
    }
    Ok(recovered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Fill, ImapAppend, Journal, Placement, Staged};

    /// An IMAP mailbox where a look for any intent finds a message: as a look by size alone
    /// does when another message of that size arrived after the intent's UIDNEXT.
    struct FindsOneOfThatSize;

    impl Mailbox for FindsOneOfThatSize {
        fn stage(&self, _: &mut Fill) -> std::result::Result<Staged, crate::store::Failure> {
            unreachable!("only the journal is settled")
        }
        fn place(&self, _: Vec<Staged>, _: &mut Journal) -> Placement {
            unreachable!("only the journal is settled")
        }
        fn recover(&self, _: &Intent, _: std::time::Duration) -> Result<bool> {
            Ok(true)
        }
    }

    #[test]
    fn a_message_the_mailbox_refused_is_never_settled_as_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = State::empty(&dir.path().join("account.state"));
        let intent = Intent::Imap(ImapAppend {
            mailbox: "INBOX".into(),
            uid_validity: 7,
            uid_next: 40,
            octets: 25,
            message_id: None,
            header_sha256: None,
        })
        .to_string();
        state
            .write_intents(&[(b"refused", &intent), (b"stored after it", &intent)])
            .unwrap();
        state.log_refused(&[b"refused"]).unwrap();
        let mailbox = FindsOneOfThatSize;
        assert_eq!(settle_journal(&mut state, &mailbox).unwrap(), 1);
        assert!(state.contains(b"stored after it"));
        assert!(!state.contains(b"refused"), "a refusal is never a delivery");
    }
}
