//! The server's capabilities, as names, with the few questions delivery asks of them.

use imap_codec::imap_types::response::Capability;

/// What the server announced in a CAPABILITY response or response code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Upper-cased names: `IMAP4REV1`, `AUTH=PLAIN`, `LITERAL+`, `APPENDLIMIT=1000` ...
    names: Vec<String>,
}

impl Capabilities {
    pub(crate) fn from_codec<'a>(list: impl IntoIterator<Item = &'a Capability<'a>>) -> Self {
        Capabilities {
            names: list
                .into_iter()
                .map(|capability| capability.to_string().to_ascii_uppercase())
                .collect(),
        }
    }

    /// Capabilities from their names, as a server would announce them.
    pub fn from_names<I: IntoIterator<Item = S>, S: AsRef<str>>(names: I) -> Self {
        Capabilities {
            names: names
                .into_iter()
                .map(|name| name.as_ref().to_ascii_uppercase())
                .collect(),
        }
    }

    /// Whether the server announced `name` (case-insensitive).
    pub fn has(&self, name: &str) -> bool {
        self.names
            .iter()
            .any(|known| known.eq_ignore_ascii_case(name))
    }

    /// Every name, upper-cased.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// The SASL mechanisms offered (`AUTH=...`).
    pub fn auth_mechanisms(&self) -> impl Iterator<Item = &str> {
        self.names
            .iter()
            .filter_map(|name| name.strip_prefix("AUTH="))
    }

    /// Whether SASL mechanism `name` is offered.
    pub fn has_auth(&self, name: &str) -> bool {
        self.auth_mechanisms()
            .any(|offered| offered.eq_ignore_ascii_case(name))
    }

    /// STARTTLS (RFC 2595).
    pub fn starttls(&self) -> bool {
        self.has("STARTTLS")
    }

    /// LOGINDISABLED: the LOGIN command is refused (usually until STARTTLS).
    pub fn login_disabled(&self) -> bool {
        self.has("LOGINDISABLED")
    }

    /// SASL-IR (RFC 4959): AUTHENTICATE may carry the initial response.
    pub fn sasl_ir(&self) -> bool {
        self.has("SASL-IR")
    }

    /// LITERAL+ (RFC 7888): non-synchronising literals of any size.
    pub fn literal_plus(&self) -> bool {
        self.has("LITERAL+")
    }

    /// LITERAL- (RFC 7888): non-synchronising literals of up to 4096 octets.
    pub fn literal_minus(&self) -> bool {
        self.has("LITERAL-")
    }

    /// UIDPLUS (RFC 4315): APPEND answers with `[APPENDUID]`.
    pub fn uidplus(&self) -> bool {
        self.has("UIDPLUS")
    }

    /// The largest message the server accepts for any mailbox (RFC 7889 `APPENDLIMIT=n`);
    /// `None` when it announces none, or announces `APPENDLIMIT` without a number (limits per
    /// mailbox).
    pub fn append_limit(&self) -> Option<u64> {
        self.names
            .iter()
            .filter_map(|name| name.strip_prefix("APPENDLIMIT="))
            .find_map(|limit| limit.parse().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_asked_of_the_names() {
        let caps = Capabilities::from_names([
            "IMAP4rev1",
            "auth=PLAIN",
            "AUTH=XOAUTH2",
            "LITERAL+",
            "APPENDLIMIT=35651584",
            "UIDPLUS",
        ]);
        assert!(caps.has("imap4rev1"));
        assert!(caps.has_auth("plain") && caps.has_auth("XOAUTH2") && !caps.has_auth("LOGIN"));
        assert!(caps.literal_plus() && !caps.literal_minus() && caps.uidplus());
        assert_eq!(caps.append_limit(), Some(35_651_584));
        assert_eq!(
            Capabilities::from_names(["APPENDLIMIT"]).append_limit(),
            None
        );
        assert!(!caps.starttls() && !caps.login_disabled() && !caps.sasl_ir());
    }
}
