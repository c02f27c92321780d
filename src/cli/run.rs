//! The commands as the user runs them: choose accounts, run each, print summaries and errors.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::cli::args::{FetchArgs, GlobalArgs, ProgressMode};
use crate::cli::context::{open_session, print_json, report_error};
use popget::config::{self, Account, ConfigFile, Destination, FetchSettings};
use popget::error::{exit, Error, Result};
use popget::fetch::{self, FetchOptions, Filter, Observer, Report};
use popget::login_delay;
use popget::signals;
use popget::state::{self, State};
use popget::store::{Mailbox, Maildir, Mbox, Mda};

/// One account's result, for `fetch --json`.
#[derive(Serialize)]
struct AccountJson {
    account: String,
    delivered: u64,
    octets: u64,
    deleted: u64,
    left_on_server_after_refusal: u64,
    left_on_server_oversized: u64,
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
    let results = fetch_in_parallel(global, args, &accounts, env, &terminal);
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

/// Fetches the accounts with up to --jobs threads, each with its own connection, state file
/// and lock; summaries and errors are printed as each account finishes. Accounts that share a
/// state file are fetched one after the other, by one thread, in the order given. After a
/// signal no account is started: those have no result.
fn fetch_in_parallel(
    global: &GlobalArgs,
    args: &FetchArgs,
    accounts: &[Account],
    env: &HashMap<String, String>,
    terminal: &Terminal,
) -> Vec<Option<AccountResult>> {
    let groups = groups_by_state_file(accounts, env);
    let results: Vec<Mutex<Option<AccountResult>>> =
        accounts.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    // --rebuild-state asks for each account in turn.
    let jobs = if args.rebuild_state {
        1
    } else {
        usize::from(args.jobs).clamp(1, groups.len().max(1))
    };
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                while let Some(group) = groups.get(next.fetch_add(1, Ordering::Relaxed)) {
                    for &index in group {
                        if signals::received().is_some() {
                            break;
                        }
                        let account = &accounts[index];
                        let outcome = fetch_account(global, args, account, env, terminal);
                        if let Err(error) = &outcome.result {
                            terminal.print_error(Some(&account.name), error);
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
fn groups_by_state_file(accounts: &[Account], env: &HashMap<String, String>) -> Vec<Vec<usize>> {
    let mut groups: Vec<(PathBuf, Vec<usize>)> = Vec::new();
    for (index, account) in accounts.iter().enumerate() {
        let key = account
            .fetch_settings(env)
            .map_or_else(|_| PathBuf::from(&account.name), |s| s.state_path);
        match groups.iter_mut().find(|(path, _)| *path == key) {
            Some((_, members)) => members.push(index),
            None => groups.push((key, vec![index])),
        }
    }
    groups.into_iter().map(|(_, members)| members).collect()
}

/// Fetches one account as `popget fetch` does (the daemon runs it too): prints its summary
/// line, honours LOGIN-DELAY and runs the `on_new_mail` command after a delivery.
pub(crate) fn fetch_account(
    global: &GlobalArgs,
    args: &FetchArgs,
    account: &Account,
    env: &HashMap<String, String>,
    terminal: &Terminal,
) -> AccountResult {
    let failed = |destination, error| AccountResult {
        report: Report::default(),
        destination,
        result: Err(error),
    };
    let settings = match account.fetch_settings(env) {
        Ok(settings) => settings,
        Err(error) => return failed(None, error),
    };
    let home = env.get("HOME").map(PathBuf::from);
    let shown = fetch::describe_destination(&settings.destination, home.as_deref());
    let destination = Some(fetch::describe_destination(&settings.destination, None));
    if args.rebuild_state {
        return AccountResult {
            report: Report::default(),
            destination,
            result: rebuild_state(global, args, account, &settings.state_path),
        };
    }
    let run = Run {
        global,
        args,
        account,
        settings: &settings,
        terminal,
    };
    let mut progress = terminal.progress_bar(&account.name);
    let transacted = match progress.as_mut() {
        Some(bar) => run.transact(bar),
        None => run.transact(&mut ()),
    };
    if let Some(bar) = progress {
        bar.bar.finish_and_clear();
    }
    match transacted {
        Ok(transacted) => AccountResult {
            destination,
            ..run.report(transacted, &shown)
        },
        Err(error) => failed(destination, error),
    }
}

/// One account's fetch, from the lock to the summary.
struct Run<'a> {
    global: &'a GlobalArgs,
    args: &'a FetchArgs,
    account: &'a Account,
    settings: &'a FetchSettings,
    terminal: &'a Terminal,
}

/// How an account's fetch ended, for its summary.
enum Transacted {
    /// The server's LOGIN-DELAY does not allow a login yet: skipped, for this long.
    TooEarly(std::time::Duration),
    /// A signal came before the session was opened.
    StoppedBeforeFetching,
    Fetched(fetch::Outcome),
}

impl Run<'_> {
    /// Takes the account's lock, settles what an interrupted run left, opens the mailbox and
    /// the session, and runs the fetch transaction.
    fn transact(&self, observer: &mut dyn Observer) -> Result<Transacted> {
        let settings = self.settings;
        let _lock = state::lock_account(&settings.state_path)?;
        if let Some(wait) = login_delay::wait_before_login(&settings.state_path) {
            return Ok(Transacted::TooEarly(wait));
        }
        let mut state = State::load(&settings.state_path)?;
        let recovered = fetch::recover(&mut state)?;
        if recovered > 0 && !self.global.quiet {
            self.terminal.print(&format!(
                "{}: {recovered} deliveries of an interrupted run were found in the mailbox and \
                 recorded",
                self.account.name
            ));
        }
        let (mailbox, _staging_cleanup) = open_mailbox(settings)?;
        if signals::received().is_some() {
            return Ok(Transacted::StoppedBeforeFetching);
        }
        let session = open_session(self.global.verbose, self.account)?;
        let announced = session.capabilities().and_then(login_delay::announced);
        // Without the record the next run may log in too early, which the server refuses for
        // the time being: not worth failing this run for.
        let _ = login_delay::record(&settings.state_path, announced);
        // A read blocked on the server is cut short if a stop takes too long.
        let _watched = session
            .connection()
            .socket()
            .try_clone()
            .ok()
            .map(signals::watch);
        Ok(Transacted::Fetched(fetch::fetch(
            session,
            mailbox.as_ref(),
            &mut state,
            self.fetch_options(),
            observer,
        )))
    }

    fn fetch_options(&self) -> FetchOptions {
        let settings = self.settings;
        FetchOptions {
            all: self.args.delivery.all,
            delete: settings.delete,
            max_size: settings.max_size,
            delete_oversized: settings.delete_oversized,
            keep_days: settings.keep_days,
            limit: settings.limit,
            max_bytes: settings.max_bytes,
            filter: settings.filter.as_ref().map(|command| Filter {
                command: command.clone(),
                timeout: settings.mda_timeout,
            }),
            pipelining: self.account.pipelining.into(),
            stop_requested: Some(|| signals::received().is_some()),
        }
    }

    /// Runs the new-mail hook and prints the summary line the run deserves.
    fn report(&self, transacted: Transacted, shown: &str) -> AccountResult {
        let name = &self.account.name;
        let outcome = match transacted {
            Transacted::TooEarly(wait) => {
                if self.global.verbose {
                    self.terminal.print(&format!(
                        "{name}: skipped: the server's LOGIN-DELAY allows the next login in {} s",
                        wait.as_secs().max(1)
                    ));
                }
                return AccountResult::done(Report::default(), Ok(()));
            }
            Transacted::StoppedBeforeFetching => {
                let signal = signals::received().unwrap_or_default();
                self.terminal.print(&format!(
                    "{name}: stopped by {} before fetching",
                    signals::name(signal)
                ));
                return AccountResult::done(Report::default(), Ok(()));
            }
            Transacted::Fetched(outcome) => outcome,
        };
        self.run_hook(&outcome.report);
        let mut error = outcome.error;
        if let Some(signal) = signals::received() {
            // Cutting the connection was ours: the summary says so instead of an error.
            let cut = signals::connections_were_cut()
                && error.as_ref().is_some_and(|e| e.is_connection_lost());
            if cut {
                error = None;
            }
            self.print_stopped(signal, cut, &outcome.report, shown);
        } else if !self.global.quiet && !self.args.json {
            // Off a terminal (cron), a run that changed nothing says nothing, even when
            // messages wait over --max-size or skipped by the filter.
            let interactive = self.global.verbose || std::io::stderr().is_terminal();
            if let Some(line) = summary(name, &outcome.report, shown, interactive) {
                self.terminal.print(&line);
            }
        }
        AccountResult::done(outcome.report, error.map_or(Ok(()), Err))
    }

    /// The `on_new_mail` command, which runs only after a delivery (`hook::after_delivery` checks).
    fn run_hook(&self, report: &Report) {
        if let Ok(service) = self.account.service_settings() {
            crate::cli::hook::after_delivery(
                &service,
                &self.account.name,
                report,
                &self.settings.destination,
                self.settings.mda_timeout,
                |line| self.terminal.print_warning(line),
            );
        }
    }

    /// The one line after a signal: what was kept, what is left, and whether the connection
    /// had to be cut.
    fn print_stopped(&self, signal: i32, cut: bool, report: &Report, shown: &str) {
        let name = &self.account.name;
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
        self.terminal.print(&line);
    }
}

/// Opens the account's mailbox. A Maildir first loses what killed or interrupted runs left in
/// its tmp/, and if this run has to exit at once, its own staging files go too (the guard).
fn open_mailbox(
    settings: &FetchSettings,
) -> Result<(Box<dyn Mailbox>, Option<signals::AbortHook>)> {
    let maildir = match &settings.destination {
        Destination::Maildir(path) => Maildir::open(path)?,
        Destination::MaildirFolder { root, name } => Maildir::open_folder(root, name)?,
        Destination::Mbox(path) => return Ok((Box::new(Mbox::open(path)?), None)),
        Destination::Mda(command) => {
            return Ok((Box::new(Mda::new(command, settings.mda_timeout)), None))
        }
    };
    let staging = maildir.staging();
    let _ = staging.remove_stale();
    let cleanup = signals::on_abort(move || {
        let _ = staging.remove_own();
    });
    Ok((Box::new(maildir), Some(cleanup)))
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
    let _lock = state::lock_account(path)?;
    let session = open_session(global.verbose, account)?;
    let mut state = State::empty(path);
    let marked = fetch::rebuild_state(session, &mut state)?;
    if !global.quiet {
        popget::say!(
            "{}: {marked} messages on the server marked as fetched in {}",
            account.name,
            path.display()
        );
    }
    Ok(())
}

/// Standard error for a fetch of several accounts at once: lines are printed above the
/// progress bars, which are stacked, one per account being fetched. For the daemon, lines
/// go to its log, with journald priorities.
pub(crate) struct Terminal {
    /// Lines are the daemon's log lines.
    service: bool,
    bars: Option<MultiProgress>,
    /// Clears the bars if the process has to exit at once.
    _clear_on_abort: Option<signals::AbortHook>,
}

impl Terminal {
    /// Progress bars on a terminal with `auto`, never with `-q`, `-v` or `never`.
    fn new(global: &GlobalArgs, args: &FetchArgs) -> Terminal {
        let wanted = match args.progress {
            ProgressMode::Never => false,
            ProgressMode::Always => true,
            ProgressMode::Auto => std::io::stderr().is_terminal(),
        };
        if !wanted || global.quiet || global.verbose {
            return Terminal {
                service: false,
                bars: None,
                _clear_on_abort: None,
            };
        }
        let target = match args.progress {
            ProgressMode::Always => {
                ProgressDrawTarget::term_like(Box::new(console::Term::stderr()))
            }
            _ => ProgressDrawTarget::stderr(),
        };
        let bars = MultiProgress::with_draw_target(target);
        let clear = bars.clone();
        Terminal {
            service: false,
            bars: Some(bars),
            _clear_on_abort: Some(signals::on_abort(move || {
                let _ = clear.clear();
            })),
        }
    }

    /// Lines for the daemon's log: no progress bars.
    pub(crate) fn for_service() -> Terminal {
        Terminal {
            service: true,
            bars: None,
            _clear_on_abort: None,
        }
    }

    fn print(&self, line: &str) {
        if self.service {
            return crate::cli::log::info(line);
        }
        let write = || {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        };
        match &self.bars {
            Some(bars) => bars.suspend(write),
            None => write(),
        }
    }

    fn print_warning(&self, line: &str) {
        if self.service {
            return crate::cli::log::warning(line);
        }
        self.print(line);
    }

    fn print_error(&self, account: Option<&str>, error: &Error) {
        match &self.bars {
            Some(bars) => bars.suspend(|| report_error(account, error)),
            None => report_error(account, error),
        };
    }

    fn progress_bar(&self, account: &str) -> Option<Bar> {
        let bars = self.bars.as_ref()?;
        // A constant template: the account name (user text, which may hold `{` or `}`) goes in
        // as the prefix, never into the template. The bar takes what is left of the width.
        let style = ProgressStyle::with_template(BAR_TEMPLATE)
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        let bar = ProgressBar::hidden().with_style(style);
        bar.set_prefix(bar_prefix(account));
        Some(Bar {
            bars: bars.clone(),
            bar,
            done: 0,
            done_octets: 0,
            total: 0,
        })
    }
}

/// Fits 80 columns with an account name of up to [`BAR_PREFIX_CHARS`] characters, up to
/// 99999 messages and sizes below 1000 GiB: the bar itself shrinks to what the line has left.
const BAR_TEMPLATE: &str = "{prefix} {msg} [{wide_bar}] {bytes}/{total_bytes} {eta_precise}";
const BAR_PREFIX_CHARS: usize = 12;

/// The account name as the bar shows it: printable, and shortened to fit.
fn bar_prefix(account: &str) -> String {
    let printable: Vec<char> = account.chars().filter(|c| !c.is_control()).collect();
    let mut prefix: String = if printable.len() > BAR_PREFIX_CHARS {
        let mut short: String = printable[..BAR_PREFIX_CHARS - 1].iter().collect();
        short.push('…');
        short
    } else {
        printable.into_iter().collect()
    };
    prefix.push(':');
    prefix
}

/// One account's progress bar, shown from the listing on, moving as the bytes arrive.
struct Bar {
    bars: MultiProgress,
    bar: ProgressBar,
    done: usize,
    /// LIST octets of the messages read whole.
    done_octets: u64,
    total: usize,
}

impl Observer for Bar {
    fn planned(&mut self, messages: usize, octets: u64) {
        self.total = messages;
        self.bar.set_length(octets);
        if messages > 0 {
            self.bar = self.bars.add(self.bar.clone());
        }
        self.bar.reset_eta();
        // Drawn now, not once the first message is complete.
        self.bar.set_message(format!("0/{messages} messages"));
        self.bar.tick();
    }

    fn streamed(&mut self, octets: u64) {
        self.bar.inc(octets);
    }

    fn delivered(&mut self, octets: u64) {
        self.done += 1;
        // What streamed was counted after unstuffing; the LIST size puts the bar right.
        self.done_octets = self.done_octets.saturating_add(octets);
        self.bar.set_position(self.done_octets);
        self.bar
            .set_message(format!("{}/{} messages", self.done, self.total));
    }
}

/// One line for stderr, only when something happened (cron stays silent otherwise). Messages
/// only left waiting on the server (too large, skipped, for the next run) are worth a line
/// only on a terminal: elsewhere they would print the same line on every run.
fn summary(account: &str, report: &Report, destination: &str, interactive: bool) -> Option<String> {
    worth_a_summary(report, interactive).then(|| summary_line(account, report, destination))
}

/// Whether the run did something that deserves the summary line.
fn worth_a_summary(report: &Report, interactive: bool) -> bool {
    let changed = report.delivered
        + report.deleted
        + report.oversized_deleted
        + report.filtered_out
        + report.rejected;
    if changed == 0 && !interactive {
        return false;
    }
    let nothing = Report::default();
    let counts = |r: &Report| {
        [
            r.delivered,
            r.deleted,
            r.oversized,
            r.deferred,
            r.skipped,
            r.rejected,
            r.interrupted,
        ]
    };
    counts(report) != counts(&nothing)
}

/// The summary line: what was delivered, deleted and left on the server.
fn summary_line(account: &str, report: &Report, destination: &str) -> String {
    let mut line = format!(
        "{account}: {} new {} ({}) delivered to {destination}",
        report.delivered,
        if report.delivered == 1 {
            "message"
        } else {
            "messages"
        },
        indicatif::HumanBytes(report.octets)
    );
    let add = |line: &mut String, count: u64, what: &str| {
        if count > 0 {
            line.push_str(&format!(", {count} {what}"));
        }
    };
    add(&mut line, report.deleted, "deleted");
    let unread: Vec<String> = [
        (report.oversized_deleted, "over --max-size"),
        (report.filtered_out, "by the filter"),
    ]
    .iter()
    .filter(|(count, _)| *count > 0)
    .map(|(count, why)| format!("{count} {why}"))
    .collect();
    if !unread.is_empty() {
        line.push_str(&format!(" ({} without downloading)", unread.join(", ")));
    }
    add(
        &mut line,
        report.oversized,
        "over --max-size left on the server",
    );
    add(&mut line, report.skipped, "skipped by the filter");
    add(&mut line, report.rejected, "refused by the MDA");
    add(&mut line, report.deferred, "left for the next run");
    add(
        &mut line,
        report.interrupted,
        "left on the server for the next run",
    );
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_prefixes_are_printable_and_short() {
        assert_eq!(bar_prefix("a{x}b"), "a{x}b:");
        assert_eq!(bar_prefix("tab\there"), "tabhere:");
        let long = bar_prefix("a-very-long-account-name@example.org");
        assert_eq!(long.chars().count(), BAR_PREFIX_CHARS + 1);
        assert!(long.ends_with("…:"));
    }

    #[test]
    fn the_bar_leaves_room_in_80_columns() {
        // Everything but the bar, at its widest.
        let bytes = indicatif::HumanBytes(999 << 30).to_string();
        let line = BAR_TEMPLATE
            .replace(
                "{prefix}",
                &bar_prefix("a-very-long-account-name@example.org"),
            )
            .replace("{msg}", "99999/99999 messages")
            .replace("{wide_bar}", "")
            .replace("{bytes}", &bytes)
            .replace("{total_bytes}", &bytes)
            .replace("{eta_precise}", "00:00:00");
        let width = line.chars().count();
        assert!(width + 8 <= 79, "{width} columns before the bar: {line}");
    }

    #[test]
    fn off_a_terminal_only_a_change_is_reported() {
        let waiting = Report {
            oversized: 2,
            skipped: 1,
            deferred: 3,
            ..Report::default()
        };
        assert_eq!(summary("a", &waiting, "~/m", false), None);
        let line = summary("a", &waiting, "~/m", true).unwrap();
        assert!(
            line.contains("2 over --max-size left on the server"),
            "{line}"
        );
        assert_eq!(summary("a", &Report::default(), "~/m", true), None);
        for changed in [
            Report {
                delivered: 1,
                ..waiting
            },
            Report {
                oversized_deleted: 1,
                ..waiting
            },
            Report {
                filtered_out: 1,
                ..waiting
            },
        ] {
            assert!(
                summary("a", &changed, "~/m", false).is_some(),
                "{changed:?}"
            );
        }
    }
}
