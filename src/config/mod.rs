//! Turns the command line, the configuration file and the environment into validated accounts.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod check;
pub mod error;

pub use check::{check_text, Checked, Problem};
pub use error::ConfigError;

use indexmap::IndexMap;
use serde::Deserialize;

use crate::auth::{self, AuthMethod};
use crate::credentials::keyring::{self as os_keyring, KeyringError};
use crate::credentials::oauth::{OAuthConfig, ResolvedOAuth};
use crate::credentials::sources::{self, password_from_command, prompt_password};
use crate::credentials::{netrc, Secret};
use crate::error::PasswordError;
use crate::error::{Error, Result};
use crate::transport::{CertificatePolicy, TlsMode};

/// The environment variable holding a password.
pub const PASSWORD_ENV: &str = "POPGET_PASSWORD";

/// Where [`environment`] notes a `POPGET_PASSWORD` that is not UTF-8 (no real variable's name
/// can hold a NUL).
const PASSWORD_ENV_NOT_UTF8: &str = "POPGET_PASSWORD\0not UTF-8";

/// The environment as popget reads it: the variables whose name and value are UTF-8. Any
/// other variable is left out instead of making `std::env::vars` panic; a `HOME` left out is
/// read as bytes by the fallback to the system's idea of it, and a `POPGET_PASSWORD` left out
/// is noted, so that it is refused rather than silently skipped.
pub fn environment() -> HashMap<String, String> {
    let mut env = HashMap::new();
    for (name, value) in std::env::vars_os() {
        match (name.into_string(), value.into_string()) {
            (Ok(name), Ok(value)) => {
                env.insert(name, value);
            }
            (Ok(name), Err(_)) if name == PASSWORD_ENV => {
                env.insert(PASSWORD_ENV_NOT_UTF8.to_string(), String::new());
            }
            _ => {}
        }
    }
    env
}

const DEFAULT_TIMEOUT: u64 = 60;

/// The keys of `[defaults]` and of each `[accounts.NAME]` table.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `[accounts.NAME]` only: the account whose settings this one's are layered over.
    pub inherit: Option<String>,
    /// `[accounts.NAME]` only: a table that exists to be inherited, never fetched or listed.
    pub template: Option<bool>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub tls: Option<TlsMode>,
    pub ca_file: Option<PathBuf>,
    pub insecure: Option<bool>,
    pub fingerprint: Option<String>,
    pub auth: Option<AuthMethod>,
    pub password_command: Option<String>,
    pub password: Option<String>,
    pub maildir: Option<PathBuf>,
    pub mbox: Option<PathBuf>,
    pub keep: Option<bool>,
    pub delete: Option<bool>,
    pub state: Option<PathBuf>,
    pub timeout: Option<u64>,
    pub max_size: Option<SizeSetting>,
    pub mda: Option<String>,
    pub folder: Option<String>,
    pub delete_oversized: Option<bool>,
    pub keep_days: Option<u64>,
    pub limit: Option<u64>,
    pub max_bytes: Option<SizeSetting>,
    pub filter: Option<String>,
    pub pipelining: Option<PipeliningMode>,
    /// `"estimated"` for a server whose LIST sizes are not the messages' sizes.
    pub list_sizes: Option<ListSizesMode>,
    pub session_timeout: Option<u64>,
    pub max_listing: Option<SizeSetting>,
    /// A SOCKS5 proxy URL (`socks5h://HOST:PORT`).
    pub proxy: Option<String>,
    /// The Kerberos service principal's service and host for `auth = "gssapi"` (`pop`, the
    /// server's host name).
    pub gssapi_service: Option<String>,
    pub gssapi_host: Option<String>,
    /// `popget daemon`: how often to poll the account (`300`, `"90s"`, `"5m"`, `"1h"`).
    pub interval: Option<IntervalSetting>,
    /// A shell command run after a run that delivered something.
    pub on_new_mail: Option<String>,
    /// `[accounts.NAME.oauth]`: log in with XOAUTH2 or OAUTHBEARER using tokens from
    /// `popget login NAME` (accounts only; share it with `inherit`).
    pub oauth: Option<OAuthConfig>,
}

/// A duration in the configuration file: `interval = 300` (seconds) or `interval = "5m"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum IntervalSetting {
    Seconds(u64),
    Text(String),
}

impl IntervalSetting {
    /// The duration, at least one second; `key` names the setting in the error.
    pub fn duration_of(&self, key: &'static str) -> Result<Duration> {
        let seconds = match self {
            IntervalSetting::Seconds(seconds) => Some(*seconds),
            IntervalSetting::Text(text) => parse_seconds(text),
        };
        seconds
            .filter(|&seconds| seconds >= 1)
            .map(Duration::from_secs)
            .ok_or_else(|| {
                Error::config_about(
                    &[key],
                    format!(
                    "{key}: {self:?} is not a duration of at least 1 second (like 300, \"90s\", \
                     \"5m\" or \"1h\")"
                ),
                )
            })
    }
}

/// Reads `"90s"`, `"5m"`, `"1h"`, `"1d"` or plain seconds (`"300"`).
fn parse_seconds(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let unit_seconds = match unit.trim() {
        "" | "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(unit_seconds)
}

/// A size in the configuration file: `max_size = 20971520` or `max_size = "20M"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SizeSetting {
    Octets(u64),
    Text(String),
}

impl SizeSetting {
    fn octets_of(&self, key: &'static str) -> Result<u64> {
        match self {
            SizeSetting::Octets(0) => Err(Error::config_about(
                &[key],
                format!("{key} must be more than 0"),
            )),
            SizeSetting::Octets(n) => Ok(*n),
            SizeSetting::Text(text) => {
                parse_size(text).map_err(|e| Error::config_about(&[key], format!("{key}: {e}")))
            }
        }
    }
}

impl Settings {
    /// `self` with every key that `over` sets replaced.
    fn overlaid(mut self, over: &Settings) -> Settings {
        macro_rules! take {
            ($($field:ident),*) => { $( if over.$field.is_some() { self.$field = over.$field.clone(); } )* };
        }
        take!(
            host,
            port,
            user,
            tls,
            ca_file,
            insecure,
            fingerprint,
            auth,
            password_command,
            password,
            state,
            timeout,
            max_size,
            session_timeout,
            max_listing,
            folder,
            delete_oversized,
            keep_days,
            limit,
            max_bytes,
            filter,
            pipelining,
            list_sizes,
            proxy,
            gssapi_service,
            gssapi_host,
            interval,
            on_new_mail,
            oauth
        );
        // maildir/mbox/mda and keep/delete are each one choice: the more specific layer's wins.
        if over.maildir.is_some() || over.mbox.is_some() || over.mda.is_some() {
            self.maildir = over.maildir.clone();
            self.mbox = over.mbox.clone();
            self.mda = over.mda.clone();
        }
        if over.keep.is_some() || over.delete.is_some() {
            self.keep = over.keep;
            self.delete = over.delete;
        }
        self
    }
}

/// What the command line said, layered over the file: settings (its flags in the file's terms)
/// and a password command given there, which comes first among the password sources.
#[derive(Debug, Default, Clone)]
pub struct CommandLine {
    pub settings: Settings,
    pub password_command: Option<String>,
}

/// Whether to send commands without waiting for each answer (RFC 2449 PIPELINING), as the
/// file and the command line say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PipeliningMode {
    /// When the server announces PIPELINING
    #[default]
    Auto,
    /// Even when the server does not announce it
    On,
    /// One command at a time
    Off,
}

impl From<PipeliningMode> for crate::pop3::Pipelining {
    fn from(mode: PipeliningMode) -> Self {
        match mode {
            PipeliningMode::Auto => crate::pop3::Pipelining::Auto,
            PipeliningMode::On => crate::pop3::Pipelining::On,
            PipeliningMode::Off => crate::pop3::Pipelining::Off,
        }
    }
}

/// Whether the server's LIST sizes are the messages' sizes (`list_sizes`), as the configuration
/// file and the command line say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListSizesMode {
    /// The sizes are exact, within the usual conventions: a message that does not fit is an
    /// error (exit 76) and nothing is delivered from that batch
    #[default]
    Exact,
    /// The sizes are estimates (Microsoft Exchange without EnableExactRFC822Size): a message
    /// may be shorter or up to four times longer (plus 1 MiB)
    Estimated,
}

impl From<ListSizesMode> for crate::pop3::ListedSizes {
    fn from(mode: ListSizesMode) -> Self {
        match mode {
            ListSizesMode::Exact => crate::pop3::ListedSizes::Exact,
            ListSizesMode::Estimated => crate::pop3::ListedSizes::Estimated,
        }
    }
}

/// A size: a number of octets, optionally followed by K, M or G (powers of 1024, with or
/// without `iB`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => (&text[..at], text[at..].trim()),
        None => (text, ""),
    };
    let multiplier: u64 = match unit
        .to_ascii_uppercase()
        .trim_end_matches('B')
        .trim_end_matches('I')
    {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => {
            return Err(format!(
                "{text:?} is not a size (like 500000, 800K, 20M or 1G)"
            ))
        }
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{text:?} is not a size (like 500000, 800K, 20M or 1G)"))
}

