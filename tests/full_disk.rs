//! A real full disk: the mailbox on a small tmpfs that fills part way through a fetch from a
//! real Dovecot, at many fill points. The failing run must exit 74 with only whole messages in
//! the mailbox, each recorded, none deleted unless it is there; once the filesystem grows, the
//! next run delivers every message exactly once and empties the server.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::dovecot::Dovecot;
use crate::harness::{maildir_messages, parse_mboxrd, sorted, Popget, Run};

/// A tmpfs mounted for the length of a test, unmounted when dropped.
struct SmallDisk {
    _dir: tempfile::TempDir,
    mount_point: PathBuf,
}

impl SmallDisk {
    fn mount(kib: u64) -> SmallDisk {
        // SAFETY: geteuid has no preconditions.
        assert_eq!(
            unsafe { libc::geteuid() },
            0,
            "the full-disk tests mount a tmpfs and must run as root (CI does)"
        );
        let dir = tempfile::tempdir().unwrap();
        let mount_point = dir.path().join("disk");
        std::fs::create_dir(&mount_point).unwrap();
        mount(
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={kib}k,mode=0700"),
                "tmpfs",
            ],
            &mount_point,
        );
        SmallDisk {
            _dir: dir,
            mount_point,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.mount_point.join(name)
    }

    fn grow(&self, kib: u64) {
        mount(&["-o", &format!("remount,size={kib}k")], &self.mount_point);
    }
}

fn mount(args: &[&str], target: &Path) {
    let status = Command::new("mount")
        .args(args)
        .arg(target)
        .status()
        .expect("mount runs");
    assert!(
        status.success(),
        "mount {args:?} {} failed",
        target.display()
    );
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.mount_point)
            .status();
    }
}

/// Messages of uneven sizes (1 to 40 KiB), each distinct, so that the disk fills in the middle
/// of a message at most fill points; ~2.7 MB in all.
fn messages(count: usize) -> Vec<Vec<u8>> {
    let mut seed: u64 = 0x5eed;
    (0..count)
        .map(|n| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let size = 1024 + (seed >> 33) as usize % (40 * 1024);
            let mut message = format!("Subject: message {n}\nFrom: a@example.org\n\n").into_bytes();
            let line = format!("From the body of {n}, a line of text.\n.dot {n}\n");
            while message.len() < size {
                message.extend_from_slice(line.as_bytes());
            }
            message
        })
        .collect()
}

#[derive(Clone, Copy, Debug)]
enum Format {
    Maildir,
    Mbox,
}

/// What the mailbox holds, as whole messages; panics on a torn one (mbox) or on NUL padding.
fn delivered(format: Format, mailbox: &Path) -> Vec<Vec<u8>> {
    match format {
        Format::Maildir => {
            let tmp = std::fs::read_dir(mailbox.join("tmp")).map_or(0, |d| d.count());
            assert_eq!(tmp, 0, "files left in {}/tmp", mailbox.display());
            maildir_messages(mailbox)
        }
        Format::Mbox => match std::fs::read(mailbox) {
            Ok(text) => {
                assert!(!text.contains(&0), "NUL bytes in the mbox");
                sorted(parse_mboxrd(&text))
            }
            Err(_) => Vec::new(),
        },
    }
}

/// The number of ids in the account's state file (its `end N` line).
fn recorded(state: &Path) -> usize {
    let text = std::fs::read_to_string(state).unwrap_or_default();
    text.lines()
        .rev()
        .find_map(|line| line.strip_prefix("end "))
        .map_or(0, |n| n.parse().unwrap())
}

fn json_count(run: &Run, key: &str) -> u64 {
    let document: serde_json::Value = serde_json::from_str(&run.stdout())
        .unwrap_or_else(|e| panic!("--json output: {e}\n{}", run.stdout()));
    document["accounts"][0][key].as_u64().unwrap()
}

/// Each message by its subject line and length, for readable failures.
fn describe(messages: &[Vec<u8>]) -> Vec<String> {
    messages
        .iter()
        .map(|m| {
            let first = m.split(|&b| b == b'\n').next().unwrap_or_default();
            format!("{} ({} octets)", String::from_utf8_lossy(first), m.len())
        })
        .collect()
}

