//! `popget config add ADDRESS`: finds the POP3 server of an address's domain in DNS SRV
//! records (RFC 6186, POP3S first as RFC 8314 asks) and appends an account for it to the
//! configuration file, leaving every byte already there as it was.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::config::{self, ConfigFile, Settings};
use crate::dns::{DnsError, Resolver, Srv};
use crate::error::{Error, Remedy, Result};
use crate::transport::TlsMode;

/// A server found for a domain, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// Where it came from, for the comment above the account.
    pub origin: String,
}

/// The names tried with `--guess`, in order, each for POP3S on port 995.
const WELL_KNOWN: [&str; 3] = ["pop", "pop3", "mail"];

/// What `popget config add` was asked for.
#[derive(Debug, Clone, Copy)]
pub struct AddRequest<'a> {
    /// The e-mail address whose domain is looked up.
    pub address: &'a str,
    /// The account's name (default: the address).
    pub name: Option<&'a str>,
    /// Try well-known host names when the domain has no SRV records.
    pub guess: bool,
    /// The configuration file (default: the usual place).
    pub config_path: Option<&'a Path>,
    pub env: &'a HashMap<String, String>,
}

/// `popget config add`: look up, report each finding through `say`, append.
pub fn add(request: AddRequest, say: &mut dyn FnMut(&str)) -> Result<()> {
    let domain = domain_of(request.address)?;
    let name = request.name.unwrap_or(request.address).to_string();
    let path = match request.config_path {
        Some(path) => path.to_path_buf(),
        None => config::default_path()
            .ok_or_else(|| Error::config("no configuration directory: use --config"))?,
    };
    let existing = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::io(format!("cannot read {}", path.display()), e)),
    };
    let config = ConfigFile::parse(&existing).map_err(|message| {
        Error::config(format!(
            "{}: {message}; fix it first (popget config check)",
            path.display()
        ))
    })?;
    if config.account(&name).is_some() {
        return Err(Error::config(format!(
            "{} already has an account \"{name}\"; choose another with --name",
            path.display()
        )));
    }
    let resolver = Resolver::from_env(request.env).map_err(dns_error)?;
    let found = discover(&resolver, &domain, request.guess, &mut |line| say(&line))?;
    let text = account_text(&name, request.address, &found, &config.defaults);
    append(&path, &existing, &text)?;
    say(&format!(
        "added account \"{name}\" to {}: {} port {}, {}",
        path.display(),
        found.host,
        found.port,
        describe_tls(found.tls)
    ));
    Ok(())
}

fn domain_of(address: &str) -> Result<String> {
    let domain = address
        .rsplit_once('@')
        .map(|(local, domain)| (local, domain.trim_end_matches('.')))
        .filter(|(local, domain)| !local.is_empty() && !domain.is_empty())
        .map(|(_, domain)| domain.to_ascii_lowercase());
    match domain {
        Some(domain) if !domain.chars().any(|c| c.is_whitespace() || c.is_control()) => Ok(domain),
        _ => Err(Error::Usage(format!(
            "{address:?} is not an email address (like bob@example.org)"
        ))),
    }
}

fn dns_error(error: DnsError) -> Error {
    match error {
        DnsError::BadServer { .. } | DnsError::BadName { .. } => Error::config(error.to_string()),
        _ => Error::Temporary(error.to_string()),
    }
}

