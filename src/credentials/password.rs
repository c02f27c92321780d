//! An account's password sources, in the order they are tried: one list that both reads the
//! password ([`SecretSources::password`]) and tells where it lives without reading it
//! ([`SecretSources::locate`]), so the two can never disagree.

use std::io;
use std::path::PathBuf;

use super::keyring::{self as os_keyring, KeyringError};
use super::netrc::{self, NetrcError};
use super::sources::{self, SourceError};
use super::Secret;

/// One place a password may come from.
#[derive(Debug, Clone)]
pub enum SecretSource {
    /// A command whose first line of output is the password: `--password-command` or the
    /// account's `password_command`.
    Command(String),
    /// The `POPGET_PASSWORD` environment variable.
    Environment(Secret),
    /// `POPGET_PASSWORD` is set but not UTF-8: refused rather than silently skipped.
    EnvironmentNotUtf8,
    /// The configuration file's `password` key.
    ConfigFile(Secret),
    /// The systemd credential `$CREDENTIALS_DIRECTORY/NAME`.
    SystemdCredential(String),
    /// The OS keyring item `popget password set NAME` saved.
    Keyring(String),
    /// `machine HOST login USER password SECRET` in the netrc file at `path`.
    Netrc { path: PathBuf },
    /// Asked on the terminal, when standard input is one.
    Prompt,
}

/// Where an account's secret lives, as `popget accounts` shows it. Found without running any
/// command or asking anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretLocation {
    /// OAuth tokens, saved by `popget login`.
    Tokens(super::token_store::Location),
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
        use super::token_store::Location;
        match self {
            SecretLocation::Tokens(Location::Keyring { .. }) => "keyring".into(),
            SecretLocation::Tokens(Location::File(path)) => path.display().to_string(),
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

/// The password sources of one login, in order, and whose password it is.
#[derive(Debug, Clone)]
pub struct SecretSources {
    sources: Vec<SecretSource>,
    /// The account, for the message when no source has a password.
    account: String,
    user: String,
    host: String,
}

/// Why an account's password could not be had. Never carries the password.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Every source was tried and none had a password (and there was no terminal to ask on).
    #[error(
        "no password for {user}@{host}: use --password-command CMD, the POPGET_PASSWORD \
         environment variable, password_command in the configuration file, a systemd \
         credential, {}",
        stores()
    )]
    Missing {
        account: String,
        user: String,
        host: String,
    },
    /// A password command could not run, failed, timed out or printed no usable line.
    #[error(transparent)]
    Command(SourceError),
    #[error("the POPGET_PASSWORD environment variable is not valid UTF-8")]
    EnvironmentNotUtf8,
    /// The systemd credential named after the account exists but cannot be read or is empty.
    #[error(transparent)]
    Credential(SourceError),
    /// The OS keyring answered but refused access (locked) or holds an unusable item.
    #[error("cannot read the password of {account} from the OS keyring")]
    Keyring {
        account: String,
        #[source]
        source: KeyringError,
    },
    /// The netrc file cannot be read or is not private.
    #[error(transparent)]
    Netrc(NetrcError),
    /// Reading the password from the terminal failed.
    #[error("cannot read the password: {0}")]
    Prompt(io::Error),
}

/// The last password sources the message of a missing password names: without the keyring
/// feature, a password `popget password set` saved cannot be the one that is missing.
fn stores() -> &'static str {
    if os_keyring::built_in().is_ok() {
        "the OS keyring or ~/.netrc"
    } else {
        "or ~/.netrc (this popget was built without the keyring feature, so it cannot read a \
         password saved in the OS keyring)"
    }
}

impl PasswordError {
    pub fn exit_code(&self) -> u8 {
        match self {
            // A locked keyring may be unlocked by the next run.
            PasswordError::Keyring {
                source: KeyringError::NoAccess(_) | KeyringError::Failed(_),
                ..
            } => crate::exit::TEMP_FAIL,
            _ => crate::exit::CONFIG,
        }
    }
}

impl SecretSources {
    /// `sources`, tried in this order, for `user` on `host` of `account`.
    pub fn new(sources: Vec<SecretSource>, account: &str, user: &str, host: &str) -> Self {
        SecretSources {
            sources,
            account: account.to_string(),
            user: user.to_string(),
            host: host.to_string(),
        }
    }

    /// The sources, in the order they are tried.
    pub fn sources(&self) -> &[SecretSource] {
        &self.sources
    }

