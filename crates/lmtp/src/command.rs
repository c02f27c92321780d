//! One small type per LMTP command; each one's `Display` is its exact wire form, CRLF included.
//! Arguments are checked when a command is made, so a value holding CR, LF or a space can never
//! inject a second command or a parameter.

use std::fmt;

/// A command the client sends: its `Display` is the wire form, CRLF included.
pub trait Command: fmt::Display {
    /// The command's verb, for messages.
    const NAME: &'static str;
}

/// An argument that cannot be sent: what it is and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot send {what} {value:?}: {reason}")]
pub struct InvalidArgument {
    what: &'static str,
    value: String,
    reason: &'static str,
}

impl InvalidArgument {
    pub(crate) fn new(what: &'static str, value: impl Into<String>, reason: &'static str) -> Self {
        InvalidArgument {
            what,
            value: value.into(),
            reason,
        }
    }
}

/// The longest path accepted, the angle brackets included (RFC 5321 section 4.5.3.1.3).
pub const MAX_PATH: usize = 256;

/// The longest domain (RFC 5321 section 4.5.3.1.2).
const MAX_DOMAIN: usize = 255;

fn check_token(what: &'static str, value: &str, max: usize) -> Result<(), InvalidArgument> {
    let refuse = |reason| {
        Err(InvalidArgument {
            what,
            value: value.into(),
            reason,
        })
    };
    if value.len() > max {
        return refuse("too long");
    }
    if value.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return refuse("it holds a space or a control character");
    }
    if value.bytes().any(|b| b == b'<' || b == b'>') {
        return refuse("it holds an angle bracket");
    }
    Ok(())
}

/// `LHLO name` (RFC 2033 section 4.1): names the client and asks for the extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lhlo<'a> {
    name: &'a str,
}

impl<'a> Lhlo<'a> {
    /// The client's name: a domain or an address literal, not empty.
    pub fn new(name: &'a str) -> Result<Self, InvalidArgument> {
        check_token("the client name", name, MAX_DOMAIN)?;
        if name.is_empty() {
            return Err(InvalidArgument {
                what: "the client name",
                value: String::new(),
                reason: "it is empty",
            });
        }
        Ok(Lhlo { name })
    }
}

impl fmt::Display for Lhlo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LHLO {}\r\n", self.name)
    }
}

impl Command for Lhlo<'_> {
    const NAME: &'static str = "LHLO";
}

/// `MAIL FROM:<reverse-path>` with its parameters (RFC 5321 section 4.1.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailFrom<'a> {
    reverse_path: &'a str,
    /// `BODY=8BITMIME` (RFC 6152).
    pub eight_bit_mime: bool,
    /// `SMTPUTF8` (RFC 6531).
    pub smtputf8: bool,
    /// `SIZE=n` (RFC 1870).
    pub size: Option<u64>,
}

impl<'a> MailFrom<'a> {
    /// The sender's address without angle brackets; empty for the null reverse path `<>`
    /// (bounces). No parameters: set the fields for them.
    pub fn new(reverse_path: &'a str) -> Result<Self, InvalidArgument> {
        check_token("the sender", reverse_path, MAX_PATH - 2)?;
        Ok(MailFrom {
            reverse_path,
            eight_bit_mime: false,
            smtputf8: false,
            size: None,
        })
    }
}

impl fmt::Display for MailFrom<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MAIL FROM:<{}>", self.reverse_path)?;
        if self.eight_bit_mime {
            f.write_str(" BODY=8BITMIME")?;
        }
        if self.smtputf8 {
            f.write_str(" SMTPUTF8")?;
        }
        if let Some(size) = self.size {
            write!(f, " SIZE={size}")?;
        }
        f.write_str("\r\n")
    }
}

impl Command for MailFrom<'_> {
    const NAME: &'static str = "MAIL";
}

/// `RCPT TO:<forward-path>` (RFC 5321 section 4.1.1.3); in LMTP the address names a local
/// mailbox, often just a user name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RcptTo<'a> {
    forward_path: &'a str,
}

impl<'a> RcptTo<'a> {
    /// The recipient's address without angle brackets, not empty.
    pub fn new(forward_path: &'a str) -> Result<Self, InvalidArgument> {
        check_token("the recipient", forward_path, MAX_PATH - 2)?;
        if forward_path.is_empty() {
            return Err(InvalidArgument {
                what: "the recipient",
                value: String::new(),
                reason: "it is empty",
            });
        }
        Ok(RcptTo { forward_path })
    }
}

