//! `popget daemon`: polls each account on its own schedule, up to `--jobs` at once, as a
//! long-running service that systemd can supervise (readiness, status, watchdog, reload).
//!
//! One scheduler thread decides what runs when; worker threads run the same per-account fetch
//! as `popget fetch`. Both sides talk through channels: jobs go to the workers, results and the
//! signals' requests come back as [`Event`]s, so the scheduler never blocks on a server and one
//! account's trouble never delays the others beyond the workers it occupies.

mod notify;
mod schedule;

use crate::cli::log;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use crate::cli::args::{ConnectionArgs, DaemonArgs, DeliveryArgs, GlobalArgs};
use crate::cli::context::{describe, tracer};
use crate::cli::render::Terminal;
use crate::cli::run::{self, Runner};
use popget::account::{self, Account};
use popget::config::{self, ConfigFile};
use popget::error::{exit, Error, Result};
use popget::fetch::Report;
use popget::fetch::RunOptions;
use popget::login_delay;
use popget::signals::{self, Request};

use notify::Notifier;
use schedule::{Failure, Schedule};

/// The longest the scheduler sleeps when nothing is due (it wakes for every event anyway).
const LONGEST_SLEEP: Duration = Duration::from_secs(3600);

/// What wakes the scheduler.
enum Event {
    Signal(Request),
    Finished(Box<Finished>),
}

/// A run that ended, sent back by a worker.
struct Finished {
    name: String,
    state_path: PathBuf,
    report: Report,
    result: Result<()>,
}

/// A run for a worker.
struct Job {
    name: String,
    account: Account,
    state_path: PathBuf,
}

/// One account the daemon knows: polled, or stopped until a reload (`polled` is `None` when
/// its configuration cannot be resolved).
struct Entry {
    name: String,
    polled: Option<Account>,
    schedule: Schedule,
    running: bool,
}

/// The current cycle: every polled account once. Its end is reported as the service status.
#[derive(Default)]
struct Cycle {
    number: u64,
    started: Option<Instant>,
    waiting: HashSet<String>,
    accounts: usize,
    delivered: u64,
    failed: u64,
}

/// Runs the daemon until SIGTERM or SIGINT; returns the exit status.
pub fn run(global: &GlobalArgs, args: &DaemonArgs, env: &HashMap<String, String>) -> u8 {
    let (events, inbox) = mpsc::channel::<Event>();
    let signal_events = events.clone();
    let installed = signals::install_for_service(move |request| {
        let _ = signal_events.send(Event::Signal(request));
    });
    if let Err(error) = installed {
        return crate::cli::context::report_error(None, &Error::io("cannot handle signals", error));
    }
    let resolved = match resolve(global.config.as_deref(), &args.accounts, env) {
        Ok(resolved) => resolved,
        Err(error) => return crate::cli::context::report_error(None, &error),
    };
    let mut daemon = Daemon {
        config: global.config.clone(),
        names: args.accounts.clone(),
        env: env.clone(),
        quiet: global.quiet,
        verbose: global.verbose,
        jobs: usize::from(args.jobs),
        notifier: Notifier::from_environment(),
        entries: Vec::new(),
        busy: HashSet::new(),
        stopping: false,
        cycle: Cycle::default(),
    };
    daemon.apply(resolved, Instant::now());
    daemon.info(&format!(
        "popget: daemon started: {} accounts, up to {} at once",
        daemon.entries.len(),
        daemon.jobs
    ));
    daemon.notifier.ready(&daemon.summary());
    let terminal = Terminal::for_service();
    let runner = Runner {
        terminal: &terminal,
        options: RunOptions {
            all: false,
            trace: global.verbose.then_some(tracer as fn(&str) -> _),
        },
        quiet: global.quiet,
        verbose: global.verbose,
        json: false,
    };
    let (job_sender, jobs) = mpsc::channel::<Job>();
    let jobs = Mutex::new(jobs);
    std::thread::scope(|scope| {
        for _ in 0..daemon.jobs {
            let events = events.clone();
            let (jobs, runner) = (&jobs, &runner);
            scope.spawn(move || work(jobs, &events, runner));
        }
        let status = daemon.run(&inbox, &job_sender);
        drop(job_sender);
        status
    })
}