/// The configuration file, accounts in the order they were written.
#[derive(Debug, Default)]
pub struct ConfigFile {
    pub path: Option<PathBuf>,
    pub defaults: Settings,
    pub accounts: Vec<(String, Settings)>,
    /// Accounts whose table cannot be read (an unknown key, a value of the wrong type), with
    /// what is wrong. They are in `accounts` with their `template` key only; using one, or
    /// one that inherits it, is an error, while the other accounts work.
    pub broken: BrokenAccounts,
    /// Whether any table has a `password` key or an OAuth `client_secret` (then the file must
    /// be private).
    pub password_key: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    defaults: Option<toml::Value>,
    #[serde(default)]
    accounts: IndexMap<String, toml::Value>,
}

/// Where the user is sent for the whole list of problems.
const SEE_CHECK: &str = "popget config check reports every problem with its line";

impl ConfigFile {
    /// Reads `explicit`, or the default file if it exists. A file holding a password must not be
    /// readable by others.
    pub fn load(explicit: Option<&Path>) -> Result<ConfigFile> {
        let (path, required) = match explicit {
            Some(path) => (path.to_path_buf(), true),
            None => match default_path() {
                Some(path) => (path, false),
                None => return Ok(ConfigFile::default()),
            },
        };
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound && !required => {
                return Ok(ConfigFile::default())
            }
            Err(e) => {
                return Err(Error::config(format!(
                    "cannot read {}: {e}",
                    path.display()
                )))
            }
        };
        let mut config = ConfigFile::parse(&text).map_err(|error| {
            error.reworded(|message| format!("{}: {message} ({SEE_CHECK})", path.display()))
        })?;
        if config.password_key {
            check_private(&path)?;
        }
        config.path = Some(path);
        Ok(config)
    }

    /// Parses the TOML text. A syntax error, an unknown top-level key or a problem in
    /// `[defaults]` is an error for the whole file (the error names the line where it can); a
    /// problem in one account's table is kept in [`ConfigFile::broken`] for that account.
    pub fn parse(text: &str) -> Result<ConfigFile, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let error = ConfigError::new(e.to_string().trim_end());
            match e.span() {
                Some(span) => error.at(span),
                None => error,
            }
        })?;
        let password_key =
            raw.defaults.iter().any(holds_password) || raw.accounts.values().any(holds_password);
        // Where each key is, for the messages (toml's values have no positions).
        // Parsed only when a key has a problem: a good file is parsed once.
        let document = std::cell::OnceCell::new();
        let locate = |path: &[&str], key: &str| -> Option<KeyPlace> {
            let document = document.get_or_init(|| toml_edit::ImDocument::parse(text).ok());
            let mut table: &dyn toml_edit::TableLike = document.as_ref()?.as_table();
            for name in path {
                table = table.get(name)?.as_table_like()?;
            }
            let span = table.key(key)?.span()?;
            let line = check::line_at(text, span.start);
            Some(KeyPlace { line, span })
        };
        let defaults = match raw.defaults {
            Some(value) => read_settings(value, |key| locate(&["defaults"], key))
                .map_err(|error| error.reworded(|problem| format!("[defaults]: {problem}")))?,
            None => Settings::default(),
        };
        if defaults.inherit.is_some() || defaults.template.is_some() {
            return Err(ConfigError::about(
                &["inherit", "template"],
                DEFAULTS_ONLY_ACCOUNTS,
            ));
        }
        if defaults.oauth.is_some() {
            return Err(ConfigError::about(&["oauth"], DEFAULTS_NO_OAUTH));
        }
        let (accounts, broken) = read_accounts(raw.accounts, locate);
        Ok(ConfigFile {
            path: None,
            defaults,
            accounts,
            broken,
            password_key,
        })
    }

    /// The table of account `name`, as written (nothing inherited).
    pub fn account(&self, name: &str) -> Option<&Settings> {
        self.accounts
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, settings)| settings)
    }
}

/// Whether `value` can be the service or host part of a Kerberos service principal.
fn valid_principal_part(value: &str) -> bool {
    !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/' || c == '@')
}

/// The configuration file read when `--config` is not given.
pub fn default_path() -> Option<PathBuf> {
    dirs::config_dir().map(|dir| dir.join("popget").join("config.toml"))
}

/// Why `inherit` and `template` are refused in `[defaults]`.
pub const DEFAULTS_ONLY_ACCOUNTS: &str =
    "inherit and template belong in [accounts.NAME] tables, not in [defaults]";

/// Why `oauth` is refused in `[defaults]`: an OAuth login belongs to an account (its tokens are
/// saved under the account's name), and accounts share a table through `inherit`.
pub const DEFAULTS_NO_OAUTH: &str =
    "oauth belongs in [accounts.NAME.oauth] tables, not in [defaults]; accounts share one \
     through inherit";

/// Every key of `[defaults]` and `[accounts.NAME]` tables, as the parser knows them (serde
/// names them all when it meets a key it does not know).
pub fn known_keys() -> &'static [&'static str] {
    serde_aux::serde_introspection::serde_introspect::<Settings>()
}

/// Whether a table holds a `password` key or an OAuth `client_secret`.
fn holds_password(value: &toml::Value) -> bool {
    value.as_table().is_some_and(|table| {
        table.contains_key("password")
            || table
                .get("oauth")
                .and_then(toml::Value::as_table)
                .is_some_and(|oauth| oauth.contains_key("client_secret"))
    })
}

/// Accounts whose table cannot be read, each with what is wrong, as in [`ConfigFile::broken`].
type BrokenAccounts = Vec<(String, ConfigError)>;

/// Where a key is in the file's text.
struct KeyPlace {
    /// 1-based.
    line: usize,
    span: std::ops::Range<usize>,
}

/// Reads each account's table: the accounts, and those that cannot be read with what is wrong
/// (kept in the accounts with their `template` key only). `locate` finds a key from its
/// table's path.
fn read_accounts(
    raw: IndexMap<String, toml::Value>,
    locate: impl Fn(&[&str], &str) -> Option<KeyPlace>,
) -> (Vec<(String, Settings)>, BrokenAccounts) {
    let mut accounts = Vec::with_capacity(raw.len());
    let mut broken = Vec::new();
    for (name, value) in raw {
        let template = value.get("template").and_then(toml::Value::as_bool);
        match read_settings(value, |key| locate(&["accounts", &name], key)) {
            Ok(settings) => accounts.push((name, settings)),
            Err(problem) => {
                accounts.push((
                    name.clone(),
                    Settings {
                        template,
                        ..Settings::default()
                    },
                ));
                broken.push((name, problem));
            }
        }
    }
    (accounts, broken)
}

/// Reads one table of settings, or says what is wrong with it: each key that cannot be read,
/// described as `popget config check` describes it (an unknown key with the nearest known one).
fn read_settings(
    value: toml::Value,
    locate: impl Fn(&str) -> Option<KeyPlace>,
) -> Result<Settings, ConfigError> {
    let whole = match Settings::deserialize(value.clone()) {
        Ok(settings) => return Ok(settings),
        Err(error) => error,
    };
    let Some(table) = value.as_table() else {
        return Err(ConfigError::new("must be a table of settings"));
    };
    let mut first_span = None;
    let problems: Vec<String> = table
        .iter()
        .filter_map(|(key, value)| {
            let one = toml::Table::from_iter([(key.clone(), value.clone())]);
            let error = Settings::deserialize(toml::Value::Table(one)).err()?;
            let problem = check::describe_key_error(key, error.message());
            Some(match locate(key) {
                Some(place) => {
                    first_span.get_or_insert(place.span);
                    format!("line {}: {problem}", place.line)
                }
                None => problem,
            })
        })
        .collect();
    let error = if problems.is_empty() {
        ConfigError::new(whole.message().trim().replace('\n', "; "))
    } else {
        ConfigError::new(problems.join("; "))
    };
    Err(match first_span {
        Some(span) => error.at(span),
        None => error,
    })
}

/// Account inheritance (`inherit = "NAME"`) and templates (`template = true`).
impl ConfigFile {
    /// Whether the account's own table says `template = true`: it exists to be inherited, and is
    /// skipped when every account is fetched or listed.
    pub fn is_template(settings: &Settings) -> bool {
        settings.template == Some(true)
    }

    /// The accounts that `popget fetch` without names works on: all but templates, in file
    /// order.
    pub fn account_names(&self) -> impl Iterator<Item = &str> {
        self.accounts
            .iter()
            .filter(|(_, settings)| !ConfigFile::is_template(settings))
            .map(|(name, _)| name.as_str())
    }

    /// The tables account `name` is built from, most general first: `[defaults]`, the accounts
    /// it inherits from (recursively), its own table. An unknown account or one inheriting in a
    /// cycle is a configuration error naming the accounts involved.
    pub fn layers(&self, name: &str) -> Result<Vec<&Settings>> {
        let mut layers = vec![&self.defaults];
        layers.extend(
            self.ancestry(name)?
                .iter()
                .rev()
                .map(|(_, settings)| *settings),
        );
        Ok(layers)
    }

