//! `popget fetch`: choose the accounts, fetch them on up to `--jobs` threads through the
//! library's [`fetch_account`], print summaries and errors, exit with the first failure's status.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::Serialize;

use crate::cli::args::{FetchArgs, GlobalArgs};
use crate::cli::context::{print_json, report_error, tracer};
use crate::cli::render::{describe_delivery, summary, RunView, Terminal};
use popget::account::Account;
use popget::config::{self, ConfigFile};
use popget::error::{exit, Error, Result};
use popget::fetch::{self, fetch_account, Ended, Report, RunOptions, Stop};
use popget::signals;

/// One account's result, for `fetch --json`.
#[derive(Serialize)]
struct AccountJson {
    account: String,
    delivered: u64,
    octets: u64,
    deleted: u64,
    left_on_server_after_refusal: u64,
    left_on_server_oversized: u64,
    left_on_server_too_large_for_destination: u64,
    left_on_server_set_aside: u64,
    oversized_deleted: u64,
    left_for_next_run: u64,
    skipped_by_filter: u64,
    deleted_by_filter: u64,
    rejected_by_mda: u64,
    left_after_interrupt: u64,
    destination: Option<String>,
    error: Option<ErrorJson>,
}

impl AccountJson {
    /// An account's run.
    fn of(account: &str, result: AccountResult) -> AccountJson {
        let report = result.report;
        AccountJson {
            account: account.to_string(),
            delivered: report.delivered,
            octets: report.octets,
            deleted: report.deleted,
            left_on_server_after_refusal: report.refused,
            left_on_server_oversized: report.oversized,
            left_on_server_too_large_for_destination: report.too_large_for_destination,
            left_on_server_set_aside: report.set_aside,
            oversized_deleted: report.oversized_deleted,
            left_for_next_run: report.deferred,
            skipped_by_filter: report.skipped,
            deleted_by_filter: report.filtered_out,
            rejected_by_mda: report.rejected,
            left_after_interrupt: report.interrupted,
            destination: result.destination,
            error: result.result.err().map(|e| ErrorJson {
                exit_code: e.exit_code(),
                message: e.to_string(),
            }),
        }
    }
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

/// What fetching one account gave.
pub(crate) struct AccountResult {
    pub(crate) report: Report,
    destination: Option<String>,
    pub(crate) result: Result<()>,
}

impl AccountResult {
    /// A run's report and result; the destination is filled in by the caller.
    fn done(report: Report, result: Result<()>) -> AccountResult {
        AccountResult {
            report,
            destination: None,
            result,
        }
    }
}

pub(crate) fn run_fetch(
    global: &GlobalArgs,
    args: &FetchArgs,
    env: &HashMap<String, String>,
) -> u8 {
    // Without the handlers a signal kills the run, which the journal makes safe, if wasteful.
    let _ = signals::install();
    let (accounts, unresolved) = match resolve_accounts(global, args, env) {
        Ok(resolved) => resolved,
        Err(error) => return report_error(None, &error),
    };
    for (name, error) in &unresolved {
        report_error(Some(name), error);
    }
    let terminal = Terminal::new(global, args);
    let runner = Runner {
        terminal: &terminal,
        options: RunOptions {
            all: args.delivery.all,
            trace: global.verbose.then_some(tracer as fn(&str) -> _),
        },
        quiet: global.quiet,
        verbose: global.verbose,
        json: args.json,
    };
    let results = if args.rebuild_state {
        rebuild_each(global, args, &accounts)
    } else {
        fetch_in_parallel(&runner, usize::from(args.jobs), &accounts)
    };
    let mut status = unresolved
        .first()
        .map_or(exit::OK, |(_, error)| error.exit_code());
    let mut documents: Vec<AccountJson> = unresolved
        .into_iter()
        .map(|(account, error)| {
            AccountJson::of(&account, AccountResult::done(Report::default(), Err(error)))
        })
        .collect();
    let mut not_started = Vec::new();
    for (account, result) in accounts.iter().zip(results) {
        let Some(result) = result else {
            not_started.push(account.name.as_str());
            continue;
        };
        if let Err(error) = &result.result {
            if status == exit::OK {
                status = error.exit_code();
            }
        }
        documents.push(AccountJson::of(&account.name, result));
    }
    if let Some(signal) = signals::received() {
        status = signals::exit_code(signal);
        if !not_started.is_empty() {
            terminal.print(&format!(
                "popget: stopped by {} before fetching {}",
                signals::name(signal),
                not_started.join(", ")
            ));
        }
    }
    if args.json {
        let document = FetchJson {
            exit_code: status,
            accounts: documents,
        };
        // A reader that went away is no error: the status stays the fetch's own.
        match print_json(&document) {
            Err(error) if !error.is_broken_pipe() => return report_error(None, &error),
            _ => {}
        }
    }
    status
}

/// Accounts that cannot be resolved, by name, with the reason.
type Unresolved = Vec<(String, Error)>;

/// The accounts to fetch, and those that cannot be resolved with their errors.
fn resolve_accounts(
    global: &GlobalArgs,
    args: &FetchArgs,
    env: &HashMap<String, String>,
) -> Result<(Vec<Account>, Unresolved)> {
    let accounts = ConfigFile::load(global.config.as_deref()).and_then(|config| {
        config::select_each(
            &config,
            &args.accounts,
            &crate::cli::context::command_line(&args.connection, Some(&args.delivery)),
            env,
        )
    })?;
    // An account that cannot be resolved (a typo in its table) fails alone, reported first;
    // the others are fetched.
    let (accounts, unresolved): (Vec<_>, Vec<_>) = accounts
        .into_iter()
        .partition(|(_, account)| account.is_ok());
    let accounts: Vec<Account> = accounts.into_iter().filter_map(|(_, a)| a.ok()).collect();
    let unresolved: Unresolved = unresolved
        .into_iter()
        .filter_map(|(name, account)| account.err().map(|error| (name, error)))
        .collect();
    Ok((accounts, unresolved))
}

/// How each account's run is shown, and what it asks beyond the account's settings.
pub(crate) struct Runner<'a> {
    pub terminal: &'a Terminal,
    pub options: RunOptions,
    pub quiet: bool,
    pub verbose: bool,
    /// The results go to standard output as JSON: no summary lines.
    pub json: bool,
}

