//! `popget import fetchmail|mpop|getmail`: another fetcher's accounts and the mail it has
//! already fetched, carried over into popget's configuration and state.
//!
//! The parsers are pure, text in and an [`Imported`] out: `fetchmail.rs` (a tokenizer and
//! parser for the free-form `.fetchmailrc` grammar), `mpop.rs` (line-based), `getmail.rs` (over
//! `ini.rs`, which reads files as Python's RawConfigParser does). What a source says that
//! popget cannot do the same way is listed with its file and line, never guessed. `seen.rs`
//! reads the peers' own records of fetched mail, `writer.rs` renders accounts as TOML, and
//! `apply.rs` is the operation: names, the configuration file, passwords, state files.

pub mod apply;
mod fetchmail;
mod files;
mod getmail;
mod ini;
mod listing;
mod model;
mod mpop;
mod python;
pub mod seen;
mod writer;

use std::collections::HashMap;
use std::path::Path;

pub use apply::{import, AccountReport, Outcome, Report, Request, SeenReport};
use model::{expand_home, sha256_fingerprint, shell_quote, size_with_unit};
pub use model::{Account, Destination, Imported, Item, ParseError, Password, Place, Seen};
pub use writer::render;

/// The fetcher an import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Fetchmail,
    Mpop,
    Getmail,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Fetchmail => "fetchmail",
            Tool::Mpop => "mpop",
            Tool::Getmail => "getmail",
        }
    }

    /// Reads one configuration file's text (`file` names it in what is reported).
    pub fn parse(
        self,
        file: &Path,
        text: &str,
        env: &HashMap<String, String>,
    ) -> Result<Imported, ParseError> {
        match self {
            Tool::Fetchmail => fetchmail::parse(file, text, env),
            Tool::Mpop => mpop::parse(file, text, env),
            Tool::Getmail => getmail::parse(file, text, env),
        }
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Words of all three grammars, and some that are none.
    fn word() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "poll",
                "skip",
                "defaults",
                "set",
                "daemon",
                "user",
                "is",
                "here",
                "there",
                "to",
                "=",
                "*",
                "no",
                "nokeep",
                "keep",
                "pass",
                "\"a b\"",
                "'q'",
                "proto",
                "pop3",
                "via",
                "ssl",
                "mda",
                "smtphost",
                "lmtp",
                "limit",
                "10",
                "#",
                "\n",
                "account",
                "host",
                "tls",
                "on",
                "off",
                ":",
                ",",
                "delivery",
                "maildir",
                "[retriever]",
                "[destination]",
                "type",
                "SimplePOP3Retriever",
                "Maildir",
                "path",
                "server",
                "username",
                "(",
                ")",
                "\\",
                "\"",
            ])
            .prop_map(str::to_string),
            "[ -~]{0,6}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_text_is_read_or_refused_without_panicking(
            words in prop::collection::vec(word(), 0..60),
            separator in prop::sample::select(vec![" ", "\n", " = "]),
        ) {
            let text = words.join(separator);
            let env = HashMap::from([("HOME".to_string(), "/h".to_string())]);
            for tool in [Tool::Fetchmail, Tool::Mpop, Tool::Getmail] {
                let _ = tool.parse(Path::new("f"), &text, &env);
            }
        }

        #[test]
        fn any_seen_file_is_read_or_refused_without_panicking(
            text in prop::collection::vec(
                prop_oneof![Just(b'\n'), Just(b' '), Just(0u8), Just(b'@'), b'0'..=b'9', any::<u8>()],
                0..200,
            ),
        ) {
            let seens = [
                Seen::Fetchmail { file: "f".into(), user: "u".into(), host: "h".into() },
                Seen::Mpop { file: "f".into(), host: "h".into(), user: "u".into() },
                Seen::Getmail { files: Vec::new() },
            ];
            for seen in &seens {
                let _ = seen::parse(seen, Path::new("f"), &text);
            }
        }
    }
}
