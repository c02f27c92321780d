//! getmail's rc files (one account each): `[retriever]`, `[destination]` (and the sections a
//! MultiDestination names), `[options]`, `[filter-*]`, read through `ini.rs`; what the account
//! becomes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::ini::{self, Key, Section};
use super::python::{expand_vars, python_tuple};
use super::{
    expand_home, sha256_fingerprint, shell_quote, Account, Destination, Imported, ParseError,
    Password, Place, Seen,
};
use crate::auth::AuthMethod;
use crate::credentials::Secret;
use crate::transport::TlsMode;

/// The parameters of the POP3 retrievers.
const RETRIEVER_KEYS: &[&str] = &[
    "type",
    "server",
    "port",
    "username",
    "password",
    "password_command",
    "timeout",
    "use_apop",
    "delete_dup_msgids",
];

/// What the SSL retrievers take besides.
const SSL_KEYS: &[&str] = &[
    "keyfile",
    "certfile",
    "ca_certs",
    "ssl_fingerprints",
    "ssl_version",
    "ssl_ciphers",
    "ssl_cert_hostname",
];

/// The keys of `[options]`.
const OPTION_KEYS: &[&str] = &[
    "verbose",
    "read_all",
    "delete",
    "delete_after",
    "delete_bigger_than",
    "max_bytes_per_session",
    "max_message_size",
    "max_messages_per_session",
    "delivered_to",
    "received",
    "message_log",
    "message_log_syslog",
    "message_log_verbose",
    "fingerprint",
    "use_netrc",
    "netrc_file",
    "skip_imap_fetch_size",
    "to_oldmail_on_each_mail",
];

/// Reads one getmail rc file.
pub(super) fn parse(
    file: &Path,
    text: &str,
    env: &HashMap<String, String>,
) -> Result<Imported, ParseError> {
    let sections =
        ini::read(text).map_err(|(line, message)| ParseError::at(file, line, message))?;
    let section = |name: &str| sections.iter().find(|s| s.name == name);
    let Some(retriever) = section("retriever") else {
        return Err(ParseError::at(file, 1, "no [retriever] section"));
    };
    let Some(destination) = section("destination") else {
        return Err(ParseError::at(file, 1, "no [destination] section"));
    };
    let reader = Reader {
        file,
        env,
        sections: &sections,
    };
    let mut out = Imported::default();
    let mut account = reader.retriever(retriever, &mut out)?;
    let mut used: Vec<String> = ["retriever", "destination", "options"]
        .map(String::from)
        .into();
    if let Some(account) = &mut account {
        account.destination = reader.destination(destination, &mut used, &mut out)?;
        if let Some(options) = section("options") {
            reader.options(options, account, &mut out)?;
        }
    }
    for section in &sections {
        let place = reader.place(section.line);
        if section.name.starts_with("filter") {
            out.leave_out(
                &place,
                format!(
                    "[{}]: popget's filter decides from the headers whether to fetch; it does \
                     not change or drop fetched messages",
                    section.name
                ),
            );
        } else if !used.contains(&section.name) {
            out.note(
                &place,
                format!("[{}]: not used by the account", section.name),
            );
        }
    }
    out.accounts.extend(account);
    Ok(out)
}

struct Reader<'a> {
    file: &'a Path,
    env: &'a HashMap<String, String>,
    sections: &'a [Section],
}

