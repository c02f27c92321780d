//! The commands as the user runs them: choose accounts, run each, print summaries and errors.

use std::collections::HashMap;
use std::io::Write;

use crate::cli::{Cli, CommandKind, FetchArgs, GlobalArgs};
use crate::config::{self, Account, ConfigFile, Destination};
use crate::connect;
use crate::error::{exit, Error, Result};
use crate::fetch::{self, FetchOptions, Report};
use crate::session::Tracer;
use crate::state::{self, State};
use crate::store::{Mailbox, Maildir, Mbox};

/// Runs the parsed command line; returns the process exit status.
pub fn run(cli: Cli) -> u8 {
    let env: HashMap<String, String> = std::env::vars().collect();
    match cli.command {
        CommandKind::Fetch(args) => run_fetch(&cli.global, &args, &env),
    }
}

fn run_fetch(global: &GlobalArgs, args: &FetchArgs, env: &HashMap<String, String>) -> u8 {
    let accounts = ConfigFile::load(global.config.as_deref()).and_then(|config| {
        config::select_accounts(
            &config,
            &args.accounts,
            &args.connection,
            Some(&args.delivery),
            env,
        )
    });
    let accounts = match accounts {
        Ok(accounts) => accounts,
        Err(error) => return report_error(None, &error),
    };
    let mut status = exit::OK;
    for account in &accounts {
        let code = match fetch_account(global, args, account, env) {
            Ok(()) => exit::OK,
            Err(error) => report_error(Some(&account.name), &error),
        };
        if status == exit::OK {
            status = code;
        }
    }
    status
}

fn fetch_account(
    global: &GlobalArgs,
    args: &FetchArgs,
    account: &Account,
    env: &HashMap<String, String>,
) -> Result<()> {
    let settings = account.fetch_settings(env)?;
    if account.certificates.insecure {
        eprintln!(
            "popget: {}: warning: --insecure: the server's certificate is not checked; anyone \
             on the network path can read your password and mail",
            account.name
        );
    }
    let _lock = state::lock_account(&settings.state_path)?;
    let mut state = State::load(&settings.state_path)?;
    let mut mailbox: Box<dyn Mailbox> = match &settings.destination {
        Destination::Maildir(path) => Box::new(Maildir::open(path)?),
        Destination::Mbox(path) => Box::new(Mbox::open(path)?),
    };
    let password = account.password()?;
    let trace = global.verbose.then(|| tracer(&account.name));
    let session = connect::open_session(account, password, trace)?;
    let options = FetchOptions {
        all: args.delivery.all,
        delete: settings.delete,
    };
    let outcome = fetch::fetch(session, mailbox.as_mut(), &mut state, options);
    if !global.quiet {
        let home = env.get("HOME").map(std::path::PathBuf::from);
        print_summary(
            &account.name,
            &outcome.report,
            &fetch::describe_destination(&settings.destination, home.as_deref()),
        );
    }
    match outcome.error {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

fn tracer(account: &str) -> Tracer {
    let prefix = format!("popget: {account}: ");
    Box::new(move |line: &str| {
        let _ = writeln!(std::io::stderr().lock(), "{prefix}{line}");
    })
}

/// One line on stderr, only when something happened (cron stays silent otherwise).
fn print_summary(account: &str, report: &Report, destination: &str) {
    if report.delivered == 0 && report.deleted == 0 {
        return;
    }
    let mut line = format!(
        "{account}: {} new {} ({}) delivered to {destination}",
        report.delivered,
        if report.delivered == 1 {
            "message"
        } else {
            "messages"
        },
        human_size(report.octets)
    );
    if report.deleted > 0 {
        line.push_str(&format!(", {} deleted", report.deleted));
    }
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// `popget: <account>: <what happened>`, a hint where one helps; returns the exit status.
fn report_error(account: Option<&str>, error: &Error) -> u8 {
    let mut stderr = std::io::stderr().lock();
    let prefix = account.map_or_else(|| "popget: ".to_string(), |a| format!("popget: {a}: "));
    let _ = writeln!(stderr, "{prefix}{error}");
    if let Some(hint) = error.hint() {
        let _ = writeln!(stderr, "popget: hint: {hint}");
    }
    error.exit_code()
}

/// Sizes as people read them: 512 B, 3.4 KiB, 12.0 MiB.
pub fn human_size(octets: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if octets < 1024 {
        return format!("{octets} B");
    }
    let mut value = octets as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_sizes() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(3 * 1024 + 410), "3.4 KiB");
        assert_eq!(human_size(5 * 1024 * 1024), "5.0 MiB");
    }
}
