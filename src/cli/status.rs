//! `popget status` and `popget quarantine`: how each account stands and which messages its
//! destination refused for good, read from the files beside its state file without connecting
//! (and without a lock: both files are replaced whole, so a daemon may be running).

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::SystemTime;

use serde::Serialize;

use crate::cli::accounts::load_existing;
use crate::cli::args::{QuarantineArgs, StatusArgs};
use crate::cli::context::{print_json, report_error, Context};
use crate::cli::render::{describe_delivery, new_messages};
use popget::account::Account;
use popget::config::{self, CommandLine};
use popget::error::{exit, Error, Result};
use popget::set_aside::{self, SetAside};
use popget::state;
use popget::status::{self, Record};

/// The exit status of a command over several accounts: that of the first failure, each
/// failure reported on its own line as it is met.
struct Failures(u8);

impl Failures {
    fn report(&mut self, account: &str, error: &Error) {
        let code = report_error(Some(account), error);
        if self.0 == exit::OK {
            self.0 = code;
        }
    }
}

/// The accounts named, or every account but templates; one that cannot be resolved is
/// reported and left out.
fn selected(context: &Context, names: &[String], failures: &mut Failures) -> Result<Vec<Account>> {
    let config = load_existing(context)?;
    let accounts = config::select_each(&config, names, &CommandLine::default(), context.env)?;
    let mut resolved = Vec::new();
    for (name, account) in accounts {
        match account {
            Ok(account) => resolved.push(account),
            Err(error) => failures.report(&name, &error),
        }
    }
    Ok(resolved)
}

/// Seconds since the epoch as RFC 3339, in UTC.
fn timestamp(seconds: u64) -> String {
    i64::try_from(seconds)
        .ok()
        .and_then(|seconds| jiff::Timestamp::from_second(seconds).ok())
        .map_or_else(|| seconds.to_string(), |time| time.to_string())
}

/// How far `at` is from `now`, as a person says it: `5 min ago`, `in 2 h`.
fn relative(at: u64, now: u64) -> String {
    let span = |seconds: u64| match seconds {
        0..=59 => format!("{seconds} s"),
        60..=3599 => format!("{} min", seconds / 60),
        3600..=172_799 => format!("{} h", seconds / 3600),
        _ => format!("{} days", seconds / 86_400),
    };
    match at.cmp(&now) {
        std::cmp::Ordering::Equal => "now".to_string(),
        std::cmp::Ordering::Less => format!("{} ago", span(now - at)),
        std::cmp::Ordering::Greater => format!("in {}", span(at - now)),
    }
}

// ---------------------------------------------------------------------------------------------
// popget status

/// What `popget status` knows of one account.
struct AccountStatus {
    name: String,
    destination: Option<String>,
    /// The destination with `~` for the home directory, for the table.
    shown: String,
    /// `None`: never checked.
    record: Option<Record>,
    /// `None`: the set-aside file cannot be read.
    set_aside: Option<usize>,
}

#[derive(Serialize)]
struct StatusJson {
    accounts: Vec<AccountJson>,
}

#[derive(Serialize)]
struct AccountJson {
    account: String,
    destination: Option<String>,
    last_check: Option<CheckJson>,
    last_delivery: Option<DeliveryJson>,
    last_error: Option<FailureJson>,
    next_poll: Option<String>,
    set_aside: Option<usize>,
}

#[derive(Serialize)]
struct CheckJson {
    at: String,
    /// `ok` or `failed`.
    result: &'static str,
    exit_code: u8,
    message: Option<String>,
    delivered: u64,
    octets: u64,
}

#[derive(Serialize)]
struct DeliveryJson {
    at: String,
    delivered: u64,
    octets: u64,
}

#[derive(Serialize)]
struct FailureJson {
    at: String,
    exit_code: u8,
    message: String,
}

impl AccountStatus {
    fn read(account: &Account, home: Option<&std::path::Path>, failures: &mut Failures) -> Self {
        let record = status::read(&account.state_path, &account.name).unwrap_or_else(|error| {
            failures.report(&account.name, &error);
            None
        });
        let set_aside = match SetAside::load(&account.state_path) {
            Ok(set) => Some(set.len()),
            Err(error) => {
                failures.report(&account.name, &error);
                None
            }
        };
        let delivery = account.delivery.as_ref();
        AccountStatus {
            name: account.name.clone(),
            destination: delivery.map(|delivery| describe_delivery(delivery, None)),
            shown: delivery.map_or_else(
                || "-".to_string(),
                |delivery| describe_delivery(delivery, home),
            ),
            record,
            set_aside,
        }
    }

