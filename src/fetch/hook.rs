//! The `on_new_mail` command: run through `sh -c` after a run that delivered something, told
//! what arrived in its environment; its failure is reported and changes nothing else.

use std::fs::File;

use super::Report;
use crate::account::Command;
use crate::external::{self, Ended};
use crate::store::Delivery;

/// The variables the command gets: the account, the messages and octets delivered, and the
/// mailbox (a Maildir or mbox path, or `| COMMAND` for an MDA).
pub fn environment(
    account: &str,
    report: &Report,
    delivery: &Delivery,
) -> Vec<(&'static str, String)> {
    vec![
        ("POPGET_ACCOUNT", account.to_string()),
        ("POPGET_NEW", report.delivered.to_string()),
        ("POPGET_OCTETS", report.octets.to_string()),
        ("POPGET_MAILBOX", mailbox(delivery)),
    ]
}

/// The Maildir or mbox as an absolute path (the command may run elsewhere), `| COMMAND` for an
/// MDA, the destination's name for IMAP, LMTP and Gmail.
fn mailbox(delivery: &Delivery) -> String {
    match (delivery.path(), delivery) {
        (Some(path), _) => std::path::absolute(&path)
            .unwrap_or(path)
            .display()
            .to_string(),
        (None, Delivery::Mda { command, .. }) => format!("| {command}"),
        (None, Delivery::Imap(target)) => target.name.clone(),
        (None, Delivery::Lmtp(target)) => target.name.clone(),
        (None, Delivery::Gmail(target)) => target.name.clone(),
        (None, Delivery::Maildir { .. } | Delivery::Mbox(_)) => String::new(),
    }
}

/// How the `on_new_mail` command failed.
#[derive(Debug)]
pub enum HookFailure {
    /// It exited with this failure status.
    Exited(i32),
    Killed,
    /// It ran longer than its time limit, this many seconds, and was stopped.
    TimedOut(u64),
    /// It could not be started.
    CannotRun(crate::Error),
}

/// Runs `hook` when `report` delivered mail; `None` when it succeeded or had nothing to do.
pub fn after_delivery(
    hook: &Command,
    account: &str,
    report: &Report,
    delivery: &Delivery,
) -> Option<HookFailure> {
    if report.delivered == 0 {
        return None;
    }
    let env = environment(account, report, delivery);
    let ended = File::open("/dev/null")
        .map_err(|e| crate::Error::io("cannot open /dev/null", e))
        .and_then(|stdin| {
            external::run_with_env(&hook.command, stdin, hook.timeout, &env)
                .map_err(crate::Error::from)
        });
    match ended {
        Ok(Ended::Exited(0)) => None,
        Ok(Ended::Exited(status)) => Some(HookFailure::Exited(status)),
        Ok(Ended::Killed) => Some(HookFailure::Killed),
        Ok(Ended::TimedOut) => Some(HookFailure::TimedOut(hook.timeout.as_secs())),
        Err(error) => Some(HookFailure::CannotRun(error)),
    }
}
