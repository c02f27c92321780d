//! Maildir delivery: write into tmp/, fsync each file, move the batch into new/ under unique
//! names, fsync new/.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::syncer::Syncer;
use super::{check_body, Failure, Fill, Intent, Journal, Mailbox, Placement, Staged, StagedKind};
use crate::durable::{create_private_dir, sync_dir};
use crate::error::Error;

static DELIVERY_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A Maildir (`cur/`, `new/`, `tmp/`), created with mode 0700 where missing.
pub struct Maildir {
    root: PathBuf,
    host: String,
    syncer: Syncer,
}

impl Maildir {
    pub fn open(root: &Path) -> Result<Maildir, Error> {
        // Every directory made here, the Maildir's own name included, is durable before a
        // message is placed in it (see `create_private_dir`).
        for sub in ["cur", "new", "tmp"] {
            create_private_dir(&root.join(sub))?;
        }
        // Intents name files by absolute path, so that a later run finds them from anywhere.
        let root = fs::canonicalize(root).map_err(|source| Error::CantCreate {
            path: root.to_path_buf(),
            source,
        })?;
        Ok(Maildir {
            root,
            host: escaped_hostname(),
            syncer: Syncer::default(),
        })
    }

    /// The Maildir++ folder `.NAME` of the Maildir `root`, both created where missing, the
    /// folder with the `maildirfolder` file that marks it as one.
    pub fn open_folder(root: &Path, name: &str) -> Result<Maildir, Error> {
        Maildir::open(root)?;
        let folder = root.join(format!(".{name}"));
        let maildir = Maildir::open(&folder)?;
        let marker = maildir.root.join("maildirfolder");
        if !marker.exists() {
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&marker)
                .map_err(|source| Error::CantCreate {
                    path: marker.clone(),
                    source,
                })?;
            let _ = sync_dir(&maildir.root);
        }
        Ok(maildir)
    }

    /// `time.MusecPpidQcounter.host`: unique per delivery on this host, even for several
    /// popget processes in the same microsecond.
    fn unique_name(&self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let counter = DELIVERY_COUNTER.fetch_add(1, Ordering::Relaxed);
        format!(
            "{}.M{}P{}Q{}.{}",
            now.as_secs(),
            now.subsec_micros(),
            std::process::id(),
            counter,
            self.host
        )
    }

    fn create_temporary(&self) -> Result<(String, PathBuf, File), Failure> {
        let mut attempts = 0;
        loop {
            let name = self.unique_name();
            let path = self.root.join("tmp").join(staging_name(&name));
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
            {
                Ok(file) => return Ok((name, path, file)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 5 => attempts += 1,
                Err(e) => {
                    return Err(Failure::Mailbox(Error::io(
                        format!(
                            "cannot create a file in {}",
                            self.root.join("tmp").display()
                        ),
                        e,
                    )))
                }
            }
        }
    }
}

impl Mailbox for Maildir {
    fn stage(&self, fill: &mut Fill) -> Result<Staged, Failure> {
        let (name, temporary, file) = self.create_temporary()?;
        match write_and_start_writeback(file, fill, &temporary) {
            Ok((octets, file)) => Ok(Staged {
                octets,
                kind: StagedKind::Maildir {
                    temporary: Some(temporary),
                    name: format!("{name},S={octets}"),
                    synced: self.syncer.submit(file),
                },
            }),
            Err(failure) => {
                let _ = fs::remove_file(&temporary);
                Err(failure)
            }
        }
    }

