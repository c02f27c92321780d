//! Integration tests: the real popget binary against a private Dovecot and a fake server.

mod harness;

mod accounts;
mod architecture;
mod autoconfig;
mod cli;
mod crash;
mod daemon;
mod defects;
mod dovecot_fetch;
mod durability;
mod fake_server;
mod faults;
mod framing;
mod full_disk;
mod generated;
mod gssapi;
mod hostile;
mod interop;
mod ipv6;
mod library;
mod lmtp;
mod oauth;
mod oauth_cli;
mod oauth_flow;
mod password_sources;
mod policies;
mod proxy;
mod quirks;
mod randomized;
mod robustness;
mod scripting;
mod signals;
mod staging;
mod unverified;
mod unwritable;
