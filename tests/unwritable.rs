//! Mailboxes popget cannot write into, for real: a read-only bind mount of the whole Maildir,
//! and a Maildir whose tmp/ the (unprivileged) user may not write. The message being read
//! when the mailbox fails must not desynchronize the session: a clear error, nothing
//! delivered partially, nothing deleted, and a later run with a usable mailbox delivers
//! everything exactly once.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::fake::{numbered_messages, FakeServer, Script};
use crate::harness::{maildir_messages, namespace, server, sorted, Popget, Run};

const NOBODY: u32 = 65534;

fn bodies(n: usize) -> Vec<Vec<u8>> {
    numbered_messages(n).into_iter().map(|(_, b)| b).collect()
}

fn fetch_command(popget: &Popget, server: &FakeServer, maildir: &Path) -> Command {
    let state = popget.path("account.state");
    let mut command = popget.command();
    command
        .env("POPGET_PASSWORD", "secret")
        .arg("fetch")
        .args(server.args())
        .args(["--auth", "user", "--delete", "--maildir"])
        .arg(maildir)
        .arg("--state")
        .arg(state);
    command
}

/// Runs `command` as the unprivileged user nobody.
fn as_nobody(command: &Command) -> Command {
    let mut wrapped = Command::new("setpriv");
    wrapped
        .args([
            format!("--reuid={NOBODY}"),
            format!("--regid={NOBODY}"),
            "--clear-groups".to_string(),
        ])
        .arg(command.get_program())
        .args(command.get_args());
    copy_environment(command, &mut wrapped);
    wrapped
}

fn copy_environment(from: &Command, to: &mut Command) {
    to.env_clear();
    for (key, value) in from.get_envs() {
        if let Some(value) = value {
            to.env(key, value);
        }
    }
    to.stdin(std::process::Stdio::null());
}

fn assert_nothing_lost(run: &Run, server: &FakeServer, maildir: &Path) {
    assert!(!run.stderr().contains("panicked"), "{}", run.stderr());
    assert!(
        !server.commands().iter().any(|c| c.starts_with("DELE")),
        "{:?}",
        server.commands()
    );
    assert_eq!(server.remaining().len(), 3);
    assert!(maildir_messages(maildir).is_empty());
}

/// A fake server with three messages, a sandbox and an empty Maildir in it.
fn setup() -> (FakeServer, Popget, PathBuf) {
    server::require_root("unwritable-mailbox");
    let server = FakeServer::start(Script {
        messages: numbered_messages(3),
        ..Script::default()
    });
    let popget = Popget::new();
    let maildir = popget.path("Maildir");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    (server, popget, maildir)
}

#[test]
fn a_read_only_maildir_fails_cleanly_and_loses_nothing() {
    let (server, popget, maildir) = setup();
    let command = fetch_command(&popget, &server, &maildir);
    let run = popget.run_with(&mut namespace::read_only(&maildir, &command));
    run.expect_code(74);
    assert!(
        run.stderr().contains("Read-only file system"),
        "{}",
        run.stderr()
    );
    assert_nothing_lost(&run, &server, &maildir);

    popget
        .run_with(&mut fetch_command(&popget, &server, &maildir))
        .expect_code(0);
    assert_eq!(maildir_messages(&maildir), sorted(bodies(3)));
    assert!(server.remaining().is_empty());
}

#[test]
fn a_maildir_tmp_the_user_cannot_write_fails_cleanly_and_loses_nothing() {
    let (server, popget, maildir) = setup();
    server::chown_tree(popget.home(), NOBODY, NOBODY);
    std::fs::set_permissions(maildir.join("tmp"), std::fs::Permissions::from_mode(0o500)).unwrap();
    let command = fetch_command(&popget, &server, &maildir);
    let run = popget.run_with(&mut as_nobody(&command));
    run.expect_code(74);
    assert!(
        run.stderr().contains("Permission denied"),
        "{}",
        run.stderr()
    );
    assert_nothing_lost(&run, &server, &maildir);

    std::fs::set_permissions(maildir.join("tmp"), std::fs::Permissions::from_mode(0o700)).unwrap();
    popget
        .run_with(&mut as_nobody(&fetch_command(&popget, &server, &maildir)))
        .expect_code(0);
    assert_eq!(maildir_messages(&maildir), sorted(bodies(3)));
    assert!(server.remaining().is_empty());
}
