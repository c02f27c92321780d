//! The per-account record of delivered messages (by UIDL): loading, atomic commits, pruning, and
//! the lock that keeps two popget processes off one account.

use foldhash::fast::RandomState;
use hashbrown::HashTable;
use percent_encoding::{percent_decode, percent_encode, AsciiSet, CONTROLS};
use std::fs::{self, File, OpenOptions};
use std::hash::BuildHasher;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::durable::{create_private_dir, parent_dir, replace_file, sync_dir};
use crate::error::{Error, Result};

const HEADER: &str = "popget-state 1";
/// The header of a state whose entries may carry receipts; a file without any is written as
/// version 1, which earlier popget versions read.
const HEADER_WITH_RECEIPTS: &str = "popget-state 2";

/// UIDLs with their first-seen times. The ids' bytes live in one buffer (for a loaded state,
/// the file's own text), so 100,000 ids cost two allocations rather than 100,000. foldhash is
/// fast and seeded per process, so ids a server chose cannot be made to collide.
#[derive(Default)]
struct Uids {
    bytes: Vec<u8>,
    table: HashTable<Entry>,
    hasher: RandomState,
}

/// Where an id is in [`Uids::bytes`], and when it was first seen. Its receipt, if it has one,
/// follows the id after one space and ends at `receipt_end` (`end` when it has none).
#[derive(Clone, Copy)]
struct Entry {
    start: usize,
    end: usize,
    receipt_end: usize,
    first_seen: u64,
}

impl Uids {
    fn find(&self, uid: &[u8]) -> Option<&Entry> {
        let bytes = &self.bytes;
        self.table
            .find(self.hasher.hash_one(uid), |e| &bytes[e.start..e.end] == uid)
    }

    fn len(&self) -> usize {
        self.table.len()
    }

    /// Adds the id at `start..end` of the buffer (its receipt up to `receipt_end`); false if it
    /// is there already.
    fn insert_range(
        &mut self,
        start: usize,
        end: usize,
        receipt_end: usize,
        first_seen: u64,
    ) -> bool {
        let Uids {
            bytes,
            table,
            hasher,
        } = self;
        let uid = &bytes[start..end];
        let entry = table.entry(
            hasher.hash_one(uid),
            |e| &bytes[e.start..e.end] == uid,
            |e| hasher.hash_one(&bytes[e.start..e.end]),
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(_) => false,
            hashbrown::hash_table::Entry::Vacant(slot) => {
                slot.insert(Entry {
                    start,
                    end,
                    receipt_end,
                    first_seen,
                });
                true
            }
        }
    }

    /// Adds `uid` with its receipt; false if it is there already.
    fn insert(&mut self, uid: &[u8], receipt: Option<&[u8]>, first_seen: u64) -> bool {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(uid);
        let end = self.bytes.len();
        if let Some(receipt) = receipt {
            self.bytes.push(b' ');
            self.bytes.extend_from_slice(receipt);
        }
        let added = self.insert_range(start, end, self.bytes.len(), first_seen);
        if !added {
            self.bytes.truncate(start);
        }
        added
    }

    fn remove(&mut self, uid: &[u8]) -> bool {
        let bytes = &self.bytes;
        let hash = self.hasher.hash_one(uid);
        match self
            .table
            .find_entry(hash, |e| &bytes[e.start..e.end] == uid)
        {
            Ok(entry) => {
                entry.remove();
                true
            }
            Err(_) => false,
        }
    }

    fn retain(&mut self, mut keep: impl FnMut(&[u8]) -> bool) {
        let bytes = &self.bytes;
        self.table.retain(|e| keep(&bytes[e.start..e.end]));
    }

    fn iter(&self) -> impl Iterator<Item = (&[u8], u64, Option<&[u8]>)> {
        self.table
            .iter()
            .map(|e| (&self.bytes[e.start..e.end], e.first_seen, self.receipt(e)))
    }

    fn receipt(&self, entry: &Entry) -> Option<&[u8]> {
        (entry.receipt_end > entry.end).then(|| &self.bytes[entry.end + 1..entry.receipt_end])
    }
}

impl std::fmt::Debug for Uids {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ids", self.len())
    }
}

