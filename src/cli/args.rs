//! The command line as clap types: what the user said, before any validation or I/O.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use popget::auth::AuthMethod;
use popget::config::parse_size;
use popget::pop3::{ListedSizes, Pipelining};
use popget::transport::TlsMode;

/// popget: a fast, crash-safe, secure-by-default POP3 mail fetcher.
#[derive(Debug, Parser)]
#[command(name = "popget", version, about, long_about = None, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: CommandKind,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Configuration file [default: $XDG_CONFIG_HOME/popget/config.toml]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print only errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Show the protocol dialogue on stderr (secrets replaced by ***)
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

#[derive(Debug, Subcommand)]
pub enum CommandKind {
    /// Download new messages into a Maildir or mbox, remembering what was seen
    Fetch(Box<FetchArgs>),
    /// Keep fetching: poll each account every `interval` as a long-running service (systemd
    /// Type=notify). SIGHUP reloads the configuration, SIGUSR1 polls every account now,
    /// SIGTERM or SIGINT stops once the runs in flight are recorded
    Daemon(DaemonArgs),
    /// Print the number of messages and their total size: COUNT OCTETS
    Stat(StatArgs),
    /// Print one line per message: NUMBER SIZE UIDL
    List(ListArgs),
    /// Print one line per message: NUMBER UIDL
    Uidl(UidlArgs),
    /// Write messages to standard output, exactly as fetch would store them
    Retr(RetrArgs),
    /// Write a message's headers and the first LINES lines of its body to standard output
    Top(TopArgs),
    /// Delete messages on the server and print what the server confirmed
    Dele(DeleArgs),
    /// Show the server's greeting, capabilities and TLS certificate
    Info(InfoArgs),
    /// List the configuration file's accounts: server, TLS, login, destination, keep/delete,
    /// where the password or tokens are kept
    Accounts(AccountsArgs),
    /// Show how each account stands: its last check (when, result, what it delivered), last
    /// error, next poll under the daemon, messages set aside; without connecting
    Status(StatusArgs),
    /// List the messages a destination refused for good, which stay on the POP3 server and
    /// are not offered again; --retry offers them again on the next fetch
    Quarantine(QuarantineArgs),
    /// Work with the configuration file
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Log in to an account's OAuth2 provider (an [accounts.NAME.oauth] table) and save its
    /// tokens: in a browser by default, which comes back to a listener on 127.0.0.1
    Login(LoginArgs),
    /// Delete an account's saved OAuth2 tokens (from the OS keyring and the token file)
    Logout(LogoutArgs),
    /// Keep an account's password in the OS keyring (Secret Service)
    #[command(subcommand)]
    Password(PasswordCommand),
    /// Switch from fetchmail, mpop or getmail: append their accounts to the configuration file
    /// and record the mail they already fetched, so that nothing is fetched twice. Exits 1 when
    /// something could not be carried over (listed with its file and line)
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The fetcher whose configuration and seen mail are read
    #[arg(value_name = "FETCHER")]
    pub tool: ImportTool,
    /// Its configuration files [default: where the fetcher looks: ~/.fetchmailrc; ~/.mpoprc
    /// or $XDG_CONFIG_HOME/mpop/config; getmail's getmailrc, else its rc files, in
    /// $XDG_CONFIG_HOME/getmail or ~/.getmail]
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print the accounts as TOML and what would be done, and change nothing (a password is
    /// never printed)
    #[arg(long)]
    pub dry_run: bool,
    /// Only record the seen mail, for accounts already in the configuration file (those of the
    /// same server, port and user)
    #[arg(long)]
    pub state_only: bool,
    /// Write a password the old configuration holds in clear text to a file only you can read
    /// (passwords/ACCOUNT beside the configuration file) instead of the OS keyring
    #[arg(long, conflicts_with = "state_only")]
    pub plaintext: bool,
}

/// A fetcher `popget import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportTool {
    Fetchmail,
    Mpop,
    /// getmail 6 (getmail6)
    Getmail,
}

