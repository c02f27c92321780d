//! What the parsers produce, whichever fetcher they read: popget accounts with where each
//! setting came from, what was left out, and where each peer keeps its seen mail; and the
//! small conversions the parsers share.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::auth::AuthMethod;
use crate::credentials::Secret;
use crate::error::Error;
use crate::pop3::Pipelining;
use crate::transport::TlsMode;

/// A line of a source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub file: PathBuf,
    /// 1-based.
    pub line: usize,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// Something a source file says, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub place: Place,
    pub what: String,
}

/// What the sources hold, in popget's terms.
#[derive(Debug, Default)]
pub struct Imported {
    pub accounts: Vec<Account>,
    /// What popget cannot do as the source did: the import then exits 1.
    pub left_out: Vec<Item>,
    /// What changes nothing or is done differently to the same effect, worth knowing.
    pub notes: Vec<Item>,
}

impl Imported {
    pub(super) fn leave_out(&mut self, place: &Place, what: impl Into<String>) {
        self.left_out.push(Item {
            place: place.clone(),
            what: what.into(),
        });
    }

    pub(super) fn note(&mut self, place: &Place, what: impl Into<String>) {
        self.notes.push(Item {
            place: place.clone(),
            what: what.into(),
        });
    }

    pub(super) fn extend(&mut self, other: Imported) {
        self.accounts.extend(other.accounts);
        self.left_out.extend(other.left_out);
        self.notes.extend(other.notes);
    }
}

/// One account of a source, as a popget account.
#[derive(Debug, Clone)]
pub struct Account {
    /// The source's name for it, or `user@host`.
    pub name: String,
    /// Where the source defines it.
    pub origin: Place,
    pub host: String,
    /// `None`: the default of the TLS mode.
    pub port: Option<u16>,
    pub user: String,
    pub tls: TlsMode,
    pub ca_file: Option<PathBuf>,
    pub fingerprint: Option<String>,
    pub insecure: bool,
    pub auth: Option<AuthMethod>,
    pub password: Password,
    pub destination: Option<Destination>,
    /// Delete each message once delivered (else keep it on the server).
    pub delete: bool,
    pub delete_oversized: bool,
    pub max_size: Option<u64>,
    pub limit: Option<u64>,
    pub max_bytes: Option<u64>,
    pub keep_days: Option<u64>,
    pub filter: Option<String>,
    pub timeout: Option<u64>,
    pub pipelining: Option<Pipelining>,
    pub proxy: Option<String>,
    /// Seconds between polls of `popget daemon`.
    pub interval: Option<u64>,
    /// Where the source records the messages it fetched; `None` when it records none that
    /// popget can use.
    pub seen: Option<Seen>,
}

impl Account {
    pub(super) fn new(name: String, origin: Place, host: String, user: String) -> Account {
        Account {
            name,
            origin,
            host,
            port: None,
            user,
            tls: TlsMode::Implicit,
            ca_file: None,
            fingerprint: None,
            insecure: false,
            auth: None,
            password: Password::None,
            destination: None,
            delete: false,
            delete_oversized: false,
            max_size: None,
            limit: None,
            max_bytes: None,
            keep_days: None,
            filter: None,
            timeout: None,
            pipelining: None,
            proxy: None,
            interval: None,
            seen: None,
        }
    }

    pub fn port(&self) -> u16 {
        self.port.unwrap_or(self.tls.default_port())
    }
}

/// Where an account's password comes from.
#[derive(Debug, Clone)]
pub enum Password {
    /// Nowhere in the source (the keyring, `~/.netrc` or a prompt, as for any account).
    None,
    /// A shell command printing it.
    Command(String),
    /// Written in the source file in clear text: never copied into popget's file.
    Plain { secret: Secret, place: Place },
}

/// Where fetched mail goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Maildir(PathBuf),
    Mbox(PathBuf),
    Mda(String),
    /// An LMTP server (`unix:/PATH` or `HOST:PORT`) and the recipient given in RCPT TO.
    Lmtp {
        address: String,
        recipient: String,
    },
}

/// A peer's record of the messages it fetched for one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// fetchmail's id file: the lines of `USER@HOST UIDL` for this account.
    Fetchmail {
        file: PathBuf,
        user: String,
        host: String,
    },
    /// mpop's UIDLs file: the list headed ` COUNT HOST USER`.
    Mpop {
        file: PathBuf,
        host: String,
        user: String,
    },
    /// getmail's oldmail file, in the first of these places that has it.
    Getmail { files: Vec<PathBuf> },
}

/// A source file that cannot be read as what it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub place: Place,
    pub message: String,
}

impl ParseError {
    pub(super) fn at(file: &Path, line: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            place: Place {
                file: file.to_path_buf(),
                line,
            },
            message: message.into(),
        }
    }
}

impl From<ParseError> for Error {
    fn from(error: ParseError) -> Error {
        Error::config(format!("{}: {}", error.place, error.message))
    }
}

/// A certificate fingerprint as popget pins it (SHA-256), from hex digits with or without
/// colons; otherwise which kind it is.
pub(super) fn sha256_fingerprint(text: &str) -> Result<String, &'static str> {
    let hex: String = text
        .trim()
        .trim_start_matches("SHA256:")
        .chars()
        .filter(|&c| c != ':')
        .collect();
    if !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err("not a fingerprint");
    }
    match hex.len() {
        64 => Ok(format!("SHA256:{}", hex.to_ascii_uppercase())),
        40 => Err("a SHA-1 fingerprint"),
        32 => Err("an MD5 fingerprint"),
        _ => Err("not a fingerprint"),
    }
}

/// `word` as one word of a POSIX shell command line.
pub(super) fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// `~` and `~/...` as the home directory (what popget's own paths allow stays as it is
/// written; this is for files the import reads).
pub(super) fn expand_home(path: &str, env: &HashMap<String, String>) -> PathBuf {
    match (path.strip_prefix('~'), env.get("HOME")) {
        (Some(""), Some(home)) => PathBuf::from(home),
        (Some(rest), Some(home)) if rest.starts_with('/') => PathBuf::from(format!("{home}{rest}")),
        _ => PathBuf::from(path),
    }
}

/// A size with an optional `k` or `m` (KiB, MiB) after it, as mpop writes them.
pub(super) fn size_with_unit(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text.split_at(at),
        None => (text, ""),
    };
    let factor = match unit {
        "" => 1,
        "k" | "K" => 1 << 10,
        "m" | "M" => 1 << 20,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_sha256_or_named() {
        let sha256 = "ab".repeat(32);
        assert_eq!(
            sha256_fingerprint(&sha256).unwrap(),
            format!("SHA256:{}", "AB".repeat(32))
        );
        let colons = vec!["0F"; 32].join(":");
        assert!(sha256_fingerprint(&colons).is_ok());
        assert_eq!(
            sha256_fingerprint(&vec!["0F"; 16].join(":")),
            Err("an MD5 fingerprint")
        );
        assert_eq!(
            sha256_fingerprint(&"1".repeat(40)),
            Err("a SHA-1 fingerprint")
        );
        assert_eq!(sha256_fingerprint("zz"), Err("not a fingerprint"));
    }

    #[test]
    fn quotes_shell_words() {
        assert_eq!(shell_quote("/bin/cat"), "/bin/cat");
        assert_eq!(shell_quote("my file"), "'my file'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn sizes_take_units() {
        assert_eq!(size_with_unit("500"), Some(500));
        assert_eq!(size_with_unit("8k"), Some(8192));
        assert_eq!(size_with_unit("2m"), Some(2 << 20));
        assert_eq!(size_with_unit("2g"), None);
    }
}