/// Fetches the accounts with up to `jobs` threads, each with its own connection, state file
/// and lock; summaries and errors are printed as each account finishes. Accounts that share a
/// state file are fetched one after the other, by one thread, in the order given. After a
/// signal no account is started: those have no result.
fn fetch_in_parallel(
    runner: &Runner,
    jobs: usize,
    accounts: &[Account],
) -> Vec<Option<AccountResult>> {
    let groups = groups_by_state_file(accounts);
    let results: Vec<Mutex<Option<AccountResult>>> =
        accounts.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let jobs = jobs.clamp(1, groups.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                while let Some(group) = groups.get(next.fetch_add(1, Ordering::Relaxed)) {
                    for &index in group {
                        if signals::received().is_some() {
                            break;
                        }
                        let account = &accounts[index];
                        let outcome = run_account(runner, account);
                        if let Err(error) = &outcome.result {
                            runner.terminal.print_error(Some(&account.name), error);
                        }
                        *results[index].lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
                    }
                }
            });
        }
    });
    results
        .into_iter()
        .map(|result| result.into_inner().unwrap_or_else(|p| p.into_inner()))
        .collect()
}

/// Indexes of the accounts, grouped by state file in order of first appearance.
fn groups_by_state_file(accounts: &[Account]) -> Vec<Vec<usize>> {
    let mut groups: Vec<(&PathBuf, Vec<usize>)> = Vec::new();
    for (index, account) in accounts.iter().enumerate() {
        match groups
            .iter_mut()
            .find(|(path, _)| **path == account.state_path)
        {
            Some((_, members)) => members.push(index),
            None => groups.push((&account.state_path, vec![index])),
        }
    }
    groups.into_iter().map(|(_, members)| members).collect()
}

/// Fetches one account as `popget fetch` does (the daemon runs it too) and prints the summary
/// line the run deserves; its error is the caller's to report.
pub(crate) fn run_account(runner: &Runner, account: &Account) -> AccountResult {
    let destination = account
        .delivery
        .as_ref()
        .map(|delivery| describe_delivery(delivery, None));
    let mut view = RunView {
        terminal: runner.terminal,
        account: &account.name,
        quiet: runner.quiet,
        bar: runner.terminal.progress_bar(&account.name),
    };
    let ended = fetch_account(account, runner.options, Stop::OnSignal, &mut view);
    drop(view);
    match ended {
        Ok(ended) => AccountResult {
            destination,
            ..report(runner, account, ended)
        },
        Err(error) => AccountResult {
            report: Report::default(),
            destination,
            result: Err(error),
        },
    }
}

