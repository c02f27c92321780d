//! Secrets read from outside popget: systemd credentials, commands that print a secret, the
//! terminal.

use std::ffi::OsStr;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use zeroize::Zeroizing;

use super::Secret;

/// Why a secret could not be read from its source. Never carries the secret itself.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read the systemd credential {}", path.display())]
    Credential {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the systemd credential name {name:?} is not a plain file name")]
    CredentialName { name: String },
    #[error("{what} is empty or its first line is not UTF-8")]
    Unusable { what: String },
    #[error("cannot run {what}: {source}")]
    Spawn {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("{what} failed ({status})")]
    Failed { what: String, status: ExitStatus },
    #[error("{what} did not finish within {seconds} seconds")]
    TimedOut { what: String, seconds: u64 },
}

/// The password in the systemd credential `name` when popget runs under systemd with
/// `LoadCredential=NAME:…` or `LoadCredentialEncrypted=`; `None` outside such a service or when
/// that credential was not passed.
pub fn systemd_credential(name: &str) -> Result<Option<Secret>, SourceError> {
    match std::env::var_os("CREDENTIALS_DIRECTORY") {
        Some(directory) if !directory.is_empty() => credential_in(Path::new(&directory), name),
        _ => Ok(None),
    }
}

/// The credential `name` in `directory` (what systemd calls `$CREDENTIALS_DIRECTORY`).
pub fn credential_in(directory: &Path, name: &str) -> Result<Option<Secret>, SourceError> {
    let plain = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && Path::new(name).file_name() == Some(OsStr::new(name));
    if !plain {
        return Err(SourceError::CredentialName { name: name.into() });
    }
    let path = directory.join(name);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => Zeroizing::new(bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(SourceError::Credential { path, source }),
    };
    first_line(&bytes)
        .map(Some)
        .ok_or_else(|| SourceError::Unusable {
            what: format!("the systemd credential {}", path.display()),
        })
}

/// How long a secret command may run (it may be asking for a passphrase on the terminal)
/// before it is stopped.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `command` with `sh -c` and takes the first line it prints as the secret; `what` names
/// the command in errors ("the password command", "client_secret_command of work"). Its
/// standard input and error stay the user's terminal, so that a command asking for a
/// passphrase can be seen and answered; it is stopped after a minute.
pub fn secret_from_command(command: &str, what: &str) -> Result<Secret, SourceError> {
    let (status, output) = crate::external::output(command, COMMAND_TIMEOUT)
        .map_err(|source| SourceError::Spawn {
            what: what.into(),
            source,
        })?
        .ok_or_else(|| SourceError::TimedOut {
            what: what.into(),
            seconds: COMMAND_TIMEOUT.as_secs(),
        })?;
    if !status.success() {
        return Err(SourceError::Failed {
            what: what.into(),
            status,
        });
    }
    first_line(&output).ok_or_else(|| SourceError::Unusable {
        what: format!("the output of {what}"),
    })
}

/// The first line, without its line ending; `None` when empty or not UTF-8.
fn first_line(bytes: &[u8]) -> Option<Secret> {
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = std::str::from_utf8(line).ok()?;
    (!text.is_empty()).then(|| Secret::new(text.to_string()))
}

/// The account's `password_command` (or `--password-command`): its first line.
pub fn password_from_command(command: &str) -> Result<Secret, SourceError> {
    secret_from_command(command, "the password command")
}

/// Asks on the terminal, if standard input is one. Accounts fetched in parallel ask one at a
/// time.
pub fn prompt_password(prompt: &str) -> io::Result<Option<Secret>> {
    static TERMINAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    if !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    let _turn = TERMINAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let _ = std::io::stderr().flush();
    let password = rpassword::prompt_password(prompt)?;
    Ok(Some(Secret::new(password)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_is_its_first_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("work"), "s3cret\nignored\n").unwrap();
        let secret = credential_in(dir.path(), "work").unwrap().unwrap();
        assert_eq!(secret.expose(), "s3cret");
        assert!(credential_in(dir.path(), "home").unwrap().is_none());
    }

    #[test]
    fn a_credential_name_cannot_leave_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["../etc/passwd", "a/b", "..", ".", ""] {
            assert!(
                matches!(
                    credential_in(dir.path(), name),
                    Err(SourceError::CredentialName { .. })
                ),
                "{name}"
            );
        }
    }

    #[test]
    fn an_empty_credential_is_an_error_that_shows_no_content() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("work"), "\nsecond-line-secret\n").unwrap();
        let error = credential_in(dir.path(), "work").unwrap_err();
        assert!(!format!("{error} {error:?}").contains("second-line-secret"));
    }

    #[test]
    fn a_command_gives_its_first_line() {
        let secret = secret_from_command("printf 'abc\\r\\ndef\\n'", "test").unwrap();
        assert_eq!(secret.expose(), "abc");
        assert!(matches!(
            secret_from_command("exit 3", "test"),
            Err(SourceError::Failed { .. })
        ));
        assert!(matches!(
            secret_from_command("true", "test"),
            Err(SourceError::Unusable { .. })
        ));
    }

    #[test]
    fn password_command_takes_the_first_line() {
        let secret = password_from_command("printf 'first\\r\\nsecond\\n'").unwrap();
        assert_eq!(secret.expose(), "first");
        let failed = password_from_command("exit 3").unwrap_err().to_string();
        assert!(failed.contains("the password command failed"), "{failed}");
        assert!(password_from_command("true").is_err());
    }
}
