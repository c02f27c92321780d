//! Logging in: the TLS gate every method passes, USER/PASS, APOP and SASL (Kerberos among
//! it), with the secrets [`crate::credentials`] provides.

pub use crate::pop3::{apop_digest, gssapi, sasl};

use std::io::{Read, Write};

use crate::credentials::Secret;
use crate::error::{Error, Remedy, Result};
use crate::pop3::{self, apop_timestamp, ResponseCode};
use crate::pop3::{Client, Security, Session};
use sasl::{Mechanism, ScramHash};

/// How to log in (`--auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMethod {
    /// The strongest method offered that keeps the password safe: inside TLS GSSAPI (only with
    /// a Kerberos ticket), SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, then USER; unencrypted only SCRAM,
    /// CRAM-MD5 or APOP
    Auto,
    /// USER and PASS (the password in clear text: inside TLS, or with --tls none on request)
    User,
    /// APOP: an MD5 digest of the server's timestamp and the password
    Apop,
    /// SASL PLAIN (the password in clear text, like USER/PASS)
    Plain,
    /// SASL LOGIN (the password in clear text, like USER/PASS)
    Login,
    /// SASL CRAM-MD5 (a challenge-response digest)
    #[serde(rename = "cram-md5")]
    CramMd5,
    /// SASL SCRAM-SHA-256: the password never crosses the wire and the server proves itself
    #[serde(rename = "scram-sha-256")]
    ScramSha256,
    /// SASL SCRAM-SHA-1
    #[serde(rename = "scram-sha-1")]
    ScramSha1,
    /// SASL XOAUTH2 with an OAuth2 access token from the password source (Gmail, Microsoft 365)
    Xoauth2,
    /// SASL OAUTHBEARER (RFC 7628) with an OAuth2 access token from the password source
    Oauthbearer,
    /// SASL GSSAPI with Kerberos 5 (RFC 4752): the ticket from kinit, no password
    Gssapi,
}

impl AuthMethod {
    /// The name the configuration file and the command line use.
    pub fn name(self) -> &'static str {
        match self {
            AuthMethod::Auto => "auto",
            AuthMethod::User => "user",
            AuthMethod::Apop => "apop",
            AuthMethod::Plain => "plain",
            AuthMethod::Login => "login",
            AuthMethod::CramMd5 => "cram-md5",
            AuthMethod::ScramSha256 => "scram-sha-256",
            AuthMethod::ScramSha1 => "scram-sha-1",
            AuthMethod::Xoauth2 => "xoauth2",
            AuthMethod::Oauthbearer => "oauthbearer",
            AuthMethod::Gssapi => "gssapi",
        }
    }

    /// The SASL mechanism name, for SASL methods.
    fn sasl_name(self) -> Option<&'static str> {
        Some(match self {
            AuthMethod::Plain => "PLAIN",
            AuthMethod::Login => "LOGIN",
            AuthMethod::CramMd5 => "CRAM-MD5",
            AuthMethod::ScramSha256 => "SCRAM-SHA-256",
            AuthMethod::ScramSha1 => "SCRAM-SHA-1",
            AuthMethod::Xoauth2 => "XOAUTH2",
            AuthMethod::Oauthbearer => "OAUTHBEARER",
            AuthMethod::Gssapi => "GSSAPI",
            AuthMethod::Auto | AuthMethod::User | AuthMethod::Apop => return None,
        })
    }

    pub(crate) fn is_oauth(self) -> bool {
        matches!(self, AuthMethod::Xoauth2 | AuthMethod::Oauthbearer)
    }
}

/// Who logs in.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: String,
    /// `None` when it was not read before connecting (Kerberos may make it unneeded): read
    /// from the password source if a method needs it after all.
    pub password: Option<Secret>,
    /// For OAUTHBEARER.
    pub host: String,
    pub port: u16,
    /// The service principal GSSAPI authenticates to.
    pub gssapi: gssapi::Target,
}

/// The gate in front of every login method, whatever it is: when the user asked for TLS,
/// nothing is sent unless the connection is encrypted (a connection that skipped or lost its
/// STLS can never log in), Kerberos included: its authenticator is no password, but the
/// session after it would travel unprotected.
fn gate<S: Read + Write>(client: &Client<S>) -> Result<()> {
    if client.tls_required() && client.security() == Security::Plain {
        return Err(Error::unavailable(
            "TLS was asked for but the connection is not encrypted; no credential was sent",
        ));
    }
    Ok(())
}