impl From<ImportTool> for popget::import::Tool {
    fn from(tool: ImportTool) -> Self {
        match tool {
            ImportTool::Fetchmail => popget::import::Tool::Fetchmail,
            ImportTool::Mpop => popget::import::Tool::Mpop,
            ImportTool::Getmail => popget::import::Tool::Getmail,
        }
    }
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// An account of the configuration file with an [accounts.NAME.oauth] table
    #[arg(value_name = "ACCOUNT")]
    pub account: String,
    /// Log in with a code entered on any device (for machines without a browser)
    #[arg(long, conflicts_with = "paste")]
    pub device: bool,
    /// Log in in a browser anywhere and paste the address it was sent back to (for a
    /// redirect_uri nothing listens on)
    #[arg(long)]
    pub paste: bool,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// An account of the configuration file
    #[arg(value_name = "ACCOUNT")]
    pub account: String,
}

#[derive(Debug, Subcommand)]
pub enum PasswordCommand {
    /// Save ACCOUNT's password in the OS keyring: typed on the terminal, or the first line of
    /// standard input when it is not a terminal
    Set(PasswordArgs),
    /// Delete ACCOUNT's password from the OS keyring
    Delete(PasswordArgs),
}

#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// An account of the configuration file
    #[arg(value_name = "ACCOUNT")]
    pub account: String,
}

/// Which account a scripting command talks to.
#[derive(Debug, Args, Default, Clone)]
pub struct Target {
    /// An account from the configuration file, or a URL: pop3s://user@host:port (TLS),
    /// pop3://user@host:port (STLS unless --tls none), pop://user;AUTH=*@host (RFC 2384)
    #[arg(short = 'a', long = "account", value_name = "NAME|URL")]
    pub account: Option<String>,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// Message numbers must be positive.
fn message_number() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(1..)
}

#[derive(Debug, Args)]
pub struct StatArgs {
    /// Print JSON: {"messages": COUNT, "octets": OCTETS}
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this message
    #[arg(value_name = "N", value_parser = message_number(), conflicts_with = "uidl")]
    pub message: Option<u32>,
    /// Only the message with this unique id
    #[arg(long, value_name = "ID")]
    pub uidl: Option<String>,
    /// Add From, Subject and Date (read with TOP n 0)
    #[arg(long)]
    pub headers: bool,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Debug, Args)]
pub struct UidlArgs {
    /// Only this message
    #[arg(value_name = "N", value_parser = message_number())]
    pub message: Option<u32>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Debug, Args)]
pub struct RetrArgs {
    /// Message numbers
    #[arg(value_name = "N", value_parser = message_number(), required_unless_present = "uidl")]
    pub messages: Vec<u32>,
    /// Messages by unique id (repeatable)
    #[arg(long, value_name = "ID")]
    pub uidl: Vec<String>,
    /// Keep the wire's CRLF line ends instead of LF
    #[arg(long)]
    pub crlf: bool,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Debug, Args)]
pub struct TopArgs {
    /// N LINES, or just LINES with --uidl
    #[arg(value_name = "N LINES", num_args = 1..=2, required = true)]
    pub numbers: Vec<u32>,
    /// The message by unique id
    #[arg(long, value_name = "ID")]
    pub uidl: Option<String>,
    /// Keep the wire's CRLF line ends instead of LF
    #[arg(long)]
    pub crlf: bool,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Debug, Args)]
pub struct DeleArgs {
    /// Message numbers
    #[arg(value_name = "N", value_parser = message_number(), required_unless_present = "uidl")]
    pub messages: Vec<u32>,
    /// Messages by unique id (repeatable)
    #[arg(long, value_name = "ID")]
    pub uidl: Vec<String>,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    /// Also log in, to show the capabilities announced after login. Refused unless the
    /// certificate is verified (by a CA or --fingerprint) or there is no TLS at all
    #[arg(long)]
    pub login: bool,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Debug, Args)]
