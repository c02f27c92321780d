//! Where an account's OAuth tokens are kept: the OS keyring when one answers, else a file only
//! the user can read under popget's state directory; and the lock that lets one process at a
//! time refresh them.
//!
//! A save never destroys the previous record before the new one is durable: the file is
//! replaced by an atomic rename after an fsync (and the directory is fsynced after), the keyring
//! item is replaced in one Secret Service call. A crash at any point leaves either the old
//! record or the new one.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustix::fs::FlockOperation;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use super::keyring::{self as os_keyring, KeyringError, TOKEN_SERVICE};
use super::Secret;

/// An access token counts as expired this long before the time the server gave, so that it
/// does not expire between being read and being used.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// How long a refresh waits for another process refreshing the same token.
const LOCK_WAIT: Duration = Duration::from_secs(120);

/// The tokens of one login.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: Secret,
    /// When the access token expires; `None` when the server did not say (it is then refreshed
    /// before each use).
    pub expires_at: Option<SystemTime>,
    /// What renews the access token; `None` when the server issued none.
    pub refresh_token: Option<Secret>,
}

impl Tokens {
    /// Whether the access token has more than [`EXPIRY_MARGIN`] left at `now`.
    pub fn is_fresh(&self, now: SystemTime) -> bool {
        self.expires_at
            .is_some_and(|expiry| expiry > now + EXPIRY_MARGIN)
    }
}

/// Where a secret lives, for `popget accounts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// An item of the OS keyring.
    Keyring {
        service: &'static str,
        account: String,
    },
    /// A file readable only by the user.
    File(PathBuf),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Keyring { service, account } => {
                write!(f, "OS keyring (service {service}, user {account})")
            }
            Location::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Why tokens could not be read, saved or locked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Keyring(#[from] KeyringError),
    /// The record is not one popget wrote (its content is not shown: it may hold tokens).
    #[error("the token record in {location} is damaged; run `popget login` again")]
    Damaged { location: Location },
    #[error("{} holds tokens but can be read by others; run chmod 600 on it", path.display())]
    Exposed { path: PathBuf },
    #[error("another popget has been refreshing this token for {}s; giving up", LOCK_WAIT.as_secs())]
    LockTimeout,
}

/// Where the tokens of one login are read and saved.
pub trait TokenStore: Send + Sync {
    /// The saved tokens, if any.
    fn load(&self) -> Result<Option<Tokens>, StoreError>;
    /// Saves `tokens` durably, replacing the previous record only once the new one is safe.
    fn save(&self, tokens: &Tokens) -> Result<(), StoreError>;
    /// Deletes the record; `false` when there was none.
    fn delete(&self) -> Result<bool, StoreError>;
    /// Where the record lives.
    fn location(&self) -> Location;
    /// The file locked while this login's tokens are refreshed.
    fn lock_path(&self) -> &Path;

    /// Waits until no other process or thread refreshes these tokens and holds that lock until
    /// the guard is dropped.
    fn lock_for_refresh(&self) -> Result<RefreshLock, StoreError> {
        RefreshLock::acquire(self.lock_path())
    }
}

/// Tokens in `STATE/oauth/NAME.json`, mode 0600 in a 0700 directory.
#[derive(Debug, Clone)]
pub struct FileTokenStore {
    path: PathBuf,
    lock: PathBuf,
}

/// Tokens in the OS keyring; the refresh lock is still a file under the state directory.
#[derive(Debug, Clone)]
pub struct KeyringTokenStore {
    name: String,
    lock: PathBuf,
}

/// The store for the login `name` (an account name, or a name several accounts share): where
/// its tokens already are, else the keyring when one answers, else a file under `state_dir`.
pub fn open(name: &str, state_dir: &Path) -> Box<dyn TokenStore> {
    let file = FileTokenStore::new(state_dir, name);
    if file.path.exists() {
        return Box::new(file);
    }
    if os_keyring::probe().is_ok() {
        return Box::new(KeyringTokenStore::new(state_dir, name));
    }
    Box::new(file)
}

