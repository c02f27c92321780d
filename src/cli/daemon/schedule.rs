//! When each account is polled next: its interval with a little jitter, exponential backoff
//! after temporary failures, a stop after failures that only a new configuration can cure.

use std::time::{Duration, Instant};

use popget::error::{exit, Error};

/// The longest wait after repeated temporary failures (unless the interval is longer).
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// The most jitter added to an interval, so that accounts on one server drift apart.
const MAX_JITTER: Duration = Duration::from_secs(30);

/// What a failed run means for the account's schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Try again later, waiting longer each time: a dropped connection, a server that is
    /// down or busy (IN-USE, LOGIN-DELAY, SYS/TEMP), a local I/O error.
    Temporary,
    /// Retried like a temporary failure, but logged as an error: the server or the mailbox
    /// misbehaves in a way that may need a person (TLS, protocol, a full disk).
    Persistent,
    /// Do not poll again until the configuration is reloaded: wrong credentials or settings.
    NeedsNewConfiguration,
}

impl Failure {
    pub fn of(error: &Error) -> Failure {
        match error.exit_code() {
            exit::TEMP_FAIL | exit::IO_ERR => Failure::Temporary,
            exit::NO_PERM | exit::CONFIG | exit::USAGE => Failure::NeedsNewConfiguration,
            _ => Failure::Persistent,
        }
    }
}

/// One account's place in the schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub interval: Duration,
    /// When to poll next; `None` once polling stopped until a reload.
    pub next: Option<Instant>,
    /// Failures in a row since the last success.
    pub failures: u32,
}

impl Schedule {
    /// A new account: polled at once.
    pub fn starting(interval: Duration, now: Instant) -> Schedule {
        Schedule {
            interval,
            next: Some(now),
            failures: 0,
        }
    }

    pub fn is_due(&self, now: Instant) -> bool {
        self.next.is_some_and(|next| next <= now)
    }

    /// After a successful run: the next poll one interval (and a little jitter) from now.
    pub fn succeeded(&mut self, now: Instant, random: u64) {
        self.failures = 0;
        self.next = Some(now + self.interval + jitter(self.interval, random));
    }

    /// After a failed run: how long until the next try, or `None` when polling stops.
    pub fn failed(&mut self, failure: Failure, now: Instant, random: u64) -> Option<Duration> {
        if failure == Failure::NeedsNewConfiguration {
            self.next = None;
            return None;
        }
        self.failures = self.failures.saturating_add(1);
        let wait = backoff(self.interval, self.failures) + jitter(self.interval, random);
        self.next = Some(now + wait);
        Some(wait)
    }

    /// Not before `allowed` (the server's LOGIN-DELAY).
    pub fn not_before(&mut self, allowed: Instant) {
        if let Some(next) = &mut self.next {
            *next = (*next).max(allowed);
        }
    }

    /// SIGUSR1: poll now, unless polling stopped.
    pub fn poll_now(&mut self, now: Instant) {
        if self.next.is_some() {
            self.next = Some(now);
        }
    }

    /// After a reload: the new interval; an account stopped for its configuration is tried
    /// again at once, and a shorter interval takes effect from now.
    pub fn reconfigured(&mut self, interval: Duration, now: Instant) {
        self.interval = interval;
        self.next = Some(self.next.map_or(now, |next| next.min(now + interval)));
        self.failures = 0;
    }
}

/// The wait after `failures` failures in a row: the interval doubled each time, up to an hour
/// (or the interval, when that is longer).
pub fn backoff(interval: Duration, failures: u32) -> Duration {
    let ceiling = MAX_BACKOFF.max(interval);
    let factor = 1u32.checked_shl(failures.min(31)).unwrap_or(u32::MAX);
    interval.saturating_mul(factor).min(ceiling)
}

/// Up to a tenth of the interval, at most [`MAX_JITTER`], chosen by `random`.
pub fn jitter(interval: Duration, random: u64) -> Duration {
    let most = (interval / 10).min(MAX_JITTER).as_millis() as u64;
    Duration::from_millis(random % (most + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let five_minutes = 300 * SECOND;
        assert_eq!(backoff(five_minutes, 1), 600 * SECOND);
        assert_eq!(backoff(five_minutes, 2), 1200 * SECOND);
        assert_eq!(backoff(five_minutes, 4), MAX_BACKOFF);
        assert_eq!(backoff(five_minutes, 40), MAX_BACKOFF);
        assert_eq!(backoff(SECOND, 3), 8 * SECOND);
        // An interval over an hour is not shortened by failing.
        assert_eq!(backoff(7200 * SECOND, 3), 7200 * SECOND);
    }

    #[test]
    fn jitter_is_a_little() {
        for random in [0, 1, 999, u64::MAX] {
            assert!(jitter(300 * SECOND, random) <= 30 * SECOND);
            assert!(jitter(SECOND, random) <= SECOND / 10);
        }
        assert_eq!(jitter(SECOND, 0), Duration::ZERO);
    }

    #[test]
    fn failures_back_off_and_success_recovers() {
        let now = Instant::now();
        let mut schedule = Schedule::starting(10 * SECOND, now);
        assert!(schedule.is_due(now));
        assert_eq!(
            schedule.failed(Failure::Temporary, now, 0),
            Some(20 * SECOND)
        );
        assert_eq!(
            schedule.failed(Failure::Temporary, now, 0),
            Some(40 * SECOND)
        );
        schedule.succeeded(now, 0);
        assert_eq!(schedule.failures, 0);
        assert_eq!(schedule.next, Some(now + 10 * SECOND));
    }

    #[test]
    fn a_configuration_problem_stops_polling_until_a_reload() {
        let now = Instant::now();
        let mut schedule = Schedule::starting(10 * SECOND, now);
        assert_eq!(
            schedule.failed(Failure::NeedsNewConfiguration, now, 0),
            None
        );
        schedule.poll_now(now);
        assert!(!schedule.is_due(now + 3600 * SECOND));
        schedule.reconfigured(10 * SECOND, now);
        assert!(schedule.is_due(now));
    }

    #[test]
    fn errors_are_classified_by_kind() {
        assert_eq!(
            Failure::of(&Error::Temporary("in use".into())),
            Failure::Temporary
        );
        assert_eq!(
            Failure::of(&Error::AuthFailed("no".into())),
            Failure::NeedsNewConfiguration
        );
        assert_eq!(
            Failure::of(&Error::config("bad")),
            Failure::NeedsNewConfiguration
        );
        assert_eq!(
            Failure::of(&Error::Tls {
                failure: popget::error::TlsFailure::Handshake,
                detail: "bad".into()
            }),
            Failure::Persistent
        );
    }

    #[test]
    fn the_login_delay_pushes_the_next_poll_back() {
        let now = Instant::now();
        let mut schedule = Schedule::starting(SECOND, now);
        schedule.succeeded(now, 0);
        schedule.not_before(now + 5 * SECOND);
        assert_eq!(schedule.next, Some(now + 5 * SECOND));
    }
}