/// A password that could end the command line early is refused before anything is sent.
fn check_password(password: &Secret) -> Result<()> {
    if password
        .expose()
        .bytes()
        .any(|b| matches!(b, b'\r' | b'\n' | 0))
    {
        return Err(Error::config(
            "the password contains a line break or a NUL byte; nothing was sent",
        ));
    }
    Ok(())
}

/// Chooses the method: `auto` picks the strongest one offered that keeps the password safe on
/// this connection; an explicit one must be offered, never silently replaced by a weaker one.
fn choose<S: Read + Write>(client: &Client<S>, method: AuthMethod) -> Result<AuthMethod> {
    let encrypted = client.security() != Security::Plain;
    let offered: Vec<String> = client
        .capabilities()
        .map(|c| c.sasl_mechanisms())
        .unwrap_or_default();
    let offers = |m: AuthMethod| {
        m.sasl_name()
            .is_some_and(|name| offered.iter().any(|o| o == name))
    };
    let has_apop = apop_timestamp(&client.greeting().text).is_some();
    if method == AuthMethod::Auto {
        return choose_auto(encrypted, has_apop, offers);
    }
    if method.is_oauth() && !encrypted {
        return Err(Error::unavailable(format!(
            "{} sends a bearer token, which is refused on an unencrypted connection",
            method.sasl_name().unwrap_or("OAuth")
        )));
    }
    if let Some(name) = method.sasl_name() {
        if !offers(method) {
            let list = if offered.is_empty() {
                "none".to_string()
            } else {
                offered.join(" ")
            };
            return Err(Error::Unavailable {
                message: format!("the server does not offer SASL {name} (it offers: {list})"),
                remedy: Some(Remedy::OtherLogin),
            });
        }
    }
    if method == AuthMethod::Apop && !has_apop {
        return Err(Error::unavailable(
            "APOP was requested but the server's greeting has no valid APOP timestamp",
        ));
    }
    Ok(method)
}

/// `--auth auto`: the strongest method offered that keeps the password safe on this
/// connection.
fn choose_auto(
    encrypted: bool,
    has_apop: bool,
    offers: impl Fn(AuthMethod) -> bool,
) -> Result<AuthMethod> {
    let preference: &[AuthMethod] = if encrypted {
        &[
            AuthMethod::ScramSha256,
            AuthMethod::ScramSha1,
            AuthMethod::Plain,
        ]
    } else {
        &[
            AuthMethod::ScramSha256,
            AuthMethod::ScramSha1,
            AuthMethod::CramMd5,
        ]
    };
    if let Some(&best) = preference.iter().find(|&&m| offers(m)) {
        return Ok(best);
    }
    if encrypted {
        return Ok(AuthMethod::User);
    }
    if has_apop {
        return Ok(AuthMethod::Apop);
    }
    Err(Error::Unavailable {
        message: "the connection is not encrypted and the server offers no login method that \
                  keeps the password secret (no SCRAM, CRAM-MD5 or APOP)"
            .into(),
        remedy: Some(Remedy::EncryptOrClearTextLogin),
    })
}

/// Logs in with `method`. Every path passes the same gate: a password is sent in clear text
/// only inside TLS, or when the user explicitly chose a clear-text method on a plain
/// connection. `password_source` reads the password when `credentials` has none yet, and
/// fetches a fresh OAuth token once when the server rejects one.
pub fn login<S: Read + Write>(
    client: Client<S>,
    method: AuthMethod,
    credentials: &Credentials,
    password_source: Option<&dyn Fn() -> Result<Secret>>,
) -> Result<Session<S>> {
    gate(&client)?;
    if method == AuthMethod::Gssapi && !cfg!(feature = "gssapi") {
        return Err(gssapi_not_built_in());
    }
    if let Some(password) = &credentials.password {
        check_password(password)?;
    }
    let chosen = choose(&client, method)?;
    #[cfg(feature = "gssapi")]
    if let Some(mut kerberos) = start_kerberos(&client, method, credentials)? {
        return client.authenticate(&mut kerberos).map_err(|(error, _)| {
            match login_failed(error, Some("GSSAPI")) {
                Error::AuthFailed(refusal) => gssapi::GssapiError::Refused {
                    target: credentials.gssapi.clone(),
                    refusal,
                }
                .into(),
                error => error,
            }
        });
    }
    let password = match (&credentials.password, password_source) {
        (Some(password), _) => password.clone(),
        (None, Some(read)) => read()?,
        (None, None) => return Err(Error::config("no password was given")),
    };
    check_password(&password)?;
    login_with_password(client, chosen, credentials, &password, password_source)
}

