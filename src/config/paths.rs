//! Where files are: the state directory, the home directory and `~` in configured paths.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::settings::Settings;
use crate::error::{Error, Result};

/// The state file: the `state` setting, else `state_key` in the default state directory.
pub(super) fn state_path_setting(
    settings: &Settings,
    state_key: &str,
    env: &HashMap<String, String>,
    problems: &mut Vec<Error>,
) -> Option<PathBuf> {
    match &settings.state {
        Some(path) => Some(expand_home(path, env)),
        None => match state_dir() {
            Ok(dir) => Some(dir.join(format!("{state_key}.state"))),
            Err(error) => {
                problems.push(error);
                None
            }
        },
    }
}

/// The directory of state files and OAuth tokens: `$XDG_STATE_HOME/popget` or its fallback.
pub fn state_dir() -> Result<PathBuf> {
    dirs::state_dir()
        .or_else(dirs::data_dir)
        .map(|dir| dir.join("popget"))
        .ok_or_else(|| {
            Error::config_about(
                &["state"],
                "cannot find a directory for state files; set state (--state FILE)",
            )
        })
}

/// `$HOME`, else the system's idea of the home directory.
pub(super) fn home_dir(env: &HashMap<String, String>) -> Option<PathBuf> {
    env.get("HOME").map(PathBuf::from).or_else(dirs::home_dir)
}

pub(super) fn expand_home(path: &Path, env: &HashMap<String, String>) -> PathBuf {
    if let Ok(rest) = path.strip_prefix("~") {
        if let Some(home) = home_dir(env) {
            return home.join(rest);
        }
    }
    path.to_path_buf()
}