impl Reader<'_> {
    fn place(&self, line: usize) -> Place {
        Place {
            file: self.file.to_path_buf(),
            line,
        }
    }

    fn error(&self, key: &Key, message: impl Into<String>) -> ParseError {
        ParseError::at(
            self.file,
            key.line,
            format!("{}: {}", key.name, message.into()),
        )
    }

    fn boolean(&self, key: &Key) -> Result<bool, ParseError> {
        match key.value.to_ascii_lowercase().as_str() {
            "1" | "yes" | "true" | "on" => Ok(true),
            "0" | "no" | "false" | "off" => Ok(false),
            _ => Err(self.error(key, "not true or false")),
        }
    }

    fn number(&self, key: &Key) -> Result<u64, ParseError> {
        key.value
            .trim()
            .parse()
            .map_err(|_| self.error(key, "not a number"))
    }

    /// A section's `type`, which every retriever and destination section has.
    fn kind<'s>(&self, section: &'s Section) -> Result<&'s Key, ParseError> {
        section.get("type").ok_or_else(|| {
            ParseError::at(
                self.file,
                section.line,
                format!("[{}] has no type", section.name),
            )
        })
    }

    fn retriever(
        &self,
        section: &Section,
        out: &mut Imported,
    ) -> Result<Option<Account>, ParseError> {
        let origin = self.place(section.line);
        let kind = self.kind(section)?;
        let (tls, uidl) = match kind.value.as_str() {
            "SimplePOP3Retriever" => (TlsMode::None, true),
            "SimplePOP3SSLRetriever" => (TlsMode::Implicit, true),
            "BrokenUIDLPOP3Retriever" => (TlsMode::None, false),
            "BrokenUIDLPOP3SSLRetriever" => (TlsMode::Implicit, false),
            "MultidropPOP3Retriever" | "MultidropPOP3SSLRetriever" | "MultidropSDPSRetriever" => {
                out.leave_out(
                    &self.place(kind.line),
                    format!(
                        "{}: a multidrop mailbox; popget delivers every message to one \
                         destination, so it is not imported",
                        kind.value
                    ),
                );
                return Ok(None);
            }
            "SimpleIMAPRetriever"
            | "SimpleIMAPSSLRetriever"
            | "MultidropIMAPRetriever"
            | "MultidropIMAPSSLRetriever" => {
                out.leave_out(
                    &self.place(kind.line),
                    format!(
                        "{}: popget speaks POP3 only, so it is not imported",
                        kind.value
                    ),
                );
                return Ok(None);
            }
            other => return Err(self.error(kind, format!("unknown retriever type {other}"))),
        };
        for key in &section.keys {
            let name = key.name.as_str();
            let ssl = tls != TlsMode::None && SSL_KEYS.contains(&name);
            if !RETRIEVER_KEYS.contains(&name) && !ssl {
                return Err(self.error(key, format!("not a parameter of {}", kind.value)));
            }
        }
        let required = |name: &str| {
            section
                .get(name)
                .map(|key| key.value.clone())
                .ok_or_else(|| ParseError::at(self.file, section.line, format!("no {name}")))
        };
        let (host, user) = (required("server")?, required("username")?);
        let name = match self.file.file_name().and_then(|n| n.to_str()) {
            Some(name) if name != "getmailrc" => name.to_string(),
            _ => format!("{user}@{host}"),
        };
        let mut account = Account::new(name, origin, host, user);
        account.tls = tls;
        if let Some(port) = section.get("port") {
            let number = self.number(port)?;
            account.port = Some(u16::try_from(number).map_err(|_| self.error(port, "not a port"))?);
        }
        for key in &section.keys {
            self.retriever_key(key, &mut account, out)?;
        }
        if tls == TlsMode::None && account.auth.is_none() {
            account.auth = Some(AuthMethod::User);
            out.note(
                &self.place(kind.line),
                format!(
                    "{}: no TLS; auth = \"user\" sends the password in clear text as getmail \
                     did (popget's auto would refuse to; try tls = \"starttls\")",
                    kind.value
                ),
            );
        }
        if uidl {
            account.seen = Some(Seen::Getmail {
                files: self.oldmail_files(&account),
            });
        } else {
            out.leave_out(
                &self.place(kind.line),
                format!(
                    "{}: getmail recorded message hashes, not the server's UIDLs, so no seen \
                     mail is carried over; popget needs a server whose UIDL works",
                    kind.value
                ),
            );
        }
        Ok(Some(account))
    }

    fn retriever_key(
        &self,
        key: &Key,
        account: &mut Account,
        out: &mut Imported,
    ) -> Result<(), ParseError> {
        let place = self.place(key.line);
        match key.name.as_str() {
            "type" | "server" | "username" | "port" => {}
            "password" => {
                account.password = Password::Plain {
                    secret: Secret::new(key.value.clone()),
                    place,
                }
            }
            "password_command" if matches!(account.password, Password::Plain { .. }) => {}
            "password_command" => {
                let words = python_tuple(&key.value).map_err(|e| self.error(key, e))?;
                if !words.is_empty() {
                    let quoted: Vec<String> = words.iter().map(|w| shell_quote(w)).collect();
                    account.password = Password::Command(quoted.join(" "));
                }
            }
            "timeout" => account.timeout = Some(self.number(key)?).filter(|&t| t > 0),
            "use_apop" if self.boolean(key)? => account.auth = Some(AuthMethod::Apop),
            "use_apop" => {}
            "delete_dup_msgids" if self.boolean(key)? => out.leave_out(
                &place,
                "delete_dup_msgids: popget fetches each message of a repeated UIDL once and \
                 deletes none unread",
            ),
            "delete_dup_msgids" => {}
            "ca_certs" => account.ca_file = Some(PathBuf::from(&key.value)),
            "ssl_fingerprints" => {
                let prints = python_tuple(&key.value).map_err(|e| self.error(key, e))?;
                match &prints[..] {
                    [] => {}
                    [one] => match sha256_fingerprint(one) {
                        Ok(fingerprint) => account.fingerprint = Some(fingerprint),
                        Err(kind) => {
                            return Err(self.error(key, format!("{one}: {kind}, not SHA-256")))
                        }
                    },
                    _ => out.leave_out(
                        &place,
                        "ssl_fingerprints: popget pins one certificate; choose the current \
                         one (popget info shows it)",
                    ),
                }
            }
            name => out.leave_out(&place, format!("{name}: {}", unsupported(name))),
        }
        Ok(())
    }

    /// `oldmail-SERVER-PORT-USER` (runs of `/\:;<>|` as `-`) in the file's own directory, else
    /// in the getmail directory getmail would use.
    fn oldmail_files(&self, account: &Account) -> Vec<PathBuf> {
        let raw = format!(
            "oldmail-{}-{}-{}",
            account.host,
            account.port(),
            account.user
        );
        let mut name = String::new();
        for c in raw.chars() {
            if "/\\:;<>|".contains(c) {
                if !name.ends_with('\u{0}') {
                    name.push('\u{0}');
                }
            } else {
                name.push(c);
            }
        }
        let name = name.replace('\u{0}', "-");
        let mut dirs = vec![self
            .file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()];
        dirs.extend(default_getmaildir(self.env));
        let mut files: Vec<PathBuf> = Vec::new();
        for dir in dirs {
            let file = dir.join(&name);
            if !files.contains(&file) {
                files.push(file);
            }
        }
        files
    }

    fn destination(
        &self,
        section: &Section,
        used: &mut Vec<String>,
        out: &mut Imported,
    ) -> Result<Option<Destination>, ParseError> {
        let place = self.place(section.line);
        let kind = self.kind(section)?;
        let path = |out: &mut Imported| match section.get("path") {
            Some(key) => Ok(self.path(key, out)),
            None => Err(ParseError::at(
                self.file,
                section.line,
                format!("[{}] has no path", section.name),
            )),
        };
        for key in &section.keys {
            match (kind.value.as_str(), key.name.as_str()) {
                (_, "type" | "path") => {}
                ("Maildir" | "Mboxrd" | "MDA_external", "user") => out.leave_out(
                    &self.place(key.line),
                    "user: popget delivers as the user it runs as",
                ),
                ("Maildir", "filemode") if key.value == "0600" => {}
                ("Mboxrd", "locktype") if key.value == "lockf" => {}
                ("MDA_external", "arguments" | "ignore_stderr" | "pipe_stdout") => {}
                ("MDA_external", "allow_root_commands") => {}
                ("MDA_external", "unixfrom") if !self.boolean(key)? => {}
                ("MDA_lmtp", "host" | "port" | "override") => {}
                ("MultiDestination", "destinations") => {}
                (_, name) => out.leave_out(
                    &self.place(key.line),
                    format!("{name} of {}: popget has no such setting", kind.value),
                ),
            }
        }
        Ok(match kind.value.as_str() {
            "Maildir" => Some(Destination::Maildir(path(out)?)),
            "Mboxrd" => Some(Destination::Mbox(path(out)?)),
            "MDA_external" => {
                let command = path(out)?;
                self.mda(section, &command, out)?
            }
            "MDA_lmtp" => {
                let host = section.get("host").ok_or_else(|| {
                    ParseError::at(self.file, section.line, "MDA_lmtp has no host")
                })?;
                let address = if host.value.starts_with('/') {
                    format!("unix:{}", host.value)
                } else {
                    let port = section.get("port").map(|p| self.number(p)).transpose()?;
                    format!("{}:{}", host.value, port.unwrap_or(2003))
                };
                match section.get("override") {
                    Some(recipient) => Some(Destination::Lmtp {
                        address,
                        recipient: recipient.value.clone(),
                    }),
                    None => {
                        out.leave_out(
                            &place,
                            "MDA_lmtp without override: popget needs the recipient to give in \
                             RCPT TO",
                        );
                        None
                    }
                }
            }
            "MultiDestination" => self.multi(section, used, out)?,
            other => {
                out.leave_out(
                    &self.place(kind.line),
                    format!("{other}: popget delivers each message to one destination"),
                );
                None
            }
        })
    }

    /// A MultiDestination with one destination is that destination.
    fn multi(
        &self,
        section: &Section,
        used: &mut Vec<String>,
        out: &mut Imported,
    ) -> Result<Option<Destination>, ParseError> {
        let Some(key) = section.get("destinations") else {
            return Err(ParseError::at(
                self.file,
                section.line,
                "MultiDestination has no destinations",
            ));
        };
        let targets = python_tuple(&key.value).map_err(|e| self.error(key, e))?;
        let [target] = &targets[..] else {
            out.leave_out(
                &self.place(key.line),
                "destinations: popget delivers each message to one destination",
            );
            return Ok(None);
        };
        if let Some(name) = target.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            let Some(section) = self.sections.iter().find(|s| s.name == name) else {
                return Err(self.error(key, format!("no section [{name}]")));
            };
            used.push(section.name.clone());
            return self.destination(section, used, out);
        }
        let path = Key {
            name: "destinations".into(),
            value: target.clone(),
            line: key.line,
        };
        let path = self.path(&path, out);
        let is_dir = target.ends_with('/');
        Ok(Some(match is_dir {
            true => Destination::Maildir(path),
            false => Destination::Mbox(path),
        }))
    }

    fn mda(
        &self,
        section: &Section,
        path: &Path,
        out: &mut Imported,
    ) -> Result<Option<Destination>, ParseError> {
        let arguments = match section.get("arguments") {
            Some(key) => python_tuple(&key.value).map_err(|e| self.error(key, e))?,
            None => Vec::new(),
        };
        let mut words = vec![shell_quote(&path.to_string_lossy())];
        for argument in &arguments {
            if argument.contains("%F") || argument.replace("%(sender)", "").contains("%(") {
                out.leave_out(
                    &self.place(section.get("arguments").map_or(section.line, |k| k.line)),
                    format!(
                        "arguments: {argument} has what popget cannot fill in (only \
                         %(sender), as %F)"
                    ),
                );
                return Ok(None);
            }
            words.push(shell_quote(argument).replace("%(sender)", "%F"));
        }
        if let Some(key) = section.get("unixfrom").filter(|k| k.value != "false") {
            out.leave_out(
                &self.place(key.line),
                "unixfrom: popget gives the MDA the message without a From_ line",
            );
        }
        Ok(Some(Destination::Mda(words.join(" "))))
    }

    /// A path as getmail expands it: `$VAR` and `${VAR}` now, `~` left for popget.
    fn path(&self, key: &Key, out: &mut Imported) -> PathBuf {
        let (expanded, unknown) = expand_vars(&key.value, self.env);
        for name in unknown {
            out.note(
                &self.place(key.line),
                format!("{}: ${name} is not set; kept as it is written", key.name),
            );
        }
        PathBuf::from(expanded.trim_end_matches('/'))
    }

    fn options(
        &self,
        section: &Section,
        account: &mut Account,
        out: &mut Imported,
    ) -> Result<(), ParseError> {
        let flag = |name: &str| -> Result<Option<bool>, ParseError> {
            section.get(name).map(|key| self.boolean(key)).transpose()
        };
        account.delete = flag("delete")? == Some(true);
        for key in &section.keys {
            let place = self.place(key.line);
            let limit = || -> Result<Option<u64>, ParseError> {
                Ok(Some(self.number(key)?).filter(|&n| n > 0))
            };
            match key.name.as_str() {
                "delete" => {}
                "read_all" if self.boolean(key)? && !account.delete => out.leave_out(
                    &place,
                    "read_all with delete off: popget fetches only new messages (popget fetch \
                     --all fetches everything once)",
                ),
                "delete_after" if !account.delete => account.keep_days = limit()?,
                "max_message_size" => account.max_size = limit()?,
                "max_messages_per_session" => account.limit = limit()?,
                "max_bytes_per_session" => account.max_bytes = limit()?,
                "delete_bigger_than" if limit()?.is_some() => out.leave_out(
                    &place,
                    "delete_bigger_than: popget deletes large messages only unread \
                     (delete_oversized), or every message (delete)",
                ),
                "delivered_to" | "received" if self.boolean(key)? => out.leave_out(
                    &place,
                    format!(
                        "{}: popget adds no header to the messages it delivers",
                        key.name
                    ),
                ),
                "netrc_file" => out.leave_out(&place, "netrc_file: popget reads ~/.netrc only"),
                "verbose" | "message_log" | "message_log_syslog" | "message_log_verbose" => out
                    .note(
                        &place,
                        format!("{}: popget logs to standard error or the journal", key.name),
                    ),
                name if OPTION_KEYS.contains(&name) => {}
                name => return Err(self.error(key, format!("not an option of getmail ({name})"))),
            }
        }
        Ok(())
    }
}

fn unsupported(name: &str) -> &'static str {
    match name {
        "keyfile" | "certfile" => "popget sends no client certificate",
        "ssl_version" | "ssl_ciphers" => "popget negotiates TLS 1.2 or later itself",
        "ssl_cert_hostname" => "popget checks the certificate against the host name",
        _ => "popget has no such setting",
    }
}

/// Where getmail looks without `--getmaildir`: `$XDG_CONFIG_HOME/getmail` (or
/// `~/.config/getmail`), then `~/.getmail`.
fn default_getmaildir(env: &HashMap<String, String>) -> Vec<PathBuf> {
    let config = env
        .get("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| env.get("HOME").map(|home| Path::new(home).join(".config")));
    let mut dirs: Vec<PathBuf> = config.into_iter().map(|c| c.join("getmail")).collect();
    dirs.push(expand_home("~/.getmail", env));
    dirs
}
