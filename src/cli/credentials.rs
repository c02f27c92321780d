//! `popget login`, `logout` and `password`: putting an account's secret where fetch finds it
//! (OAuth2 tokens in the token store, a password in the OS keyring).

use std::io::{self, BufRead, IsTerminal, Write};

use zeroize::Zeroizing;

use crate::cli::args::{LoginArgs, LogoutArgs, PasswordCommand};
use crate::cli::context::Context;
use popget::account::{Account, Delivery};
use popget::config::{self, CommandLine, ConfigFile};
use popget::credentials::keyring::{self, KeyringError};
use popget::credentials::oauth::OAuthLogin;
use popget::credentials::oauth::{self, Flow, TerminalInterface};
use popget::credentials::token_store;
use popget::credentials::Secret;
use popget::error::Remedy;
use popget::{Error, Result};

/// The account `name` of the configuration file, resolved (a URL or `--host` has no saved
/// secret to manage).
/// What the credential commands work on: an account, or an IMAP destination, by the name its
/// table has in the configuration file.
struct Named {
    name: String,
    user: String,
    host: String,
    oauth: Option<OAuthLogin>,
    /// `accounts` or `destinations`, for messages.
    table: &'static str,
}

fn named(context: &Context, name: &str) -> Result<Named> {
    if config::is_url(name) {
        return Err(Error::Usage(format!(
            "{name} is a URL; name an account of the configuration file"
        )));
    }
    let config = ConfigFile::load(context.global.config.as_deref())?;
    if config.account(name).is_none() {
        if config.destinations.iter().any(|(n, _)| n == name) {
            return destination(&config, name, context);
        }
        return Err(Error::config(format!(
            "no account \"{name}\" in {}",
            config
                .path
                .as_deref()
                .map_or("the configuration file".into(), |p| p.display().to_string())
        )));
    }
    let mut accounts = config::select_accounts(
        &config,
        &[name.to_string()],
        &CommandLine::default(),
        context.env,
    )?;
    let account: Account = accounts.remove(0);
    Ok(Named {
        name: account.name,
        user: account.login.user,
        host: account.server.host,
        oauth: account.login.oauth,
        table: "accounts",
    })
}

/// An IMAP or Gmail destination, the kinds that log in.
fn destination(config: &ConfigFile, name: &str, context: &Context) -> Result<Named> {
    match config::resolve_destination(config, name, context.env)? {
        Delivery::Imap(target) => Ok(Named {
            name: name.to_string(),
            user: target.login.user,
            host: target.server.host,
            oauth: target.login.oauth,
            table: "destinations",
        }),
        Delivery::Gmail(target) => Ok(Named {
            name: name.to_string(),
            host: target.api_url.host_str().unwrap_or_default().to_string(),
            user: target.address,
            oauth: Some(target.oauth),
            table: "destinations",
        }),
        _ => Err(Error::config(format!(
            "destination \"{name}\" delivers over LMTP, which has no login"
        ))),
    }
}

fn say(context: &Context, line: &str) -> Result<()> {
    if context.global.quiet {
        return Ok(());
    }
    let mut out = io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("cannot write the output", e))
}

/// `popget login NAME [--device | --paste]`: logs in and saves the tokens, replacing any
/// saved before.
pub fn login(context: &Context, args: &LoginArgs) -> Result<()> {
    let account = named(context, &args.account)?;
    let Some(oauth) = &account.oauth else {
        return Err(Error::config(format!(
            "{} \"{}\" has no [{}.{}.oauth] table: popget login is for accounts and \
             destinations that log in with OAuth2 (see the README's Gmail and Microsoft 365 \
             sections)",
            account.table.trim_end_matches('s'),
            account.name,
            account.table,
            account.name
        )));
    };
    let flow = if args.device {
        Flow::Device
    } else if args.paste {
        Flow::Paste
    } else {
        Flow::Loopback
    };
    let tokens = oauth::authorize(&oauth.client, flow, &mut TerminalInterface::from_env())?;
    let store = oauth.token_store();
    store.save(&tokens).map_err(oauth::OAuthError::from)?;
    say(
        context,
        &format!(
            "popget: {}: logged in; tokens saved in {}",
            account.name,
            store.location()
        ),
    )
}

/// `popget logout NAME`: deletes the saved tokens wherever they are.
pub fn logout(context: &Context, args: &LogoutArgs) -> Result<()> {
    let account = named(context, &args.account)?;
    let deleted = token_store::delete_everywhere(&account.name, &config::state_dir()?)
        .map_err(oauth::OAuthError::from)?;
    say(
        context,
        &if deleted {
            format!(
                "popget: {}: logged out; the saved tokens are deleted",
                account.name
            )
        } else {
            format!("popget: {}: no tokens were saved", account.name)
        },
    )
}

/// `popget password set|delete NAME`.
pub fn password(context: &Context, command: &PasswordCommand) -> Result<()> {
    match command {
        PasswordCommand::Set(args) => {
            let account = named(context, &args.account)?;
            let password = read_password(&account)?;
            keyring::store_password(&account.name, &password)
                .map_err(|e| keyring_error("save the password of", &account.name, e))?;
            say(
                context,
                &format!(
                    "popget: {}: password saved in the OS keyring (service {}, user {})",
                    account.name,
                    keyring::PASSWORD_SERVICE,
                    account.name
                ),
            )
        }
        PasswordCommand::Delete(args) => {
            let account = named(context, &args.account)?;
            let deleted = keyring::delete_password(&account.name)
                .map_err(|e| keyring_error("delete the password of", &account.name, e))?;
            say(
                context,
                &if deleted {
                    format!(
                        "popget: {}: password deleted from the OS keyring",
                        account.name
                    )
                } else {
                    format!("popget: {}: the OS keyring held no password", account.name)
                },
            )
        }
    }
}

fn keyring_error(action: &str, account: &str, error: KeyringError) -> Error {
    let source = std::error::Error::source(&error)
        .map(|s| format!(": {s}"))
        .unwrap_or_default();
    Error::Unavailable {
        message: format!("cannot {action} {account}: {error}{source}"),
        remedy: Some(Remedy::Keyring),
    }
}

/// The password typed on the terminal (not echoed), or the first line of standard input.
fn read_password(account: &Named) -> Result<Secret> {
    let password = if io::stdin().is_terminal() {
        let prompt = format!(
            "Password for {} ({}@{}): ",
            account.name, account.user, account.host
        );
        Zeroizing::new(
            rpassword::prompt_password(prompt)
                .map_err(|e| Error::io("cannot read the password", e))?,
        )
    } else {
        let mut line = Zeroizing::new(String::new());
        io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Error::io("cannot read the password from standard input", e))?;
        let trimmed = line.trim_end_matches(['\n', '\r']).len();
        line.truncate(trimmed);
        line
    };
    if password.is_empty() {
        return Err(Error::Usage(
            "the password is empty; nothing was saved".into(),
        ));
    }
    if password.contains(['\r', '\n', '\0']) {
        return Err(Error::Usage(
            "the password contains a line break or a NUL byte; nothing was saved".into(),
        ));
    }
    Ok(Secret::new(password.to_string()))
}
