//! Opens a logged-in session for an account: TCP, TLS on connect or via STLS, CAPA, login.

use crate::auth::{self, Credentials, Secret};
use crate::config::Account;
use crate::error::{Error, Result};
use crate::session::{Client, Security, Session, Tracer};
use crate::transport::{self, Stream, TlsMode};

/// Connects and logs in. When TLS was asked for, nothing but CAPA and STLS is sent before a
/// verified TLS session exists; if the server cannot provide one, the login never happens.
pub fn open_session(
    account: &Account,
    password: Secret,
    trace: Option<Tracer>,
) -> Result<Session<Stream>> {
    let client = connect(account, trace)?;
    let credentials = Credentials {
        user: account.user.clone(),
        password,
    };
    let mut session = auth::login(client, account.auth, &credentials)?;
    // Some servers (Gmail) announce UIDL, TOP and PIPELINING only after login.
    session.capa()?;
    Ok(session)
}

/// Connects and reaches the AUTHORIZATION state with TLS as the account requires.
pub fn connect(account: &Account, trace: Option<Tracer>) -> Result<Client<Stream>> {
    let peer = format!("{}:{}", account.host, account.port);
    let tcp = transport::connect_tcp(&account.host, account.port, account.timeout)?;
    let mut client = match account.tls {
        TlsMode::Implicit => {
            let (stream, security) =
                transport::start_tls(tcp, &account.host, &account.certificates)?;
            Client::with_trace(stream, peer, security, trace)?
        }
        TlsMode::Starttls => {
            let mut client = Client::with_trace(Stream::Plain(tcp), peer, Security::Plain, trace)?;
            let offers_stls = client.capa()?.is_some_and(|capa| capa.stls());
            if !offers_stls {
                client.quit();
                return Err(Error::Unavailable {
                    message: "the server does not offer STLS, so the connection cannot be \
                              encrypted; nothing was sent"
                        .into(),
                    hint: Some("use --tls implicit (port 995) if the server offers POP3S".into()),
                });
            }
            client.stls()?.handshake(|stream| {
                transport::start_tls(stream.into_tcp()?, &account.host, &account.certificates)
            })?
        }
        TlsMode::None => Client::with_trace(Stream::Plain(tcp), peer, Security::Plain, trace)?,
    };
    client.capa()?;
    Ok(client)
}
