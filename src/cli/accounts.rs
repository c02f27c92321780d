//! The configuration file as the user inspects it: `popget accounts` and `popget config check`.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::args::{AccountsArgs, ConfigCommand};
use crate::cli::context::Context;
use crate::cli::render::describe_delivery;
use popget::account::Account;
use popget::config::{self, check_text, CommandLine, ConfigFile};
use popget::{Error, Result};

// ---------------------------------------------------------------------------------------------
// popget accounts

/// One account as `popget accounts --json` prints it. Nothing secret: no password, no
/// password command.
#[derive(Debug, Serialize)]
struct AccountRow {
    name: String,
    user: String,
    host: String,
    port: u16,
    tls: String,
    auth: String,
    /// `maildir`, `mbox` or `mda`; null when the account names no destination.
    store: Option<&'static str>,
    /// The directory or file, or for an MDA `| COMMAND`.
    destination: Option<String>,
    /// The same with `~` for the home directory, for the table.
    #[serde(skip)]
    shown: Option<String>,
    /// `keep` or `delete`; the table shows `-` for none.
    policy: Option<&'static str>,
    /// Where the password or OAuth tokens live: `keyring`, a token file's path,
    /// `password_command`, `config file`, `systemd credential`, `netrc`, `POPGET_PASSWORD`,
    /// `kerberos`, `none (popget login)` or `none`. Never the secret.
    secret: String,
}

/// `popget accounts`: every account of the file but templates, in file order, as resolved
/// (inheritance and `[defaults]` applied). An account that cannot be resolved is reported on
/// stderr and makes the exit status 78; the others are still listed.
pub fn list(context: &Context, args: &AccountsArgs) -> Result<()> {
    let config = load_existing(context)?;
    let mut rows = Vec::new();
    let mut unresolved = 0;
    for name in config.account_names() {
        let resolved = config::select_accounts(
            &config,
            &[name.to_string()],
            &CommandLine::default(),
            context.env,
        );
        match resolved.map(|accounts| accounts.into_iter().next()) {
            Ok(Some(account)) => rows.push(row(&account, context.env)),
            Ok(None) => {}
            Err(error) => {
                unresolved += 1;
                popget::say!("popget: {name}: {}", crate::cli::context::describe(&error));
            }
        }
    }
    if args.json {
        crate::cli::context::print_json(&rows)?;
    } else {
        let mut out = io::stdout().lock();
        write_table(&mut out, &rows)
            .and_then(|()| out.flush())
            .map_err(|e| Error::io("cannot write the output", e))?;
    }
    if unresolved > 0 {
        return Err(Error::config(format!(
            "{} cannot be resolved; `popget config check` reports every problem with its line",
            plural(unresolved, "account")
        )));
    }
    if rows.is_empty() && !context.global.quiet {
        popget::say!("popget: no accounts in {}", path_of(&config).display());
    }
    Ok(())
}

fn row(account: &Account, env: &HashMap<String, String>) -> AccountRow {
    let delivery = account.delivery.as_ref();
    let home = env.get("HOME").map(PathBuf::from);
    AccountRow {
        name: account.name.clone(),
        user: account.login.user.clone(),
        host: account.server.host.clone(),
        port: account.server.port,
        tls: account.server.tls.name().to_string(),
        auth: account.login.method.name().to_string(),
        store: delivery.map(|delivery| delivery.kind()),
        destination: delivery.map(|delivery| describe_delivery(delivery, None)),
        shown: delivery.map(|delivery| describe_delivery(delivery, home.as_deref())),
        policy: Some(if account.policy.delete {
            "delete"
        } else {
            "keep"
        }),
        secret: account.login.secret_location().describe(),
    }
}

/// Aligned columns: name, user@host:port, TLS, login method, destination, keep or delete, where
/// the secret lives.
fn write_table(out: &mut impl Write, rows: &[AccountRow]) -> io::Result<()> {
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|row| {
            let host = if row.host.contains(':') {
                format!("[{}]", row.host)
            } else {
                row.host.clone()
            };
            let destination = match (&row.store, &row.shown) {
                (Some("mda"), Some(shown)) => shown.clone(),
                (Some(store), Some(shown)) => format!("{store} {shown}"),
                _ => "-".to_string(),
            };
            [
                row.name.clone(),
                format!("{}@{host}:{}", row.user, row.port),
                row.tls.clone(),
                row.auth.clone(),
                destination,
                row.policy.unwrap_or("-").to_string(),
                row.secret.clone(),
            ]
        })
        .collect();
    let mut widths = [0; 7];
    for line in &cells {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for line in &cells {
        let mut text = String::new();
        for (i, cell) in line.iter().enumerate() {
            if i + 1 < line.len() {
                text.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            } else {
                text.push_str(cell);
            }
        }
        writeln!(out, "{}", text.trim_end())?;
    }
    Ok(())
}

