//! `popget config check` without the printing: every problem of a configuration text, each at
//! its line.

use std::collections::{HashMap, HashSet};

use serde::de::IntoDeserializer;
use serde::Deserialize;
use toml_edit::{ImDocument, InlineTable, Item, TableLike, Value};

use super::{ConfigFile, Settings};
use crate::config;
use crate::credentials::oauth::OAuthError;
use crate::error::Error;

/// One problem in the configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based.
    pub line: usize,
    pub message: String,
}

/// What [`check_text`] found.
#[derive(Debug, Default)]
pub struct Checked {
    pub problems: Vec<Problem>,
    /// Accounts (templates not counted) and templates.
    pub accounts: usize,
    pub templates: usize,
    /// The line of the first `password` key (or OAuth `client_secret`): the file must then be
    /// private.
    pub password_line: Option<usize>,
}

/// One table of settings as checked: what could be read, and where each key is.
struct TableCheck {
    settings: Settings,
    /// Every key with its line, in file order.
    keys: Vec<(String, usize)>,
    /// The keys that had a problem, which settings therefore lacks.
    dropped: Vec<String>,
}

/// An account's name, the line of its table header, and its table as checked.
type AccountTable = (String, usize, TableCheck);

/// Checks configuration text: TOML syntax (only the first error can be found), then each key of
/// each table on its own (unknown keys, wrong types), then each account resolved as `fetch`
/// would resolve it (inheritance, missing or contradictory settings, bad values). The known keys
/// and the rules are those of [`Settings`] and [`config::select_accounts`]; nothing is listed
/// twice.
pub fn check_text(text: &str, env: &HashMap<String, String>) -> Checked {
    let document = match ImDocument::parse(text) {
        Ok(document) => document,
        Err(error) => {
            return Checked {
                problems: vec![Problem {
                    line: error.span().map_or(1, |span| line_at(text, span.start)),
                    message: one_line(error.message()),
                }],
                ..Checked::default()
            }
        }
    };
    let key_line = |table: &dyn TableLike, key: &str, fallback: usize| {
        table
            .key(key)
            .and_then(|k| k.span())
            .map_or(fallback, |span| line_at(text, span.start))
    };
    let mut problems = Vec::new();
    let (defaults, accounts) = check_tables(document.as_table(), &key_line, &mut problems);
    let mut checked = Checked {
        password_line: first_password_line(defaults.as_ref(), &accounts),
        ..Checked::default()
    };
    check_accounts(
        defaults.as_ref(),
        &accounts,
        env,
        &mut checked,
        &mut problems,
    );
    // Whatever the checks above let through must also pass the loader itself.
    if problems.is_empty() {
        problems.extend(loader_problem(text));
    }
    problems.sort_by_key(|problem| problem.line);
    checked.problems = problems;
    checked
}

/// The line of byte `offset` in `text`, 1-based.
pub(super) fn line_at(text: &str, offset: usize) -> usize {
    // Counted in bytes: a span of the parser's error need not fall on a character boundary.
    let before = text.as_bytes().get(..offset).unwrap_or(text.as_bytes());
    before.iter().filter(|&&b| b == b'\n').count() + 1
}

/// Checks each table of the document on its own: `[defaults]`, each `[accounts.NAME]`, and
/// whatever else is there (a problem).
fn check_tables(
    root: &dyn TableLike,
    key_line: &dyn Fn(&dyn TableLike, &str, usize) -> usize,
    problems: &mut Vec<Problem>,
) -> (Option<TableCheck>, Vec<AccountTable>) {
    let mut defaults: Option<TableCheck> = None;
    let mut accounts: Vec<AccountTable> = Vec::new();
    for (key, item) in root.iter() {
        let line = key_line(root, key, 1);
        match (key, item.as_table_like()) {
            ("defaults", Some(table)) => {
                defaults = Some(check_table(table, true, key_line, line, problems));
            }
            ("accounts", Some(table)) => {
                for (name, item) in table.iter() {
                    let line = key_line(table, name, line);
                    match item.as_table_like() {
                        Some(settings) => {
                            let checked = check_table(settings, false, key_line, line, problems);
                            accounts.push((name.to_string(), line, checked));
                        }
                        None => problems.push(Problem {
                            line,
                            message: format!("accounts.{name} must be a table: [accounts.{name}]"),
                        }),
                    }
                }
            }
            ("defaults" | "accounts", None) => problems.push(Problem {
                line,
                message: format!("{key} must be a table: [{key}] or [accounts.NAME]"),
            }),
            _ => problems.push(Problem {
                line,
                message: format!(
                    "unknown table or key {key:?}: the file holds [defaults] and \
                     [accounts.NAME] tables"
                ),
            }),
        }
    }
    (defaults, accounts)
}

