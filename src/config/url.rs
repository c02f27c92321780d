//! Account URLs: `pop3s://`, `pop3://` and RFC 2384's `pop://`.

use super::settings::Settings;
use crate::auth::AuthMethod;
use crate::error::{Error, Result};
use crate::transport::TlsMode;

/// Whether an account name is a `pop3s://`, `pop3://` or `pop://` URL.
pub fn is_url(name: &str) -> bool {
    name.contains("://")
}

/// Reads an account URL: `pop3s://user@host:port` (TLS on connect, port 995),
/// `pop3://user@host:port` and RFC 2384's `pop://user;AUTH=mech@host:port` (STLS, port 110).
/// A password in the URL is refused; the user name is percent-decoded.
pub fn parse_url(url: &str) -> Result<Settings> {
    let bad = |why: &str| bad_url(url, why);
    let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
    let tls = url_tls(scheme).ok_or_else(|| bad("the scheme must be pop3s, pop3 or pop"))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#']) {
        return Err(bad("a POP URL has no path, query or fragment"));
    }
    let (userinfo, hostport) = match rest.rsplit_once('@') {
        Some((userinfo, hostport)) => (Some(userinfo), hostport),
        None => (None, rest),
    };
    let mut settings = Settings {
        tls: Some(tls),
        ..Settings::default()
    };
    if let Some(userinfo) = userinfo {
        read_url_userinfo(url, userinfo, &mut settings)?;
    }
    read_url_hostport(url, hostport, &mut settings)?;
    Ok(settings)
}

/// The error for an account URL that cannot be read, and why.
fn bad_url(url: &str, why: &str) -> Error {
    Error::config(format!("invalid URL {url:?}: {why}"))
}

/// The TLS mode a URL scheme means, any case: `pop3s` TLS on connect, `pop3` and `pop` STLS.
fn url_tls(scheme: &str) -> Option<TlsMode> {
    match scheme.to_ascii_lowercase().as_str() {
        "pop3s" => Some(TlsMode::Implicit),
        "pop3" | "pop" => Some(TlsMode::Starttls),
        _ => None,
    }
}

/// Reads the `user;AUTH=mech` part of account URL `url` into `settings`.
fn read_url_userinfo(url: &str, userinfo: &str, settings: &mut Settings) -> Result<()> {
    let bad = |why: &str| bad_url(url, why);
    let (user, auth) = match userinfo.to_ascii_lowercase().find(";auth=") {
        Some(at) => (&userinfo[..at], Some(&userinfo[at + ";auth=".len()..])),
        None => (userinfo, None),
    };
    if user.contains(':') {
        return Err(bad(
            "passwords do not belong in URLs; use password_command (--password-command)",
        ));
    }
    let user = percent_decode(user).ok_or_else(|| bad("the user name has a broken %-escape"))?;
    if !user.is_empty() {
        settings.user = Some(user);
    }
    settings.auth = match auth {
        None => None,
        Some("*") => Some(AuthMethod::Auto),
        Some(mechanism) if mechanism.eq_ignore_ascii_case("+APOP") => Some(AuthMethod::Apop),
        Some(mechanism) if mechanism.eq_ignore_ascii_case("+USER") => Some(AuthMethod::User),
        Some(mechanism) => {
            return Err(bad(&format!(
                "the login method {mechanism} is not supported"
            )))
        }
    };
    Ok(())
}

/// Reads the `host:port` part of account URL `url` (the host possibly `[bracketed]`) into
/// `settings`.
fn read_url_hostport(url: &str, hostport: &str, settings: &mut Settings) -> Result<()> {
    let bad = |why: &str| bad_url(url, why);
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or_else(|| bad("unclosed ["))?;
        (host, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    settings.host = Some(host.to_string());
    if let Some(port) = port {
        settings.port = Some(
            port.parse()
                .map_err(|_| bad("the port is not a number from 1 to 65535"))?,
        );
    }
    Ok(())
}

/// `text` with its `%XX` escapes decoded; `None` if a `%` lacks two hex digits after it (which
/// percent-encoding's lenient decoder would keep as it is).
fn percent_decode(text: &str) -> Option<String> {
    if !crate::transport::proxy::escapes_are_well_formed(text) {
        return None;
    }
    let bytes = text.as_bytes();
    let out: Vec<u8> = percent_encoding::percent_decode(bytes).collect();
    // RFC 2384's own example encodes ISO-8859-1; anything that is not UTF-8 is read as that.
    Some(
        String::from_utf8(out)
            .unwrap_or_else(|e| e.into_bytes().iter().map(|&b| char::from(b)).collect()),
    )
}
