//! The per-account record of delivered messages (by UIDL): loading, atomic commits, pruning, and
//! the lock that keeps two popget processes off one account.

use foldhash::fast::RandomState;
use hashbrown::HashTable;
use percent_encoding::{percent_decode, percent_encode, AsciiSet, CONTROLS};
use std::fs::{self, File, OpenOptions};
use std::hash::BuildHasher;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::durable::{create_private_dir, parent_dir, sync_dir};
use crate::error::{Error, Result};

const HEADER: &str = "popget-state 1";

/// UIDLs with their first-seen times. The ids' bytes live in one buffer (for a loaded state,
/// the file's own text), so 100,000 ids cost two allocations rather than 100,000. foldhash is
/// fast and seeded per process, so ids a server chose cannot be made to collide.
#[derive(Default)]
struct Uids {
    bytes: Vec<u8>,
    table: HashTable<Entry>,
    hasher: RandomState,
}

/// Where an id is in [`Uids::bytes`], and when it was first seen.
#[derive(Clone, Copy)]
struct Entry {
    start: usize,
    end: usize,
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

    /// Adds the id at `start..end` of the buffer; false if it is there already.
    fn insert_range(&mut self, start: usize, end: usize, first_seen: u64) -> bool {
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
                    first_seen,
                });
                true
            }
        }
    }

    /// Adds `uid`; false if it is there already.
    fn insert(&mut self, uid: &[u8], first_seen: u64) -> bool {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(uid);
        let added = self.insert_range(start, self.bytes.len(), first_seen);
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

    fn iter(&self) -> impl Iterator<Item = (&[u8], u64)> {
        self.table
            .iter()
            .map(|e| (&self.bytes[e.start..e.end], e.first_seen))
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
        if self.entries.insert(uid, now) {
            self.dirty = true;
        }
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
        let directory = parent_dir(&self.path);
        create_private_dir(directory)?;
        let context = || format!("cannot write state file {}", self.path.display());
        let mut temporary = tempfile::Builder::new()
            .prefix(".popget-state")
            .tempfile_in(directory)
            .map_err(|e| Error::io(context(), e))?;
        {
            let mut out = BufWriter::with_capacity(64 * 1024, temporary.as_file_mut());
            let mut uids: Vec<_> = self.entries.iter().collect();
            uids.sort_unstable();
            let mut write = || -> io::Result<()> {
                writeln!(out, "{HEADER}")?;
                for (uid, first_seen) in &uids {
                    writeln!(out, "{first_seen} {}", escape(uid))?;
                }
                writeln!(out, "end {}", uids.len())?;
                out.flush()
            };
            write().map_err(|e| Error::io(context(), e))?;
        }
        temporary
            .as_file()
            .sync_all()
            .map_err(|e| Error::io(context(), e))?;
        temporary
            .persist(&self.path)
            .map_err(|e| Error::io(context(), e.error))?;
        sync_dir(directory).map_err(|e| Error::io(context(), e))?;
        self.dirty = false;
        Ok(())
    }
}

/// The journal word for a message that is durably in the mailbox and recorded: the state file
/// itself is rewritten once per run, these lines stand for it in between.
pub const DELIVERED: &str = "delivered";

/// The journal word for a message the mailbox refused: not in the mailbox, whatever a look for
/// its intent would find there.
pub const REFUSED: &str = "refused";

impl State {
    /// Records `uids` as delivered now, durably: the journal gets a [`DELIVERED`] line for each
    /// (one append and one sync for all), and the next [`State::commit`] writes the state file.
    /// A crash before that leaves them to be recovered from the journal.
    pub fn log_delivered(&mut self, uids: &[&[u8]], now: u64) -> Result<()> {
        let lines: Vec<(&[u8], &str)> = uids.iter().map(|&uid| (uid, DELIVERED)).collect();
        self.write_intents(&lines)?;
        for uid in uids {
            self.record(uid, now);
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
    if header != HEADER.as_bytes() {
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
        let token = &line[space + 1..];
        if is_plain(token) {
            // Where the token lies in the text: it is the id itself.
            let start = token.as_ptr() as usize - text.as_ptr() as usize;
            plain.push((start, start + token.len(), first_seen, line_number));
        } else {
            escaped.push((unescape(token).ok_or_else(bad)?, first_seen, line_number));
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
    for (start, end, first_seen, line_number) in plain {
        if !uids.insert_range(start, end, first_seen) {
            return Err(repeated(line_number));
        }
    }
    for (uid, first_seen, line_number) in escaped {
        if !uids.insert(&uid, first_seen) {
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
