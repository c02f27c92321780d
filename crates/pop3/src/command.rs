//! One type per POP3 command, encoded to its exact wire form after validating every argument.

use super::{ProtocolError, MAX_COMMAND};

/// The longest SASL response line, CRLF included (RFC 5034 section 4).
const MAX_SASL_RESPONSE: usize = 12288;

/// A command the client sends. Secret-bearing variants are redacted in traces.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    /// `CAPA`: asks for the server's capability list (RFC 2449).
    Capa,
    /// `STLS`: asks to start TLS on the connection (RFC 2595).
    Stls,
    /// `USER name`: names the mailbox for a following `PASS` (RFC 1939 section 7).
    User(&'a str),
    /// `PASS password`: the password for the mailbox named by `USER`; may contain spaces.
    Pass(&'a str),
    /// `APOP name digest`: logs in with an MD5 digest of the greeting's timestamp and the
    /// shared secret (RFC 1939 section 7).
    Apop {
        /// The mailbox name.
        user: &'a str,
        /// The MD5 digest, in lower-case hexadecimal (RFC 1939).
        digest: &'a str,
    },
    /// `STAT`: asks for the number of messages and their total size.
    Stat,
    /// `LIST [n]`: the size of message `n`, or of every message when `None`.
    List(Option<u32>),
    /// `UIDL [n]`: the unique id of message `n`, or of every message when `None`.
    Uidl(Option<u32>),
    /// `RETR n`: retrieves message `n` in full.
    Retr(u32),
    /// `TOP n lines`: retrieves the header of a message and the first lines of its body.
    Top {
        /// The message number.
        message: u32,
        /// How many lines of the body to send after the header.
        lines: u32,
    },
    /// `DELE n`: marks message `n` as deleted; the server removes it when the session ends
    /// with `QUIT`.
    Dele(u32),
    /// `NOOP`: does nothing; the server just answers +OK.
    Noop,
    /// `RSET`: unmarks every message marked for deletion in this session.
    Rset,
    /// `QUIT`: ends the session; the server then deletes the marked messages (UPDATE state).
    Quit,
    /// `AUTH mechanism [initial-response]` (RFC 5034).
    Auth {
        /// The SASL mechanism name, such as `PLAIN`.
        mechanism: &'a str,
        /// The base64 initial response, if sent with the command (`=` for an empty one).
        initial: Option<&'a str>,
    },
    /// A line answering a SASL challenge: base64, empty, or `*` to cancel.
    SaslResponse(&'a str),
}

impl Command<'_> {
    /// Whether a positive answer to this command carries a multi-line body (RFC 1939, RFC 2449).
    pub fn is_multiline(&self) -> bool {
        matches!(
            self,
            Command::Capa
                | Command::List(None)
                | Command::Uidl(None)
                | Command::Retr(_)
                | Command::Top { .. }
        )
    }

    /// Appends the wire form, CRLF included, to `out`. Arguments that could inject a second
    /// command (CR, LF, NUL) or break the single-argument grammar are refused before anything is
    /// written.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), ProtocolError> {
        let start = out.len();
        match *self {
            Command::Capa => out.extend_from_slice(b"CAPA"),
            Command::Stls => out.extend_from_slice(b"STLS"),
            Command::User(user) => {
                check_atom("user name", user)?;
                out.extend_from_slice(b"USER ");
                out.extend_from_slice(user.as_bytes());
            }
            Command::Pass(password) => {
                check_line_safe("password", password)?;
                out.extend_from_slice(b"PASS ");
                out.extend_from_slice(password.as_bytes());
            }
            Command::Apop { user, digest } => {
                check_atom("user name", user)?;
                check_atom("digest", digest)?;
                out.extend_from_slice(b"APOP ");
                out.extend_from_slice(user.as_bytes());
                out.push(b' ');
                out.extend_from_slice(digest.as_bytes());
            }
            Command::Stat => out.extend_from_slice(b"STAT"),
            Command::List(None) => out.extend_from_slice(b"LIST"),
            Command::List(Some(n)) => write_numbered(out, "LIST", &[n]),
            Command::Uidl(None) => out.extend_from_slice(b"UIDL"),
            Command::Uidl(Some(n)) => write_numbered(out, "UIDL", &[n]),
            Command::Retr(n) => write_numbered(out, "RETR", &[n]),
            Command::Top { message, lines } => write_numbered(out, "TOP", &[message, lines]),
            Command::Dele(n) => write_numbered(out, "DELE", &[n]),
            Command::Noop => out.extend_from_slice(b"NOOP"),
            Command::Rset => out.extend_from_slice(b"RSET"),
            Command::Quit => out.extend_from_slice(b"QUIT"),
            Command::Auth { mechanism, initial } => {
                check_atom("SASL mechanism", mechanism)?;
                out.extend_from_slice(b"AUTH ");
                out.extend_from_slice(mechanism.as_bytes());
                if let Some(initial) = initial {
                    check_atom("initial response", initial)?;
                    out.push(b' ');
                    out.extend_from_slice(initial.as_bytes());
                }
            }
            Command::SaslResponse(line) => {
                if !line.is_empty() {
                    check_atom("SASL response", line)?;
                }
                out.extend_from_slice(line.as_bytes());
            }
        }
        out.extend_from_slice(b"\r\n");
        // RFC 5034 section 4: a SASL response line may be up to 12288 octets (OAuth tokens are
        // long); commands keep RFC 2449's 255.
        let limit = match self {
            Command::SaslResponse(_) => MAX_SASL_RESPONSE,
            _ => MAX_COMMAND,
        };
        if out.len() - start > limit {
            out.truncate(start);
            return Err(ProtocolError::new(format!(
                "the {} command would be longer than {limit} octets",
                self.name()
            )));
        }
        Ok(())
    }

    /// The command's keyword, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Capa => "CAPA",
            Command::Stls => "STLS",
            Command::User(_) => "USER",
            Command::Pass(_) => "PASS",
            Command::Apop { .. } => "APOP",
            Command::Stat => "STAT",
            Command::List(_) => "LIST",
            Command::Uidl(_) => "UIDL",
            Command::Retr(_) => "RETR",
            Command::Top { .. } => "TOP",
            Command::Dele(_) => "DELE",
            Command::Noop => "NOOP",
            Command::Rset => "RSET",
            Command::Quit => "QUIT",
            Command::Auth { .. } | Command::SaslResponse(_) => "AUTH",
        }
    }

    /// The command as it may appear in a trace: secrets replaced by `***`.
    pub fn redacted(&self) -> String {
        match *self {
            Command::Pass(_) => "PASS ***".to_string(),
            Command::Apop { user, .. } => format!("APOP {} ***", super::sanitize(user.as_bytes())),
            Command::Auth {
                mechanism,
                initial: Some(_),
            } => {
                format!("AUTH {} ***", super::sanitize(mechanism.as_bytes()))
            }
            Command::SaslResponse(line) if line.is_empty() || line == "*" => line.to_string(),
            Command::SaslResponse(_) => "***".to_string(),
            _ => {
                let mut out = Vec::new();
                match self.encode(&mut out) {
                    Ok(()) => super::sanitize(out.strip_suffix(b"\r\n").unwrap_or(&out)),
                    Err(_) => self.name().to_string(),
                }
            }
        }
    }
}