/// Logs in with `chosen`, a method that proves the password (or an OAuth token) to the server.
fn login_with_password<S: Read + Write>(
    client: Client<S>,
    chosen: AuthMethod,
    credentials: &Credentials,
    password: &Secret,
    password_source: Option<&dyn Fn() -> Result<Secret>>,
) -> Result<Session<S>> {
    match chosen {
        AuthMethod::User => client
            .login_user_pass(&credentials.user, password.expose())
            .map_err(|(error, _)| login_failed(error, None)),
        AuthMethod::Apop => login_apop(client, &credentials.user, password),
        // choose() never returns Auto; an error rather than a panic if it ever did.
        AuthMethod::Auto => Err(Error::unavailable("no login method could be chosen")),
        sasl_method => {
            let name = sasl_method.sasl_name();
            let (error, client) =
                match client.authenticate(&mut *mechanism(sasl_method, credentials, password)?) {
                    Ok(session) => return Ok(session),
                    Err((error, client)) => (login_failed(error, name), client),
                };
            match (error, password_source) {
                (Error::AuthFailed(_), Some(refresh)) if sasl_method.is_oauth() => {
                    // The token may have expired: get a fresh one and try once more, on the
                    // same connection.
                    let token = refresh()?;
                    client
                        .authenticate(&mut *mechanism(sasl_method, credentials, &token)?)
                        .map_err(|(error, _)| login_failed(error, name))
                }
                (error, _) => Err(error),
            }
        }
    }
}

/// Logs in with APOP, which needs the greeting's timestamp.
fn login_apop<S: Read + Write>(
    client: Client<S>,
    user: &str,
    password: &Secret,
) -> Result<Session<S>> {
    // choose() picks APOP only with a valid timestamp; said again here, not assumed.
    if apop_timestamp(&client.greeting().text).is_none() {
        return Err(Error::unavailable(
            "APOP needs a valid timestamp in the server's greeting",
        ));
    }
    client
        .apop(user, password.expose())
        .map_err(|(error, _)| login_failed(error, None))
}

/// The Kerberos context, started before anything is sent: for `--auth gssapi`, or for `auto`
/// inside TLS when the server offers GSSAPI and the user has a ticket. `auto` falls back to the
/// password methods when the context cannot start (a ticket of another realm, an unknown
/// service), so that a ticket never stands between a user and a server that takes passwords.
#[cfg(feature = "gssapi")]
fn start_kerberos<S: Read + Write>(
    client: &Client<S>,
    method: AuthMethod,
    credentials: &Credentials,
) -> Result<Option<gssapi::Gssapi>> {
    let start = || gssapi::Gssapi::start(&credentials.gssapi, &credentials.user);
    match method {
        // choose() made sure the server offers it.
        AuthMethod::Gssapi => return Ok(Some(start()?)),
        AuthMethod::Auto if client.security() != Security::Plain => {}
        _ => return Ok(None),
    }
    let offered = client.capabilities().is_some_and(|capabilities| {
        capabilities
            .sasl_mechanisms()
            .iter()
            .any(|name| name == "GSSAPI")
    });
    if !(offered && gssapi::has_usable_ticket()) {
        return Ok(None);
    }
    Ok(start().ok())
}

/// The error for `auth = "gssapi"` in a popget built without Kerberos: a configuration problem,
/// found before connecting when the account is resolved.
pub fn gssapi_not_built_in() -> Error {
    Error::config_about(
        &["auth"],
        "auth = \"gssapi\" (Kerberos) cannot be used: this popget was built without the \
         gssapi feature; choose another auth, or build popget with its default features",
    )
}

/// A SCRAM mechanism with a fresh nonce; fails only if the system has no randomness.
fn scram(hash: ScramHash, user: &str, password: &str) -> Result<sasl::Scram> {
    sasl::Scram::new(hash, user, password).map_err(|error| pop3::Error::from(error).into())
}

