//! Where secrets come from and where they are kept: the `Secret` type, the password sources
//! (commands, systemd credentials, `~/.netrc`, the terminal), the OS keyring, OAuth2 tokens and
//! their store.
//!
//! Nothing here knows about the command line: the CLI turns flags and configuration into the
//! types below and maps each error's `exit_code()` to the process status.
//!
//! # Where a password comes from
//!
//! For an account that logs in with a password, the first source that has one wins:
//!
//! 1. the command line (`--password-command`, or a password given for this run);
//! 2. the `POPGET_PASSWORD` environment variable;
//! 3. the account's `password_command` (the first line it prints);
//! 4. a systemd credential named after the account, `$CREDENTIALS_DIRECTORY/NAME`, when popget
//!    runs as a service with `LoadCredential=` or `LoadCredentialEncrypted=`
//!    ([`sources::systemd_credential`]);
//! 5. the OS keyring (Secret Service on Linux), where `popget password set NAME` put it
//!    ([`keyring::load_password`]);
//! 6. `~/.netrc` (`machine HOST login USER password SECRET`, the file private to the user);
//! 7. a prompt on the terminal, when standard input is one.
//!
//! [`password::SecretSources`] holds this order once; the configuration builds it for each
//! account without reading any of the sources.
//!
//! An account with an `[accounts.NAME.oauth]` table logs in with XOAUTH2 or OAUTHBEARER using
//! an access token from [`oauth::access_token`] instead; its tokens live in the keyring when one
//! is reachable, otherwise in a file readable only by the user under
//! `$XDG_STATE_HOME/popget/oauth/` ([`token_store`]).

pub mod keyring;
pub mod netrc;
pub mod oauth;
pub mod password;
mod secret;
pub mod sources;
pub mod token_store;

pub use secret::Secret;

/// Whether a file that holds secrets is private: the user's own, and nobody else may read or
/// write it (a configuration file with a password, `~/.netrc`).
pub fn is_private(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    meta.mode() & 0o077 == 0 && meta.uid() == rustix::process::geteuid().as_raw()
}

/// Text from a server or a file shown to the user: control characters (which could move the
/// cursor or rewrite the terminal) become `?`, and it is cut at a length a terminal line holds.
pub(crate) fn printable(text: &str) -> String {
    const LONGEST: usize = 300;
    let mut shown: String = text
        .chars()
        .take(LONGEST)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if text.chars().count() > LONGEST {
        shown.push('…');
    }
    shown
}

#[cfg(test)]
mod tests {
    #[test]
    fn printable_neutralises_terminal_escapes() {
        assert_eq!(super::printable("bad\x1b[2Jgrant\n"), "bad?[2Jgrant?");
        assert_eq!(super::printable(&"x".repeat(301)).chars().count(), 301);
    }
}