    fn json(&self) -> AccountJson {
        let record = self.record.clone().unwrap_or_default();
        AccountJson {
            account: self.name.clone(),
            destination: self.destination.clone(),
            last_check: record.last_check.map(|check| CheckJson {
                at: timestamp(check.at),
                result: if check.failure.is_some() {
                    "failed"
                } else {
                    "ok"
                },
                exit_code: check.failure.as_ref().map_or(exit::OK, |f| f.exit_code),
                message: check.failure.map(|failure| failure.message),
                delivered: check.delivered,
                octets: check.octets,
            }),
            last_delivery: record.last_delivery.map(|delivery| DeliveryJson {
                at: timestamp(delivery.at),
                delivered: delivery.delivered,
                octets: delivery.octets,
            }),
            last_error: record.last_error.map(|failure| FailureJson {
                at: timestamp(failure.at),
                exit_code: failure.exit_code,
                message: failure.message,
            }),
            next_poll: record.next_poll.map(timestamp),
            set_aside: self.set_aside,
        }
    }

    /// The table's cells: account, last check, result, delivered, next poll, set aside,
    /// destination.
    fn cells(&self, now: u64) -> [String; 7] {
        let record = self.record.as_ref();
        let check = record.and_then(|record| record.last_check.as_ref());
        let (checked, result, delivered) = match check {
            None => ("never".to_string(), "-".to_string(), "-".to_string()),
            Some(check) => (
                relative(check.at, now),
                check
                    .failure
                    .as_ref()
                    .map_or_else(|| "ok".to_string(), |f| format!("exit {}", f.exit_code)),
                format!(
                    "{} ({})",
                    check.delivered,
                    indicatif::HumanBytes(check.octets)
                ),
            ),
        };
        let next_poll = record
            .and_then(|record| record.next_poll)
            .map_or_else(|| "-".to_string(), |at| relative(at, now));
        let set_aside = self
            .set_aside
            .map_or_else(|| "?".to_string(), |count| count.to_string());
        [
            self.name.clone(),
            checked,
            result,
            delivered,
            next_poll,
            set_aside,
            self.shown.clone(),
        ]
    }

    /// The lines under the table: the last delivery when the last check delivered nothing, the
    /// last error with its time.
    fn details(&self, now: u64) -> Vec<String> {
        let Some(record) = &self.record else {
            return Vec::new();
        };
        let mut lines = Vec::new();
        let check_delivered = record.last_check.as_ref().is_some_and(|c| c.delivered > 0);
        if let Some(delivery) = record.last_delivery.as_ref().filter(|_| !check_delivered) {
            lines.push(format!(
                "{}: last delivery {}: {}",
                self.name,
                relative(delivery.at, now),
                new_messages(delivery.delivered, delivery.octets)
            ));
        }
        if let Some(failure) = &record.last_error {
            lines.push(format!(
                "{}: last error {} (exit {}): {}",
                self.name,
                relative(failure.at, now),
                failure.exit_code,
                failure.message
            ));
        }
        lines
    }
}

/// `popget status [ACCOUNT...] [--json]`: a table (with a line per last error), or JSON.
pub(crate) fn status(context: &Context, args: &StatusArgs) -> u8 {
    let mut failures = Failures(exit::OK);
    let accounts = match selected(context, &args.accounts, &mut failures) {
        Ok(accounts) => accounts,
        Err(error) => return report_error(None, &error),
    };
    let home = context.env.get("HOME").map(PathBuf::from);
    let statuses: Vec<AccountStatus> = accounts
        .iter()
        .map(|account| AccountStatus::read(account, home.as_deref(), &mut failures))
        .collect();
    let printed = if args.json {
        print_json(&StatusJson {
            accounts: statuses.iter().map(AccountStatus::json).collect(),
        })
    } else {
        let now = status::seconds(SystemTime::now());
        write_table(&statuses, now).map_err(|e| Error::io("cannot write the output", e))
    };
    match printed {
        Err(error) if !error.is_broken_pipe() => report_error(None, &error),
        _ => failures.0,
    }
}

fn write_table(statuses: &[AccountStatus], now: u64) -> io::Result<()> {
    let header = [
        "ACCOUNT",
        "LAST CHECK",
        "RESULT",
        "DELIVERED",
        "NEXT POLL",
        "SET ASIDE",
        "DESTINATION",
    ]
    .map(String::from);
    let rows: Vec<[String; 7]> = std::iter::once(header)
        .chain(statuses.iter().map(|status| status.cells(now)))
        .collect();
    let mut out = io::stdout().lock();
    write_columns(&mut out, &rows)?;
    for status in statuses {
        for line in status.details(now) {
            writeln!(out, "{line}")?;
        }
    }
    out.flush()
}

