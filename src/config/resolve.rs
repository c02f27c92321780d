//! Account resolution: the layers of one account (`[defaults]`, inherited tables, its own
//! table or URL, the command line) merged and checked into an [`Account`], every problem found
//! at once. Nothing here reads a secret or touches a mailbox: sources are described, not read.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::destination::{self, Destinations};
use super::gmail;
use super::paths::{expand_home, home_dir, state_dir, state_path_setting};
use super::settings::{Settings, SizeSetting};
use super::url::is_url;
use super::{ConfigFile, PASSWORD_ENV, PASSWORD_ENV_NOT_UTF8};
use crate::account::{self, Account, Command, Delivery, Limits, Login, Policy, Schedule, Server};
use crate::auth::{self, AuthMethod};
use crate::credentials::oauth::{OAuthLogin, ResolvedOAuth};
use crate::credentials::password::{SecretSource, SecretSources};
use crate::credentials::Secret;
use crate::error::{Error, Result};
use crate::transport::{CertificatePolicy, TlsMode};

/// The per-command timeout, in seconds, unless `timeout` says otherwise.
pub(super) const DEFAULT_TIMEOUT: u64 = 60;

/// Whether `value` can be the service or host part of a Kerberos service principal.
fn valid_principal_part(value: &str) -> bool {
    !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/' || c == '@')
}
/// The settings that choose where messages are delivered.
const DESTINATION_KEYS: &[&str] = &["maildir", "mbox", "mda", "deliver_to"];

/// A Maildir++ folder name: dot-separated parts, none empty, no `/`, no control characters.
fn check_folder(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.split('.').all(|part| !part.is_empty() && part != "..")
        && !name.chars().any(|c| c == '/' || c.is_control());
    if valid {
        Ok(())
    } else {
        Err(Error::config_about(
            &["folder"],
            format!("the folder name {name:?} is not valid: use names like Lists or Lists.rust"),
        ))
    }
}

/// What resolution needs beyond an account's layers: a password command the command line
/// gave, which comes before every other password source, and the destinations that
/// `deliver_to` may name.
#[derive(Clone, Copy, Default)]
pub(super) struct Extra<'a> {
    pub password_command: Option<&'a str>,
    pub destinations: Option<Destinations<'a>>,
}

/// Builds account `name` (none for `--host`) from its layers, most general first, or returns
/// its first problem.
pub(super) fn resolve(
    name: Option<&str>,
    layers: &[&Settings],
    extra: Extra,
    env: &HashMap<String, String>,
) -> Result<Account> {
    resolve_all(name, layers, extra, env, false).map_err(first_problem)
}

/// [`resolve`], finding every problem rather than the first; with `need_delivery`, a missing
/// destination is one of them.
pub(super) fn resolve_all(
    name: Option<&str>,
    layers: &[&Settings],
    extra: Extra,
    env: &HashMap<String, String>,
    need_delivery: bool,
) -> Result<Account, Vec<Error>> {
    let settings = layers
        .iter()
        .fold(Settings::default(), |acc, layer| acc.overlaid(layer));
    let mut problems = Vec::new();
    let connection = connection(name, &settings, env, &mut problems);
    let timeout = connection
        .as_ref()
        .map_or(Duration::from_secs(DEFAULT_TIMEOUT), |(server, _)| {
            server.timeout
        });
    let account_name = match (name, &connection) {
        (Some(name), _) => name.to_string(),
        (None, Some((server, login))) => format!("{}@{}", login.user, server.host),
        _ => String::new(),
    };
    let delivery = resolve_delivery(&account_name, &settings, timeout, extra, env, &mut problems);
    if need_delivery && delivery == Some(None) {
        problems.push(missing_destination(&account_name));
    }
    let policy = resolve_policy(&account_name, &settings, timeout, &mut problems);
    let schedule = resolve_schedule(&settings, timeout, &mut problems);
    let state_path = connection.as_ref().and_then(|(server, login)| {
        let key = account::state_key(&login.user, &server.host, server.port);
        state_path_setting(&settings, &key, env, &mut problems)
    });
    let (Some((server, login)), Some(state_path), true) =
        (connection, state_path, problems.is_empty())
    else {
        return Err(problems);
    };
    let secrets = secret_sources(
        name,
        &settings,
        extra,
        env,
        &account_name,
        &login.user,
        &server.host,
    );
    Ok(Account {
        name: account_name,
        server,
        login: Login { secrets, ..login },
        delivery: delivery.flatten(),
        policy: policy.unwrap_or_default(),
        schedule,
        state_path,
    })
}

