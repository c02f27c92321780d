//! Server replies (RFC 5321 section 4.2): one or more lines of a three-digit code, with the
//! enhanced status code of RFC 3463 taken out of the text when one leads it.

use std::fmt;

use super::{sanitize, ProtocolError, MAX_REPLY_LINES};

/// An enhanced status code (RFC 3463): `(class, subject, detail)`, as `5.1.1` is `(5, 1, 1)`.
pub type EnhancedCode = (u8, u16, u16);

/// One complete reply: its code, its enhanced status code if the text began with one, and
/// its text (the lines joined with `\n`, control characters escaped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit reply code, 200 to 599.
    pub code: u16,
    /// The enhanced status code (RFC 3463) as `(class, subject, detail)`, when the first line's
    /// text began with one whose class matches the code's first digit.
    pub enhanced: Option<EnhancedCode>,
    /// The text after the code (and after the enhanced code where there was one), one line per
    /// reply line, joined with `\n`, sanitized for printing.
    pub text: String,
}

impl Reply {
    /// 2xx: the command succeeded (and, after the data, the message was delivered).
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 3xx: the server waits for more (354 after DATA).
    pub fn is_intermediate(&self) -> bool {
        (300..400).contains(&self.code)
    }

    /// 4xx: a temporary failure; the same command may succeed later.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// 5xx: a permanent failure; repeating the command will fail again.
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }
}

/// The code, the enhanced code and the first line of the text, as a log would show it.
impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some((class, subject, detail)) = self.enhanced {
            write!(f, " {class}.{subject}.{detail}")?;
        }
        match self.text.lines().next() {
            Some(line) if !line.is_empty() => write!(f, " {line}"),
            _ => Ok(()),
        }
    }
}

/// One reply line, split: its code, whether more lines follow, and its raw text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyLine<'a> {
    /// The three-digit code.
    pub code: u16,
    /// `true` for `ddd-text`: more lines of the same reply follow.
    pub more: bool,
    /// The text after the separator, as sent.
    pub text: &'a [u8],
}

/// Splits one reply line (without its CRLF): `ddd`, `ddd text` or `ddd-text`, the code from 200
/// to 599 (RFC 5321 section 4.2 has nothing else; 1xx is unused).
pub fn parse_reply_line(line: &[u8]) -> Result<ReplyLine<'_>, ProtocolError> {
    let malformed = || ProtocolError::new(format!("malformed reply line: {}", sanitize(line)));
    let (digits, rest) = line.split_at_checked(3).ok_or_else(malformed)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(malformed());
    }
    let code = digits
        .iter()
        .fold(0u16, |code, digit| code * 10 + u16::from(digit - b'0'));
    if !(200..600).contains(&code) {
        return Err(malformed());
    }
    let (more, text) = match rest.split_first() {
        None => (false, rest),
        Some((b' ', text)) => (false, text),
        Some((b'-', text)) => (true, text),
        Some(_) => return Err(malformed()),
    };
    Ok(ReplyLine { code, more, text })
}

/// An enhanced status code at the start of `text` whose class is `class`, and the text after it
/// and the space that follows it (RFC 3463: `class.subject.detail`, subject and detail of one to
/// three digits).
fn split_enhanced(text: &[u8], class: u8) -> Option<(EnhancedCode, &[u8])> {
    let end = text.iter().position(|&b| b == b' ').unwrap_or(text.len());
    let (status, rest) = text.split_at(end);
    let rest = rest.strip_prefix(b" ").unwrap_or(rest);
    let mut parts = status.split(|&b| b == b'.');
    let mut number = |max_len: usize| -> Option<u16> {
        let part = parts.next()?;
        if part.is_empty() || part.len() > max_len || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(part.iter().fold(0, |n, d| n * 10 + u16::from(d - b'0')))
    };
    let found_class = number(1)?;
    let subject = number(3)?;
    let detail = number(3)?;
    if parts.next().is_some() || found_class != u16::from(class) {
        return None;
    }
    Some(((class, subject, detail), rest))
}

/// Gathers the lines of one reply, refusing more than [`MAX_REPLY_LINES`] or lines whose codes
/// differ, so that memory stays bounded and a reply out of step is noticed.
#[derive(Debug, Default)]
pub struct ReplyBuilder {
    code: Option<u16>,
    enhanced: Option<EnhancedCode>,
    lines: Vec<String>,
}

impl ReplyBuilder {
    /// Adds one line (without its CRLF); the complete reply once its last line came.
    pub fn push(&mut self, line: &[u8]) -> Result<Option<Reply>, ProtocolError> {
        let parsed = parse_reply_line(line)?;
        match self.code {
            None => self.code = Some(parsed.code),
            Some(code) if code != parsed.code => {
                return Err(ProtocolError::new(format!(
                    "a reply begun with code {code} goes on with {}",
                    parsed.code
                )))
            }
            Some(_) => {}
        }
        if self.lines.len() >= MAX_REPLY_LINES {
            return Err(ProtocolError::new(format!(
                "a reply runs on past {MAX_REPLY_LINES} lines"
            )));
        }
        // The class digit is the code's first digit: 2, 4 or 5 where an enhanced code may stand.
        let class = (parsed.code / 100) as u8;
        let text = match split_enhanced(parsed.text, class) {
            Some((enhanced, rest)) if self.lines.is_empty() => {
                self.enhanced = Some(enhanced);
                rest
            }
            // Later lines usually repeat the first line's enhanced code.
            Some((enhanced, rest)) if Some(enhanced) == self.enhanced => rest,
            _ => parsed.text,
        };
        self.lines.push(sanitize(text));
        if parsed.more {
            return Ok(None);
        }
        let reply = Reply {
            code: parsed.code,
            enhanced: self.enhanced,
            text: self.lines.join("\n"),
        };
        *self = ReplyBuilder::default();
        Ok(Some(reply))
    }

