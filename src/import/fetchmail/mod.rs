//! fetchmail's run control file (`~/.fetchmailrc`): read by `lexer.rs` and `grammar.rs`, then
//! what each user of each entry becomes.

mod grammar;
mod lexer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::auth::AuthMethod;
use crate::credentials::Secret;
use crate::import::model::{
    expand_home, sha256_fingerprint, Account, Destination, Imported, ParseError, Password, Place,
    Seen,
};
use crate::transport::TlsMode;
use grammar::{Entry, Opt, User};

/// Reads a `.fetchmailrc`.
pub(super) fn parse(
    file: &Path,
    text: &str,
    env: &HashMap<String, String>,
) -> Result<Imported, ParseError> {
    let rc = grammar::parse(file, text)?;
    let mut imported = Imported::default();
    let place = |line| Place {
        file: file.to_path_buf(),
        line,
    };
    let idfile = last(&rc.global, "idfile")
        .and_then(|opt| opt.values.first())
        .map(|path| expand_home(path, env))
        .or_else(|| default_idfile(env));
    let daemon = last(&rc.global, "daemon").and_then(number);
    // `set no ...` turns off what popget does not do either.
    for opt in rc.global.iter().filter(|opt| !opt.negated) {
        let note = match opt.name {
            "daemon" => match daemon {
                Some(seconds) if seconds > 0 => continue,
                _ => "not a number of seconds; popget daemon polls every 5 minutes",
            },
            "idfile" => continue,
            "postmaster" | "bouncemail" | "spambounce" | "softbounce" => {
                "bounces go out over SMTP, which popget does not speak: a message the MDA \
                 refuses stays on the server and is reported"
            }
            "logfile" | "syslog" | "invisible" | "showdots" | "pidfile" => {
                "popget logs to standard error, or to the journal under popget daemon"
            }
            _ => "ignored by fetchmail itself",
        };
        imported.note(&place(opt.line), format!("set {}: {note}", opt.name));
    }
    let defaults = rc.defaults.unwrap_or_default();
    for entry in &rc.entries {
        let users = if entry.users.is_empty() {
            vec![User {
                line: entry.line,
                ..User::default()
            }]
        } else {
            entry.users.clone()
        };
        let several = users.len() > 1;
        for user in &users {
            let mut server = defaults.server.clone();
            server.extend(entry.server.iter().cloned());
            let mut options: Vec<Opt> = defaults
                .users
                .iter()
                .flat_map(|u| u.options.iter().cloned())
                .collect();
            options.extend(user.options.iter().cloned());
            let context = Context {
                place: place(user.line.max(entry.line)),
                entry,
                server: &server,
                options: &options,
                daemon,
                idfile: idfile.clone(),
                env,
                several,
            };
            if let Some(account) = context.account(user, &mut imported) {
                imported.accounts.push(account);
            }
        }
    }
    Ok(imported)
}

/// `$FETCHMAILHOME/.fetchids`, else `~/.fetchids`, as fetchmail finds it.
fn default_idfile(env: &HashMap<String, String>) -> Option<PathBuf> {
    env.get("FETCHMAILHOME")
        .or_else(|| env.get("HOME"))
        .map(|dir| Path::new(dir).join(".fetchids"))
}

fn last<'a>(options: &'a [Opt], name: &str) -> Option<&'a Opt> {
    options.iter().rev().find(|opt| opt.name == name)
}

fn number(opt: &Opt) -> Option<u64> {
    opt.values.first()?.parse().ok()
}

/// What one user of one entry is made of.
struct Context<'a> {
    place: Place,
    entry: &'a Entry,
    server: &'a [Opt],
    options: &'a [Opt],
    daemon: Option<u64>,
    idfile: Option<PathBuf>,
    env: &'a HashMap<String, String>,
    several: bool,
}

