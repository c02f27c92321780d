//! Runs the user's own commands (an MDA, a filter) through the shell, with a time limit.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::error::Error;

/// How a command ended.
pub enum Ended {
    /// It exited with this status.
    Exited(i32),
    /// A signal ended it.
    Killed,
    /// It ran past the time limit and was stopped.
    TimedOut,
}

/// Runs `command` with `sh -c`, `stdin` as its standard input, its output discarded and its
/// errors on popget's standard error, and waits at most `timeout`. The command runs in a
/// process group of its own, so that stopping it stops whatever it started, too.
pub fn run(command: &str, stdin: File, timeout: Duration) -> Result<Ended, Error> {
    run_with_env(command, stdin, timeout, &[])
}

/// [`run`] with these variables added to the command's environment.
pub fn run_with_env(
    command: &str,
    stdin: File,
    timeout: Duration,
    env: &[(&str, String)],
) -> Result<Ended, Error> {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .envs(env.iter().map(|(name, value)| (name, value)))
        .stdin(Stdio::from(stdin))
        .stdout(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| Error::io(format!("cannot run {command:?}"), e))?;
    // A timeout too large to add to the clock (timeout = 2^63 in the file) never ends.
    let deadline = Instant::now().checked_add(timeout);
    let mut pause = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status.code().map_or(Ended::Killed, Ended::Exited)),
            Ok(None) if deadline.is_some_and(|deadline| Instant::now() >= deadline) => {
                if let Ok(group) = i32::try_from(child.id()) {
                    // SAFETY: a plain syscall; the group is the child's own.
                    unsafe {
                        libc::kill(-group, libc::SIGKILL);
                    }
                }
                let _ = child.kill();
                let _ = child.wait();
                return Ok(Ended::TimedOut);
            }
            Ok(None) => {
                sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(e) => return Err(Error::io(format!("cannot wait for {command:?}"), e)),
        }
    }
}
