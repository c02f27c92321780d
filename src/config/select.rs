//! Which accounts a command works on: named ones, URLs, `--host`, or every account in the file.

use std::collections::HashMap;

use super::destination::Destinations;
use super::resolve::{self, Extra};
use super::settings::CommandLine;
use super::url::{is_url, parse_url};
use super::ConfigFile;
use crate::account::Account;
use crate::error::{Error, Result};

/// The accounts a command works on: the named ones, an ad-hoc one from `--host`, or every
/// account in the file. The first account that cannot be resolved is the error.
pub fn select_accounts(
    config: &ConfigFile,
    names: &[String],
    command_line: &CommandLine,
    env: &HashMap<String, String>,
) -> Result<Vec<Account>> {
    select_each(config, names, command_line, env)?
        .into_iter()
        .map(|(_, account)| account)
        .collect()
}

/// [`select_accounts`], each account resolved on its own: one that cannot be resolved (a typo in
/// its table) does not stop the others. The outer error is one for the whole command (no
/// account given, nothing to fetch).
pub fn select_each(
    config: &ConfigFile,
    names: &[String],
    command_line: &CommandLine,
    env: &HashMap<String, String>,
) -> Result<Vec<(String, Result<Account>)>> {
    let extra = Extra {
        password_command: command_line.password_command.as_deref(),
        destinations: Some(Destinations {
            config,
            command_line: command_line
                .destination
                .as_ref()
                .map(|(name, settings)| (name.as_str(), settings)),
        }),
    };
    let host_given = command_line.settings.host.is_some();
    let command_line = &command_line.settings;
    let named = |name: &str| -> Result<Account> {
        if is_url(name) {
            let url_settings = parse_url(name)?;
            return resolve::resolve(
                Some(name),
                &[&config.defaults, &url_settings, command_line],
                extra,
                env,
            );
        }
        let mut layers = config.layers(name)?;
        if layers
            .last()
            .is_some_and(|own| ConfigFile::is_template(own))
        {
            return Err(Error::config(format!(
                "account \"{name}\" is a template (template = true): name an account \
                 that inherits it"
            )));
        }
        layers.push(command_line);
        resolve::resolve(Some(name), &layers, extra, env)
    };
    if !names.is_empty() {
        return Ok(names
            .iter()
            .map(|name| (name.clone(), named(name)))
            .collect());
    }
    if host_given || config.account_names().next().is_none() {
        if !host_given {
            return Err(Error::config(
                "no account given: name one from the configuration file or use --host and --user",
            ));
        }
        let account = resolve::resolve(None, &[&config.defaults, command_line], extra, env)?;
        return Ok(vec![(account.name.clone(), Ok(account))]);
    }
    Ok(config
        .account_names()
        .map(|name| (name.to_string(), named(name)))
        .collect())
}
