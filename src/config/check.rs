//! `popget config check` without the printing: every problem of a configuration text, each at
//! its line.

use std::collections::{HashMap, HashSet};

use super::document::{self, line_at, one_line, AccountTable, Document, TableRead, OAUTH_PREFIX};
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

/// Checks configuration text: TOML syntax (only the first error can be found), then each key of
/// each table on its own (unknown keys, wrong types) as loading reads them, then each account
/// resolved as `fetch` would resolve it (inheritance, missing or contradictory settings, bad
/// values). The known keys and the rules are those of [`Settings`] and
/// [`config::select_accounts`]; nothing is listed twice.
pub fn check_text(text: &str, env: &HashMap<String, String>) -> Checked {
    let read = match document::read(text) {
        Ok(read) => read,
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
    let mut problems = read.problems.clone();
    problems.extend(
        read.defaults
            .iter()
            .flat_map(|table| table.problems.clone()),
    );
    problems.extend(
        read.accounts
            .iter()
            .flat_map(|(_, _, table)| table.problems.clone()),
    );
    problems.extend(
        read.destinations
            .iter()
            .flat_map(|(_, _, table)| table.problems.clone()),
    );
    let mut checked = Checked {
        password_line: read.password_line(),
        ..Checked::default()
    };
    check_accounts(&read, env, &mut checked, &mut problems);
    problems.sort_by_key(|problem| problem.line);
    checked.problems = problems;
    checked
}

/// Resolves each account as `fetch` would, counting accounts and templates in `checked` and
/// pushing each problem, once, at its line.
fn check_accounts(
    read: &Document,
    env: &HashMap<String, String>,
    checked: &mut Checked,
    problems: &mut Vec<Problem>,
) {
    let (defaults, accounts) = (read.defaults.as_ref(), &read.accounts);
    // Each table with the keys that could be read: what follows from a key in error alone is
    // not reported again.
    let config = ConfigFile {
        path: None,
        defaults: defaults.map_or_else(Settings::default, |table| table.settings.clone()),
        accounts: accounts
            .iter()
            .map(|(name, _, table)| (name.clone(), table.settings.clone()))
            .collect(),
        destinations: read
            .destinations
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
    defaults: Option<&TableRead>,
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

/// The keys a problem is about, as a [`TableRead`] names them.
fn keys_of(error: &Error) -> Vec<String> {
    match error {
        Error::Config(error) => error.keys().iter().map(|key| key.to_string()).collect(),
        Error::OAuth(OAuthError::Config { key, .. }) => vec![format!("{OAUTH_PREFIX}{key}")],
        _ => Vec::new(),
    }
}

/// The message of `error`, behind `account "NAME": ` unless it already says which account it
/// is about.
fn with_account(name: &str, error: &Error) -> String {
    match error {
        Error::Config(error) if error.names_account() => error.to_string(),
        _ => format!("account \"{name}\": {error}"),
    }
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
}