    /// Parses a whole reply from its lines; an error if the last line says more follow.
    #[cfg(test)]
    pub(crate) fn parse_all(lines: &[&[u8]]) -> Result<Reply, ProtocolError> {
        let mut builder = ReplyBuilder::default();
        for line in lines {
            if let Some(reply) = builder.push(line)? {
                return Ok(reply);
            }
        }
        Err(ProtocolError::new("an incomplete reply"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(lines: &[&[u8]]) -> Result<Reply, ProtocolError> {
        ReplyBuilder::parse_all(lines)
    }

    #[test]
    fn single_lines_with_and_without_enhanced_codes() {
        let reply = parse(&[b"250 2.1.5 Ok"]).unwrap();
        assert_eq!(
            reply,
            Reply {
                code: 250,
                enhanced: Some((2, 1, 5)),
                text: "Ok".into()
            }
        );
        assert!(reply.is_positive() && !reply.is_transient() && !reply.is_permanent());
        assert_eq!(reply.to_string(), "250 2.1.5 Ok");

        let reply = parse(&[b"550 5.1.1 <bob@x> User doesn't exist: bob"]).unwrap();
        assert_eq!(reply.enhanced, Some((5, 1, 1)));
        assert_eq!(reply.text, "<bob@x> User doesn't exist: bob");
        assert!(reply.is_permanent());

        let reply = parse(&[b"451 4.3.0 Temporary failure"]).unwrap();
        assert!(reply.is_transient());
        assert_eq!(reply.enhanced, Some((4, 3, 0)));

        let reply = parse(&[b"354 OK"]).unwrap();
        assert!(reply.is_intermediate());
        assert_eq!(reply.enhanced, None);

        // No text at all, or an empty one.
        assert_eq!(parse(&[b"250"]).unwrap().text, "");
        assert_eq!(parse(&[b"250 "]).unwrap().text, "");
    }

    #[test]
    fn an_enhanced_code_of_another_class_or_shape_is_text() {
        for (line, text) in [
            (&b"250 5.1.1 odd"[..], "5.1.1 odd"),
            (b"250 2.1 short", "2.1 short"),
            (b"250 2.1.5.6 long", "2.1.5.6 long"),
            (b"250 2.1000.5 wide", "2.1000.5 wide"),
            (b"250 22.1.5 wide", "22.1.5 wide"),
            (b"250 2..5 empty", "2..5 empty"),
            (b"250 version 2.3.19", "version 2.3.19"),
        ] {
            let reply = parse(&[line]).unwrap();
            assert_eq!(reply.enhanced, None, "{line:?}");
            assert_eq!(reply.text, text);
        }
        // An enhanced code alone.
        let reply = parse(&[b"250 2.0.0"]).unwrap();
        assert_eq!((reply.enhanced, reply.text.as_str()), (Some((2, 0, 0)), ""));
    }

    #[test]
    fn multi_line_replies_join_their_lines() {
        let reply = parse(&[
            b"250-mail.example",
            b"250-8BITMIME",
            b"250-ENHANCEDSTATUSCODES",
            b"250 PIPELINING",
        ])
        .unwrap();
        assert_eq!(reply.code, 250);
        assert_eq!(
            reply.text,
            "mail.example\n8BITMIME\nENHANCEDSTATUSCODES\nPIPELINING"
        );
        let reply = parse(&[b"452-4.2.2 Mailbox full", b"452 4.2.2 try later"]).unwrap();
        assert_eq!(reply.enhanced, Some((4, 2, 2)));
        assert_eq!(reply.text, "Mailbox full\ntry later");
    }

    #[test]
    fn malformed_lines_are_refused() {
        for line in [
            &b""[..],
            b"25",
            b"abc hello",
            b"2500 x",
            b"250x",
            b"199 low",
            b"600 high",
            b"099 zero",
            b"+OK pop3",
            b"25 0",
        ] {
            assert!(
                parse(&[line]).is_err(),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
        // Lines of one reply with two codes: the answers are out of step.
        assert!(parse(&[b"250-a", b"550 b"]).is_err());
    }

    #[test]
    fn text_is_sanitized() {
        let reply = parse(&[b"250 ok\x1b[2J\xff"]).unwrap();
        assert_eq!(reply.text, "ok\\u{1b}[2J\u{fffd}");
    }

    #[test]
    fn replies_are_bounded_in_lines() {
        let mut builder = ReplyBuilder::default();
        for _ in 0..MAX_REPLY_LINES {
            assert_eq!(builder.push(b"250-more").unwrap(), None);
        }
        assert!(builder.push(b"250-more").is_err());
    }
}
