//! Requests to the token endpoint through the oauth2 crate, and the mapping of its answers and
//! failures onto [`OAuthError`] without keeping any response body.

use std::time::SystemTime;

use oauth2::basic::{BasicClient, BasicTokenResponse};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, DeviceAuthorizationUrl,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, StandardErrorResponse, TokenResponse, TokenUrl,
};
use url::Url;

use super::http::{HttpClient, HttpError};
use super::{OAuthError, ResolvedOAuth};
use crate::credentials::printable;
use crate::credentials::token_store::Tokens;
use crate::credentials::Secret;

/// The oauth2 client as popget configures it: the token endpoint always set, the others
/// depending on the configuration.
pub(crate) type Client =
    BasicClient<EndpointMaybeSet, EndpointMaybeSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// Which grant a request was for: the same error code means different things for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grant {
    AuthorizationCode,
    Device,
    Refresh,
}

/// The client for `oauth`, with `redirect` as its redirect URI when a flow has one. The client
/// ID and secret go in the request body, which both presets and RFC 6749 servers accept.
pub(crate) fn client(oauth: &ResolvedOAuth, redirect: Option<&Url>) -> Result<Client, OAuthError> {
    let mut client = BasicClient::new(ClientId::new(oauth.client_id.clone()))
        .set_auth_type(AuthType::RequestBody)
        .set_auth_uri_option(oauth.authorize_url.clone().map(AuthUrl::from_url))
        .set_device_authorization_url_option(
            oauth
                .device_authorization_url
                .clone()
                .map(DeviceAuthorizationUrl::from_url),
        )
        .set_token_uri(TokenUrl::from_url(oauth.token_url.clone()));
    if let Some(secret) = oauth.client_secret()? {
        client = client.set_client_secret(ClientSecret::new(secret.expose().to_string()));
    }
    if let Some(redirect) = redirect {
        client = client.set_redirect_uri(RedirectUrl::from_url(redirect.clone()));
    }
    Ok(client)
}

/// Exchanges an authorization code (with its PKCE verifier) for tokens.
/// `client` is the one the authorization URL was made with: the same redirect URI.
pub(crate) fn exchange_code(
    client: &Client,
    oauth: &ResolvedOAuth,
    code: Secret,
    verifier: PkceCodeVerifier,
) -> Result<Tokens, OAuthError> {
    let response = client
        .exchange_code(AuthorizationCode::new(code.expose().to_string()))
        .set_pkce_verifier(verifier)
        .request(&HttpClient::new())
        .map_err(|e| token_error(oauth, Grant::AuthorizationCode, e))?;
    Ok(tokens_from(&response, None))
}

/// Uses `refresh_token` for a new access token. When the server rotates refresh tokens the new
/// one is in the result; otherwise the old one is kept in it.
pub(crate) fn refresh(oauth: &ResolvedOAuth, refresh_token: &Secret) -> Result<Tokens, OAuthError> {
    let token = RefreshToken::new(refresh_token.expose().to_string());
    let response = client(oauth, None)?
        .exchange_refresh_token(&token)
        .request(&HttpClient::new())
        .map_err(|e| token_error(oauth, Grant::Refresh, e))?;
    Ok(tokens_from(&response, Some(refresh_token)))
}

pub(crate) fn tokens_from(response: &BasicTokenResponse, kept_refresh: Option<&Secret>) -> Tokens {
    Tokens {
        access_token: Secret::new(response.access_token().secret().clone()),
        expires_at: response.expires_in().map(|life| SystemTime::now() + life),
        refresh_token: response
            .refresh_token()
            .map(|token| Secret::new(token.secret().clone()))
            .or_else(|| kept_refresh.cloned()),
    }
}

/// Maps a failed request to the error the user can act on. The server's own description is
/// kept (made printable); the body of a response that is not OAuth is not.
pub(crate) fn token_error<T>(
    oauth: &ResolvedOAuth,
    grant: Grant,
    error: RequestTokenError<HttpError, StandardErrorResponse<T>>,
) -> OAuthError
where
    T: oauth2::ErrorResponseType + AsRef<str> + std::fmt::Display + 'static,
{
    let endpoint = oauth.token_url.to_string();
    match error {
        RequestTokenError::ServerResponse(response) => server_error(
            oauth,
            grant,
            response.error().as_ref(),
            response.error_description().cloned(),
        ),
        RequestTokenError::Request(source) => OAuthError::Unreachable { endpoint, source },
        RequestTokenError::Parse(parse_error, _body) => OAuthError::Protocol {
            endpoint,
            problem: format!(
                "not a valid OAuth response at `{}`",
                printable(&parse_error.path().to_string())
            ),
        },
        RequestTokenError::Other(problem) => OAuthError::Protocol {
            endpoint,
            problem: printable(&problem),
        },
    }
}

/// The OAuth error `code` (RFC 6749 section 5.2, RFC 8628 section 3.5) as an [`OAuthError`];
/// the server's description is made printable here.
pub(crate) fn server_error(
    oauth: &ResolvedOAuth,
    grant: Grant,
    code: &str,
    description: Option<String>,
) -> OAuthError {
    let description = description.map(|d| printable(&d));
    let account = oauth.account.clone();
    let client_rejected = |key| OAuthError::ClientRejected {
        account: account.clone(),
        key,
        code: printable(code),
        description: description.clone(),
    };
    match code {
        "invalid_grant" if grant == Grant::Refresh => OAuthError::LoginExpired {
            account,
            description,
        },
        "invalid_client" if oauth.has_client_secret() => client_rejected("client_secret"),
        "invalid_client" | "unauthorized_client" => client_rejected("client_id"),
        "invalid_scope" => client_rejected("scopes"),
        "access_denied" => OAuthError::Denied { description },
        "expired_token" => OAuthError::DeviceCodeExpired,
        _ => OAuthError::Refused {
            endpoint: oauth.token_url.to_string(),
            code: printable(code),
            description,
        },
    }
}