/// The server and the login that `settings` describe (an account's POP3 server or an IMAP
/// destination), the login's secret sources still empty; `None` when a required setting is
/// missing, every problem pushed onto `problems`.
pub(super) fn connection(
    name: Option<&str>,
    settings: &Settings,
    env: &HashMap<String, String>,
    problems: &mut Vec<Error>,
) -> Option<(Server, Login)> {
    let host = resolve_host(name, settings, problems);
    let user = resolve_user(name, settings, problems);
    let tls = settings.tls.unwrap_or(TlsMode::Implicit);
    let port = settings.port.unwrap_or_else(|| tls.default_port());
    let certificates = certificate_policy(settings, tls, env, problems);
    let (timeout, limits) = resolve_timeouts(settings, problems);
    let proxy = resolve_proxy(settings, problems);
    check_gssapi_names(settings, problems);
    let (method, oauth) = resolve_login(name, settings, problems);
    let (host, user) = (host?, user?);
    let gssapi = auth::gssapi::Target {
        service: (settings.gssapi_service.clone())
            .unwrap_or_else(|| auth::gssapi::Target::POP_SERVICE.to_string()),
        host: settings.gssapi_host.clone().unwrap_or_else(|| host.clone()),
    };
    let oauth = oauth.map(|client| OAuthLogin {
        client,
        token_dir: state_dir().unwrap_or_else(|_| PathBuf::from(".")),
    });
    let secrets = SecretSources::new(Vec::new(), name.unwrap_or_default(), &user, &host);
    Some((
        Server {
            host,
            port,
            tls,
            certificates,
            timeout,
            limits,
            proxy,
            pipelining: settings.pipelining.unwrap_or_default(),
            list_sizes: settings.list_sizes.unwrap_or_default(),
        },
        Login {
            user,
            method,
            secrets,
            gssapi,
            oauth,
        },
    ))
}

/// Every problem of account `name` in the configuration file, resolved as `fetch` would
/// resolve it: its inheritance, then each setting on its own, so that five bad values are five
/// problems. Empty when the account is fine.
pub fn account_problems(
    config: &ConfigFile,
    name: &str,
    env: &HashMap<String, String>,
) -> Vec<Error> {
    let layers = match config.layers(name) {
        Ok(layers) => layers,
        Err(error) => return vec![error],
    };
    let extra = Extra {
        password_command: None,
        destinations: Some(Destinations {
            config,
            command_line: None,
        }),
    };
    match resolve_all(Some(name), &layers, extra, env, true) {
        Ok(_) => Vec::new(),
        Err(problems) => problems,
    }
}

/// The error for an account that is fetched with no destination configured.
pub fn missing_destination(name: &str) -> Error {
    Error::config_of_account(
        DESTINATION_KEYS,
        format!(
            "no destination for account \"{name}\": set maildir, mbox, mda or deliver_to \
             (--maildir DIR, --mbox FILE, --mda COMMAND, --deliver-to NAME)"
        ),
    )
}

/// The first of an account's problems (there is at least one).
fn first_problem(problems: Vec<Error>) -> Error {
    problems
        .into_iter()
        .next()
        .unwrap_or_else(|| Error::config("the account cannot be resolved"))
}

