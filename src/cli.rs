//! The command line as clap types: what the user said, before any validation or I/O.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::auth::AuthMethod;
use crate::transport::TlsMode;

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
    Fetch(FetchArgs),
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
    pub tls: Option<TlsMode>,
    /// Trust the certificates in this PEM file instead of the system store
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate (insecure: anyone on the path can read your mail and password)
    #[arg(long)]
    pub insecure: bool,
    /// Login method [default: auto]
    #[arg(long, value_enum, value_name = "METHOD")]
    pub auth: Option<AuthMethod>,
    /// Command whose first line of output is the password
    #[arg(long, value_name = "CMD")]
    pub password_command: Option<String>,
    /// Seconds allowed for connecting, the TLS handshake and each read or write [default: 60]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: Option<u64>,
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Accounts from the configuration file [default: all of them, unless --host is given]
    #[arg(value_name = "ACCOUNT")]
    pub accounts: Vec<String>,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub delivery: DeliveryArgs,
}

#[derive(Debug, Args, Default, Clone)]
#[command(next_help_heading = "Delivery")]
pub struct DeliveryArgs {
    /// Deliver into this Maildir (created if missing)
    #[arg(long, value_name = "DIR", conflicts_with = "mbox")]
    pub maildir: Option<PathBuf>,
    /// Deliver into this mbox file (mboxrd)
    #[arg(long, value_name = "FILE")]
    pub mbox: Option<PathBuf>,
    /// Leave messages on the server (the default)
    #[arg(long, conflicts_with = "delete")]
    pub keep: bool,
    /// Delete messages on the server once they are safely delivered
    #[arg(long)]
    pub delete: bool,
    /// Also fetch messages that were fetched before
    #[arg(long)]
    pub all: bool,
    /// State file recording which messages were delivered
    /// [default: $XDG_STATE_HOME/popget/USER@HOST_PORT.state]
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
}