impl Context<'_> {
    fn at(&self, opt: &Opt) -> Place {
        Place {
            file: self.place.file.clone(),
            line: opt.line,
        }
    }

    fn option(&self, name: &str) -> Option<&Opt> {
        last(self.options, name).or_else(|| last(self.server, name))
    }

    fn flag(&self, name: &str) -> Option<bool> {
        self.option(name).map(|opt| !opt.negated)
    }

    fn value(&self, name: &str) -> Option<&str> {
        self.option(name)
            .and_then(|opt| opt.values.first())
            .map(String::as_str)
    }

    fn account(&self, user: &User, out: &mut Imported) -> Option<Account> {
        let entry = self.entry;
        let login_name = self.env.get("USER").or_else(|| self.env.get("LOGNAME"));
        let remote = user.remote.clone().or_else(|| login_name.cloned());
        let Some(remote) = remote else {
            out.leave_out(&self.place, "no user name, and $USER is not set");
            return None;
        };
        let label = |what: &str| format!("{remote} of poll {}: {what}", entry.name);
        if entry.skip {
            out.leave_out(
                &self.place,
                label("a skip entry, which fetchmail polls only when named: not imported"),
            );
            return None;
        }
        if user.multidrop || user.locals.len() > 1 {
            out.leave_out(
                &self.place,
                label(
                    "a multidrop mailbox (several local names, \"*\" or remote=local): popget \
                     delivers every message to one destination, so it is not imported",
                ),
            );
            return None;
        }
        let via = self.value("via");
        let host = via.unwrap_or(&entry.name).to_string();
        let name = match via {
            Some(_) if !self.several => entry.name.clone(),
            Some(_) => format!("{remote}@{}", entry.name),
            None => format!("{remote}@{host}"),
        };
        let mut account = Account::new(name, self.place.clone(), host.clone(), remote.clone());
        match self.option("proto") {
            Some(opt) => match opt.values[0].to_ascii_lowercase().as_str() {
                "pop3" => {}
                "apop" => account.auth = Some(AuthMethod::Apop),
                other => {
                    out.leave_out(
                        &self.at(opt),
                        label(&format!(
                            "proto {other}: popget speaks POP3 only, so it is not imported"
                        )),
                    );
                    return None;
                }
            },
            None => out.note(
                &self.place,
                label(
                    "no proto: fetchmail tries IMAP first; imported as POP3 (check that the \
                     server offers it)",
                ),
            ),
        }
        let local = user.locals.first().cloned().or_else(|| login_name.cloned());
        self.server_options(&mut account, out);
        self.tls(&mut account, out);
        self.delivery(&mut account, local.as_deref(), out);
        self.policy(&mut account, out);
        if let Some(opt) = self.option("password") {
            account.password = Password::Plain {
                secret: Secret::new(opt.values[0].clone()),
                place: self.at(opt),
            };
        }
        if account.tls == TlsMode::None && account.auth.is_none() {
            account.auth = Some(AuthMethod::User);
            out.note(
                &self.place,
                "no TLS: auth = \"user\" sends the password in clear text as fetchmail did \
                 (popget's auto would refuse to)",
            );
        }
        account.seen = self.idfile.clone().map(|file| Seen::Fetchmail {
            file,
            user: remote,
            host,
        });
        Some(account)
    }

    fn server_options(&self, account: &mut Account, out: &mut Imported) {
        for opt in self.server {
            let place = self.at(opt);
            match opt.name {
                "via" | "proto" | "auth" => {}
                "port" | "service" => match opt.values[0].as_str() {
                    "pop3" => account.port = Some(110),
                    "pop3s" => account.port = Some(995),
                    number => match number.parse::<u16>() {
                        Ok(port) if port > 0 => account.port = Some(port),
                        _ => out
                            .leave_out(&place, format!("{} {number}: not a port number", opt.name)),
                    },
                },
                "timeout" => account.timeout = number(opt).filter(|&t| t > 0),
                "interval" if self.daemon.is_none() => {
                    out.note(&place, "interval: without set daemon, polls are not timed")
                }
                "interval" => {}
                "uidl" => {}
                "envelope" | "qvirtual" | "aka" | "localdomains" | "dns" | "checkalias" => out
                    .note(
                        &place,
                        format!("{}: only for multidrop mailboxes; no effect here", opt.name),
                    ),
                "bad-header" if opt.values[0] == "accept" => {}
                "bad-header" => out.note(
                    &place,
                    "bad-header reject: popget delivers every message as the server sends it",
                ),
                "principal" => out.note(&place, "principal: for IMAP's Kerberos login only"),
                "esmtpname" | "esmtppassword" => out.note(
                    &place,
                    format!(
                        "{}: for delivery over SMTP, which popget does not do",
                        opt.name
                    ),
                ),
                "tracepolls" if opt.negated => {}
                name => out.leave_out(&place, unsupported(name)),
            }
        }
        // fetchmail -d polls every `set daemon` seconds, an entry with `interval N` every Nth
        // time.
        let every = last(self.server, "interval").and_then(number).unwrap_or(1);
        account.interval = self.daemon.map(|seconds| seconds * every.max(1));
        if let Some(opt) = last(self.server, "auth") {
            let place = self.at(opt);
            match opt.values[0].to_ascii_lowercase().as_str() {
                "any" | "password" => {}
                "cram-md5" | "cram" => account.auth = Some(AuthMethod::CramMd5),
                "gssapi" => account.auth = Some(AuthMethod::Gssapi),
                other => out.leave_out(
                    &place,
                    format!("auth {other}: popget cannot log in that way (it chooses itself)"),
                ),
            }
        }
    }

    fn tls(&self, account: &mut Account, out: &mut Imported) {
        let proto = self.option("sslproto");
        account.tls = match (self.flag("ssl"), proto) {
            (Some(true), _) => TlsMode::Implicit,
            (_, Some(opt)) if opt.values[0].is_empty() => TlsMode::None,
            (_, Some(_)) => TlsMode::Starttls,
            _ => {
                out.note(
                    &self.place,
                    "no ssl or sslproto: fetchmail used STLS when the server offered it; popget \
                     requires it (tls = \"none\" for a server without)",
                );
                TlsMode::Starttls
            }
        };
        if let Some(opt) = proto {
            let version = opt.values[0].to_ascii_lowercase();
            if ["tls1", "tls1.1", "ssl3", "ssl23", "ssl2"].contains(&version.as_str()) {
                out.leave_out(
                    &self.at(opt),
                    format!("sslproto {version}: popget negotiates TLS 1.2 or later"),
                );
            }
        }
        if let Some(opt) = self.option("sslfingerprint") {
            match sha256_fingerprint(&opt.values[0]) {
                Ok(fingerprint) => account.fingerprint = Some(fingerprint),
                Err(kind) => out.leave_out(
                    &self.at(opt),
                    format!(
                        "sslfingerprint: {kind}; popget pins SHA-256 fingerprints (popget info \
                         shows the server's)"
                    ),
                ),
            }
        }
        // Without the CA check fetchmail still compared a fingerprint, if one was given: an
        // unusable one (MD5) leaves popget checking the CA, never nothing.
        if self.flag("sslcertck") == Some(false) && self.option("sslfingerprint").is_none() {
            account.insecure = true;
        }
        for opt in self.options {
            let place = self.at(opt);
            match opt.name {
                "sslcertfile" => account.ca_file = Some(PathBuf::from(&opt.values[0])),
                "sslcertpath" | "sslkey" | "sslcert" | "sslcommonname" => {
                    out.leave_out(&place, unsupported(opt.name))
                }
                _ => {}
            }
        }
    }

    fn delivery(&self, account: &mut Account, local: Option<&str>, out: &mut Imported) {
        if let Some(opt) = self.option("mda") {
            let mut command = opt.values[0].clone();
            if command.contains("%T") {
                match local.filter(|l| {
                    l.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "@._+=-".contains(c))
                }) {
                    Some(local) => command = command.replace("%T", local),
                    None => {
                        out.leave_out(&self.at(opt), "mda: %T has no plain local name to become")
                    }
                }
            }
            account.destination = Some(Destination::Mda(command));
            if self.flag("stripcr") == Some(false) || self.flag("forcecr") == Some(true) {
                out.leave_out(
                    &self.at(opt),
                    "mda with CR line ends (no stripcr, forcecr): popget gives the MDA LF line ends",
                );
            }
            return;
        }
        if let Some(opt) = self.option("bsmtp") {
            out.leave_out(&self.at(opt), unsupported("bsmtp"));
            return;
        }
        let hosts = self.option("smtphost");
        let place = hosts.map_or(self.place.clone(), |opt| self.at(opt));
        let host = hosts.and_then(|opt| opt.values.first()).map(String::as_str);
        if self.flag("lmtp") != Some(true) {
            out.leave_out(
                &place,
                format!(
                    "delivery over SMTP to {}: popget does not speak SMTP; set mda (e.g. \
                     \"/usr/sbin/sendmail -oi -f %F -- {}\") or an LMTP destination",
                    host.unwrap_or("localhost"),
                    local.unwrap_or("$USER")
                ),
            );
            return;
        }
        let address = match host {
            Some(path) if path.starts_with('/') => Some(format!("unix:{path}")),
            Some(host) => host
                .rsplit_once('/')
                .map(|(host, port)| match host.contains(':') {
                    true => format!("[{host}]:{port}"),
                    false => format!("{host}:{port}"),
                }),
            None => None,
        };
        let recipient = match (self.value("smtpname"), self.value("smtpaddress"), local) {
            (Some(name), _, _) => Some(name.to_string()),
            (None, Some(domain), Some(local)) => Some(format!("{local}@{domain}")),
            (None, None, local) => local.map(str::to_string),
            (None, Some(_), None) => None,
        };
        match (address, recipient) {
            (Some(address), Some(recipient)) => {
                account.destination = Some(Destination::Lmtp { address, recipient })
            }
            _ => out.leave_out(
                &place,
                "lmtp: needs smtphost HOST/PORT or /SOCKET and a local name",
            ),
        }
    }

    fn policy(&self, account: &mut Account, out: &mut Imported) {
        account.delete = self.flag("keep") != Some(true);
        for opt in self.options {
            let place = self.at(opt);
            let on = !opt.negated;
            match (opt.name, on) {
                ("password" | "mda" | "bsmtp" | "smtphost" | "lmtp" | "keep" | "smtpname", _) => {}
                ("smtpaddress" | "stripcr" | "forcecr", _) => {}
                ("ssl" | "sslproto" | "sslcertck" | "sslfingerprint" | "sslcertfile", _) => {}
                ("sslcertpath" | "sslkey" | "sslcert" | "sslcommonname", _) => {}
                ("limit", _) => account.max_size = number(opt).filter(|&n| n > 0),
                ("fetchlimit", _) => account.limit = number(opt).filter(|&n| n > 0),
                ("limitflush", on) => account.delete_oversized = on,
                ("fetchall", true) if !account.delete => out.leave_out(
                    &place,
                    "fetchall with keep: popget fetches only new messages (popget fetch --all \
                     fetches everything once)",
                ),
                ("fetchall", _) => {}
                ("rewrite" | "flush" | "dropstatus" | "dropdelivered" | "mimedecode", false) => {}
                ("idle", _) => out.note(&place, "idle: IMAP only; no effect on POP3"),
                (
                    "fetchsizelimit" | "fastuidl" | "expunge" | "batchlimit" | "warnings"
                    | "antispam" | "pass8bits" | "properties" | "showdots",
                    _,
                ) => out.note(
                    &place,
                    format!("{}: no effect on how popget fetches or delivers", opt.name),
                ),
                ("folder", _) => out.leave_out(&place, "folder: POP3 has no folders (IMAP only)"),
                (name, _) => out.leave_out(&place, unsupported(name)),
            }
        }
        if account.delete_oversized && account.max_size.is_none() {
            account.delete_oversized = false;
            out.note(&self.place, "limitflush without limit: nothing to flush");
        }
    }
}