/// The line of the first `password` or `client_secret` key, `[defaults]` first.
fn first_password_line(defaults: Option<&TableCheck>, accounts: &[AccountTable]) -> Option<usize> {
    defaults
        .into_iter()
        .chain(accounts.iter().map(|(_, _, table)| table))
        .flat_map(|table| &table.keys)
        .find(|(key, _)| key == "password" || key == "oauth.client_secret")
        .map(|(_, line)| *line)
}

/// Resolves each account as `fetch` would, counting accounts and templates in `checked` and
/// pushing each problem, once, at its line.
fn check_accounts(
    defaults: Option<&TableCheck>,
    accounts: &[AccountTable],
    env: &HashMap<String, String>,
    checked: &mut Checked,
    problems: &mut Vec<Problem>,
) {
    let config = ConfigFile {
        path: None,
        defaults: defaults.map_or_else(Settings::default, |table| table.settings.clone()),
        accounts: accounts
            .iter()
            .map(|(name, _, table)| (name.clone(), table.settings.clone()))
            .collect(),
        ..ConfigFile::default()
    };
    let mut seen = HashSet::new();
    for (name, header, table) in accounts {
        let inherit_line = table
            .keys
            .iter()
            .find(|(key, _)| key == "inherit")
            .map_or(*header, |(_, line)| *line);
        let ancestry = match config.ancestry(name) {
            Ok(ancestry) => ancestry,
            Err(error) => {
                // Reported where the chain breaks: at the account inheriting an unknown one, or
                // at each account of a cycle; accounts inheriting a broken chain are skipped.
                if breaks_chain(&config, name) {
                    problems.push(Problem {
                        line: inherit_line,
                        message: error.to_string(),
                    });
                }
                continue;
            }
        };
        if ConfigFile::is_template(&table.settings) {
            checked.templates += 1;
            continue;
        }
        checked.accounts += 1;
        let names: Vec<&str> = ancestry.iter().map(|(n, _)| *n).collect();
        for error in config::account_problems(&config, name, env) {
            let Some(problem) = locate_problem(name, *header, &names, defaults, accounts, error)
            else {
                continue;
            };
            if seen.insert((problem.line, problem.message.clone())) {
                problems.push(problem);
            }
        }
    }
}

/// Where `error` of account `name` (which inherits `names`, itself first) is reported, or
/// `None` when it only follows from a key already reported.
fn locate_problem(
    name: &str,
    header: usize,
    names: &[&str],
    defaults: Option<&TableCheck>,
    accounts: &[AccountTable],
    error: Error,
) -> Option<Problem> {
    let table_of = |name: &str| accounts.iter().find(|(n, _, _)| n == name);
    let keys = keys_of(&error);
    let about = |key: &String| keys.contains(key);
    // A key with a problem was left out, and what follows from that alone (no host, no
    // destination) is not news: the key's own problem is reported.
    let defaults_dropped = defaults.map_or(&[][..], |table| &table.dropped[..]);
    let mut dropped = names
        .iter()
        .filter_map(|n| table_of(n).map(|(_, _, t)| &t.dropped[..]))
        .chain([defaults_dropped])
        .flatten();
    if dropped.any(about) {
        return None;
    }
    // The line: the first key the problem is about, looked for in the account's own table,
    // then in what it inherits, then in [defaults]; a missing key of an OAuth table inside
    // that table; else the account's header. A value of [defaults] is wrong for every account
    // using it: it is reported once, about [defaults], not once per account.
    let account_keys = || {
        names
            .iter()
            .filter_map(|n| table_of(n).map(|(_, _, t)| &t.keys[..]))
            .flatten()
    };
    let own_or_inherited = account_keys().find(|(key, _)| about(key)).or_else(|| {
        let in_oauth = keys.iter().any(|key| key.starts_with(OAUTH_PREFIX));
        account_keys().find(|(key, _)| in_oauth && key.starts_with(OAUTH_PREFIX))
    });
    let defaults_keys = defaults.map_or(&[][..], |table| &table.keys[..]);
    let in_defaults = defaults_keys.iter().find(|(key, _)| about(key));
    let (line, message) = match (own_or_inherited, in_defaults) {
        (Some((_, line)), _) => (*line, with_account(name, &error)),
        (None, Some((_, line))) => (*line, error.to_string()),
        (None, None) => (header, with_account(name, &error)),
    };
    Some(Problem { line, message })
}