/// `_pop3s._tcp.DOMAIN`, then `_pop3._tcp.DOMAIN`, then with `guess` the well-known names.
/// Each step's findings are passed to `report` as lines for the user.
pub fn discover(
    resolver: &Resolver,
    domain: &str,
    guess: bool,
    report: &mut dyn FnMut(String),
) -> Result<Found> {
    for (service, tls) in [("_pop3s", TlsMode::Implicit), ("_pop3", TlsMode::Starttls)] {
        let name = format!("{service}._tcp.{domain}");
        let records = resolver.srv(&name).map_err(dns_error)?;
        if records.is_empty() {
            report(format!("{name}: no SRV record"));
            continue;
        }
        for record in &records {
            report(format!("{name}: {}", describe_srv(record)));
        }
        if let Some(best) = choose(&records) {
            return Ok(Found {
                host: best.target.clone(),
                port: best.port,
                tls,
                origin: format!("the DNS SRV record {name} ({})", describe_srv(best)),
            });
        }
    }
    if guess {
        for label in WELL_KNOWN {
            let host = format!("{label}.{domain}");
            if resolver.has_address(&host).map_err(dns_error)? {
                report(format!("{host}: has an address (a guess, not announced)"));
                return Ok(Found {
                    origin: format!("a guess: {host} exists; no SRV record names it"),
                    host,
                    port: TlsMode::Implicit.default_port(),
                    tls: TlsMode::Implicit,
                });
            }
            report(format!("{host}: no address"));
        }
    }
    Err(Error::Unavailable {
        message: format!(
            "{domain} announces no POP3 service in DNS (_pop3s._tcp and _pop3._tcp SRV records)"
        ),
        remedy: (!guess).then_some(Remedy::GuessHost),
    })
}

fn describe_srv(record: &Srv) -> String {
    if record.target.is_empty() {
        return "\".\": the service is not offered".into();
    }
    format!(
        "{} port {} (priority {}, weight {})",
        record.target, record.port, record.priority, record.weight
    )
}

/// The record RFC 2782 has a client try first: the lowest priority, and among those the
/// heaviest weight (the likeliest pick of its random weighting). `None` when the only
/// records say "." (the service is decidedly not offered).
pub fn choose(records: &[Srv]) -> Option<&Srv> {
    records
        .iter()
        .filter(|record| !record.target.is_empty() && record.port != 0)
        .min_by_key(|record| (record.priority, std::cmp::Reverse(record.weight)))
}

fn describe_tls(tls: TlsMode) -> &'static str {
    match tls {
        TlsMode::Implicit => "TLS on connect",
        TlsMode::Starttls => "STLS before login",
        TlsMode::None => "no TLS",
    }
}

/// The account as TOML text with comments; keys whose value `[defaults]` (or popget's own
/// default) already gives are left out.
pub fn account_text(name: &str, address: &str, found: &Found, defaults: &Settings) -> String {
    let quoted = |text: &str| toml::Value::String(text.to_string()).to_string();
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let key = if bare { name.to_string() } else { quoted(name) };
    let mut text = format!(
        "# Added by `popget config add` from {}.\n# Check it with: popget info -a {}\n\
         [accounts.{key}]\n",
        found.origin,
        shell_word(name)
    );
    if defaults.host.as_deref() != Some(found.host.as_str()) {
        text.push_str(&format!("host = {}\n", quoted(&found.host)));
    }
    if defaults.port.unwrap_or(found.tls.default_port()) != found.port {
        text.push_str(&format!("port = {}\n", found.port));
    }
    if defaults.user.as_deref() != Some(address) {
        text.push_str(&format!("user = {}\n", quoted(address)));
    }
    if defaults.tls.unwrap_or(TlsMode::Implicit) != found.tls {
        text.push_str(&format!("tls = {}\n", quoted(found.tls.name())));
    }
    let has_destination =
        defaults.maildir.is_some() || defaults.mbox.is_some() || defaults.mda.is_some();
    if !has_destination {
        text.push_str(&format!(
            "# Where fetched mail goes: one of maildir, mbox or mda.\n# maildir = {}\n",
            quoted(&format!("~/Mail/{name}"))
        ));
    }
    text
}

/// `name` as one shell word, for the comment's command line.
fn shell_word(name: &str) -> String {
    if name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "@._-+".contains(c))
    {
        name.to_string()
    } else {
        format!("'{}'", name.replace('\'', r"'\''"))
    }
}

/// What goes after `existing` to add `text`: a blank line between them.
pub(crate) fn addition(existing: &str, text: &str) -> String {
    let mut addition = String::new();
    if !existing.is_empty() {
        if !existing.ends_with('\n') {
            addition.push('\n');
        }
        addition.push('\n');
    }
    addition.push_str(text);
    addition
}