/// Where the tokens of `name` are saved now, if anywhere.
pub fn locate(name: &str, state_dir: &Path) -> Result<Option<Location>, StoreError> {
    let file = FileTokenStore::new(state_dir, name);
    if file.path.exists() {
        return Ok(Some(file.location()));
    }
    let keyring = KeyringTokenStore::new(state_dir, name);
    match os_keyring::load(TOKEN_SERVICE, name) {
        Ok(Some(_)) => Ok(Some(keyring.location())),
        Ok(None) => Ok(None),
        Err(e) if e.is_absent() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Deletes the tokens of `name` wherever they are (`popget logout`); `false` when there were
/// none. An unreachable keyring cannot hold them.
pub fn delete_everywhere(name: &str, state_dir: &Path) -> Result<bool, StoreError> {
    let in_file = FileTokenStore::new(state_dir, name).delete()?;
    let in_keyring = match os_keyring::delete(TOKEN_SERVICE, name) {
        Ok(deleted) => deleted,
        Err(e) if e.is_absent() => false,
        Err(e) => return Err(e.into()),
    };
    Ok(in_file || in_keyring)
}

impl FileTokenStore {
    pub fn new(state_dir: &Path, name: &str) -> FileTokenStore {
        let dir = state_dir.join("oauth");
        let stem = file_stem(name);
        FileTokenStore {
            path: dir.join(format!("{stem}.json")),
            lock: dir.join(format!("{stem}.lock")),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl TokenStore for FileTokenStore {
    fn load(&self) -> Result<Option<Tokens>, StoreError> {
        let text = match fs::read(&self.path) {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(io_error("read", &self.path, source)),
        };
        let mode = fs::metadata(&self.path)
            .map_err(|source| io_error("inspect", &self.path, source))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(StoreError::Exposed {
                path: self.path.clone(),
            });
        }
        decode(&text).map(Some).ok_or(StoreError::Damaged {
            location: self.location(),
        })
    }

    fn save(&self, tokens: &Tokens) -> Result<(), StoreError> {
        let dir = self
            .path
            .parent()
            .expect("the token file is in a directory");
        create_private_dir(dir)?;
        let mut temporary = tempfile::Builder::new()
            .prefix(".tokens")
            .tempfile_in(dir)
            .map_err(|source| io_error("create a file in", dir, source))?;
        let text = encode(tokens);
        temporary
            .write_all(text.as_bytes())
            .and_then(|()| temporary.as_file().sync_all())
            .map_err(|source| io_error("write", temporary.path(), source))?;
        temporary
            .persist(&self.path)
            .map_err(|e| io_error("replace", &self.path, e.error))?;
        sync_dir(dir)
    }

    fn delete(&self) -> Result<bool, StoreError> {
        match fs::remove_file(&self.path) {
            Ok(()) => {
                sync_dir(self.path.parent().expect("in a directory"))?;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(io_error("delete", &self.path, source)),
        }
    }

    fn location(&self) -> Location {
        Location::File(self.path.clone())
    }

    fn lock_path(&self) -> &Path {
        &self.lock
    }
}

impl KeyringTokenStore {
    pub fn new(state_dir: &Path, name: &str) -> KeyringTokenStore {
        KeyringTokenStore {
            name: name.into(),
            lock: FileTokenStore::new(state_dir, name).lock,
        }
    }
}

impl TokenStore for KeyringTokenStore {
    fn load(&self) -> Result<Option<Tokens>, StoreError> {
        let Some(text) = os_keyring::load(TOKEN_SERVICE, &self.name)? else {
            return Ok(None);
        };
        decode(text.expose().as_bytes())
            .map(Some)
            .ok_or(StoreError::Damaged {
                location: self.location(),
            })
    }

    fn save(&self, tokens: &Tokens) -> Result<(), StoreError> {
        let text = Secret::new(encode(tokens).to_string());
        Ok(os_keyring::store(TOKEN_SERVICE, &self.name, &text)?)
    }

    fn delete(&self) -> Result<bool, StoreError> {
        Ok(os_keyring::delete(TOKEN_SERVICE, &self.name)?)
    }

    fn location(&self) -> Location {
        Location::Keyring {
            service: TOKEN_SERVICE,
            account: self.name.clone(),
        }
    }

    fn lock_path(&self) -> &Path {
        &self.lock
    }
}

/// An exclusive `flock` on a login's lock file, released when dropped (or when the process
/// dies, so a crashed refresh never blocks the next one).
#[derive(Debug)]
pub struct RefreshLock {
    _file: File,
}

impl RefreshLock {
    fn acquire(path: &Path) -> Result<RefreshLock, StoreError> {
        create_private_dir(path.parent().expect("the lock file is in a directory"))?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(path)
            .map_err(|source| io_error("open", path, source))?;
        let deadline = Instant::now() + LOCK_WAIT;
        loop {
            match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(RefreshLock { _file: file }),
                Err(rustix::io::Errno::WOULDBLOCK | rustix::io::Errno::INTR) => {}
                Err(errno) => return Err(io_error("lock", path, errno.into())),
            }
            if Instant::now() >= deadline {
                return Err(StoreError::LockTimeout);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The record as saved: JSON with the expiry in Unix seconds. Zeroed when dropped.
#[derive(Serialize, Deserialize)]
struct Record {
    access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

impl Drop for Record {
    fn drop(&mut self) {
        self.access_token.zeroize();
        if let Some(token) = &mut self.refresh_token {
            token.zeroize();
        }
    }
}

fn encode(tokens: &Tokens) -> Zeroizing<String> {
    let record = Record {
        access_token: tokens.access_token.expose().to_string(),
        expires_at: tokens
            .expires_at
            .map(|at| at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()),
        refresh_token: tokens
            .refresh_token
            .as_ref()
            .map(|token| token.expose().to_string()),
    };
    Zeroizing::new(serde_json::to_string(&record).expect("a record always serializes"))
}

fn decode(bytes: &[u8]) -> Option<Tokens> {
    let record: Record = serde_json::from_slice(bytes).ok()?;
    Some(Tokens {
        access_token: Secret::new(record.access_token.clone()),
        expires_at: record
            .expires_at
            .map(|secs| UNIX_EPOCH + Duration::from_secs(secs)),
        refresh_token: record
            .refresh_token
            .as_ref()
            .map(|token| Secret::new(token.clone())),
    })
}

/// A file name for any login name: bytes outside `[A-Za-z0-9._-]` and a leading dot become
/// `%XX`, so names with slashes or spaces stay inside the directory and never collide.
fn file_stem(name: &str) -> String {
    // Letters, digits, `_`, `-` and `.` stay; a leading `.` is escaped too (no hidden file).
    const ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'_')
        .remove(b'-')
        .remove(b'.');
    let stem = percent_encoding::utf8_percent_encode(name, ESCAPED).to_string();
    match stem.strip_prefix('.') {
        Some(rest) => format!("%2E{rest}"),
        None if stem.is_empty() => "%00".to_string(),
        None => stem,
    }
}

/// Creates `dir` (and its parents) with mode 0700 where missing, each new name made durable,
/// as for every directory popget creates ([`crate::durable::create_private_dir`]).
fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    crate::durable::create_private_dir(dir)
        .map_err(|error| io_error("create", &error.path, error.source))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    crate::durable::sync_dir(dir).map_err(|source| io_error("fsync", dir, source))
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> StoreError {
    StoreError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(access: &str, refresh: Option<&str>) -> Tokens {
        Tokens {
            access_token: Secret::new(access.into()),
            expires_at: Some(UNIX_EPOCH + Duration::from_secs(2_000_000_000)),
            refresh_token: refresh.map(|r| Secret::new(r.into())),
        }
    }

    #[test]
    fn a_saved_record_reads_back_and_is_private() {
        let state = tempfile::tempdir().unwrap();
        let store = FileTokenStore::new(state.path(), "work");
        assert!(store.load().unwrap().is_none());
        store.save(&tokens("a1", Some("r1"))).unwrap();
        let loaded = store.load().unwrap().unwrap();
        assert_eq!(loaded.access_token.expose(), "a1");
        assert_eq!(loaded.refresh_token.unwrap().expose(), "r1");
        assert_eq!(loaded.expires_at, tokens("", None).expires_at);
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(store.path()), 0o600);
        assert_eq!(mode(store.path().parent().unwrap()), 0o700);
    }

    #[test]
    fn a_record_readable_by_others_is_refused() {
        let state = tempfile::tempdir().unwrap();
        let store = FileTokenStore::new(state.path(), "work");
        store.save(&tokens("a1", None)).unwrap();
        fs::set_permissions(store.path(), fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(store.load(), Err(StoreError::Exposed { .. })));
    }

    #[test]
    fn a_damaged_record_names_its_place_but_not_its_content() {
        let state = tempfile::tempdir().unwrap();
        let store = FileTokenStore::new(state.path(), "work");
        store.save(&tokens("a1", None)).unwrap();
        fs::write(store.path(), "{\"access_token\": \"leaky\"").unwrap();
        let error = store.load().unwrap_err();
        let shown = format!("{error} {error:?}");
        assert!(
            shown.contains("work.json") && !shown.contains("leaky"),
            "{shown}"
        );
    }

    #[test]
    fn debug_output_shows_no_token() {
        let shown = format!("{:?}", tokens("access-secret", Some("refresh-secret")));
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn names_cannot_escape_the_directory() {
        assert_eq!(file_stem("work"), "work");
        assert_eq!(file_stem("a/../b"), "a%2F..%2Fb");
        assert_eq!(file_stem(".hidden"), "%2Ehidden");
        assert_eq!(file_stem("me@x y"), "me%40x%20y");
        assert_eq!(file_stem(""), "%00");
    }

    #[test]
    fn freshness_keeps_a_minute_in_reserve() {
        let now = SystemTime::now();
        let with_expiry = |secs| Tokens {
            expires_at: Some(now + Duration::from_secs(secs)),
            ..tokens("a", None)
        };
        assert!(with_expiry(61).is_fresh(now));
        assert!(!with_expiry(60).is_fresh(now));
        assert!(!Tokens {
            expires_at: None,
            ..tokens("a", None)
        }
        .is_fresh(now));
    }

    #[test]
    fn the_refresh_lock_excludes_a_second_holder_until_dropped() {
        let state = tempfile::tempdir().unwrap();
        let store = FileTokenStore::new(state.path(), "work");
        let first = store.lock_for_refresh().unwrap();
        let file = File::open(store.lock_path()).unwrap();
        assert!(rustix::fs::flock(&file, FlockOperation::NonBlockingLockShared).is_err());
        drop(first);
        assert!(rustix::fs::flock(&file, FlockOperation::NonBlockingLockShared).is_ok());
    }
}
