//! mpop's configuration (`~/.mpoprc`): lines of `command argument`, `defaults` for the accounts
//! that follow, `account NAME [: PARENT,...]` inheriting earlier accounts; what each account
//! becomes.

use std::collections::HashMap;
use std::path::Path;

use super::{
    expand_home, sha256_fingerprint, size_with_unit, Account, Destination, Imported, ParseError,
    Password, Place, Seen,
};
use crate::auth::AuthMethod;
use crate::credentials::Secret;
use crate::pop3::Pipelining;
use crate::transport::TlsMode;

/// Every command of mpop 1.4 (and `tls_nocertcheck`, which older files have).
const COMMANDS: &[&str] = &[
    "eval",
    "host",
    "port",
    "source_ip",
    "proxy_host",
    "proxy_port",
    "socket",
    "timeout",
    "pipelining",
    "auth",
    "user",
    "password",
    "passwordeval",
    "ntlmdomain",
    "tls",
    "tls_starttls",
    "tls_trust_file",
    "tls_crl_file",
    "tls_fingerprint",
    "tls_key_file",
    "tls_cert_file",
    "tls_certcheck",
    "tls_nocertcheck",
    "tls_priorities",
    "tls_host_override",
    "tls_min_dh_prime_bits",
    "delivery",
    "uidls_file",
    "only_new",
    "keep",
    "killsize",
    "skipsize",
    "filter",
    "received_header",
];

/// A command as written: its argument (outer double quotes removed, as mpop does) and line.
#[derive(Debug, Clone)]
struct Command {
    name: &'static str,
    arg: String,
    line: usize,
}

#[derive(Debug, Clone)]
struct Block {
    name: String,
    line: usize,
    /// What the account says itself, and what it inherits from the accounts it names.
    own: Vec<Command>,
    /// The defaults in force where it starts.
    defaults: Vec<Command>,
}

/// Reads an mpop configuration file.
pub(super) fn parse(
    file: &Path,
    text: &str,
    env: &HashMap<String, String>,
) -> Result<Imported, ParseError> {
    let error = |line, message: String| ParseError::at(file, line, message);
    let mut defaults: Vec<Command> = Vec::new();
    let mut accounts: Vec<Block> = Vec::new();
    // Where commands go: the defaults, or the last account.
    let mut in_defaults = false;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (word, rest) = trimmed
            .split_once(char::is_whitespace)
            .unwrap_or((trimmed, ""));
        let arg = unquote(rest.trim());
        match word {
            "defaults" => in_defaults = true,
            "account" => {
                in_defaults = false;
                let (name, parents) = match arg.split_once(':') {
                    Some((name, parents)) => (unquote(name.trim()), Some(parents)),
                    None => (arg.clone(), None),
                };
                if name.is_empty() {
                    return Err(error(line, "account needs a name".into()));
                }
                if accounts.iter().any(|a| a.name == name) {
                    return Err(error(line, format!("account {name} is defined twice")));
                }
                let mut own = Vec::new();
                for parent in parents.into_iter().flat_map(|p| p.split(',')) {
                    let parent = unquote(parent.trim());
                    match accounts.iter().find(|a| a.name == parent) {
                        Some(block) => own.extend(block.own.iter().cloned()),
                        None => {
                            return Err(error(
                                line,
                                format!(
                                    "account {name} inherits {parent}, which is not defined above"
                                ),
                            ))
                        }
                    }
                }
                accounts.push(Block {
                    name,
                    line,
                    own,
                    defaults: defaults.clone(),
                });
            }
            _ => {
                let Some(&name) = COMMANDS.iter().find(|&&c| c == word) else {
                    return Err(error(line, format!("unknown command \"{word}\"")));
                };
                let command = Command { name, arg, line };
                match accounts.last_mut() {
                    _ if in_defaults => defaults.push(command),
                    Some(block) => block.own.push(command),
                    None => {
                        return Err(error(
                            line,
                            format!("{word} before any defaults or account line"),
                        ))
                    }
                }
            }
        }
    }
    let mut imported = Imported::default();
    for block in &accounts {
        let mut commands = block.defaults.clone();
        commands.extend(block.own.iter().cloned());
        let account = Mapping {
            file,
            commands: &commands,
            env,
        }
        .account(block, &mut imported)
        .map_err(|(line, message)| error(line, message))?;
        imported.accounts.extend(account);
    }
    Ok(imported)
}

