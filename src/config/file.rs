//! The configuration file: reading and parsing it, its accounts, inheritance and templates.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::check::Problem;
use super::document::{self, TableRead};
use super::settings::{DestinationSettings, Settings};
use super::ConfigError;
use crate::error::{Error, Result};

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
    /// `[destinations.NAME]`, in the order they were written; one whose table cannot be read is
    /// in `broken_destinations` instead, with what is wrong.
    pub destinations: Vec<(String, DestinationSettings)>,
    pub broken_destinations: BrokenAccounts,
    /// Whether any table has a `password` key or an OAuth `client_secret` (then the file must
    /// be private).
    pub password_key: bool,
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
        let read = document::read(text).map_err(|e| {
            let error = ConfigError::new(e.to_string().trim_end());
            match e.span() {
                Some(span) => error.at(span),
                None => error,
            }
        })?;
        if let Some(problem) = read.problems.first() {
            return Err(ConfigError::new(format!(
                "line {}: {}",
                problem.line, problem.message
            )));
        }
        let password_key = read.password_line().is_some();
        let defaults = match read.defaults {
            Some(table) => defaults_of(table)?,
            None => Settings::default(),
        };
        let mut accounts = Vec::with_capacity(read.accounts.len());
        let mut broken = Vec::new();
        for (name, _, table) in read.accounts {
            if table.problems.is_empty() {
                accounts.push((name, table.settings));
                continue;
            }
            // Kept with its `template` key only: using the account is an error, listing every
            // account skips it if it is a template.
            let template = Settings {
                template: table.settings.template,
                ..Settings::default()
            };
            accounts.push((name.clone(), template));
            broken.push((name, ConfigError::new(at_lines(&table.problems))));
        }
        let mut destinations = Vec::with_capacity(read.destinations.len());
        let mut broken_destinations = Vec::new();
        for (name, _, table) in read.destinations {
            if table.problems.is_empty() {
                destinations.push((name, table.settings));
            } else {
                broken_destinations.push((name, ConfigError::new(at_lines(&table.problems))));
            }
        }
        Ok(ConfigFile {
            path: None,
            defaults,
            accounts,
            broken,
            destinations,
            broken_destinations,
            password_key,
        })
    }

    /// The destination `name` as written, or why it cannot be used: it is not in the file, or
    /// its table cannot be read.
    pub fn destination(&self, name: &str) -> Result<&DestinationSettings> {
        if let Some((_, problem)) = self.broken_destinations.iter().find(|(n, _)| n == name) {
            return Err(Error::config_about(
                &["deliver_to"],
                format!("destination \"{name}\": {problem} ({SEE_CHECK})"),
            ));
        }
        self.destinations
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, settings)| settings)
            .ok_or_else(|| {
                Error::config_about(
                    &["deliver_to"],
                    format!("deliver_to = \"{name}\" names no [destinations.{name}] table"),
                )
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

/// Accounts whose table cannot be read, each with what is wrong, as in [`ConfigFile::broken`].
type BrokenAccounts = Vec<(String, ConfigError)>;

/// The settings of `[defaults]`, or what is wrong with them: a key that belongs only in an
/// account's table is refused in its own words, any other problem with its line.
fn defaults_of(table: TableRead) -> Result<Settings, ConfigError> {
    let Some(first) = table.problems.first() else {
        return Ok(table.settings);
    };
    if first.message == DEFAULTS_ONLY_ACCOUNTS {
        return Err(ConfigError::about(
            &["inherit", "template"],
            DEFAULTS_ONLY_ACCOUNTS,
        ));
    }
    if first.message == DEFAULTS_NO_OAUTH {
        return Err(ConfigError::about(&["oauth"], DEFAULTS_NO_OAUTH));
    }
    Err(ConfigError::new(format!(
        "[defaults]: {}",
        at_lines(&table.problems)
    )))
}

/// Problems as one message: `line 3: ...; line 5: ...`.
fn at_lines(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|problem| format!("line {}: {}", problem.line, problem.message))
        .collect::<Vec<_>>()
        .join("; ")
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