    /// Account `name` and the accounts it inherits from, nearest first.
    pub fn ancestry(&self, name: &str) -> Result<Vec<(&str, &Settings)>> {
        let file = || match &self.path {
            Some(path) => format!(" in {}", path.display()),
            None => String::new(),
        };
        let entry = |name: &str| {
            self.accounts
                .iter()
                .find(|(n, _)| n == name)
                .map(|(n, settings)| (n.as_str(), settings))
        };
        let readable = |name: &str| match self.broken.iter().find(|(n, _)| n == name) {
            Some((_, problem)) => Err(Error::config_of_account(
                &[],
                format!("account \"{name}\"{}: {problem} ({SEE_CHECK})", file()),
            )),
            None => Ok(()),
        };
        let own = entry(name).ok_or_else(|| {
            Error::config_of_account(
                &[],
                match &self.path {
                    Some(path) => format!("no account \"{name}\" in {}", path.display()),
                    None => format!("no account \"{name}\": there is no configuration file"),
                },
            )
        })?;
        readable(name)?;
        let mut chain = vec![own];
        while let Some(&(child, settings)) = chain.last() {
            let Some(parent) = settings.inherit.as_deref() else {
                break;
            };
            if let Some(start) = chain.iter().position(|(n, _)| *n == parent) {
                let cycle: Vec<&str> = chain[start..].iter().map(|(n, _)| *n).collect();
                return Err(Error::config_about(
                    &["inherit"],
                    format!(
                        "accounts inherit from each other in a cycle: {} -> {parent}",
                        cycle.join(" -> ")
                    ),
                ));
            }
            let next = entry(parent).ok_or_else(|| {
                Error::config_of_account(
                    &["inherit"],
                    format!(
                        "account \"{child}\" inherits \"{parent}\", which is not an account{}",
                        file()
                    ),
                )
            })?;
            readable(parent)?;
            chain.push(next);
        }
        Ok(chain)
    }
}

/// What is wrong with a configuration file that holds a password and that others can read.
pub const NOT_PRIVATE: &str = "holds a password but is readable by others or not owned by you; \
     run chmod 600 on it (or use password_command; for an OAuth client_secret, \
     client_secret_command)";

/// Whether the file at `path` is private to the user ([`crate::credentials::is_private`]).
pub fn is_private_file(path: &Path) -> Result<bool> {
    let meta = fs::metadata(path)
        .map_err(|e| Error::config(format!("cannot inspect {}: {e}", path.display())))?;
    Ok(crate::credentials::is_private(&meta))
}

/// A configuration file holding a password must be private to the user.
pub fn check_private(path: &Path) -> Result<()> {
    if is_private_file(path)? {
        Ok(())
    } else {
        Err(Error::config(format!("{} {NOT_PRIVATE}", path.display())))
    }
}

/// The settings that choose where messages are delivered.
const DESTINATION_KEYS: &[&str] = &["maildir", "mbox", "mda"];

/// Where messages are delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Maildir(PathBuf),
    /// The Maildir++ folder `.NAME` inside the Maildir `root`.
    MaildirFolder {
        root: PathBuf,
        name: String,
    },
    Mbox(PathBuf),
    /// A shell command each message is piped to.
    Mda(String),
}

impl Destination {
    /// The directory or file messages go to; none for an MDA.
    pub fn path(&self) -> Option<PathBuf> {
        match self {
            Destination::Maildir(path) | Destination::Mbox(path) => Some(path.clone()),
            Destination::MaildirFolder { root, name } => Some(root.join(format!(".{name}"))),
            Destination::Mda(_) => None,
        }
    }
}

/// A Maildir++ folder name: dot-separated parts, none empty, no `/`, no control characters.
fn check_folder(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.split('.').all(|part| !part.is_empty() && part != "..")
        && !name.chars().any(|c| c == '/' || c.is_control());
    if valid {
        Ok(())
    } else {
        Err(Error::config_about(
            &["folder"],
            format!("the folder name {name:?} is not valid: use names like Lists or Lists.rust"),
        ))
    }
}

/// Where the password comes from, in the order they are tried.
#[derive(Debug, Clone)]
pub struct PasswordSources {
    pub command_line: Option<String>,
    pub environment: Option<Secret>,
    /// `POPGET_PASSWORD` is set but not UTF-8: an error when it is the source to use.
    pub environment_not_utf8: bool,
    pub config_command: Option<String>,
    pub config_password: Option<Secret>,
    /// The name of the systemd credential (`$CREDENTIALS_DIRECTORY/NAME`) and of the keyring
    /// item: the account's name in the configuration file (none for `--host` and URLs).
    pub stored_as: Option<String>,
    /// `$HOME/.netrc`, consulted after the others and before the prompt.
    pub netrc: Option<PathBuf>,
}

/// Where an account's secret lives, as `popget accounts` shows it. Found without running any
/// command or asking anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretLocation {
    /// OAuth tokens, saved by `popget login`.
    Tokens(crate::credentials::token_store::Location),
    /// An OAuth account that has not logged in yet.
    NotLoggedIn,
    Environment,
    PasswordCommand,
    ConfigFile,
    SystemdCredential,
    Keyring,
    Netrc,
    /// Kerberos (`auth = "gssapi"`): no password.
    Kerberos,
    /// None found: popget asks on the terminal, or fails.
    Nowhere,
}

impl SecretLocation {
    /// One word (or a path) for the table and the JSON.
    pub fn describe(&self) -> String {
        match self {
            SecretLocation::Tokens(crate::credentials::token_store::Location::Keyring {
                ..
            }) => "keyring".into(),
            SecretLocation::Tokens(crate::credentials::token_store::Location::File(path)) => {
                path.display().to_string()
            }
            SecretLocation::NotLoggedIn => "none (popget login)".into(),
            SecretLocation::Environment => "POPGET_PASSWORD".into(),
            SecretLocation::PasswordCommand => "password_command".into(),
            SecretLocation::ConfigFile => "config file".into(),
            SecretLocation::SystemdCredential => "systemd credential".into(),
            SecretLocation::Keyring => "keyring".into(),
            SecretLocation::Netrc => "netrc".into(),
            SecretLocation::Kerberos => "kerberos".into(),
            SecretLocation::Nowhere => "none".into(),
        }
    }
}

/// One account, validated and ready to use.
#[derive(Debug, Clone)]
pub struct Account {
    /// The config name, or `user@host` for an account given on the command line.
    pub name: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub tls: TlsMode,
    pub certificates: CertificatePolicy,
    pub auth: AuthMethod,
    pub timeout: Duration,
    /// What a whole session and a listing may take (`session_timeout`, `max_listing`).
    pub limits: Limits,
    /// Whether commands go out without waiting for each answer.
    pub pipelining: PipeliningMode,
    /// How closely a message must fit the size LIST announced for it.
    pub list_sizes: ListSizesMode,
    pub passwords: PasswordSources,
    /// The SOCKS5 proxy the connection goes through, if any.
    pub proxy: Option<crate::transport::proxy::Proxy>,
    /// The Kerberos service principal for GSSAPI: `pop@HOST` unless configured.
    pub gssapi: auth::gssapi::Target,
    /// `[accounts.NAME.oauth]` resolved: the account logs in with a token from
    /// [`Account::oauth_token`] instead of a password.
    pub oauth: Option<ResolvedOAuth>,
    /// Settings that only fetching needs; checked by [`Account::fetch_settings`].
    settings: Settings,
}

/// Bounds on what one session may cost, whatever the server does.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub session_timeout: Duration,
    /// Octets of memory one LIST or UIDL answer may take.
    pub max_listing: u64,
}

/// What `fetch` needs beyond the connection.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    pub destination: Destination,
    pub delete: bool,
    pub state_path: PathBuf,
    /// Larger messages stay on the server ...
    pub max_size: Option<u64>,
    /// ... unless they are to be deleted unread.
    pub delete_oversized: bool,
    /// Fetched messages are deleted this many days after they were first seen.
    pub keep_days: Option<u64>,
    /// At most this many messages per run.
    pub limit: Option<u64>,
    /// Fetching stops once this many octets (by LIST sizes) are fetched.
    pub max_bytes: Option<u64>,
    /// A command that decides on each message from its headers.
    pub filter: Option<String>,
    /// How long the MDA and the filter may take per message.
    pub mda_timeout: Duration,
}

/// The problem of a required `key` that no layer sets, naming account `name` if there is one.
fn missing_setting(name: Option<&str>, key: &'static str) -> Error {
    let message =
        |whom: &str| format!("no {key} given{whom} (use --{key} or the config key {key})");
    match name {
        Some(name) => {
            Error::config_of_account(&[key], message(&format!(" for account \"{name}\"")))
        }
        None => Error::config_about(&[key], message("")),
    }
}

/// The server's host name, brackets removed; `None` when missing, a problem pushed either way
/// when it is missing or not a host name.
fn resolve_host(
    name: Option<&str>,
    settings: &Settings,
    problems: &mut Vec<Error>,
) -> Option<String> {
    let host = settings
        .host
        .as_deref()
        .map(|host| crate::transport::dial::unbracket(host).to_string())
        .filter(|h| !h.is_empty());
    match &host {
        None => problems.push(missing_setting(name, "host")),
        Some(host)
            if host
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '/') =>
        {
            problems.push(Error::config_about(
                &["host"],
                format!("the host name {host:?} is not valid"),
            ))
        }
        Some(_) => {}
    }
    host
}

/// The user name; `None` when missing, a problem pushed either way when it is missing or holds
/// spaces or control characters.
fn resolve_user(
    name: Option<&str>,
    settings: &Settings,
    problems: &mut Vec<Error>,
) -> Option<String> {
    let user = settings.user.clone().filter(|u| !u.is_empty());
    match &user {
        None => problems.push(missing_setting(name, "user")),
        Some(user) if user.chars().any(|c| c.is_whitespace() || c.is_control()) => {
            problems.push(Error::config_about(
                &["user"],
                format!("the user name {user:?} contains spaces or control characters"),
            ))
        }
        Some(_) => {}
    }
    user
}

