//! Where fetched messages go: one [`Delivery`] describes the destination, one module per kind
//! (Maildir, mbox, MDA) implements it behind the [`Mailbox`] trait, with the intents that let a
//! later run tell which deliveries an interrupted run completed.

mod gmail;
mod imap;
mod intent;
mod lmtp;
mod maildir;
mod mbox;
mod mda;
mod syncer;

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

pub use intent::{ImapAppend, Intent, MalformedIntent, MboxAppend};
pub use maildir::Maildir;
pub use mbox::Mbox;
pub use mda::Mda;

pub use crate::account::Delivery;
use crate::error::Error;
use crate::pop3::Body;

/// A mailbox opened for a run, and the guard that removes its own staging files if the
/// process has to exit at once.
pub struct Opened {
    mailbox: Box<dyn Mailbox>,
    _cleanup: Option<crate::signals::AbortHook>,
}

impl Opened {
    pub fn mailbox(&self) -> &dyn Mailbox {
        self.mailbox.as_ref()
    }
}

/// Makes the tracer that sees a destination server's dialogue (`-v`), secrets redacted.
pub type TraceMaker = Box<dyn Fn() -> crate::pop3::Tracer + Send + Sync>;

/// Opening the mailbox a [`Delivery`] describes.
impl Delivery {
    /// Opens the mailbox. A Maildir first loses what killed or interrupted runs left in its
    /// tmp/; the returned guard removes this run's own staging files on an abrupt exit. The
    /// dialogue with an IMAP or LMTP server goes to the tracers `trace` makes.
    pub fn open(&self, trace: Option<TraceMaker>) -> Result<Opened, Error> {
        let maildir = match self {
            Delivery::Imap(target) => {
                return Ok(Opened {
                    mailbox: Box::new(imap::Imap::open(target, trace)?),
                    _cleanup: None,
                })
            }
            Delivery::Lmtp(target) => {
                return Ok(Opened {
                    mailbox: Box::new(lmtp::Lmtp::open(target, trace)?),
                    _cleanup: None,
                })
            }
            Delivery::Gmail(target) => {
                return Ok(Opened {
                    mailbox: Box::new(gmail::Gmail::open(target, trace)?),
                    _cleanup: None,
                })
            }
            Delivery::Maildir { root, folder: None } => Maildir::open(root)?,
            Delivery::Maildir {
                root,
                folder: Some(name),
            } => Maildir::open_folder(root, name)?,
            Delivery::Mbox(path) => {
                return Ok(Opened {
                    mailbox: Box::new(Mbox::open(path)?),
                    _cleanup: None,
                })
            }
            Delivery::Mda { command, timeout } => {
                return Ok(Opened {
                    mailbox: Box::new(Mda::new(command, *timeout)),
                    _cleanup: None,
                })
            }
        };
        let staging = maildir.staging();
        let _ = staging.remove_stale();
        let cleanup = crate::signals::on_abort(move || {
            let _ = staging.remove_own();
        });
        Ok(Opened {
            mailbox: Box::new(maildir),
            _cleanup: Some(cleanup),
        })
    }
}

/// Why a delivery did not happen.
#[derive(Debug)]
pub enum Failure {
    /// Reading the message failed (connection or protocol); the session is no longer usable.
    Source(Error),
    /// The mailbox could not take the message; the session is still usable.
    Mailbox(Error),
}

/// Writes one message into the sink it is given.
pub type Fill<'a> = dyn FnMut(&mut dyn Write) -> Result<Body, Error> + 'a;

/// Receives the intents of a placement before any of its messages becomes visible, and must
/// make them durable before returning.
pub type Journal<'a> = dyn FnMut(&[Intent]) -> Result<(), Error> + 'a;

/// A complete message, written where the mailbox keeps it until it is placed.
#[derive(Debug)]
pub struct Staged {
    /// Octets of the message (after line-end conversion), without mbox framing.
    pub octets: u64,
    kind: StagedKind,
}

#[derive(Debug)]
enum StagedKind {
    /// In the Maildir's tmp/ (until moved into new/ under `name`), its sync under way.
    Maildir {
        temporary: Option<PathBuf>,
        name: String,
        synced: syncer::Pending,
    },
    /// In a spool file; exactly `length` octets (From_ line, quoted text, blank line) with
    /// SHA-256 `digest` will be appended.
    Mbox {
        spool: File,
        from_line: String,
        length: u64,
        digest: [u8; 32],
    },
    /// In a spool file, to be piped to an MDA (with `sender` for `%F`) or handed to an LMTP
    /// server (with `sender` for MAIL FROM).
    Spooled { spool: File, sender: String },
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let StagedKind::Maildir {
            temporary: Some(temporary),
            ..
        } = &self.kind
        {
            let _ = std::fs::remove_file(temporary);
        }
    }
}

