//! Fetching one account, as `popget fetch` and `popget daemon` both run it:
//! [`fetch_account`] takes the account's lock, honours the server's LOGIN-DELAY, opens the
//! mailbox its [`Delivery`] describes, settles what an interrupted run left in the journal,
//! connects and logs in, runs the POP3 transaction ([`fetch()`]: plan, pipelined transfer,
//! commit, delete), runs the `on_new_mail` hook and records how the check went ([`status`]).

mod commit;
pub mod hook;
mod plan;
mod sync_groups;
mod transaction;
mod transfer;

use std::time::Duration;

pub use commit::recover;
pub use transaction::{fetch, rebuild_state, Outcome, Report, Request};
pub use transfer::STREAM_REPORT_OCTETS;

use crate::account::Account;
use crate::connect;
use crate::error::{Error, Result};
use crate::login_delay;
use crate::pop3::Tracer;
use crate::set_aside::SetAside;
use crate::signals;
use crate::state::{self, State};
use crate::status;
use crate::store::Delivery;

/// Follows a run: its progress (for a progress bar; sizes are the server's LIST sizes) and
/// what it has to tell before it ends.
pub trait Observer {
    fn planned(&mut self, _messages: usize, _octets: u64) {}
    /// More of the message being read arrived: `octets` since the last call (at most every
    /// [`STREAM_REPORT_OCTETS`], or sooner on a slow link), after unstuffing.
    fn streamed(&mut self, _octets: u64) {}
    /// A message was read whole and staged; `octets` is its LIST size.
    fn delivered(&mut self, _octets: u64) {}
    /// Something the user should hear about while the run goes on.
    fn notice(&mut self, _notice: Notice) {}
}

/// No progress display, nothing told.
impl Observer for () {}

/// What a run tells its observer on the way.
#[derive(Debug)]
pub enum Notice {
    /// The server's certificate is not checked (`insecure`): anyone on the path can read the
    /// password and the mail.
    Insecure,
    /// Deliveries of an interrupted run were found in the mailbox and recorded.
    Recovered(usize),
    /// The `on_new_mail` command failed.
    HookFailed(hook::HookFailure),
    /// The file of messages set aside cannot be read: it is replaced, and its messages are
    /// offered to the destination again.
    SetAsideUnreadable(Error),
    /// More messages are set aside than are kept: the oldest were dropped, and are offered to
    /// the destination again on the next run.
    SetAsideFull { dropped: usize },
    /// How the check went could not be recorded for `popget status`; the run is not affected.
    StatusNotRecorded(Error),
}

/// How a run learns that it should stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Never: the run goes to its end.
    Never,
    /// When SIGINT or SIGTERM arrives ([`signals`]): no new message is asked for, what is
    /// staged is kept, and a read blocked on the server is cut short if the stop takes too long.
    OnSignal,
}

impl Stop {
    fn requested(self) -> bool {
        match self {
            Stop::Never => false,
            Stop::OnSignal => signals::received().is_some(),
        }
    }

    fn check(self) -> Option<fn() -> bool> {
        match self {
            Stop::Never => None,
            Stop::OnSignal => Some(|| signals::received().is_some()),
        }
    }
}

/// What this run asks beyond the account's own settings.
#[derive(Clone, Copy, Default)]
pub struct RunOptions {
    /// Fetch messages already recorded as delivered, too.
    pub all: bool,
    /// Makes the tracer that sees every line of the POP3 dialogue (secrets redacted), from
    /// the account's name.
    pub trace: Option<fn(&str) -> Tracer>,
}

/// How an account's run ended.
#[derive(Debug)]
pub enum Ended {
    /// The server's LOGIN-DELAY does not allow a login yet: skipped, for this long.
    TooEarly(Duration),
    /// A stop came before the session was opened.
    StoppedBeforeFetching,
    /// The transaction ran: its report and, if it stopped early or failed, the first error.
    Fetched(Outcome),
}

/// Fetches `account`: lock, LOGIN-DELAY, open the mailbox, settle an interrupted run's journal,
/// connect and log in, run the transaction, then the `on_new_mail` hook. An error before the
/// transaction (no destination, the lock held, a mailbox that cannot be opened, a refused
/// login) is the result; what the transaction did is in [`Ended::Fetched`] even when it failed.
/// Every check that holds the lock is recorded for `popget status` (one that finds the account
/// locked leaves that to the run holding it).
pub fn fetch_account(
    account: &Account,
    options: RunOptions,
    stop: Stop,
    observer: &mut dyn Observer,
) -> Result<Ended> {
    let delivery = account
        .delivery
        .as_ref()
        .ok_or_else(|| crate::config::missing_destination(&account.name))?;
    let _lock = state::lock_account(&account.state_path)?;
    let ended = fetch_locked(account, delivery, options, stop, observer);
    record_status(account, &ended, observer);
    ended
}

