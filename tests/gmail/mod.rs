//! The Gmail destination: the fake Gmail API checked on its own first, then popget importing
//! the Dovecot testbed's POP3 mail through it.

mod fake_api;
