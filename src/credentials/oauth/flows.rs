//! The three ways to log in once: a browser redirected to a loopback listener, a device code
//! typed on another device (RFC 8628), or the redirect URL pasted back by the user.

use std::io;
use std::time::Duration;

use oauth2::{CsrfToken, PkceCodeChallenge, PkceCodeVerifier, Scope};
use url::Url;

use super::exchange::{self, Grant};
use super::http::HttpClient;
use super::redirect::{self, RedirectAnswer, RedirectListener};
use super::{OAuthError, ResolvedOAuth};
use crate::credentials::token_store::Tokens;
use crate::credentials::{printable, Secret};

/// How to log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Authorization code with PKCE; the browser is redirected to a listener on 127.0.0.1.
    Loopback,
    /// The device authorization grant: a code to enter at the provider's page, from any device.
    Device,
    /// Authorization code with PKCE; the user pastes the URL the browser was redirected to
    /// (for clients whose only allowed redirect is a page nothing listens on).
    Paste,
}

/// What a login shows the user and asks of them. The CLI writes to standard error and reads
/// standard input; tests play the user.
pub trait UserInterface {
    /// Shows a message (one or more lines).
    fn show(&mut self, message: &str);
    /// Opens `url` in the user's browser. The URL has been shown already, so failing is not
    /// fatal.
    fn open_browser(&mut self, url: &str) -> io::Result<()>;
    /// Reads one line typed or pasted after `prompt`. It may hold an authorization code.
    fn read_line(&mut self, prompt: &str) -> io::Result<Secret>;
}

/// Settings of a login that are not configuration.
#[derive(Debug, Clone)]
pub struct LoginSettings {
    /// How long the loopback listener waits for the browser.
    pub redirect_timeout: Duration,
}

impl Default for LoginSettings {
    fn default() -> Self {
        LoginSettings {
            redirect_timeout: Duration::from_secs(300),
        }
    }
}

/// Logs in with `flow` and returns the tokens, which the caller saves in a token store.
pub fn authorize(
    oauth: &ResolvedOAuth,
    flow: Flow,
    ui: &mut dyn UserInterface,
) -> Result<Tokens, OAuthError> {
    authorize_with(oauth, flow, ui, &LoginSettings::default())
}

/// [`authorize`] with explicit settings.
pub fn authorize_with(
    oauth: &ResolvedOAuth,
    flow: Flow,
    ui: &mut dyn UserInterface,
    settings: &LoginSettings,
) -> Result<Tokens, OAuthError> {
    let tokens = match flow {
        Flow::Loopback => loopback(oauth, ui, settings)?,
        Flow::Paste => paste(oauth, ui)?,
        Flow::Device => device(oauth, ui)?,
    };
    if tokens.refresh_token.is_none() {
        ui.show(&format!(
            "warning: the provider issued no refresh token, so popget must log in again when this \
             access token expires; check that the scopes of {} allow offline access",
            oauth.account
        ));
    }
    Ok(tokens)
}

/// A request for the browser: the URL, and what checks and completes its answer (the client
/// too, so that a client_secret_command runs once per login).
struct BrowserRequest {
    client: exchange::Client,
    url: Url,
    state: CsrfToken,
    verifier: PkceCodeVerifier,
}

fn browser_request(oauth: &ResolvedOAuth, redirect: &Url) -> Result<BrowserRequest, OAuthError> {
    if oauth.authorize_url.is_none() {
        return Err(OAuthError::Config {
            account: oauth.account.clone(),
            key: "authorize_url",
            problem: "is needed for a login in a browser (or log in with a device code)".into(),
        });
    }
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let client = exchange::client(oauth, Some(redirect))?;
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .expect("the authorization URL is set")
        .add_scopes(oauth.scopes.iter().cloned().map(Scope::new))
        .set_pkce_challenge(challenge);
    for (name, value) in oauth.extra_authorize_params() {
        request = request.add_extra_param(*name, *value);
    }
    let (url, state) = request.url();
    Ok(BrowserRequest {
        client,
        url,
        state,
        verifier,
    })
}

fn loopback(
    oauth: &ResolvedOAuth,
    ui: &mut dyn UserInterface,
    settings: &LoginSettings,
) -> Result<Tokens, OAuthError> {
    let configured = oauth.redirect_uri.as_ref();
    if let Some(uri) = configured.filter(|uri| uri.scheme() != "http") {
        return Err(OAuthError::Config {
            account: oauth.account.clone(),
            key: "redirect_uri",
            problem: format!(
                "is {uri}, which no local listener can receive; log in with the pasted URL instead"
            ),
        });
    }
    let listener = RedirectListener::bind(configured)?;
    let redirect = listener.redirect_uri().clone();
    let request = browser_request(oauth, &redirect)?;
    ui.show(&format!(
        "To log in {}, open this address in a browser:\n\n  {}\n\nWaiting for the browser to come back to {redirect} …",
        oauth.account, request.url
    ));
    if let Err(e) = ui.open_browser(request.url.as_str()) {
        ui.show(&format!(
            "(could not start a browser: {e}; open the address yourself)"
        ));
    }
    let answer = listener.receive(settings.redirect_timeout)?;
    complete(oauth, request, answer)
}