/// mpop's quoting: an argument in double quotes loses them; nothing inside is unescaped.
fn unquote(arg: &str) -> String {
    match arg.strip_prefix('"').and_then(|a| a.strip_suffix('"')) {
        Some(inner) => inner.to_string(),
        None => arg.to_string(),
    }
}

/// One account's commands, defaults first, the last of each name winning.
struct Mapping<'a> {
    file: &'a Path,
    commands: &'a [Command],
    env: &'a HashMap<String, String>,
}

type Invalid = (usize, String);

impl Mapping<'_> {
    fn get(&self, name: &str) -> Option<&Command> {
        self.commands.iter().rev().find(|c| c.name == name)
    }

    fn at(&self, command: &Command) -> Place {
        Place {
            file: self.file.to_path_buf(),
            line: command.line,
        }
    }

    /// `on` (or nothing) and `off`.
    fn switch(&self, name: &str) -> Result<Option<bool>, Invalid> {
        let Some(command) = self.get(name) else {
            return Ok(None);
        };
        match command.arg.as_str() {
            "" | "on" => Ok(Some(true)),
            "off" => Ok(Some(false)),
            other => Err((command.line, format!("{name} {other}: expected on or off"))),
        }
    }

    fn account(&self, block: &Block, out: &mut Imported) -> Result<Option<Account>, Invalid> {
        let origin = Place {
            file: self.file.to_path_buf(),
            line: block.line,
        };
        let Some(host) = self.get("host").filter(|c| !c.arg.is_empty()) else {
            out.leave_out(
                &origin,
                format!("account {}: no host, not imported", block.name),
            );
            return Ok(None);
        };
        let user = self.get("user").map(|c| c.arg.clone()).unwrap_or_default();
        let mut account = Account::new(block.name.clone(), origin, host.arg.clone(), user);
        let tls = self.switch("tls")?.unwrap_or(false);
        let starttls = self.switch("tls_starttls")?.unwrap_or(true);
        account.tls = match (tls, starttls) {
            (false, _) => TlsMode::None,
            (true, true) => TlsMode::Starttls,
            (true, false) => TlsMode::Implicit,
        };
        account.delete = self.switch("keep")? != Some(true);
        for command in self.commands {
            self.carry(command, &mut account, out)?;
        }
        self.sizes(&mut account, out)?;
        let uidls = self
            .get("uidls_file")
            .map_or("~/.mpop_uidls/%U_at_%H", |c| c.arg.as_str());
        let uidls = uidls
            .replace("%U", &account.user)
            .replace("%H", &account.host);
        account.seen = Some(Seen::Mpop {
            file: expand_home(&uidls, self.env),
            host: account.host.clone(),
            user: account.user.clone(),
        });
        Ok(Some(account))
    }

    /// What one command becomes; only the last of each name counts.
    fn carry(
        &self,
        command: &Command,
        account: &mut Account,
        out: &mut Imported,
    ) -> Result<(), Invalid> {
        if !std::ptr::eq(self.get(command.name).expect("present"), command) {
            return Ok(());
        }
        let place = self.at(command);
        let arg = command.arg.as_str();
        let bad = |what: &str| (command.line, format!("{} {arg}: {what}", command.name));
        match command.name {
            "host" | "user" | "tls" | "tls_starttls" | "keep" | "uidls_file" => {}
            "killsize" | "skipsize" | "proxy_port" => {}
            "port" => account.port = Some(arg.parse().map_err(|_| bad("not a port number"))?),
            "timeout" if arg == "off" => out.leave_out(
                &place,
                "timeout off: popget always has one (timeout, 60 seconds by default)",
            ),
            "timeout" => account.timeout = Some(arg.parse().map_err(|_| bad("not a number"))?),
            "pipelining" => {
                account.pipelining = Some(match arg {
                    "auto" => Pipelining::Auto,
                    "on" | "" => Pipelining::On,
                    "off" => Pipelining::Off,
                    _ => return Err(bad("expected auto, on or off")),
                })
            }
            "auth" => self.auth(arg, &place, account, out),
            "password" if !arg.is_empty() => {
                account.password = Password::Plain {
                    secret: Secret::new(arg.to_string()),
                    place,
                };
            }
            "passwordeval" if !arg.is_empty() => {
                account.password = Password::Command(arg.to_string())
            }
            "tls_trust_file" => match arg {
                "system" => {}
                "" if self
                    .get("tls_fingerprint")
                    .is_some_and(|c| !c.arg.is_empty()) => {}
                "" => out.leave_out(
                    &place,
                    "tls_trust_file with no file: trusting no CA at all; popget checks \
                     certificates against the system's CAs, a ca_file or a fingerprint",
                ),
                file => account.ca_file = Some(file.into()),
            },
            "tls_fingerprint" if !arg.is_empty() => match sha256_fingerprint(arg) {
                Ok(fingerprint) => account.fingerprint = Some(fingerprint),
                Err(kind) => out.leave_out(
                    &place,
                    format!(
                        "tls_fingerprint: {kind}; popget pins SHA-256 fingerprints (popget \
                         info shows the server's)"
                    ),
                ),
            },
            "tls_certcheck" => account.insecure = self.switch("tls_certcheck")? == Some(false),
            "tls_nocertcheck" => account.insecure = true,
            "proxy_host" if !arg.is_empty() => {
                let port = self.get("proxy_port").map_or("1080", |c| c.arg.as_str());
                let port = if port.is_empty() { "1080" } else { port };
                let host = match arg.contains(':') {
                    true => format!("[{arg}]"),
                    false => arg.to_string(),
                };
                // mpop hands the proxy the host's name (DNS through the proxy), as socks5h.
                account.proxy = Some(format!("socks5h://{host}:{port}"));
            }
            "delivery" => self.delivery(arg, &place, account, out),
            "only_new" if self.switch("only_new")? == Some(false) && !account.delete => out
                .leave_out(
                    &place,
                    "only_new off with keep: popget fetches only new messages (popget fetch \
                     --all fetches everything once)",
                ),
            "only_new" => {}
            "filter" if !arg.is_empty() => {
                if arg.contains("%F") || arg.contains("%S") {
                    out.leave_out(
                        &place,
                        "filter with %F or %S: popget's filter gets the headers on standard \
                         input only",
                    );
                } else {
                    account.filter = Some(arg.to_string());
                }
            }
            "received_header" if self.switch("received_header")? == Some(true) => out.leave_out(
                &place,
                "received_header on: popget adds no Received header (received_header off \
                 matches popget)",
            ),
            "received_header" => {}
            "eval" => out.leave_out(
                &place,
                "eval: the import runs no commands; put what the command prints in its place",
            ),
            // An empty argument sets nothing.
            "password" | "passwordeval" | "tls_fingerprint" | "proxy_host" | "filter" => {}
            "source_ip"
            | "ntlmdomain"
            | "tls_crl_file"
            | "tls_key_file"
            | "tls_cert_file"
            | "tls_priorities"
            | "tls_host_override"
            | "tls_min_dh_prime_bits"
                if arg.is_empty() => {}
            name => out.leave_out(&place, unsupported(name)),
        }
        Ok(())
    }

    fn auth(&self, method: &str, place: &Place, account: &mut Account, out: &mut Imported) {
        account.auth = match method {
            "" | "on" => None,
            "user" => Some(AuthMethod::User),
            "plain" => Some(AuthMethod::Plain),
            "login" => Some(AuthMethod::Login),
            "apop" => Some(AuthMethod::Apop),
            "cram-md5" => Some(AuthMethod::CramMd5),
            "scram-sha-1" => Some(AuthMethod::ScramSha1),
            "scram-sha-256" => Some(AuthMethod::ScramSha256),
            "xoauth2" => Some(AuthMethod::Xoauth2),
            "oauthbearer" => Some(AuthMethod::Oauthbearer),
            "gssapi" => Some(AuthMethod::Gssapi),
            other => {
                out.leave_out(
                    place,
                    format!("auth {other}: popget cannot log in that way"),
                );
                None
            }
        };
    }

    fn delivery(&self, arg: &str, place: &Place, account: &mut Account, out: &mut Imported) {
        let (method, target) = arg
            .split_once(char::is_whitespace)
            .map_or((arg, ""), |(m, t)| (m, t.trim()));
        // mpop takes the quotes off what follows the method too.
        let target = unquote(target);
        account.destination = match (method, target.as_str()) {
            (_, "") => None,
            ("maildir", dir) => Some(Destination::Maildir(dir.trim_end_matches('/').into())),
            ("mbox", file) => Some(Destination::Mbox(file.into())),
            // mpop's %F (the envelope sender, reduced to safe characters) is popget's.
            ("mda", command) => Some(Destination::Mda(command.into())),
            _ => None,
        };
        if account.destination.is_none() {
            out.leave_out(
                place,
                format!("delivery {method}: popget delivers to a maildir, an mbox or an mda"),
            );
        }
    }

    /// `killsize` deletes larger messages (skips them with keep), `skipsize` skips them.
    fn sizes(&self, account: &mut Account, out: &mut Imported) -> Result<(), Invalid> {
        let size = |name: &str| -> Result<Option<(u64, &Command)>, Invalid> {
            match self.get(name) {
                None => Ok(None),
                Some(c) if c.arg == "off" => Ok(None),
                Some(c) => match size_with_unit(&c.arg) {
                    Some(size) => Ok(Some((size, c))),
                    None => Err((c.line, format!("{name} {}: not a size", c.arg))),
                },
            }
        };
        let (kill, skip) = (size("killsize")?, size("skipsize")?);
        match (kill, skip) {
            (Some((0, command)), _) => out.leave_out(
                &self.at(command),
                "killsize 0: popget has no setting that deletes (or with keep, marks as \
                 fetched) every message without fetching it",
            ),
            (Some((kill, command)), Some((skip, _))) if skip < kill => {
                account.max_size = Some(skip);
                out.leave_out(
                    &self.at(command),
                    "killsize above skipsize: popget either skips or deletes every message \
                     over max_size; it skips them",
                );
            }
            (Some((kill, _)), _) => {
                account.max_size = Some(kill);
                account.delete_oversized = account.delete;
            }
            (None, Some((skip, _))) => account.max_size = Some(skip),
            (None, None) => {}
        }
        Ok(())
    }
}

