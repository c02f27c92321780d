//! What to do with the maildrop: list it, tell new messages from those already delivered,
//! apply the size limits and the filter.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};

use foldhash::fast::RandomState;

use super::transaction::{unix_now, Report, Request};
use crate::account::Command as Filter;
use crate::error::{Error, Result};
use crate::external::{self, Ended};
use crate::pop3::{Command, LineEnding, ScanEntry, Session, UidlEntry};
use crate::set_aside::SetAside;
use crate::state::State;

/// The filter's exit statuses.
pub(super) const FILTER_FETCH: i32 = 0;
pub(super) const FILTER_DELETE: i32 = 1;
pub(super) const FILTER_SKIP: i32 = 2;

/// Headers longer than this (from TOP n 0) are a protocol error rather than headers.
pub(super) const MAX_HEADERS: u64 = 1024 * 1024;

pub(super) const SECONDS_PER_DAY: u64 = 24 * 60 * 60;

/// One message of the maildrop.
#[derive(Debug, Clone)]
pub(super) struct Message {
    pub(super) number: u32,
    pub(super) size: u64,
    pub(super) uid: Option<Vec<u8>>,
    /// Why it is deleted without being downloaded, if it is.
    pub(super) unread: Option<Unread>,
}

/// Why a message is deleted without being downloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unread {
    /// Over `--max-size`, with `--delete-oversized`.
    Oversized,
    /// The filter said so.
    Filtered,
}

/// What to do with the maildrop.
#[derive(Debug, Default)]
pub(super) struct Plan {
    pub(super) fetch: Vec<Message>,
    /// Over the size limit: left on the server.
    pub(super) oversized: usize,
    /// To be deleted without downloading: delivered on an earlier run (and due for deletion),
    /// or over the size limit with `--delete-oversized`.
    pub(super) delete_only: Vec<Message>,
    /// Left for the next run by `--limit` or `--max-bytes`.
    pub(super) deferred: usize,
    /// Larger than the destination accepts: left on the server.
    pub(super) too_large_for_destination: usize,
    /// The UIDLs of those, to be set aside like any message the destination refuses for good.
    pub(super) too_large_uids: Vec<Vec<u8>>,
    /// Refused by the destination for good on an earlier run: left on the server.
    pub(super) set_aside: usize,
}