/// How the keys of an `[accounts.NAME.oauth]` table are named in a [`TableCheck`].
const OAUTH_PREFIX: &str = "oauth.";

/// The keys a problem is about, as a [`TableCheck`] names them.
fn keys_of(error: &Error) -> Vec<String> {
    match error {
        Error::Config(error) => error.keys().iter().map(|key| key.to_string()).collect(),
        Error::OAuth(OAuthError::Config { key, .. }) => vec![format!("{OAUTH_PREFIX}{key}")],
        _ => Vec::new(),
    }
}

/// The loader's own complaint about `text`, if any, at the line where it was found.
fn loader_problem(text: &str) -> Option<Problem> {
    let error = ConfigFile::parse(text).err()?;
    Some(Problem {
        line: error.span().map_or(1, |span| line_at(text, span.start)),
        message: one_line(error.message()),
    })
}

/// The message of `error`, behind `account "NAME": ` unless it already says which account it
/// is about.
fn with_account(name: &str, error: &Error) -> String {
    match error {
        Error::Config(error) if error.names_account() => error.to_string(),
        _ => format!("account \"{name}\": {error}"),
    }
}

/// Reads one table key by key, so that every unknown key and wrong type is found, each at its
/// own line. In `[defaults]`, `inherit` and `template` are refused.
fn check_table(
    table: &dyn TableLike,
    in_defaults: bool,
    key_line: &dyn Fn(&dyn TableLike, &str, usize) -> usize,
    header: usize,
    problems: &mut Vec<Problem>,
) -> TableCheck {
    let mut good = InlineTable::new();
    let mut keys = Vec::new();
    let mut dropped = Vec::new();
    for (key, item) in table.iter() {
        let line = key_line(table, key, header);
        keys.push((key.to_string(), line));
        if in_defaults && key == "oauth" {
            // Not dropped: the accounts' own tables are checked as if it were not there.
            problems.push(Problem {
                line,
                message: config::DEFAULTS_NO_OAUTH.to_string(),
            });
            continue;
        }
        let mut problem = |message: String| {
            problems.push(Problem { line, message });
            dropped.push(key.to_string());
        };
        if in_defaults && matches!(key, "inherit" | "template") {
            problem(config::DEFAULTS_ONLY_ACCOUNTS.to_string());
            continue;
        }

        if key == "oauth" {
            if let Some(oauth) = item.as_table_like() {
                // Each key of the table at its own line, as `oauth.KEY`.
                let good_oauth =
                    check_oauth(oauth, key_line, line, problems, &mut keys, &mut dropped);
                good.insert(key, Value::InlineTable(good_oauth));
                continue;
            }
        }
        match check_value(key, item) {
            Ok(value) => {
                good.insert(key, value);
            }
            Err(message) => problem(message),
        }
    }
    let settings = settings_of_good(good, header, &keys, &mut dropped, problems);
    TableCheck {
        settings,
        keys,
        dropped,
    }
}

/// The settings the `good` keys of a table make together; if even they do not, a problem at
/// the table's `header`, and every key of the table dropped.
fn settings_of_good(
    good: InlineTable,
    header: usize,
    keys: &[(String, usize)],
    dropped: &mut Vec<String>,
    problems: &mut Vec<Problem>,
) -> Settings {
    match Settings::deserialize(Value::InlineTable(good).into_deserializer()) {
        Ok(settings) => settings,
        Err(error) => {
            problems.push(Problem {
                line: header,
                message: one_line(error.message()),
            });
            dropped.extend(keys.iter().map(|(key, _)| key.clone()));
            Settings::default()
        }
    }
}

/// The value of setting `key` if it is known and of the right type, else what is wrong.
fn check_value(key: &str, item: &Item) -> Result<Value, String> {
    let Ok(value) = item.clone().into_value() else {
        return Err(format!("{key}: not a setting"));
    };
    let mut one = InlineTable::new();
    one.insert(key, value.clone());
    match Settings::deserialize(Value::InlineTable(one).into_deserializer()) {
        Ok(_) => Ok(value),
        Err(error) => Err(describe_key_error(key, error.message())),
    }
}