    fn place(&self, mut staged: Vec<Staged>, journal: &mut Journal) -> Placement {
        let new = self.root.join("new");
        // Only messages whose data is on disk are placed: the batch is cut at the first whose
        // sync failed, and the files after it are removed with their `Staged`.
        let mut sync_error = None;
        let mut moves = Vec::with_capacity(staged.len());
        for (index, message) in staged.iter().enumerate() {
            let StagedKind::Maildir {
                temporary: Some(temporary),
                name,
                synced,
            } = &message.kind
            else {
                sync_error = Some(Error::Usage(
                    "a message staged elsewhere was handed to a Maildir".into(),
                ));
                staged.truncate(index);
                break;
            };
            if let Err(e) = synced.wait() {
                sync_error = Some(Error::io(format!("cannot sync {}", temporary.display()), e));
                staged.truncate(index);
                break;
            }
            moves.push((temporary.clone(), new.join(name)));
        }
        let intents: Vec<Intent> = moves
            .iter()
            .map(|(_, target)| Intent::Maildir {
                target: target.clone(),
            })
            .collect();
        if let Err(error) = journal(&intents) {
            return Placement {
                placed: 0,
                error: Some(error),
                ..Placement::default()
            };
        }
        let mut linked = Vec::new();
        let mut move_error = None;
        for (message, (from, target)) in staged.iter_mut().zip(&moves) {
            match move_without_replacing(from, target) {
                Ok(Moved::Renamed) => {}
                Ok(Moved::Linked) => linked.push(from.clone()),
                Err(e) => {
                    move_error = Some(Error::io(
                        format!("cannot move the message into {}", target.display()),
                        e,
                    ));
                    break;
                }
            }
            if let StagedKind::Maildir { temporary, .. } = &mut message.kind {
                *temporary = None;
            }
        }
        self.finish(staged, linked, sync_error.or(move_error))
    }
}

impl Maildir {
    /// Syncs new/ so that the names made there are durable, then removes the tmp/ names of the
    /// messages that were linked rather than renamed (only now: before the sync, the tmp/ name
    /// may be the only durable one). Reports how many are placed: those whose tmp/ name was
    /// taken away. If the sync fails nothing counts as placed; the journal lets the next run
    /// find what got through.
    fn finish(&self, staged: Vec<Staged>, linked: Vec<PathBuf>, error: Option<Error>) -> Placement {
        let placed = staged
            .iter()
            .take_while(|message| {
                matches!(
                    message.kind,
                    StagedKind::Maildir {
                        temporary: None,
                        ..
                    }
                )
            })
            .count();
        drop(staged);
        let new = self.root.join("new");
        if placed > 0 {
            if let Err(e) = sync_dir(&new) {
                return Placement {
                    placed: 0,
                    error: Some(Error::io(format!("cannot sync {}", new.display()), e)),
                    ..Placement::default()
                };
            }
        }
        for temporary in linked {
            let _ = fs::remove_file(temporary);
        }
        Placement {
            placed,
            error,
            ..Placement::default()
        }
    }
}

/// Staging files in tmp/ are named `popget.` + the message's unique name
/// (`time.MusecPpidQcounter.host`): the prefix tells them from other programs' files (Dovecot's
/// names have the same shape without it), the rest names the process and host that own them.
const STAGING_PREFIX: &str = "popget.";

fn staging_name(unique: &str) -> String {
    format!("{STAGING_PREFIX}{unique}")
}

/// The process that owns a staging file in tmp/, if the name is one of popget's on `host`.
fn staging_owner(file_name: &str, host: &str) -> Option<u32> {
    let unique = file_name.strip_prefix(STAGING_PREFIX)?;
    let mut parts = unique.splitn(3, '.');
    let (seconds, middle, name_host) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if !digits(seconds) || name_host != host {
        return None;
    }
    let (micros, rest) = middle.strip_prefix('M')?.split_once('P')?;
    let (pid, counter) = rest.split_once('Q')?;
    if !digits(micros) || !digits(pid) || !digits(counter) {
        return None;
    }
    pid.parse().ok()
}

/// The staging files of a Maildir's tmp/ that popget may remove: files it left behind when it
/// was stopped before they were placed (`kill -9`, power loss, a second Ctrl-C).
///
/// The rule: a file is removed only if its name is a popget staging name (see
/// [`STAGING_PREFIX`]) for this host, and the process it names is provably gone: no process
/// with that pid exists. Files of other programs never match; the files of a popget running
/// now (another account of `fetch --jobs`, another popget process) name a live process. A pid
/// reused by an unrelated process only delays the cleanup to a later run. The test is only
/// sound within one pid namespace: containers that share a Maildir must not share a host name
/// (by default each has its own). A staging file never holds the only copy of a message: it
/// is moved into new/ only after its intent is in the journal, and until then the message is
/// still on the server and not recorded.
pub struct Staging {
    tmp: PathBuf,
    host: String,
}

