//! The batches of the pipelined transfer: which RETRs a sync point closes, growing from one
//! message to the batch limit.

use super::plan::Message;
use super::transfer::BATCH_OCTETS;

/// The RETRs between two sync points. Each group ends with a `LIST n` for its last message,
/// whose answer must match the listing before the group is committed. Groups hold 1 message
/// at first, then 2, 4 ... up to the batch limit (or [`BATCH_OCTETS`]), so that a connection
/// that keeps breaking still delivers something on every run (a broken batch is not delivered).
pub(super) struct SyncGroups {
    /// The last RETR of the open group (number, LIST size), and what the group holds so far.
    open: Option<(u32, u64)>,
    messages: usize,
    octets: u64,
    /// Messages in the next group.
    limit: usize,
    /// Messages per batch, the largest group.
    batch_limit: usize,
    /// A closed group's sync point, to send before anything else.
    due: Option<(u32, u64)>,
}

impl SyncGroups {
    pub(super) fn new(batch_limit: usize) -> Self {
        SyncGroups {
            open: None,
            messages: 0,
            octets: 0,
            limit: 1,
            batch_limit,
            due: None,
        }
    }

    /// Counts a RETR sent; a full group is closed.
    pub(super) fn retr_sent(&mut self, message: &Message) {
        self.open = Some((message.number, message.size));
        self.messages += 1;
        self.octets = self.octets.saturating_add(message.size);
        if self.messages >= self.limit || self.octets >= BATCH_OCTETS {
            self.close();
        }
    }

    /// Ends the open group: its sync point is due next, and the next group is twice as large.
    pub(super) fn close(&mut self) {
        self.due = self.open.take();
        self.messages = 0;
        self.octets = 0;
        self.limit = self.limit.saturating_mul(2).min(self.batch_limit);
    }

    pub(super) fn take_due(&mut self) -> Option<(u32, u64)> {
        self.due.take()
    }

    pub(super) fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// No group is open and no sync point waits to be sent.
    pub(super) fn is_settled(&self) -> bool {
        self.due.is_none() && self.open.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_groups_start_at_one_message_and_double_up_to_the_batch_limit() {
        let mut groups = SyncGroups::new(5);
        let mut sizes = Vec::new();
        let mut in_group = 0;
        for number in 1..=20 {
            let message = Message {
                number,
                size: 100,
                uid: None,
                unread: None,
            };
            groups.retr_sent(&message);
            in_group += 1;
            if let Some((last, size)) = groups.take_due() {
                assert_eq!((last, size), (number, 100));
                sizes.push(in_group);
                in_group = 0;
            }
        }
        assert_eq!(sizes, [1, 2, 4, 5, 5]);
        assert!(groups.is_open() && !groups.is_settled());
        groups.close();
        assert_eq!(groups.take_due(), Some((20, 100)));
        assert!(groups.is_settled());
    }
}
