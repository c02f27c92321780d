//! SASL GSSAPI with Kerberos 5 (RFC 4752): a security context for `service@host` from the user's
//! credential cache, then the security-layer negotiation, where popget always chooses none.
//!
//! The mechanism ([`Gssapi`]) needs the `gssapi` feature and the system's GSSAPI library.
//! Without it, the service principal ([`Target`]) is still here, so that a configuration naming
//! one reads the same, and [`has_usable_ticket`] is always false.

#[cfg(feature = "gssapi")]
mod kerberos;

#[cfg(feature = "gssapi")]
pub use kerberos::{has_usable_ticket, Context, GssError, Gssapi, GssapiError, MajorFlags};

/// The service principal popget authenticates to, `service@host` (GSS host-based service name;
/// Kerberos turns it into `service/host@REALM`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The service name, `pop` for POP servers.
    pub service: String,
    /// The server's host name.
    pub host: String,
}

impl Target {
    /// The service name of POP servers (RFC 1734, section 2; RFC 5034, section 4).
    pub const POP_SERVICE: &'static str = "pop";

    /// `pop@host`.
    pub fn pop(host: &str) -> Target {
        Target {
            service: Target::POP_SERVICE.to_string(),
            host: host.to_string(),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.service, self.host)
    }
}

/// Whether the default credential cache holds a Kerberos ticket that has not expired: never,
/// in a build without the `gssapi` feature, so that `auto` never picks GSSAPI.
#[cfg(not(feature = "gssapi"))]
pub fn has_usable_ticket() -> bool {
    false
}
