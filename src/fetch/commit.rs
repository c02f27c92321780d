//! The committing thread: each batch placed in the mailbox, synced and recorded, in order;
//! and settling what an interrupted run left in the journal.

use std::sync::mpsc;

use super::plan::Message;
use super::transaction::unix_now;
use crate::error::{Error, Result};
use crate::state::State;
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
    /// The MDA refused the message after the delivered ones.
    pub(super) rejected: Option<Error>,
    /// The mailbox or the state failed after the delivered ones: nothing more is placed.
    pub(super) error: Option<Error>,
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
    let now = unix_now();
    // A message logged as delivered was placed and synced before that line was written: its
    // intent needs no look in the mailbox (a sync of new/ or an mbox lock for each one).
    let marked = |word: &str| -> std::collections::HashSet<&[u8]> {
        intents
            .iter()
            .filter(|(_, line)| line == word)
            .map(|(uid, _)| uid.as_slice())
            .collect()
    };
    let logged = marked(crate::state::DELIVERED);
    // Refused by the mailbox: a look could take another message of the same size for it.
    let refused = marked(crate::state::REFUSED);
    let mut recovered = 0;
    for (uid, line) in &intents {
        if line == crate::state::DELIVERED {
            if !state.contains(uid) {
                state.record(uid, now);
                recovered += 1;
            }
            continue;
        }
        if line == crate::state::REFUSED || refused.contains(uid.as_slice()) {
            continue;
        }
        let intent = line
            .parse()
            .map_err(|MalformedIntent(line)| Error::CorruptState {
                path: state.path().to_path_buf(),
                detail: format!("its journal has a malformed line {line:?}"),
            })?;
        let arrived = logged.contains(uid.as_slice()) || mailbox.recover(&intent)?;
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
        fn recover(&self, _: &Intent) -> Result<bool> {
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
