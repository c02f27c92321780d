//! The file-system steps that make what popget writes survive a power loss: private
//! directories whose names are durable, and directory fsyncs after a rename.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// A directory (or one of its parents) that could not be created or made durable.
#[derive(Debug, thiserror::Error)]
#[error("cannot create {}: {source}", path.display())]
pub struct CantCreateDir {
    pub path: PathBuf,
    pub source: io::Error,
}

/// The directory a file is in: `.` for a bare file name.
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Creates a directory and any missing parents, readable by the owner only, and makes every
/// name it creates durable.
///
/// The rule for every directory popget creates (mailboxes, state): each new directory's parent
/// is fsynced, up to the first directory that already existed, before the call returns and so
/// before anything can depend on it. Without that, a power loss after the server deleted the
/// mail could take a whole new mailbox (or its record) with it.
pub fn create_private_dir(path: &Path) -> Result<(), CantCreateDir> {
    let cant_create = |path: &Path, source| CantCreateDir {
        path: path.to_path_buf(),
        source,
    };
    if path.is_dir() {
        return Ok(());
    }
    // The missing directories, deepest first.
    let mut missing = Vec::new();
    for ancestor in path.ancestors() {
        if ancestor.as_os_str().is_empty() {
            break;
        }
        match fs::symlink_metadata(ancestor) {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => missing.push(ancestor),
            Err(source) => return Err(cant_create(ancestor, source)),
        }
    }
    for directory in missing.into_iter().rev() {
        match fs::DirBuilder::new().mode(0o700).create(directory) {
            Ok(()) => {}
            // Another process made it meanwhile; its name is synced below all the same.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && directory.is_dir() => {}
            Err(source) => return Err(cant_create(directory, source)),
        }
        sync_dir(parent_dir(directory)).map_err(|source| cant_create(directory, source))?;
    }
    if path.is_dir() {
        Ok(())
    } else {
        Err(cant_create(
            path,
            io::Error::other("exists and is not a directory"),
        ))
    }
}

/// Makes a directory's entries (new names, renames) durable.
pub fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

/// Replaces the file at `path` with what `write` writes, so that readers see the old file or
/// the new one, never a mix, and a power loss keeps one of them: a temporary file (mode 0600,
/// named `prefix...`) in the same directory, fsync, rename over `path`, fsync of the directory.
/// The directory must exist.
pub fn replace_file(
    path: &Path,
    prefix: &str,
    write: impl FnOnce(&mut BufWriter<&mut File>) -> io::Result<()>,
) -> io::Result<()> {
    let directory = parent_dir(path);
    let mut temporary = tempfile::Builder::new()
        .prefix(prefix)
        .tempfile_in(directory)?;
    {
        let mut out = BufWriter::with_capacity(64 * 1024, temporary.as_file_mut());
        write(&mut out)?;
        out.flush()?;
    }
    temporary.as_file().sync_all()?;
    temporary.persist(path).map_err(|e| e.error)?;
    sync_dir(directory)
}
