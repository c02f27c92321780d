//! fetchmail's grammar: `set` statements, `poll`/`skip`/`defaults` entries with their server
//! options, users (`user X there is Y here`, or none named) and user options, noise words
//! anywhere. Every keyword is known with its arguments; an unknown one is an error at its line.

use std::path::Path;

use super::lexer::{tokenize, Kind, Token};
use crate::import::model::ParseError;

/// How a keyword takes its arguments.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Takes {
    Flag,
    Value,
    List,
}

/// Whether an option belongs to the server part of an entry or to a user.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Server,
    User,
}

/// Every keyword of an entry: its canonical name, spellings, level and arguments.
const KEYWORDS: &[(&str, &[&str], Level, Takes)] = &[
    ("via", &[], Level::Server, Takes::Value),
    ("proto", &["protocol"], Level::Server, Takes::Value),
    ("localdomains", &["local"], Level::Server, Takes::List),
    ("aka", &[], Level::Server, Takes::List),
    ("port", &[], Level::Server, Takes::Value),
    ("service", &[], Level::Server, Takes::Value),
    (
        "auth",
        &["authenticate", "preauth", "preauthenticate"],
        Level::Server,
        Takes::Value,
    ),
    ("timeout", &[], Level::Server, Takes::Value),
    ("envelope", &[], Level::Server, Takes::List),
    ("qvirtual", &[], Level::Server, Takes::Value),
    ("interface", &[], Level::Server, Takes::Value),
    ("monitor", &[], Level::Server, Takes::Value),
    ("plugin", &[], Level::Server, Takes::Value),
    ("plugout", &[], Level::Server, Takes::Value),
    ("dns", &[], Level::Server, Takes::Flag),
    ("checkalias", &[], Level::Server, Takes::Flag),
    ("uidl", &[], Level::Server, Takes::Flag),
    ("interval", &[], Level::Server, Takes::Value),
    ("tracepolls", &[], Level::Server, Takes::Flag),
    ("principal", &[], Level::Server, Takes::Value),
    ("esmtpname", &[], Level::Server, Takes::Value),
    ("esmtppassword", &[], Level::Server, Takes::Value),
    ("bad-header", &[], Level::Server, Takes::Value),
    ("password", &["pass"], Level::User, Takes::Value),
    ("folder", &["folders"], Level::User, Takes::List),
    ("smtphost", &["smtp"], Level::User, Takes::List),
    ("fetchdomains", &[], Level::User, Takes::List),
    ("smtpaddress", &[], Level::User, Takes::Value),
    ("smtpname", &[], Level::User, Takes::Value),
    ("antispam", &[], Level::User, Takes::List),
    ("mda", &[], Level::User, Takes::Value),
    ("bsmtp", &[], Level::User, Takes::Value),
    ("lmtp", &[], Level::User, Takes::Flag),
    ("preconnect", &["pre"], Level::User, Takes::Value),
    ("postconnect", &["post"], Level::User, Takes::Value),
    ("keep", &[], Level::User, Takes::Flag),
    ("flush", &[], Level::User, Takes::Flag),
    ("limitflush", &[], Level::User, Takes::Flag),
    ("fetchall", &[], Level::User, Takes::Flag),
    ("rewrite", &[], Level::User, Takes::Flag),
    ("stripcr", &[], Level::User, Takes::Flag),
    ("forcecr", &[], Level::User, Takes::Flag),
    ("pass8bits", &["pass8"], Level::User, Takes::Flag),
    ("dropstatus", &[], Level::User, Takes::Flag),
    ("dropdelivered", &[], Level::User, Takes::Flag),
    ("mimedecode", &["mimedec"], Level::User, Takes::Flag),
    ("idle", &[], Level::User, Takes::Flag),
    ("ssl", &[], Level::User, Takes::Flag),
    ("sslkey", &[], Level::User, Takes::Value),
    ("sslcert", &[], Level::User, Takes::Value),
    ("sslproto", &[], Level::User, Takes::Value),
    ("sslcertck", &[], Level::User, Takes::Flag),
    ("sslcertfile", &[], Level::User, Takes::Value),
    ("sslcertpath", &[], Level::User, Takes::Value),
    ("sslcommonname", &[], Level::User, Takes::Value),
    ("sslfingerprint", &[], Level::User, Takes::Value),
    ("limit", &[], Level::User, Takes::Value),
    ("warnings", &[], Level::User, Takes::Value),
    ("batchlimit", &[], Level::User, Takes::Value),
    ("fetchlimit", &[], Level::User, Takes::Value),
    ("fetchsizelimit", &[], Level::User, Takes::Value),
    ("fastuidl", &[], Level::User, Takes::Value),
    ("expunge", &[], Level::User, Takes::Value),
    ("properties", &[], Level::User, Takes::Value),
    ("showdots", &[], Level::User, Takes::Flag),
];

