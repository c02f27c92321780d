//! What every command shares: the global flags and the environment, the account a command
//! names, the session it opens, the command line in the configuration's terms, and the way an
//! error is reported.

use std::collections::HashMap;
use std::io::Write;

use popget::account::Account;
use popget::config::{self, CommandLine, ConfigFile, DestinationSettings, Settings, SizeSetting};
use popget::connect;
use popget::pop3::{Session, Tracer};
use popget::transport::Stream;
use popget::{Error, Result};

use crate::cli::args::{ConnectionArgs, DeliveryArgs, GlobalArgs, Target};

/// What every command needs: the global flags and the environment.
pub struct Context<'a> {
    pub global: &'a GlobalArgs,
    pub env: &'a HashMap<String, String>,
}

impl Context<'_> {
    /// The one account the command talks to: `-a NAME|URL`, `--host`, or the only account in
    /// the configuration file.
    pub fn account(&self, target: &Target) -> Result<Account> {
        let config = ConfigFile::load(self.global.config.as_deref())?;
        let names: Vec<String> = target.account.iter().cloned().collect();
        let accounts = config::select_accounts(
            &config,
            &names,
            &command_line(&target.connection, None),
            self.env,
        )?;
        match <[Account; 1]>::try_from(accounts) {
            Ok([account]) => Ok(account),
            Err(_) => Err(Error::config(
                "the configuration file has several accounts: choose one with -a NAME",
            )),
        }
    }

    pub fn tracer(&self, account: &Account) -> Option<Tracer> {
        self.global.verbose.then(|| tracer(&account.name))
    }

    pub fn session(&self, target: &Target) -> Result<Session<Stream>> {
        open_session(self.global.verbose, &self.account(target)?)
    }
}

/// Warns about `--insecure`, gets the password and logs in: every command that needs a
/// session opens it here.
pub(crate) fn open_session(verbose: bool, account: &Account) -> Result<Session<Stream>> {
    warn_if_insecure(account);
    let password = connect::password_before_connecting(account)?;
    connect::open_session(account, password, verbose.then(|| tracer(&account.name)))
}

pub(crate) fn warn_if_insecure(account: &Account) {
    if account.server.certificates.insecure {
        popget::say!(
            "popget: {}: warning: --insecure: the server's certificate is not checked; anyone \
             on the network path can read your password and mail",
            account.name
        );
    }
}

pub(crate) fn tracer(account: &str) -> Tracer {
    let prefix = format!("popget: {account}: ");
    Box::new(move |line: &str| {
        let _ = writeln!(std::io::stderr().lock(), "{prefix}{line}");
    })
}

/// An error and its causes on one line: `what failed: why: why`. The causes come from the
/// error's source chain; one the message already shows (many of popget's errors name their
/// cause inline) is not repeated.
pub(crate) fn describe(error: &Error) -> String {
    let mut line = error.to_string();
    let mut next = std::error::Error::source(error);
    while let Some(cause) = next {
        let text = match cause.downcast_ref::<std::io::Error>() {
            Some(io) => popget::error::describe_io(io),
            None => cause.to_string(),
        };
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        next = cause.source();
    }
    line
}

/// `value` as pretty JSON on standard output, one line end after it.
pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, value)
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(out))
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("cannot write the output", e))
}

/// `popget: <account>: <what happened>`, a hint where one helps; returns the exit status.
pub(crate) fn report_error(account: Option<&str>, error: &Error) -> u8 {
    let mut stderr = std::io::stderr().lock();
    let prefix = account.map_or_else(|| "popget: ".to_string(), |a| format!("popget: {a}: "));
    let _ = writeln!(stderr, "{prefix}{}", describe(error));
    if let Some(hint) = crate::cli::hint::hint(error) {
        let _ = writeln!(stderr, "popget: hint: {hint}");
    }
    error.exit_code()
}

/// What the connection flags say, in the configuration's terms.
pub fn command_line(connection: &ConnectionArgs, delivery: Option<&DeliveryArgs>) -> CommandLine {
    let mut settings = Settings {
        host: connection.host.clone(),
        port: connection.port,
        user: connection.user.clone(),
        tls: connection.tls.map(Into::into),
        ca_file: connection.ca_file.clone(),
        insecure: connection.insecure.then_some(true),
        fingerprint: connection.fingerprint.clone(),
        auth: connection.auth.map(Into::into),
        password_command: connection.password_command.clone(),
        timeout: connection.timeout,
        session_timeout: connection.session_timeout,
        max_listing: connection.max_listing.map(SizeSetting::Octets),
        pipelining: connection.pipelining.map(Into::into),
        list_sizes: connection.list_sizes.map(Into::into),
        proxy: connection.proxy.clone(),
        gssapi_service: connection.gssapi_service.clone(),
        gssapi_host: connection.gssapi_host.clone(),
        ..Settings::default()
    };
    let destination = delivery.and_then(|args| one_off_destination(args, connection.timeout));
    if let Some(delivery) = delivery {
        add_delivery(&mut settings, delivery);
    }
    if let Some((name, _)) = &destination {
        settings.deliver_to = Some(name.clone());
    }
    CommandLine {
        settings,
        password_command: connection.password_command.clone(),
        destination,
    }
}

/// A destination for this run only: `--imap URL`, or `--lmtp ADDRESS --recipient USER`, named
/// after what was given. Having no table of its own, it is waited for as long as `--timeout`
/// says the POP3 server is.
fn one_off_destination(
    args: &DeliveryArgs,
    timeout: Option<u64>,
) -> Option<(String, DestinationSettings)> {
    if let Some(url) = &args.imap {
        let settings = DestinationSettings {
            imap: Some(url.clone()),
            timeout,
            ..DestinationSettings::default()
        };
        return Some((url.clone(), settings));
    }
    let address = args.lmtp.as_ref()?;
    let settings = DestinationSettings {
        lmtp: Some(address.clone()),
        recipient: args.recipient.clone(),
        timeout,
        ..DestinationSettings::default()
    };
    Some((address.clone(), settings))
}

/// What the delivery flags of `popget fetch` add.
fn add_delivery(settings: &mut Settings, args: &DeliveryArgs) {
    if args.maildir.is_some()
        || args.mbox.is_some()
        || args.mda.is_some()
        || args.deliver_to.is_some()
    {
        settings.maildir = args.maildir.clone();
        settings.mbox = args.mbox.clone();
        settings.mda = args.mda.clone();
        settings.deliver_to = args.deliver_to.clone();
    }
    macro_rules! take {
        ($($field:ident),*) => { $( if args.$field.is_some() { settings.$field = args.$field.clone(); } )* };
    }
    take!(folder, keep_days, limit, filter);
    if args.delete_oversized {
        settings.delete_oversized = Some(true);
    }
    if let Some(max_bytes) = args.max_bytes {
        settings.max_bytes = Some(SizeSetting::Octets(max_bytes));
    }
    if args.keep || args.delete {
        settings.keep = Some(args.keep);
        settings.delete = Some(args.delete);
    }
    if args.state.is_some() {
        settings.state = args.state.clone();
    }
    if let Some(max_size) = args.max_size {
        settings.max_size = Some(SizeSetting::Octets(max_size));
    }
}