pub struct AccountsArgs {
    /// Print JSON: an array of {"name", "user", "host", "port", "tls", "auth", "store",
    /// "destination", "policy", "secret"}
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Accounts of the configuration file [default: every account but templates]
    #[arg(value_name = "ACCOUNT")]
    pub accounts: Vec<String>,
    /// Print JSON: {"accounts": [{"account", "destination", "last_check", "last_delivery",
    /// "last_error", "next_poll", "set_aside"}]}
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct QuarantineArgs {
    /// Accounts of the configuration file [default: every account but templates]; exactly one
    /// with --retry
    #[arg(value_name = "ACCOUNT")]
    pub accounts: Vec<String>,
    /// Print JSON: {"messages": [{"account", "uidl", "since", "reason"}]}
    #[arg(long, conflicts_with = "retry")]
    pub json: bool,
    /// Offer these set-aside messages (by UIDL, as listed; all without one) to the destination
    /// again on the next fetch
    #[arg(long, value_name = "UIDL", num_args = 0..)]
    pub retry: Option<Vec<String>>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check the configuration file and report every problem as FILE:LINE: MESSAGE
    Check,
    /// Add an account for an email address, its server found in DNS SRV records (RFC 6186)
    Add(ConfigAddArgs),
}

#[derive(Debug, Args)]
pub struct ConfigAddArgs {
    /// The email address: its domain's _pop3s._tcp and then _pop3._tcp SRV records are looked
    /// up, and it becomes the user name
    #[arg(value_name = "ADDRESS")]
    pub address: String,
    /// The account's name in the configuration file [default: ADDRESS]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Without SRV records, try the well-known names pop.DOMAIN, pop3.DOMAIN and mail.DOMAIN
    /// (POP3S, port 995)
    #[arg(long)]
    pub guess: bool,
}

/// When to draw a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ProgressMode {
    /// On a terminal, unless --quiet
    #[default]
    Auto,
    Always,
    Never,
}

/// Whether to send commands without waiting for each answer (RFC 2449 PIPELINING).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PipeliningArg {
    /// When the server announces PIPELINING
    Auto,
    /// Even when the server does not announce it
    On,
    /// One command at a time
    Off,
}

impl From<PipeliningArg> for Pipelining {
    fn from(arg: PipeliningArg) -> Self {
        match arg {
            PipeliningArg::Auto => Pipelining::Auto,
            PipeliningArg::On => Pipelining::On,
            PipeliningArg::Off => Pipelining::Off,
        }
    }
}

/// Whether the server's LIST sizes are exact (`--list-sizes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListSizesArg {
    /// The messages' sizes, within the usual conventions
    Exact,
    /// Estimates: a message may be shorter, or up to four times longer plus 1 MiB
    Estimated,
}

impl From<ListSizesArg> for ListedSizes {
    fn from(arg: ListSizesArg) -> Self {
        match arg {
            ListSizesArg::Exact => ListedSizes::Exact,
            ListSizesArg::Estimated => ListedSizes::Estimated,
        }
    }
}

/// When TLS starts (`--tls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TlsArg {
    /// POP3S: TLS from the first byte (port 995).
    Implicit,
    /// Plain connection upgraded with STLS before login (port 110); refused if the server
    /// cannot do it.
    Starttls,
    /// No encryption at all; passwords are then sent only with APOP or an explicit --auth user.
    None,
}

impl From<TlsArg> for TlsMode {
    fn from(arg: TlsArg) -> Self {
        match arg {
            TlsArg::Implicit => TlsMode::Implicit,
            TlsArg::Starttls => TlsMode::Starttls,
            TlsArg::None => TlsMode::None,
        }
    }
}

/// How to log in (`--auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthArg {
    /// The strongest method offered that keeps the password safe: inside TLS SCRAM-SHA-256,
    /// SCRAM-SHA-1, PLAIN, then USER; unencrypted only SCRAM, CRAM-MD5 or APOP
    Auto,
    /// USER and PASS (the password in clear text: inside TLS, or with --tls none on request)
    User,
    /// APOP: an MD5 digest of the server's timestamp and the password
    Apop,
    /// SASL PLAIN (the password in clear text, like USER/PASS)
    Plain,
    /// SASL LOGIN (the password in clear text, like USER/PASS)
    Login,
    /// SASL CRAM-MD5 (a challenge-response digest)
    #[value(name = "cram-md5")]
    CramMd5,
    /// SASL SCRAM-SHA-256: the password never crosses the wire and the server proves itself
    #[value(name = "scram-sha-256")]
    ScramSha256,
    /// SASL SCRAM-SHA-1
    #[value(name = "scram-sha-1")]
    ScramSha1,
    /// SASL XOAUTH2 with an OAuth2 access token from the password source (Gmail, Microsoft 365)
    Xoauth2,
    /// SASL OAUTHBEARER (RFC 7628) with an OAuth2 access token from the password source
    Oauthbearer,
    /// SASL GSSAPI with Kerberos 5 (RFC 4752): the ticket from kinit, no password
    Gssapi,
}