/// Where account `name`'s password may come from, in the order they are tried: the command
/// line, `POPGET_PASSWORD`, `password_command`, the file's `password`, the systemd credential
/// and the keyring item named after the account, `~/.netrc`, a prompt on the terminal.
fn secret_sources(
    name: Option<&str>,
    settings: &Settings,
    extra: Extra,
    env: &HashMap<String, String>,
    account: &str,
    user: &str,
    host: &str,
) -> SecretSources {
    let mut sources = Vec::new();
    if let Some(command) = extra.password_command {
        sources.push(SecretSource::Command(command.to_string()));
    }
    if env.contains_key(PASSWORD_ENV_NOT_UTF8) {
        sources.push(SecretSource::EnvironmentNotUtf8);
    }
    if let Some(password) = env.get(PASSWORD_ENV).filter(|p| !p.is_empty()) {
        sources.push(SecretSource::Environment(Secret::new(password.clone())));
    }
    if let Some(command) = &settings.password_command {
        sources.push(SecretSource::Command(command.clone()));
    }
    if let Some(password) = &settings.password {
        sources.push(SecretSource::ConfigFile(Secret::new(password.clone())));
    }
    // Stored secrets are named after the account in the file; an account given as `--host`
    // or a URL has no such name.
    if let Some(name) = name.filter(|name| !is_url(name)) {
        sources.push(SecretSource::SystemdCredential(name.to_string()));
        sources.push(SecretSource::Keyring(name.to_string()));
    }
    if let Some(home) = home_dir(env) {
        sources.push(SecretSource::Netrc {
            path: home.join(".netrc"),
        });
    }
    sources.push(SecretSource::Prompt);
    SecretSources::new(sources, account, user, host)
}

/// The one destination of account `name` (maildir, possibly with a folder, mbox or mda):
/// `Some(None)` when none is set, `None` when what is set is wrong, the problem pushed onto
/// `problems`.
fn resolve_delivery(
    name: &str,
    settings: &Settings,
    timeout: Duration,
    extra: Extra,
    env: &HashMap<String, String>,
    problems: &mut Vec<Error>,
) -> Option<Option<Delivery>> {
    if let Some(destination) = &settings.deliver_to {
        if settings.maildir.is_some() || settings.mbox.is_some() || settings.mda.is_some() {
            problems.push(Error::config_of_account(
                DESTINATION_KEYS,
                format!(
                    "account \"{name}\" sets deliver_to and one of maildir, mbox and mda; \
                     choose one"
                ),
            ));
            return None;
        }
        let mut delivery = destination::resolve(destination, extra.destinations, env, problems)?;
        match &mut delivery {
            Delivery::Gmail(target) => gmail::apply_account_keys(name, target, settings, problems),
            _ if gmail::sets_gmail_keys(settings) => problems.push(Error::config_of_account(
                &["gmail_label", "gmail_archive"],
                format!(
                    "account \"{name}\": gmail_label and gmail_archive apply only to a Gmail \
                     destination"
                ),
            )),
            _ => {}
        }
        return Some(Some(delivery));
    }
    if gmail::sets_gmail_keys(settings) {
        problems.push(Error::config_of_account(
            &["gmail_label", "gmail_archive"],
            format!(
                "account \"{name}\": gmail_label and gmail_archive apply only with deliver_to \
                 naming a Gmail destination"
            ),
        ));
    }
    let delivery = match (&settings.maildir, &settings.mbox, &settings.mda) {
        (Some(dir), None, None) => {
            let folder = match &settings.folder {
                Some(folder) => match check_folder(folder) {
                    Ok(()) => Some(folder.clone()),
                    Err(error) => {
                        problems.push(error);
                        return None;
                    }
                },
                None => None,
            };
            Some(Some(Delivery::Maildir {
                root: expand_home(dir, env),
                folder,
            }))
        }
        (None, Some(file), None) => Some(Some(Delivery::Mbox(expand_home(file, env)))),
        (None, None, Some(command)) if !command.trim().is_empty() => Some(Some(Delivery::Mda {
            command: command.clone(),
            timeout,
        })),
        (None, None, None) => Some(None),
        _ => {
            problems.push(Error::config_of_account(
                DESTINATION_KEYS,
                format!(
                    "account \"{name}\" sets more than one of maildir, mbox and mda (or an empty \
                 mda); choose one"
                ),
            ));
            None
        }
    };
    if settings.folder.is_some() && settings.maildir.is_none() {
        problems.push(Error::config_of_account(
            &["folder"],
            format!("account \"{name}\": folder needs maildir"),
        ));
    }
    delivery
}