/// The keywords of `set` (global options).
const GLOBAL: &[(&str, Takes)] = &[
    ("daemon", Takes::Value),
    ("postmaster", Takes::Value),
    ("bouncemail", Takes::Flag),
    ("spambounce", Takes::Flag),
    ("softbounce", Takes::Flag),
    ("logfile", Takes::Value),
    ("pidfile", Takes::Value),
    ("idfile", Takes::Value),
    ("syslog", Takes::Flag),
    ("invisible", Takes::Flag),
    ("showdots", Takes::Flag),
    ("properties", Takes::Value),
];

/// Words the grammar ignores, there to make entries read like English.
const NOISE: &[&str] = &["and", "with", "has", "wants", "options"];
/// Words that start a statement.
const STATEMENTS: &[&str] = &["poll", "server", "skip", "defaults", "set"];

fn keyword(word: &str) -> Option<(&'static str, Level, Takes)> {
    KEYWORDS
        .iter()
        .find(|(name, spellings, _, _)| *name == word || spellings.contains(&word))
        .map(|&(name, _, level, takes)| (name, level, takes))
}

/// Whether an unquoted word is a keyword of any kind (it then ends a list of values).
fn is_reserved(word: &str) -> bool {
    keyword(word).is_some()
        || NOISE.contains(&word)
        || STATEMENTS.contains(&word)
        || ["user", "username", "is", "to", "here", "there", "no"].contains(&word)
        || word
            .strip_prefix("no")
            .is_some_and(|rest| keyword(rest).is_some_and(|(_, _, takes)| takes == Takes::Flag))
}

/// An option as written: its keyword, `no` in front, its values.
#[derive(Debug, Clone)]
pub(super) struct Opt {
    pub name: &'static str,
    pub negated: bool,
    pub values: Vec<String>,
    pub line: usize,
}

/// One user of an entry: the remote name, the local names, its options.
#[derive(Debug, Clone, Default)]
pub(super) struct User {
    pub remote: Option<String>,
    pub locals: Vec<String>,
    /// A `*` or a `remote=local` mapping in the local names: a multidrop mailbox.
    pub multidrop: bool,
    pub options: Vec<Opt>,
    pub line: usize,
}

/// A `poll`, `skip` or `defaults` entry.
#[derive(Debug, Clone, Default)]
pub(super) struct Entry {
    pub name: String,
    pub skip: bool,
    pub line: usize,
    pub server: Vec<Opt>,
    pub users: Vec<User>,
}

/// The file, parsed: its entries (a `defaults` entry first, if any) and its global options.
#[derive(Debug, Default)]
pub(super) struct RcFile {
    pub defaults: Option<Entry>,
    pub entries: Vec<Entry>,
    pub global: Vec<Opt>,
}

/// Reads the file's text into its entries and global options.
pub(super) fn parse(file: &Path, text: &str) -> Result<RcFile, ParseError> {
    Parser {
        file,
        tokens: tokenize(file, text)?,
        at: 0,
    }
    .file()
}

