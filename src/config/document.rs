//! The configuration file read once, with the line of every key: each table key by key, so
//! that loading ([`super::ConfigFile::parse`]) and `popget config check` ([`super::check`]) see
//! the same problems in the same words.

use serde::de::IntoDeserializer;
use serde::Deserialize;
use toml_edit::{ImDocument, InlineTable, Item, TableLike, TomlError, Value};

use super::check::Problem;
use super::settings::{DestinationSettings, Settings};
use crate::config;

/// A kind of table the file holds, read key by key: `[defaults]` and `[accounts.NAME]`
/// ([`Settings`]), `[destinations.NAME]` ([`DestinationSettings`]).
pub(super) trait Table: for<'de> Deserialize<'de> + Default {
    /// Every key the table may hold.
    fn known_keys() -> &'static [&'static str] {
        serde_aux::serde_introspection::serde_introspect::<Self>()
    }
}

impl Table for Settings {}
impl Table for DestinationSettings {}

/// One table of settings as read: what could be read, where each key is, and what is wrong.
pub(super) struct TableRead<T = Settings> {
    pub settings: T,
    /// Every key with its line, in file order.
    pub keys: Vec<(String, usize)>,
    /// The keys that had a problem, which settings therefore lacks.
    pub dropped: Vec<String>,
    /// Each problem of the table at its line, in file order.
    pub problems: Vec<Problem>,
}

/// An account's name, the line of its table header, and its table as read.
pub(super) type AccountTable = (String, usize, TableRead);

/// A destination's name, the line of its table header, and its table as read.
pub(super) type DestinationTable = (String, usize, TableRead<DestinationSettings>);

/// The line of byte `offset` in `text`, 1-based.
pub(super) fn line_at(text: &str, offset: usize) -> usize {
    // Counted in bytes: a span of the parser's error need not fall on a character boundary.
    let before = text.as_bytes().get(..offset).unwrap_or(text.as_bytes());
    before.iter().filter(|&&b| b == b'\n').count() + 1
}

/// The file, read once with the positions of its keys: `[defaults]`, each `[accounts.NAME]`
/// with the line of its header, and the problems of whatever else is at the top.
pub(super) struct Document {
    pub defaults: Option<TableRead>,
    pub accounts: Vec<AccountTable>,
    pub destinations: Vec<DestinationTable>,
    /// Keys and tables at the top that are not `[defaults]` or `[accounts.NAME]` tables.
    pub problems: Vec<Problem>,
}

impl Document {
    /// The line of the first `password` or `client_secret` key, `[defaults]` first: the file
    /// must then be private.
    pub fn password_line(&self) -> Option<usize> {
        let destination_keys = self.destinations.iter().flat_map(|(_, _, t)| &t.keys);
        first_password_line(self.defaults.as_ref(), &self.accounts)
            .into_iter()
            .chain(
                destination_keys
                    .filter(|(key, _)| holds_secret(key))
                    .map(|(_, line)| *line),
            )
            .min()
    }
}

/// Parses `text` (only the first syntax error can be found) and reads each table key by key,
/// so that every unknown key and wrong type is a problem at its own line.
pub(super) fn read(text: &str) -> Result<Document, TomlError> {
    let document = ImDocument::parse(text)?;
    let key_line = |table: &dyn TableLike, key: &str, fallback: usize| {
        table
            .key(key)
            .and_then(|k| k.span())
            .map_or(fallback, |span| line_at(text, span.start))
    };
    let root = document.as_table();
    let mut read = Document {
        defaults: None,
        accounts: Vec::new(),
        destinations: Vec::new(),
        problems: Vec::new(),
    };
    for (key, item) in root.iter() {
        let line = key_line(root, key, 1);
        match (key, item.as_table_like()) {
            ("defaults", Some(table)) => {
                read.defaults = Some(read_table(table, true, &key_line, line));
            }
            ("accounts" | "destinations", Some(table)) => {
                for (name, item) in table.iter() {
                    let line = key_line(table, name, line);
                    match (key, item.as_table_like()) {
                        ("accounts", Some(settings)) => {
                            let table = read_table(settings, false, &key_line, line);
                            read.accounts.push((name.to_string(), line, table));
                        }
                        (_, Some(settings)) => {
                            let table = read_table(settings, false, &key_line, line);
                            read.destinations.push((name.to_string(), line, table));
                        }
                        (_, None) => read.problems.push(Problem {
                            line,
                            message: format!("{key}.{name} must be a table: [{key}.{name}]"),
                        }),
                    }
                }
            }
            ("defaults" | "accounts" | "destinations", None) => read.problems.push(Problem {
                line,
                message: format!("{key} must be a table: [{key}] or [accounts.NAME]"),
            }),
            _ => read.problems.push(Problem {
                line,
                message: format!(
                    "unknown table or key {key:?}: the file holds [defaults], \
                     [accounts.NAME] and [destinations.NAME] tables"
                ),
            }),
        }
    }
    Ok(read)
}