/// What a fetch of account `name` may do; `None` when a setting is wrong, the problems pushed
/// onto `problems`.
fn resolve_policy(
    name: &str,
    settings: &Settings,
    timeout: Duration,
    problems: &mut Vec<Error>,
) -> Option<Policy> {
    let delete = delete_setting(name, settings, problems);
    let max_size = octets_setting(&settings.max_size, "max_size", problems);
    let max_bytes = octets_setting(&settings.max_bytes, "max_bytes", problems);
    let delete_oversized = check_fetch_limits(name, settings, delete, problems);
    let (Some(delete), Ok(max_size), Ok(max_bytes)) = (delete, max_size, max_bytes) else {
        return None;
    };
    Some(Policy {
        delete,
        max_size,
        delete_oversized,
        keep_days: settings.keep_days,
        limit: settings.limit,
        max_bytes,
        filter: settings
            .filter
            .clone()
            .filter(|f| !f.trim().is_empty())
            .map(|command| Command { command, timeout }),
    })
}

/// How the daemon polls the account and what runs after new mail; a bad interval is a problem
/// and the default stands in for it.
fn resolve_schedule(settings: &Settings, timeout: Duration, problems: &mut Vec<Error>) -> Schedule {
    let interval = match &settings.interval {
        Some(interval) => interval.duration_of("interval").unwrap_or_else(|error| {
            problems.push(error);
            account::DEFAULT_INTERVAL
        }),
        None => account::DEFAULT_INTERVAL,
    };
    Schedule {
        interval,
        on_new_mail: settings
            .on_new_mail
            .clone()
            .filter(|command| !command.trim().is_empty())
            .map(|command| Command { command, timeout }),
    }
}

/// The problem of a required `key` that no layer sets, naming account `name` if there is one.
fn missing_setting(name: Option<&str>, key: &'static str) -> Error {
    let message =
        |whom: &str| format!("no {key} given{whom} (use --{key} or the config key {key})");
    match name {
        Some(name) => {
            Error::config_of_account(&[key], message(&format!(" for account \"{name}\"")))
        }
        None => Error::config_about(&[key], message("")),
    }
}

/// The server's host name, brackets removed; `None` when missing, a problem pushed either way
/// when it is missing or not a host name.
fn resolve_host(
    name: Option<&str>,
    settings: &Settings,
    problems: &mut Vec<Error>,
) -> Option<String> {
    let host = settings
        .host
        .as_deref()
        .map(|host| crate::transport::dial::unbracket(host).to_string())
        .filter(|h| !h.is_empty());
    match &host {
        None => problems.push(missing_setting(name, "host")),
        Some(host)
            if host
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '/') =>
        {
            problems.push(Error::config_about(
                &["host"],
                format!("the host name {host:?} is not valid"),
            ))
        }
        Some(_) => {}
    }
    host
}

/// The user name; `None` when missing, a problem pushed either way when it is missing or holds
/// spaces or control characters.
fn resolve_user(
    name: Option<&str>,
    settings: &Settings,
    problems: &mut Vec<Error>,
) -> Option<String> {
    let user = settings.user.clone().filter(|u| !u.is_empty());
    match &user {
        None => problems.push(missing_setting(name, "user")),
        Some(user) if user.chars().any(|c| c.is_whitespace() || c.is_control()) => {
            problems.push(Error::config_about(
                &["user"],
                format!("the user name {user:?} contains spaces or control characters"),
            ))
        }
        Some(_) => {}
    }
    user
}

