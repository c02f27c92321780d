//! Imported accounts as the TOML popget reads: one `[accounts.NAME]` table each, every carried
//! setting written out (so that `[defaults]` cannot change what the source said), and the
//! `[destinations.NAME]` tables of LMTP delivery.

use std::path::Path;

use super::{Account, Destination, Password};
use crate::pop3::Pipelining;

/// A TOML string.
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

fn path(path: &Path) -> String {
    quoted(&path.to_string_lossy())
}

/// A table's key: bare when it can be.
pub(super) fn key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if bare {
        name.to_string()
    } else {
        quoted(name)
    }
}

/// The account's table under `name`, after `comments` (lines without the `# `). An LMTP
/// destination is named by `deliver_to`; a password command that replaces a password the
/// source held in clear text is `password_command`.
pub fn render(
    account: &Account,
    name: &str,
    comments: &[String],
    deliver_to: Option<&str>,
    password_command: Option<&str>,
) -> String {
    let mut text = String::new();
    for comment in comments {
        text.push_str(&format!("# {comment}\n"));
    }
    text.push_str(&format!("[accounts.{}]\n", key(name)));
    let mut line = |key: &str, value: String| text.push_str(&format!("{key} = {value}\n"));
    line("host", quoted(&account.host));
    line("port", account.port().to_string());
    line("user", quoted(&account.user));
    line("tls", quoted(account.tls.name()));
    if let Some(ca_file) = &account.ca_file {
        line("ca_file", path(ca_file));
    }
    if let Some(fingerprint) = &account.fingerprint {
        line("fingerprint", quoted(fingerprint));
    }
    if account.insecure {
        line("insecure", "true".into());
    }
    if let Some(method) = account.auth {
        line("auth", quoted(method.name()));
    }
    let command = match &account.password {
        Password::Command(command) => Some(command.as_str()),
        _ => password_command,
    };
    if let Some(command) = command {
        line("password_command", quoted(command));
    }
    match &account.destination {
        Some(Destination::Maildir(dir)) => line("maildir", path(dir)),
        Some(Destination::Mbox(file)) => line("mbox", path(file)),
        Some(Destination::Mda(command)) => line("mda", quoted(command)),
        Some(Destination::Lmtp { .. }) | None => {}
    }
    if let Some(destination) = deliver_to {
        line("deliver_to", quoted(destination));
    }
    if account.delete {
        line("delete", "true".into());
    } else {
        line("keep", "true".into());
    }
    let numbers = [
        ("keep_days", account.keep_days),
        ("max_size", account.max_size),
        ("limit", account.limit),
        ("max_bytes", account.max_bytes),
        ("timeout", account.timeout),
        ("interval", account.interval),
    ];
    for (key, value) in numbers {
        if let Some(value) = value {
            line(key, value.to_string());
        }
    }
    if account.delete_oversized {
        line("delete_oversized", "true".into());
    }
    if let Some(filter) = &account.filter {
        line("filter", quoted(filter));
    }
    if let Some(pipelining) = account.pipelining {
        let word = match pipelining {
            Pipelining::Auto => "auto",
            Pipelining::On => "on",
            Pipelining::Off => "off",
        };
        line("pipelining", quoted(word));
    }
    if let Some(proxy) = &account.proxy {
        line("proxy", quoted(proxy));
    }
    text
}

/// A `[destinations.NAME]` table for LMTP delivery.
pub(super) fn render_lmtp(name: &str, comment: &str, address: &str, recipient: &str) -> String {
    format!(
        "# {comment}\n[destinations.{}]\nlmtp = {}\nrecipient = {}\n",
        key(name),
        quoted(address),
        quoted(recipient)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::AuthMethod;
    use crate::config::ConfigFile;
    use crate::import::Place;
    use crate::transport::TlsMode;

    #[test]
    fn an_account_reads_back() {
        let place = Place {
            file: "rc".into(),
            line: 3,
        };
        let mut account = Account::new("a b".into(), place, "pop.x".into(), "me\"".into());
        account.tls = TlsMode::Starttls;
        account.auth = Some(AuthMethod::CramMd5);
        account.destination = Some(Destination::Mda("procmail -f %F".into()));
        account.max_size = Some(1000);
        account.pipelining = Some(Pipelining::Off);
        let text = render(&account, "a b", &["from rc".into()], None, Some("cat f"));
        assert!(
            text.starts_with("# from rc\n[accounts.\"a b\"]\n"),
            "{text}"
        );
        let config = ConfigFile::parse(&text).unwrap();
        let settings = config.account("a b").unwrap();
        assert_eq!(settings.user.as_deref(), Some("me\""));
        assert_eq!(settings.port, Some(110));
        assert_eq!(settings.password_command.as_deref(), Some("cat f"));
        assert_eq!(settings.keep, Some(true));
        let lmtp = render_lmtp("d", "c", "unix:/run/lmtp", "me");
        let config = ConfigFile::parse(&lmtp).unwrap();
        assert_eq!(config.destinations[0].1.recipient.as_deref(), Some("me"));
    }
}
