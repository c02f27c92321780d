//! mbox delivery (mboxrd): spool each message, then append a batch under an fcntl lock and a
//! dotlock, fsync, and cut the file back if anything fails.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::FlockOperation;
use rustix::io::Errno;
use sha2::{Digest, Sha256};

use super::{Failure, Fill, Intent, Journal, Mailbox, MboxAppend, Placement, Staged, StagedKind};
use crate::error::Error;

/// How long to wait for a mail reader to release the mbox.
const LOCK_WAIT: Duration = Duration::from_secs(60);

/// A dotlock older than this, whose owner did not refresh it, is stale (liblockfile's rule).
const STALE_DOTLOCK: Duration = Duration::from_secs(300);

/// An mbox file in the mboxrd variant.
pub struct Mbox {
    path: PathBuf,
}

impl Mbox {
    /// Checks that the mbox is a regular file (or can be created) and not a symbolic link.
    pub fn open(path: &Path) -> Result<Mbox, Error> {
        match fs::symlink_metadata(path) {
            Ok(meta) if !meta.file_type().is_file() => {
                return Err(Error::CantCreate {
                    path: path.to_path_buf(),
                    source: io::Error::other("not a regular file (symbolic links are refused)"),
                })
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                crate::durable::create_private_dir(crate::durable::parent_dir(path))?;
                open_or_create(path).map_err(|source| Error::CantCreate {
                    path: path.to_path_buf(),
                    source,
                })?;
            }
            Err(source) => {
                return Err(Error::CantCreate {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
        Ok(Mbox {
            path: path.to_path_buf(),
        })
    }

    fn error(&self, what: &str, source: io::Error) -> Error {
        Error::io(format!("{what} mbox {}", self.path.display()), source)
    }

    /// The intents for appending `staged` at `start` after a separator of `separator` octets,
    /// and where each message will end.
    fn append_intents(
        &self,
        staged: &[Staged],
        start: u64,
        separator: u64,
    ) -> Result<(Vec<Intent>, Vec<u64>), Error> {
        // One intent per message: cut back to `truncate_to` if incomplete; complete if the
        // octets from `begin` to `end` hash to `digest`.
        let mut truncate_to = start;
        let mut begin = start + separator;
        let mut intents = Vec::with_capacity(staged.len());
        let mut ends = Vec::with_capacity(staged.len());
        for message in staged {
            let StagedKind::Mbox { length, digest, .. } = &message.kind else {
                return Err(Error::Usage(
                    "a message staged elsewhere was handed to an mbox".into(),
                ));
            };
            let end = begin + length;
            intents.push(Intent::Mbox(MboxAppend {
                path: self.path.clone(),
                truncate_to,
                begin,
                end,
                digest: *digest,
            }));
            ends.push(end);
            truncate_to = end;
            begin = end;
        }
        Ok((intents, ends))
    }

    /// Appends the staged messages at `start`. Returns how many octets the kernel took, which
    /// after an error is where the file's last complete write ends.
    fn append_all(
        &self,
        file: &File,
        start: u64,
        separator: &[u8],
        staged: &mut [Staged],
    ) -> (u64, Option<io::Error>) {
        let mut out = BufWriter::with_capacity(
            256 * 1024,
            PositionedWriter {
                file,
                position: start,
            },
        );
        let mut result = out.write_all(separator);
        for message in staged.iter_mut() {
            if result.is_err() {
                break;
            }
            if let StagedKind::Mbox {
                spool, from_line, ..
            } = &mut message.kind
            {
                result = write_framed(&mut out, from_line, spool);
            }
        }
        let result = result.and_then(|()| out.flush());
        // What is still buffered was never written: it is dropped, not flushed later.
        let (writer, _unwritten) = out.into_parts();
        (writer.position - start, result.err())
    }

    /// Cuts the file back to `length` (never longer than it is) and syncs it.
    fn cut_back(&self, file: &File, length: u64) -> io::Result<()> {
        if file.metadata()?.len() > length {
            file.set_len(length)?;
        }
        file.sync_all()
    }
}

/// Writes at an explicit position (pwrite) and counts what the kernel accepted, so that after
/// an error the caller knows exactly which octets reached the file.
struct PositionedWriter<'a> {
    file: &'a File,
    position: u64,
}

impl Write for PositionedWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let written = self.file.write_at(bytes, self.position)?;
        self.position += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Mailbox for Mbox {
    fn stage(&self, fill: &mut Fill) -> Result<Staged, Failure> {
        // The message is spooled first so that the mbox is locked only while complete messages
        // are copied in, never while the network is slow, and a dropped connection never
        // touches the mbox at all.
        let (mut spool, octets) = super::spool(fill)?;
        let spool_error = |e| Failure::Mailbox(Error::io("cannot read the spool file", e));
        let sender = sanitize_sender(&super::return_path(&mut spool).map_err(spool_error)?);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let from_line = format!("From {sender} {}\n", asctime_utc(now));
        // The exact bytes the append will write, measured and hashed now, so that the intent
        // can name them before anything touches the mbox.
        let mut measure = Digesting::default();
        write_framed(&mut measure, &from_line, &mut spool).map_err(spool_error)?;
        let (length, digest) = measure.finish();
        Ok(Staged {
            octets,
            kind: StagedKind::Mbox {
                spool,
                from_line,
                length,
                digest,
            },
        })
    }

    fn place(&self, mut staged: Vec<Staged>, journal: &mut Journal) -> Placement {
        let failed = |error| Placement {
            placed: 0,
            error: Some(error),
            ..Placement::default()
        };
        let file = match open_checked(&self.path) {
            Ok(file) => file,
            Err(error) => return failed(error),
        };
        let _locks = match MboxLocks::acquire(&file, &self.path) {
            Ok(locks) => locks,
            Err(error) => return failed(error),
        };
        let start = match file.metadata() {
            Ok(meta) => meta.len(),
            Err(e) => return failed(self.error("cannot inspect", e)),
        };
        let separator = match blank_line_needed(&file, start) {
            Ok(separator) => separator,
            Err(e) => return failed(self.error("cannot read", e)),
        };
        let (intents, ends) = match self.append_intents(&staged, start, separator.len() as u64) {
            Ok(planned) => planned,
            Err(error) => return failed(error),
        };
        if let Err(error) = journal(&intents) {
            return failed(error);
        }
        let (written, write_error) = self.append_all(&file, start, separator, &mut staged);
        // Only what is wholly in the file counts: the messages whose last octet the kernel took.
        // The file is cut back to the end of the last of them, so that no part of a message is
        // left behind, then synced; a failed sync leaves nothing of this batch counted.
        let whole = ends.partition_point(|&end| end <= start + written);
        let keep = if whole == 0 { start } else { ends[whole - 1] };
        let synced = match &write_error {
            None => file.sync_all(),
            Some(_) => self.cut_back(&file, keep),
        };
        if let Err(e) = synced {
            // Nothing of the batch can be trusted to be on disk: take all of it away, so that
            // settling the journal does not find it in the page cache and count it.
            let _ = self.cut_back(&file, start);
            return failed(self.error("cannot sync", e));
        }
        Placement {
            placed: whole,
            error: write_error.map(|e| self.error("cannot write", e)),
            ..Placement::default()
        }
    }
}

/// Reconciles an mbox intent: complete if its octets are there intact; an incomplete append at
/// the end of the file is cut away.
pub(super) fn recover(append: &MboxAppend) -> Result<bool, Error> {
    let MboxAppend {
        path,
        truncate_to,
        begin,
        end,
        digest,
    } = append;
    let (truncate_to, begin, end) = (*truncate_to, *begin, *end);
    if !path.exists() {
        return Ok(false);
    }
    let file = open_checked(path)?;
    let _locks = MboxLocks::acquire(&file, path)?;
    let io_error = |e| Error::io(format!("cannot recover mbox {}", path.display()), e);
    let size = file.metadata().map_err(io_error)?.len();
    if size >= end {
        let mut region = Digesting::default();
        let mut reader = BufReader::new(&file);
        reader.seek(SeekFrom::Start(begin)).map_err(io_error)?;
        io::copy(&mut reader.take(end - begin), &mut region).map_err(io_error)?;
        if region.finish().1 != *digest {
            return Ok(false);
        }
        // Found in the page cache is not yet on disk: it counts once it is.
        file.sync_all().map_err(io_error)?;
        return Ok(true);
    }
    if size > truncate_to {
        // The interrupted append is the end of the file: remove it.
        file.set_len(truncate_to).map_err(io_error)?;
        file.sync_all().map_err(io_error)?;
    }
    Ok(false)
}

/// Opens the mbox for appending, refusing anything but a regular file of ours.
fn open_checked(path: &Path) -> Result<File, Error> {
    let error = |what: &str, e| Error::io(format!("{what} mbox {}", path.display()), e);
    let file = open_or_create(path).map_err(|e| error("cannot open", e))?;
    let meta = file.metadata().map_err(|e| error("cannot inspect", e))?;
    if !meta.file_type().is_file() || meta.uid() != rustix::process::geteuid().as_raw() {
        return Err(error(
            "refusing",
            io::Error::other("not a regular file owned by you"),
        ));
    }
    Ok(file)
}

/// Writes one message as it appears in the mbox: From_ line, mboxrd-quoted text, and the
/// line end and blank line that end it.
fn write_framed(out: &mut dyn Write, from_line: &str, spool: &mut File) -> io::Result<()> {
    spool.seek(SeekFrom::Start(0))?;
    out.write_all(from_line.as_bytes())?;
    let mut quoted = MboxrdWriter::new(&mut *out);
    io::copy(
        &mut BufReader::with_capacity(256 * 1024, &mut *spool),
        &mut quoted,
    )?;
    quoted.finish()?;
    if !quoted.ends_with_newline() {
        out.write_all(b"\n")?;
    }
    out.write_all(b"\n")
}

/// Counts and hashes what is written to it.
#[derive(Default)]
struct Digesting {
    hasher: Sha256,
    length: u64,
}

impl Digesting {
    fn finish(self) -> (u64, [u8; 32]) {
        (self.length, self.hasher.finalize().into())
    }
}

impl Write for Digesting {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.hasher.update(bytes);
        self.length += bytes.len() as u64;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Opens the mbox, creating it if it is missing. A new file's name is made durable (its
/// directory fsynced) before anything is written into it, so that no message can be recorded
/// as delivered into a file a power loss would take away.
fn open_or_create(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
    for _ in 0..3 {
        match options.clone().create(false).open(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            opened => return opened,
        }
        match options.clone().create_new(true).open(path) {
            Ok(file) => {
                crate::durable::sync_dir(crate::durable::parent_dir(path))?;
                return Ok(file);
            }
            // Created by someone else in between: open theirs.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("it keeps appearing and disappearing"))
}

/// The separator that puts the new From_ line after a blank line.
fn blank_line_needed(file: &File, size: u64) -> io::Result<&'static [u8]> {
    if size == 0 {
        return Ok(b"");
    }
    let mut tail = [0u8; 2];
    let start = size.saturating_sub(2);
    let n = (size - start) as usize;
    file.read_exact_at(&mut tail[..n], start)?;
    Ok(match &tail[..n] {
        [b'\n', b'\n'] => b"",
        [.., b'\n'] => b"\n",
        _ => b"\n\n",
    })
}

/// The envelope sender made safe for the From_ line.
fn sanitize_sender(raw: &str) -> String {
    let trimmed = raw.trim();
    let address = trimmed
        .strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(trimmed);
    let safe: String = address
        .chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() {
                '-'
            } else {
                c
            }
        })
        .collect();
    if safe.is_empty() {
        "MAILER-DAEMON".to_string()
    } else {
        safe
    }
}

/// `Sat Jan  3 01:05:34 1996` for a time in seconds since the epoch, in UTC.
fn asctime_utc(seconds: u64) -> String {
    let time = i64::try_from(seconds)
        .ok()
        .and_then(|seconds| jiff::Timestamp::from_second(seconds).ok())
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    time.strftime("%a %b %e %H:%M:%S %Y").to_string()
}

/// Quotes mboxrd style while streaming: every line matching `^>*From ` gets one more `>`.
struct MboxrdWriter<W: Write> {
    inner: W,
    at_line_start: bool,
    /// At a line start: how many `>` were seen, and how much of "From " matched after them.
    quotes: u64,
    matched: usize,
    last_byte: Option<u8>,
}

impl<W: Write> MboxrdWriter<W> {
    fn new(inner: W) -> Self {
        MboxrdWriter {
            inner,
            at_line_start: true,
            quotes: 0,
            matched: 0,
            last_byte: None,
        }
    }

    /// Whether the text so far is empty or ends a line; call after [`MboxrdWriter::finish`].
    fn ends_with_newline(&self) -> bool {
        self.last_byte.is_none_or(|b| b == b'\n')
    }

    /// Writes the bytes held back at a line start, quoted or not.
    fn release(&mut self, quote: bool) -> io::Result<()> {
        if quote {
            self.inner.write_all(b">")?;
        }
        for _ in 0..self.quotes {
            self.inner.write_all(b">")?;
        }
        self.inner.write_all(&b"From "[..self.matched])?;
        self.quotes = 0;
        self.matched = 0;
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        if self.at_line_start && (self.quotes > 0 || self.matched > 0) {
            self.release(false)?;
        }
        Ok(())
    }
}

impl<W: Write> Write for MboxrdWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mut i = 0;
        while i < bytes.len() {
            if self.at_line_start {
                let byte = bytes[i];
                if self.matched == 0 && byte == b'>' {
                    self.quotes += 1;
                    i += 1;
                } else if byte == b"From "[self.matched] {
                    self.matched += 1;
                    i += 1;
                    if self.matched == 5 {
                        self.release(true)?;
                        self.at_line_start = false;
                    }
                } else {
                    self.release(false)?;
                    self.at_line_start = false;
                }
                self.last_byte = Some(byte);
                continue;
            }
            match memchr::memchr(b'\n', &bytes[i..]) {
                Some(offset) => {
                    self.inner.write_all(&bytes[i..=i + offset])?;
                    i += offset + 1;
                    self.at_line_start = true;
                    self.last_byte = Some(b'\n');
                }
                None => {
                    self.inner.write_all(&bytes[i..])?;
                    self.last_byte = bytes.last().copied();
                    i = bytes.len();
                }
            }
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.finish()?;
        self.inner.flush()
    }
}

/// The fcntl lock and the `<mbox>.lock` dotlock, taken in that order (Debian Policy 11.6) and
/// released when dropped.
struct MboxLocks<'a> {
    file: &'a File,
    dotlock: Option<PathBuf>,
}

impl<'a> MboxLocks<'a> {
    fn acquire(file: &'a File, path: &Path) -> Result<MboxLocks<'a>, Error> {
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        let mut pause = Duration::from_millis(20);
        loop {
            if fcntl_lock(file, FlockOperation::NonBlockingLockExclusive)? {
                match create_dotlock(path) {
                    Ok(dotlock) => return Ok(MboxLocks { file, dotlock }),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        let _ = fcntl_lock(file, FlockOperation::NonBlockingUnlock);
                    }
                    Err(e) => {
                        let _ = fcntl_lock(file, FlockOperation::NonBlockingUnlock);
                        return Err(Error::io(
                            format!("cannot create the dotlock for {}", path.display()),
                            e,
                        ));
                    }
                }
            }
            if std::time::Instant::now() >= deadline {
                return Err(Error::Temporary(format!(
                    "{} stayed locked by another program for {} s",
                    path.display(),
                    LOCK_WAIT.as_secs()
                )));
            }
            sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }
}

impl Drop for MboxLocks<'_> {
    fn drop(&mut self) {
        if let Some(dotlock) = &self.dotlock {
            let _ = fs::remove_file(dotlock);
        }
        let _ = fcntl_lock(self.file, FlockOperation::NonBlockingUnlock);
    }
}

/// Tries to take (or release) a whole-file fcntl lock without waiting; false if someone holds it.
fn fcntl_lock(file: &File, operation: FlockOperation) -> Result<bool, Error> {
    match rustix::fs::fcntl_lock(file, operation) {
        Ok(()) => Ok(true),
        Err(Errno::AGAIN | Errno::ACCESS) => Ok(false),
        Err(e) => Err(Error::io("cannot lock the mbox", e.into())),
    }
}

/// Creates `<mbox>.lock` NFS-safely: a unique file, hard-linked to the lock name. Returns
/// `Ok(None)` when the directory does not let us create files (the fcntl lock still holds).
fn create_dotlock(path: &Path) -> io::Result<Option<PathBuf>> {
    let mut lock_name = path.as_os_str().to_owned();
    lock_name.push(".lock");
    let lock_path = PathBuf::from(lock_name);
    let mut unique_name = lock_path.as_os_str().to_owned();
    unique_name.push(format!(
        ".{}.{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    ));
    let unique_path = PathBuf::from(unique_name);
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&unique_path)
    {
        Ok(mut file) => {
            let _ = writeln!(file, "{}", std::process::id());
        }
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return Ok(None),
        Err(e) => return Err(e),
    }
    let linked = fs::hard_link(&unique_path, &lock_path);
    let _ = fs::remove_file(&unique_path);
    match linked {
        Ok(()) => Ok(Some(lock_path)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            remove_if_stale(&lock_path);
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// Removes a dotlock whose holder is gone: the process it names no longer exists (as
/// liblockfile checks), or it is older than five minutes.
fn remove_if_stale(lock_path: &Path) {
    let Ok(meta) = fs::symlink_metadata(lock_path) else {
        return;
    };
    if !meta.file_type().is_file() {
        return;
    }
    let age = meta.modified().ok().and_then(|m| m.elapsed().ok());
    let holder_gone = fs::read_to_string(lock_path)
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok())
        .is_some_and(|pid| !crate::sys::process_exists(pid));
    if holder_gone || age.is_some_and(|age| age > STALE_DOTLOCK) {
        let _ = fs::remove_file(lock_path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quote(input: &[u8], chunk: usize) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut writer = MboxrdWriter::new(&mut out);
            for piece in input.chunks(chunk.max(1)) {
                writer.write_all(piece).unwrap();
            }
            writer.flush().unwrap();
        }
        out
    }

    #[test]
    fn mboxrd_quotes_from_lines_at_any_split() {
        let input: &[u8] =
            b"From me\n>From you\n>>From x\nFrom: header\nFromage\n>Fro\n From \nx From y\n>\nFrom";
        let expected: &[u8] = b">From me\n>>From you\n>>>From x\nFrom: header\nFromage\n>Fro\n From \nx From y\n>\nFrom";
        for chunk in 1..=input.len() {
            assert_eq!(quote(input, chunk), expected, "chunk {chunk}");
        }
    }

    #[test]
    fn formats_asctime_in_utc() {
        assert_eq!(asctime_utc(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(asctime_utc(820_631_134), "Wed Jan  3 01:05:34 1996");
        assert_eq!(asctime_utc(1_709_210_096), "Thu Feb 29 12:34:56 2024");
    }

    #[test]
    fn sanitises_envelope_senders() {
        assert_eq!(sanitize_sender("<a@b.example>"), "a@b.example");
        assert_eq!(sanitize_sender("<>"), "MAILER-DAEMON");
        assert_eq!(sanitize_sender(""), "MAILER-DAEMON");
        assert_eq!(sanitize_sender("<a b\nFrom evil@x>"), "a-b-From-evil@x");
    }

    fn deliver(mbox: &mut Mbox, message: &[u8]) -> Result<Vec<Intent>, Error> {
        crate::store::testing::deliver(mbox, message)
    }

    #[test]
    fn appends_framed_quoted_messages() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inbox");
        let mut mbox = Mbox::open(&path).unwrap();
        deliver(
            &mut mbox,
            b"Return-Path: <a@example.org>\nSubject: 1\n\nFrom here\n",
        )
        .unwrap();
        deliver(&mut mbox, b"Subject: 2\n\nno final newline").unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.split('\n').collect();
        assert!(lines[0].starts_with("From a@example.org "), "{text}");
        assert_eq!(lines[0].len(), "From a@example.org ".len() + 24);
        assert_eq!(
            &lines[1..5],
            [
                "Return-Path: <a@example.org>",
                "Subject: 1",
                "",
                ">From here"
            ]
        );
        assert_eq!(lines[5], "");
        assert!(lines[6].starts_with("From MAILER-DAEMON "), "{text}");
        assert!(
            text.ends_with("Subject: 2\n\nno final newline\n\n"),
            "{text:?}"
        );
        let mode = fs::metadata(&path).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        assert!(!dir.path().join("inbox.lock").exists());
    }

    #[test]
    fn a_hostile_return_path_cannot_forge_a_from_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inbox");
        let mut mbox = Mbox::open(&path).unwrap();
        deliver(
            &mut mbox,
            b"Return-Path: <a b\n From evil@x Mon Jan  1 00:00:00 2024>\n\nbody\n",
        )
        .unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.lines().filter(|l| l.starts_with("From ")).count(),
            1,
            "{text}"
        );
    }

    #[test]
    fn separates_from_an_existing_mbox_without_final_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inbox");
        fs::write(&path, b"From x Thu Jan  1 00:00:00 1970\nold").unwrap();
        let mut mbox = Mbox::open(&path).unwrap();
        deliver(&mut mbox, b"new\n").unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("From x Thu Jan  1 00:00:00 1970\nold\n\nFrom MAILER-DAEMON "),
            "{text:?}"
        );
    }

    #[test]
    fn refuses_symbolic_links() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        fs::write(&target, b"").unwrap();
        let link = dir.path().join("inbox");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(matches!(Mbox::open(&link), Err(Error::CantCreate { .. })));
    }

