//! popget: a fast, crash-safe, secure-by-default POP3 mail fetcher.
//!
//! The data path, in the order a message travels: [`transport`] (TCP, TLS) → [`session`]
//! (framing, states, pipelining) over the pure [`protocol`] layer → [`fetch`] (the delivery
//! transaction) → [`store`] (Maildir, mbox, MDA) → [`state`] (what was delivered). [`auth`]
//! logs in, [`config`] turns the command line and the configuration file into accounts, which
//! [`accounts`] lists and checks; [`external`] runs the user's MDA and filter commands.
//! [`daemon`] polls accounts on their schedules as a long-running service.

pub mod accounts;
pub mod auth;
pub mod autoconfig;
pub mod cli;
pub mod commands;
pub mod config;
pub mod connect;
pub mod credentials;
pub mod daemon;
pub mod dial;
pub mod dns;
pub mod error;
pub mod external;
pub mod fetch;
pub mod login_delay;
pub mod protocol;
pub mod proxy;
pub mod session;
pub mod signals;
pub mod state;
pub mod store;
mod sys;
pub mod transport;

mod app;

pub use app::run;
pub use error::{exit, Error, Result};
