//! Passwords from `~/.netrc` (`machine HOST login USER password SECRET`), as ftp and curl read
//! them; a file holding passwords must be private.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::Secret;

/// Why a netrc file's password cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NetrcError {
    #[error("cannot read {}: {source}", path.display())]
    Unreadable { path: PathBuf, source: io::Error },
    #[error("cannot inspect {}: {source}", path.display())]
    Uninspectable { path: PathBuf, source: io::Error },
    #[error(
        "{} holds a password but is readable by others or not owned by you; run chmod 600 on it",
        path.display()
    )]
    NotPrivate { path: PathBuf },
}

/// The password for `user` on `host`, if the netrc file has one. An entry for the host with
/// another login does not match; a `default` entry matches any host.
pub fn lookup(path: &Path, host: &str, user: &str) -> Result<Option<Secret>, NetrcError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(NetrcError::Unreadable {
                path: path.into(),
                source,
            })
        }
    };
    let Some(password) = find(&text, host, user) else {
        return Ok(None);
    };
    let meta = fs::metadata(path).map_err(|source| NetrcError::Uninspectable {
        path: path.into(),
        source,
    })?;
    if !super::is_private(&meta) {
        return Err(NetrcError::NotPrivate { path: path.into() });
    }
    Ok(Some(Secret::new(password)))
}

/// The words of a netrc file outside macro definitions: `macdef NAME` and the lines after it,
/// up to and including the next blank line, are the macro, whose words are not netrc tokens.
fn words(text: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let mut in_macro = false;
    for line in text.lines() {
        if in_macro {
            in_macro = !line.trim().is_empty();
            continue;
        }
        let mut tokens = line.split_whitespace();
        while let Some(token) = tokens.next() {
            if token == "macdef" {
                // The rest of this line is the macro's name; its body follows.
                in_macro = true;
                break;
            }
            words.push(token);
            if matches!(token, "machine" | "login" | "password" | "account") {
                // A value, even one spelt "macdef".
                if let Some(value) = tokens.next() {
                    words.push(value);
                }
            }
        }
    }
    words
}

fn find(text: &str, host: &str, user: &str) -> Option<String> {
    let words = words(text);
    let mut tokens = words.iter().copied();
    let mut best: Option<String> = None;
    let mut entry: Option<(bool, Option<String>, Option<String>)> = None;
    let finish = |entry: Option<(bool, Option<String>, Option<String>)>,
                  best: &mut Option<String>| {
        if let Some((is_match, login, password)) = entry {
            let login_fits = login.as_deref().is_none_or(|l| l == user);
            if is_match && login_fits && best.is_none() {
                *best = password;
            }
        }
    };
    while let Some(token) = tokens.next() {
        match token {
            "machine" => {
                finish(entry.take(), &mut best);
                let name = tokens.next().unwrap_or("");
                entry = Some((name.eq_ignore_ascii_case(host), None, None));
            }
            "default" => {
                finish(entry.take(), &mut best);
                entry = Some((true, None, None));
            }
            "login" => {
                let value = tokens.next().map(str::to_string);
                if let Some(entry) = entry.as_mut() {
                    entry.1 = value;
                }
            }
            "password" => {
                let value = tokens.next().map(str::to_string);
                if let Some(entry) = entry.as_mut() {
                    entry.2 = value;
                }
            }
            "account" => {
                tokens.next();
            }
            _ => {}
        }
    }
    finish(entry, &mut best);
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const SAMPLE: &str = "machine pop.example.com login other password no\n\
                          machine pop.example.com\n  login me\n  password s3cret\n\
                          machine mail.example.org login me password elsewhere\n\
                          default login me password fallback\n";

    #[test]
    fn finds_the_entry_for_host_and_login() {
        assert_eq!(
            find(SAMPLE, "pop.example.com", "me").as_deref(),
            Some("s3cret")
        );
        assert_eq!(
            find(SAMPLE, "POP.EXAMPLE.COM", "me").as_deref(),
            Some("s3cret")
        );
        assert_eq!(
            find(SAMPLE, "pop.example.com", "other").as_deref(),
            Some("no")
        );
        assert_eq!(
            find(SAMPLE, "unknown.example", "me").as_deref(),
            Some("fallback")
        );
        assert_eq!(find(SAMPLE, "unknown.example", "nobody"), None);
        assert_eq!(
            find("machine h password p\n", "h", "anyone").as_deref(),
            Some("p")
        );
    }

    #[test]
    fn a_macro_ends_at_a_blank_line_and_later_entries_count() {
        let text = "machine ftp.example.com login me password ftp\n\
                    macdef init\n\
                    cd /pub\n\
                    machine pop.example.com login me password inside-the-macro\n\
                    \n\
                    machine pop.example.com\n  login me\n  password after\n";
        assert_eq!(
            find(text, "pop.example.com", "me").as_deref(),
            Some("after")
        );
        assert_eq!(find(text, "ftp.example.com", "me").as_deref(), Some("ftp"));
        // A macro on the last lines, without a blank line after it, ends the file.
        let text = "machine h login me password p\nmacdef m\nmachine x password q";
        assert_eq!(find(text, "h", "me").as_deref(), Some("p"));
        assert_eq!(find(text, "x", "me"), None);
        // "macdef" as a value is a value.
        let text = "machine h login me password macdef\nmachine i login me password q\n";
        assert_eq!(find(text, "h", "me").as_deref(), Some("macdef"));
        assert_eq!(find(text, "i", "me").as_deref(), Some("q"));
    }

    #[test]
    fn a_readable_netrc_with_a_password_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".netrc");
        assert!(lookup(&path, "h", "u").unwrap().is_none());
        fs::write(&path, "machine h login u password p\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            lookup(&path, "h", "u"),
            Err(NetrcError::NotPrivate { .. })
        ));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(lookup(&path, "h", "u").unwrap().unwrap().expose(), "p");
    }
}
