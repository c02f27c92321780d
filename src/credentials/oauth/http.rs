//! The HTTP client the oauth2 crate sends its requests through: ureq on native-tls with the
//! system's trusted roots, no redirects followed, bounded time and size.

use std::time::Duration;

use oauth2::{HttpRequest, HttpResponse};
use ureq::tls::{RootCerts, TlsConfig, TlsProvider};

/// The longest a whole request to an authorization server may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Token responses are a few kilobytes; anything far larger is not one.
const LARGEST_RESPONSE: u64 = 1 << 20;

/// Why a request got no OAuth answer.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The server could not be reached, the connection or TLS failed, or it timed out.
    #[error("{0}")]
    Transport(#[source] ureq::Error),
    /// The server answered with a status that is about itself, not the request (5xx, 429).
    #[error("the server answered HTTP {0}")]
    Unavailable(u16),
    /// A redirect: a token endpoint never redirects, and following one could send the
    /// request's secrets elsewhere.
    #[error("the server answered with a redirect (HTTP {0}), which is not followed")]
    Redirected(u16),
}

/// The settings every HTTPS client of popget starts from: native-tls with the system's trusted
/// roots; statuses are answers, not errors; no redirect is followed (it could carry a token or
/// a secret elsewhere); popget's user agent.
pub(crate) fn agent_config() -> ureq::config::ConfigBuilder<ureq::typestate::AgentScope> {
    let tls = TlsConfig::builder()
        .provider(TlsProvider::NativeTls)
        .root_certs(RootCerts::PlatformVerifier)
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("popget/", env!("CARGO_PKG_VERSION")))
}

/// A blocking client for the oauth2 crate.
pub struct HttpClient {
    agent: ureq::Agent,
}

impl HttpClient {
    pub fn new() -> HttpClient {
        let agent = agent_config()
            .timeout_global(Some(REQUEST_TIMEOUT))
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .build()
            .new_agent();
        HttpClient { agent }
    }
}

impl Default for HttpClient {
    fn default() -> Self {
        HttpClient::new()
    }
}

impl oauth2::SyncHttpClient for HttpClient {
    type Error = HttpError;

    fn call(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let mut response = self.agent.run(request).map_err(HttpError::Transport)?;
        let status = response.status();
        if status.is_redirection() {
            return Err(HttpError::Redirected(status.as_u16()));
        }
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(HttpError::Unavailable(status.as_u16()));
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(LARGEST_RESPONSE)
            .read_to_vec()
            .map_err(HttpError::Transport)?;
        let (parts, _) = response.into_parts();
        Ok(HttpResponse::from_parts(parts, body))
    }
}
