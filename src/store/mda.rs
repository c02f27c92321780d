//! MDA delivery: spool each message, then pipe it to a command (procmail, maildrop, a script)
//! whose exit status says whether it took the message.

use std::fs::File;
use std::time::Duration;

use super::{Failure, Fill, Handed, Journal, Mailbox, Placement, Staged, StagedKind};
use crate::error::Error;
use crate::external::{self, Ended};

/// sysexits' EX_TEMPFAIL: the MDA asks to be tried again later.
const TEMPFAIL: i32 = 75;

/// A shell command each message is piped to.
pub struct Mda {
    command: String,
    timeout: Duration,
}

impl Mda {
    /// `timeout` bounds each delivery; an MDA still running then is killed.
    pub fn new(command: &str, timeout: Duration) -> Mda {
        Mda {
            command: command.to_string(),
            timeout,
        }
    }

    /// Runs the MDA on one spooled message.
    fn deliver(&self, spool: &File, sender: &str) -> Handed {
        let command = self.command.replace("%F", sender);
        let stdin = match spool.try_clone() {
            Ok(file) => file,
            Err(e) => return Handed::Failed(Error::io("cannot read the spool file", e)),
        };
        let ended = match external::run(&command, stdin, self.timeout) {
            Ok(ended) => ended,
            Err(error) => return Handed::Failed(error.into()),
        };
        match ended {
            Ended::Exited(0) => Handed::Delivered,
            Ended::Exited(TEMPFAIL) => Handed::Failed(Error::Temporary(format!(
                "the MDA {command:?} asked to try again later (exit 75); the message stays on \
                 the server"
            ))),
            Ended::TimedOut => Handed::Failed(Error::Temporary(format!(
                "the MDA {command:?} did not finish within {} s and was stopped; the message \
                 stays on the server",
                self.timeout.as_secs()
            ))),
            Ended::Exited(code) => Handed::Rejected(Error::Rejected(format!(
                "the MDA {command:?} failed (exit {code}); the message stays on the server"
            ))),
            Ended::Killed => Handed::Rejected(Error::Rejected(format!(
                "the MDA {command:?} was killed by a signal; the message stays on the server"
            ))),
        }
    }
}

impl Mailbox for Mda {
    fn stage(&self, fill: &mut Fill) -> Result<Staged, Failure> {
        let (mut spool, octets) = super::spool(fill)?;
        let sender = super::return_path(&mut spool)
            .map(|raw| safe_sender(&raw))
            .map_err(|e| Failure::Mailbox(Error::io("cannot read the spool file", e)))?;
        Ok(Staged {
            octets,
            kind: StagedKind::Spooled { spool, sender },
        })
    }

    /// No intents: what an MDA did cannot be checked afterwards, so an interrupted delivery
    /// counts as not done and is repeated (at most one message, see `batch_limit`).
    fn place(&self, staged: Vec<Staged>, _journal: &mut Journal) -> Placement {
        super::place_spooled(staged, "an MDA", |spool, sender| {
            self.deliver(spool, sender)
        })
    }

    fn batch_limit(&self) -> usize {
        1
    }
}

/// The envelope sender for `%F`, reduced to characters that are safe in a shell command
/// line: anything else becomes `_`, and a leading `-` cannot pass for an option.
fn safe_sender(raw: &str) -> String {
    let mut safe: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "@._+=-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.starts_with('-') {
        safe.replace_range(..1, "_");
    }
    if safe.is_empty() {
        "MAILER-DAEMON".to_string()
    } else {
        safe
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::fill_with;
    use std::time::Instant;

    fn placed(mda: &Mda, message: &[u8]) -> Placement {
        let staged = mda.stage(&mut fill_with(message)).unwrap();
        mda.place(vec![staged], &mut |_: &[crate::store::Intent]| Ok(()))
    }

    #[test]
    fn pipes_the_message_and_expands_the_sender() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let mda = Mda::new(
            &format!("cat > {}; echo %F >> {}", out.display(), out.display()),
            Duration::from_secs(10),
        );
        let message = b"Return-Path: <a;rm -rf ~@example.org>\nSubject: x\n\nbody\n";
        let placement = placed(&mda, message);
        assert_eq!(placement.placed, 1);
        assert!(placement.error.is_none() && placement.rejected.is_none());
        let written = std::fs::read(&out).unwrap();
        let mut expected = message.to_vec();
        expected.extend_from_slice(b"a_rm_-rf__@example.org\n");
        assert_eq!(written, expected);
    }

    #[test]
    fn exit_statuses_decide_the_outcome() {
        let timeout = Duration::from_secs(10);
        let tempfail = placed(&Mda::new("cat >/dev/null; exit 75", timeout), b"x\n");
        assert_eq!(tempfail.placed, 0);
        assert!(matches!(tempfail.error, Some(Error::Temporary(_))));
        let failed = placed(&Mda::new("exit 1", timeout), b"x\n");
        assert_eq!(failed.placed, 0);
        assert!(failed.error.is_none());
        assert!(matches!(failed.rejected, Some(Error::Rejected(_))));
    }

    #[test]
    fn a_hanging_mda_is_stopped_after_the_timeout() {
        let started = Instant::now();
        let placement = placed(&Mda::new("sleep 30", Duration::from_secs(1)), b"x\n");
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(placement.placed, 0);
        assert!(matches!(placement.error, Some(Error::Temporary(_))));
    }

    #[test]
    fn senders_are_made_safe() {
        assert_eq!(safe_sender("user@example.org"), "user@example.org");
        assert_eq!(safe_sender("-oQ/tmp"), "_oQ_tmp");
        assert_eq!(safe_sender("$(reboot)`x`"), "__reboot__x_");
        assert_eq!(safe_sender(""), "MAILER-DAEMON");
    }
}
