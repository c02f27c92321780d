//! Messages a destination refused for good, set aside so that later runs leave them on the POP3
//! server instead of offering them again on every run: a small file beside the account's state
//! file, one line per message (its UIDL, when it was first refused, and why).

use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::durable::{create_private_dir, parent_dir, replace_file, sync_dir};
use crate::error::{Error, Result};
use crate::state::{escape, unescape};

/// The most messages kept set aside; past it the oldest are dropped (they are then offered to
/// the destination again), so that the file stays small whatever a destination refuses.
pub const MAX_ENTRIES: usize = 10_000;
/// A reason is cut to this many characters: a server's text may be long.
pub const MAX_REASON_CHARS: usize = 400;

const HEADER: &str = "popget-set-aside 1";

/// One message set aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub uid: Vec<u8>,
    /// When the destination first refused it (seconds since the epoch).
    pub since: u64,
    /// What the destination said, on one line.
    pub reason: String,
}

impl Entry {
    /// The UIDL as the state file writes it: printable, one word.
    pub fn uid_text(&self) -> String {
        escape(&self.uid).to_string()
    }
}

/// A UIDL as [`Entry::uid_text`] shows it, back to its bytes; a text that no escaping makes is
/// taken as it is.
pub fn uid_from_text(text: &str) -> Vec<u8> {
    unescape(text.as_bytes()).unwrap_or_else(|| text.as_bytes().to_vec())
}

/// The set-aside messages of one account (of one state file), oldest first.
#[derive(Debug)]
pub struct SetAside {
    path: PathBuf,
    entries: Vec<Entry>,
    uids: HashSet<Vec<u8>>,
    dirty: bool,
}

/// The file beside `state_path`: `<state>.set-aside`.
pub fn path_for(state_path: &Path) -> PathBuf {
    let mut name = state_path.as_os_str().to_owned();
    name.push(".set-aside");
    PathBuf::from(name)
}

impl SetAside {
    /// Reads the set-aside file of the account whose state file is `state_path`; a missing
    /// file is an empty set. A file that cannot be read as one is [`Error::CorruptFile`].
    pub fn load(state_path: &Path) -> Result<SetAside> {
        let path = path_for(state_path);
        let text = match fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(SetAside::with_entries(path, Vec::new(), false))
            }
            Err(e) => return Err(Error::io(format!("cannot read {}", path.display()), e)),
        };
        match parse(&text) {
            Ok(entries) => Ok(SetAside::with_entries(path, entries, false)),
            Err(detail) => Err(Error::CorruptFile { path, detail }),
        }
    }

    /// An empty set that replaces whatever file is there on the next [`SetAside::commit`].
    pub fn empty(state_path: &Path) -> SetAside {
        SetAside::with_entries(path_for(state_path), Vec::new(), true)
    }

    fn with_entries(path: PathBuf, entries: Vec<Entry>, dirty: bool) -> SetAside {
        let uids = entries.iter().map(|entry| entry.uid.clone()).collect();
        SetAside {
            path,
            entries,
            uids,
            dirty,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The messages set aside, oldest first.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, uid: &[u8]) -> bool {
        !self.uids.is_empty() && self.uids.contains(uid)
    }

    /// Sets `uid` aside for `reason` (made one line and cut to [`MAX_REASON_CHARS`] characters); one
    /// already set aside keeps its first time and reason. Returns how many of the oldest
    /// entries were dropped to stay within [`MAX_ENTRIES`].
    pub fn add(&mut self, uid: &[u8], reason: &str, now: u64) -> usize {
        if self.contains(uid) {
            return 0;
        }
        self.entries.push(Entry {
            uid: uid.to_vec(),
            since: now,
            reason: one_line(reason, MAX_REASON_CHARS),
        });
        self.uids.insert(uid.to_vec());
        self.dirty = true;
        let over = self.entries.len().saturating_sub(MAX_ENTRIES);
        for dropped in self.entries.drain(..over) {
            self.uids.remove(&dropped.uid);
        }
        over
    }

    /// Forgets every entry for which `keep` is false (messages no longer on the server).
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8]) -> bool) {
        let before = self.entries.len();
        self.entries.retain(|entry| keep(&entry.uid));
        if self.entries.len() != before {
            self.uids = self.entries.iter().map(|e| e.uid.clone()).collect();
            self.dirty = true;
        }
    }

    /// Takes `uid` out of the set, so that the next run offers it again; false if it was not
    /// set aside.
    pub fn remove(&mut self, uid: &[u8]) -> bool {
        if !self.uids.remove(uid) {
            return false;
        }
        self.entries.retain(|entry| entry.uid != uid);
        self.dirty = true;
        true
    }

    /// Writes the set if it changed, as the state file is written: a temporary file, fsync,
    /// rename over the old one, fsync of the directory. An empty set removes the file.
    pub fn commit(&mut self) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let directory = parent_dir(&self.path);
        let context = || format!("cannot write {}", self.path.display());
        if self.entries.is_empty() {
            match fs::remove_file(&self.path) {
                Ok(()) => sync_dir(directory).map_err(|e| Error::io(context(), e))?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(context(), e)),
            }
            self.dirty = false;
            return Ok(());
        }
        create_private_dir(directory)?;
        replace_file(&self.path, ".popget-set-aside", |out| {
            writeln!(out, "{HEADER}")?;
            for entry in &self.entries {
                let uid = escape(&entry.uid);
                writeln!(out, "{} {uid} {}", entry.since, entry.reason)?;
            }
            writeln!(out, "end {}", self.entries.len())
        })
        .map_err(|e| Error::io(context(), e))?;
        self.dirty = false;
        Ok(())
    }
}

