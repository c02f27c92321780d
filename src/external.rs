//! Runs the user's own commands (an MDA, a filter, a password command) through the shell, with
//! a time limit.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use wait_timeout::ChildExt;
use zeroize::Zeroizing;

/// A command that could not be started, or not waited for.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {command:?}")]
pub struct RunError {
    /// "run" or "wait for".
    pub action: &'static str,
    pub command: String,
    #[source]
    pub source: io::Error,
}

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
pub fn run(command: &str, stdin: File, timeout: Duration) -> Result<Ended, RunError> {
    run_with_env(command, stdin, timeout, &[])
}

/// [`run`] with these variables added to the command's environment.
pub fn run_with_env(
    command: &str,
    stdin: File,
    timeout: Duration,
    env: &[(&str, String)],
) -> Result<Ended, RunError> {
    let failed = |action, source| RunError {
        action,
        command: command.to_string(),
        source,
    };
    let mut child = shell(command)
        .envs(env.iter().map(|(name, value)| (name, value)))
        .stdin(Stdio::from(stdin))
        .stdout(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| failed("run", e))?;
    match wait(&mut child, timeout, true) {
        Ok(Some(status)) => Ok(status.code().map_or(Ended::Killed, Ended::Exited)),
        Ok(None) => Ok(Ended::TimedOut),
        Err(e) => Err(failed("wait for", e)),
    }
}

/// Runs `command` with `sh -c`, popget's own standard input and error, and returns how it
/// exited and what it printed on standard output, or `None` if that took longer than
/// `timeout` (the command is then stopped). Unlike [`run`], the command stays in popget's
/// process group, so that it can ask on the terminal (a GnuPG passphrase, say); only the
/// shell itself is stopped at the time limit.
pub fn output(
    command: &str,
    timeout: Duration,
) -> io::Result<Option<(ExitStatus, Zeroizing<Vec<u8>>)>> {
    let start = Instant::now();
    let mut child = shell(command)
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .spawn()?;
    // Read on another thread, so that neither a full pipe nor a process the command left
    // running with its output open holds popget past the time limit.
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let (sender, printed) = mpsc::channel();
    thread::spawn(move || {
        let mut text = Zeroizing::new(Vec::new());
        let _ = sender.send(stdout.read_to_end(&mut text).map(|_| text));
    });
    let Some(status) = wait(&mut child, timeout, false)? else {
        return Ok(None);
    };
    match printed.recv_timeout(timeout.saturating_sub(start.elapsed())) {
        Ok(text) => Ok(Some((status, text?))),
        Err(_) => Ok(None),
    }
}

fn shell(command: &str) -> Command {
    let mut shell = Command::new("/bin/sh");
    shell.arg("-c").arg(command);
    shell
}

/// Waits at most `timeout` for `child` to exit. Past it, kills the child (and its process
/// group, if `group`: the child leads one) and returns `None`. A timeout too large to add to
/// the clock (timeout = 2^63 in the file) never ends.
fn wait(child: &mut Child, timeout: Duration, group: bool) -> io::Result<Option<ExitStatus>> {
    if let Some(status) = child.wait_timeout(timeout)? {
        return Ok(Some(status));
    }
    if group {
        let _ = rustix::process::kill_process_group(
            rustix::process::Pid::from_child(child),
            rustix::process::Signal::KILL,
        );
    }
    let _ = child.kill();
    let _ = child.wait();
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_captured_and_time_limited() {
        let (status, text) = output("echo hello; exit 3", Duration::from_secs(30))
            .unwrap()
            .unwrap();
        assert_eq!(status.code(), Some(3));
        assert_eq!(&text[..], b"hello\n");

        let start = Instant::now();
        assert!(output("sleep 5", Duration::from_millis(200))
            .unwrap()
            .is_none());
        // A process the command left behind holding its output open does not hold popget.
        assert!(output("sleep 5 & echo started", Duration::from_millis(200))
            .unwrap()
            .is_none());
        assert!(start.elapsed() < Duration::from_secs(20));
    }

    #[test]
    fn a_command_past_its_time_is_stopped_with_what_it_started() {
        let start = Instant::now();
        let stdin = File::open("/dev/null").unwrap();
        let ended = run("sleep 5; true", stdin, Duration::from_millis(200)).unwrap();
        assert!(matches!(ended, Ended::TimedOut));
        let stdin = File::open("/dev/null").unwrap();
        assert!(matches!(
            run("exit 4", stdin, Duration::MAX).unwrap(),
            Ended::Exited(4)
        ));
        assert!(start.elapsed() < Duration::from_secs(20));
    }
}
