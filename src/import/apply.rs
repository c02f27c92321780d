//! The import itself: read the sources and the peers' records of fetched mail (everything that
//! can fail on bad input fails before anything is written), name the accounts, append them to
//! the configuration file, put plaintext passwords in the keyring (or a private file), and
//! merge the seen UIDLs into each account's state.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::seen::{self, SeenUid};
use super::writer::{self, render};
use super::{files, Account, Destination, Imported, Item, Password, Place, Seen, Tool};
use crate::autoconfig;
use crate::config::{self, CommandLine, ConfigFile};
use crate::credentials::keyring;
use crate::error::{Error, Result};
use crate::state::{self, State};

/// What `popget import` was asked for.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub tool: Tool,
    /// The source files; none: where the tool itself looks.
    pub files: &'a [PathBuf],
    /// popget's configuration file (default: the usual place).
    pub config_path: Option<&'a Path>,
    pub env: &'a HashMap<String, String>,
    /// Write nothing: the report says what would be done.
    pub dry_run: bool,
    /// Only the seen mail, for accounts already configured.
    pub state_only: bool,
    /// A password the source holds in clear text goes to a private file, not the keyring.
    pub plaintext: bool,
}

/// What became of one source account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Appended under `name`; `renamed` when the source's name was taken.
    Added { name: String, renamed: bool },
    /// Already configured: the account of that server and user.
    Configured { name: String },
    /// The same server and user as an account before it in the sources.
    Duplicate { of: String },
    /// `--state-only`, and no account of popget has its server and user.
    NotConfigured,
}

/// Where an account's seen mail came from and went.
#[derive(Debug, Clone)]
pub struct SeenReport {
    pub from: PathBuf,
    pub state: PathBuf,
    /// Messages the peer recorded.
    pub found: usize,
    /// Of those, how many popget's state did not have yet.
    pub added: usize,
}

#[derive(Debug, Clone)]
pub struct AccountReport {
    /// The source's name for it.
    pub source: String,
    pub origin: Place,
    pub outcome: Outcome,
    /// Where a password held in clear text by the source was put.
    pub password: Option<String>,
    pub seen: Option<SeenReport>,
}

/// What an import did (or, with `dry_run`, would do).
#[derive(Debug, Clone)]
pub struct Report {
    pub sources: Vec<PathBuf>,
    pub config_path: PathBuf,
    /// The TOML appended to the configuration file.
    pub text: String,
    pub accounts: Vec<AccountReport>,
    pub left_out: Vec<Item>,
    pub notes: Vec<Item>,
    /// Things done that the user should know of (a password written in clear text).
    pub warnings: Vec<String>,
}

/// An account to be written, with what it takes along.
struct Planned {
    account: Account,
    report: AccountReport,
    /// The state file its seen mail goes to (for an account not yet written, once known).
    state: Option<PathBuf>,
    uids: Option<(PathBuf, Vec<SeenUid>)>,
    deliver_to: Option<String>,
    password_file: Option<PathBuf>,
}