/// Reads `[accounts.NAME.oauth]` key by key: each unknown key or wrong type is a problem at its
/// own line (`oauth.KEY: ...`), and the keys that can be read are kept.
fn check_oauth(
    table: &dyn TableLike,
    key_line: &dyn Fn(&dyn TableLike, &str, usize) -> usize,
    header: usize,
    problems: &mut Vec<Problem>,
    keys: &mut Vec<(String, usize)>,
    dropped: &mut Vec<String>,
) -> InlineTable {
    let mut good = InlineTable::new();
    for (key, item) in table.iter() {
        let line = key_line(table, key, header);
        keys.push((format!("{OAUTH_PREFIX}{key}"), line));
        let mut problem = |message: String| {
            problems.push(Problem { line, message });
            dropped.push(format!("{OAUTH_PREFIX}{key}"));
        };
        let Ok(value) = item.clone().into_value() else {
            problem(format!("oauth.{key}: not a setting"));
            continue;
        };
        let mut one = InlineTable::new();
        one.insert(key, value.clone());
        match crate::credentials::oauth::OAuthConfig::deserialize(
            Value::InlineTable(one).into_deserializer(),
        ) {
            Ok(_) => {
                good.insert(key, value);
            }
            Err(error) => {
                let message = error.message();
                let known = serde_aux::serde_introspection::serde_introspect::<
                    crate::credentials::oauth::OAuthConfig,
                >();
                if known.contains(&key) {
                    problem(format!("oauth.{key}: {}", one_line(message)));
                } else {
                    problem(match nearest(key, known) {
                        Some(guess) => {
                            format!("unknown key oauth.{key} (did you mean {guess:?}?)")
                        }
                        None => format!("unknown key oauth.{key}"),
                    });
                }
            }
        }
    }
    good
}

/// serde's words for a key that could not be read, made about the configuration file: unknown
/// keys with the nearest known one, sizes with their forms.
pub(crate) fn describe_key_error(key: &str, message: &str) -> String {
    let known = super::known_keys();
    if !known.contains(&key) {
        return match nearest(key, known) {
            Some(guess) => format!("unknown key {key:?} (did you mean {guess:?}?)"),
            None => format!("unknown key {key:?}"),
        };
    }
    if SIZE_KEYS.contains(&key) {
        return format!(
            "{key}: expected a size: a number of octets or a string like \"20M\" (K, M and G \
             are powers of 1024)"
        );
    }
    format!("{key}: {}", one_line(message))
}

/// The keys whose value is a [`super::SizeSetting`].
const SIZE_KEYS: [&str; 3] = ["max_size", "max_bytes", "max_listing"];

/// The known key closest to a misspelt one, if it is close (a typo or two).
fn nearest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|candidate| (strsim::levenshtein(key, candidate), *candidate))
        .filter(|(distance, _)| *distance <= 2.max(key.len() / 4))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Whether `name`'s own `inherit` is where its chain breaks: it names no account, or it leads
/// back to `name`.
fn breaks_chain(config: &ConfigFile, name: &str) -> bool {
    let mut current = name;
    for _ in 0..=config.accounts.len() {
        let Some(parent) = config.account(current).and_then(|s| s.inherit.as_deref()) else {
            return false;
        };
        if config.account(parent).is_none() {
            return current == name;
        }
        if parent == name {
            return true;
        }
        current = parent;
    }
    false
}

fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> HashMap<String, String> {
        HashMap::from([("HOME".to_string(), "/home/me".to_string())])
    }

    fn problems(text: &str) -> Vec<(usize, String)> {
        check_text(text, &env())
            .problems
            .into_iter()
            .map(|p| (p.line, p.message))
            .collect()
    }

    #[test]
    fn a_good_file_has_no_problems() {
        let checked = check_text(
            "[defaults]\ntimeout = 30\n\n[accounts.provider]\ntemplate = true\n\
             host = \"pop.example\"\n\n[accounts.me]\ninherit = \"provider\"\nuser = \"me\"\n\
             maildir = \"~/Mail\"\n",
            &env(),
        );
        assert_eq!(checked.problems, []);
        assert_eq!((checked.accounts, checked.templates), (1, 1));
        assert_eq!(checked.password_line, None);
    }

    #[test]
    fn every_key_problem_is_reported_at_its_line() {
        let found = problems(
            "[defaults]\n\
             timout = 30\n\
             inherit = \"x\"\n\
             \n\
             [accounts.a]\n\
             host = \"h\"\n\
             port = \"995\"\n\
             pasword = \"p\"\n\
             tls = \"sometimes\"\n\
             max_size = true\n\
             [surprise]\n",
        );
        let lines: Vec<usize> = found.iter().map(|(line, _)| *line).collect();
        assert_eq!(lines, [2, 3, 5, 5, 7, 8, 9, 10, 11], "{found:#?}");
        let message = |i: usize| found[i].1.as_str();
        assert!(message(0).contains("unknown key \"timout\" (did you mean \"timeout\"?)"));
        assert_eq!(message(1), config::DEFAULTS_ONLY_ACCOUNTS);
        // Resolved without the keys in error: what else is wrong is still found, all of it.
        assert!(message(2).starts_with("no user given for account \"a\""));
        assert!(message(3).starts_with("no destination for account \"a\""));
        assert!(
            message(4).starts_with("port: invalid type"),
            "{}",
            message(4)
        );
        assert!(message(5).contains("did you mean \"password\""));
        assert!(message(6).contains("unknown variant `sometimes`"));
        assert!(message(7).contains("a string like \"20M\""));
        assert!(message(8).contains("unknown table or key \"surprise\""));
    }

    #[test]
    fn every_value_problem_of_an_account_is_reported() {
        // Five bad values in one account are five problems, not one line.
        let found = problems(
            "[defaults]
             timeout = 0
             [accounts.a]
             host = \"h\"
             user = \"u\"
             mbox = \"b\"
             fingerprint = \"SHA256:00\"
             session_timeout = 0
             max_listing = \"lots\"
             max_size = \"20X\"
             limit = 0
             keep = true
             delete = true
             [accounts.b]
             host = \"h\"
             user = \"u\"
             mbox = \"b\"
",
        );
        let lines: Vec<usize> = found.iter().map(|(line, _)| *line).collect();
        assert_eq!(lines, [2, 7, 8, 9, 10, 11, 12], "{found:#?}");
        // The [defaults] value is reported once, for every account using it.
        assert_eq!(found[0].1, "the timeout must be at least 1 second");
        assert!(found[1].1.starts_with("account \"a\": the fingerprint"));
        assert!(found[2].1.starts_with("account \"a\": session_timeout"));
        assert!(found[3].1.starts_with("account \"a\": max_listing"));
        assert!(found[4].1.starts_with("account \"a\": max_size"));
        assert!(found[5].1.starts_with("account \"a\": limit"));
        assert!(found[6].1.contains("both keep and delete"), "{found:?}");
    }

    #[test]
    fn what_follows_from_a_key_in_error_is_not_reported_again() {
        let found = problems(
            "[accounts.a]\nhost = 5\nuser = \"u\"\nmaildir = [\"m\"]\n[accounts.b]\n\
             inherit = \"a\"\n",
        );
        let lines: Vec<usize> = found.iter().map(|(line, _)| *line).collect();
        assert_eq!(
            lines,
            [2, 4],
            "no host and no destination follow: {found:#?}"
        );
    }

    #[test]
    fn a_syntax_error_is_reported_at_its_line() {
        let found = problems("[accounts.a]\nhost = \"h\"\nuser = \n");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, 3, "{found:?}");
        let found = problems("[accounts.a]\nhost = \"h\"\nhost = \"i\"\n");
        assert_eq!(found[0].0, 3, "{found:?}");
        assert!(found[0].1.contains("duplicate key"), "{found:?}");
    }

    #[test]
    fn each_account_is_resolved_and_its_problem_located() {
        let found = problems(
            "[defaults]\n\
             timeout = 0\n\
             [accounts.nohost]\n\
             user = \"u\"\n\
             maildir = \"m\"\n\
             [accounts.both]\n\
             host = \"h\"\n\
             user = \"u\"\n\
             maildir = \"m\"\n\
             mbox = \"b\"\n\
             timeout = 5\n\
             [accounts.print]\n\
             host = \"h\"\n\
             user = \"u\"\n\
             fingerprint = \"SHA256:nope\"\n\
             mbox = \"b\"\n\
             [accounts.keepdel]\n\
             host = \"h\"\n\
             user = \"u\"\n\
             mbox = \"b\"\n\
             keep = true\n\
             delete = true\n\
             timeout = 5\n\
             [accounts.slow]\n\
             host = \"h\"\n\
             user = \"u\"\n\
             mbox = \"b\"\n",
        );
        let lines: Vec<usize> = found.iter().map(|(line, _)| *line).collect();
        assert_eq!(lines, [2, 3, 9, 15, 21], "{found:#?}");
        assert!(
            found[0].1.contains("timeout must be at least 1"),
            "{found:?}"
        );
        assert!(found[1].1.contains("no host given for account \"nohost\""));
        assert!(found[2]
            .1
            .contains("more than one of maildir, mbox and mda"));
        assert!(found[3].1.starts_with("account \"print\": the fingerprint"));
        assert!(found[4].1.contains("both keep and delete"));
    }

    #[test]
    fn inheritance_problems_are_reported_where_the_chain_breaks() {
        let found = problems(
            "[accounts.a]\n\
             inherit = \"b\"\n\
             [accounts.b]\n\
             inherit = \"a\"\n\
             [accounts.c]\n\
             inherit = \"nobody\"\n\
             [accounts.d]\n\
             inherit = \"c\"\n\
             [accounts.t]\n\
             template = true\n",
        );
        assert_eq!(
            found,
            [
                (
                    2,
                    "accounts inherit from each other in a cycle: a -> b -> a".to_string()
                ),
                (
                    4,
                    "accounts inherit from each other in a cycle: b -> a -> b".to_string()
                ),
                (
                    6,
                    "account \"c\" inherits \"nobody\", which is not an account".to_string()
                ),
            ]
        );
    }

    #[test]
    fn a_problem_inherited_is_located_in_the_table_it_comes_from() {
        let found = problems(
            "[accounts.provider]\n\
             template = true\n\
             host = \"h\"\n\
             session_timeout = 0\n\
             [accounts.me]\n\
             inherit = \"provider\"\n\
             user = \"u\"\n\
             mbox = \"b\"\n",
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, 4);
        assert!(found[0].1.starts_with("account \"me\": session_timeout"));
    }

    #[test]
    fn oauth_problems_are_reported_at_the_key_in_the_table() {
        let found = problems(
            "[defaults]\n\
             oauth = { provider = \"google\" }\n\
             [accounts.gmail]\n\
             host = \"pop.gmail.com\"\n\
             user = \"me@gmail.com\"\n\
             mbox = \"b\"\n\
             [accounts.gmail.oauth]\n\
             provider = \"google\"\n\
             clientid = \"x\"\n\
             [accounts.ms]\n\
             host = \"outlook.office365.com\"\n\
             user = \"me@example.com\"\n\
             mbox = \"b\"\n\
             auth = \"plain\"\n\
             [accounts.ms.oauth]\n\
             client_id = \"id\"\n\
             scopes = \"pop\"\n\
             authorize_url = \"https://id.example/a\"\n\
             token_url = \"http://id.example/t\"\n",
        );
        let lines: Vec<usize> = found.iter().map(|(line, _)| *line).collect();
        // A missing key is reported inside the table (at the first key its message names).
        assert_eq!(lines, [2, 8, 9, 14, 19], "{found:?}");
        assert!(found[0].1.contains("not in [defaults]"), "{found:?}");
        assert!(found[1].1.contains("client_id is missing"), "{found:?}");
        assert!(
            found[2]
                .1
                .contains("unknown key oauth.clientid (did you mean \"client_id\"?)"),
            "{found:?}"
        );
        assert!(
            found[3].1.contains("auth = \"plain\" does not log in"),
            "{found:?}"
        );
        assert!(found[4].1.contains("token_url must use https"), "{found:?}");
    }

    #[test]
    fn a_client_secret_makes_the_file_private() {
        let checked = check_text(
            "[accounts.a]\nhost = \"h\"\nuser = \"u\"\nmbox = \"b\"\n[accounts.a.oauth]\n\
             provider = \"google\"\nclient_id = \"x\"\nclient_secret = \"s\"\n",
            &env(),
        );
        assert_eq!(checked.problems, []);
        assert_eq!(checked.password_line, Some(8));
        let file = ConfigFile::parse(
            "[accounts.a]\nhost = \"h\"\n[accounts.a.oauth]\nclient_secret = \"s\"\n",
        )
        .unwrap();
        assert!(file.password_key);
    }

    #[test]
    fn finds_the_password_line() {
        let checked = check_text(
            "[accounts.a]\nhost = \"h\"\nuser = \"u\"\nmbox = \"b\"\npassword = \"s\"\n",
            &env(),
        );
        assert_eq!(checked.password_line, Some(5));
    }

    #[test]
    fn suggests_near_keys_only() {
        assert_eq!(nearest("pasword", &["password", "port"]), Some("password"));
        assert_eq!(nearest("colour", &["password", "port"]), None);
    }
}
