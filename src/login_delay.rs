//! RFC 2449 LOGIN-DELAY across runs: when an account last logged in and how long its server
//! asked to wait before the next login, kept in a small file beside the account's state file.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::pop3::Capabilities;

/// The last login of an account whose server announces LOGIN-DELAY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastLogin {
    pub at: SystemTime,
    pub delay: Duration,
}

impl LastLogin {
    /// How long to wait from `now` before logging in again; `None` when a login is allowed.
    /// A login recorded in the future (the clock was set back) waits at most `delay`.
    pub fn wait(&self, now: SystemTime) -> Option<Duration> {
        let since = now.duration_since(self.at).unwrap_or(Duration::ZERO);
        self.delay.checked_sub(since).filter(|wait| !wait.is_zero())
    }
}

/// The file beside `state_path`: `<state>.login`.
pub fn path_for(state_path: &Path) -> PathBuf {
    let mut name = state_path.as_os_str().to_owned();
    name.push(".login");
    PathBuf::from(name)
}

/// The last login recorded for the account with this state file. A missing or unreadable
/// file is no delay: at worst the server refuses the login with [LOGIN-DELAY], a temporary
/// error.
pub fn read(state_path: &Path) -> Option<LastLogin> {
    let text = fs::read_to_string(path_for(state_path)).ok()?;
    let mut fields = text.split_ascii_whitespace().map(str::parse::<u64>);
    let at = UNIX_EPOCH.checked_add(Duration::from_secs(fields.next()?.ok()?))?;
    let delay = Duration::from_secs(fields.next()?.ok()?);
    Some(LastLogin { at, delay })
}

/// How long to wait before the account with this state file may log in, if at all.
pub fn wait_before_login(state_path: &Path) -> Option<Duration> {
    read(state_path)?.wait(SystemTime::now())
}

/// Notes a login that happened now, with the delay the server announced: the file is written
/// when there is a delay and removed when the server no longer announces one.
pub fn record(state_path: &Path, delay: Option<Duration>) -> io::Result<()> {
    let path = path_for(state_path);
    let Some(delay) = delay.filter(|delay| !delay.is_zero()) else {
        return match fs::remove_file(&path) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        };
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut file = tempfile::NamedTempFile::new_in(crate::durable::parent_dir(&path))?;
    writeln!(file, "{} {}", now.as_secs(), delay.as_secs())?;
    file.persist(&path).map_err(|error| error.error)?;
    Ok(())
}

/// The delay a CAPA answer announces: `LOGIN-DELAY 900`, or before login the maximum,
/// `LOGIN-DELAY 900 USER` (RFC 2449, section 6.5).
pub fn announced(capabilities: &Capabilities) -> Option<Duration> {
    capabilities.lines.iter().find_map(|line| {
        let mut words = line.split_ascii_whitespace();
        let tag = words.next()?;
        if !tag.eq_ignore_ascii_case("LOGIN-DELAY") {
            return None;
        }
        words.next()?.parse::<u64>().ok().map(Duration::from_secs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_announced_delay() {
        let capa = |lines: &[&str]| {
            Capabilities::from_lines(lines.iter().map(|line| line.to_string()).collect())
        };
        assert_eq!(
            announced(&capa(&["USER", "LOGIN-DELAY 900"])),
            Some(Duration::from_secs(900))
        );
        assert_eq!(
            announced(&capa(&["login-delay 60 USER"])),
            Some(Duration::from_secs(60))
        );
        assert_eq!(announced(&capa(&["USER", "LOGIN-DELAY"])), None);
        assert_eq!(announced(&capa(&["LOGIN-DELAYED 5"])), None);
    }

    #[test]
    fn records_and_forgets_the_last_login() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("a@h_110.state");
        assert_eq!(wait_before_login(&state), None);
        record(&state, Some(Duration::from_secs(600))).unwrap();
        let wait = wait_before_login(&state).unwrap();
        assert!(wait > Duration::from_secs(590) && wait <= Duration::from_secs(600));
        assert!(path_for(&state).ends_with("a@h_110.state.login"));
        record(&state, None).unwrap();
        assert!(!path_for(&state).exists());
        assert_eq!(wait_before_login(&state), None);
    }

    #[test]
    fn a_login_in_the_future_waits_at_most_the_delay() {
        let now = SystemTime::now();
        let last = LastLogin {
            at: now + Duration::from_secs(3600),
            delay: Duration::from_secs(60),
        };
        assert_eq!(last.wait(now), Some(Duration::from_secs(60)));
        let past = LastLogin {
            at: now - Duration::from_secs(61),
            delay: Duration::from_secs(60),
        };
        assert_eq!(past.wait(now), None);
    }
}