impl std::fmt::Debug for Command<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

fn write_numbered(out: &mut Vec<u8>, keyword: &str, numbers: &[u32]) {
    out.extend_from_slice(keyword.as_bytes());
    for n in numbers {
        out.push(b' ');
        out.extend_from_slice(n.to_string().as_bytes());
    }
}

/// A value that must stay within one line: no CR, LF or NUL.
fn check_line_safe(what: &str, value: &str) -> Result<(), ProtocolError> {
    if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(ProtocolError::new(format!(
            "the {what} contains a line break or NUL byte and cannot be sent"
        )));
    }
    if value.is_empty() {
        return Err(ProtocolError::new(format!("the {what} is empty")));
    }
    Ok(())
}

/// A single command argument: line-safe and without spaces or other control characters.
fn check_atom(what: &str, value: &str) -> Result<(), ProtocolError> {
    check_line_safe(what, value)?;
    if value.chars().any(|c| c == ' ' || c.is_control()) {
        return Err(ProtocolError::new(format!(
            "the {what} contains a space or control character and cannot be sent as one argument"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(command: Command) -> Vec<u8> {
        let mut out = Vec::new();
        command.encode(&mut out).unwrap();
        out
    }

    #[test]
    fn encodes_exact_wire_forms() {
        assert_eq!(wire(Command::Capa), b"CAPA\r\n");
        assert_eq!(wire(Command::User("me")), b"USER me\r\n");
        assert_eq!(
            wire(Command::Pass("pass with spaces")),
            b"PASS pass with spaces\r\n"
        );
        assert_eq!(wire(Command::List(None)), b"LIST\r\n");
        assert_eq!(wire(Command::List(Some(7))), b"LIST 7\r\n");
        assert_eq!(wire(Command::Retr(4_294_967_295)), b"RETR 4294967295\r\n");
        assert_eq!(
            wire(Command::Top {
                message: 3,
                lines: 0
            }),
            b"TOP 3 0\r\n"
        );
        assert_eq!(
            wire(Command::Apop {
                user: "mrose",
                digest: "c4c9334bac560ecc979e58001b3e22fb"
            }),
            b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n"
        );
    }

    #[test]
    fn refuses_command_injection_through_arguments() {
        // A configured value must never smuggle a second command.
        for bad in ["x\r\nDELE 1", "x\nDELE 1", "x\0y", ""] {
            let mut out = Vec::new();
            assert!(Command::Pass(bad).encode(&mut out).is_err(), "{bad:?}");
            assert!(Command::User(bad).encode(&mut out).is_err(), "{bad:?}");
            assert!(out.is_empty());
        }
        let mut out = Vec::new();
        assert!(Command::User("two words").encode(&mut out).is_err());
        assert!(Command::User("tab\tname").encode(&mut out).is_err());
    }

    #[test]
    fn refuses_commands_over_255_octets() {
        let long = "p".repeat(250);
        let mut out = b"kept".to_vec();
        assert!(Command::Pass(&long).encode(&mut out).is_err());
        assert_eq!(out, b"kept");
        assert!(Command::Pass(&"p".repeat(248)).encode(&mut out).is_ok());
    }

    #[test]
    fn encodes_sasl_commands() {
        assert_eq!(
            wire(Command::Auth {
                mechanism: "PLAIN",
                initial: Some("dGVzdAB0ZXN0AHRlc3Q=")
            }),
            b"AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=\r\n"
        );
        assert_eq!(
            wire(Command::Auth {
                mechanism: "XOAUTH2",
                initial: None
            }),
            b"AUTH XOAUTH2\r\n"
        );
        assert_eq!(wire(Command::SaslResponse("")), b"\r\n");
        assert_eq!(wire(Command::SaslResponse("*")), b"*\r\n");
        let mut out = Vec::new();
        assert!(Command::SaslResponse("a\r\nDELE 1")
            .encode(&mut out)
            .is_err());
        assert_eq!(
            Command::Auth {
                mechanism: "PLAIN",
                initial: Some("c2VjcmV0")
            }
            .redacted(),
            "AUTH PLAIN ***"
        );
        assert_eq!(Command::SaslResponse("c2VjcmV0").redacted(), "***");
    }

    #[test]
    fn redacts_secrets_in_traces() {
        assert_eq!(Command::Pass("hunter2").redacted(), "PASS ***");
        assert_eq!(
            Command::Apop {
                user: "me",
                digest: "abcd"
            }
            .redacted(),
            "APOP me ***"
        );
        assert_eq!(format!("{:?}", Command::Pass("hunter2")), "PASS ***");
        assert_eq!(Command::Retr(3).redacted(), "RETR 3");
    }
}
