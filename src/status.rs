//! How an account stands, for `popget status`: its last check (when, how it ended, what it
//! delivered), its last delivery and last error, and under the daemon its next poll. A small
//! JSON file beside the state file, `<state>.status`, replaced whole (a temporary file renamed
//! over it), so that it can be read at any time, also while a daemon runs, without a lock.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::durable::{create_private_dir, parent_dir};
use crate::error::{Error, Result};
use crate::set_aside::one_line;
use crate::state;

/// Accounts that share one state file share its status file, each with its own record; past
/// this many (accounts renamed over the years), those checked longest ago are dropped.
pub const MAX_ACCOUNTS: usize = 64;
/// An error's message is cut to this many characters.
pub const MAX_MESSAGE_CHARS: usize = 400;

const VERSION: u32 = 1;

/// What is known of one account. Times are seconds since the epoch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub last_check: Option<Check>,
    /// The last check that delivered something.
    pub last_delivery: Option<Delivered>,
    pub last_error: Option<Failure>,
    /// When the daemon will poll the account next; `None` when no daemon polls it.
    pub next_poll: Option<u64>,
}

/// One check of the account: a run that logged in, or failed on the way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub at: u64,
    pub delivered: u64,
    pub octets: u64,
    /// `None`: the run succeeded.
    pub failure: Option<Failure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivered {
    pub at: u64,
    pub delivered: u64,
    pub octets: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub at: u64,
    pub exit_code: u8,
    pub message: String,
}

/// The file: a version and the records by account name.
#[derive(Debug, Default, Serialize, Deserialize)]
struct StatusFile {
    popget_status: u32,
    accounts: BTreeMap<String, Record>,
}

/// The file beside `state_path`: `<state>.status`.
pub fn path_for(state_path: &Path) -> PathBuf {
    let mut name = state_path.as_os_str().to_owned();
    name.push(".status");
    PathBuf::from(name)
}

/// What a run of the account found: what it delivered, and the error that ended it, if any.
pub struct RunResult<'a> {
    pub delivered: u64,
    pub octets: u64,
    pub error: Option<&'a Error>,
}

/// Records a check of `account` that ended now. The caller holds the account's lock.
pub fn record_check(state_path: &Path, account: &str, run: &RunResult) -> Result<()> {
    let at = seconds(SystemTime::now());
    let failure = run.error.map(|error| Failure {
        at,
        exit_code: error.exit_code(),
        message: one_line(&error.to_string(), MAX_MESSAGE_CHARS),
    });
    update(state_path, account, |record| {
        if run.delivered > 0 {
            record.last_delivery = Some(Delivered {
                at,
                delivered: run.delivered,
                octets: run.octets,
            });
        }
        if failure.is_some() {
            record.last_error.clone_from(&failure);
        }
        record.last_check = Some(Check {
            at,
            delivered: run.delivered,
            octets: run.octets,
            failure,
        });
    })
}

/// Records when the daemon will poll `account` next (`None`: it will not, until something
/// changes). Skipped while another popget works on the account: its lock keeps the two
/// writes of one file apart, and the daemon records the next poll again after its next run.
pub fn record_next_poll(state_path: &Path, account: &str, next: Option<SystemTime>) -> Result<()> {
    let _lock = match state::lock_account(state_path) {
        Ok(lock) => lock,
        Err(Error::Temporary(_)) => return Ok(()),
        Err(error) => return Err(error),
    };
    update(state_path, account, |record| {
        record.next_poll = next.map(seconds);
    })
}

/// The record of `account`; `None` when it was never checked. A file that cannot be read as
/// one is [`Error::CorruptFile`]: the next check replaces it.
pub fn read(state_path: &Path, account: &str) -> Result<Option<Record>> {
    Ok(read_file(&path_for(state_path))?.accounts.remove(account))
}

fn read_file(path: &Path) -> Result<StatusFile> {
    let text = match fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(StatusFile::default()),
        Err(e) => return Err(Error::io(format!("cannot read {}", path.display()), e)),
    };
    let corrupt = |detail: String| Error::CorruptFile {
        path: path.to_path_buf(),
        detail,
    };
    let file: StatusFile = serde_json::from_slice(&text).map_err(|e| corrupt(e.to_string()))?;
    if file.popget_status != VERSION {
        return Err(corrupt(format!(
            "version {} is not the one this popget writes ({VERSION})",
            file.popget_status
        )));
    }
    Ok(file)
}