/// Delivered UIDLs with the time (seconds since the epoch) each was first seen.
#[derive(Debug)]
pub struct State {
    path: PathBuf,
    entries: Uids,
    dirty: bool,
}

impl State {
    /// Reads the state file; a missing file is an empty state.
    pub fn load(path: &Path) -> Result<State> {
        let text = match fs::read(path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(State {
                    path: path.to_path_buf(),
                    entries: Uids::default(),
                    dirty: false,
                })
            }
            Err(e) => {
                return Err(Error::io(
                    format!("cannot read state file {}", path.display()),
                    e,
                ))
            }
        };
        let entries = parse(text).map_err(|detail| Error::CorruptState {
            path: path.to_path_buf(),
            detail,
        })?;
        Ok(State {
            path: path.to_path_buf(),
            entries,
            dirty: false,
        })
    }

    /// An empty state that will replace whatever is at `path` on commit.
    pub fn empty(path: &Path) -> State {
        State {
            path: path.to_path_buf(),
            entries: Uids::default(),
            dirty: true,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.len() == 0
    }

    pub fn contains(&self, uid: &[u8]) -> bool {
        self.entries.find(uid).is_some()
    }

    /// When `uid` was first seen, if it is recorded.
    pub fn first_seen(&self, uid: &[u8]) -> Option<u64> {
        self.entries.find(uid).map(|e| e.first_seen)
    }

    /// Records `uid` as delivered (keeping an earlier first-seen time).
    pub fn record(&mut self, uid: &[u8], now: u64) {
        self.record_with_receipt(uid, None, now);
    }

    /// Records `uid` as delivered with the destination's word for where it went (an IMAP URL
    /// with the UIDVALIDITY and UID the server gave the message). A receipt is one word of
    /// printable ASCII; anything else is not kept.
    pub fn record_with_receipt(&mut self, uid: &[u8], receipt: Option<&str>, now: u64) {
        let receipt = receipt.map(str::as_bytes).filter(|r| is_receipt(r));
        if self.entries.insert(uid, receipt, now) {
            self.dirty = true;
        }
    }

    /// Where the destination said it put `uid`'s message, if it said.
    pub fn receipt(&self, uid: &[u8]) -> Option<&str> {
        let entry = self.entries.find(uid)?;
        // Receipts are ASCII: checked when recorded and when read.
        std::str::from_utf8(self.entries.receipt(entry)?).ok()
    }

    pub fn remove(&mut self, uid: &[u8]) {
        if self.entries.remove(uid) {
            self.dirty = true;
        }
    }

    /// Forgets every entry for which `keep` is false (messages no longer on the server).
    pub fn retain(&mut self, keep: impl FnMut(&[u8]) -> bool) {
        let before = self.entries.len();
        self.entries.retain(keep);
        self.dirty |= self.entries.len() != before;
    }

    /// Writes the state if it changed: a temporary file in the same directory, fsync, rename over
    /// the old file, fsync of the directory. Readers see the old or the new state, never a mix.
    pub fn commit(&mut self) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        create_private_dir(parent_dir(&self.path))?;
        let mut uids: Vec<_> = self.entries.iter().collect();
        uids.sort_unstable();
        let header = if uids.iter().any(|(_, _, receipt)| receipt.is_some()) {
            HEADER_WITH_RECEIPTS
        } else {
            HEADER
        };
        replace_file(&self.path, ".popget-state", |out| {
            writeln!(out, "{header}")?;
            for (uid, first_seen, receipt) in &uids {
                write!(out, "{first_seen} {}", escape(uid))?;
                if let Some(receipt) = receipt {
                    out.write_all(b" ")?;
                    out.write_all(receipt)?;
                }
                out.write_all(b"\n")?;
            }
            writeln!(out, "end {}", uids.len())
        })
        .map_err(|e| {
            let context = format!("cannot write state file {}", self.path.display());
            Error::io(context, e)
        })?;
        self.dirty = false;
        Ok(())
    }
}

/// The journal word for a message that is durably in the mailbox and recorded: the state file
/// itself is rewritten once per run, these lines stand for it in between.
pub const DELIVERED: &str = "delivered";

