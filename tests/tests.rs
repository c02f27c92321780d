//! Integration tests: the real popget binary against a private Dovecot and a fake server.

mod harness;

mod accounts;
mod cli;
mod crash;
mod dovecot_fetch;
mod fake_server;
mod faults;
mod framing;
mod generated;
mod hostile;
mod interop;
mod oauth;
mod policies;
mod quirks;
mod randomized;
mod scripting;
mod staging;
