//! A running `popget daemon` for the tests: started on the sandbox's `config.toml`, its
//! standard error in a file the tests wait on, stopped by SIGTERM or killed when dropped.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::Popget;

/// A running `popget daemon`, its standard error in a file; killed if a test fails.
pub struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    pub fn start(popget: &Popget, env: &[(&str, &str)], args: &[&str]) -> Daemon {
        let log = popget.path("daemon.log");
        let mut command = popget.command();
        command
            .arg("--config")
            .arg(popget.path("config.toml"))
            .arg("daemon")
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap());
        Daemon {
            child: command.spawn().expect("popget daemon starts"),
            log,
        }
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log holds `needle` `times` times; fails with the log after `within`.
    #[track_caller]
    pub fn wait_for(&self, needle: &str, times: usize, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let log = self.log();
            if log.matches(needle).count() >= times {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} (x{times}) within {within:?}; the log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: a plain syscall to our own child, not yet reaped.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, signal);
        }
    }

    /// Sends SIGTERM and waits (at most 15 s) for the exit.
    pub fn stop(mut self) -> (ExitStatus, String) {
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, self.log());
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not stop; the log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
