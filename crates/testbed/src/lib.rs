//! The private servers that popget's integration tests and `scripts/bench` run against, so that
//! both start them the same way: one configuration, one set of users, one certificate.

pub mod dovecot;