/// Whether a journal line says its message is delivered and recorded: `delivered`, or
/// `delivered RECEIPT`; with the receipt, if it has one.
pub fn delivered_line(line: &str) -> Option<Option<&str>> {
    match line.strip_prefix(DELIVERED)? {
        "" => Some(None),
        rest => rest.strip_prefix(' ').map(Some),
    }
}

/// The journal word for a message the mailbox refused: not in the mailbox, whatever a look for
/// its intent would find there.
pub const REFUSED: &str = "refused";

impl State {
    /// Records `uids` as delivered now, durably: the journal gets a [`DELIVERED`] line for each
    /// (one append and one sync for all), and the next [`State::commit`] writes the state file.
    /// A crash before that leaves them to be recovered from the journal.
    /// A receipt goes with its line (`delivered RECEIPT`), so a crash before the commit keeps
    /// it too.
    pub fn log_delivered(&mut self, uids: &[(&[u8], Option<&str>)], now: u64) -> Result<()> {
        let words: Vec<String> = uids
            .iter()
            .map(
                |(_, receipt)| match receipt.filter(|r| is_receipt(r.as_bytes())) {
                    Some(receipt) => format!("{DELIVERED} {receipt}"),
                    None => DELIVERED.to_string(),
                },
            )
            .collect();
        let lines: Vec<(&[u8], &str)> = uids
            .iter()
            .zip(&words)
            .map(|((uid, _), word)| (*uid, word.as_str()))
            .collect();
        self.write_intents(&lines)?;
        for (uid, receipt) in uids {
            self.record_with_receipt(uid, *receipt, now);
        }
        Ok(())
    }

    /// Marks `uids` as refused by the mailbox in the journal, durably: their intents are then
    /// never taken for deliveries, whatever the mailbox holds.
    pub fn log_refused(&self, uids: &[&[u8]]) -> Result<()> {
        let lines: Vec<(&[u8], &str)> = uids.iter().map(|&uid| (uid, REFUSED)).collect();
        self.write_intents(&lines)
    }

    /// The journal of delivery intents beside the state file.
    fn journal_path(&self) -> PathBuf {
        let mut path = self.path.as_os_str().to_owned();
        path.push(".journal");
        PathBuf::from(path)
    }

    /// Appends intents (a UIDL and where its message is being placed) to the journal and makes
    /// them durable. Written before messages become visible in the mailbox, so that after a
    /// crash the next run can tell which of them arrived and record them instead of
    /// delivering them twice.
    pub fn write_intents(&self, intents: &[(&[u8], &str)]) -> Result<()> {
        if intents.is_empty() {
            return Ok(());
        }
        let path = self.journal_path();
        let context = || format!("cannot write journal {}", path.display());
        create_private_dir(parent_dir(&path))?;
        let mut text = Vec::new();
        for (uid, intent) in intents {
            text.extend(escape(uid).flat_map(str::as_bytes));
            text.push(b' ');
            text.extend_from_slice(intent.as_bytes());
            text.push(b'\n');
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::io(context(), e))?;
        let length = file.metadata().map_err(|e| Error::io(context(), e))?.len();
        if let Err(e) = file.write_all(&text).and_then(|()| file.sync_data()) {
            // A full disk may have taken part of the text: cut it away, so that the next
            // append does not continue a torn line and turn both into one malformed intent.
            let _ = file.set_len(length).and_then(|()| file.sync_data());
            return Err(Error::io(context(), e));
        }
        if length == 0 {
            sync_dir(parent_dir(&path)).map_err(|e| Error::io(context(), e))?;
        }
        Ok(())
    }

    /// How long ago the journal was last written (zero if that cannot be told).
    pub fn journal_age(&self) -> std::time::Duration {
        fs::metadata(self.journal_path())
            .and_then(|m| m.modified())
            .ok()
            .and_then(|written| written.elapsed().ok())
            .unwrap_or_default()
    }

