//! Opens a logged-in session for an account: TCP, TLS on connect or via STLS, CAPA, login.

use crate::account::Account;
use crate::auth::{self, gssapi, AuthMethod, Credentials};
use crate::credentials::Secret;
use crate::error::{Error, Remedy, Result};
use crate::pop3::Capabilities;
use crate::pop3::{Client, Security, Session, Tracer};
use crate::transport::{self, CertificateInfo, Stream, TlsMode};

/// A connection in the AUTHORIZATION state, with what was learned on the way.
pub struct Connected {
    pub client: Client<Stream>,
    /// What the plain connection announced before STLS.
    pub before_tls: BeforeTls,
    pub certificate: Option<CertificateInfo>,
}

/// What the server announced before TLS started (`--tls starttls` only).
#[derive(Debug, Clone)]
pub enum BeforeTls {
    /// TLS from the first byte, or no TLS at all: there was no plain part to ask.
    NotUpgraded,
    /// The server answered CAPA with -ERR.
    CapaRefused,
    /// What CAPA listed.
    Announced(Capabilities),
}

/// The password, read before connecting (a prompt must not hold a connection open), unless
/// Kerberos may make it unneeded: `--auth gssapi` never needs one, and `auto` with a Kerberos
/// ticket inside TLS reads it only if it does not log in with the ticket.
///
/// For an account with `[accounts.NAME.oauth]` it is the OAuth access token, refreshed first if
/// it is about to expire.
pub fn password_before_connecting(account: &Account) -> Result<Option<Secret>> {
    let login = &account.login;
    if let Some(oauth) = &login.oauth {
        return Ok(Some(oauth.access_token()?));
    }
    let kerberos_may_do = match login.method {
        AuthMethod::Gssapi => true,
        AuthMethod::Auto => account.server.tls != TlsMode::None && gssapi::has_usable_ticket(),
        _ => false,
    };
    if kerberos_may_do {
        return Ok(None);
    }
    Ok(Some(login.secrets.password()?))
}

/// Connects and logs in. When TLS was asked for, nothing but CAPA and STLS is sent before a
/// verified TLS session exists; if the server cannot provide one, the login never happens.
pub fn open_session(
    account: &Account,
    password: Option<Secret>,
    trace: Option<Tracer>,
) -> Result<Session<Stream>> {
    login(connect(account, trace)?.client, account, password)
}

/// Logs in on a connected client and asks for the capabilities again.
pub fn login(
    mut client: Client<Stream>,
    account: &Account,
    password: Option<Secret>,
) -> Result<Session<Stream>> {
    let (server, login) = (&account.server, &account.login);
    client.set_pipelining(server.pipelining);
    let credentials = Credentials {
        user: login.user.clone(),
        password,
        host: server.host.clone(),
        port: server.port,
        gssapi: login.gssapi.clone(),
    };
    // Reads a password not read before connecting; an OAuth token the server rejects is
    // fetched again once (it may have expired, or been revoked early): with an [oauth] table
    // by a refresh, else from the password source.
    let rejected = credentials.password.clone();
    let password_source = || match (&login.oauth, &rejected) {
        (Some(oauth), Some(rejected)) => Ok(oauth.token_after_rejection(rejected)?),
        _ => Ok(login.secrets.password()?),
    };
    let mut session = auth::login(client, login.method, &credentials, Some(&password_source))?;
    session.set_listed_sizes(server.list_sizes);
    // Some servers (Gmail) announce UIDL, TOP and PIPELINING only after login. Where they were
    // announced before, asking again would cost a round trip for nothing: what is announced
    // before login must be announced after it too (RFC 2449, section 6).
    let complete = session
        .capabilities()
        .is_some_and(|capa| capa.pipelining() && capa.uidl() && capa.top());
    if !complete {
        session.capa()?;
    }
    Ok(session)
}

/// Connects and reaches the AUTHORIZATION state with TLS as the account requires.
pub fn connect(account: &Account, trace: Option<Tracer>) -> Result<Connected> {
    let account = &account.server;
    let peer = format!("{}:{}", account.host, account.port);
    let mut tcp = transport::connect_tcp(
        &account.host,
        account.port,
        account.proxy.as_ref(),
        account.timeout,
        account.limits.session_timeout,
    )?;
    let start_tls = |tcp, after_stls| {
        transport::start_tls(tcp, &account.host, &account.certificates, after_stls)
    };
    let mut before_tls = BeforeTls::NotUpgraded;
    let mut certificate = None;
    let mut client = match account.tls {
        TlsMode::Implicit => {
            let (stream, security) = start_tls(tcp, false)?;
            certificate = stream.certificate();
            let mut client = Client::with_trace(stream, peer, security, trace)?;
            client.require_tls();
            client
        }
        TlsMode::Starttls => {
            // A POP3S port waits for a TLS handshake and says nothing: not for --timeout.
            tcp.limit_greeting(transport::GREETING_TIMEOUT);
            let mut client = Client::with_trace(Stream::Plain(tcp), peer, Security::Plain, trace)?;
            client.require_tls();
            let capabilities = client.capa()?.cloned();
            let offers_stls = capabilities.as_ref().is_some_and(|capa| capa.stls());
            before_tls = capabilities.map_or(BeforeTls::CapaRefused, BeforeTls::Announced);
            if !offers_stls {
                client.quit();
                return Err(Error::Unavailable {
                    message: "the server does not offer STLS, so the connection cannot be \
                              encrypted; nothing was sent"
                        .into(),
                    remedy: Some(Remedy::ImplicitTls),
                });
            }
            client.stls()?.handshake(|stream| -> Result<_> {
                let (stream, security) = start_tls(stream.into_tcp()?, true)?;
                certificate = stream.certificate();
                Ok((stream, security))
            })?
        }
        TlsMode::None => {
            tcp.limit_greeting(transport::GREETING_TIMEOUT);
            Client::with_trace(Stream::Plain(tcp), peer, Security::Plain, trace)?
        }
    };
    client.set_listing_limit(account.limits.max_listing);
    client.capa()?;
    Ok(Connected {
        client,
        before_tls,
        certificate,
    })
}
