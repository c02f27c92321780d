//! popget: a fast, crash-safe, secure-by-default POP3 mail fetcher, as a library; the binary
//! (`src/main.rs` and `src/cli/`) is its command line.
//!
//! The data path, in the order a message travels: [`config`] turns the configuration file, the
//! environment and what the command line said into a validated account; [`transport`] opens
//! the connection (every address of a host, SOCKS5, then TLS);
//! [`connect`] greets and logs in ([`auth`]) through the [`pop3`] client (which needs nothing
//! else of popget) with the secrets [`credentials`] provides; [`fetch`] runs the
//! transaction: plan, pipelined transfer, commit, delete; [`store`] places each message
//! (Maildir, mbox, MDA) under a journal of intents; [`state`] remembers what was delivered,
//! [`set_aside`] what a destination refused for good, and [`status`] how each account's last
//! check went.
//! [`signals`] stops a run gracefully, [`external`] runs the user's commands, [`autoconfig`]
//! (over [`dns`]) writes an account from SRV records. [`version`] says what this build is.

pub mod account;
pub mod auth;
pub mod autoconfig;
pub mod config;
pub mod connect;
pub mod credentials;
pub mod dns;
pub mod durable;
pub mod error;
pub mod exit;
pub mod external;
pub mod fetch;
pub mod import;
pub mod login_delay;
pub mod set_aside;
pub mod signals;
pub mod state;
pub mod status;
pub mod store;
mod sys;
pub mod transport;
pub mod version;

/// The POP3 client, its own crate (`crates/pop3`), under the name the rest of popget uses.
pub use popget_pop3 as pop3;

pub use error::{Error, Result};
pub use sys::ignore_file_size_signal;