/// `text` on one line of at most `max` characters: control characters (line ends, escape
/// sequences a server may send) become spaces, and a longer text ends with `…`.
pub fn one_line(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let flat = flat.trim();
    if flat.chars().count() <= max {
        return flat.to_string();
    }
    let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Reads the file's text: the header, `SINCE UID REASON` lines, and `end N`.
fn parse(text: &[u8]) -> std::result::Result<Vec<Entry>, String> {
    let text = std::str::from_utf8(text).map_err(|_| "the file is not UTF-8".to_string())?;
    let body = text
        .strip_suffix('\n')
        .ok_or("the file is truncated (no final line end)")?;
    let mut lines = body.split('\n');
    if lines.next() != Some(HEADER) {
        return Err(format!("the first line is not \"{HEADER}\""));
    }
    let mut entries = Vec::new();
    let mut uids = HashSet::new();
    for (index, line) in lines.enumerate() {
        let number = index + 2;
        if let Some(count) = line.strip_prefix("end ") {
            if count.parse::<usize>().ok() != Some(entries.len()) {
                return Err(format!(
                    "the end marker counts {count} entries, the file has {}",
                    entries.len()
                ));
            }
            if number != body.split('\n').count() {
                return Err(format!(
                    "line {number}: the end marker is not the last line"
                ));
            }
            return Ok(entries);
        }
        let bad = || format!("line {number} is malformed");
        let mut words = line.splitn(3, ' ');
        let since = words
            .next()
            .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|digits| digits.parse().ok())
            .ok_or_else(bad)?;
        let uid = words
            .next()
            .and_then(|token| unescape(token.as_bytes()))
            .ok_or_else(bad)?;
        let reason = words.next().unwrap_or_default().to_string();
        if !uids.insert(uid.clone()) {
            return Err(format!("line {number} repeats an entry"));
        }
        entries.push(Entry { uid, since, reason });
    }
    Err("the file is truncated (no end marker on the last line)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_a_commit_and_an_empty_set_removes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("a.state");
        let mut set = SetAside::load(&state).unwrap();
        assert!(set.is_empty());
        assert_eq!(
            set.add(b"uid 1\n%", "550 5.1.1 no such user\r\n\x1b[31m", 100),
            0
        );
        set.add(b"plain", "refused", 200);
        set.add(b"plain", "again, later", 300);
        set.commit().unwrap();
        let text = fs::read_to_string(path_for(&state)).unwrap();
        assert_eq!(
            text,
            "popget-set-aside 1\n100 uid%201%0A%25 550 5.1.1 no such user   [31m\n\
             200 plain refused\nend 2\n"
        );
        let mode = fs::metadata(path_for(&state)).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        let mut set = SetAside::load(&state).unwrap();
        assert_eq!(set.entries()[0].uid, b"uid 1\n%");
        assert_eq!(set.entries()[0].uid_text(), "uid%201%0A%25");
        assert_eq!(uid_from_text("uid%201%0A%25"), b"uid 1\n%");
        assert_eq!(
            uid_from_text("50%"),
            b"50%",
            "not made by escaping: as it is"
        );
        assert_eq!(
            set.entries()[1].since,
            200,
            "the first refusal's time stays"
        );
        assert!(set.contains(b"plain") && !set.contains(b"other"));
        assert!(set.remove(b"plain") && !set.remove(b"plain"));
        set.retain(|uid| uid != b"uid 1\n%");
        set.commit().unwrap();
        assert!(!path_for(&state).exists());
    }

    #[test]
    fn the_oldest_are_dropped_past_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let mut set = SetAside::load(&dir.path().join("a.state")).unwrap();
        for n in 0..MAX_ENTRIES {
            assert_eq!(set.add(n.to_string().as_bytes(), "r", n as u64), 0);
        }
        assert_eq!(set.add(b"new", "r", 1), 1);
        assert_eq!(set.len(), MAX_ENTRIES);
        assert!(!set.contains(b"0") && set.contains(b"1") && set.contains(b"new"));
    }

    #[test]
    fn reasons_are_one_short_line() {
        assert_eq!(one_line(" a\nb\tc ", 10), "a b c");
        let long = one_line(&"x".repeat(1000), MAX_REASON_CHARS);
        assert_eq!(long.chars().count(), MAX_REASON_CHARS);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn a_damaged_file_is_reported_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("a.state");
        for text in [
            "popget-set-aside 1\n1 a r\n",
            "popget-set-aside 1\n1 a r\nend 2\n",
            "popget-set-aside 1\nx a r\nend 1\n",
            "popget-set-aside 1\n1 a r\n1 a r\nend 2\n",
            "popget-set-aside 1\nend 0\n1 a r\n",
            "something else\nend 0\n",
            "popget-set-aside 1\n1 %zz r\nend 1\n",
        ] {
            fs::write(path_for(&state), text).unwrap();
            let error = SetAside::load(&state).unwrap_err();
            assert!(
                matches!(error, Error::CorruptFile { .. }),
                "{text:?}: {error}"
            );
        }
        fs::write(path_for(&state), "popget-set-aside 1\n5 a\nend 1\n").unwrap();
        let set = SetAside::load(&state).unwrap();
        assert_eq!(set.entries()[0].reason, "", "a reason may be empty");
    }
}