/// How the server's certificate is checked: `ca_file`, `insecure`, `fingerprint`, none of
/// which means anything without TLS.
fn certificate_policy(
    settings: &Settings,
    tls: TlsMode,
    env: &HashMap<String, String>,
    problems: &mut Vec<Error>,
) -> CertificatePolicy {
    let mut problem =
        |keys: &[&'static str], message: String| problems.push(Error::config_about(keys, message));
    let insecure = settings.insecure.unwrap_or(false);
    let ca_file = settings.ca_file.as_deref().map(|p| expand_home(p, env));
    if insecure && tls == TlsMode::None {
        problem(
            &["insecure", "tls"],
            "--insecure has no meaning with --tls none".into(),
        );
    }
    let fingerprint = settings.fingerprint.as_ref().and_then(|text| {
        let parsed = crate::transport::parse_fingerprint(text);
        if parsed.is_none() {
            problem(
                &["fingerprint"],
                format!(
                    "the fingerprint {text:?} is not a SHA-256 fingerprint: 64 hex digits, \
                 colons allowed, as popget info or openssl x509 -fingerprint -sha256 print it"
                ),
            );
        }
        parsed
    });
    if settings.fingerprint.is_some() && tls == TlsMode::None {
        problem(
            &["fingerprint", "tls"],
            "--fingerprint has no meaning with --tls none".into(),
        );
    }
    CertificatePolicy {
        ca_file,
        insecure,
        fingerprint,
    }
}

/// The per-command timeout and the session's [`Limits`]; a zero time or a bad size is a
/// problem, and the default stands in for it.
fn resolve_timeouts(settings: &Settings, problems: &mut Vec<Error>) -> (Duration, Limits) {
    let timeout = settings.timeout.unwrap_or(DEFAULT_TIMEOUT);
    if timeout == 0 {
        problems.push(Error::config_about(
            &["timeout"],
            "the timeout must be at least 1 second",
        ));
    }
    let session_timeout = match settings.session_timeout {
        Some(0) => {
            problems.push(Error::config_about(
                &["session_timeout"],
                "session_timeout must be at least 1 second",
            ));
            crate::transport::DEFAULT_SESSION_TIMEOUT
        }
        Some(secs) => Duration::from_secs(secs),
        None => crate::transport::DEFAULT_SESSION_TIMEOUT,
    };
    let max_listing = match &settings.max_listing {
        Some(size) => size.octets_of("max_listing").unwrap_or_else(|error| {
            problems.push(error);
            crate::pop3::DEFAULT_MAX_LISTING
        }),
        None => crate::pop3::DEFAULT_MAX_LISTING,
    };
    let limits = Limits {
        session_timeout,
        max_listing,
    };
    (Duration::from_secs(timeout), limits)
}

/// The proxy to connect through, if any; an unreadable proxy URL is a problem.
fn resolve_proxy(
    settings: &Settings,
    problems: &mut Vec<Error>,
) -> Option<crate::transport::proxy::Proxy> {
    match settings
        .proxy
        .as_deref()
        .map(crate::transport::proxy::Proxy::parse)
    {
        Some(Ok(proxy)) => Some(proxy),
        Some(Err(why)) => {
            problems.push(Error::config_about(
                &["proxy"],
                format!("invalid proxy URL: {why}"),
            ));
            None
        }
        None => None,
    }
}

/// Checks `gssapi_service` and `gssapi_host`: each must be one part of a Kerberos principal.
fn check_gssapi_names(settings: &Settings, problems: &mut Vec<Error>) {
    for (key, value) in [
        ("gssapi_service", &settings.gssapi_service),
        ("gssapi_host", &settings.gssapi_host),
    ] {
        if let Some(value) = value.as_deref().filter(|v| !valid_principal_part(v)) {
            problems.push(Error::config_about(
                &[key],
                format!(
                    "{key} {value:?} is not valid: it must be one name without spaces, control \
                 characters, / or @"
                ),
            ));
        }
    }
}

/// The login method and the resolved `[accounts.NAME.oauth]` table, which must agree.
fn resolve_login(
    name: Option<&str>,
    settings: &Settings,
    problems: &mut Vec<Error>,
) -> (AuthMethod, Option<ResolvedOAuth>) {
    let mut auth = settings.auth.unwrap_or(AuthMethod::Auto);
    let oauth = match (&settings.oauth, name) {
        (Some(table), Some(name)) => match table.resolve(name) {
            Ok(resolved) => Some(resolved),
            Err(error) => {
                problems.push(Error::OAuth(error));
                None
            }
        },
        _ => None,
    };
    if settings.oauth.is_some() {
        match settings.auth {
            // The table says how this account logs in.
            None => auth = AuthMethod::Xoauth2,
            Some(AuthMethod::Xoauth2 | AuthMethod::Oauthbearer) => {}
            Some(other) => problems.push(Error::config_about(
                &["auth"],
                format!(
                    "auth = \"{}\" does not log in with the [accounts.{}.oauth] table; set auth \
                 to \"xoauth2\" or \"oauthbearer\", or remove the table",
                    other.name(),
                    name.unwrap_or("NAME")
                ),
            )),
        }
    }
    (auth, oauth)
}

/// Where account `name`'s password may come from, the command line's not yet known.
fn password_sources(
    name: Option<&str>,
    settings: &Settings,
    env: &HashMap<String, String>,
) -> PasswordSources {
    PasswordSources {
        command_line: None,
        environment: env
            .get(PASSWORD_ENV)
            .filter(|p| !p.is_empty())
            .map(|p| Secret::new(p.clone())),
        environment_not_utf8: env.contains_key(PASSWORD_ENV_NOT_UTF8),
        config_command: settings.password_command.clone(),
        config_password: settings.password.clone().map(Secret::new),
        stored_as: name.filter(|name| !is_url(name)).map(str::to_string),
        netrc: home_dir(env).map(|home| home.join(".netrc")),
    }
}

impl Account {
    /// Builds an account from its layers: `[defaults]`, the account's table, the command line.
    fn resolve(
        name: Option<&str>,
        layers: &[&Settings],
        env: &HashMap<String, String>,
    ) -> Result<Account> {
        Account::resolve_all(name, layers, env).map_err(first_problem)
    }

    /// [`Account::resolve`], finding every problem rather than the first.
    fn resolve_all(
        name: Option<&str>,
        layers: &[&Settings],
        env: &HashMap<String, String>,
    ) -> Result<Account, Vec<Error>> {
        let settings = layers
            .iter()
            .fold(Settings::default(), |acc, layer| acc.overlaid(layer));
        let mut problems = Vec::new();
        let host = resolve_host(name, &settings, &mut problems);
        let user = resolve_user(name, &settings, &mut problems);
        let tls = settings.tls.unwrap_or(TlsMode::Implicit);
        let port = settings.port.unwrap_or_else(|| tls.default_port());
        let certificates = certificate_policy(&settings, tls, env, &mut problems);
        let (timeout, limits) = resolve_timeouts(&settings, &mut problems);
        let proxy = resolve_proxy(&settings, &mut problems);
        check_gssapi_names(&settings, &mut problems);
        let (auth, oauth) = resolve_login(name, &settings, &mut problems);
        let (Some(host), Some(user), true) = (host, user, problems.is_empty()) else {
            return Err(problems);
        };
        let passwords = password_sources(name, &settings, env);
        let gssapi = auth::gssapi::Target {
            service: (settings.gssapi_service.clone())
                .unwrap_or_else(|| auth::gssapi::Target::POP_SERVICE.to_string()),
            host: settings.gssapi_host.clone().unwrap_or_else(|| host.clone()),
        };
        Ok(Account {
            name: name.map_or_else(|| format!("{user}@{host}"), str::to_string),
            host,
            port,
            user,
            tls,
            certificates,
            auth,
            timeout,
            limits,
            passwords,
            proxy,
            gssapi,
            oauth,
            pipelining: settings.pipelining.unwrap_or_default(),
            list_sizes: settings.list_sizes.unwrap_or_default(),
            settings,
        })
    }

    /// The delivery settings `fetch` needs: exactly one destination, keep or delete, a state file.
    pub fn fetch_settings(&self, env: &HashMap<String, String>) -> Result<FetchSettings> {
        fetch_settings(
            &self.name,
            &self.settings,
            self.timeout,
            &self.state_key(),
            env,
        )
        .map_err(first_problem)
    }

    /// How `popget daemon` polls the account, and what runs when mail arrives.
    pub fn service_settings(&self) -> Result<ServiceSettings> {
        service_settings(&self.settings)
    }

    /// The state file's name: user, host and port, escaped so that it is always one safe name.
    pub fn state_key(&self) -> String {
        // Every byte but ASCII letters, digits and `@_-.` becomes `%XX`.
        const ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
            .remove(b'@')
            .remove(b'_')
            .remove(b'-')
            .remove(b'.');
        let raw = format!("{}@{}_{}", self.user, self.host, self.port);
        let mut key = percent_encoding::utf8_percent_encode(&raw, ESCAPED).to_string();
        if key.starts_with('.') {
            key.replace_range(0..1, "%2E");
        }
        key
    }

    /// The password, from the first source that has one: the command line, `POPGET_PASSWORD`,
    /// `password_command`, the file's `password`, the systemd credential named after the
    /// account, the OS keyring, `~/.netrc`, a prompt on the terminal.
    pub fn password(&self) -> Result<Secret> {
        if let Some(command) = &self.passwords.command_line {
            return password_from_command(command).map_err(|e| PasswordError::Command(e).into());
        }
        if self.passwords.environment_not_utf8 {
            return Err(PasswordError::EnvironmentNotUtf8.into());
        }
        if let Some(secret) = &self.passwords.environment {
            return Ok(secret.clone());
        }
        if let Some(command) = &self.passwords.config_command {
            return password_from_command(command).map_err(|e| PasswordError::Command(e).into());
        }
        if let Some(secret) = &self.passwords.config_password {
            return Ok(secret.clone());
        }
        if let Some(name) = &self.passwords.stored_as {
            if let Some(secret) =
                sources::systemd_credential(name).map_err(PasswordError::Credential)?
            {
                return Ok(secret);
            }
            if let Some(secret) = self.keyring_password(name)? {
                return Ok(secret);
            }
        }
        if let Some(netrc) = &self.passwords.netrc {
            if let Some(secret) = netrc::lookup(netrc, &self.host, &self.user)? {
                return Ok(secret);
            }
        }
        if let Some(secret) =
            prompt_password(&format!("Password for {}@{}: ", self.user, self.host))
                .map_err(PasswordError::Prompt)?
        {
            return Ok(secret);
        }
        Err(PasswordError::Missing {
            account: self.name.clone(),
            user: self.user.clone(),
            host: self.host.clone(),
        }
        .into())
    }

    /// The password `popget password set NAME` saved; `None` also when no keyring answers on
    /// this machine (no D-Bus session, no Secret Service), which is no error: the keyring is
    /// one source among others.
    fn keyring_password(&self, name: &str) -> Result<Option<Secret>> {
        match os_keyring::load_password(name) {
            Ok(found) => Ok(found),
            Err(KeyringError::Failed(_)) => Ok(None),
            Err(source) => Err(PasswordError::Keyring {
                account: name.to_string(),
                source,
            }
            .into()),
        }
    }

    /// Where the secret of this account lives, without running a command or prompting.
    pub fn secret_location(&self) -> SecretLocation {
        if self.oauth.is_some() {
            return match crate::credentials::token_store::locate(&self.name, &self.token_dir()) {
                Ok(Some(location)) => SecretLocation::Tokens(location),
                _ => SecretLocation::NotLoggedIn,
            };
        }
        if self.auth == AuthMethod::Gssapi {
            return SecretLocation::Kerberos;
        }
        if self.passwords.environment.is_some() {
            return SecretLocation::Environment;
        }
        if self.passwords.config_command.is_some() {
            return SecretLocation::PasswordCommand;
        }
        if self.passwords.config_password.is_some() {
            return SecretLocation::ConfigFile;
        }
        if let Some(name) = &self.passwords.stored_as {
            if matches!(sources::systemd_credential(name), Ok(Some(_))) {
                return SecretLocation::SystemdCredential;
            }
            if matches!(os_keyring::load_password(name), Ok(Some(_))) {
                return SecretLocation::Keyring;
            }
        }
        if let Some(netrc) = &self.passwords.netrc {
            if matches!(netrc::lookup(netrc, &self.host, &self.user), Ok(Some(_))) {
                return SecretLocation::Netrc;
            }
        }
        SecretLocation::Nowhere
    }

    /// The directory the token store keeps files and locks in (`$XDG_STATE_HOME/popget`).
    pub fn token_dir(&self) -> PathBuf {
        default_state_dir().unwrap_or_else(|_| PathBuf::from("."))
    }

    /// The store of this account's OAuth tokens: where they are, else the keyring when one
    /// answers, else a private file.
    pub fn token_store(&self) -> Box<dyn crate::credentials::token_store::TokenStore> {
        crate::credentials::token_store::open(&self.name, &self.token_dir())
    }

    /// An access token for an account with `[accounts.NAME.oauth]`: the saved one while it is
    /// fresh, else refreshed (and the new tokens saved before use).
    pub fn oauth_token(&self) -> Result<Secret> {
        let Some(oauth) = &self.oauth else {
            return Err(Error::config(format!(
                "account \"{}\" has no [accounts.{}.oauth] table",
                self.name, self.name
            )));
        };
        Ok(crate::credentials::oauth::access_token(
            oauth,
            &*self.token_store(),
        )?)
    }

    /// A new access token after the server rejected `rejected` (revoked early, clock skew).
    pub fn oauth_token_after_rejection(&self, rejected: &Secret) -> Result<Secret> {
        let Some(oauth) = &self.oauth else {
            return self.password();
        };
        Ok(crate::credentials::oauth::refresh_rejected(
            oauth,
            &*self.token_store(),
            rejected,
        )?)
    }
}

/// How often `popget daemon` polls an account unless `interval` says otherwise.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);

/// The settings of an account that matter once mail is fetched regularly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSettings {
    /// The time between two polls by `popget daemon`.
    pub interval: Duration,
    /// The `on_new_mail` command, run through `sh -c` after a run that delivered something.
    pub on_new_mail: Option<String>,
}

