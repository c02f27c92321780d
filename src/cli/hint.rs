//! Advice printed after an error: which flag, setting or command helps.

use popget::credentials::keyring;
use popget::credentials::oauth::OAuthError;
use popget::error::{Error, NoGreeting, PasswordError, Remedy, TlsFailure};
#[cfg(feature = "gssapi")]
use popget::pop3::gssapi::GssapiError;
use popget::pop3::Violation;

/// Advice for the common cases, printed after the error line: the library says what went
/// wrong, the command line says which flag or command helps.
pub(crate) fn hint(error: &Error) -> Option<String> {
    match error {
        Error::Unavailable { remedy, .. } => remedy.map(|remedy| remedy_hint(remedy).to_string()),
        #[cfg(feature = "gssapi")]
        Error::Gssapi(error) => gssapi_hint(error),
        Error::Password(error) => password_hint(error),
        Error::OAuth(error) => oauth_hint(error),
        Error::Tls {
            failure: TlsFailure::PinMismatch,
            ..
        } => Some(
            "the server presents another certificate than the one you pinned; if it was \
             renewed, check the new one with popget info --insecure and update --fingerprint"
                .to_string(),
        ),
        Error::Tls {
            failure: TlsFailure::CertificateRejected,
            ..
        } => Some(
            "if the server uses a private CA or a self-signed certificate, pass it with \
             --ca-file PEM, or pin it with --fingerprint (popget info --insecure shows it)"
                .to_string(),
        ),
        Error::Connection { source, .. }
            if source.get_ref().is_some_and(|e| e.is::<NoGreeting>()) =>
        {
            Some(
                "is this a POP3S port (TLS from the first byte, usually 995)? Then use \
                 --tls implicit"
                    .to_string(),
            )
        }
        Error::Protocol(error) if error.violation() == Violation::ListedSize => Some(
            "if the server's LIST sizes are estimates (Microsoft Exchange without \
             EnableExactRFC822Size), set list_sizes = \"estimated\" for this account or pass \
             --list-sizes estimated; nothing of this batch was delivered or deleted"
                .to_string(),
        ),
        Error::CorruptState { .. } => Some(
            "popget fetch --rebuild-state marks every message now on the server as fetched \
             (without downloading); or move the file away to fetch everything again"
                .to_string(),
        ),
        _ => None,
    }
}

/// A remedy in the command line's words.
fn remedy_hint(remedy: Remedy) -> &'static str {
    match remedy {
        Remedy::OtherLogin => "choose another --auth, or --auth auto",
        Remedy::EncryptOrClearTextLogin => {
            "use --tls implicit or --tls starttls; to send the password in clear text anyway, \
             pass --auth user"
        }
        Remedy::ImplicitTls => "use --tls implicit (port 995) if the server offers POP3S",
        Remedy::StarttlsOrImplicitTls => {
            "use --tls starttls on this port (usually 110), or --tls implicit on the POP3S port \
             (usually 995)"
        }
        Remedy::GuessHost => {
            "popget config add --guess also tries pop, pop3 and mail in the domain; or write \
             the account yourself"
        }
        Remedy::Keyring => {
            "the OS keyring is a Secret Service on the D-Bus session bus (GNOME Keyring, \
             KeePassXC, KWallet), unlocked; without one, use password_command or ~/.netrc"
        }
    }
}

/// What the user can do about a password that could not be had.
fn password_hint(error: &PasswordError) -> Option<String> {
    match error {
        PasswordError::Missing { account, .. } => Some(match keyring::built_in() {
            Ok(()) => format!(
                "store one in the OS keyring with `popget password set {account}`, or set \
                 password_command"
            ),
            Err(_) => "set password_command, or keep it in ~/.netrc".into(),
        }),
        PasswordError::Keyring { .. } => Some(
            "unlock the keyring (log in to the desktop session), or give the password another \
             way"
            .into(),
        ),
        _ => None,
    }
}

/// What the user can do about an OAuth failure.
fn oauth_hint(error: &OAuthError) -> Option<String> {
    match error {
        OAuthError::LoginExpired { account, .. } | OAuthError::NotLoggedIn { account } => {
            Some(format!(
                "run `popget login {account}` again (with --device on a machine without a \
                 browser); the saved tokens stay until then"
            ))
        }
        OAuthError::Unreachable { .. } => Some(
            "the saved login is kept; the next run tries again (check the network, or the \
             token_url of [accounts.NAME.oauth])"
                .into(),
        ),
        _ => None,
    }
}

/// What the user can do about a Kerberos failure.
#[cfg(feature = "gssapi")]
fn gssapi_hint(error: &GssapiError) -> Option<String> {
    match error {
        GssapiError::NoTicket { .. } | GssapiError::TicketExpired { .. } => Some(
            "get a ticket with kinit (klist shows the credential cache in use; KRB5CCNAME \
             selects another)"
                .into(),
        ),
        GssapiError::UnknownService { target, .. } => Some(format!(
            "the server's principal is not {}/{}: set gssapi_service or gssapi_host (or \
             --gssapi-service, --gssapi-host) to the names in its keytab; klist shows your \
             realm, kinit renews the ticket",
            target.service, target.host
        )),
        GssapiError::Refused { target, .. } => Some(format!(
            "the server refused the Kerberos ticket for {}/{}: if its principal has another \
             name, set gssapi_service and gssapi_host (--gssapi-service, --gssapi-host); the \
             user must be one the principal in klist may log in as",
            target.service, target.host
        )),
        GssapiError::Failed { .. } => Some(
            "check the ticket with klist, renew it with kinit, and the server's principal with \
             --gssapi-service and --gssapi-host"
                .into(),
        ),
        _ => None,
    }
}

#[cfg(all(test, feature = "gssapi"))]
mod tests {
    use super::*;
    use popget::pop3::gssapi::{GssError, MajorFlags, Target};

    #[test]
    fn kerberos_failures_have_hints() {
        let failure = |major, minor: i32| GssError {
            major,
            minor: minor as u32,
        };
        let target = Target::pop("localhost");
        let no_cache = Error::from(GssapiError::classify(
            &target,
            failure(MajorFlags::GSS_S_NO_CRED, -1_765_328_189),
        ));
        assert!(hint(&no_cache).unwrap().contains("kinit"));
        let unknown = Error::from(GssapiError::classify(
            &target,
            failure(MajorFlags::GSS_S_FAILURE, -1_765_328_377),
        ));
        assert!(hint(&unknown).unwrap().contains("pop/localhost"));
    }
}
