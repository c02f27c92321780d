//! Turns the command line, the configuration file and the environment into resolved
//! [`Account`](crate::account::Account)s, once per run.
//!
//! The layers as written (`settings.rs`) are read from the file (`file.rs`, over
//! `document.rs`), from account URLs (`url.rs`) and from the command line; `select.rs` picks
//! the accounts a command works on and `resolve.rs` merges and checks each one's layers into
//! an account. `popget config check` ([`check_text`]) reports every problem of a file at its
//! line. Nothing here reads a secret: where a
//! password may come from is described, for [`crate::credentials`] to read.

use std::collections::HashMap;

mod check;
mod destination;
mod document;
pub mod error;
mod file;
mod gmail;
mod paths;
mod resolve;
mod select;
mod settings;
mod url;

pub use check::{check_text, Checked, Problem};
pub use destination::{resolve_named as resolve_destination, DESTINATION_PASSWORD_ENV};
pub use error::ConfigError;
pub use file::{
    check_private, default_path, is_private_file, known_keys, ConfigFile, DEFAULTS_NO_OAUTH,
    DEFAULTS_ONLY_ACCOUNTS, NOT_PRIVATE,
};
pub use paths::state_dir;
pub use resolve::{account_problems, missing_destination};
pub use select::{select_accounts, select_each};
pub use settings::{
    parse_size, CommandLine, DestinationSettings, IntervalSetting, Settings, SizeSetting,
};
pub use url::{is_url, parse_url};

/// The environment variable holding a password.
pub const PASSWORD_ENV: &str = "POPGET_PASSWORD";

/// Where [`environment`] notes a `POPGET_PASSWORD` that is not UTF-8 (no real variable's name
/// can hold a NUL).
const PASSWORD_ENV_NOT_UTF8: &str = "POPGET_PASSWORD\0not UTF-8";

/// The environment as popget reads it: the variables whose name and value are UTF-8. Any
/// other variable is left out instead of making `std::env::vars` panic; a `HOME` left out is
/// read as bytes by the fallback to the system's idea of it, and a `POPGET_PASSWORD` left out
/// is noted, so that it is refused rather than silently skipped.
pub fn environment() -> HashMap<String, String> {
    let mut env = HashMap::new();
    for (name, value) in std::env::vars_os() {
        match (name.into_string(), value.into_string()) {
            (Ok(name), Ok(value)) => {
                env.insert(name, value);
            }
            (Ok(name), Err(_)) if name == PASSWORD_ENV => {
                env.insert(PASSWORD_ENV_NOT_UTF8.to_string(), String::new());
            }
            _ => {}
        }
    }
    env
}

#[cfg(test)]
mod tests;