fn paste(oauth: &ResolvedOAuth, ui: &mut dyn UserInterface) -> Result<Tokens, OAuthError> {
    let redirect = oauth
        .redirect_uri
        .clone()
        .unwrap_or_else(|| Url::parse("http://localhost/").expect("a valid URL"));
    let request = browser_request(oauth, &redirect)?;
    ui.show(&format!(
        "To log in {}, open this address in a browser:\n\n  {}\n\n\
         After you allow access, the browser goes to {redirect}… (the page may fail to load).\n\
         Copy that whole address from the browser's address bar and paste it here.",
        oauth.account, request.url
    ));
    if let Err(e) = ui.open_browser(request.url.as_str()) {
        ui.show(&format!(
            "(could not start a browser: {e}; open the address yourself)"
        ));
    }
    let pasted = ui
        .read_line("Address: ")
        .map_err(|source| OAuthError::Local {
            action: "read the pasted address",
            source,
        })?;
    let answer = redirect::parse_pasted(pasted.expose(), &redirect)?;
    complete(oauth, request, answer)
}

/// Checks the answer against the request (error, state, code) and exchanges the code.
fn complete(
    oauth: &ResolvedOAuth,
    request: BrowserRequest,
    answer: RedirectAnswer,
) -> Result<Tokens, OAuthError> {
    if let Some(error) = &answer.error {
        return Err(exchange::server_error(
            oauth,
            Grant::AuthorizationCode,
            error,
            answer.error_description,
        ));
    }
    if answer.state.as_deref() != Some(request.state.secret().as_str()) {
        return Err(OAuthError::StateMismatch);
    }
    let code = answer.code.ok_or_else(|| {
        OAuthError::BadRedirect("the redirect carries neither a code nor an error".into())
    })?;
    exchange::exchange_code(&request.client, oauth, code, request.verifier)
}

fn device(oauth: &ResolvedOAuth, ui: &mut dyn UserInterface) -> Result<Tokens, OAuthError> {
    let Some(device_url) = &oauth.device_authorization_url else {
        return Err(OAuthError::Config {
            account: oauth.account.clone(),
            key: "device_authorization_url",
            problem: "is needed for a login with a device code".into(),
        });
    };
    let client = exchange::client(oauth, None)?;
    let http = HttpClient::new();
    let details: oauth2::StandardDeviceAuthorizationResponse = client
        .exchange_device_code()
        .expect("the device authorization URL is set")
        .add_scopes(oauth.scopes.iter().cloned().map(Scope::new))
        .request(&http)
        .map_err(|e| match exchange::token_error(oauth, Grant::Device, e) {
            OAuthError::Unreachable { source, .. } => OAuthError::Unreachable {
                endpoint: device_url.to_string(),
                source,
            },
            other => other,
        })?;
    let mut message = format!(
        "To log in {}, open\n\n  {}\n\non any device and enter the code\n\n  {}\n",
        oauth.account,
        printable(details.verification_uri()),
        printable(details.user_code().secret()),
    );
    if let Some(complete) = details.verification_uri_complete() {
        message.push_str(&format!(
            "\n(or open {}, which holds the code)\n",
            printable(complete.secret())
        ));
    }
    message.push_str(&format!(
        "\nWaiting up to {} minutes …",
        details.expires_in().as_secs().div_ceil(60)
    ));
    ui.show(&message);
    // The oauth2 crate polls at the given interval, waits 5 s longer after each slow_down,
    // keeps polling on authorization_pending and stops at the code's expiry.
    let response = client
        .exchange_device_access_token(&details)
        .request(&http, std::thread::sleep, None)
        .map_err(|e| exchange::token_error(oauth, Grant::Device, e))?;
    Ok(exchange::tokens_from(&response, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::oauth::OAuthConfig;

    #[test]
    fn the_google_request_asks_for_offline_access_with_pkce() {
        let config: OAuthConfig =
            toml::from_str("provider = \"google\"\nclient_id = \"id\"\nclient_secret = \"s3\"")
                .unwrap();
        let oauth = config.resolve("gmail").unwrap();
        let redirect = Url::parse("http://127.0.0.1:4711/").unwrap();
        let request = browser_request(&oauth, &redirect).unwrap();
        let query: std::collections::HashMap<_, _> =
            request.url.query_pairs().into_owned().collect();
        assert_eq!(request.url.host_str(), Some("accounts.google.com"));
        assert_eq!(query["access_type"], "offline");
        assert_eq!(query["prompt"], "consent");
        assert_eq!(query["code_challenge_method"], "S256");
        assert_eq!(query["scope"], "https://mail.google.com/");
        assert_eq!(query["redirect_uri"], "http://127.0.0.1:4711/");
        assert_eq!(&query["state"], request.state.secret());
        assert!(!query.contains_key("code_verifier") && !query.contains_key("client_secret"));
        assert!(!format!("{:?}", request.verifier).contains(request.verifier.secret()));
    }
}