/// The accounts to poll: those named, or every account that is not a template.
fn resolve(
    config: Option<&Path>,
    names: &[String],
    env: &HashMap<String, String>,
) -> Result<Vec<(String, Result<Account>)>> {
    let config = ConfigFile::load(config)?;
    let accounts = config::select_each(
        &config,
        names,
        &crate::cli::context::command_line(
            &ConnectionArgs::default(),
            Some(&DeliveryArgs::default()),
        ),
        env,
    )?;
    Ok(accounts
        .into_iter()
        .map(|(name, account)| {
            // Account accounts deliver: one without a destination is refused here, not at
            // each poll.
            let polled = account.and_then(|account| match account.delivery {
                Some(_) => Ok(account),
                None => Err(config::missing_destination(&account.name)),
            });
            (name, polled)
        })
        .collect())
}

/// A worker: runs the jobs it is given until the scheduler drops its end of the queue.
fn work(jobs: &Mutex<Receiver<Job>>, events: &Sender<Event>, runner: &Runner) {
    loop {
        let job = match lock(jobs).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        let outcome = run::run_account(runner, &job.account);
        let finished = Finished {
            name: job.name,
            state_path: job.state_path,
            report: outcome.report,
            result: outcome.result,
        };
        if events.send(Event::Finished(Box::new(finished))).is_err() {
            return;
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A random number for the jitter; without one, no jitter.
fn random() -> u64 {
    getrandom::u64().unwrap_or(0)
}

struct Daemon {
    /// What to read again on SIGHUP: `--config`, the accounts named, the environment.
    config: Option<PathBuf>,
    names: Vec<String>,
    env: HashMap<String, String>,
    quiet: bool,
    verbose: bool,
    jobs: usize,
    notifier: Notifier,
    entries: Vec<Entry>,
    /// State files of the runs in flight: accounts sharing one run one after the other.
    busy: HashSet<PathBuf>,
    stopping: bool,
    cycle: Cycle,
}

impl Daemon {
    fn info(&self, line: &str) {
        if !self.quiet {
            log::info(line);
        }
    }

    /// The scheduler's loop: start what is due, then sleep until the next event or due time.
    fn run(&mut self, inbox: &Receiver<Event>, jobs: &Sender<Job>) -> u8 {
        loop {
            let now = Instant::now();
            if !self.stopping {
                self.dispatch(now, jobs);
            }
            if self.stopping && self.busy.is_empty() {
                break;
            }
            self.notifier.keep_alive(now);
            let sleep = self.next_wake(now).saturating_duration_since(now);
            match inbox.recv_timeout(sleep) {
                Ok(Event::Finished(finished)) => self.finished(*finished),
                Ok(Event::Signal(request)) => self.requested(request),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        // No poll is coming any more.
        for entry in &self.entries {
            if let Some(polled) = &entry.polled {
                record_next_poll(&polled.state_path, &entry.name, None, Instant::now());
            }
        }
        self.info("popget: daemon stopped; every run in flight was recorded");
        exit::OK
    }

    fn requested(&mut self, request: Request) {
        match request {
            Request::Stop => {
                self.stopping = true;
                self.notifier.stopping();
                let signal = signals::received().map_or("a signal", signals::name);
                self.info(&format!(
                    "popget: stopping ({signal}): {} runs in flight finish their batch",
                    self.busy.len()
                ));
            }
            Request::Reload => self.reload(),
            Request::PollNow => {
                let now = Instant::now();
                for entry in &mut self.entries {
                    entry.schedule.poll_now(now);
                }
                self.info("popget: polling every account now (SIGUSR1)");
            }
        }
    }

    /// Starts the due accounts, as many as there are idle workers.
    fn dispatch(&mut self, now: Instant, jobs: &Sender<Job>) {
        for index in 0..self.entries.len() {
            if self.busy.len() >= self.jobs {
                return;
            }
            let entry = &mut self.entries[index];
            let Some(polled) = &entry.polled else {
                continue;
            };
            if entry.running
                || !entry.schedule.is_due(now)
                || self.busy.contains(&polled.state_path)
            {
                continue;
            }
            if let Some(wait) = login_delay::wait_before_login(&polled.state_path) {
                entry.schedule.not_before(now + wait);
                continue;
            }
            let job = Job {
                name: entry.name.clone(),
                account: polled.clone(),
                state_path: polled.state_path.clone(),
            };
            if jobs.send(job).is_err() {
                return;
            }
            entry.running = true;
            self.busy.insert(polled.state_path.clone());
            self.start_cycle(now);
        }
    }

    /// When the scheduler must wake up without an event: the next due account (when a
    /// worker is free for it) or the watchdog's next keep-alive.
    fn next_wake(&self, now: Instant) -> Instant {
        let mut wake = now + LONGEST_SLEEP;
        if !self.stopping && self.busy.len() < self.jobs {
            let due = self.entries.iter().filter_map(|entry| {
                let polled = entry.polled.as_ref()?;
                let idle = !entry.running && !self.busy.contains(&polled.state_path);
                idle.then_some(entry.schedule.next?)
            });
            wake = due.fold(wake, Instant::min);
        }
        self.notifier
            .watchdog_due()
            .map_or(wake, |due| wake.min(due))
    }

    /// Takes a run's result: the account's next poll, its log line, the cycle's count.
    fn finished(&mut self, finished: Finished) {
        let now = Instant::now();
        self.busy.remove(&finished.state_path);
        self.cycle.waiting.remove(&finished.name);
        self.cycle.delivered += finished.report.delivered;
        let Some(entry) = self.entries.iter_mut().find(|e| e.name == finished.name) else {
            // Removed from the configuration while it ran.
            return self.end_cycle_if_done(now);
        };
        entry.running = false;
        let line = match &finished.result {
            Ok(()) => {
                let failures = entry.schedule.failures;
                entry.schedule.succeeded(now, random());
                (failures > 0).then(|| {
                    (
                        log::Priority::Info,
                        format!("{}: polled again after {failures} failures", entry.name),
                    )
                })
            }
            Err(error) => {
                self.cycle.failed += 1;
                Some(failure_line(entry, error, now))
            }
        };
        if let Some(wait) = login_delay::wait_before_login(&finished.state_path) {
            entry.schedule.not_before(now + wait);
        }
        if !self.stopping {
            record_next_poll(&finished.state_path, &entry.name, entry.schedule.next, now);
        }
        // During a stop, the runs' own lines say how they ended.
        if let (Some((priority, line)), false) = (line, self.stopping) {
            if priority != log::Priority::Info || !self.quiet {
                log::write(priority, &line);
            }
        }
        self.end_cycle_if_done(now);
    }

    fn start_cycle(&mut self, now: Instant) {
        if self.cycle.started.is_some() {
            return;
        }
        let polled: HashSet<String> = self
            .entries
            .iter()
            .filter(|entry| entry.polled.is_some() && entry.schedule.next.is_some())
            .map(|entry| entry.name.clone())
            .collect();
        self.cycle = Cycle {
            number: self.cycle.number + 1,
            started: Some(now),
            accounts: polled.len(),
            waiting: polled,
            delivered: 0,
            failed: 0,
        };
    }

    /// Once every account of the cycle ran: the status line, for systemd and (with `-v`) the
    /// log.
    fn end_cycle_if_done(&mut self, now: Instant) {
        let Some(started) = self.cycle.started else {
            return;
        };
        if !self.cycle.waiting.is_empty() {
            return;
        }
        let took = now.duration_since(started);
        self.cycle.started = None;
        let status = format!(
            "cycle {}: {} accounts polled in {:.3} s, {} new messages, {} failed; {}",
            self.cycle.number,
            self.cycle.accounts,
            took.as_secs_f64(),
            self.cycle.delivered,
            self.cycle.failed,
            self.summary()
        );
        self.notifier.status(&status);
        if self.verbose {
            self.info(&format!("popget: {status}"));
        }
    }

    /// How the accounts stand: polled, backing off, stopped.
    fn summary(&self) -> String {
        let stopped = self
            .entries
            .iter()
            .filter(|e| e.polled.is_none() || e.schedule.next.is_none())
            .count();
        let backing_off = self
            .entries
            .iter()
            .filter(|e| e.schedule.failures > 0 && e.schedule.next.is_some())
            .count();
        format!(
            "{} accounts: {} polled, {backing_off} backing off, {stopped} stopped",
            self.entries.len(),
            self.entries.len() - stopped
        )
    }
}

/// Records when the account is polled next (`None`: not until something changes), for
/// `popget status`. A failure to record it is a warning: the polling goes on.
fn record_next_poll(state_path: &Path, name: &str, next: Option<Instant>, now: Instant) {
    let at = next.map(|next| SystemTime::now() + next.saturating_duration_since(now));
    if let Err(error) = popget::status::record_next_poll(state_path, name, at) {
        log::warning(&format!(
            "{name}: the next poll was not recorded for `popget status`: {}",
            describe(&error)
        ));
    }
}

/// The log line for a failed run, and the account's schedule changed for it.
fn failure_line(entry: &mut Entry, error: &Error, now: Instant) -> (log::Priority, String) {
    let failure = Failure::of(error);
    let hint =
        crate::cli::hint::hint(error).map_or_else(String::new, |hint| format!(" (hint: {hint})"));
    match entry.schedule.failed(failure, now, random()) {
        Some(wait) => {
            let priority = match failure {
                Failure::Temporary => log::Priority::Warning,
                _ => log::Priority::Error,
            };
            let line = format!(
                "{}: {}{hint}; trying again in {} s",
                entry.name,
                describe(error),
                wait.as_secs().max(1)
            );
            (priority, line)
        }
        None => (
            log::Priority::Error,
            format!(
                "{}: {}{hint}; not polled again until the configuration is reloaded \
                 (SIGHUP)",
                entry.name,
                describe(error)
            ),
        ),
    }
}

/// Reading the configuration again: startup and SIGHUP.
impl Daemon {
    fn reload(&mut self) {
        // A CA file or the system's roots may have changed too.
        popget::transport::forget_tls_connectors();
        self.notifier.reloading();
        let resolved = resolve(self.config.as_deref(), &self.names, &self.env);
        match resolved {
            Ok(resolved) => {
                let before: Vec<String> = self.entries.iter().map(|e| e.name.clone()).collect();
                self.apply(resolved, Instant::now());
                let added: Vec<&str> = self
                    .entries
                    .iter()
                    .map(|e| e.name.as_str())
                    .filter(|name| !before.iter().any(|b| b == name))
                    .collect();
                let removed: Vec<&str> = before
                    .iter()
                    .map(String::as_str)
                    .filter(|name| !self.entries.iter().any(|e| e.name == *name))
                    .collect();
                self.info(&format!(
                    "popget: configuration reloaded: {} accounts; added: {}; removed: {}",
                    self.entries.len(),
                    list_or_none(&added),
                    list_or_none(&removed)
                ));
            }
            Err(error) => log::error(&format!(
                "popget: the configuration was not reloaded, the previous one stays in use: \
                 {}",
                describe(&error)
            )),
        }
        self.notifier.ready(&self.summary());
    }

    /// Replaces the accounts with `resolved`, keeping the schedule of those that remain.
    fn apply(&mut self, resolved: Vec<(String, Result<Account>)>, now: Instant) {
        let mut previous: HashMap<String, Entry> = self
            .entries
            .drain(..)
            .map(|entry| (entry.name.clone(), entry))
            .collect();
        for (name, polled) in resolved {
            let old = previous.remove(&name);
            let entry = match polled {
                Ok(polled) => renewed(name, polled, old, now),
                Err(error) => {
                    log::error(&format!(
                        "{name}: {}; not polled until the configuration is reloaded",
                        describe(&error)
                    ));
                    Entry {
                        schedule: Schedule {
                            next: None,
                            ..Schedule::starting(account::DEFAULT_INTERVAL, now)
                        },
                        running: old.is_some_and(|old| old.running),
                        name,
                        polled: None,
                    }
                }
            };
            self.entries.push(entry);
        }
        for (name, removed) in &previous {
            self.cycle.waiting.remove(name);
            if let Some(polled) = &removed.polled {
                record_next_poll(&polled.state_path, name, None, now);
            }
        }
    }
}

/// The entry for a resolved account: new ones are polled at once; one that was there keeps its
/// schedule unless its interval changed or it had stopped.
fn renewed(name: String, polled: Account, old: Option<Entry>, now: Instant) -> Entry {
    let Some(old) = old else {
        return Entry {
            name,
            schedule: Schedule::starting(polled.schedule.interval, now),
            polled: Some(polled),
            running: false,
        };
    };
    let mut schedule = old.schedule;
    if schedule.interval != polled.schedule.interval
        || schedule.next.is_none()
        || old.polled.is_none()
    {
        schedule.reconfigured(polled.schedule.interval, now);
    }
    Entry {
        name,
        polled: Some(polled),
        schedule,
        running: old.running,
    }
}

fn list_or_none(names: &[&str]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}
