//! The private Dovecot, from the testbed crate that `scripts/bench` starts it with too.

pub use popget_testbed::dovecot::*;