fn service_settings(settings: &Settings) -> Result<ServiceSettings> {
    let interval = match &settings.interval {
        Some(interval) => interval.duration_of("interval")?,
        None => DEFAULT_INTERVAL,
    };
    Ok(ServiceSettings {
        interval,
        on_new_mail: settings
            .on_new_mail
            .clone()
            .filter(|command| !command.trim().is_empty()),
    })
}

/// The first of an account's problems (there is at least one).
fn first_problem(problems: Vec<Error>) -> Error {
    problems
        .into_iter()
        .next()
        .unwrap_or_else(|| Error::config("the account cannot be resolved"))
}

/// The delivery settings of account `name` from its merged `settings`, or every problem found
/// in them. `state_key` names the default state file.
fn fetch_settings(
    name: &str,
    settings: &Settings,
    timeout: Duration,
    state_key: &str,
    env: &HashMap<String, String>,
) -> Result<FetchSettings, Vec<Error>> {
    let mut problems = Vec::new();
    let destination = fetch_destination(name, settings, env, &mut problems);
    let delete = delete_setting(name, settings, &mut problems);
    let state_path = state_path_setting(settings, state_key, env, &mut problems);
    let max_size = octets_setting(&settings.max_size, "max_size", &mut problems);
    let max_bytes = octets_setting(&settings.max_bytes, "max_bytes", &mut problems);
    let delete_oversized = check_fetch_limits(name, settings, delete, &mut problems);
    match (destination, delete, state_path, max_size, max_bytes) {
        (Some(destination), Some(delete), Some(state_path), Ok(max_size), Ok(max_bytes))
            if problems.is_empty() =>
        {
            Ok(FetchSettings {
                destination,
                delete,
                state_path,
                max_size,
                delete_oversized,
                keep_days: settings.keep_days,
                limit: settings.limit,
                max_bytes,
                filter: settings.filter.clone().filter(|f| !f.trim().is_empty()),
                mda_timeout: timeout,
            })
        }
        _ => Err(problems),
    }
}

/// The one destination of account `name` (maildir, possibly with a folder, mbox or mda), its
/// problems pushed onto `problems`.
fn fetch_destination(
    name: &str,
    settings: &Settings,
    env: &HashMap<String, String>,
    problems: &mut Vec<Error>,
) -> Option<Destination> {
    let destination = match (&settings.maildir, &settings.mbox, &settings.mda) {
        (Some(dir), None, None) => match &settings.folder {
            Some(folder) => match check_folder(folder) {
                Ok(()) => Some(Destination::MaildirFolder {
                    root: expand_home(dir, env),
                    name: folder.clone(),
                }),
                Err(error) => {
                    problems.push(error);
                    None
                }
            },
            None => Some(Destination::Maildir(expand_home(dir, env))),
        },
        (None, Some(file), None) => Some(Destination::Mbox(expand_home(file, env))),
        (None, None, Some(command)) if !command.trim().is_empty() => {
            Some(Destination::Mda(command.clone()))
        }
        (None, None, None) => {
            problems.push(Error::config_of_account(
                DESTINATION_KEYS,
                format!(
                    "no destination for account \"{name}\": use --maildir DIR, --mbox FILE or \
                 --mda COMMAND"
                ),
            ));
            None
        }
        _ => {
            problems.push(Error::config_of_account(
                DESTINATION_KEYS,
                format!(
                    "account \"{name}\" sets more than one of maildir, mbox and mda (or an empty \
                 mda); choose one"
                ),
            ));
            None
        }
    };
    if settings.folder.is_some() && settings.maildir.is_none() {
        problems.push(Error::config_of_account(
            &["folder"],
            format!("account \"{name}\": folder needs maildir"),
        ));
    }
    destination
}

/// Whether account `name` deletes what it fetched, from `keep` and `delete`; `None` when both
/// are set, the problem pushed onto `problems`.
fn delete_setting(name: &str, settings: &Settings, problems: &mut Vec<Error>) -> Option<bool> {
    match (settings.keep, settings.delete) {
        (Some(true), Some(true)) => {
            problems.push(Error::config_of_account(
                &["keep", "delete"],
                format!("account \"{name}\" sets both keep and delete"),
            ));
            None
        }
        (_, Some(delete)) => Some(delete),
        (Some(keep), None) => Some(!keep),
        (None, None) => Some(false),
    }
}

/// The state file: the `state` setting, else `state_key` in the default state directory.
fn state_path_setting(
    settings: &Settings,
    state_key: &str,
    env: &HashMap<String, String>,
    problems: &mut Vec<Error>,
) -> Option<PathBuf> {
    match &settings.state {
        Some(path) => Some(expand_home(path, env)),
        None => match default_state_dir() {
            Ok(dir) => Some(dir.join(format!("{state_key}.state"))),
            Err(error) => {
                problems.push(error);
                None
            }
        },
    }
}