impl From<AuthArg> for AuthMethod {
    fn from(arg: AuthArg) -> Self {
        match arg {
            AuthArg::Auto => AuthMethod::Auto,
            AuthArg::User => AuthMethod::User,
            AuthArg::Apop => AuthMethod::Apop,
            AuthArg::Plain => AuthMethod::Plain,
            AuthArg::Login => AuthMethod::Login,
            AuthArg::CramMd5 => AuthMethod::CramMd5,
            AuthArg::ScramSha256 => AuthMethod::ScramSha256,
            AuthArg::ScramSha1 => AuthMethod::ScramSha1,
            AuthArg::Xoauth2 => AuthMethod::Xoauth2,
            AuthArg::Oauthbearer => AuthMethod::Oauthbearer,
            AuthArg::Gssapi => AuthMethod::Gssapi,
        }
    }
}

/// How to reach and log in to the server; valid for every command that talks to one.
#[derive(Debug, Args, Default, Clone)]
#[command(next_help_heading = "Connection")]
pub struct ConnectionArgs {
    /// Server host name
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Server port [default: 995 for implicit TLS, 110 otherwise]
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// User name
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// When to start TLS [default: implicit]
    #[arg(long, value_enum, value_name = "MODE")]
    pub tls: Option<TlsArg>,
    /// Trust the certificates in this PEM file instead of the system store
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate (insecure: anyone on the path can read your mail and password)
    #[arg(long, conflicts_with = "fingerprint")]
    pub insecure: bool,
    /// Accept exactly the certificate with this SHA-256 fingerprint: 64 hex digits, colons
    /// allowed, as `popget info` or `openssl x509 -fingerprint -sha256` print it
    #[arg(long, value_name = "SHA256:HEX")]
    pub fingerprint: Option<String>,
    /// Login method [default: auto]
    #[arg(long, value_enum, value_name = "METHOD")]
    pub auth: Option<AuthArg>,
    /// Command whose first line of output is the password
    #[arg(long, value_name = "CMD")]
    pub password_command: Option<String>,
    /// Seconds allowed for connecting, the TLS handshake and each read or write (the greeting:
    /// at most 10) [default: 60]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: Option<u64>,
    /// Seconds one whole session may take, however busy the server keeps it [default: 3600]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub session_timeout: Option<u64>,
    /// Memory one LIST or UIDL answer may take (e.g. 32M) [default: 8M, about 120,000
    /// messages]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_listing: Option<u64>,
    /// Send commands without waiting for each answer (USER with PASS, LIST with UIDL, RETR,
    /// DELE and TOP): when the server announces PIPELINING (auto), always (on) or never (off)
    #[arg(long, value_enum, value_name = "WHEN")]
    pub pipelining: Option<PipeliningArg>,
    /// Whether the server's LIST sizes are the messages' sizes: exact (a message that does not
    /// fit is refused, exit 76) or estimated (Microsoft Exchange without EnableExactRFC822Size)
    /// [default: exact]
    #[arg(long, value_enum, value_name = "HOW")]
    pub list_sizes: Option<ListSizesArg>,
    /// Connect through this SOCKS5 proxy: socks5h://[USER:PASSWORD@]HOST:PORT lets the proxy
    /// resolve the server's name (what Tor needs), socks5:// resolves it here. TLS and the
    /// certificate check still run end to end with the server
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,
    /// Kerberos service name of the server's principal, for --auth gssapi [default: pop]
    #[arg(long, value_name = "NAME")]
    pub gssapi_service: Option<String>,
    /// Host name of the server's Kerberos principal, for --auth gssapi [default: --host]
    #[arg(long, value_name = "HOST")]
    pub gssapi_host: Option<String>,
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Accounts from the configuration file, or URLs (see --account of the other commands)
    /// [default: all accounts, unless --host is given]
    #[arg(value_name = "ACCOUNT")]
    pub accounts: Vec<String>,
    /// Print the summary as JSON on standard output
    #[arg(long)]
    pub json: bool,
    /// Show a progress bar
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
    /// Start the state file afresh: mark every message now on the server as fetched, without
    /// downloading or deleting anything (asks first, unless --yes)
    #[arg(long)]
    pub rebuild_state: bool,
    /// Do not ask for confirmation
    #[arg(long, requires = "rebuild_state")]
    pub yes: bool,
    /// Fetch up to this many accounts at once, each over its own connection
    #[arg(long, short = 'j', value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub delivery: DeliveryArgs,
}

