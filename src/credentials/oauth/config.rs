//! The `[accounts.NAME.oauth]` table as written, and its resolution into the endpoints, scopes
//! and client a login uses.

use std::net::IpAddr;

use serde::{Deserialize, Deserializer};
use url::{Host, Url};

use super::OAuthError;
use crate::credentials::sources::secret_from_command;
use crate::credentials::Secret;

/// A provider whose endpoints and scopes popget knows. No client ID is built in: each user
/// registers their own client (see the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Gmail and Google Workspace.
    Google,
    /// Microsoft 365, Exchange Online and Outlook.com (Entra ID, v2.0 endpoints).
    Microsoft,
}

/// What a login's tokens are for: a provider preset's scopes and flows depend on it, so that a
/// token never grants more than its use needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Purpose {
    /// Logging in to a mail server (POP3, IMAP) with XOAUTH2 or OAUTHBEARER.
    #[default]
    MailServer,
    /// Importing into a Gmail mailbox through the Gmail API: `gmail.insert` and `gmail.labels`,
    /// nothing that reads or deletes mail.
    GmailImport,
}

/// `[accounts.NAME.oauth]` as written in the configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    /// `"google"` or `"microsoft"`: sets the endpoints and default scopes.
    pub provider: Option<Provider>,
    /// Microsoft only: the directory (tenant ID or domain, `organizations`, `consumers`);
    /// `common` by default.
    pub tenant: Option<String>,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub device_authorization_url: Option<String>,
    /// A list, or one string of space-separated scopes.
    #[serde(default, deserialize_with = "scope_list")]
    pub scopes: Option<Vec<String>>,
    pub client_id: Option<String>,
    #[serde(default, deserialize_with = "secret")]
    pub client_secret: Option<Secret>,
    /// A command printing the client secret (for clients that have one and keep it elsewhere).
    pub client_secret_command: Option<String>,
    /// Overrides the redirect URI: `http://127.0.0.1[:PORT][/PATH]`, `http://localhost…`,
    /// `http://[::1]…` for the loopback flow, or what the provider allows for the pasted one.
    pub redirect_uri: Option<String>,
}

/// A configuration checked and turned into what the flows use.
#[derive(Debug, Clone)]
pub struct ResolvedOAuth {
    /// The account (or shared login) name, for messages such as "run `popget login NAME`".
    pub account: String,
    pub provider: Option<Provider>,
    pub authorize_url: Option<Url>,
    pub token_url: Url,
    pub device_authorization_url: Option<Url>,
    pub scopes: Vec<String>,
    pub client_id: String,
    pub redirect_uri: Option<Url>,
    client_secret: Option<ClientSecret>,
}

#[derive(Debug, Clone)]
enum ClientSecret {
    Value(Secret),
    Command(String),
}

const GOOGLE_AUTHORIZE: &str = "https://accounts.google.com/o/oauth2/v2/auth";
const GOOGLE_TOKEN: &str = "https://oauth2.googleapis.com/token";
const GOOGLE_DEVICE: &str = "https://oauth2.googleapis.com/device/code";
const GOOGLE_SCOPES: &[&str] = &["https://mail.google.com/"];
const GMAIL_IMPORT_SCOPES: &[&str] = &[
    "https://www.googleapis.com/auth/gmail.insert",
    "https://www.googleapis.com/auth/gmail.labels",
];
const MICROSOFT_SCOPES: &[&str] = &[
    "https://outlook.office.com/POP.AccessAsUser.All",
    "offline_access",
];

impl OAuthConfig {
    /// Checks the table and resolves the provider preset, for the login `account`. Errors name
    /// the key at fault; no command is run here (the client secret command runs when a request
    /// needs the secret).
    pub fn resolve(&self, account: &str) -> Result<ResolvedOAuth, OAuthError> {
        self.resolve_for(account, Purpose::MailServer)
    }