/// A size setting in octets, `Ok(None)` when unset; `Err` when its value is not a size, the
/// problem pushed onto `problems`.
fn octets_setting(
    setting: &Option<SizeSetting>,
    key: &'static str,
    problems: &mut Vec<Error>,
) -> Result<Option<u64>, ()> {
    match setting {
        Some(size) => match size.octets_of(key) {
            Ok(octets) => Ok(Some(octets)),
            Err(error) => {
                problems.push(error);
                Err(())
            }
        },
        None => Ok(None),
    }
}

/// Checks the limits that depend on other settings (`delete_oversized`, `keep_days`, `limit`)
/// and returns `delete_oversized`.
fn check_fetch_limits(
    name: &str,
    settings: &Settings,
    delete: Option<bool>,
    problems: &mut Vec<Error>,
) -> bool {
    let delete_oversized = settings.delete_oversized.unwrap_or(false);
    if delete_oversized && settings.max_size.is_none() {
        problems.push(Error::config_of_account(
            &["delete_oversized"],
            format!("account \"{name}\": delete_oversized needs max_size"),
        ));
    }
    if settings.keep_days.is_some() && delete == Some(true) {
        problems.push(Error::config_of_account(
            &["keep_days", "delete"],
            format!("account \"{name}\": keep_days and delete contradict each other; choose one"),
        ));
    }
    if settings.limit == Some(0) {
        problems.push(Error::config_about(&["limit"], "limit must be at least 1"));
    }
    delete_oversized
}

/// Every problem of account `name` in the configuration file, resolved as `fetch` would
/// resolve it: its inheritance, then each setting on its own, so that five bad values are
/// five problems. Empty when the account is fine.
pub fn account_problems(
    config: &ConfigFile,
    name: &str,
    env: &HashMap<String, String>,
) -> Vec<Error> {
    let layers = match config.layers(name) {
        Ok(layers) => layers,
        Err(error) => return vec![error],
    };
    let (mut problems, timeout, state_key) = match Account::resolve_all(Some(name), &layers, env) {
        Ok(account) => (Vec::new(), account.timeout, account.state_key()),
        Err(problems) => (
            problems,
            Duration::from_secs(DEFAULT_TIMEOUT),
            "-".to_string(),
        ),
    };
    let settings = layers
        .iter()
        .fold(Settings::default(), |acc, layer| acc.overlaid(layer));
    if let Err(more) = fetch_settings(name, &settings, timeout, &state_key, env) {
        problems.extend(more);
    }
    if let Err(problem) = service_settings(&settings) {
        problems.push(problem);
    }
    problems
}

/// Whether an account name is a `pop3s://`, `pop3://` or `pop://` URL.
pub fn is_url(name: &str) -> bool {
    name.contains("://")
}

/// Reads an account URL: `pop3s://user@host:port` (TLS on connect, port 995),
/// `pop3://user@host:port` and RFC 2384's `pop://user;AUTH=mech@host:port` (STLS, port 110).
/// A password in the URL is refused; the user name is percent-decoded.
pub fn parse_url(url: &str) -> Result<Settings> {
    let bad = |why: &str| bad_url(url, why);
    let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
    let tls = url_tls(scheme).ok_or_else(|| bad("the scheme must be pop3s, pop3 or pop"))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#']) {
        return Err(bad("a POP URL has no path, query or fragment"));
    }
    let (userinfo, hostport) = match rest.rsplit_once('@') {
        Some((userinfo, hostport)) => (Some(userinfo), hostport),
        None => (None, rest),
    };
    let mut settings = Settings {
        tls: Some(tls),
        ..Settings::default()
    };
    if let Some(userinfo) = userinfo {
        read_url_userinfo(url, userinfo, &mut settings)?;
    }
    read_url_hostport(url, hostport, &mut settings)?;
    Ok(settings)
}

/// The error for an account URL that cannot be read, and why.
fn bad_url(url: &str, why: &str) -> Error {
    Error::config(format!("invalid URL {url:?}: {why}"))
}

/// The TLS mode a URL scheme means, any case: `pop3s` TLS on connect, `pop3` and `pop` STLS.
fn url_tls(scheme: &str) -> Option<TlsMode> {
    match scheme.to_ascii_lowercase().as_str() {
        "pop3s" => Some(TlsMode::Implicit),
        "pop3" | "pop" => Some(TlsMode::Starttls),
        _ => None,
    }
}

/// Reads the `user;AUTH=mech` part of account URL `url` into `settings`.
fn read_url_userinfo(url: &str, userinfo: &str, settings: &mut Settings) -> Result<()> {
    let bad = |why: &str| bad_url(url, why);
    let (user, auth) = match userinfo.to_ascii_lowercase().find(";auth=") {
        Some(at) => (&userinfo[..at], Some(&userinfo[at + ";auth=".len()..])),
        None => (userinfo, None),
    };
    if user.contains(':') {
        return Err(bad(
            "passwords do not belong in URLs; use --password-command",
        ));
    }
    let user = percent_decode(user).ok_or_else(|| bad("the user name has a broken %-escape"))?;
    if !user.is_empty() {
        settings.user = Some(user);
    }
    settings.auth = match auth {
        None => None,
        Some("*") => Some(AuthMethod::Auto),
        Some(mechanism) if mechanism.eq_ignore_ascii_case("+APOP") => Some(AuthMethod::Apop),
        Some(mechanism) if mechanism.eq_ignore_ascii_case("+USER") => Some(AuthMethod::User),
        Some(mechanism) => {
            return Err(bad(&format!(
                "the login method {mechanism} is not supported"
            )))
        }
    };
    Ok(())
}