    /// The password, from the first source that has one.
    pub fn password(&self) -> Result<Secret, PasswordError> {
        for source in &self.sources {
            if let Some(secret) = self.read(source)? {
                return Ok(secret);
            }
        }
        Err(PasswordError::Missing {
            account: self.account.clone(),
            user: self.user.clone(),
            host: self.host.clone(),
        })
    }

    /// What `source` holds: `None` when it has no password for this login.
    fn read(&self, source: &SecretSource) -> Result<Option<Secret>, PasswordError> {
        match source {
            SecretSource::Command(command) => sources::password_from_command(command)
                .map(Some)
                .map_err(PasswordError::Command),
            SecretSource::Environment(secret) | SecretSource::ConfigFile(secret) => {
                Ok(Some(secret.clone()))
            }
            SecretSource::EnvironmentNotUtf8 => Err(PasswordError::EnvironmentNotUtf8),
            SecretSource::SystemdCredential(name) => {
                sources::systemd_credential(name).map_err(PasswordError::Credential)
            }
            // No keyring on this machine (no D-Bus session, no Secret Service, none built in)
            // is no error: the keyring is one source among others.
            SecretSource::Keyring(name) => match os_keyring::load_password(name) {
                Ok(found) => Ok(found),
                Err(error) if error.is_absent() => Ok(None),
                Err(source) => Err(PasswordError::Keyring {
                    account: name.clone(),
                    source,
                }),
            },
            SecretSource::Netrc { path } => {
                netrc::lookup(path, &self.host, &self.user).map_err(PasswordError::Netrc)
            }
            SecretSource::Prompt => {
                sources::prompt_password(&format!("Password for {}@{}: ", self.user, self.host))
                    .map_err(PasswordError::Prompt)
            }
        }
    }

    /// Where the password lives: the first source that has one, found without running a
    /// command or prompting.
    pub fn locate(&self) -> SecretLocation {
        for source in &self.sources {
            let found = match source {
                SecretSource::Command(_) => Some(SecretLocation::PasswordCommand),
                SecretSource::Environment(_) | SecretSource::EnvironmentNotUtf8 => {
                    Some(SecretLocation::Environment)
                }
                SecretSource::ConfigFile(_) => Some(SecretLocation::ConfigFile),
                SecretSource::SystemdCredential(name) => {
                    matches!(sources::systemd_credential(name), Ok(Some(_)))
                        .then_some(SecretLocation::SystemdCredential)
                }
                SecretSource::Keyring(name) => {
                    matches!(os_keyring::load_password(name), Ok(Some(_)))
                        .then_some(SecretLocation::Keyring)
                }
                SecretSource::Netrc { path } => {
                    matches!(netrc::lookup(path, &self.host, &self.user), Ok(Some(_)))
                        .then_some(SecretLocation::Netrc)
                }
                SecretSource::Prompt => None,
            };
            if let Some(location) = found {
                return location;
            }
        }
        SecretLocation::Nowhere
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(list: Vec<SecretSource>) -> SecretSources {
        SecretSources::new(list, "work", "me", "pop.example")
    }

    #[test]
    fn the_first_source_with_a_password_wins_and_is_the_one_located() {
        let list = sources(vec![
            SecretSource::Command("printf 'from-command\\n'".into()),
            SecretSource::Environment(Secret::new("from-env".into())),
        ]);
        assert_eq!(list.password().unwrap().expose(), "from-command");
        assert_eq!(list.locate(), SecretLocation::PasswordCommand);
        let list = sources(vec![
            SecretSource::Environment(Secret::new("from-env".into())),
            SecretSource::ConfigFile(Secret::new("from-file".into())),
        ]);
        assert_eq!(list.password().unwrap().expose(), "from-env");
        assert_eq!(list.locate(), SecretLocation::Environment);
    }

    #[test]
    fn an_environment_that_is_not_utf8_is_refused_not_skipped() {
        let list = sources(vec![
            SecretSource::EnvironmentNotUtf8,
            SecretSource::ConfigFile(Secret::new("from-file".into())),
        ]);
        assert!(matches!(
            list.password(),
            Err(PasswordError::EnvironmentNotUtf8)
        ));
    }

    #[test]
    fn no_source_is_missing_and_located_nowhere() {
        let list = sources(vec![SecretSource::Netrc {
            path: "/nonexistent/.netrc".into(),
        }]);
        assert!(matches!(
            list.password(),
            Err(PasswordError::Missing { .. })
        ));
        assert_eq!(list.locate(), SecretLocation::Nowhere);
    }
}