    #[test]
    fn a_failed_source_leaves_the_mbox_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inbox");
        fs::write(&path, b"From x Thu Jan  1 00:00:00 1970\nold\n\n").unwrap();
        let mbox = Mbox::open(&path).unwrap();
        let result = mbox.stage(&mut |sink: &mut dyn Write| {
            sink.write_all(b"partial").unwrap();
            Err(Error::Connection {
                peer: "mock".into(),
                source: io::Error::from(io::ErrorKind::UnexpectedEof),
            })
        });
        assert!(matches!(result, Err(Failure::Source(_))));
        assert_eq!(
            fs::read(&path).unwrap(),
            b"From x Thu Jan  1 00:00:00 1970\nold\n\n"
        );
    }

    #[test]
    fn recovery_keeps_complete_appends_and_cuts_partial_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inbox");
        let mut mbox = Mbox::open(&path).unwrap();
        deliver(&mut mbox, b"Subject: first\n\n1\n").unwrap();
        let before = fs::read(&path).unwrap();
        let intents = deliver(&mut mbox, b"Subject: second\n\nFrom the body\n").unwrap();
        assert!(
            crate::store::recover(&intents[0]).unwrap(),
            "a complete append counts"
        );
        let complete = fs::read(&path).unwrap();

        // A crash in the middle of the second append leaves part of it: recovery cuts it away.
        for cut in before.len() + 1..complete.len() {
            fs::write(&path, &complete[..cut]).unwrap();
            assert!(!crate::store::recover(&intents[0]).unwrap(), "cut at {cut}");
            assert_eq!(fs::read(&path).unwrap(), before, "cut at {cut}");
        }
        // Nothing written: not delivered, nothing changed.
        assert!(!crate::store::recover(&intents[0]).unwrap());
        assert_eq!(fs::read(&path).unwrap(), before);
    }

    #[test]
    fn recovery_does_not_cut_what_others_appended() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inbox");
        let mut mbox = Mbox::open(&path).unwrap();
        deliver(&mut mbox, b"Subject: first\n\n1\n").unwrap();
        let intents = deliver(&mut mbox, b"Subject: second\n\n2\n").unwrap();
        let complete = fs::read(&path).unwrap();
        // Our append was torn, then another program appended a long message after it.
        let mut torn = complete[..complete.len() - 5].to_vec();
        torn.extend_from_slice(
            b"\nFrom other Thu Jan  1 00:00:00 1970\nlong long long long body\n\n",
        );
        fs::write(&path, &torn).unwrap();
        assert!(!crate::store::recover(&intents[0]).unwrap());
        assert_eq!(
            fs::read(&path).unwrap(),
            torn,
            "someone else's mail is never cut"
        );
    }

    #[test]
    fn a_dotlock_left_by_a_dead_process_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inbox");
        let mut mbox = Mbox::open(&path).unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        fs::write(dir.path().join("inbox.lock"), format!("{dead}\n")).unwrap();
        let started = std::time::Instant::now();
        deliver(&mut mbox, b"Subject: x\n\ny\n").unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(!dir.path().join("inbox.lock").exists());
    }
}