    /// As [`OAuthConfig::resolve`], for tokens used for `purpose`.
    pub fn resolve_for(
        &self,
        account: &str,
        purpose: Purpose,
    ) -> Result<ResolvedOAuth, OAuthError> {
        let problem = |key: &'static str, problem: String| OAuthError::Config {
            account: account.into(),
            key,
            problem,
        };
        let client_id = match self.client_id.as_deref().map(str::trim) {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => return Err(problem("client_id", "is missing; register a client with your provider (see the README) and put its ID here".into())),
        };
        let client_secret = match (&self.client_secret, &self.client_secret_command) {
            (Some(_), Some(_)) => {
                return Err(problem(
                    "client_secret_command",
                    "and client_secret are both set; keep one".into(),
                ))
            }
            (Some(secret), None) => Some(ClientSecret::Value(secret.clone())),
            (None, Some(command)) => Some(ClientSecret::Command(command.clone())),
            (None, None) => None,
        };
        let mut endpoints = self.endpoints(account)?;
        if purpose == Purpose::GmailImport {
            match self.provider {
                // Google's device flow does not grant Gmail API scopes.
                Some(Provider::Google) => endpoints.device = None,
                Some(Provider::Microsoft) => {
                    return Err(problem(
                        "provider",
                        "is \"microsoft\", which cannot import into Gmail; use \"google\"".into(),
                    ))
                }
                None => {}
            }
        }
        let scopes = match &self.scopes {
            Some(scopes) if scopes.is_empty() => return Err(problem("scopes", "is empty".into())),
            Some(scopes) => scopes.clone(),
            None => match self.provider {
                Some(Provider::Google) if purpose == Purpose::GmailImport => {
                    to_strings(GMAIL_IMPORT_SCOPES)
                }
                Some(Provider::Google) => to_strings(GOOGLE_SCOPES),
                Some(Provider::Microsoft) => to_strings(MICROSOFT_SCOPES),
                None => {
                    return Err(problem(
                        "scopes",
                        "is missing (no provider preset gives them)".into(),
                    ))
                }
            },
        };
        let redirect_uri = self
            .redirect_uri
            .as_deref()
            .map(|uri| redirect(uri).map_err(|why| problem("redirect_uri", why)))
            .transpose()?;
        Ok(ResolvedOAuth {
            account: account.into(),
            provider: self.provider,
            authorize_url: endpoints.authorize,
            token_url: endpoints.token,
            device_authorization_url: endpoints.device,
            scopes,
            client_id,
            redirect_uri,
            client_secret,
        })
    }

    fn endpoints(&self, account: &str) -> Result<Endpoints, OAuthError> {
        let problem = |key: &'static str, problem: String| OAuthError::Config {
            account: account.into(),
            key,
            problem,
        };
        let explicit = [
            ("authorize_url", &self.authorize_url),
            ("token_url", &self.token_url),
            ("device_authorization_url", &self.device_authorization_url),
        ];
        if let Some(provider) = self.provider {
            if let Some((key, _)) = explicit.iter().find(|(_, value)| value.is_some()) {
                return Err(problem(
                    key,
                    format!("cannot be combined with provider = \"{}\", which sets the endpoints; remove one of them", provider.name()),
                ));
            }
        }
        if self.tenant.is_some() && self.provider != Some(Provider::Microsoft) {
            return Err(problem(
                "tenant",
                "only applies to provider = \"microsoft\"".into(),
            ));
        }
        match self.provider {
            Some(Provider::Google) => Ok(Endpoints::parse(
                GOOGLE_AUTHORIZE,
                GOOGLE_TOKEN,
                GOOGLE_DEVICE,
            )),
            Some(Provider::Microsoft) => {
                microsoft_endpoints(self.tenant.as_deref().unwrap_or("common"))
                    .map_err(|why| problem("tenant", why))
            }
            None => self.explicit_endpoints(account),
        }
    }

    /// The endpoints given one by one, each checked.
    fn explicit_endpoints(&self, account: &str) -> Result<Endpoints, OAuthError> {
        let problem = |key: &'static str, problem: String| OAuthError::Config {
            account: account.into(),
            key,
            problem,
        };
        let checked = |key: &'static str, value: &Option<String>| {
            value
                .as_deref()
                .map(|url| endpoint(url).map_err(|why| problem(key, why)))
                .transpose()
        };
        let authorize = checked("authorize_url", &self.authorize_url)?;
        let device = checked("device_authorization_url", &self.device_authorization_url)?;
        let token = checked("token_url", &self.token_url)?.ok_or_else(|| {
            problem("token_url", "is missing: set provider, or token_url with authorize_url and/or device_authorization_url".into())
        })?;
        if authorize.is_none() && device.is_none() {
            return Err(problem(
                "authorize_url",
                "is missing, and so is device_authorization_url: at least one is needed to log in"
                    .into(),
            ));
        }
        Ok(Endpoints {
            authorize,
            token,
            device,
        })
    }
}

/// Microsoft's v2.0 endpoints of `tenant` (an ID, a domain, `common`, `organizations`,
/// `consumers`), which becomes part of the URL path.
fn microsoft_endpoints(tenant: &str) -> Result<Endpoints, String> {
    let tenant_ok = !tenant.is_empty()
        && !tenant.starts_with('.')
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if !tenant_ok {
        return Err(
            "must be a tenant ID, a domain, `common`, `organizations` or `consumers`".into(),
        );
    }
    let base = format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0");
    Ok(Endpoints::parse(
        &format!("{base}/authorize"),
        &format!("{base}/token"),
        &format!("{base}/devicecode"),
    ))
}

