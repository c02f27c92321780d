//! The `on_new_mail` command: run through `sh -c` after a run that delivered something, told
//! what arrived in its environment; its failure is logged and changes nothing else.

use std::fs::File;
use std::time::Duration;

use popget::config::{Destination, ServiceSettings};
use popget::external::{self, Ended};
use popget::fetch::{self, Report};

/// The variables the command gets: the account, the messages and octets delivered, and the
/// mailbox (a Maildir or mbox path, or `| COMMAND` for an MDA).
pub fn environment(
    account: &str,
    report: &Report,
    destination: &Destination,
) -> Vec<(&'static str, String)> {
    vec![
        ("POPGET_ACCOUNT", account.to_string()),
        ("POPGET_NEW", report.delivered.to_string()),
        ("POPGET_OCTETS", report.octets.to_string()),
        ("POPGET_MAILBOX", mailbox(destination)),
    ]
}

/// The Maildir or mbox as an absolute path (the command may run elsewhere), or `| COMMAND`.
fn mailbox(destination: &Destination) -> String {
    match destination.path() {
        Some(path) => std::path::absolute(&path)
            .unwrap_or(path)
            .display()
            .to_string(),
        None => fetch::describe_destination(destination, None),
    }
}

/// Runs the account's `on_new_mail` command, if it has one, when `report` delivered mail;
/// `warn` gets one line if the command fails or runs past `timeout`.
pub fn after_delivery(
    service: &ServiceSettings,
    account: &str,
    report: &Report,
    destination: &Destination,
    timeout: Duration,
    warn: impl Fn(&str),
) {
    let Some(command) = &service.on_new_mail else {
        return;
    };
    if report.delivered == 0 {
        return;
    }
    let env = environment(account, report, destination);
    let ended = File::open("/dev/null")
        .map_err(|e| popget::Error::io("cannot open /dev/null", e))
        .and_then(|stdin| {
            external::run_with_env(command, stdin, timeout, &env).map_err(popget::Error::from)
        });
    let problem = match ended {
        Ok(Ended::Exited(0)) => return,
        Ok(Ended::Exited(status)) => format!("exited with status {status}"),
        Ok(Ended::Killed) => "was killed by a signal".to_string(),
        Ok(Ended::TimedOut) => format!("ran longer than {} s and was stopped", timeout.as_secs()),
        Err(error) => crate::cli::context::describe(&error),
    };
    warn(&format!("{account}: on_new_mail command {problem}"));
}