/// The result of placing a batch: the first `placed` messages are durably in the mailbox.
#[derive(Debug, Default)]
pub struct Placement {
    pub placed: usize,
    /// The mailbox failed; the rest of the batch is not placed and no more should be fetched.
    pub error: Option<Error>,
    /// The message after the placed ones was refused for good (an MDA's permanent failure, a
    /// server's NO) and the rest of the batch is not placed; later messages may still be
    /// delivered.
    pub rejected: Option<Error>,
    /// What the destination said of each placed message, in order, where it said something
    /// worth keeping with the record (an IMAP server's `APPENDUID`); may be shorter than
    /// `placed`.
    pub receipts: Vec<Option<String>>,
    /// The messages of the batch (by position) whose intents were journaled and that the
    /// mailbox then refused: certainly not in it, whatever a look for their intents would find
    /// (an IMAP look by size alone finds any message of that size).
    pub refused: Vec<usize>,
}

/// A mailbox. Delivery has two steps so that a batch costs few syncs and a crash can be
/// reconciled: [`Mailbox::stage`] each message as it arrives, then [`Mailbox::place`] the batch.
pub trait Mailbox: Sync {
    /// Writes one message, which `fill` streams (LF line ends), to durable storage that is not
    /// yet part of the mailbox.
    fn stage(&self, fill: &mut Fill) -> Result<Staged, Failure>;

    /// Makes staged messages part of the mailbox, in order: hands their intents to `journal`,
    /// then places them and syncs. Either a message is wholly in the mailbox and durable, or it
    /// is not there at all.
    fn place(&self, staged: Vec<Staged>, journal: &mut Journal) -> Placement;

    /// The most messages a batch should hold. An MDA's delivery cannot be checked after a
    /// crash, so it takes one message at a time: at most one is delivered twice.
    fn batch_limit(&self) -> usize {
        usize::MAX
    }

    /// The largest message the destination said it accepts (IMAP's `APPENDLIMIT`, LMTP's
    /// `SIZE`), if it said: a larger one is left on the POP3 server rather than fetched to be
    /// refused.
    fn size_limit(&self) -> Option<u64> {
        None
    }

    /// Decides whether the placement an intent describes completed, undoing a partial mbox
    /// append: used on the intents an interrupted run left in its journal, last written
    /// `journal_age` ago. A file's intent names its file, so it is settled even if the
    /// destination changed since.
    fn recover(&self, intent: &Intent, journal_age: std::time::Duration) -> Result<bool, Error> {
        let _ = journal_age;
        recover(intent)
    }
}

/// Whether the file placement `intent` describes completed, a partial mbox append undone.
pub fn recover(intent: &Intent) -> Result<bool, Error> {
    match intent {
        Intent::Maildir { target } => maildir::recover(target),
        Intent::Mbox(append) => mbox::recover(append),
        // Only a connection to the server can tell; the IMAP mailbox settles its own.
        Intent::Imap(append) => Err(Error::Temporary(format!(
            "an interrupted delivery into the IMAP mailbox {:?} can only be settled by a run \
             that delivers there",
            append.mailbox
        ))),
    }
}

/// What became of one spooled message handed on (to an MDA, to an LMTP server, to Gmail).
enum Handed {
    Delivered,
    /// Delivered, and the destination said where (kept with the record).
    DeliveredAs(String),
    /// This message was refused for good; later ones may be taken.
    Rejected(Error),
    /// Not now: stop delivering.
    Failed(Error),
}

/// Hands spooled messages on one by one with `hand`, up to the first that is not taken.
fn place_spooled(
    staged: Vec<Staged>,
    to: &str,
    mut hand: impl FnMut(&mut File, &str) -> Handed,
) -> Placement {
    let mut placement = Placement::default();
    for mut message in staged {
        let StagedKind::Spooled { spool, sender } = &mut message.kind else {
            placement.error = Some(Error::Usage(format!(
                "a message staged elsewhere was handed to {to}"
            )));
            break;
        };
        match hand(spool, sender) {
            Handed::Delivered => {
                placement.placed += 1;
                placement.receipts.push(None);
            }
            Handed::DeliveredAs(receipt) => {
                placement.placed += 1;
                placement.receipts.push(Some(receipt));
            }
            Handed::Rejected(error) => {
                placement.rejected = Some(error);
                break;
            }
            Handed::Failed(error) => {
                placement.error = Some(error);
                break;
            }
        }
    }
    placement
}