/// `popget import`.
pub fn import(request: Request) -> Result<Report> {
    let sources = match request.files {
        [] => files::default_sources(request.tool, request.env)?,
        given => given
            .iter()
            .map(|file| std::path::absolute(file).unwrap_or_else(|_| file.clone()))
            .collect(),
    };
    let mut imported = Imported::default();
    for source in &sources {
        let text = files::read_text(source)?;
        imported.extend(request.tool.parse(source, &text, request.env)?);
    }
    let config_path = match request.config_path {
        Some(path) => path.to_path_buf(),
        None => config::default_path()
            .ok_or_else(|| Error::config("no configuration directory: use --config"))?,
    };
    let existing = files::read_config(&config_path)?;
    let config = ConfigFile::parse(&existing).map_err(|message| {
        Error::config(format!(
            "{}: {message}; fix it first (popget config check)",
            config_path.display()
        ))
    })?;
    let mut plans = plan(&request, &config, &config_path, imported.accounts)?;
    let mut left_out = imported.left_out;
    left_out.extend(plans.iter().filter_map(not_configured));
    let text = tables(request.tool, &mut plans, &config);
    let combined = format!("{existing}{}", autoconfig::addition(&existing, &text));
    let combined = ConfigFile::parse(&combined)
        .map_err(|e| Error::config(format!("the imported accounts would not read back ({e})")))?;
    let mut notes = imported.notes;
    find_seen(&mut plans, &combined, request.env, &mut notes)?;
    // Each file's items in the order of its lines.
    left_out.sort_by(|a, b| (&a.place.file, a.place.line).cmp(&(&b.place.file, b.place.line)));
    notes.sort_by(|a, b| (&a.place.file, a.place.line).cmp(&(&b.place.file, b.place.line)));
    let mut report = Report {
        sources,
        config_path,
        text,
        accounts: Vec::new(),
        left_out,
        notes,
        warnings: Vec::new(),
    };
    if !request.dry_run {
        write(&request, &existing, &combined, &mut plans, &mut report)?;
    }
    for plan in plans {
        let mut account = plan.report;
        if let (Some(state), Some((from, uids))) = (plan.state, plan.uids) {
            let added = match &account.seen {
                Some(seen) => seen.added,
                None => count_new(&state, &uids)?,
            };
            account.seen = Some(SeenReport {
                from,
                state,
                found: uids.len(),
                added,
            });
        }
        report.accounts.push(account);
    }
    Ok(report)
}

/// With `--state-only`, a source account popget has no account for.
fn not_configured(plan: &Planned) -> Option<Item> {
    (plan.report.outcome == Outcome::NotConfigured).then(|| Item {
        place: plan.report.origin.clone(),
        what: format!(
            "{}: no account of popget has {}@{}:{}; import it without --state-only",
            plan.report.source,
            plan.account.user,
            plan.account.host,
            plan.account.port()
        ),
    })
}

/// Each account's state file (for a new one, as the configuration with it resolves it) and
/// the UIDLs its peer recorded.
fn find_seen(
    plans: &mut [Planned],
    combined: &ConfigFile,
    env: &HashMap<String, String>,
    notes: &mut Vec<Item>,
) -> Result<()> {
    let mut cache = HashMap::new();
    for plan in plans {
        if let Outcome::Added { name, .. } = &plan.report.outcome {
            let names = std::slice::from_ref(name);
            let resolved = config::select_accounts(combined, names, &CommandLine::default(), env)?;
            plan.state = resolved.into_iter().next().map(|a| a.state_path);
        }
        if plan.state.is_some() {
            plan.uids = read_seen(&plan.account, &mut cache, notes)?;
        }
    }
    Ok(())
}

/// Each source account matched to popget's: already configured (same host, port and user), a
/// repeat of one before it, or new under a name not yet taken.
fn plan(
    request: &Request,
    config: &ConfigFile,
    config_path: &Path,
    accounts: Vec<Account>,
) -> Result<Vec<Planned>> {
    let env = request.env;
    let configured: Vec<(String, (String, u16, String), PathBuf)> =
        if config.account_names().next().is_none() {
            Vec::new()
        } else {
            config::select_each(config, &[], &CommandLine::default(), env)?
                .into_iter()
                .filter_map(|(name, account)| {
                    let account = account.ok()?;
                    let key = (
                        account.server.host.to_ascii_lowercase(),
                        account.server.port,
                        account.login.user.clone(),
                    );
                    Some((name, key, account.state_path))
                })
                .collect()
        };
    let mut taken: Vec<String> = config.accounts.iter().map(|(n, _)| n.clone()).collect();
    let mut seen_keys: Vec<((String, u16, String), String)> = Vec::new();
    let mut plans = Vec::new();
    for account in accounts {
        let key = (
            account.host.to_ascii_lowercase(),
            account.port(),
            account.user.clone(),
        );
        let mut state = None;
        let outcome = if let Some((_, first)) = seen_keys.iter().find(|(k, _)| *k == key) {
            Outcome::Duplicate { of: first.clone() }
        } else if let Some((name, _, path)) = configured.iter().find(|(_, k, _)| *k == key) {
            state = Some(path.clone());
            Outcome::Configured { name: name.clone() }
        } else if request.state_only {
            Outcome::NotConfigured
        } else {
            let name = unique(&account.name, &taken);
            taken.push(name.clone());
            Outcome::Added {
                renamed: name != account.name,
                name,
            }
        };
        seen_keys.push((key, account.name.clone()));
        let password_file = match (&outcome, &account.password) {
            (Outcome::Added { name, .. }, Password::Plain { .. }) if request.plaintext => {
                Some(files::password_file(config_path, name))
            }
            _ => None,
        };
        plans.push(Planned {
            report: AccountReport {
                source: account.name.clone(),
                origin: account.origin.clone(),
                outcome,
                password: None,
                seen: None,
            },
            account,
            state,
            uids: None,
            deliver_to: None,
            password_file,
        });
    }
    Ok(plans)
}