impl fmt::Display for RcptTo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RCPT TO:<{}>\r\n", self.forward_path)
    }
}

impl Command for RcptTo<'_> {
    const NAME: &'static str = "RCPT";
}

/// `DATA`: the message follows, dot-stuffed, after the server's 354.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Data;

impl fmt::Display for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DATA\r\n")
    }
}

impl Command for Data {
    const NAME: &'static str = "DATA";
}

/// `BDAT size [LAST]` (RFC 3030): the next `size` octets are message data, sent as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bdat {
    /// The octets of the chunk that follows the command.
    pub size: u64,
    /// Whether this chunk ends the message.
    pub last: bool,
}

impl fmt::Display for Bdat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BDAT {}", self.size)?;
        if self.last {
            f.write_str(" LAST")?;
        }
        f.write_str("\r\n")
    }
}

impl Command for Bdat {
    const NAME: &'static str = "BDAT";
}

/// `RSET`: abandons the mail transaction in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rset;

impl fmt::Display for Rset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RSET\r\n")
    }
}

impl Command for Rset {
    const NAME: &'static str = "RSET";
}

/// `NOOP`: does nothing; the server answers 250.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Noop;

impl fmt::Display for Noop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NOOP\r\n")
    }
}

impl Command for Noop {
    const NAME: &'static str = "NOOP";
}

/// `QUIT`: ends the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quit;

impl fmt::Display for Quit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("QUIT\r\n")
    }
}

impl Command for Quit {
    const NAME: &'static str = "QUIT";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_forms() {
        assert_eq!(
            Lhlo::new("client.example").unwrap().to_string(),
            "LHLO client.example\r\n"
        );
        assert_eq!(
            Lhlo::new("[127.0.0.1]").unwrap().to_string(),
            "LHLO [127.0.0.1]\r\n"
        );
        assert_eq!(MailFrom::new("").unwrap().to_string(), "MAIL FROM:<>\r\n");
        let mut mail = MailFrom::new("a@b.example").unwrap();
        mail.eight_bit_mime = true;
        mail.smtputf8 = true;
        mail.size = Some(1234);
        assert_eq!(
            mail.to_string(),
            "MAIL FROM:<a@b.example> BODY=8BITMIME SMTPUTF8 SIZE=1234\r\n"
        );
        assert_eq!(
            RcptTo::new("alice").unwrap().to_string(),
            "RCPT TO:<alice>\r\n"
        );
        assert_eq!(
            RcptTo::new("j\u{f6}rg@b\u{fc}ro.example")
                .unwrap()
                .to_string(),
            "RCPT TO:<j\u{f6}rg@b\u{fc}ro.example>\r\n"
        );
        assert_eq!(Data.to_string(), "DATA\r\n");
        assert_eq!(
            Bdat {
                size: 0,
                last: true
            }
            .to_string(),
            "BDAT 0 LAST\r\n"
        );
        assert_eq!(
            Bdat {
                size: 65536,
                last: false
            }
            .to_string(),
            "BDAT 65536\r\n"
        );
        assert_eq!(Rset.to_string(), "RSET\r\n");
        assert_eq!(Noop.to_string(), "NOOP\r\n");
        assert_eq!(Quit.to_string(), "QUIT\r\n");
    }

    #[test]
    fn arguments_that_could_inject_are_refused() {
        for bad in [
            "a\r\nRSET",
            "a\nb",
            "a b",
            "a\tb",
            "a\0b",
            "a>b",
            "<a>",
            "a\x7fb",
        ] {
            assert!(MailFrom::new(bad).is_err(), "{bad:?}");
            assert!(RcptTo::new(bad).is_err(), "{bad:?}");
            assert!(Lhlo::new(bad).is_err(), "{bad:?}");
        }
        assert!(RcptTo::new("").is_err());
        assert!(Lhlo::new("").is_err());
        assert!(MailFrom::new(&"a".repeat(254)).is_ok());
        assert!(MailFrom::new(&"a".repeat(255)).is_err());
        assert!(RcptTo::new(&"a".repeat(255)).is_err());
        assert!(Lhlo::new(&"a".repeat(256)).is_err());
    }
}