/// The line of the first `password` or `client_secret` key, `[defaults]` first.
fn first_password_line(defaults: Option<&TableRead>, accounts: &[AccountTable]) -> Option<usize> {
    defaults
        .into_iter()
        .chain(accounts.iter().map(|(_, _, table)| table))
        .flat_map(|table| &table.keys)
        .find(|(key, _)| holds_secret(key))
        .map(|(_, line)| *line)
}

/// Whether a key holds a secret that makes the file private.
fn holds_secret(key: &str) -> bool {
    key == "password" || key == "oauth.client_secret"
}

/// How the keys of an `[accounts.NAME.oauth]` table are named in a [`TableRead`].
pub(super) const OAUTH_PREFIX: &str = "oauth.";

/// Reads one table key by key, so that every unknown key and wrong type is found, each at its
/// own line. In `[defaults]`, `inherit` and `template` are refused.
fn read_table<T: Table>(
    table: &dyn TableLike,
    in_defaults: bool,
    key_line: &dyn Fn(&dyn TableLike, &str, usize) -> usize,
    header: usize,
) -> TableRead<T> {
    let mut problems = Vec::new();
    let problems = &mut problems;
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
        match check_value::<T>(key, item) {
            Ok(value) => {
                good.insert(key, value);
            }
            Err(message) => problem(message),
        }
    }
    let settings = settings_of_good(good, header, &keys, &mut dropped, problems);
    let problems = std::mem::take(problems);
    TableRead {
        settings,
        keys,
        dropped,
        problems,
    }
}

/// The settings the `good` keys of a table make together; if even they do not, a problem at
/// the table's `header`, and every key of the table dropped.
fn settings_of_good<T: Table>(
    good: InlineTable,
    header: usize,
    keys: &[(String, usize)],
    dropped: &mut Vec<String>,
    problems: &mut Vec<Problem>,
) -> T {
    match T::deserialize(Value::InlineTable(good).into_deserializer()) {
        Ok(settings) => settings,
        Err(error) => {
            problems.push(Problem {
                line: header,
                message: one_line(error.message()),
            });
            dropped.extend(keys.iter().map(|(key, _)| key.clone()));
            T::default()
        }
    }
}

/// The value of setting `key` if it is known and of the right type, else what is wrong.
fn check_value<T: Table>(key: &str, item: &Item) -> Result<Value, String> {
    let Ok(value) = item.clone().into_value() else {
        return Err(format!("{key}: not a setting"));
    };
    let mut one = InlineTable::new();
    one.insert(key, value.clone());
    match T::deserialize(Value::InlineTable(one).into_deserializer()) {
        Ok(_) => Ok(value),
        Err(error) => Err(describe_key_error(key, error.message(), T::known_keys())),
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
pub(crate) fn describe_key_error(key: &str, message: &str, known: &[&str]) -> String {
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
pub(super) fn nearest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|candidate| (strsim::levenshtein(key, candidate), *candidate))
        .filter(|(distance, _)| *distance <= 2.max(key.len() / 4))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

pub(super) fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_keys_only() {
        assert_eq!(nearest("pasword", &["password", "port"]), Some("password"));
        assert_eq!(nearest("colour", &["password", "port"]), None);
    }
}
