//! The commands as the user runs them: choose accounts, run each, print summaries and errors.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::accounts;
use crate::cli::{Cli, CommandKind, FetchArgs, GlobalArgs, ProgressMode};
use crate::commands::{self, Context};
use crate::config::{self, Account, ConfigFile, Destination};
use crate::connect;
use crate::error::{exit, Error, Result};
use crate::fetch::{self, FetchOptions, Observer, Report};
use crate::session::{Session, Tracer};
use crate::state::{self, State};
use crate::store::{Mailbox, Maildir, Mbox};
use crate::transport::Stream;

/// Runs the parsed command line; returns the process exit status.
pub fn run(cli: Cli) -> u8 {
    let env: HashMap<String, String> = std::env::vars().collect();
    let context = Context {
        global: &cli.global,
        env: &env,
    };
    let result = match &cli.command {
        CommandKind::Fetch(args) => return run_fetch(&cli.global, args, &env),
        CommandKind::Stat(args) => commands::stat(&context, args),
        CommandKind::List(args) => commands::list(&context, args),
        CommandKind::Uidl(args) => commands::uidl(&context, args),
        CommandKind::Retr(args) => commands::retr(&context, args),
        CommandKind::Top(args) => commands::top(&context, args),
        CommandKind::Dele(args) => commands::dele(&context, args),
        CommandKind::Info(args) => commands::info(&context, args),
        CommandKind::Accounts(args) => accounts::list(&context, args),
        CommandKind::Config(command) => accounts::config(&context, command),
    };
    match result {
        Ok(()) => exit::OK,
        // A reader that closed the pipe (`popget retr 1 | head`) got what it wanted.
        Err(error) if error.is_broken_pipe() => exit::OK,
        Err(error) => report_error(None, &error),
    }
}

/// One account's result, for `fetch --json`.
#[derive(Serialize)]
struct AccountJson {
    account: String,
    delivered: u64,
    octets: u64,
    deleted: u64,
    left_on_server_after_refusal: u64,
    left_on_server_oversized: u64,
    destination: Option<PathBuf>,
    error: Option<ErrorJson>,
}

#[derive(Serialize)]
struct ErrorJson {
    exit_code: u8,
    message: String,
}

#[derive(Serialize)]
struct FetchJson {
    exit_code: u8,
    accounts: Vec<AccountJson>,
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
    let mut results = Vec::new();
    for account in &accounts {
        let (report, destination, result) = fetch_account(global, args, account, env);
        let code = match &result {
            Ok(()) => exit::OK,
            Err(error) => report_error(Some(&account.name), error),
        };
        if status == exit::OK {
            status = code;
        }
        results.push(AccountJson {
            account: account.name.clone(),
            delivered: report.delivered,
            octets: report.octets,
            deleted: report.deleted,
            left_on_server_after_refusal: report.refused,
            left_on_server_oversized: report.oversized,
            destination,
            error: result.err().map(|e| ErrorJson {
                exit_code: e.exit_code(),
                message: e.to_string(),
            }),
        });
    }
    if args.json {
        let document = FetchJson {
            exit_code: status,
            accounts: results,
        };
        let mut out = std::io::stdout().lock();
        let written = serde_json::to_writer_pretty(&mut out, &document)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out));
        if let Err(error) = written {
            if error.kind() != std::io::ErrorKind::BrokenPipe {
                return report_error(None, &Error::io("cannot write the output", error));
            }
        }
    }
    status
}

fn fetch_account(
    global: &GlobalArgs,
    args: &FetchArgs,
    account: &Account,
    env: &HashMap<String, String>,
) -> (Report, Option<PathBuf>, Result<()>) {
    let settings = match account.fetch_settings(env) {
        Ok(settings) => settings,
        Err(error) => return (Report::default(), None, Err(error)),
    };
    let destination = Some(settings.destination.path().to_path_buf());
    if args.rebuild_state {
        return (
            Report::default(),
            destination,
            rebuild_state(global, args, account, &settings.state_path),
        );
    }
    let mut progress = progress_bar(global, args, &account.name);
    let mut run = || -> Result<fetch::Outcome> {
        let _lock = state::lock_account(&settings.state_path)?;
        let mut state = State::load(&settings.state_path)?;
        let recovered = fetch::recover(&mut state)?;
        if recovered > 0 && !global.quiet {
            eprintln!(
                "{}: {recovered} deliveries of an interrupted run were found in the mailbox and recorded",
                account.name
            );
        }
        let mailbox: Box<dyn Mailbox> = match &settings.destination {
            Destination::Maildir(path) => Box::new(Maildir::open(path)?),
            Destination::Mbox(path) => Box::new(Mbox::open(path)?),
        };
        let session = open_session(global.verbose, account)?;
        let options = FetchOptions {
            all: args.delivery.all,
            delete: settings.delete,
            max_size: settings.max_size,
        };
        let observer: &mut dyn Observer = match progress.as_mut() {
            Some(bar) => bar,
            None => &mut (),
        };
        Ok(fetch::fetch(
            session,
            mailbox.as_ref(),
            &mut state,
            options,
            observer,
        ))
    };
    let outcome = run();
    if let Some(bar) = progress {
        bar.bar.finish_and_clear();
    }
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(error) => return (Report::default(), destination, Err(error)),
    };
    if !global.quiet && !args.json {
        let home = env.get("HOME").map(PathBuf::from);
        print_summary(
            &account.name,
            &outcome.report,
            &fetch::describe_destination(&settings.destination, home.as_deref()),
        );
    }
    let result = match outcome.error {
        Some(error) => Err(error),
        None => Ok(()),
    };
    (outcome.report, destination, result)
}