    /// The intents left by a run that did not finish. A line cut short by a crash was never
    /// acted on (intents are synced before any placement) and is ignored.
    pub fn pending_intents(&self) -> Result<Vec<(Vec<u8>, String)>> {
        let path = self.journal_path();
        let text = match fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(Error::io(
                    format!("cannot read journal {}", path.display()),
                    e,
                ))
            }
        };
        let complete = match text.iter().rposition(|&b| b == b'\n') {
            Some(last) => &text[..=last],
            None => return Ok(Vec::new()),
        };
        let mut intents = Vec::new();
        for line in complete
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
        {
            let corrupt = || Error::CorruptState {
                path: path.clone(),
                detail: "a journal line is malformed".into(),
            };
            let space = line.iter().position(|&b| b == b' ').ok_or_else(corrupt)?;
            let uid = unescape(&line[..space]).ok_or_else(corrupt)?;
            let intent = std::str::from_utf8(&line[space + 1..]).map_err(|_| corrupt())?;
            intents.push((uid, intent.to_string()));
        }
        Ok(intents)
    }

    /// Forgets the journal once what it describes is recorded in the committed state. The file
    /// is emptied rather than removed: on ext4 without a journal, every inode freed makes file
    /// creation slower for minutes.
    pub fn clear_journal(&self) -> Result<()> {
        let path = self.journal_path();
        let file = match OpenOptions::new().write(true).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(Error::io(
                    format!("cannot clear journal {}", path.display()),
                    e,
                ))
            }
        };
        // Already empty (the usual case at the start of a run): nothing to sync.
        let empty = file.metadata().is_ok_and(|m| m.len() == 0);
        if empty {
            return Ok(());
        }
        file.set_len(0)
            .and_then(|()| file.sync_data())
            .map_err(|e| Error::io(format!("cannot clear journal {}", path.display()), e))
    }
}

/// Reads the state file's text; the ids that need no unescaping stay where they are in it.
fn parse(text: Vec<u8>) -> Result<Uids, String> {
    let Some(body) = text.strip_suffix(b"\n") else {
        return Err("the file is truncated (no final line end)".into());
    };
    let (header, rest) = split_line(body);
    if header != HEADER.as_bytes() && header != HEADER_WITH_RECEIPTS.as_bytes() {
        return Err(format!("the first line is not \"{HEADER}\""));
    }
    // Between the header and the end marker: no line at all, or lines (maybe empty ones).
    let (entry_lines, last) = match memchr::memrchr(b'\n', rest) {
        Some(end) => (Some(&rest[..end]), &rest[end + 1..]),
        None => (None, rest),
    };
    let count = last
        .strip_prefix(b"end ")
        .and_then(|count| std::str::from_utf8(count).ok())
        .and_then(|count| count.parse::<usize>().ok())
        .ok_or("the file is truncated (no end marker on the last line)")?;
    let mut plain = Vec::with_capacity(count);
    let mut escaped = Vec::new();
    let mut lines = 0;
    for line in entry_lines
        .into_iter()
        .flat_map(|text| text.split(|&b| b == b'\n'))
    {
        lines += 1;
        let line_number = lines + 1;
        let bad = || format!("line {line_number} is malformed");
        let space = memchr::memchr(b' ', line).ok_or_else(bad)?;
        let digits = &line[..space];
        let first_seen = digits
            .iter()
            .try_fold(0u64, |n, &d| {
                let digit = d.checked_sub(b'0').filter(|d| *d <= 9)?;
                n.checked_mul(10)?.checked_add(u64::from(digit))
            })
            .filter(|_| !digits.is_empty())
            .ok_or_else(bad)?;
        let words = &line[space + 1..];
        let (token, receipt) = match memchr::memchr(b' ', words) {
            Some(space) => (&words[..space], Some(&words[space + 1..])),
            None => (words, None),
        };
        if receipt.is_some_and(|receipt| !is_receipt(receipt)) {
            return Err(bad());
        }
        if is_plain(token) {
            // Where the token lies in the text: it is the id itself, its receipt after it.
            let start = token.as_ptr() as usize - text.as_ptr() as usize;
            let end = start + token.len();
            let receipt_end = receipt.map_or(end, |receipt| end + 1 + receipt.len());
            plain.push((start, end, receipt_end, first_seen, line_number));
        } else {
            let uid = unescape(token).ok_or_else(bad)?;
            escaped.push((uid, receipt.map(<[u8]>::to_vec), first_seen, line_number));
        }
    }
    if lines != count {
        return Err(format!(
            "the end marker counts {count} entries, the file has {lines}"
        ));
    }
    let mut uids = Uids {
        bytes: text,
        table: HashTable::with_capacity(count),
        hasher: RandomState::default(),
    };
    let repeated = |line_number| format!("line {line_number} repeats an entry");
    for (start, end, receipt_end, first_seen, line_number) in plain {
        if !uids.insert_range(start, end, receipt_end, first_seen) {
            return Err(repeated(line_number));
        }
    }
    for (uid, receipt, first_seen, line_number) in escaped {
        if !uids.insert(&uid, receipt.as_deref(), first_seen) {
            return Err(repeated(line_number));
        }
    }
    Ok(uids)
}