impl Provider {
    pub fn name(self) -> &'static str {
        match self {
            Provider::Google => "google",
            Provider::Microsoft => "microsoft",
        }
    }
}

impl ResolvedOAuth {
    /// Extra parameters of the authorization request: Google issues a refresh token only with
    /// offline access, and again after the first consent only when consent is asked again.
    pub(crate) fn extra_authorize_params(&self) -> &'static [(&'static str, &'static str)] {
        match self.provider {
            Some(Provider::Google) => &[("access_type", "offline"), ("prompt", "consent")],
            _ => &[],
        }
    }

    /// The client secret, running `client_secret_command` if that is where it comes from.
    pub(crate) fn client_secret(&self) -> Result<Option<Secret>, OAuthError> {
        match &self.client_secret {
            None => Ok(None),
            Some(ClientSecret::Value(secret)) => Ok(Some(secret.clone())),
            Some(ClientSecret::Command(command)) => {
                let what = format!("client_secret_command of {}", self.account);
                secret_from_command(command, &what)
                    .map(Some)
                    .map_err(|source| OAuthError::SecretCommand {
                        account: self.account.clone(),
                        source,
                    })
            }
        }
    }

    /// Whether a client secret is configured (to name the right key when the client is
    /// rejected).
    pub(crate) fn has_client_secret(&self) -> bool {
        self.client_secret.is_some()
    }
}

struct Endpoints {
    authorize: Option<Url>,
    token: Url,
    device: Option<Url>,
}

impl Endpoints {
    fn parse(authorize: &str, token: &str, device: &str) -> Endpoints {
        let parse = |url: &str| Url::parse(url).expect("a preset endpoint is a valid URL");
        Endpoints {
            authorize: Some(parse(authorize)),
            token: parse(token),
            device: Some(parse(device)),
        }
    }
}

/// An endpoint URL: https, or plain http only to this machine (a test server, a local proxy).
fn endpoint(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("is not a URL ({e})"))?;
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => {
            Err("must use https (plain http is allowed only to 127.0.0.1, ::1 or localhost)".into())
        }
        _ => Err("must be an https URL".into()),
    }
}

/// A redirect URI: http on a loopback address, or https anywhere (for the pasted flow).
fn redirect(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("is not a URL ({e})"))?;
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        _ => Err("must be http://127.0.0.1, http://[::1] or http://localhost (with an optional port and path), or an https URL".into()),
    }
}

/// 127.0.0.0/8, ::1 or localhost.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

fn to_strings(scopes: &[&str]) -> Vec<String> {
    scopes.iter().map(|s| s.to_string()).collect()
}

fn scope_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scopes {
        Spaced(String),
        List(Vec<String>),
    }
    Ok(Some(match Scopes::deserialize(deserializer)? {
        Scopes::Spaced(text) => text.split_whitespace().map(String::from).collect(),
        Scopes::List(list) => list,
    }))
}