/// Lists the maildrop and decides what to fetch and what to delete.
pub(super) fn make_plan<S: Read + Write>(
    session: &mut Session<S>,
    (state, set_aside): (&mut State, &mut SetAside),
    options: &Request,
    pipelining: bool,
) -> Result<Plan> {
    let (mut listing, uidl) = session.listings(pipelining)?;
    listing.sort_unstable_by_key(|e| e.message);
    let Some(mut uidl) = uidl else {
        return plan_without_uidl(listing, options);
    };
    uidl.sort_unstable_by_key(|e| e.message);
    let (duplicated, known) = match_state(&listing, &uidl, state, set_aside)?;

    let mut plan = Plan::default();
    let now = unix_now();
    let expired = |uid: &[u8]| {
        options.policy.keep_days.is_some_and(|days| {
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
            .is_some_and(|uid| options.policy.delete || expired(uid));
        let message = Message {
            number: entry.message,
            size: entry.size,
            uid,
            unread: None,
        };
        let refused = !seen
            && message
                .uid
                .as_deref()
                .is_some_and(|uid| set_aside.contains(uid));
        if refused {
            plan.set_aside += 1;
        } else if options.all || !seen {
            plan.take_new(message, options);
        } else if due && !duplicated.contains(&message.number) {
            plan.delete_only.push(message);
        }
    }
    Ok(plan)
}

/// The plan for a server without UIDL: only `--delete` or `--all` can do without ids.
fn plan_without_uidl(listing: Vec<ScanEntry>, options: &Request) -> Result<Plan> {
    if !options.policy.delete && !options.all {
        return Err(Error::unavailable(
            "the server does not support UIDL, so popget cannot tell new messages from old \
             ones while leaving them on the server; use --delete, or --all to fetch every \
             message on every run",
        ));
    }
    let mut plan = Plan::default();
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
    Ok(plan)
}

/// Checks the UIDL listing against LIST and the state: returns the messages sharing an id
/// and, for each UIDL entry, whether the state knows its id; forgets ids no longer listed, in
/// the state and among the messages set aside.
fn match_state(
    listing: &[ScanEntry],
    uidl: &[UidlEntry],
    state: &mut State,
    set_aside: &mut SetAside,
) -> Result<(HashSet<u32, RandomState>, Vec<bool>)> {
    // Two messages sharing one id cannot be told apart by it: neither is ever deleted as "seen".
    let mut duplicated: HashSet<u32, RandomState> = HashSet::default();
    let mut known = Vec::with_capacity(uidl.len());
    let mut first_with: HashMap<&[u8], u32, RandomState> =
        HashMap::with_capacity_and_hasher(uidl.len(), RandomState::default());
    for entry in uidl {
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
    for entry in uidl {
        let is_known = state.contains(&entry.uid);
        if is_known && first_with.get(entry.uid.as_slice()) == Some(&entry.message) {
            distinct_known += 1;
        }
        known.push(is_known);
    }
    if distinct_known < state.len() {
        state.retain(|uid| first_with.contains_key(uid));
    }
    if !set_aside.is_empty() {
        set_aside.retain(|uid| first_with.contains_key(uid));
    }
    Ok((duplicated, known))
}

impl Plan {
    /// The LIST octets of the messages to fetch.
    pub(super) fn fetch_octets(&self) -> u64 {
        // LIST sizes are the server's word: they may be absurd (up to u64::MAX), so sums
        // saturate.
        self.fetch
            .iter()
            .fold(0u64, |total, m| total.saturating_add(m.size))
    }

    /// A message not fetched before: to fetch, or over the size limit to leave or delete.
    fn take_new(&mut self, mut message: Message, options: &Request) {
        if options
            .policy
            .max_size
            .is_none_or(|max| message.size <= max)
        {
            self.fetch.push(message);
        } else if options.policy.delete_oversized {
            message.unread = Some(Unread::Oversized);
            self.delete_only.push(message);
        } else {
            self.oversized += 1;
        }
    }
}

/// Leaves on the server the messages larger than the destination accepts: fetched, they would
/// only be refused. Never deleted unread, whatever `delete_oversized` says: the limit is the
/// destination's, not the user's choice. They are set aside as refused for good.
pub(super) fn leave_too_large(plan: &mut Plan, destination_limit: Option<u64>) {
    let Some(limit) = destination_limit else {
        return;
    };
    let (fit, too_large): (Vec<Message>, Vec<Message>) = std::mem::take(&mut plan.fetch)
        .into_iter()
        .partition(|message| message.size <= limit);
    plan.fetch = fit;
    plan.too_large_for_destination = too_large.len();
    plan.too_large_uids = too_large.into_iter().filter_map(|m| m.uid).collect();
}

impl Plan {
    /// The refusal that ends a run leaving messages too large for the destination (73): they
    /// stay on the server until the user makes room for them or fetches them elsewhere.
    pub(super) fn too_large_refusal(&self, limit: Option<u64>) -> Option<Error> {
        let count = self.too_large_for_destination;
        let (what, stay) = if count == 1 {
            ("message is", "it stays")
        } else {
            ("messages are", "they stay")
        };
        (count > 0).then(|| {
            Error::Rejected(format!(
                "{count} {what} larger than the destination accepts ({} octets); {stay} on the \
                 server, set aside where it has a UIDL so that later runs leave it there \
                 (`popget quarantine` lists it, `--retry` offers it again)",
                limit.unwrap_or_default()
            ))
        })
    }
}

/// Leaves what is over `--limit` or `--max-bytes` for the next run. The message that crosses
/// `--max-bytes` is still fetched, so that a message larger than the limit is not stuck.
pub(super) fn limit_plan(plan: &mut Plan, options: &Request) {
    let mut octets: u64 = 0;
    let cut = plan.fetch.iter().enumerate().position(|(count, message)| {
        let over = options
            .policy
            .limit
            .is_some_and(|limit| count as u64 >= limit)
            || options.policy.max_bytes.is_some_and(|max| octets >= max);
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
pub(super) fn apply_filter<S: Read + Write>(
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
                    "the server refused TOP ({}), which filter (--filter) needs",
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
pub(super) fn run_filter(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(sizes: &[u64]) -> Vec<Message> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| Message {
                number: i as u32 + 1,
                size,
                uid: Some(format!("u{i}").into_bytes()),
                unread: None,
            })
            .collect()
    }

    #[test]
    fn messages_over_the_destination_limit_stay_and_are_never_deleted_unread() {
        let mut plan = Plan {
            fetch: messages(&[10, 5000, 4096, 4097]),
            ..Plan::default()
        };
        leave_too_large(&mut plan, Some(4096));
        let kept: Vec<u32> = plan.fetch.iter().map(|m| m.number).collect();
        assert_eq!(kept, [1, 3]);
        assert_eq!(plan.too_large_for_destination, 2);
        assert!(plan.delete_only.is_empty());

        let mut unlimited = Plan {
            fetch: messages(&[u64::MAX]),
            ..Plan::default()
        };
        leave_too_large(&mut unlimited, None);
        assert_eq!(
            (unlimited.fetch.len(), unlimited.too_large_for_destination),
            (1, 0)
        );
    }
}