/// The configuration file, which must exist: these commands are about it.
pub(crate) fn load_existing(context: &Context) -> Result<ConfigFile> {
    let config = ConfigFile::load(context.global.config.as_deref())?;
    if config.path.is_none() {
        return Err(no_config_file());
    }
    Ok(config)
}

fn no_config_file() -> Error {
    Error::config(match config::default_path() {
        Some(path) => format!(
            "no configuration file: popget reads {} (or the file named with --config FILE)",
            path.display()
        ),
        None => "no configuration file: name one with --config FILE".into(),
    })
}

fn path_of(config: &ConfigFile) -> &Path {
    config.path.as_deref().unwrap_or(Path::new("-"))
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

// ---------------------------------------------------------------------------------------------
// popget config check

pub fn config(context: &Context, command: &ConfigCommand) -> Result<()> {
    match command {
        ConfigCommand::Check => check(context),
        ConfigCommand::Add(args) => {
            let request = popget::autoconfig::AddRequest {
                address: &args.address,
                name: args.name.as_deref(),
                guess: args.guess,
                config_path: context.global.config.as_deref(),
                env: context.env,
            };
            let quiet = context.global.quiet;
            let mut out = io::stdout().lock();
            popget::autoconfig::add(request, &mut |line| {
                if !quiet {
                    let _ = writeln!(out, "{line}");
                }
            })
        }
    }
}

/// `popget config check`: every problem as `FILE:LINE: message` on stderr, then exit 78; or
/// `ok: N accounts` on stdout (nothing with -q).
fn check(context: &Context) -> Result<()> {
    let path = match &context.global.config {
        Some(path) => path.clone(),
        None => config::default_path().ok_or_else(no_config_file)?,
    };
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound && context.global.config.is_none() => {
            return Err(no_config_file())
        }
        Err(e) => {
            return Err(Error::config(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    };
    let mut checked = check_text(&text, context.env);
    if let Some(line) = checked.password_line {
        let problem = match config::is_private_file(&path) {
            Ok(true) => None,
            Ok(false) => Some(config::NOT_PRIVATE.to_string()),
            Err(error) => Some(error.to_string()),
        };
        if let Some(message) = problem {
            checked.problems.push(config::Problem { line, message });
        }
    }
    checked.problems.sort_by_key(|problem| problem.line);
    let mut stderr = io::stderr().lock();
    for problem in &checked.problems {
        let _ = writeln!(
            stderr,
            "{}:{}: {}",
            path.display(),
            problem.line,
            problem.message
        );
    }
    if !checked.problems.is_empty() {
        return Err(Error::config(format!(
            "{} in {}",
            plural(checked.problems.len(), "problem"),
            path.display()
        )));
    }
    if !context.global.quiet {
        let mut summary = format!("ok: {}", plural(checked.accounts, "account"));
        if checked.templates > 0 {
            summary.push_str(&format!(", {}", plural(checked.templates, "template")));
        }
        let mut out = io::stdout().lock();
        writeln!(out, "{summary}").map_err(|e| Error::io("cannot write the output", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_accounts_in_aligned_columns() {
        let rows = [
            AccountRow {
                name: "work".into(),
                user: "me".into(),
                host: "pop.work.example".into(),
                port: 995,
                tls: "implicit".into(),
                auth: "auto".into(),
                store: Some("maildir"),
                destination: Some("/home/me/Mail/work".into()),
                shown: Some("~/Mail/work".into()),
                policy: Some("delete"),
                secret: "keyring".into(),
            },
            AccountRow {
                name: "v6".into(),
                user: "someone".into(),
                host: "::1".into(),
                port: 110,
                tls: "none".into(),
                auth: "apop".into(),
                store: None,
                destination: None,
                shown: None,
                policy: None,
                secret: "password_command".into(),
            },
        ];
        let mut out = Vec::new();
        write_table(&mut out, &rows).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "work  me@pop.work.example:995  implicit  auto  maildir ~/Mail/work  delete  keyring\n\
             v6    someone@[::1]:110        none      apop  -                    -       password_command\n"
        );
    }
}