/// `name`, or `name-2`, `name-3`... whichever is free.
fn unique(name: &str, taken: &[String]) -> String {
    let free = |candidate: &String| !taken.contains(candidate);
    std::iter::once(name.to_string())
        .chain((2..).map(|n| format!("{name}-{n}")))
        .find(free)
        .expect("a free name")
}

/// The TOML of the accounts to add, with the LMTP destinations they deliver to (one table for
/// each address and recipient, an existing one reused).
fn tables(tool: Tool, plans: &mut [Planned], config: &ConfigFile) -> String {
    let mut text = String::new();
    let mut destinations: Vec<(String, String, String)> = config
        .destinations
        .iter()
        .filter_map(|(name, d)| Some((name.clone(), d.lmtp.clone()?, d.recipient.clone()?)))
        .collect();
    let mut taken: Vec<String> = config.destinations.iter().map(|(n, _)| n.clone()).collect();
    for plan in plans.iter_mut() {
        let Outcome::Added { name, .. } = &plan.report.outcome else {
            continue;
        };
        let origin = &plan.account.origin;
        let from = format!(
            "Imported by `popget import {}` from {}, line {} ({}).",
            tool.name(),
            origin.file.display(),
            origin.line,
            plan.account.name
        );
        if let Some(Destination::Lmtp { address, recipient }) = &plan.account.destination {
            let same = |(_, a, r): &&(String, String, String)| a == address && r == recipient;
            let destination = match destinations.iter().find(same) {
                Some((existing, _, _)) => existing.clone(),
                None => {
                    let destination = unique(&format!("{name}-lmtp"), &taken);
                    text.push_str(&writer::render_lmtp(
                        &destination,
                        &from,
                        address,
                        recipient,
                    ));
                    text.push('\n');
                    taken.push(destination.clone());
                    destinations.push((destination.clone(), address.clone(), recipient.clone()));
                    destination
                }
            };
            plan.deliver_to = Some(destination);
        }
        let mut comments = vec![from];
        let command = plan
            .password_file
            .as_ref()
            .map(|file| format!("cat -- {}", super::shell_quote(&file.to_string_lossy())));
        if let Password::Plain { place, .. } = &plan.account.password {
            comments.push(match &plan.password_file {
                Some(file) => format!(
                    "The password at {place} is in {} (--plaintext).",
                    file.display()
                ),
                None => format!(
                    "The password at {place} is not copied here: it goes to the OS keyring \
                     (popget password set {name})."
                ),
            });
        }
        if plan.account.destination.is_none() {
            comments.push("Not carried over: where mail goes (set maildir, mbox or mda).".into());
        }
        let table = render(
            &plan.account,
            name,
            &comments,
            plan.deliver_to.as_deref(),
            command.as_deref(),
        );
        text.push_str(&table);
        text.push('\n');
    }
    text.truncate(text.trim_end().len());
    if !text.is_empty() {
        text.push('\n');
    }
    text
}