/// Why an option of fetchmail cannot be carried over.
fn unsupported(name: &str) -> String {
    let why = match name {
        "preconnect" | "postconnect" => "popget runs no command around a connection",
        "plugin" | "plugout" => "popget connects itself (a SOCKS5 proxy is its one alternative)",
        "interface" | "monitor" => "popget does not watch network interfaces",
        "flush" => "popget deletes only what it fetched",
        "rewrite" => "popget never rewrites addresses",
        "dropstatus" | "dropdelivered" | "mimedecode" => "popget delivers messages unchanged",
        "sslcertpath" => "popget takes one CA file (ca_file), not a directory",
        "sslkey" | "sslcert" => "popget sends no client certificate",
        "sslcommonname" => "popget checks the certificate against the host name",
        "bsmtp" => "popget writes no BSMTP batches",
        "tracepolls" => "popget adds no Received header",
        "fetchdomains" => "only for multidrop mailboxes",
        _ => "popget has no such setting",
    };
    format!("{name}: {why}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_keyword_is_an_error_at_its_line() {
        let error = parse(
            Path::new("rc"),
            "poll a\n  user b\n  kepp\n",
            &HashMap::new(),
        )
        .unwrap_err();
        assert_eq!(error.place.line, 3);
        assert!(error.message.contains("kepp"), "{}", error.message);
    }
}