/// Appends `text` after `existing`, the file's current content; creates the file (0600, for
/// the passwords it may later hold) when there is none. The result is parsed before anything
/// is written.
pub(crate) fn append(path: &Path, existing: &str, text: &str) -> Result<()> {
    let addition = addition(existing, text);
    ConfigFile::parse(&format!("{existing}{addition}"))
        .map_err(|message| Error::config(format!("the account would not read back ({message})")))?;
    let cannot = |e| Error::io(format!("cannot write {}", path.display()), e);
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(cannot)?;
    }
    let mut options = fs::OpenOptions::new();
    if existing.is_empty() && !path.exists() {
        options.write(true).create_new(true).mode(0o600);
    } else {
        options.append(true);
    }
    let mut file = options.open(path).map_err(cannot)?;
    file.write_all(addition.as_bytes()).map_err(cannot)?;
    file.sync_all().map_err(cannot)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn srv(priority: u16, weight: u16, port: u16, target: &str) -> Srv {
        Srv {
            priority,
            weight,
            port,
            target: target.into(),
        }
    }

    #[test]
    fn chooses_by_priority_then_weight_and_skips_dot() {
        let records = [
            srv(20, 100, 995, "backup.example"),
            srv(10, 1, 995, "light.example"),
            srv(10, 60, 995, "heavy.example"),
            srv(0, 0, 0, ""),
        ];
        assert_eq!(choose(&records).unwrap().target, "heavy.example");
        assert_eq!(choose(&[srv(0, 0, 0, "")]), None);
        assert_eq!(choose(&[]), None);
    }

    #[test]
    fn reads_the_domain_of_an_address() {
        assert_eq!(domain_of("bob@Example.ORG").unwrap(), "example.org");
        assert_eq!(domain_of("a@b@example.org.").unwrap(), "example.org");
        for bad in ["bob", "@example.org", "bob@", "bob@exa mple.org"] {
            assert!(matches!(domain_of(bad), Err(Error::Usage(_))), "{bad}");
        }
    }

    #[test]
    fn the_account_text_reads_back_and_leaves_out_what_defaults_give() {
        let found = Found {
            host: "pop.example.org".into(),
            port: 995,
            tls: TlsMode::Implicit,
            origin: "a test".into(),
        };
        let text = account_text(
            "bob@example.org",
            "bob@example.org",
            &found,
            &Settings::default(),
        );
        assert!(text.contains("[accounts.\"bob@example.org\"]\n"), "{text}");
        assert!(
            !text.contains("port ="),
            "995 is the default for POP3S: {text}"
        );
        assert!(!text.contains("tls ="), "{text}");
        assert!(
            text.contains("# maildir = \"~/Mail/bob@example.org\""),
            "{text}"
        );
        let config = ConfigFile::parse(&text).unwrap();
        let account = config.account("bob@example.org").unwrap();
        assert_eq!(account.host.as_deref(), Some("pop.example.org"));

        let defaults =
            ConfigFile::parse("[defaults]\ntls = \"starttls\"\nport = 110\nmaildir = \"~/M\"\n")
                .unwrap()
                .defaults;
        let text = account_text("work", "bob@example.org", &found, &defaults);
        assert!(text.contains("[accounts.work]\n"), "{text}");
        assert!(
            text.contains("port = 995\n") && text.contains("tls = \"implicit\"\n"),
            "{text}"
        );
        assert!(!text.contains("maildir"), "{text}");
    }

    #[test]
    fn appends_without_touching_what_is_there() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("popget/config.toml");
        append(&path, "", "[accounts.a]\nhost = \"h\"\n").unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let before = "# mine\n[defaults]  # keep\nkeep = true".to_string();
        fs::write(&path, &before).unwrap();
        append(&path, &before, "[accounts.b]\nhost = \"h\"\n").unwrap();
        let after = fs::read_to_string(&path).unwrap();
        assert_eq!(after, format!("{before}\n\n[accounts.b]\nhost = \"h\"\n"));
        let error = append(&path, &after, "[accounts.b]\n").unwrap_err();
        assert!(matches!(error, Error::Config(_)), "{error}");
        assert_eq!(fs::read_to_string(&path).unwrap(), after);
    }
}