/// The text up to the first line end, and what follows it.
fn split_line(text: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memchr(b'\n', text) {
        Some(end) => (&text[..end], &text[end + 1..]),
        None => (text, &text[text.len()..]),
    }
}

/// Printable ASCII except `%` stays as it is; every other byte becomes `%XX`. A UIDL can thus
/// hold any bytes and still be one unambiguous token on one line.
fn stays_as_is(byte: u8) -> bool {
    (0x21..=0x7e).contains(&byte) && byte != b'%'
}

/// A token that is its own id, as [`escape`] leaves an id that needs no escaping.
fn is_plain(token: &[u8]) -> bool {
    !token.is_empty() && token.iter().all(|&b| stays_as_is(b))
}

/// A receipt is one word of printable ASCII: it needs no escaping of its own.
fn is_receipt(word: &[u8]) -> bool {
    !word.is_empty() && word.iter().all(|b| (0x21..=0x7e).contains(b))
}

/// The bytes [`escape`] writes as `%XX`: those that [`stays_as_is`] refuses (percent-encoding
/// escapes every non-ASCII byte on its own).
const ESCAPED: &AsciiSet = &CONTROLS.add(b' ').add(b'%');

/// `uid` as one word of the state file or the journal, written without an allocation of its
/// own (it runs once per id on every commit).
pub(crate) fn escape(uid: &[u8]) -> percent_encoding::PercentEncode<'_> {
    percent_encode(uid, ESCAPED)
}

/// The id that a token written by [`escape`] stands for; `None` for a token no escaping makes
/// (empty, a byte that would have been escaped, or a `%` without two hex digits after it),
/// which percent-encoding's lenient decoder would pass through as it is.
pub(crate) fn unescape(token: &[u8]) -> Option<Vec<u8>> {
    if token.is_empty() {
        return None;
    }
    let mut rest = token;
    while let Some((&byte, after)) = rest.split_first() {
        rest = match (byte, after) {
            (b'%', [high, low, after @ ..])
                if high.is_ascii_hexdigit() && low.is_ascii_hexdigit() =>
            {
                after
            }
            (byte, after) if stays_as_is(byte) => after,
            _ => return None,
        };
    }
    Some(percent_decode(token).collect())
}

/// An exclusive lock on one account, held for the life of the value.
#[derive(Debug)]
pub struct AccountLock {
    _file: File,
}