pub(crate) fn mechanism(
    method: AuthMethod,
    credentials: &Credentials,
    secret: &Secret,
) -> Result<Box<dyn Mechanism>> {
    let user = credentials.user.clone();
    let password = secret.expose().to_string();
    Ok(match method {
        AuthMethod::Plain => Box::new(sasl::Plain {
            authzid: String::new(),
            user,
            password,
        }),
        AuthMethod::Login => Box::new(sasl::Login {
            user,
            password,
            step: 0,
        }),
        AuthMethod::CramMd5 => Box::new(sasl::CramMd5 { user, password }),
        AuthMethod::ScramSha256 => Box::new(scram(ScramHash::Sha256, &user, &password)?),
        AuthMethod::ScramSha1 => Box::new(scram(ScramHash::Sha1, &user, &password)?),
        AuthMethod::Xoauth2 => Box::new(sasl::Xoauth2 {
            user,
            token: password,
        }),
        AuthMethod::Oauthbearer => Box::new(sasl::OauthBearer {
            user,
            token: password,
            host: credentials.host.clone(),
            port: credentials.port,
        }),
        AuthMethod::Auto | AuthMethod::User | AuthMethod::Apop | AuthMethod::Gssapi => {
            return Err(Error::unavailable(format!(
                "{method:?} is not a SASL mechanism"
            )));
        }
    })
}

/// A failed login as popget reports it: a refusal by what its response code says (`AUTH`
/// followed by the `mechanism` for SASL), anything else as any POP3 error.
fn login_failed(error: pop3::Error, mechanism: Option<&str>) -> Error {
    match error {
        pop3::Error::Refused {
            command,
            code,
            text,
        } => {
            let command = match mechanism {
                Some(mechanism) => format!("{command} {mechanism}"),
                None => command.to_string(),
            };
            login_refused(&command, code.as_ref(), &text)
        }
        error => error.into(),
    }
}

