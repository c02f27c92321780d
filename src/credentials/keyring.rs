//! The OS keyring (Secret Service on Linux, through libdbus): account passwords and OAuth token
//! records, stored under the service names below with the account name as the user.
//!
//! On Linux a Secret Service provider (GNOME Keyring, KeePassXC, KWallet's bridge) must run on
//! the D-Bus session bus and be unlocked. Building needs the libdbus headers (Debian:
//! `libdbus-1-dev`); running needs only `libdbus-1-3`. The items can be read with
//! `secret-tool lookup service popget username NAME`.
//!
//! A popget built without the `keyring` feature has no keyring: every call answers
//! [`KeyringError::NotBuiltIn`], which the password sources and the token store take as "no
//! keyring here" and `popget password` reports as a configuration error.

use super::Secret;

pub(crate) use backend::{delete, load, store};

/// The service name of account passwords (`popget password set NAME`).
pub const PASSWORD_SERVICE: &str = "popget";
/// The service name of OAuth token records.
pub const TOKEN_SERVICE: &str = "popget-oauth";

/// What went wrong with the keyring. Never carries a secret: the keyring crate's errors that
/// hold secret bytes (a badly encoded item) are reduced to a description.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    /// The keyring is locked, or the user dismissed its unlock prompt.
    #[error("the OS keyring is locked or refused access")]
    NoAccess(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// No keyring answered (no D-Bus session bus, no Secret Service on it), or it failed.
    #[error("the OS keyring is not reachable or failed")]
    Failed(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The item exists but is not text, or more than one item matches.
    #[error("the keyring item for {account} ({service}) is unusable: {problem}")]
    Unusable {
        service: &'static str,
        account: String,
        problem: &'static str,
    },
    /// This popget was built without the `keyring` feature.
    #[error("this popget was built without the keyring feature")]
    NotBuiltIn,
}

impl KeyringError {
    /// Whether no keyring is there to answer (none running, or none built in): a source to
    /// pass over, not an error.
    pub fn is_absent(&self) -> bool {
        matches!(self, KeyringError::Failed(_) | KeyringError::NotBuiltIn)
    }
}

/// Whether this popget has a keyring at all (the `keyring` feature).
pub fn built_in() -> Result<(), KeyringError> {
    if cfg!(feature = "keyring") {
        Ok(())
    } else {
        Err(KeyringError::NotBuiltIn)
    }
}

/// Saves `password` as the password of `account`, replacing any earlier one.
pub fn store_password(account: &str, password: &Secret) -> Result<(), KeyringError> {
    store(PASSWORD_SERVICE, account, password)
}

/// The password of `account`, or `None` when the keyring has none.
pub fn load_password(account: &str) -> Result<Option<Secret>, KeyringError> {
    load(PASSWORD_SERVICE, account)
}

/// Deletes the password of `account`; `false` when there was none.
pub fn delete_password(account: &str) -> Result<bool, KeyringError> {
    delete(PASSWORD_SERVICE, account)
}

/// Whether a keyring answers and is unlocked: a lookup of an item that does not exist either
/// finds nothing (usable) or fails (not).
pub fn probe() -> Result<(), KeyringError> {
    load(PASSWORD_SERVICE, "\u{1}popget-probe").map(drop)
}

/// The Secret Service, through the keyring crate.
#[cfg(feature = "keyring")]
mod backend {
    use super::{KeyringError, Secret};

    pub(crate) fn store(
        service: &'static str,
        account: &str,
        secret: &Secret,
    ) -> Result<(), KeyringError> {
        entry(service, account)?
            .set_password(secret.expose())
            .map_err(|e| classify(e, service, account))
    }

    pub(crate) fn load(
        service: &'static str,
        account: &str,
    ) -> Result<Option<Secret>, KeyringError> {
        match entry(service, account)?.get_password() {
            Ok(password) => Ok(Some(Secret::new(password))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(classify(e, service, account)),
        }
    }

    pub(crate) fn delete(service: &'static str, account: &str) -> Result<bool, KeyringError> {
        match entry(service, account)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(e) => Err(classify(e, service, account)),
        }
    }

    fn entry(service: &'static str, account: &str) -> Result<keyring::Entry, KeyringError> {
        keyring::Entry::new(service, account).map_err(|e| classify(e, service, account))
    }

    fn classify(error: keyring::Error, service: &'static str, account: &str) -> KeyringError {
        let unusable = |problem| KeyringError::Unusable {
            service,
            account: account.into(),
            problem,
        };
        match error {
            keyring::Error::NoStorageAccess(source) => KeyringError::NoAccess(source),
            keyring::Error::PlatformFailure(source) => KeyringError::Failed(source),
            // The payload is the item's bytes: dropped unread.
            keyring::Error::BadEncoding(_) => unusable("its content is not UTF-8"),
            keyring::Error::Ambiguous(_) => unusable("more than one item matches"),
            keyring::Error::TooLong(..) | keyring::Error::Invalid(..) => {
                unusable("the account name is not accepted by the keyring")
            }
            keyring::Error::NoEntry => unusable("it disappeared while being read"),
            other => KeyringError::Failed(other.to_string().into()),
        }
    }
}

/// No keyring built in: nothing is there to store in or load from.
#[cfg(not(feature = "keyring"))]
mod backend {
    use super::{KeyringError, Secret};

    pub(crate) fn store(_: &'static str, _: &str, _: &Secret) -> Result<(), KeyringError> {
        Err(KeyringError::NotBuiltIn)
    }

    pub(crate) fn load(_: &'static str, _: &str) -> Result<Option<Secret>, KeyringError> {
        Err(KeyringError::NotBuiltIn)
    }

    pub(crate) fn delete(_: &'static str, _: &str) -> Result<bool, KeyringError> {
        Err(KeyringError::NotBuiltIn)
    }
}