struct Parser<'a> {
    file: &'a Path,
    tokens: Vec<Token>,
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn peek_word(&self) -> Option<&str> {
        match self.peek().map(|t| &t.kind) {
            Some(Kind::Word(word)) => Some(word),
            _ => None,
        }
    }

    fn line(&self) -> usize {
        self.peek()
            .or(self.tokens.last())
            .map_or(1, |token| token.line)
    }

    fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError::at(self.file, self.line(), message)
    }

    fn skip_noise(&mut self) {
        while self.peek_word().is_some_and(|w| NOISE.contains(&w)) {
            self.at += 1;
        }
    }

    /// The next token as a value, whatever it is (a keyword here is a name).
    fn value(&mut self, after: &str) -> Result<String, ParseError> {
        let text = self.peek().and_then(|t| t.kind.text()).map(str::to_string);
        match text {
            Some(text) => {
                self.at += 1;
                Ok(text)
            }
            None => Err(self.error(format!("{after} needs a value"))),
        }
    }

    /// Values up to the next keyword: at least one.
    fn list(&mut self, after: &str) -> Result<Vec<String>, ParseError> {
        let mut values = vec![self.value(after)?];
        while let Some(token) = self.peek() {
            match &token.kind {
                Kind::Word(word) if is_reserved(word) => break,
                Kind::Map | Kind::Wildcard => break,
                kind => {
                    values.push(kind.text().unwrap_or_default().to_string());
                    self.at += 1;
                }
            }
        }
        Ok(values)
    }

    fn file(mut self) -> Result<RcFile, ParseError> {
        let mut rc = RcFile::default();
        loop {
            self.skip_noise();
            let Some(token) = self.peek().cloned() else {
                return Ok(rc);
            };
            self.at += 1;
            match token.kind.clone() {
                Kind::Word(word) if word == "set" => rc.global.push(self.set(token.line)?),
                Kind::Word(word) if ["poll", "server", "skip"].contains(&word.as_str()) => {
                    let name = self.value(&word)?;
                    if rc.entries.iter().any(|entry| entry.name == name) {
                        return Err(ParseError::at(
                            self.file,
                            token.line,
                            format!("a second entry named {name}"),
                        ));
                    }
                    let mut entry = self.entry(name, token.line)?;
                    entry.skip = word == "skip";
                    rc.entries.push(entry);
                }
                Kind::Word(word) if word == "defaults" => {
                    if rc.defaults.is_some() || !rc.entries.is_empty() {
                        return Err(ParseError::at(
                            self.file,
                            token.line,
                            "one defaults entry, before every poll entry",
                        ));
                    }
                    rc.defaults = Some(self.entry("defaults".into(), token.line)?);
                }
                other => {
                    return Err(ParseError::at(
                        self.file,
                        token.line,
                        format!(
                            "expected poll, skip, defaults or set, found {}",
                            describe(&other)
                        ),
                    ))
                }
            }
        }
    }

    fn set(&mut self, line: usize) -> Result<Opt, ParseError> {
        let (negated, word) = self.negation()?;
        let Some(&(name, takes)) = GLOBAL.iter().find(|(name, _)| *name == word) else {
            return Err(ParseError::at(
                self.file,
                line,
                format!("unknown global option \"set {word}\""),
            ));
        };
        let mut values = Vec::new();
        if takes == Takes::Value {
            if self.peek().is_some_and(|t| t.kind == Kind::Map) {
                self.at += 1;
            }
            values.push(self.value(&format!("set {name}"))?);
        } else if negated && takes != Takes::Flag {
            return Err(ParseError::at(self.file, line, format!("\"no {name}\"")));
        }
        Ok(Opt {
            name,
            negated,
            values,
            line,
        })
    }

    /// A keyword with `no` before it (`no keep`, `nokeep`) or without.
    fn negation(&mut self) -> Result<(bool, String), ParseError> {
        let word = match self.peek().map(|t| t.kind.clone()) {
            Some(Kind::Word(word)) => word,
            Some(other) => return Err(self.error(format!("unexpected {}", describe(&other)))),
            None => return Err(self.error("the file ends in the middle of an option")),
        };
        self.at += 1;
        if word == "no" {
            return match self.peek().map(|t| t.kind.clone()) {
                Some(Kind::Word(next)) => {
                    self.at += 1;
                    Ok((true, next))
                }
                _ => Err(self.error("\"no\" must come before a keyword")),
            };
        }
        let joined = word
            .strip_prefix("no")
            .filter(|rest| keyword(rest).is_some() || GLOBAL.iter().any(|(g, _)| g == rest));
        Ok(match joined {
            Some(rest) => (true, rest.to_string()),
            None => (false, word),
        })
    }

    fn entry(&mut self, name: String, line: usize) -> Result<Entry, ParseError> {
        let mut entry = Entry {
            name,
            line,
            ..Entry::default()
        };
        loop {
            self.skip_noise();
            let Some(token) = self.peek().cloned() else {
                return Ok(entry);
            };
            let word = match &token.kind {
                Kind::Word(word) if STATEMENTS.contains(&word.as_str()) => return Ok(entry),
                Kind::Word(word) => word.clone(),
                other => {
                    return Err(self.error(format!("unexpected {}", describe(other))));
                }
            };
            match word.as_str() {
                "user" | "username" => {
                    self.at += 1;
                    let name = self.value(&word)?;
                    let mut user = User {
                        line: token.line,
                        ..User::default()
                    };
                    match self.peek_word() {
                        Some("here") => {
                            self.at += 1;
                            user.locals.push(name);
                        }
                        Some("there") => {
                            self.at += 1;
                            user.remote = Some(name);
                        }
                        _ => user.remote = Some(name),
                    }
                    entry.users.push(user);
                }
                "is" | "to" => {
                    self.at += 1;
                    let user = current_user(&mut entry, token.line);
                    self.local_names(user, &word)?;
                }
                _ => {
                    let (negated, word) = self.negation()?;
                    let Some((name, level, takes)) = keyword(&word) else {
                        return Err(ParseError::at(
                            self.file,
                            token.line,
                            format!("unknown keyword \"{word}\""),
                        ));
                    };
                    if negated && takes != Takes::Flag && name != "envelope" {
                        return Err(ParseError::at(
                            self.file,
                            token.line,
                            format!("\"no {name}\" is not an option"),
                        ));
                    }
                    let values = match (takes, negated) {
                        (Takes::Flag, _) | (_, true) => Vec::new(),
                        (Takes::Value, false) => vec![self.value(name)?],
                        (Takes::List, false) => self.list(name)?,
                    };
                    let opt = Opt {
                        name,
                        negated,
                        values,
                        line: token.line,
                    };
                    match level {
                        // Also after a user: it still describes the server.
                        Level::Server => entry.server.push(opt),
                        Level::User => current_user(&mut entry, token.line).options.push(opt),
                    }
                }
            }
        }
    }

    /// `is NAME... [here]`, `is NAME there`, with `*` and `remote=local` mappings.
    fn local_names(&mut self, user: &mut User, after: &str) -> Result<(), ParseError> {
        let mut names = vec![self.value_or_wildcard(after, user)?];
        loop {
            match self.peek().map(|t| t.kind.clone()) {
                Some(Kind::Map) => {
                    self.at += 1;
                    self.value("=")?;
                    user.multidrop = true;
                }
                Some(Kind::Wildcard) => {
                    self.at += 1;
                    user.multidrop = true;
                }
                Some(Kind::Word(word)) if word == "there" => {
                    self.at += 1;
                    user.remote = names.pop().flatten();
                    break;
                }
                Some(Kind::Word(word)) if word == "here" => {
                    self.at += 1;
                    break;
                }
                Some(Kind::Word(word)) if is_reserved(&word) => break,
                Some(kind @ (Kind::Word(_) | Kind::Quoted(_) | Kind::Number(_))) => {
                    self.at += 1;
                    names.push(kind.text().map(str::to_string));
                }
                None => break,
            }
        }
        user.locals.extend(names.into_iter().flatten());
        Ok(())
    }

    fn value_or_wildcard(
        &mut self,
        after: &str,
        user: &mut User,
    ) -> Result<Option<String>, ParseError> {
        if self.peek().is_some_and(|t| t.kind == Kind::Wildcard) {
            self.at += 1;
            user.multidrop = true;
            return Ok(None);
        }
        self.value(after).map(Some)
    }
}

/// The user options apply to: the last `user`, or the one an entry may leave unnamed.
fn current_user(entry: &mut Entry, line: usize) -> &mut User {
    if entry.users.is_empty() {
        entry.users.push(User {
            line,
            ..User::default()
        });
    }
    entry.users.last_mut().expect("a user")
}

fn describe(kind: &Kind) -> String {
    match kind {
        Kind::Word(word) => format!("\"{word}\""),
        Kind::Quoted(_) => "a quoted string".into(),
        Kind::Number(number) => format!("the number {number}"),
        Kind::Map => "\"=\"".into(),
        Kind::Wildcard => "\"*\"".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_here_there_and_implicit_users() {
        let rc = parse(
            Path::new("rc"),
            "poll p user me here is them there keep\n\
             poll q proto pop3 password x user a user b nokeep",
        )
        .unwrap();
        assert_eq!(rc.entries[0].users[0].remote.as_deref(), Some("them"));
        assert_eq!(rc.entries[0].users[0].locals, ["me"]);
        let q = &rc.entries[1];
        assert_eq!(q.users.len(), 3);
        assert_eq!(q.users[0].remote, None);
        assert_eq!(q.users[0].options[0].name, "password");
        assert!(q.users[2].options[0].negated);
    }
}
