//! Logging in: the TLS gate every method passes, USER/PASS and APOP, the `Secret` type and the
//! password sources.

use std::io::{IsTerminal, Read, Write};
use std::process::{Command as Process, Stdio};

use md5::{Digest, Md5};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::protocol::{apop_timestamp, Command, ResponseCode, Status};
use crate::session::{Client, Security, Session};

/// A password or token. Its Debug form is redacted and its memory is zeroed when dropped.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(Zeroizing::new(value))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How to log in (`--auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMethod {
    /// The strongest method the server offers that keeps the password secret: USER/PASS inside
    /// TLS, APOP on an unencrypted connection.
    Auto,
    /// USER and PASS (the password in clear text: over TLS, or with --tls none on request).
    User,
    /// APOP: an MD5 digest of the server's timestamp and the password.
    Apop,
}

/// Who logs in.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: String,
    pub password: Secret,
}

/// The APOP digest: lowercase hex MD5 of the timestamp (brackets included) and the secret.
pub fn apop_digest(timestamp: &[u8], secret: &str) -> String {
    let mut md5 = Md5::new();
    md5.update(timestamp);
    md5.update(secret.as_bytes());
    md5.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Logs in with `method`. Every path passes the same gate: a password is sent in clear text
/// only inside TLS, or when the user explicitly chose `--auth user` on a plain connection.
pub fn login<S: Read + Write>(
    mut client: Client<S>,
    method: AuthMethod,
    credentials: &Credentials,
) -> Result<Session<S>> {
    let encrypted = client.security() != Security::Plain;
    let chosen = match method {
        AuthMethod::Auto if encrypted => AuthMethod::User,
        AuthMethod::Auto => {
            if apop_timestamp(&client.greeting().text).is_none() {
                return Err(Error::Unavailable {
                    message: "the connection is not encrypted and the server offers no login \
                              method that keeps the password secret (no APOP timestamp)"
                        .into(),
                    hint: Some(
                        "use --tls implicit or --tls starttls; to send the password in clear \
                         text anyway, pass --auth user"
                            .into(),
                    ),
                });
            }
            AuthMethod::Apop
        }
        explicit => explicit,
    };
    match chosen {
        AuthMethod::User => {
            let status = client.command(&Command::User(&credentials.user))?;
            if !status.ok {
                return Err(login_refused("USER", &status));
            }
            let status = client.command(&Command::Pass(credentials.password.expose()))?;
            if !status.ok {
                return Err(login_refused("PASS", &status));
            }
        }
        AuthMethod::Apop => {
            let Some(timestamp) = apop_timestamp(&client.greeting().text) else {
                return Err(Error::unavailable(
                    "APOP was requested but the server's greeting has no valid APOP timestamp",
                ));
            };
            let digest = apop_digest(timestamp, credentials.password.expose());
            let status = client.command(&Command::Apop {
                user: &credentials.user,
                digest: &digest,
            })?;
            if !status.ok {
                return Err(login_refused("APOP", &status));
            }
        }
        AuthMethod::Auto => unreachable!("auto was resolved above"),
    }
    Ok(client.into_session())
}

/// Maps a refused login to the right error: temporary conditions never blame the credentials.
fn login_refused(command: &str, status: &Status) -> Error {
    let text = status.display_text();
    match &status.code {
        Some(code) if code.is_temporary() => {
            Error::Temporary(format!("login refused for now ({command}): {text}"))
        }
        Some(ResponseCode::SysPerm) => {
            Error::unavailable(format!("login refused ({command}): {text}"))
        }
        _ => Error::AuthFailed(format!("authentication failed ({command}): {text}")),
    }
}

/// Runs `command` with `sh -c` and takes the first line of its standard output.
pub fn password_from_command(command: &str) -> Result<Secret> {
    let output = Process::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::inherit())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| Error::Config(format!("cannot run the password command: {e}")))?;
    let stdout = Zeroizing::new(output.stdout);
    if !output.status.success() {
        return Err(Error::Config(format!(
            "the password command failed ({})",
            output.status
        )));
    }
    let first_line = stdout.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let first_line = first_line.strip_suffix(b"\r").unwrap_or(first_line);
    let password = std::str::from_utf8(first_line)
        .map_err(|_| Error::Config("the password command printed invalid UTF-8".into()))?;
    if password.is_empty() {
        return Err(Error::Config(
            "the password command printed an empty first line".into(),
        ));
    }
    Ok(Secret::new(password.to_string()))
}

/// Asks on the terminal, if standard input is one.
pub fn prompt_password(prompt: &str) -> Result<Option<Secret>> {
    if !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    let _ = std::io::stderr().flush();
    let password = rpassword::prompt_password(prompt)
        .map_err(|e| Error::Config(format!("cannot read the password: {e}")))?;
    Ok(Some(Secret::new(password)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::tests::MockStream;

    #[test]
    fn apop_digest_matches_rfc_1939() {
        assert_eq!(
            apop_digest(b"<1896.697170952@dbc.mtview.ca.us>", "tanstaaf"),
            "c4c9334bac560ecc979e58001b3e22fb"
        );
    }

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
            password: Secret::new("tanstaaf".into()),
        }
    }

    fn run(script: &[&[u8]], security: Security, method: AuthMethod) -> (Result<()>, String) {
        let stream = MockStream::new(script);
        let written = stream.written.clone();
        let client = Client::new(stream, "mock", security).unwrap();
        let result = login(client, method, &credentials()).map(|_| ());
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
        // POP3-NOTES item 22.
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
    fn password_command_takes_the_first_line() {
        let secret = password_from_command("printf 'first\\r\\nsecond\\n'").unwrap();
        assert_eq!(secret.expose(), "first");
        assert!(password_from_command("exit 3").is_err());
        assert!(password_from_command("true").is_err());
    }
}
