//! OAuth2 for XOAUTH2 and OAUTHBEARER: logging in once in a browser or with a device code, then
//! access tokens on demand, refreshed silently and saved before use.
//!
//! ```text
//! OAuthConfig ──resolve──▶ ResolvedOAuth ──authorize(flow, ui)──▶ Tokens ──save──▶ TokenStore
//!                                       └──access_token(store)──▶ Secret (for SASL)
//! ```

mod config;
mod exchange;
mod flows;
mod http;
mod redirect;
mod terminal;

use std::io;
use std::time::{Duration, SystemTime};

pub use config::{OAuthConfig, Provider, Purpose, ResolvedOAuth};
pub use flows::{authorize, authorize_with, Flow, LoginSettings, UserInterface};
pub(crate) use http::agent_config;
pub use http::HttpError;
pub use terminal::TerminalInterface;

use super::sources::SourceError;
use super::token_store::{StoreError, TokenStore, Tokens};
use super::Secret;
use crate::exit;

/// Why no token could be had. Messages never contain a token, code, verifier or secret; the
/// provider's own `error_description` is shown with control characters removed.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// A key of `[accounts.NAME.oauth]` is missing, contradicts another or is invalid.
    #[error("[accounts.{account}.oauth] {key} {problem}")]
    Config {
        account: String,
        key: &'static str,
        problem: String,
    },
    #[error("cannot get the client secret of {account}")]
    SecretCommand {
        account: String,
        #[source]
        source: SourceError,
    },
    /// No tokens are saved for this login.
    #[error("{account} has not logged in with OAuth yet; run `popget login {account}`")]
    NotLoggedIn { account: String },
    /// The refresh token was refused (`invalid_grant`): revoked, expired, or the password was
    /// changed. Only a new login helps.
    #[error(
        "the provider no longer accepts the saved login of {account}{}; run `popget login {account}` again",
        said(description)
    )]
    LoginExpired {
        account: String,
        description: Option<String>,
    },
    /// The provider does not accept this client or its scopes (`invalid_client`,
    /// `unauthorized_client`, `invalid_scope`): the configuration must change.
    #[error(
        "the provider rejected the client of {account} ({code}{}); check {key} in [accounts.{account}.oauth]",
        said(description)
    )]
    ClientRejected {
        account: String,
        key: &'static str,
        code: String,
        description: Option<String>,
    },
    /// The token or device endpoint could not be reached, or is unavailable for now.
    #[error("cannot reach {endpoint}")]
    Unreachable {
        endpoint: String,
        #[source]
        source: HttpError,
    },
    /// The endpoint refused the request for another reason.
    #[error("{endpoint} refused the request ({code}{})", said(description))]
    Refused {
        endpoint: String,
        code: String,
        description: Option<String>,
    },
    /// The endpoint answered with something that is not OAuth.
    #[error("{endpoint} answered {problem}")]
    Protocol { endpoint: String, problem: String },
    /// The user (or an administrator's policy) denied access.
    #[error("access was denied{}", said(description))]
    Denied { description: Option<String> },
    #[error("the device code expired before the login was completed; start the login again")]
    DeviceCodeExpired,
    /// The redirect carries a `state` other than the one this login sent: it answers another
    /// request (or forges one). No code was exchanged.
    #[error(
        "the redirect does not belong to this login (its state differs); nothing was exchanged"
    )]
    StateMismatch,
    #[error("no answer came back to {redirect} within {} seconds", waited.as_secs())]
    RedirectTimeout { redirect: String, waited: Duration },
    /// The redirect (received or pasted) is not a usable answer.
    #[error("{0}")]
    BadRedirect(String),
    /// A local operation of the login failed (the loopback listener, reading the terminal).
    #[error("cannot {action}")]
    Local {
        action: &'static str,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn said(description: &Option<String>) -> String {
    description
        .as_ref()
        .map(|d| format!(": {d}"))
        .unwrap_or_default()
}

impl OAuthError {
    /// The sysexits status for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            OAuthError::Config { .. }
            | OAuthError::SecretCommand { .. }
            | OAuthError::ClientRejected { .. } => exit::CONFIG,
            OAuthError::NotLoggedIn { .. }
            | OAuthError::LoginExpired { .. }
            | OAuthError::Denied { .. }
            | OAuthError::StateMismatch => exit::NO_PERM,
            OAuthError::Unreachable { .. }
            | OAuthError::DeviceCodeExpired
            | OAuthError::RedirectTimeout { .. } => exit::TEMP_FAIL,
            OAuthError::Refused { .. } => exit::UNAVAILABLE,
            OAuthError::Protocol { .. } => exit::PROTOCOL,
            OAuthError::BadRedirect(_) => exit::DATA_ERR,
            OAuthError::Local { .. } => exit::IO_ERR,
            OAuthError::Store(error) => store_exit_code(error),
        }
    }
}

fn store_exit_code(error: &StoreError) -> u8 {
    match error {
        StoreError::Io { .. } => exit::IO_ERR,
        StoreError::Keyring(_) => exit::UNAVAILABLE,
        StoreError::Damaged { .. } => exit::DATA_ERR,
        StoreError::Exposed { .. } => exit::CONFIG,
        StoreError::LockTimeout => exit::TEMP_FAIL,
    }
}