/// Rows in aligned columns, two spaces apart, the last column as it is.
fn write_columns<const N: usize>(out: &mut impl Write, rows: &[[String; N]]) -> io::Result<()> {
    let mut widths = [0; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 < N {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            } else {
                line.push_str(cell);
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// popget quarantine

#[derive(Serialize)]
struct QuarantineJson {
    messages: Vec<SetAsideJson>,
}

#[derive(Serialize)]
struct SetAsideJson {
    account: String,
    /// Escaped as in the state file: printable, one word.
    uidl: String,
    since: String,
    reason: String,
}

/// `popget quarantine [ACCOUNT...] [--json]` lists the messages set aside;
/// `popget quarantine ACCOUNT --retry [UIDL...]` offers them (or those named) again.
pub(crate) fn quarantine(context: &Context, args: &QuarantineArgs) -> u8 {
    let mut failures = Failures(exit::OK);
    let result = match &args.retry {
        Some(uids) => retry(context, &args.accounts, uids),
        None => list(context, args, &mut failures),
    };
    match result {
        Ok(()) => failures.0,
        Err(error) if error.is_broken_pipe() => failures.0,
        Err(error) => report_error(None, &error),
    }
}

fn list(context: &Context, args: &QuarantineArgs, failures: &mut Failures) -> Result<()> {
    let accounts = selected(context, &args.accounts, failures)?;
    let mut messages = Vec::new();
    for account in &accounts {
        match SetAside::load(&account.state_path) {
            Ok(set) => messages.extend(set.entries().iter().map(|entry| SetAsideJson {
                account: account.name.clone(),
                uidl: entry.uid_text(),
                since: timestamp(entry.since),
                reason: entry.reason.clone(),
            })),
            Err(error) => failures.report(&account.name, &error),
        }
    }
    if args.json {
        return print_json(&QuarantineJson { messages });
    }
    if messages.is_empty() {
        if !context.global.quiet && failures.0 == exit::OK {
            popget::say!("popget: no message is set aside");
        }
        return Ok(());
    }
    let header = ["ACCOUNT", "UIDL", "SINCE", "REASON"].map(String::from);
    let rows: Vec<[String; 4]> = std::iter::once(header)
        .chain(
            messages
                .into_iter()
                .map(|message| [message.account, message.uidl, message.since, message.reason]),
        )
        .collect();
    let mut out = io::stdout().lock();
    write_columns(&mut out, &rows)
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("cannot write the output", e))
}

/// Takes messages out of the account's set, under its lock (not while a fetch of it runs), so
/// that the next fetch offers them to the destination again. Naming one that is not set aside
/// changes nothing.
fn retry(context: &Context, names: &[String], uids: &[String]) -> Result<()> {
    let [name] = names else {
        return Err(Error::Usage(
            "--retry works on one account: popget quarantine ACCOUNT --retry [UIDL...]".into(),
        ));
    };
    let config = load_existing(context)?;
    let names = std::slice::from_ref(name);
    let accounts = config::select_accounts(&config, names, &CommandLine::default(), context.env)?;
    let [account] = accounts.as_slice() else {
        return Err(Error::Usage(format!("\"{name}\" names no single account")));
    };
    let _lock = state::lock_account(&account.state_path)?;
    if uids.is_empty() {
        // Every message goes, so a file that cannot be read is simply replaced.
        let count = SetAside::load(&account.state_path).map_or(0, |set| set.len());
        SetAside::empty(&account.state_path).commit()?;
        say_retried(context, &account.name, count);
        return Ok(());
    }
    let mut set = SetAside::load(&account.state_path)?;
    let wanted: Vec<Vec<u8>> = uids
        .iter()
        .map(|text| set_aside::uid_from_text(text))
        .collect();
    let missing: Vec<&str> = uids
        .iter()
        .zip(&wanted)
        .filter(|(_, uid)| !set.contains(uid))
        .map(|(text, _)| text.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(Error::Usage(format!(
            "not set aside for {}: {}; nothing changed (`popget quarantine {}` lists them)",
            account.name,
            missing.join(", "),
            account.name
        )));
    }
    for uid in &wanted {
        set.remove(uid);
    }
    set.commit()?;
    say_retried(context, &account.name, wanted.len());
    Ok(())
}

fn say_retried(context: &Context, account: &str, count: usize) {
    if !context.global.quiet {
        popget::say!(
            "{account}: {count} {} will be offered to the destination again on the next fetch",
            if count == 1 { "message" } else { "messages" }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_said_as_a_person_says_them() {
        assert_eq!(relative(1000, 1000), "now");
        assert_eq!(relative(990, 1000), "10 s ago");
        assert_eq!(relative(1000 - 300, 1000), "5 min ago");
        assert_eq!(relative(1000 + 7200, 1000), "in 2 h");
        assert_eq!(relative(0, 3 * 86_400), "3 days ago");
        assert_eq!(timestamp(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn columns_are_aligned() {
        let rows = [
            ["ACCOUNT", "LAST CHECK", "DESTINATION"].map(String::from),
            ["alice", "5 min ago", "~/Mail"].map(String::from),
        ];
        let mut out = Vec::new();
        write_columns(&mut out, &rows).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "ACCOUNT  LAST CHECK  DESTINATION\nalice    5 min ago   ~/Mail\n"
        );
    }
}
