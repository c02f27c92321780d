//! systemd's notification protocol (sd_notify, through the `sd-notify` crate): readiness,
//! reloads, the stop, a status line, and the watchdog's keep-alive when `WatchdogSec` is set.

use std::time::{Duration, Instant};

use sd_notify::NotifyState;

/// Talks to the service manager through `NOTIFY_SOCKET`; does nothing without one.
pub struct Notifier {
    /// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC`.
    watchdog: Option<Duration>,
    last_ping: Instant,
}

impl Notifier {
    pub fn from_environment() -> Notifier {
        Notifier {
            watchdog: sd_notify::watchdog_enabled().map(|usec| usec / 2),
            last_ping: Instant::now(),
        }
    }

    /// A lost notification changes nothing for the mail: the manager's timeouts handle it.
    fn send(&self, states: &[NotifyState]) {
        let _ = sd_notify::notify(states);
    }

    pub fn ready(&self, status: &str) {
        self.send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }

    pub fn status(&self, status: &str) {
        self.send(&[NotifyState::Status(status)]);
    }

    pub fn reloading(&self) {
        match NotifyState::monotonic_usec_now() {
            Ok(now) => self.send(&[NotifyState::Reloading, now]),
            Err(_) => self.send(&[NotifyState::Reloading]),
        }
    }

    pub fn stopping(&self) {
        self.send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
    }

    /// When the watchdog wants the next keep-alive, if it is enabled.
    pub fn watchdog_due(&self) -> Option<Instant> {
        self.watchdog.map(|every| self.last_ping + every)
    }

    /// Sends `WATCHDOG=1` if it is due.
    pub fn keep_alive(&mut self, now: Instant) {
        if self.watchdog_due().is_some_and(|due| due <= now) {
            self.send(&[NotifyState::Watchdog]);
            self.last_ping = now;
        }
    }
}