/// An account's OAuth login: the client it logs in with and where its tokens are kept.
#[derive(Debug, Clone)]
pub struct OAuthLogin {
    pub client: ResolvedOAuth,
    /// The directory the token store keeps files and locks in (`$XDG_STATE_HOME/popget`).
    pub token_dir: std::path::PathBuf,
}

impl OAuthLogin {
    /// The store of the tokens: where they are, else the keyring when one answers, else a
    /// private file.
    pub fn token_store(&self) -> Box<dyn TokenStore> {
        super::token_store::open(&self.client.account, &self.token_dir)
    }

    /// An access token: the saved one while it is fresh, else refreshed (and the new tokens
    /// saved before use).
    pub fn access_token(&self) -> Result<Secret, OAuthError> {
        access_token(&self.client, &*self.token_store())
    }

    /// A new access token after the server rejected `rejected` (revoked early, clock skew).
    pub fn token_after_rejection(&self, rejected: &Secret) -> Result<Secret, OAuthError> {
        refresh_rejected(&self.client, &*self.token_store(), rejected)
    }

    /// Where the tokens are, without reading them.
    pub fn locate(&self) -> super::password::SecretLocation {
        use super::password::SecretLocation;
        match super::token_store::locate(&self.client.account, &self.token_dir) {
            Ok(Some(location)) => SecretLocation::Tokens(location),
            _ => SecretLocation::NotLoggedIn,
        }
    }
}

/// An access token for `oauth`: the saved one while it has more than a minute left, else a
/// refreshed one. A refresh runs under the login's lock, so that accounts sharing the login
/// refresh it once; the new tokens (a rotated refresh token included) are saved durably before
/// the access token is returned, and the previous record stays until then.
pub fn access_token(oauth: &ResolvedOAuth, store: &dyn TokenStore) -> Result<Secret, OAuthError> {
    if let Some(tokens) = store.load()? {
        if tokens.is_fresh(SystemTime::now()) {
            return Ok(tokens.access_token);
        }
    }
    refresh_under_lock(oauth, store, |tokens| tokens.is_fresh(SystemTime::now()))
}

/// A new access token after the server rejected `rejected` before its expiry (revoked early,
/// clock skew). If another process already replaced it, that one is used.
pub fn refresh_rejected(
    oauth: &ResolvedOAuth,
    store: &dyn TokenStore,
    rejected: &Secret,
) -> Result<Secret, OAuthError> {
    refresh_under_lock(oauth, store, |tokens| {
        tokens.access_token.expose() != rejected.expose() && tokens.is_fresh(SystemTime::now())
    })
}

/// Takes the lock, reads the store again (another holder may have refreshed meanwhile: then
/// `still_good` accepts its token), else refreshes and saves.
fn refresh_under_lock(
    oauth: &ResolvedOAuth,
    store: &dyn TokenStore,
    still_good: impl Fn(&Tokens) -> bool,
) -> Result<Secret, OAuthError> {
    let _lock = store.lock_for_refresh()?;
    let not_logged_in = || OAuthError::NotLoggedIn {
        account: oauth.account.clone(),
    };
    let tokens = store.load()?.ok_or_else(not_logged_in)?;
    if still_good(&tokens) {
        return Ok(tokens.access_token);
    }
    let Some(refresh_token) = &tokens.refresh_token else {
        return Err(OAuthError::LoginExpired {
            account: oauth.account.clone(),
            description: Some("the access token expired and no refresh token was issued".into()),
        });
    };
    let renewed = exchange::refresh(oauth, refresh_token)?;
    store.save(&renewed)?;
    Ok(renewed.access_token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved() -> ResolvedOAuth {
        let config: OAuthConfig =
            toml::from_str("provider = \"google\"\nclient_id = \"id\"\nclient_secret = \"s\"")
                .unwrap();
        config.resolve("work").unwrap()
    }

    #[test]
    fn provider_errors_map_to_exit_codes_and_keys() {
        let oauth = resolved();
        let error = |code: &str, grant| {
            exchange::server_error(&oauth, grant, code, Some("why \x1b[31m".into()))
        };
        let expired = error("invalid_grant", exchange::Grant::Refresh);
        assert_eq!(expired.exit_code(), 77);
        assert_eq!(
            expired.to_string(),
            "the provider no longer accepts the saved login of work: why ?[31m; \
             run `popget login work` again"
        );
        let client = error("invalid_client", exchange::Grant::Refresh);
        assert_eq!(client.exit_code(), 78);
        assert!(
            client.to_string().contains("check client_secret"),
            "{client}"
        );
        assert!(error("unauthorized_client", exchange::Grant::Refresh)
            .to_string()
            .contains("check client_id"));
        assert!(error("invalid_scope", exchange::Grant::Device)
            .to_string()
            .contains("check scopes"));
        assert_eq!(
            error("access_denied", exchange::Grant::Device).exit_code(),
            77
        );
        assert_eq!(
            error("expired_token", exchange::Grant::Device).exit_code(),
            75
        );
        // An authorization code that is refused is not a lost login.
        assert!(matches!(
            error("invalid_grant", exchange::Grant::AuthorizationCode),
            OAuthError::Refused { .. }
        ));
    }
}
