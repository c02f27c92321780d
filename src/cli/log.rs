//! The daemon's log: one line per event on standard error, with the journald priority prefix
//! (`<3>` error, `<4>` warning, `<6>` info) when standard error is the journal.

use std::io::Write;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    Error = 3,
    Warning = 4,
    Info = 6,
}

/// Whether systemd connected standard error to the journal (it sets `JOURNAL_STREAM`).
fn to_journal() -> bool {
    static JOURNAL: OnceLock<bool> = OnceLock::new();
    *JOURNAL.get_or_init(|| std::env::var_os("JOURNAL_STREAM").is_some())
}

/// The line as written: `<6>line` for the journal, the line itself elsewhere. A line holding
/// line breaks (a server's text) stays one line.
pub fn format(priority: Priority, line: &str, journal: bool) -> String {
    let line = line.replace(['\n', '\r'], " ");
    if journal {
        format!("<{}>{line}", priority as u8)
    } else {
        line
    }
}

pub fn write(priority: Priority, line: &str) {
    let formatted = format(priority, line, to_journal());
    let _ = writeln!(std::io::stderr().lock(), "{formatted}");
}

pub fn info(line: &str) {
    write(Priority::Info, line);
}

pub fn warning(line: &str) {
    write(Priority::Warning, line);
}

pub fn error(line: &str) {
    write(Priority::Error, line);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_journal_gets_priority_prefixes() {
        assert_eq!(format(Priority::Error, "a: failed", true), "<3>a: failed");
        assert_eq!(format(Priority::Warning, "a: later", true), "<4>a: later");
        assert_eq!(format(Priority::Info, "a: 1 new", true), "<6>a: 1 new");
        assert_eq!(format(Priority::Error, "a: failed", false), "a: failed");
        assert_eq!(format(Priority::Info, "two\nlines", false), "two lines");
    }
}