impl Staging {
    /// Removes the staging files whose process is gone; returns how many.
    pub fn remove_stale(&self) -> io::Result<usize> {
        let own = std::process::id();
        self.remove_where(|pid| pid != own && !crate::sys::process_exists(pid))
    }

    /// Removes this process's own staging files, for an immediate exit. Safe even while a
    /// batch is being placed: a message whose file is gone is not in new/, so the journal
    /// leaves it unrecorded and it is fetched again.
    pub fn remove_own(&self) -> io::Result<usize> {
        let own = std::process::id();
        self.remove_where(|pid| pid == own)
    }

    fn remove_where(&self, owner_is: impl Fn(u32) -> bool) -> io::Result<usize> {
        let mut removed = 0;
        for entry in fs::read_dir(&self.tmp)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| staging_owner(n, &self.host)) else {
                continue;
            };
            if owner_is(pid)
                && entry.file_type()?.is_file()
                && fs::remove_file(entry.path()).is_ok()
            {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

impl Maildir {
    /// This Maildir's staging files (see `Staging`).
    pub fn staging(&self) -> Staging {
        Staging {
            tmp: self.root.join("tmp"),
            host: self.host.clone(),
        }
    }
}

/// A Maildir intent is fulfilled if the file is in new/, or in cur/ (moved there by a mail
/// reader, possibly with flags appended after `:`).
pub(super) fn recover(target: &Path) -> Result<bool, Error> {
    // A name found may not be on disk yet (the sync of its directory failed, or never ran):
    // it counts once its directory is synced.
    let durable = |directory: &Path| {
        sync_dir(directory)
            .map(|()| true)
            .map_err(|e| Error::io(format!("cannot sync {}", directory.display()), e))
    };
    if target.exists() {
        return target.parent().map_or(Ok(true), durable);
    }
    let (Some(name), Some(new)) = (target.file_name(), target.parent()) else {
        return Ok(false);
    };
    let Some(root) = new.parent() else {
        return Ok(false);
    };
    let name = name.to_string_lossy().into_owned();
    let flagged = format!("{name}:");
    let found = fs::read_dir(root.join("cur")).map(|entries| {
        entries.flatten().any(|entry| {
            let entry = entry.file_name().to_string_lossy().into_owned();
            entry == name || entry.starts_with(&flagged)
        })
    });
    if found.unwrap_or(false) {
        return durable(&root.join("cur"));
    }
    Ok(false)
}

/// Writes the message and asks the kernel to start writing it back at once, even while every
/// sync thread is busy with earlier messages.
fn write_and_start_writeback(
    file: File,
    fill: &mut Fill,
    path: &Path,
) -> Result<(u64, File), Failure> {
    let mut out = BufWriter::with_capacity(256 * 1024, file);
    let body = fill(&mut out).map_err(Failure::Source)?;
    let octets = check_body(body, &path.display().to_string())?;
    let io_error = |e| Failure::Mailbox(Error::io(format!("cannot write {}", path.display()), e));
    let file = out.into_inner().map_err(|e| io_error(e.into_error()))?;
    crate::sys::start_writeback(&file);
    Ok((octets, file))
}

/// How a message got from tmp/ into new/.
#[derive(Debug)]
enum Moved {
    /// Renamed: the tmp/ name is gone.
    Renamed,
    /// Hard-linked: the tmp/ name is still there, to be removed once new/ is synced.
    Linked,
}

/// Moves the message `from` tmp/ `to` new/, never replacing a message already there: a
/// rename that refuses to replace where the kernel and filesystem offer one, else a link.
/// Link also tells why a move between two mounts (new/ bind-mounted) fails.
fn move_without_replacing(from: &Path, to: &Path) -> io::Result<Moved> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    use rustix::io::Errno;
    match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Err(Errno::INVAL | Errno::NOSYS | Errno::XDEV) => {}
        moved => return moved.map(|()| Moved::Renamed).map_err(io::Error::from),
    }
    fs::hard_link(from, to)?;
    Ok(Moved::Linked)
}