/// Reads the `host:port` part of account URL `url` (the host possibly `[bracketed]`) into
/// `settings`.
fn read_url_hostport(url: &str, hostport: &str, settings: &mut Settings) -> Result<()> {
    let bad = |why: &str| bad_url(url, why);
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or_else(|| bad("unclosed ["))?;
        (host, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    settings.host = Some(host.to_string());
    if let Some(port) = port {
        settings.port = Some(
            port.parse()
                .map_err(|_| bad("the port is not a number from 1 to 65535"))?,
        );
    }
    Ok(())
}

/// `text` with its `%XX` escapes decoded; `None` if a `%` lacks two hex digits after it (which
/// percent-encoding's lenient decoder would keep as it is).
fn percent_decode(text: &str) -> Option<String> {
    if !crate::transport::proxy::escapes_are_well_formed(text) {
        return None;
    }
    let bytes = text.as_bytes();
    let out: Vec<u8> = percent_encoding::percent_decode(bytes).collect();
    // RFC 2384's own example encodes ISO-8859-1; anything that is not UTF-8 is read as that.
    Some(
        String::from_utf8(out)
            .unwrap_or_else(|e| e.into_bytes().iter().map(|&b| char::from(b)).collect()),
    )
}

fn default_state_dir() -> Result<PathBuf> {
    dirs::state_dir()
        .or_else(dirs::data_dir)
        .map(|dir| dir.join("popget"))
        .ok_or_else(|| {
            Error::config_about(
                &["state"],
                "cannot find a directory for state files; use --state FILE",
            )
        })
}

/// `$HOME`, else the system's idea of the home directory.
fn home_dir(env: &HashMap<String, String>) -> Option<PathBuf> {
    env.get("HOME").map(PathBuf::from).or_else(dirs::home_dir)
}

fn expand_home(path: &Path, env: &HashMap<String, String>) -> PathBuf {
    if let Ok(rest) = path.strip_prefix("~") {
        if let Some(home) = home_dir(env) {
            return home.join(rest);
        }
    }
    path.to_path_buf()
}

/// The accounts a command works on: the named ones, an ad-hoc one from `--host`, or every
/// account in the file. The first account that cannot be resolved is the error.
pub fn select_accounts(
    config: &ConfigFile,
    names: &[String],
    command_line: &CommandLine,
    env: &HashMap<String, String>,
) -> Result<Vec<Account>> {
    select_each(config, names, command_line, env)?
        .into_iter()
        .map(|(_, account)| account)
        .collect()
}

/// [`select_accounts`], each account resolved on its own: one that cannot be resolved (a typo in
/// its table) does not stop the others. The outer error is one for the whole command (no
/// account given, nothing to fetch).
pub fn select_each(
    config: &ConfigFile,
    names: &[String],
    command_line: &CommandLine,
    env: &HashMap<String, String>,
) -> Result<Vec<(String, Result<Account>)>> {
    let finish = |mut account: Account| {
        account.passwords.command_line = command_line.password_command.clone();
        account
    };
    let host_given = command_line.settings.host.is_some();
    let command_line = &command_line.settings;
    let named = |name: &str| -> Result<Account> {
        if is_url(name) {
            let url_settings = parse_url(name)?;
            return Account::resolve(
                Some(name),
                &[&config.defaults, &url_settings, command_line],
                env,
            )
            .map(finish);
        }
        let mut layers = config.layers(name)?;
        if layers
            .last()
            .is_some_and(|own| ConfigFile::is_template(own))
        {
            return Err(Error::config(format!(
                "account \"{name}\" is a template (template = true): name an account \
                 that inherits it"
            )));
        }
        layers.push(command_line);
        Account::resolve(Some(name), &layers, env).map(finish)
    };
    if !names.is_empty() {
        return Ok(names
            .iter()
            .map(|name| (name.clone(), named(name)))
            .collect());
    }
    if host_given || config.account_names().next().is_none() {
        if !host_given {
            return Err(Error::config(
                "no account given: name one from the configuration file or use --host and --user",
            ));
        }
        let account = finish(Account::resolve(
            None,
            &[&config.defaults, command_line],
            env,
        )?);
        return Ok(vec![(account.name.clone(), Ok(account))]);
    }
    Ok(config
        .account_names()
        .map(|name| (name.to_string(), named(name)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_size("500000"), Ok(500_000));
        assert_eq!(parse_size("800K"), Ok(800 * 1024));
        assert_eq!(parse_size("20M"), Ok(20 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("2MiB"), Ok(2 << 20));
        for bad in ["", "0", "-1", "10X", "M", "99999999999999999999G"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    fn env() -> HashMap<String, String> {
        HashMap::from([("HOME".to_string(), "/home/me".to_string())])
    }

    #[test]
    fn intervals_read_seconds_or_a_unit() {
        let read = |setting: IntervalSetting| setting.duration_of("interval").ok();
        assert_eq!(
            read(IntervalSetting::Seconds(90)),
            Some(Duration::from_secs(90))
        );
        for (text, seconds) in [
            ("90s", 90),
            ("5m", 300),
            ("1h", 3600),
            ("2", 2),
            (" 1d ", 86_400),
        ] {
            assert_eq!(
                read(IntervalSetting::Text(text.into())),
                Some(Duration::from_secs(seconds)),
                "{text}"
            );
        }
        for bad in ["", "0", "0s", "5x", "m", "-1", "99999999999999999999h"] {
            assert_eq!(read(IntervalSetting::Text(bad.into())), None, "{bad}");
        }
        assert_eq!(read(IntervalSetting::Seconds(0)), None);
    }

    #[test]
    fn interval_and_hook_are_inherited_from_defaults() {
        let config = ConfigFile::parse(
            "[defaults]\ninterval = \"90s\"\non_new_mail = \"notify\"\n\
             [accounts.a]\nhost = \"h\"\nuser = \"u\"\n\
             [accounts.b]\nhost = \"h\"\nuser = \"v\"\ninterval = 5\n",
        )
        .unwrap();
        let service = |name: &str| {
            let layers = config.layers(name).unwrap();
            Account::resolve(Some(name), &layers, &env())
                .unwrap()
                .service_settings()
                .unwrap()
        };
        assert_eq!(service("a").interval, Duration::from_secs(90));
        assert_eq!(service("a").on_new_mail.as_deref(), Some("notify"));
        assert_eq!(service("b").interval, Duration::from_secs(5));
    }

    const SAMPLE: &str = r#"
[defaults]
tls = "implicit"
timeout = 30
delete = true

[accounts.work]
host = "pop.work.example"
user = "me"
maildir = "~/Mail/work"

[accounts.home]
host = "pop.home.example"
user = "me@home"
tls = "starttls"
mbox = "/var/mail/me"
keep = true
state = "~/state/home"
"#;

    #[test]
    fn list_sizes_are_exact_unless_an_account_says_estimated() {
        let config = ConfigFile::parse(
            "[defaults]\nuser = \"me\"\n[accounts.exchange]\nhost = \"mail.corp.example\"\n\
             list_sizes = \"estimated\"\n[accounts.dovecot]\nhost = \"pop.example\"\n",
        )
        .unwrap();
        let accounts = select_accounts(&config, &[], &CommandLine::default(), &env()).unwrap();
        assert_eq!(accounts[0].list_sizes, ListSizesMode::Estimated);
        assert_eq!(accounts[1].list_sizes, ListSizesMode::Exact);
        let checked = check_text(
            "[accounts.x]\nhost = \"h\"\nuser = \"u\"\nmbox = \"m\"\nlist_sizes = \"rough\"\n",
            &env(),
        );
        assert_eq!(checked.problems.len(), 1, "{:?}", checked.problems);
        assert_eq!(checked.problems[0].line, 5);
        assert!(checked.problems[0]
            .message
            .contains("unknown variant `rough`"));
    }

    #[test]
    fn the_kerberos_principal_is_pop_at_the_host_unless_configured() {
        let config = ConfigFile::parse(
            "[accounts.uni]\nhost = \"10.0.0.5\"\nuser = \"me\"\n\
             gssapi_host = \"pop.uni.example\"\n\
             [accounts.plain]\nhost = \"pop.example\"\nuser = \"me\"\n",
        )
        .unwrap();
        let accounts = select_accounts(&config, &[], &CommandLine::default(), &env()).unwrap();
        let target = |account: &Account| account.gssapi.to_string();
        assert_eq!(target(&accounts[0]), "pop@pop.uni.example");
        assert_eq!(target(&accounts[1]), "pop@pop.example");
        let flags = CommandLine {
            settings: Settings {
                gssapi_service: Some("imap".into()),
                ..Settings::default()
            },
            password_command: None,
        };
        let accounts = select_accounts(&config, &[], &flags, &env()).unwrap();
        assert_eq!(target(&accounts[1]), "imap@pop.example");
        for bad in ["pop/x", "a b", "p@r", ""] {
            let flags = CommandLine {
                settings: Settings {
                    gssapi_service: Some(bad.into()),
                    ..Settings::default()
                },
                password_command: None,
            };
            let result = select_accounts(&config, &[], &flags, &env());
            assert!(
                matches!(&result, Err(Error::Config(m)) if m.message().contains("gssapi_service")),
                "{bad:?}: {:?}",
                result.err()
            );
        }
    }

    #[test]
    fn reads_accounts_in_file_order_with_defaults() {
        let config = ConfigFile::parse(SAMPLE).unwrap();
        let names: Vec<_> = config.accounts.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["work", "home"]);
        let accounts = select_accounts(&config, &[], &CommandLine::default(), &env()).unwrap();
        assert_eq!(accounts.len(), 2);
        let work = &accounts[0];
        assert_eq!(
            (work.port, work.tls, work.timeout),
            (995, TlsMode::Implicit, Duration::from_secs(30))
        );
        let fetch = work.fetch_settings(&env()).unwrap();
        assert_eq!(
            fetch.destination,
            Destination::Maildir("/home/me/Mail/work".into())
        );
        assert!(fetch.delete);
        let home = &accounts[1];
        assert_eq!(home.port, 110);
        let fetch = home.fetch_settings(&env()).unwrap();
        assert!(
            !fetch.delete,
            "keep in the account beats delete in defaults"
        );
        assert_eq!(fetch.state_path, PathBuf::from("/home/me/state/home"));
    }

    #[test]
    fn command_line_overrides_the_file() {
        let config = ConfigFile::parse(SAMPLE).unwrap();
        let command_line = CommandLine {
            settings: Settings {
                port: Some(1995),
                mbox: Some("/tmp/box".into()),
                maildir: None,
                keep: Some(true),
                delete: Some(false),
                ..Settings::default()
            },
            password_command: None,
        };
        let accounts = select_accounts(&config, &["work".into()], &command_line, &env()).unwrap();
        assert_eq!(accounts[0].port, 1995);
        let fetch = accounts[0].fetch_settings(&env()).unwrap();
        assert_eq!(fetch.destination, Destination::Mbox("/tmp/box".into()));
        assert!(!fetch.delete);
    }

    #[test]
    fn a_typo_in_one_account_stops_only_that_account() {
        let config = ConfigFile::parse(
            "[accounts.x]\nhost = \"h\"\npasword = \"typo\"\nuser = \"u\"\n\
             [accounts.y]\nhost = \"h\"\nuser = \"u\"\n\
             [accounts.z]\ninherit = \"x\"\n",
        )
        .unwrap();
        let select = |names: &[&str]| {
            let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            select_accounts(&config, &names, &CommandLine::default(), &env())
        };
        assert_eq!(select(&["y"]).unwrap()[0].name, "y");
        for name in ["x", "z"] {
            let error = select(&[name]).unwrap_err().to_string();
            assert_eq!(
                error,
                "account \"x\": line 3: unknown key \"pasword\" (did you mean \"password\"?) \
                 (popget config check reports every problem with its line)",
                "{name}"
            );
        }
        // Every account: each on its own.
        let each = select_each(&config, &[], &CommandLine::default(), &env()).unwrap();
        let names: Vec<(&str, bool)> = each
            .iter()
            .map(|(name, account)| (name.as_str(), account.is_ok()))
            .collect();
        assert_eq!(names, [("x", false), ("y", true), ("z", false)]);
        // A problem in [defaults] or at the top is one for the whole file.
        let error = ConfigFile::parse("[defaults]\ntls = \"sometimes\"\n").unwrap_err();
        assert!(
            error
                .message()
                .starts_with("[defaults]: line 2: tls: unknown variant"),
            "{error}"
        );
        let error = ConfigFile::parse("[acounts.x]\n").unwrap_err();
        assert!(error.message().contains("line 1"), "{error}");
    }

    #[test]
    fn unknown_account_and_missing_settings_are_config_errors() {
        let config = ConfigFile::parse(SAMPLE).unwrap();
        let result = select_accounts(&config, &["nope".into()], &CommandLine::default(), &env());
        assert!(matches!(result, Err(Error::Config(_))));
        let empty = ConfigFile::default();
        let result = select_accounts(&empty, &[], &CommandLine::default(), &env());
        assert!(matches!(result, Err(Error::Config(_))));
        let connection = CommandLine {
            settings: Settings {
                host: Some("h".into()),
                ..Settings::default()
            },
            password_command: None,
        };
        let result = select_accounts(&empty, &[], &connection, &env());
        assert!(matches!(result, Err(Error::Config(_))), "user is missing");
    }

    #[test]
    fn parses_account_urls() {
        let settings = parse_url("pop3s://me@pop.example.com:1995").unwrap();
        assert_eq!(settings.tls, Some(TlsMode::Implicit));
        assert_eq!(
            (
                settings.user.as_deref(),
                settings.host.as_deref(),
                settings.port
            ),
            (Some("me"), Some("pop.example.com"), Some(1995))
        );
        let settings = parse_url("pop3://me@h").unwrap();
        assert_eq!(
            (settings.tls, settings.port),
            (Some(TlsMode::Starttls), None)
        );
        // RFC 2384 section 7 and POP3-NOTES item 100.
        let settings = parse_url("pop://rg;AUTH=+APOP@mail.eudora.com:8110").unwrap();
        assert_eq!(
            (settings.user.as_deref(), settings.auth, settings.port),
            (Some("rg"), Some(AuthMethod::Apop), Some(8110))
        );
        let settings = parse_url("pop://aas;AUTH=*@pop.sn.no").unwrap();
        assert_eq!(
            (settings.user.as_deref(), settings.auth),
            (Some("aas"), Some(AuthMethod::Auto))
        );
        assert_eq!(
            parse_url("pop://f%C3%A5r%3Bk%40l@h")
                .unwrap()
                .user
                .as_deref(),
            Some("får;k@l")
        );
        assert_eq!(
            parse_url("pop://f%E5r%3Bk%40l@h").unwrap().user.as_deref(),
            Some("får;k@l")
        );
        assert_eq!(
            parse_url("pop3s://[::1]:995").unwrap().host.as_deref(),
            Some("::1")
        );
        for bad in [
            "pop3s://me:pw@h",
            "imap://h",
            "pop3s://h/INBOX",
            "pop3s://h:99999",
            "pop3s://",
            "pop://u;AUTH=GSSAPI@h",
        ] {
            assert!(matches!(parse_url(bad), Err(Error::Config(_))), "{bad}");
        }
    }

    #[test]
    fn state_keys_are_safe_file_names() {
        let config = ConfigFile::parse("[accounts.a]\nhost = \"..\"\nuser = \"x/y\"\n").unwrap();
        let accounts = select_accounts(&config, &[], &CommandLine::default(), &env()).unwrap();
        let key = accounts[0].state_key();
        assert_eq!(key, "x%2Fy@.._995");
        assert!(!key.contains('/'));
    }

    const INHERITING: &str = r#"
[defaults]
timeout = 30
keep = true

[accounts.provider]
template = true
host = "pop.provider.example"
tls = "starttls"
timeout = 40
maildir = "~/Mail/provider"

[accounts.family]
template = true
inherit = "provider"
port = 1110
delete = true

[accounts.alice]
inherit = "family"
user = "alice"
maildir = "~/Mail/alice"

[accounts.bob]
inherit = "provider"
user = "bob"
mbox = "~/bob.mbox"
timeout = 50
"#;

    #[test]
    fn inherited_settings_are_layered_in_order() {
        let config = ConfigFile::parse(INHERITING).unwrap();
        let accounts = select_accounts(&config, &[], &CommandLine::default(), &env()).unwrap();
        let names: Vec<_> = accounts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["alice", "bob"], "templates are not fetched");
        let alice = &accounts[0];
        assert_eq!(
            (alice.host.as_str(), alice.port, alice.tls),
            ("pop.provider.example", 1110, TlsMode::Starttls)
        );
        assert_eq!(
            alice.timeout,
            Duration::from_secs(40),
            "provider over defaults"
        );
        let fetch = alice.fetch_settings(&env()).unwrap();
        assert_eq!(
            fetch.destination,
            Destination::Maildir("/home/me/Mail/alice".into()),
            "the account over what it inherits"
        );
        assert!(fetch.delete, "family's delete over the defaults' keep");
        let bob = &accounts[1];
        assert_eq!((bob.port, bob.timeout), (110, Duration::from_secs(50)));
        let fetch = bob.fetch_settings(&env()).unwrap();
        assert_eq!(
            fetch.destination,
            Destination::Mbox("/home/me/bob.mbox".into())
        );
        assert!(!fetch.delete);

        // The command line over everything.
        let connection = CommandLine {
            settings: Settings {
                timeout: Some(7),
                ..Settings::default()
            },
            password_command: None,
        };
        let alice = &select_accounts(&config, &["alice".into()], &connection, &env()).unwrap()[0];
        assert_eq!(alice.timeout, Duration::from_secs(7));
    }

    #[test]
    fn a_template_is_only_inherited() {
        let config = ConfigFile::parse(INHERITING).unwrap();
        let error = select_accounts(&config, &["family".into()], &CommandLine::default(), &env())
            .unwrap_err();
        assert!(
            matches!(&error, Error::Config(m) if m.message().contains("\"family\" is a template")),
            "{error}"
        );
        // With one real account beside templates, commands use it by default.
        let config = ConfigFile::parse(
            "[accounts.t]\ntemplate = true\nhost = \"h\"\n\
             [accounts.real]\ninherit = \"t\"\nuser = \"u\"\n",
        )
        .unwrap();
        let accounts = select_accounts(&config, &[], &CommandLine::default(), &env()).unwrap();
        assert_eq!(accounts.len(), 1);
        assert_eq!(
            (accounts[0].name.as_str(), accounts[0].host.as_str()),
            ("real", "h")
        );
        // Only templates: nothing to fetch.
        let config = ConfigFile::parse("[accounts.t]\ntemplate = true\n").unwrap();
        let result = select_accounts(&config, &[], &CommandLine::default(), &env());
        assert!(
            matches!(result, Err(Error::Config(m)) if m.message().contains("no account given"))
        );
    }

    #[test]
    fn inheritance_cycles_and_unknown_targets_are_config_errors() {
        let config = ConfigFile::parse(
            "[accounts.a]\ninherit = \"b\"\n[accounts.b]\ninherit = \"c\"\n\
             [accounts.c]\ninherit = \"a\"\n[accounts.self]\ninherit = \"self\"\n\
             [accounts.orphan]\nhost = \"h\"\nuser = \"u\"\ninherit = \"nobody\"\n",
        )
        .unwrap();
        let message = |name: &str| match config.layers(name) {
            Err(Error::Config(error)) => error.to_string(),
            other => panic!("{name}: {other:?}"),
        };
        assert!(
            message("a").contains("cycle: a -> b -> c -> a"),
            "{}",
            message("a")
        );
        assert!(
            message("c").contains("cycle: c -> a -> b -> c"),
            "{}",
            message("c")
        );
        assert!(message("self").contains("cycle: self -> self"));
        assert!(
            message("orphan").contains("\"orphan\" inherits \"nobody\", which is not an account"),
            "{}",
            message("orphan")
        );
        let result = select_accounts(&config, &[], &CommandLine::default(), &env());
        assert!(matches!(result, Err(Error::Config(_))));
    }

    #[test]
    fn inherit_and_template_are_refused_in_defaults() {
        for text in [
            "[defaults]\ninherit = \"a\"\n",
            "[defaults]\ntemplate = true\n",
        ] {
            let error = ConfigFile::parse(text).unwrap_err();
            assert_eq!(error.message(), DEFAULTS_ONLY_ACCOUNTS, "{text}");
        }
    }

    #[test]
    fn a_readable_config_holding_a_password_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        fs::write(
            &path,
            "[accounts.a]\nhost = \"h\"\nuser = \"u\"\npassword = \"secret\"\n",
        )
        .unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            ConfigFile::load(Some(&path)),
            Err(Error::Config(_))
        ));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        ConfigFile::load(Some(&path)).unwrap();
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Lines that look like the configuration file: tables, known keys, junk.
    fn config_text() -> impl Strategy<Value = String> {
        let line = prop_oneof![
            Just("[defaults]".to_string()),
            "\\[accounts\\.[a-z\"\\[\\]. ]{0,8}\\]",
            (
                prop_oneof![
                    Just("host"),
                    Just("port"),
                    Just("user"),
                    Just("tls"),
                    Just("password"),
                    Just("max_size"),
                    Just("max_listing"),
                    Just("session_timeout"),
                    Just("timeout"),
                    Just("fingerprint"),
                    Just("auth"),
                    Just("maildir"),
                    Just("delete"),
                    Just("inherit"),
                    Just("template"),
                ],
                prop_oneof![
                    "\"[ -~]{0,12}\"",
                    "-?[0-9]{1,25}",
                    Just("true".to_string()),
                    "[ -~]{0,10}",
                ],
            )
                .prop_map(|(key, value)| format!("{key} = {value}")),
            any::<String>(),
        ];
        proptest::collection::vec(line, 0..12).prop_map(|lines| lines.join("\n"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_text_is_read_or_refused_without_panicking(text in config_text()) {
            if let Ok(config) = ConfigFile::parse(&text) {
                // Resolving the accounts validates every value; it must not panic either.
                let env = HashMap::new();
                if let Ok(accounts) = select_accounts(&config, &[], &CommandLine::default(), &env) {
                    for account in accounts {
                        let _ = account.fetch_settings(&env);
                    }
                }
            }
        }

        #[test]
        fn any_url_or_fingerprint_is_read_or_refused_without_panicking(text in any::<String>()) {
            let _ = parse_url(&text);
            let _ = parse_url(&format!("pop://{text}"));
            let _ = crate::transport::parse_fingerprint(&text);
        }
    }
}