fn unsupported(name: &str) -> String {
    let why = match name {
        "socket" => "popget connects over TCP only",
        "source_ip" => "popget does not choose its source address",
        "ntlmdomain" => "popget has no NTLM login",
        "tls_crl_file" => "popget takes no CRL file",
        "tls_key_file" | "tls_cert_file" => "popget sends no client certificate",
        "tls_priorities" | "tls_min_dh_prime_bits" => "popget negotiates TLS 1.2 or later itself",
        "tls_host_override" => "popget checks the certificate against the host name",
        _ => "popget has no such setting",
    };
    format!("{name}: {why}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> HashMap<String, String> {
        HashMap::from([("HOME".to_string(), "/home/me".to_string())])
    }

    #[test]
    fn accounts_inherit_defaults_and_parents() {
        let text = "defaults\ntls on\nkeep on\naccount a\nhost pop.a\nuser joe\n\
                    passwordeval \"pass show a\"\naccount b : a\nuser \"jo\\\"e\"\n\
                    tls_starttls off\n";
        let imported = parse(Path::new("rc"), text, &env()).unwrap();
        assert!(imported.left_out.is_empty(), "{:?}", imported.left_out);
        let [a, b] = &imported.accounts[..] else {
            panic!("{:?}", imported.accounts)
        };
        assert_eq!((a.tls, a.port(), a.delete), (TlsMode::Starttls, 110, false));
        assert!(matches!(&a.password, Password::Command(c) if c == "pass show a"));
        assert_eq!((b.host.as_str(), b.user.as_str()), ("pop.a", "jo\\\"e"));
        assert_eq!((b.tls, b.port()), (TlsMode::Implicit, 995));
        assert_eq!(
            b.seen,
            Some(Seen::Mpop {
                file: "/home/me/.mpop_uidls/jo\\\"e_at_pop.a".into(),
                host: "pop.a".into(),
                user: "jo\\\"e".into()
            })
        );
    }

    #[test]
    fn errors_name_the_line() {
        for (text, line) in [
            ("account a\nhost h\nhots x\n", 3),
            ("host h\n", 1),
            ("account a : b\n", 1),
            ("account a\nhost h\ntls maybe\n", 3),
        ] {
            let error = parse(Path::new("rc"), text, &env()).unwrap_err();
            assert_eq!(error.place.line, line, "{text}: {}", error.message);
        }
    }
}