/// The account's seen UIDLs from the peer's file (each file read once); `None` when the peer
/// has no record, which is noted.
fn read_seen(
    account: &Account,
    cache: &mut HashMap<PathBuf, Option<Vec<u8>>>,
    notes: &mut Vec<Item>,
) -> Result<Option<(PathBuf, Vec<SeenUid>)>> {
    let Some(seen) = &account.seen else {
        return Ok(None);
    };
    let candidates = match seen {
        Seen::Fetchmail { file, .. } | Seen::Mpop { file, .. } => vec![file.clone()],
        Seen::Getmail { files } => files.clone(),
    };
    for file in &candidates {
        if !cache.contains_key(file) {
            cache.insert(file.clone(), files::read_if_present(file)?);
        }
        if let Some(Some(bytes)) = cache.get(file) {
            let uids = seen::parse(seen, file, bytes)?;
            return Ok(Some((file.clone(), uids)));
        }
    }
    if !account.delete {
        notes.push(Item {
            place: account.origin.clone(),
            what: format!(
                "{}: no record of fetched mail at {}: popget fetches every message on the \
                 server once",
                account.name,
                candidates
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        });
    }
    Ok(None)
}

/// How many of `uids` the state at `path` does not have.
fn count_new(path: &Path, uids: &[SeenUid]) -> Result<usize> {
    let state = State::load(path)?;
    Ok(uids.iter().filter(|u| !state.contains(&u.uid)).count())
}

/// Writes what the plans say: password files, the configuration, the keyring, the states.
fn write(
    request: &Request,
    existing: &str,
    combined: &ConfigFile,
    plans: &mut [Planned],
    report: &mut Report,
) -> Result<()> {
    for plan in plans.iter_mut() {
        if let (Some(file), Password::Plain { secret, .. }) =
            (&plan.password_file, &plan.account.password)
        {
            files::write_private(file, secret.expose())?;
            plan.report.password = Some(file.display().to_string());
            report.warnings.push(format!(
                "{}: the password is stored unencrypted in {} (--plaintext); \
                 popget password set {} would keep it in the OS keyring instead",
                plan.account.name,
                file.display(),
                added_name(plan).unwrap_or_default()
            ));
        }
    }
    if !report.text.is_empty() {
        autoconfig::append(&report.config_path, existing, &report.text)?;
    }
    for plan in plans.iter_mut() {
        let Some(name) = added_name(plan).map(str::to_string) else {
            continue;
        };
        if let (None, Password::Plain { secret, place }) =
            (&plan.password_file, &plan.account.password)
        {
            match keyring::store_password(&name, secret) {
                Ok(()) => plan.report.password = Some("the OS keyring".into()),
                Err(error) => report.left_out.push(Item {
                    place: place.clone(),
                    what: format!(
                        "{name}: the password was not saved ({error}); save it with popget \
                         password set {name}, or import again with --plaintext"
                    ),
                }),
            }
        }
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for plan in plans.iter_mut() {
        let (Some(state_path), Some((from, uids))) = (&plan.state, &mut plan.uids) else {
            continue;
        };
        if uids.iter().any(|u| u.dash_may_be_slash) {
            let name = match &plan.report.outcome {
                Outcome::Added { name, .. } | Outcome::Configured { name } => name.clone(),
                _ => continue,
            };
            if let Err(error) = super::listing::match_slashes(combined, &name, request.env, uids) {
                report.left_out.push(Item {
                    place: plan.account.origin.clone(),
                    what: format!(
                        "{name}: getmail writes a / in a UIDL as -, and the server's listing \
                         that tells them apart could not be had ({}); the UIDLs with - are \
                         recorded as written (popget import getmail --state-only tries again)",
                        error
                    ),
                });
            }
        }
        let _lock = state::lock_account(state_path)?;
        let mut state = State::load(state_path)?;
        let before = state.len();
        for uid in uids.iter() {
            state.record(&uid.uid, uid.first_seen.unwrap_or(now));
        }
        let added = state.len() - before;
        state.commit()?;
        plan.report.seen = Some(SeenReport {
            from: from.clone(),
            state: state_path.clone(),
            found: uids.len(),
            added,
        });
    }
    Ok(())
}

fn added_name(plan: &Planned) -> Option<&str> {
    match &plan.report.outcome {
        Outcome::Added { name, .. } => Some(name),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_get_a_free_suffix() {
        let taken = vec!["a".to_string(), "a-2".to_string()];
        assert_eq!(unique("a", &taken), "a-3");
        assert_eq!(unique("b", &taken), "b");
    }
}