/// Fills the disk at each of `sizes` (KiB) in turn and checks the failing run and the rerun.
fn sweep(format: Format, delete: bool, state_on_disk: bool, sizes: &[u64]) {
    let all = messages(120);
    let dovecot = Dovecot::start();
    let mut failures = 0;
    for &kib in sizes {
        for message in &all {
            dovecot.deliver("alice", message);
        }
        let disk = SmallDisk::mount(kib);
        let popget = Popget::new();
        let mailbox = match format {
            Format::Maildir => disk.path("Maildir"),
            Format::Mbox => disk.path("inbox.mbox"),
        };
        let state = if state_on_disk {
            disk.path("state/account.state")
        } else {
            popget.path("account.state")
        };
        let mut args: Vec<String> = vec!["fetch".into(), "--json".into()];
        args.extend(dovecot.args("implicit", "alice"));
        args.push(match format {
            Format::Maildir => "--maildir".into(),
            Format::Mbox => "--mbox".into(),
        });
        args.push(mailbox.display().to_string());
        args.push("--state".into());
        args.push(state.display().to_string());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut first_args = args.clone();
        if delete {
            first_args.push("--delete");
        }

        let run = popget.run(&first_args);
        let context = format!("{format:?} delete={delete} tmpfs {kib} KiB");
        assert_eq!(
            run.code(),
            74,
            "{context}: the disk should fill\n{}",
            run.stderr()
        );
        assert!(!run.stderr().contains("panicked"), "{}", run.stderr());
        failures += 1;
        let have = delivered(format, &mailbox);
        for message in &have {
            assert!(all.contains(message), "{context}: a message not served");
        }
        let distinct: std::collections::BTreeSet<&Vec<u8>> = have.iter().collect();
        assert_eq!(distinct.len(), have.len(), "{context}: a message twice");
        // Deleted messages leave the state once the server confirmed their deletion.
        let deleted = json_count(&run, "deleted");
        assert_eq!(
            recorded(&state) as u64 + deleted,
            have.len() as u64,
            "{context}: records vs mailbox"
        );
        assert_eq!(
            json_count(&run, "delivered"),
            have.len() as u64,
            "{context}: the summary counts what was recorded"
        );
        let on_server = dovecot.stored("alice");
        for message in &all {
            assert!(
                on_server.contains(message) || have.contains(message),
                "{context}: a message exists nowhere"
            );
        }
        if !delete {
            assert_eq!(on_server.len(), all.len(), "{context}: keep mode deleted");
        }

        disk.grow(16 * 1024);
        let mut rerun_args = args.clone();
        rerun_args.push("--delete");
        popget.run(&rerun_args).expect_code(0);
        assert_eq!(
            describe(&delivered(format, &mailbox)),
            describe(&sorted(all.clone())),
            "{context}: after the rerun every message exactly once"
        );
        assert!(
            dovecot.stored("alice").is_empty(),
            "{context}: server not emptied"
        );
    }
    assert_eq!(failures, sizes.len());
}

/// Fill points from a few messages in to most of the way through (the mailbox takes ~2.7 MB).
const SIZES: &[u64] = &[64, 200, 416, 700, 1000, 1300, 1700, 2100, 2400];

#[test]
fn a_full_disk_under_an_mbox_loses_nothing_keeping() {
    sweep(Format::Mbox, false, false, SIZES);
}

#[test]
fn a_full_disk_under_an_mbox_loses_nothing_deleting() {
    sweep(Format::Mbox, true, false, SIZES);
}

#[test]
fn a_full_disk_under_a_maildir_loses_nothing_keeping() {
    sweep(Format::Maildir, false, false, SIZES);
}

#[test]
fn a_full_disk_under_a_maildir_loses_nothing_deleting() {
    sweep(Format::Maildir, true, false, SIZES);
}

/// The journal and the state file on the full disk too: a torn journal line or a state that
/// cannot be rewritten must not lose a record or block the next run.
#[test]
fn a_full_disk_under_the_state_too_loses_nothing() {
    sweep(Format::Mbox, true, true, &[100, 900, 1900]);
    sweep(Format::Maildir, true, true, &[100, 900, 1900]);
}