/// Prints the summary line the run deserves; the error that ends it, if any.
fn report(runner: &Runner, account: &Account, ended: Ended) -> AccountResult {
    let name = &account.name;
    let outcome = match ended {
        Ended::TooEarly(wait) => {
            if runner.verbose {
                runner.terminal.print(&format!(
                    "{name}: skipped: the server's LOGIN-DELAY allows the next login in {} s",
                    wait.as_secs().max(1)
                ));
            }
            return AccountResult::done(Report::default(), Ok(()));
        }
        Ended::StoppedBeforeFetching => {
            let signal = signals::received().unwrap_or_default();
            runner.terminal.print(&format!(
                "{name}: stopped by {} before fetching",
                signals::name(signal)
            ));
            return AccountResult::done(Report::default(), Ok(()));
        }
        Ended::Fetched(outcome) => outcome,
    };
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let shown = account
        .delivery
        .as_ref()
        .map(|delivery| describe_delivery(delivery, home.as_deref()))
        .unwrap_or_default();
    let mut error = outcome.error;
    if let Some(signal) = signals::received() {
        // Cutting the connection was ours: the summary says so instead of an error.
        let cut = error.as_ref().is_some_and(fetch::cut_by_stop);
        if cut {
            error = None;
        }
        print_stopped(runner.terminal, name, signal, cut, &outcome.report, &shown);
    } else if !runner.quiet && !runner.json {
        // Off a terminal (cron), a run that changed nothing says nothing, even when
        // messages wait over --max-size or skipped by the filter.
        let interactive = runner.verbose || std::io::stderr().is_terminal();
        if let Some(line) = summary(name, &outcome.report, &shown, interactive) {
            runner.terminal.print(&line);
        }
    }
    AccountResult::done(outcome.report, error.map_or(Ok(()), Err))
}

/// The one line after a signal: what was kept, what is left, and whether the connection had
/// to be cut.
fn print_stopped(
    terminal: &Terminal,
    name: &str,
    signal: i32,
    cut: bool,
    report: &Report,
    shown: &str,
) {
    let how = if cut {
        format!(
            "stopped by {}, the connection cut after {} s",
            signals::name(signal),
            signals::GRACE.as_secs()
        )
    } else {
        format!("stopped by {}", signals::name(signal))
    };
    // The summary, said of "NAME: stopped by ...".
    let label = format!("{name}: {how}");
    let line = summary(&label, report, shown, true)
        .unwrap_or_else(|| format!("{label}: nothing delivered"));
    terminal.print(&line);
}

/// `fetch --rebuild-state`, one account after the other, each after confirmation.
fn rebuild_each(
    global: &GlobalArgs,
    args: &FetchArgs,
    accounts: &[Account],
) -> Vec<Option<AccountResult>> {
    accounts
        .iter()
        .map(|account| {
            if signals::received().is_some() {
                return None;
            }
            let result = rebuild_state(global, args, account);
            if let Err(error) = &result {
                report_error(Some(&account.name), error);
            }
            Some(AccountResult {
                report: Report::default(),
                destination: account
                    .delivery
                    .as_ref()
                    .map(|delivery| describe_delivery(delivery, None)),
                result,
            })
        })
        .collect()
}

/// After confirmation, replaces the account's state with every message now on the server.
fn rebuild_state(global: &GlobalArgs, args: &FetchArgs, account: &Account) -> Result<()> {
    let path = &account.state_path;
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(Error::Usage(
                "--rebuild-state asks for confirmation; add --yes to run it unattended".into(),
            ));
        }
        popget::say_partly!(
            "{}: mark every message now on the server as already fetched (nothing is downloaded), \
             replacing {}? [y/N] ",
            account.name,
            path.display()
        );
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            // Declining is an answer, not a mistake: exit 0, nothing done.
            popget::say!("{}: not confirmed; nothing changed", account.name);
            return Ok(());
        }
    }
    let terminal = Terminal::plain();
    let mut view = RunView {
        terminal: &terminal,
        account: &account.name,
        quiet: global.quiet,
        bar: None,
    };
    let options = RunOptions {
        all: false,
        trace: global.verbose.then_some(tracer as fn(&str) -> _),
    };
    let marked = fetch::rebuild_account_state(account, options, &mut view)?;
    if !global.quiet {
        popget::say!(
            "{}: {marked} messages on the server marked as fetched in {}",
            account.name,
            path.display()
        );
    }
    Ok(())
}