/// `fetch --rebuild-state`: after confirmation, replaces the state with every message now on
/// the server.
fn rebuild_state(
    global: &GlobalArgs,
    args: &FetchArgs,
    account: &Account,
    path: &std::path::Path,
) -> Result<()> {
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(Error::Usage(
                "--rebuild-state asks for confirmation; add --yes to run it unattended".into(),
            ));
        }
        eprint!(
            "{}: mark every message now on the server as already fetched (nothing is downloaded), \
             replacing {}? [y/N] ",
            account.name,
            path.display()
        );
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Err(Error::Usage(
                "not confirmed; the state file is unchanged".into(),
            ));
        }
    }
    let _lock = state::lock_account(path)?;
    let session = open_session(global.verbose, account)?;
    let mut state = State::empty(path);
    let marked = fetch::rebuild_state(session, &mut state)?;
    if !global.quiet {
        eprintln!(
            "{}: {marked} messages on the server marked as fetched in {}",
            account.name,
            path.display()
        );
    }
    Ok(())
}

/// A progress bar on stderr: on a terminal with `auto`, never with `-q`, `-v` or `never`.
struct Bar {
    bar: ProgressBar,
    done: usize,
    total: usize,
}

impl Observer for Bar {
    fn planned(&mut self, messages: usize, octets: u64) {
        if messages == 0 {
            self.bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        self.total = messages;
        self.bar.set_length(octets);
        self.bar.set_message(format!("0/{messages} messages"));
        self.bar.reset_eta();
    }

    fn delivered(&mut self, octets: u64) {
        self.done += 1;
        self.bar.inc(octets);
        self.bar
            .set_message(format!("{}/{} messages", self.done, self.total));
    }
}

fn progress_bar(global: &GlobalArgs, args: &FetchArgs, account: &str) -> Option<Bar> {
    let wanted = match args.progress {
        ProgressMode::Never => false,
        ProgressMode::Always => true,
        ProgressMode::Auto => std::io::stderr().is_terminal(),
    };
    if !wanted || global.quiet || global.verbose {
        return None;
    }
    let target = match args.progress {
        ProgressMode::Always => ProgressDrawTarget::term_like(Box::new(console::Term::stderr())),
        _ => ProgressDrawTarget::stderr(),
    };
    let bar = ProgressBar::with_draw_target(Some(0), target);
    let style = ProgressStyle::with_template(&format!(
        "{account}: {{msg}} {{bar:30}} {{bytes}}/{{total_bytes}} {{bytes_per_sec}} ETA {{eta}}"
    ))
    .expect("the template is valid");
    bar.set_style(style);
    Some(Bar {
        bar,
        done: 0,
        total: 0,
    })
}

/// Warns about `--insecure`, gets the password and logs in: every command that needs a
/// session opens it here.
pub(crate) fn open_session(verbose: bool, account: &Account) -> Result<Session<Stream>> {
    warn_if_insecure(account);
    let password = account.password()?;
    connect::open_session(account, password, verbose.then(|| tracer(&account.name)))
}

pub(crate) fn warn_if_insecure(account: &Account) {
    if account.certificates.insecure {
        eprintln!(
            "popget: {}: warning: --insecure: the server's certificate is not checked; anyone \
             on the network path can read your password and mail",
            account.name
        );
    }
}

pub(crate) fn tracer(account: &str) -> Tracer {
    let prefix = format!("popget: {account}: ");
    Box::new(move |line: &str| {
        let _ = writeln!(std::io::stderr().lock(), "{prefix}{line}");
    })
}

/// One line on stderr, only when something happened (cron stays silent otherwise).
fn print_summary(account: &str, report: &Report, destination: &str) {
    if report.delivered == 0 && report.deleted == 0 && report.oversized == 0 {
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
    if report.oversized > 0 {
        line.push_str(&format!(
            ", {} over --max-size left on the server",
            report.oversized
        ));
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