/// Takes the account's lock (`<state file>.lock`) without waiting: a second popget on the same
/// account fails at once.
pub fn lock_account(state_path: &Path) -> Result<AccountLock> {
    let mut lock_path = state_path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    create_private_dir(parent_dir(&lock_path))?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&lock_path)
        .map_err(|e| Error::io(format!("cannot open lock file {}", lock_path.display()), e))?;
    match file.try_lock() {
        Ok(()) => Ok(AccountLock { _file: file }),
        Err(fs::TryLockError::WouldBlock) => Err(Error::Temporary(format!(
            "another popget is already working on this account (lock {})",
            lock_path.display()
        ))),
        Err(fs::TryLockError::Error(e)) => {
            Err(Error::io(format!("cannot lock {}", lock_path.display()), e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// The escaping as it was written by hand before percent-encoding took it over: the file
    /// format, which must not change.
    fn escape_as_before(uid: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for &byte in uid {
            if stays_as_is(byte) {
                out.push(byte);
            } else {
                out.extend_from_slice(format!("%{byte:02X}").as_bytes());
            }
        }
        out
    }

    fn unescape_as_before(token: &[u8]) -> Option<Vec<u8>> {
        if token.is_empty() {
            return None;
        }
        let mut out = Vec::new();
        let mut i = 0;
        while i < token.len() {
            match token[i] {
                b'%' => {
                    let hex = std::str::from_utf8(token.get(i + 1..i + 3)?).ok()?;
                    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return None;
                    }
                    out.push(u8::from_str_radix(hex, 16).ok()?);
                    i += 3;
                }
                byte if stays_as_is(byte) => {
                    out.push(byte);
                    i += 1;
                }
                _ => return None,
            }
        }
        Some(out)
    }

    #[test]
    fn escaping_is_the_file_format_as_before() {
        for byte in 0..=u8::MAX {
            assert_eq!(
                escape(&[byte]).to_string().into_bytes(),
                escape_as_before(&[byte]),
                "{byte:#x}"
            );
        }
        // Every token of up to two bytes, and every `%` with two bytes after it (in front of
        // a plain byte and of another `%`).
        let mut tokens: Vec<Vec<u8>> = vec![Vec::new()];
        for a in 0..=u8::MAX {
            tokens.push(vec![a]);
            for b in 0..=u8::MAX {
                tokens.push(vec![a, b]);
                tokens.push(vec![b'%', a, b, b'x']);
                tokens.push(vec![b'%', a, b, b'%']);
            }
        }
        for token in &tokens {
            assert_eq!(unescape(token), unescape_as_before(token), "{token:?}");
        }
    }

    const HOSTILE: &[&[u8]] = &[
        b"plain",
        b"../../etc/passwd",
        b"a/b",
        b"..",
        b"with space",
        b"x\nINJECT 1 y",
        b"cr\rhere",
        b"100%",
        b"%41",
        b"#comment",
        b"end 0",
        b"\xff\x00\x01",
        b"=\"'\t",
    ];

    #[test]
    fn receipts_round_trip_and_only_they_change_the_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("account.state");
        let mut state = State::empty(&path);
        state.record(b"plain", 1);
        state.commit().unwrap();
        assert!(fs::read_to_string(&path)
            .unwrap()
            .starts_with("popget-state 1\n"));

        let receipt = "imap://a%40b@h:993/Old%20ISP;UIDVALIDITY=7/;UID=42";
        state.record_with_receipt(b"with space", Some(receipt), 2);
        state.record_with_receipt(b"id", Some("imap://h/x;UIDVALIDITY=1/;UID=1"), 3);
        // A receipt that is not one printable word is not kept; the record is.
        state.record_with_receipt(b"odd", Some("two words"), 4);
        state.commit().unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("popget-state 2\n"), "{text}");

        let loaded = State::load(&path).unwrap();
        assert_eq!(loaded.len(), 4);
        assert_eq!(loaded.receipt(b"with space"), Some(receipt));
        assert_eq!(
            loaded.receipt(b"id"),
            Some("imap://h/x;UIDVALIDITY=1/;UID=1")
        );
        assert_eq!(loaded.receipt(b"plain"), None);
        assert_eq!(loaded.receipt(b"odd"), None);
        assert_eq!(loaded.first_seen(b"with space"), Some(2));
        assert!(loaded.contains(b"odd"));

        for bad in ["1 id imap://x\t\n", "1 id a b\n", "1 id \n"] {
            let file = dir.path().join("bad.state");
            fs::write(&file, format!("popget-state 2\n{bad}end 1\n")).unwrap();
            assert!(State::load(&file).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_delivered_journal_line_may_carry_a_receipt() {
        assert_eq!(delivered_line("delivered"), Some(None));
        assert_eq!(delivered_line("delivered imap://x"), Some(Some("imap://x")));
        assert_eq!(delivered_line("deliveredx"), None);
        assert_eq!(delivered_line("maildir new/x"), None);
    }

    #[test]
    fn round_trips_hostile_uidls() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/account.state");
        let mut state = State::load(&path).unwrap();
        assert!(state.is_empty());
        for (i, uid) in HOSTILE.iter().enumerate() {
            state.record(uid, 1_700_000_000 + i as u64);
        }
        let long = vec![b'u'; 500];
        state.record(&long, 5);
        state.commit().unwrap();

        let loaded = State::load(&path).unwrap();
        assert_eq!(loaded.len(), HOSTILE.len() + 1);
        for (i, uid) in HOSTILE.iter().enumerate() {
            assert_eq!(
                loaded.first_seen(uid),
                Some(1_700_000_000 + i as u64),
                "{uid:?}"
            );
        }
        assert!(loaded.contains(&long));
        // Nothing was created from a UIDL: only the state file (and no stray temporary files).
        let names: Vec<_> = fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["account.state"]);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn keeps_the_first_seen_time_and_prunes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let mut state = State::load(&path).unwrap();
        state.record(b"a", 1);
        state.record(b"a", 2);
        state.record(b"b", 3);
        state.retain(|uid| uid == b"a");
        state.commit().unwrap();
        let state = State::load(&path).unwrap();
        assert_eq!(state.first_seen(b"a"), Some(1));
        assert!(!state.contains(b"b"));
    }

    #[test]
    fn corrupt_or_truncated_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let mut state = State::load(&path).unwrap();
        state.record(b"one", 1);
        state.record(b"two", 2);
        state.commit().unwrap();
        let good = fs::read(&path).unwrap();
        for cut in 0..good.len() {
            fs::write(&path, &good[..cut]).unwrap();
            assert!(
                matches!(State::load(&path), Err(Error::CorruptState { .. })),
                "accepted a file cut at {cut}"
            );
        }
        for bad in [
            &b"garbage\n"[..],
            b"popget-state 1\nx one\nend 1\n",
            b"popget-state 1\n1 bad%zz\nend 1\n",
            b"popget-state 1\n1 a\n1 a\nend 2\n",
            b"popget-state 1\n1 a\nend 1\nextra\n",
            b"popget-state 1\n1 a\nend 2\n",
        ] {
            fs::write(&path, bad).unwrap();
            assert!(
                matches!(State::load(&path), Err(Error::CorruptState { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn journal_round_trips_and_ignores_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let state = State::load(&dir.path().join("s")).unwrap();
        assert!(state.pending_intents().unwrap().is_empty());
        state
            .write_intents(&[(b"a b", "maildir /x/new/1"), (b"\n", "mbox /y 0 0 10 ff")])
            .unwrap();
        let mut journal = fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("s.journal"))
            .unwrap();
        journal.write_all(b"torn-uid maildir /x/ne").unwrap();
        let intents = state.pending_intents().unwrap();
        assert_eq!(
            intents,
            [
                (b"a b".to_vec(), "maildir /x/new/1".to_string()),
                (b"\n".to_vec(), "mbox /y 0 0 10 ff".to_string())
            ]
        );
        state.clear_journal().unwrap();
        assert!(state.pending_intents().unwrap().is_empty());
    }

    #[test]
    fn a_second_lock_on_one_account_fails_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("account.state");
        let held = lock_account(&path).unwrap();
        assert!(matches!(lock_account(&path), Err(Error::Temporary(_))));
        drop(held);
        lock_account(&path).unwrap();
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_file_is_read_or_refused_without_panicking(
            text in proptest::collection::vec(
                prop_oneof![Just(b'\n'), Just(b' '), Just(b'%'), b'0'..=b'9', any::<u8>()],
                0..300,
            ),
        ) {
            let _ = parse(text.clone());
            let with_header = [HEADER.as_bytes(), b"\n", &text].concat();
            let _ = parse(with_header);
        }

        #[test]
        fn any_uidl_bytes_round_trip_through_the_file(
            uids in proptest::collection::btree_set(proptest::collection::vec(any::<u8>(), 1..40), 0..20),
            first_seen in any::<u64>(),
        ) {
            for uid in &uids {
                prop_assert_eq!(unescape(escape(uid).to_string().as_bytes()), Some(uid.clone()));
            }
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("s");
            let mut state = State::empty(&path);
            for uid in &uids {
                state.record(uid, first_seen);
            }
            state.commit().unwrap();
            let loaded = State::load(&path).unwrap();
            prop_assert_eq!(loaded.len(), uids.len());
            for uid in &uids {
                prop_assert_eq!(loaded.first_seen(uid), Some(first_seen));
            }
        }
    }
}