/// Turns the sink's recorded error (disk full, quota) into a mailbox failure.
fn check_body(body: Body, what: &str) -> Result<u64, Failure> {
    match body.sink_error {
        Some(e) => Err(Failure::Mailbox(Error::io(
            format!("cannot write {what}"),
            e,
        ))),
        None => Ok(body.octets),
    }
}

/// Stages a message in a spool file, for a destination that needs no envelope sender.
fn stage_spooled(fill: &mut Fill) -> Result<Staged, Failure> {
    let (spool, octets) = spool(fill)?;
    Ok(Staged {
        octets,
        kind: StagedKind::Spooled {
            spool,
            sender: String::new(),
        },
    })
}

/// Writes the message into an anonymous temporary file, rewound for reading.
fn spool(fill: &mut Fill) -> Result<(File, u64), Failure> {
    use std::io::{BufWriter, Seek, SeekFrom};
    let spool_error = |e| Failure::Mailbox(Error::io("cannot write the spool file", e));
    let file = tempfile::tempfile().map_err(spool_error)?;
    let mut out = BufWriter::with_capacity(256 * 1024, file);
    let body = fill(&mut out).map_err(Failure::Source)?;
    let octets = check_body(body, "the spool file")?;
    let mut file = out.into_inner().map_err(|e| spool_error(e.into_error()))?;
    file.seek(SeekFrom::Start(0)).map_err(spool_error)?;
    Ok((file, octets))
}

/// How much of a spooled message's start is read for its headers.
const HEADER_OCTETS: u64 = 256 * 1024;

/// The first value of each of the spooled message's headers `names` (from its first 256 KiB),
/// trimmed, `None` where it has none. Leaves the spool rewound.
fn read_headers(spool: &mut File, names: &[&str]) -> std::io::Result<Vec<Option<String>>> {
    use mailparse::MailHeaderMap;
    use std::io::{Read, Seek, SeekFrom};
    spool.seek(SeekFrom::Start(0))?;
    let mut head = Vec::new();
    (&mut *spool).take(HEADER_OCTETS).read_to_end(&mut head)?;
    spool.seek(SeekFrom::Start(0))?;
    let end = memchr::memmem::find(&head, b"\n\n").map_or(head.len(), |i| i + 1);
    let headers = mailparse::parse_headers(&head[..end]).ok().map(|(h, _)| h);
    Ok(names
        .iter()
        .map(|name| {
            headers
                .as_ref()
                .and_then(|h| h.get_first_value(name))
                .map(|value| value.trim().to_string())
                .filter(|value| !value.is_empty())
        })
        .collect())
}

/// The address of the spooled message's first Return-Path header, without its angle
/// brackets; empty if there is none. Leaves the spool rewound.
fn return_path(spool: &mut File) -> std::io::Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut head = Vec::new();
    (&mut *spool).take(256 * 1024).read_to_end(&mut head)?;
    spool.seek(SeekFrom::Start(0))?;
    let end = memchr::memmem::find(&head, b"\n\n").map_or(head.len(), |i| i + 1);
    let raw = mailparse::parse_headers(&head[..end])
        .ok()
        .and_then(|(headers, _)| {
            use mailparse::MailHeaderMap;
            headers.get_first_value("Return-Path")
        })
        .unwrap_or_default();
    let trimmed = raw.trim();
    Ok(trimmed
        .strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(trimmed)
        .to_string())
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// A fill that writes `bytes` as the message.
    pub fn fill_with(bytes: &[u8]) -> impl FnMut(&mut dyn Write) -> Result<Body, Error> + '_ {
        move |sink: &mut dyn Write| {
            sink.write_all(bytes).unwrap();
            Ok(Body {
                octets: bytes.len() as u64,
                sink_error: None,
            })
        }
    }

    /// Stages and places one message; returns the intents handed to the journal.
    pub fn deliver(mailbox: &dyn Mailbox, bytes: &[u8]) -> Result<Vec<Intent>, Error> {
        let staged = mailbox
            .stage(&mut fill_with(bytes))
            .map_err(|failure| match failure {
                Failure::Source(e) | Failure::Mailbox(e) => e,
            })?;
        let mut intents = Vec::new();
        let placement = mailbox.place(vec![staged], &mut |batch: &[Intent]| {
            intents.extend_from_slice(batch);
            Ok(())
        });
        match placement.error {
            Some(error) => Err(error),
            None => {
                assert_eq!(placement.placed, 1);
                Ok(intents)
            }
        }
    }
}