/// Maps a refused login to the right error: temporary conditions never blame the credentials.
fn login_refused(command: &str, code: Option<&ResponseCode>, text: &str) -> Error {
    match code {
        Some(code) if code.is_temporary() => {
            Error::Temporary(format!("login refused for now ({command}): {text}"))
        }
        Some(ResponseCode::SysPerm) => {
            Error::unavailable(format!("login refused ({command}): {text}"))
        }
        _ => Error::AuthFailed(format!("authentication failed ({command}): {text}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pop3::MockStream;
    use crate::pop3::Pipelining;

    #[test]
    fn secret_debug_is_redacted() {
        assert_eq!(
            format!("{:?}", Secret::new("hunter2".into())),
            "Secret(***)"
        );
    }

    fn credentials() -> Credentials {
        Credentials {
            user: "mrose".into(),
            password: Some(Secret::new("tanstaaf".into())),
            host: "mock".into(),
            port: 110,
            gssapi: gssapi::Target::pop("mock"),
        }
    }

    fn run(script: &[&[u8]], security: Security, method: AuthMethod) -> (Result<()>, String) {
        let stream = MockStream::new(script);
        let written = stream.written.clone();
        let client = Client::new(stream, "mock", security).unwrap();
        let result = login(client, method, &credentials(), None).map(|_| ());
        let sent = String::from_utf8(written.lock().unwrap().clone()).unwrap();
        (result, sent)
    }

    #[test]
    fn auto_over_tls_uses_user_and_pass() {
        let (result, sent) = run(
            &[b"+OK hi\r\n", b"+OK\r\n", b"+OK\r\n"],
            Security::Tls,
            AuthMethod::Auto,
        );
        result.unwrap();
        assert_eq!(sent, "USER mrose\r\nPASS tanstaaf\r\n");
    }

    /// Reads the CAPA answer, logs in with pipelining `mode`, and asks for the capabilities
    /// again; returns what that CAPA found and every byte the client wrote.
    fn pipelined_login(script: &[&[u8]], mode: Pipelining) -> (Result<Vec<String>>, String) {
        let stream = MockStream::new(script);
        let written = stream.written.clone();
        let mut client = Client::new(stream, "mock", Security::Tls).unwrap();
        client.capa().unwrap();
        client.set_pipelining(mode);
        let result =
            login(client, AuthMethod::User, &credentials(), None).and_then(|mut session| {
                let capabilities = session.capa()?.expect("a CAPA answer");
                Ok(capabilities.lines.clone())
            });
        let sent = String::from_utf8(written.lock().unwrap().clone()).unwrap();
        (result, sent)
    }

    #[test]
    fn user_and_pass_go_out_at_once_but_capa_waits_for_the_login() {
        // One server write answers USER and PASS (waiting between them would stall the mock);
        // CAPA is sent only after PASS is answered.
        let (result, sent) = pipelined_login(
            &[
                b"+OK hi\r\n",
                b"+OK\r\nUSER\r\nPIPELINING\r\n.\r\n",
                b"+OK\r\n+OK in\r\n",
                b"+OK\r\nPIPELINING\r\nTOP\r\nUIDL\r\n.\r\n",
            ],
            Pipelining::Auto,
        );
        assert_eq!(result.unwrap(), ["PIPELINING", "TOP", "UIDL"]);
        assert_eq!(sent, "CAPA\r\nUSER mrose\r\nPASS tanstaaf\r\nCAPA\r\n");
    }

    #[test]
    fn a_refused_user_ends_a_pipelined_login() {
        let (result, sent) = pipelined_login(
            &[
                b"+OK hi\r\n",
                b"+OK\r\nPIPELINING\r\n.\r\n",
                b"-ERR [AUTH] who?\r\n-ERR no USER\r\n",
            ],
            Pipelining::Auto,
        );
        match result {
            Err(Error::AuthFailed(message)) => assert!(message.contains("USER"), "{message}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(sent, "CAPA\r\nUSER mrose\r\nPASS tanstaaf\r\n");
    }

    #[test]
    fn pipelining_off_logs_in_one_command_at_a_time() {
        let (result, sent) = pipelined_login(
            &[
                b"+OK hi\r\n",
                b"+OK\r\nPIPELINING\r\n.\r\n",
                b"+OK\r\n",
                b"+OK in\r\n",
                b"+OK\r\nUIDL\r\n.\r\n",
            ],
            Pipelining::Off,
        );
        assert_eq!(result.unwrap(), ["UIDL"]);
        assert_eq!(sent, "CAPA\r\nUSER mrose\r\nPASS tanstaaf\r\nCAPA\r\n");
    }

    #[test]
    fn auto_over_plain_uses_apop_and_never_a_clear_password() {
        let greeting = b"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n";
        let (result, sent) = run(&[greeting, b"+OK\r\n"], Security::Plain, AuthMethod::Auto);
        result.unwrap();
        assert_eq!(sent, "APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n");

        let (result, sent) = run(
            &[b"+OK no timestamp\r\n"],
            Security::Plain,
            AuthMethod::Auto,
        );
        assert!(matches!(result, Err(Error::Unavailable { .. })));
        assert_eq!(sent, "");
    }

    #[test]
    fn explicit_user_over_plain_is_allowed() {
        let (result, sent) = run(
            &[b"+OK hi\r\n", b"+OK\r\n", b"+OK\r\n"],
            Security::Plain,
            AuthMethod::User,
        );
        result.unwrap();
        assert_eq!(sent, "USER mrose\r\nPASS tanstaaf\r\n");
    }

    #[test]
    fn no_pass_after_user_is_refused() {
        // A refused USER ends the login: the password is never sent after it.
        let (result, sent) = run(
            &[b"+OK hi\r\n", b"-ERR who?\r\n"],
            Security::Tls,
            AuthMethod::User,
        );
        assert!(matches!(result, Err(Error::AuthFailed(_))));
        assert_eq!(sent, "USER mrose\r\n");
    }

    #[test]
    fn temporary_refusals_do_not_blame_credentials() {
        let (result, _) = run(
            &[b"+OK hi\r\n", b"+OK\r\n", b"-ERR [IN-USE] locked\r\n"],
            Security::Tls,
            AuthMethod::User,
        );
        assert!(matches!(result, Err(Error::Temporary(_))));
        let (result, _) = run(
            &[b"+OK hi\r\n", b"+OK\r\n", b"-ERR [AUTH] wrong\r\n"],
            Security::Tls,
            AuthMethod::User,
        );
        assert!(matches!(result, Err(Error::AuthFailed(_))));
    }

    #[test]
    fn apop_without_a_valid_timestamp_sends_nothing() {
        let (result, sent) = run(
            &[b"+OK ready <a@b> <c@d>\r\n"],
            Security::Tls,
            AuthMethod::Apop,
        );
        assert!(matches!(result, Err(Error::Unavailable { .. })));
        assert_eq!(sent, "");
    }

    #[test]
    fn only_the_capabilities_announced_after_tls_count() {
        // The client asked for CRAM-MD5, which the post-TLS CAPA dropped; no silent fallback
        // to PLAIN or USER.
        let stream = MockStream::new(&[b"+OK hi\r\n", b"+OK\r\nSASL PLAIN\r\nUSER\r\n.\r\n"]);
        let written = stream.written.clone();
        let mut client = Client::new(stream, "mock", Security::Tls).unwrap();
        client.capa().unwrap();
        let result = login(client, AuthMethod::CramMd5, &credentials(), None);
        assert!(matches!(result, Err(Error::Unavailable { .. })));
        assert_eq!(
            String::from_utf8(written.lock().unwrap().clone()).unwrap(),
            "CAPA\r\n"
        );
    }

    #[test]
    fn an_invalid_challenge_is_cancelled() {
        // A challenge that is not valid base64 is answered with `*`, which cancels the exchange.
        let stream = MockStream::new(&[
            b"+OK hi\r\n",
            b"+OK\r\nSASL CRAM-MD5\r\n.\r\n",
            b"+ =AAA\r\n",
            b"-ERR cancelled\r\n",
        ]);
        let written = stream.written.clone();
        let mut client = Client::new(stream, "mock", Security::Tls).unwrap();
        client.capa().unwrap();
        let result = login(client, AuthMethod::CramMd5, &credentials(), None);
        assert!(matches!(result, Err(Error::Protocol(_))));
        assert_eq!(
            String::from_utf8(written.lock().unwrap().clone()).unwrap(),
            "CAPA\r\nAUTH CRAM-MD5\r\n*\r\n"
        );
    }

    #[test]
    fn scram_without_a_server_signature_fails_the_login() {
        let stream = MockStream::new(&[
            b"+OK hi\r\n",
            b"+OK\r\nSASL SCRAM-SHA-256\r\n.\r\n",
            b"+OK you are in, trust me\r\n",
        ]);
        let mut client = Client::new(stream, "mock", Security::Tls).unwrap();
        client.capa().unwrap();
        let result = login(client, AuthMethod::ScramSha256, &credentials(), None);
        assert!(
            matches!(result, Err(Error::AuthFailed(_))),
            "{:?}",
            result.err()
        );
    }

    const EVERY_METHOD: &[AuthMethod] = &[
        AuthMethod::Auto,
        AuthMethod::User,
        AuthMethod::Apop,
        AuthMethod::Plain,
        AuthMethod::Login,
        AuthMethod::CramMd5,
        AuthMethod::ScramSha256,
        AuthMethod::ScramSha1,
        AuthMethod::Xoauth2,
        AuthMethod::Oauthbearer,
        AuthMethod::Gssapi,
    ];

    #[test]
    fn no_method_logs_in_over_plain_text_when_tls_was_asked_for() {
        // One gate for every path, whatever the server offers.
        for &method in EVERY_METHOD {
            let stream = MockStream::new(&[
                b"+OK ready <1896.697170952@dbc.mtview.ca.us>\r\n",
                b"+OK\r\nUSER\r\nSASL PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256 SCRAM-SHA-1 XOAUTH2 \
                  OAUTHBEARER GSSAPI\r\n.\r\n",
                b"+OK\r\n",
            ]);
            let written = stream.written.clone();
            let mut client = Client::new(stream, "mock", Security::Plain).unwrap();
            client.capa().unwrap();
            client.require_tls();
            let result = login(client, method, &credentials(), None);
            assert!(
                matches!(result, Err(Error::Unavailable { .. })),
                "{method:?}: {:?}",
                result.err()
            );
            let sent = String::from_utf8(written.lock().unwrap().clone()).unwrap();
            assert_eq!(sent, "CAPA\r\n", "{method:?}");
        }
    }

    #[test]
    fn a_password_with_a_line_break_is_never_sent() {
        // `x\r\nDELE 1` must not become a second command.
        for &method in EVERY_METHOD {
            let stream = MockStream::new(&[b"+OK hi <a@b>\r\n", b"+OK\r\n", b"+OK\r\n"]);
            let written = stream.written.clone();
            let client = Client::new(stream, "mock", Security::Tls).unwrap();
            let credentials = Credentials {
                password: Some(Secret::new("x\r\nDELE 1".into())),
                ..credentials()
            };
            let result = login(client, method, &credentials, None);
            assert!(matches!(result, Err(Error::Config(_))), "{method:?}");
            assert!(written.lock().unwrap().is_empty(), "{method:?}");
        }
    }

    #[cfg(not(feature = "gssapi"))]
    #[test]
    fn gssapi_without_the_feature_is_a_configuration_error_before_the_wire() {
        let stream = MockStream::new(&[b"+OK hi\r\n"]);
        let written = stream.written.clone();
        let client = Client::new(stream, "mock", Security::Tls).unwrap();
        let result = login(client, AuthMethod::Gssapi, &credentials(), None);
        assert_eq!(
            result.err().map(|e| e.exit_code()),
            Some(crate::exit::CONFIG)
        );
        assert!(written.lock().unwrap().is_empty());
    }

    #[cfg(feature = "gssapi")]
    #[test]
    fn gssapi_not_offered_is_refused_before_kerberos_or_the_wire() {
        let stream = MockStream::new(&[b"+OK hi\r\n", b"+OK\r\nSASL PLAIN\r\n.\r\n"]);
        let written = stream.written.clone();
        let mut client = Client::new(stream, "mock", Security::Tls).unwrap();
        client.capa().unwrap();
        let result = login(client, AuthMethod::Gssapi, &credentials(), None);
        match result {
            Err(Error::Unavailable { message, .. }) => {
                assert!(message.contains("SASL GSSAPI"), "{message}")
            }
            other => panic!("{:?}", other.err()),
        }
        assert_eq!(
            String::from_utf8(written.lock().unwrap().clone()).unwrap(),
            "CAPA\r\n"
        );
    }

    #[test]
    fn a_password_not_read_before_is_read_when_a_method_needs_it() {
        // What `auto` does when a Kerberos ticket deferred the password and the server offers
        // no GSSAPI.
        let stream = MockStream::new(&[b"+OK hi\r\n", b"+OK\r\n", b"+OK\r\n"]);
        let written = stream.written.clone();
        let client = Client::new(stream, "mock", Security::Tls).unwrap();
        let credentials = Credentials {
            password: None,
            ..credentials()
        };
        let source = || Ok(Secret::new("tanstaaf".into()));
        login(client, AuthMethod::Auto, &credentials, Some(&source)).unwrap();
        assert_eq!(
            String::from_utf8(written.lock().unwrap().clone()).unwrap(),
            "USER mrose\r\nPASS tanstaaf\r\n"
        );

        let stream = MockStream::new(&[b"+OK hi\r\n"]);
        let written = stream.written.clone();
        let client = Client::new(stream, "mock", Security::Tls).unwrap();
        let result = login(client, AuthMethod::User, &credentials, None);
        assert!(matches!(result, Err(Error::Config(_))));
        assert!(written.lock().unwrap().is_empty());
    }

    #[test]
    fn an_oauth_auth_line_refused_without_a_code_is_retried_in_two_steps() {
        // Microsoft: `-ERR Protocol error` to the one-line form, `+` to the two-step one.
        let run_with = |refusal: &'static [u8]| {
            let stream = MockStream::new(&[
                b"+OK hi\r\n",
                b"+OK\r\nSASL XOAUTH2\r\n.\r\n",
                refusal,
                b"+ \r\n",
                b"+OK in\r\n",
            ]);
            let written = stream.written.clone();
            let mut client = Client::new(stream, "mock", Security::Tls).unwrap();
            client.capa().unwrap();
            let result = login(client, AuthMethod::Xoauth2, &credentials(), None).map(|_| ());
            let sent = String::from_utf8(written.lock().unwrap().clone()).unwrap();
            (result, sent)
        };
        let (result, sent) = run_with(b"-ERR Protocol error.\r\n");
        result.unwrap();
        let response = sasl::encode(b"user=mrose\x01auth=Bearer tanstaaf\x01\x01");
        assert_eq!(
            sent,
            format!("CAPA\r\nAUTH XOAUTH2 {response}\r\nAUTH XOAUTH2\r\n{response}\r\n")
        );
        // A refusal about the credentials is not retried.
        let (result, sent) = run_with(b"-ERR [AUTH] bad token\r\n");
        assert!(matches!(result, Err(Error::AuthFailed(_))), "{result:?}");
        assert_eq!(sent.matches("AUTH XOAUTH2").count(), 1, "{sent}");
    }
}