/// Changes `account`'s record and replaces the file. One that cannot be read is started
/// afresh: it only says how things stood.
fn update(state_path: &Path, account: &str, change: impl FnOnce(&mut Record)) -> Result<()> {
    let path = path_for(state_path);
    let mut file = read_file(&path).unwrap_or_default();
    file.popget_status = VERSION;
    change(file.accounts.entry(account.to_string()).or_default());
    while file.accounts.len() > MAX_ACCOUNTS {
        let oldest = file
            .accounts
            .iter()
            .filter(|(name, _)| *name != account)
            .min_by_key(|(_, record)| record.last_check.as_ref().map(|check| check.at))
            .map(|(name, _)| name.clone());
        match oldest {
            Some(name) => file.accounts.remove(&name),
            None => break,
        };
    }
    let directory = parent_dir(&path);
    let context = || format!("cannot write {}", path.display());
    create_private_dir(directory)?;
    // Mode 0600, as tempfile creates it; not synced: after a power loss the record may be
    // an older one, never a mix of two.
    let mut temporary = tempfile::Builder::new()
        .prefix(".popget-status")
        .tempfile_in(directory)
        .map_err(|e| Error::io(context(), e))?;
    serde_json::to_writer_pretty(temporary.as_file_mut(), &file)
        .map_err(io::Error::from)
        .and_then(|()| temporary.as_file_mut().write_all(b"\n"))
        .map_err(|e| Error::io(context(), e))?;
    temporary
        .persist(&path)
        .map_err(|e| Error::io(context(), e.error))?;
    Ok(())
}

/// Seconds since the epoch; 0 for a clock set before it.
pub fn seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_deliveries_errors_and_the_next_poll_are_kept_per_account() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s/a.state");
        assert_eq!(read(&state, "alice").unwrap(), None);
        let delivered = RunResult {
            delivered: 3,
            octets: 300,
            error: None,
        };
        record_check(&state, "alice", &delivered).unwrap();
        let failed = Error::Temporary("the server is busy\r\n\x1b]0;x".into());
        let failing = RunResult {
            delivered: 0,
            octets: 0,
            error: Some(&failed),
        };
        record_check(&state, "alice", &failing).unwrap();
        record_check(&state, "bob", &delivered).unwrap();
        let next = UNIX_EPOCH + std::time::Duration::from_secs(2_000_000_000);
        record_next_poll(&state, "alice", Some(next)).unwrap();

        let alice = read(&state, "alice").unwrap().unwrap();
        let check = alice.last_check.unwrap();
        assert_eq!((check.delivered, check.octets), (0, 0));
        let failure = check.failure.unwrap();
        assert_eq!(failure.exit_code, 75);
        assert_eq!(failure.message, "the server is busy   ]0;x");
        assert_eq!(alice.last_error.unwrap(), failure);
        let last_delivery = alice.last_delivery.unwrap();
        assert_eq!((last_delivery.delivered, last_delivery.octets), (3, 300));
        assert_eq!(alice.next_poll, Some(2_000_000_000));
        let bob = read(&state, "bob").unwrap().unwrap();
        assert!(bob.last_error.is_none() && bob.next_poll.is_none());
        let mode = fs::metadata(path_for(&state)).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
    }

    #[test]
    fn a_corrupt_file_is_an_error_to_read_and_replaced_by_the_next_check() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("a.state");
        fs::write(path_for(&state), "{ not json").unwrap();
        assert!(matches!(
            read(&state, "alice"),
            Err(Error::CorruptFile { .. })
        ));
        let run = RunResult {
            delivered: 1,
            octets: 10,
            error: None,
        };
        record_check(&state, "alice", &run).unwrap();
        assert!(read(&state, "alice").unwrap().is_some());
    }

    #[test]
    fn the_file_keeps_at_most_so_many_accounts() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("a.state");
        let run = RunResult {
            delivered: 0,
            octets: 0,
            error: None,
        };
        for n in 0..=MAX_ACCOUNTS {
            record_check(&state, &format!("account {n}"), &run).unwrap();
        }
        let file = read_file(&path_for(&state)).unwrap();
        assert_eq!(file.accounts.len(), MAX_ACCOUNTS);
        assert!(file
            .accounts
            .contains_key(&format!("account {MAX_ACCOUNTS}")));
    }

    #[test]
    fn the_next_poll_is_not_written_while_a_run_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("a.state");
        let lock = state::lock_account(&state).unwrap();
        record_next_poll(&state, "alice", Some(SystemTime::now())).unwrap();
        assert_eq!(read(&state, "alice").unwrap(), None, "skipped while locked");
        drop(lock);
        record_next_poll(&state, "alice", None).unwrap();
        assert_eq!(read(&state, "alice").unwrap(), Some(Record::default()));
    }
}