/// The host name with `/` and `:` escaped as maildir(5) asks.
fn escaped_hostname() -> String {
    let name = rustix::system::uname();
    escape_hostname(&name.nodename().to_string_lossy())
}

fn escape_hostname(name: &str) -> String {
    let name = name.replace('/', "\\057").replace(':', "\\072");
    if name.is_empty() {
        "localhost".to_string()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_move_never_replaces_a_message_already_there() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("tmp-name"), dir.path().join("new-name"));
        fs::write(&from, "incoming").unwrap();
        fs::write(&to, "already delivered").unwrap();
        let error = move_without_replacing(&from, &to).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&to).unwrap(), b"already delivered");
        assert_eq!(fs::read(&from).unwrap(), b"incoming");
        fs::remove_file(&to).unwrap();
        move_without_replacing(&from, &to).unwrap();
        assert!(!from.exists());
        assert_eq!(fs::read(&to).unwrap(), b"incoming");
    }

    #[test]
    fn folders_are_maildir_plus_plus() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("Mail");
        let folder = Maildir::open_folder(&root, "Lists.rust").unwrap();
        crate::store::testing::deliver(&folder, b"Subject: x\n\nhi\n").unwrap();
        for sub in ["cur", "new", "tmp"] {
            assert!(root.join(sub).is_dir());
        }
        let path = root.join(".Lists.rust");
        assert!(path.join("maildirfolder").is_file());
        assert_eq!(std::fs::read_dir(path.join("new")).unwrap().count(), 1);
        assert_eq!(std::fs::read_dir(root.join("new")).unwrap().count(), 0);
    }
    use crate::pop3::Body;
    use crate::store::testing::deliver;
    use std::collections::BTreeSet;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn only_popget_staging_files_of_gone_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let maildir = Maildir::open(dir.path()).unwrap();
        let tmp = dir.path().join("tmp");
        let host = maildir.host.clone();
        // A process that surely exited: a child that was waited for.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = child.id();
        child.wait().unwrap();
        let own = std::process::id();
        let names = [
            format!("popget.1700000000.M12P{gone}Q3.{host}"), // stale: removed
            format!("popget.1700000000.M12P{own}Q3.{host}"),  // ours, running
            format!("popget.1700000000.M12P{gone}Q3.other-host"),
            format!("1700000000.M12P{gone}Q3.{host}"), // Dovecot's shape, not ours
            "popget.notes".to_string(),
            format!("popget.x.M12P{gone}Q3.{host}"),
        ];
        for name in &names {
            fs::write(tmp.join(name), "x").unwrap();
        }
        assert_eq!(maildir.staging().remove_stale().unwrap(), 1);
        let left: BTreeSet<String> = fs::read_dir(&tmp)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left, names[1..].iter().cloned().collect());
        assert_eq!(maildir.staging().remove_own().unwrap(), 1);
        assert!(!tmp.join(&names[1]).exists());
    }

    #[test]
    fn staged_files_carry_the_staging_name_until_placed() {
        let dir = tempfile::tempdir().unwrap();
        let maildir = Maildir::open(dir.path()).unwrap();
        let staged = maildir
            .stage(&mut crate::store::testing::fill_with(b"x\n"))
            .unwrap();
        let names: Vec<String> = fs::read_dir(dir.path().join("tmp"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 1);
        assert_eq!(
            staging_owner(&names[0], &maildir.host),
            Some(std::process::id())
        );
        drop(staged);
    }

    #[test]
    fn escapes_hostnames() {
        assert_eq!(escape_hostname("a/b:c"), "a\\057b\\072c");
        assert_eq!(escape_hostname(""), "localhost");
    }

    #[test]
    fn unique_names_have_the_documented_shape() {
        let dir = tempfile::tempdir().unwrap();
        let maildir = Maildir::open(dir.path()).unwrap();
        let a = maildir.unique_name();
        let b = maildir.unique_name();
        assert_ne!(a, b);
        let parts: Vec<&str> = a.splitn(3, '.').collect();
        assert!(parts[0].bytes().all(|c| c.is_ascii_digit()));
        assert!(parts[1].starts_with('M') && parts[1].contains('P') && parts[1].contains('Q'));
        assert!(!a.contains('/') && !a.contains(':') && !a.starts_with('.'));
    }

    #[test]
    fn delivers_into_new_with_size_and_private_modes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("Mail/inbox");
        let maildir = Maildir::open(&root).unwrap();
        for sub in ["cur", "new", "tmp"] {
            let mode = fs::metadata(root.join(sub)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{sub}");
        }
        let intents = deliver(&maildir, b"Subject: x\n\nbody\n").unwrap();
        assert_eq!(intents.len(), 1);
        assert!(
            crate::store::recover(&intents[0]).unwrap(),
            "the intent names the placed file"
        );
        let entries: Vec<_> = fs::read_dir(root.join("new"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(entries.len(), 1);
        let name = entries[0].file_name().unwrap().to_str().unwrap();
        assert!(name.ends_with(",S=17"), "{name}");
        assert_eq!(fs::read(&entries[0]).unwrap(), b"Subject: x\n\nbody\n");
        assert_eq!(fs::read_dir(root.join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn a_failed_source_or_sink_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let maildir = Maildir::open(dir.path()).unwrap();
        let mut dropped = |sink: &mut dyn Write| -> Result<Body, Error> {
            sink.write_all(b"partial").unwrap();
            Err(Error::Connection {
                peer: "mock".into(),
                source: io::Error::from(io::ErrorKind::UnexpectedEof),
            })
        };
        assert!(matches!(
            maildir.stage(&mut dropped),
            Err(Failure::Source(_))
        ));
        let mut full = |_: &mut dyn Write| -> Result<Body, Error> {
            Ok(Body {
                octets: 3,
                sink_error: Some(io::Error::other("No space left on device")),
            })
        };
        assert!(matches!(maildir.stage(&mut full), Err(Failure::Mailbox(_))));
        for sub in ["new", "tmp", "cur"] {
            assert_eq!(
                fs::read_dir(dir.path().join(sub)).unwrap().count(),
                0,
                "{sub}"
            );
        }
    }

    #[test]
    fn recovery_finds_messages_in_new_or_moved_to_cur() {
        let dir = tempfile::tempdir().unwrap();
        let maildir = Maildir::open(dir.path()).unwrap();
        let intents = deliver(&maildir, b"x\n").unwrap();
        let placed = fs::read_dir(dir.path().join("new"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        let name = placed.file_name().into_string().unwrap();
        // A mail reader moved it to cur/ and added flags.
        fs::rename(
            placed.path(),
            dir.path().join("cur").join(format!("{name}:2,S")),
        )
        .unwrap();
        assert!(crate::store::recover(&intents[0]).unwrap());
        fs::remove_file(dir.path().join("cur").join(format!("{name}:2,S"))).unwrap();
        assert!(!crate::store::recover(&intents[0]).unwrap());
    }

    #[test]
    fn nothing_is_placed_when_the_journal_fails() {
        let dir = tempfile::tempdir().unwrap();
        let maildir = Maildir::open(dir.path()).unwrap();
        let staged = maildir
            .stage(&mut crate::store::testing::fill_with(b"x\n"))
            .unwrap();
        let placement = maildir.place(vec![staged], &mut |_: &[crate::store::Intent]| {
            Err(Error::config("journal full"))
        });
        assert_eq!(placement.placed, 0);
        assert!(placement.error.is_some());
        for sub in ["new", "tmp", "cur"] {
            assert_eq!(
                fs::read_dir(dir.path().join(sub)).unwrap().count(),
                0,
                "{sub}"
            );
        }
    }
}