/// [`fetch_account`] once the account is locked.
fn fetch_locked(
    account: &Account,
    delivery: &Delivery,
    options: RunOptions,
    stop: Stop,
    observer: &mut dyn Observer,
) -> Result<Ended> {
    if let Some(wait) = login_delay::wait_before_login(&account.state_path) {
        return Ok(Ended::TooEarly(wait));
    }
    let mut state = State::load(&account.state_path)?;
    // A file that cannot be read is replaced: its messages are offered again, and each
    // refusal ends one run with 73 and is set aside anew.
    let mut set_aside = SetAside::load(&account.state_path).unwrap_or_else(|error| {
        observer.notice(Notice::SetAsideUnreadable(error));
        SetAside::empty(&account.state_path)
    });
    let trace = options.trace.map(|make| {
        let name = format!("{} to {}", account.name, destination_name(delivery));
        Box::new(move || make(&name)) as crate::store::TraceMaker
    });
    let opened = delivery.open(trace)?;
    let recovered = recover(&mut state, opened.mailbox())?;
    if recovered > 0 {
        observer.notice(Notice::Recovered(recovered));
    }
    if stop.requested() {
        return Ok(Ended::StoppedBeforeFetching);
    }
    let session = open_session(account, options, observer)?;
    let announced = session.capabilities().and_then(login_delay::announced);
    // Without the record the next run may log in too early, which the server refuses for
    // the time being: not worth failing this run for.
    let _ = login_delay::record(&account.state_path, announced);
    // A read blocked on the server is cut short if a stop takes too long.
    let _watched = match stop {
        Stop::OnSignal => session
            .connection()
            .socket()
            .try_clone()
            .ok()
            .map(signals::watch),
        Stop::Never => None,
    };
    let request = Request {
        policy: account.policy.clone(),
        all: options.all,
        pipelining: account.server.pipelining,
        stop_requested: stop.check(),
    };
    let outcome = fetch(
        session,
        opened.mailbox(),
        &mut state,
        &mut set_aside,
        &request,
        observer,
    );
    run_hook(account, delivery, &outcome.report, observer);
    Ok(Ended::Fetched(outcome))
}

/// Records how the run went for `popget status`: a check that ran (whatever its end), not one
/// skipped for LOGIN-DELAY or stopped before it began. Never fails the run.
fn record_status(account: &Account, ended: &Result<Ended>, observer: &mut dyn Observer) {
    let (report, error) = match ended {
        Ok(Ended::Fetched(outcome)) => (&outcome.report, outcome.error.as_ref()),
        Ok(Ended::TooEarly(_) | Ended::StoppedBeforeFetching) => return,
        Err(error) => (&Report::default(), Some(error)),
    };
    let run = status::RunResult {
        delivered: report.delivered,
        octets: report.octets,
        // The connection a stop cut was cut on purpose.
        error: error.filter(|error| !cut_by_stop(error)),
    };
    if let Err(error) = status::record_check(&account.state_path, &account.name, &run) {
        observer.notice(Notice::StatusNotRecorded(error));
    }
}

/// How a destination server is named in the trace of its dialogue.
fn destination_name(delivery: &Delivery) -> &str {
    match delivery {
        Delivery::Imap(target) => &target.name,
        Delivery::Lmtp(target) => &target.name,
        Delivery::Gmail(target) => &target.name,
        Delivery::Maildir { .. } | Delivery::Mbox(_) | Delivery::Mda { .. } => "",
    }
}

/// Marks every message now on the server as fetched in a new state file, replacing the old
/// one, without downloading or deleting anything. Returns how many were marked.
pub fn rebuild_account_state(
    account: &Account,
    options: RunOptions,
    observer: &mut dyn Observer,
) -> Result<usize> {
    let _lock = state::lock_account(&account.state_path)?;
    let session = open_session(account, options, observer)?;
    let mut state = State::empty(&account.state_path);
    let marked = rebuild_state(session, &mut state)?;
    // Every message is now marked as fetched, those set aside too.
    SetAside::empty(&account.state_path).commit()?;
    Ok(marked)
}

/// Gets the secret (before connecting: a prompt must not hold a connection open) and logs in.
fn open_session(
    account: &Account,
    options: RunOptions,
    observer: &mut dyn Observer,
) -> Result<crate::pop3::Session<crate::transport::Stream>> {
    if account.server.certificates.insecure {
        observer.notice(Notice::Insecure);
    }
    let password = connect::password_before_connecting(account)?;
    let trace = options.trace.map(|make| make(&account.name));
    connect::open_session(account, password, trace)
}

/// Runs the account's `on_new_mail` command after a run that delivered mail.
fn run_hook(account: &Account, delivery: &Delivery, report: &Report, observer: &mut dyn Observer) {
    let Some(command) = &account.schedule.on_new_mail else {
        return;
    };
    if let Some(problem) = hook::after_delivery(command, &account.name, report, delivery) {
        observer.notice(Notice::HookFailed(problem));
    }
}

/// An error of a run that stopped because it was asked to: the connection cut by the stop.
pub fn cut_by_stop(error: &Error) -> bool {
    signals::connections_were_cut() && error.is_connection_lost()
}
