//! What `popget fetch` and the daemon show: the stacked progress bars, the lines printed above
//! them (or the daemon's log lines), and each account's summary line.

use std::io::{IsTerminal, Write};
use std::path::Path;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::args::{FetchArgs, GlobalArgs, ProgressMode};
use crate::cli::context::{describe, report_error};
use popget::account::Delivery;
use popget::error::Error;
use popget::fetch::hook::HookFailure;
use popget::fetch::{Notice, Observer, Report};
use popget::signals;

/// A short description of the destination for the summary line, with `~` for the home
/// directory `home`; an MDA is shown as `| COMMAND`.
pub(crate) fn describe_delivery(delivery: &Delivery, home: Option<&Path>) -> String {
    let Some(path) = delivery.path() else {
        return match delivery {
            Delivery::Mda { command, .. } => format!("| {command}"),
            Delivery::Imap(target) => format!(
                "{}://{}@{}/{}",
                if target.server.tls == popget::transport::TlsMode::Implicit {
                    "imaps"
                } else {
                    "imap"
                },
                target.login.user,
                target.server.host,
                target.mailbox
            ),
            Delivery::Lmtp(target) => format!("LMTP {} for {}", target.address, target.recipient),
            Delivery::Gmail(target) if target.labels.is_empty() => {
                format!("Gmail {}", target.address)
            }
            Delivery::Gmail(target) => {
                format!("Gmail {} ({})", target.address, target.labels.join(", "))
            }
            Delivery::Maildir { .. } | Delivery::Mbox(_) => String::new(),
        };
    };
    if let Some(home) = home {
        if let Ok(rest) = path.strip_prefix(home) {
            return format!("~/{}", rest.display());
        }
    }
    path.display().to_string()
}

/// One account's run as the terminal shows it: its progress bar, if any, and the lines it has
/// to print on the way.
pub(crate) struct RunView<'a> {
    pub terminal: &'a Terminal,
    pub account: &'a str,
    pub quiet: bool,
    pub bar: Option<Bar>,
}

impl Observer for RunView<'_> {
    fn planned(&mut self, messages: usize, octets: u64) {
        if let Some(bar) = &mut self.bar {
            bar.planned(messages, octets);
        }
    }

    fn streamed(&mut self, octets: u64) {
        if let Some(bar) = &mut self.bar {
            bar.streamed(octets);
        }
    }

    fn delivered(&mut self, octets: u64) {
        if let Some(bar) = &mut self.bar {
            bar.delivered(octets);
        }
    }

    fn notice(&mut self, notice: Notice) {
        let name = self.account;
        match notice {
            Notice::Insecure => self.terminal.print_warning(&format!(
                "popget: {name}: warning: --insecure: the server's certificate is not checked; \
                 anyone on the network path can read your password and mail"
            )),
            Notice::Recovered(count) if !self.quiet => self.terminal.print(&format!(
                "{name}: {count} deliveries of an interrupted run were found in the mailbox and \
                 recorded"
            )),
            Notice::Recovered(_) => {}
            Notice::HookFailed(failure) => {
                let problem = match failure {
                    HookFailure::Exited(status) => format!("exited with status {status}"),
                    HookFailure::Killed => "was killed by a signal".to_string(),
                    HookFailure::TimedOut(seconds) => {
                        format!("ran longer than {seconds} s and was stopped")
                    }
                    HookFailure::CannotRun(error) => describe(&error),
                };
                self.terminal
                    .print_warning(&format!("{name}: on_new_mail command {problem}"))
            }
            Notice::SetAsideUnreadable(error) => self.terminal.print_warning(&format!(
                "popget: {name}: warning: {}; it is replaced, and the messages it set aside \
                 are offered to the destination again",
                describe(&error)
            )),
            Notice::SetAsideFull { dropped } => self.terminal.print_warning(&format!(
                "popget: {name}: warning: more than {} messages are set aside: the {dropped} \
                 oldest were dropped and will be offered to the destination again",
                popget::set_aside::MAX_ENTRIES
            )),
            Notice::StatusNotRecorded(error) => self.terminal.print_warning(&format!(
                "popget: {name}: warning: the check was not recorded for `popget status`: {}",
                describe(&error)
            )),
        }
    }
}

impl Drop for RunView<'_> {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.bar.finish_and_clear();
        }
    }
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
    pub(crate) fn new(global: &GlobalArgs, args: &FetchArgs) -> Terminal {
        let wanted = match args.progress {
            ProgressMode::Never => false,
            ProgressMode::Always => true,
            ProgressMode::Auto => std::io::stderr().is_terminal(),
        };
        if !wanted || global.quiet || global.verbose {
            return Terminal::plain();
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

    /// Lines on standard error, no progress bars.
    pub(crate) fn plain() -> Terminal {
        Terminal {
            service: false,
            bars: None,
            _clear_on_abort: None,
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

    pub(crate) fn print(&self, line: &str) {
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

    pub(crate) fn print_warning(&self, line: &str) {
        if self.service {
            return crate::cli::log::warning(line);
        }
        self.print(line);
    }

    pub(crate) fn print_error(&self, account: Option<&str>, error: &Error) {
        match &self.bars {
            Some(bars) => bars.suspend(|| report_error(account, error)),
            None => report_error(account, error),
        };
    }

    pub(crate) fn progress_bar(&self, account: &str) -> Option<Bar> {
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
pub(crate) struct Bar {
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
pub(crate) fn summary(
    account: &str,
    report: &Report,
    destination: &str,
    interactive: bool,
) -> Option<String> {
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
            r.too_large_for_destination,
            r.set_aside,
        ]
    };
    counts(report) != counts(&nothing)
}

/// `12 new messages (3.40 MiB)`.
pub(crate) fn new_messages(count: u64, octets: u64) -> String {
    let noun = if count == 1 { "message" } else { "messages" };
    format!("{count} new {noun} ({})", indicatif::HumanBytes(octets))
}

/// The summary line: what was delivered, deleted and left on the server.
fn summary_line(account: &str, report: &Report, destination: &str) -> String {
    let mut line = format!(
        "{account}: {} delivered to {destination}",
        new_messages(report.delivered, report.octets)
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
    add(
        &mut line,
        report.too_large_for_destination,
        "too large for the destination left on the server",
    );
    add(&mut line, report.skipped, "skipped by the filter");
    add(&mut line, report.rejected, "refused by the destination");
    add(&mut line, report.set_aside, "set aside (popget quarantine)");
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