fn secret<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Secret>, D::Error> {
    Ok(Some(Secret::new(String::deserialize(deserializer)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<OAuthConfig, toml::de::Error> {
        toml::from_str(text)
    }

    fn resolve(text: &str) -> Result<ResolvedOAuth, OAuthError> {
        parse(text).unwrap().resolve("work")
    }

    fn key_of(error: OAuthError) -> &'static str {
        match error {
            OAuthError::Config { key, .. } => key,
            other => panic!("not a configuration error: {other:?}"),
        }
    }

    #[test]
    fn google_preset_for_gmail_import_asks_only_to_insert_and_label() {
        let table: OAuthConfig =
            toml::from_str("provider = \"google\"\nclient_id = \"id\"").unwrap();
        let r = table.resolve_for("gmail", Purpose::GmailImport).unwrap();
        assert_eq!(
            r.scopes,
            [
                "https://www.googleapis.com/auth/gmail.insert",
                "https://www.googleapis.com/auth/gmail.labels"
            ]
        );
        assert!(r.device_authorization_url.is_none());
        let microsoft: OAuthConfig =
            toml::from_str("provider = \"microsoft\"\nclient_id = \"id\"").unwrap();
        assert!(microsoft
            .resolve_for("gmail", Purpose::GmailImport)
            .is_err());
    }

    #[test]
    fn google_preset() {
        let r =
            resolve("provider = \"google\"\nclient_id = \"id\"\nclient_secret = \"s\"").unwrap();
        assert_eq!(r.token_url.as_str(), GOOGLE_TOKEN);
        assert_eq!(r.scopes, ["https://mail.google.com/"]);
        assert_eq!(
            r.extra_authorize_params(),
            &[("access_type", "offline"), ("prompt", "consent")]
        );
        assert!(r.has_client_secret());
    }

    #[test]
    fn microsoft_preset_with_tenant_and_default() {
        let r = resolve("provider = \"microsoft\"\nclient_id = \"id\"").unwrap();
        assert_eq!(
            r.token_url.as_str(),
            "https://login.microsoftonline.com/common/oauth2/v2.0/token"
        );
        assert_eq!(
            r.scopes,
            [
                "https://outlook.office.com/POP.AccessAsUser.All",
                "offline_access"
            ]
        );
        let r = resolve("provider = \"microsoft\"\ntenant = \"contoso.com\"\nclient_id = \"id\"")
            .unwrap();
        assert_eq!(
            r.device_authorization_url.as_ref().unwrap().as_str(),
            "https://login.microsoftonline.com/contoso.com/oauth2/v2.0/devicecode"
        );
        assert!(r.extra_authorize_params().is_empty());
        for tenant in ["a/b", "..", ""] {
            let error = resolve(&format!(
                "provider = \"microsoft\"\ntenant = \"{tenant}\"\nclient_id = \"id\""
            ));
            assert_eq!(key_of(error.unwrap_err()), "tenant", "{tenant}");
        }
    }

    #[test]
    fn explicit_endpoints_and_scopes_as_one_string() {
        let r = resolve(
            "authorize_url = \"https://id.example/auth\"\ntoken_url = \"https://id.example/token\"\n\
             scopes = \"pop offline\"\nclient_id = \"id\"\nredirect_uri = \"http://localhost:8080/cb\"",
        )
        .unwrap();
        assert_eq!(r.scopes, ["pop", "offline"]);
        assert!(r.device_authorization_url.is_none());
        assert_eq!(r.redirect_uri.unwrap().port(), Some(8080));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let error =
            parse("provider = \"google\"\nclient_id = \"x\"\nclientid = \"y\"").unwrap_err();
        assert!(error.to_string().contains("clientid"), "{error}");
        assert!(parse("provider = \"yahoo\"\nclient_id = \"x\"").is_err());
    }

    #[test]
    fn missing_and_contradictory_keys_are_named() {
        let cases = [
            ("provider = \"google\"", "client_id"),
            ("provider = \"google\"\nclient_id = \" \"", "client_id"),
            ("provider = \"google\"\nclient_id = \"x\"\ntoken_url = \"https://a/t\"", "token_url"),
            ("provider = \"google\"\nclient_id = \"x\"\ntenant = \"t\"", "tenant"),
            ("client_id = \"x\"\nauthorize_url = \"https://a/a\"\nscopes = [\"s\"]", "token_url"),
            ("client_id = \"x\"\ntoken_url = \"https://a/t\"\nscopes = [\"s\"]", "authorize_url"),
            ("client_id = \"x\"\ntoken_url = \"https://a/t\"\nauthorize_url = \"https://a/a\"", "scopes"),
            ("provider = \"google\"\nclient_id = \"x\"\nscopes = []", "scopes"),
            (
                "provider = \"google\"\nclient_id = \"x\"\nclient_secret = \"s\"\nclient_secret_command = \"pass s\"",
                "client_secret_command",
            ),
            ("provider = \"google\"\nclient_id = \"x\"\nredirect_uri = \"http://example.com/\"", "redirect_uri"),
        ];
        for (text, key) in cases {
            assert_eq!(key_of(resolve(text).unwrap_err()), key, "{text}");
        }
    }

    #[test]
    fn endpoints_need_https_except_on_loopback() {
        let with_token = |url: &str| {
            resolve(&format!(
                "client_id = \"x\"\nscopes = \"s\"\nauthorize_url = \"https://a/a\"\ntoken_url = \"{url}\""
            ))
        };
        for good in [
            "https://id.example/token",
            "http://127.0.0.1:8080/token",
            "http://127.3.2.1/token",
            "http://[::1]:9/token",
            "http://localhost/token",
        ] {
            assert!(with_token(good).is_ok(), "{good}");
        }
        for bad in [
            "http://id.example/token",
            "http://10.0.0.1/token",
            "ftp://x/y",
            "token",
        ] {
            assert_eq!(key_of(with_token(bad).unwrap_err()), "token_url", "{bad}");
        }
    }

    #[test]
    fn the_client_secret_never_shows() {
        let config =
            parse("provider = \"google\"\nclient_id = \"x\"\nclient_secret = \"hunter2\"").unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
        assert!(!format!("{:?}", config.resolve("work").unwrap()).contains("hunter2"));
    }

    #[test]
    fn the_client_secret_command_runs_only_when_asked() {
        let config = parse(
            "provider = \"google\"\nclient_id = \"x\"\nclient_secret_command = \"echo from-command\"",
        )
        .unwrap();
        let resolved = config.resolve("work").unwrap();
        assert_eq!(
            resolved.client_secret().unwrap().unwrap().expose(),
            "from-command"
        );
    }
}