#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Accounts from the configuration file [default: every account that is not a template]
    #[arg(value_name = "ACCOUNT")]
    pub accounts: Vec<String>,
    /// Poll up to this many accounts at once, each over its own connection
    #[arg(long, short = 'j', value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
}

#[derive(Debug, Args, Default, Clone)]
#[command(next_help_heading = "Delivery")]
pub struct DeliveryArgs {
    /// Deliver into this Maildir (created if missing)
    #[arg(long, value_name = "DIR", conflicts_with_all = ["mbox", "mda", "deliver_to", "imap", "lmtp"])]
    pub maildir: Option<PathBuf>,
    /// Deliver into this mbox file (mboxrd)
    #[arg(long, value_name = "FILE", conflicts_with_all = ["mda", "deliver_to", "imap", "lmtp"])]
    pub mbox: Option<PathBuf>,
    /// Deliver to the [destinations.NAME] of the configuration file (an IMAP mailbox or an
    /// LMTP server)
    #[arg(long, value_name = "NAME", conflicts_with_all = ["mda", "imap", "lmtp"])]
    pub deliver_to: Option<String>,
    /// Deliver into this IMAP mailbox: imaps://USER@HOST/MAILBOX (TLS on connect) or
    /// imap://USER@HOST/MAILBOX (STARTTLS). The password comes from
    /// POPGET_DESTINATION_PASSWORD, the keyring entry USER@HOST or a prompt
    #[arg(long, value_name = "URL", conflicts_with_all = ["mda", "lmtp"])]
    pub imap: Option<String>,
    /// Deliver over LMTP to unix:/PATH or HOST:PORT, for --recipient
    #[arg(
        long,
        value_name = "ADDRESS",
        requires = "recipient",
        conflicts_with = "mda"
    )]
    pub lmtp: Option<String>,
    /// The LMTP recipient (RCPT TO) for --lmtp
    #[arg(long, value_name = "USER", requires = "lmtp")]
    pub recipient: Option<String>,
    /// Deliver by piping each message to this shell command (procmail, maildrop, a script);
    /// %F is replaced by the envelope sender. Exit 0: delivered; 75: kept on the server for
    /// the next run; anything else: not delivered, kept on the server and reported
    #[arg(long, value_name = "COMMAND")]
    pub mda: Option<String>,
    /// Deliver into this Maildir++ subfolder of --maildir (created as .NAME with its
    /// maildirfolder file)
    #[arg(long, value_name = "NAME")]
    pub folder: Option<String>,
    /// Leave messages on the server (the default)
    #[arg(long, conflicts_with = "delete")]
    pub keep: bool,
    /// Delete messages on the server once they are safely delivered
    #[arg(long)]
    pub delete: bool,
    /// Also fetch messages that were fetched before
    #[arg(long)]
    pub all: bool,
    /// Leave messages larger than this on the server and report them (e.g. 20M; K, M and G
    /// are powers of 1024)
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_size: Option<u64>,
    /// Delete messages larger than --max-size on the server without downloading them
    #[arg(long)]
    pub delete_oversized: bool,
    /// Leave fetched messages on the server for DAYS days after they were first fetched, then
    /// delete them
    #[arg(long, value_name = "DAYS", conflicts_with = "delete")]
    pub keep_days: Option<u64>,
    /// Fetch at most this many messages in this run; the rest wait for the next run
    #[arg(long, value_name = "COUNT", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    /// Stop fetching in this run once this much has been fetched (by the server's sizes; the
    /// message that crosses the limit is still fetched)
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_bytes: Option<u64>,
    /// Run this shell command on each new message's headers (TOP n 0, on standard input)
    /// before fetching it. Exit 0: fetch; 1: delete without fetching; 2: skip for now;
    /// anything else: an error for that message, which stays on the server
    #[arg(long, value_name = "COMMAND")]
    pub filter: Option<String>,
    /// State file recording which messages were delivered
    /// [default: $XDG_STATE_HOME/popget/USER@HOST_PORT.state]
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
}