/// How the server's certificate is checked: `ca_file`, `insecure`, `fingerprint`, none of
/// which means anything without TLS.
fn certificate_policy(
    settings: &Settings,
    tls: TlsMode,
    env: &HashMap<String, String>,
    problems: &mut Vec<Error>,
) -> CertificatePolicy {
    let mut problem =
        |keys: &[&'static str], message: String| problems.push(Error::config_about(keys, message));
    let insecure = settings.insecure.unwrap_or(false);
    let ca_file = settings.ca_file.as_deref().map(|p| expand_home(p, env));
    if insecure && tls == TlsMode::None {
        problem(
            &["insecure", "tls"],
            "insecure has no meaning with tls = \"none\" (--insecure, --tls none)".into(),
        );
    }
    let fingerprint = settings.fingerprint.as_ref().and_then(|text| {
        let parsed = crate::transport::parse_fingerprint(text);
        if parsed.is_none() {
            problem(
                &["fingerprint"],
                format!(
                    "the fingerprint {text:?} is not a SHA-256 fingerprint: 64 hex digits, \
                 colons allowed, as popget info or openssl x509 -fingerprint -sha256 print it"
                ),
            );
        }
        parsed
    });
    if settings.fingerprint.is_some() && tls == TlsMode::None {
        problem(
            &["fingerprint", "tls"],
            "fingerprint has no meaning with tls = \"none\" (--fingerprint, --tls none)".into(),
        );
    }
    CertificatePolicy {
        ca_file,
        insecure,
        fingerprint,
    }
}

/// The per-command timeout and the session's [`Limits`]; a zero time or a bad size is a
/// problem, and the default stands in for it.
fn resolve_timeouts(settings: &Settings, problems: &mut Vec<Error>) -> (Duration, Limits) {
    let timeout = settings.timeout.unwrap_or(DEFAULT_TIMEOUT);
    if timeout == 0 {
        problems.push(Error::config_about(
            &["timeout"],
            "the timeout must be at least 1 second",
        ));
    }
    let session_timeout = match settings.session_timeout {
        Some(0) => {
            problems.push(Error::config_about(
                &["session_timeout"],
                "session_timeout must be at least 1 second",
            ));
            crate::transport::DEFAULT_SESSION_TIMEOUT
        }
        Some(secs) => Duration::from_secs(secs),
        None => crate::transport::DEFAULT_SESSION_TIMEOUT,
    };
    let max_listing = match &settings.max_listing {
        Some(size) => size.octets_of("max_listing").unwrap_or_else(|error| {
            problems.push(error);
            crate::pop3::DEFAULT_MAX_LISTING
        }),
        None => crate::pop3::DEFAULT_MAX_LISTING,
    };
    let limits = Limits {
        session_timeout,
        max_listing,
    };
    (Duration::from_secs(timeout), limits)
}

/// The proxy to connect through, if any; an unreadable proxy URL is a problem.
fn resolve_proxy(
    settings: &Settings,
    problems: &mut Vec<Error>,
) -> Option<crate::transport::proxy::Proxy> {
    match settings
        .proxy
        .as_deref()
        .map(crate::transport::proxy::Proxy::parse)
    {
        Some(Ok(proxy)) => Some(proxy),
        Some(Err(why)) => {
            problems.push(Error::config_about(
                &["proxy"],
                format!("invalid proxy URL: {why}"),
            ));
            None
        }
        None => None,
    }
}

/// Checks `gssapi_service` and `gssapi_host`: each must be one part of a Kerberos principal.
fn check_gssapi_names(settings: &Settings, problems: &mut Vec<Error>) {
    for (key, value) in [
        ("gssapi_service", &settings.gssapi_service),
        ("gssapi_host", &settings.gssapi_host),
    ] {
        if let Some(value) = value.as_deref().filter(|v| !valid_principal_part(v)) {
            problems.push(Error::config_about(
                &[key],
                format!(
                    "{key} {value:?} is not valid: it must be one name without spaces, control \
                 characters, / or @"
                ),
            ));
        }
    }
}

/// The login method and the resolved `[accounts.NAME.oauth]` table, which must agree.
fn resolve_login(
    name: Option<&str>,
    settings: &Settings,
    problems: &mut Vec<Error>,
) -> (AuthMethod, Option<ResolvedOAuth>) {
    let mut auth = settings.auth.unwrap_or(AuthMethod::Auto);
    if auth == AuthMethod::Gssapi && !cfg!(feature = "gssapi") {
        problems.push(auth::gssapi_not_built_in());
    }
    let oauth = match (&settings.oauth, name) {
        (Some(table), Some(name)) => match table.resolve(name) {
            Ok(resolved) => Some(resolved),
            Err(error) => {
                problems.push(Error::OAuth(error));
                None
            }
        },
        _ => None,
    };
    if settings.oauth.is_some() {
        match settings.auth {
            // The table says how this account logs in.
            None => auth = AuthMethod::Xoauth2,
            Some(AuthMethod::Xoauth2 | AuthMethod::Oauthbearer) => {}
            Some(other) => problems.push(Error::config_about(
                &["auth"],
                format!(
                    "auth = \"{}\" does not log in with the [accounts.{}.oauth] table; set auth \
                 to \"xoauth2\" or \"oauthbearer\", or remove the table",
                    other.name(),
                    name.unwrap_or("NAME")
                ),
            )),
        }
    }
    (auth, oauth)
}

/// Whether account `name` deletes what it fetched, from `keep` and `delete`; `None` when both
/// are set, the problem pushed onto `problems`.
fn delete_setting(name: &str, settings: &Settings, problems: &mut Vec<Error>) -> Option<bool> {
    match (settings.keep, settings.delete) {
        (Some(true), Some(true)) => {
            problems.push(Error::config_of_account(
                &["keep", "delete"],
                format!("account \"{name}\" sets both keep and delete"),
            ));
            None
        }
        (_, Some(delete)) => Some(delete),
        (Some(keep), None) => Some(!keep),
        (None, None) => Some(false),
    }
}

/// A size setting in octets, `Ok(None)` when unset; `Err` when its value is not a size, the
/// problem pushed onto `problems`.
fn octets_setting(
    setting: &Option<SizeSetting>,
    key: &'static str,
    problems: &mut Vec<Error>,
) -> Result<Option<u64>, ()> {
    match setting {
        Some(size) => match size.octets_of(key) {
            Ok(octets) => Ok(Some(octets)),
            Err(error) => {
                problems.push(error);
                Err(())
            }
        },
        None => Ok(None),
    }
}

/// Checks the limits that depend on other settings (`delete_oversized`, `keep_days`, `limit`)
/// and returns `delete_oversized`.
fn check_fetch_limits(
    name: &str,
    settings: &Settings,
    delete: Option<bool>,
    problems: &mut Vec<Error>,
) -> bool {
    let delete_oversized = settings.delete_oversized.unwrap_or(false);
    if delete_oversized && settings.max_size.is_none() {
        problems.push(Error::config_of_account(
            &["delete_oversized"],
            format!("account \"{name}\": delete_oversized needs max_size"),
        ));
    }
    if settings.keep_days.is_some() && delete == Some(true) {
        problems.push(Error::config_of_account(
            &["keep_days", "delete"],
            format!("account \"{name}\": keep_days and delete contradict each other; choose one"),
        ));
    }
    if settings.limit == Some(0) {
        problems.push(Error::config_about(&["limit"], "limit must be at least 1"));
    }
    delete_oversized
}
