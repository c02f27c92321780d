//! Status lines (`+OK` / `-ERR`) and the extended response codes of RFC 2449 and RFC 3206.

use super::ProtocolError;

/// A parsed status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Whether the line was `+OK` rather than `-ERR`.
    pub ok: bool,
    /// The `[CODE/...]` at the start of the text, if any.
    pub code: Option<ResponseCode>,
    /// Everything after the status indicator and one space, raw (server bytes are not trusted to
    /// be UTF-8; use [`super::sanitize`] before showing them).
    pub text: Vec<u8>,
}

impl Status {
    /// The text made safe for a terminal.
    pub fn display_text(&self) -> String {
        super::sanitize(&self.text)
    }
}

/// Response codes the client acts on; unknown codes and hierarchy below them are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseCode {
    /// `[IN-USE]`: the maildrop is locked by another session (RFC 2449 section 8.1.1).
    InUse,
    /// `[LOGIN-DELAY]`: logging in again is not allowed yet (RFC 2449 section 8.1.2).
    LoginDelay,
    /// `[SYS/TEMP]`: a temporary system problem on the server (RFC 3206 section 4).
    SysTemp,
    /// `[SYS/PERM]`: a permanent system problem on the server (RFC 3206 section 4).
    SysPerm,
    /// `[AUTH]`: the credentials were refused (RFC 3206 section 5).
    Auth,
    /// `[UTF8]`: the failure has to do with UTF-8 support (RFC 6856).
    Utf8,
    /// Any other code, upper case, as sent between the brackets.
    Other(String),
}

impl ResponseCode {
    /// Whether the condition is expected to clear by itself (retry later, credentials not blamed).
    pub fn is_temporary(&self) -> bool {
        matches!(
            self,
            ResponseCode::InUse | ResponseCode::LoginDelay | ResponseCode::SysTemp
        )
    }

    fn parse(code: &str) -> ResponseCode {
        let upper = code.to_ascii_uppercase();
        let mut parts = upper.split('/');
        match (parts.next().unwrap_or(""), parts.next()) {
            ("IN-USE", _) => ResponseCode::InUse,
            ("LOGIN-DELAY", _) => ResponseCode::LoginDelay,
            ("SYS", Some("TEMP")) => ResponseCode::SysTemp,
            ("SYS", Some("PERM")) => ResponseCode::SysPerm,
            ("AUTH", _) => ResponseCode::Auth,
            ("UTF8", _) => ResponseCode::Utf8,
            _ => ResponseCode::Other(upper),
        }
    }
}

impl std::fmt::Display for ResponseCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            ResponseCode::InUse => "IN-USE",
            ResponseCode::LoginDelay => "LOGIN-DELAY",
            ResponseCode::SysTemp => "SYS/TEMP",
            ResponseCode::SysPerm => "SYS/PERM",
            ResponseCode::Auth => "AUTH",
            ResponseCode::Utf8 => "UTF8",
            ResponseCode::Other(other) => other,
        };
        write!(f, "[{name}]")
    }
}

/// Parses one status line (without its CRLF). Strict: anything that is not exactly `+OK` or
/// `-ERR` followed by a space or the end of the line is a protocol error, never success. The one
/// tolerated form is `-ERR` glued to its text (`-ERR[IN-USE] locked`, `-ERROR`): it cannot be
/// mistaken for success, so it is a negative answer (with its response code) rather than a
/// protocol violation.
pub fn parse_status(line: &[u8]) -> Result<Status, ProtocolError> {
    let (ok, rest) = if let Some(rest) = line.strip_prefix(b"+OK") {
        (true, rest)
    } else if let Some(rest) = line.strip_prefix(b"-ERR") {
        (false, rest)
    } else {
        return Err(ProtocolError::new(format!(
            "expected +OK or -ERR, got \"{}\"",
            super::sanitize(truncated(line))
        )));
    };
    let text = match rest {
        [] => &[][..],
        [b' ', text @ ..] => text,
        text if !ok => text,
        _ => {
            return Err(ProtocolError::new(format!(
                "malformed status line \"{}\"",
                super::sanitize(truncated(line))
            )))
        }
    };
    // A status line ends at its CRLF and nowhere else: a CR or LF inside it means the server
    // frames lines differently, and whatever follows could be another answer's text.
    if let Some(&byte) = line.iter().find(|&&b| matches!(b, 0 | b'\r' | b'\n')) {
        let what = match byte {
            0 => "NUL byte",
            b'\r' => "bare CR",
            _ => "bare LF",
        };
        return Err(ProtocolError::new(format!("{what} in a status line")));
    }
    Ok(Status {
        ok,
        code: response_code(text),
        text: text.to_vec(),
    })
}

fn response_code(text: &[u8]) -> Option<ResponseCode> {
    let inner = text.strip_prefix(b"[")?;
    let end = inner.iter().position(|&b| b == b']')?;
    let code = std::str::from_utf8(inner.get(..end)?).ok()?;
    if code.is_empty() || !code.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    Some(ResponseCode::parse(code))
}

fn truncated(line: &[u8]) -> &[u8] {
    line.get(..80).unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_positive_and_negative_lines() {
        let status = parse_status(b"+OK 2 200").unwrap();
        assert!(status.ok);
        assert_eq!(status.text, b"2 200");
        assert_eq!(status.code, None);

        let status = parse_status(b"+OK").unwrap();
        assert!(status.ok && status.text.is_empty());

        let status = parse_status(b"-ERR no such message").unwrap();
        assert!(!status.ok);
        assert_eq!(status.display_text(), "no such message");
    }

    #[test]
    fn rejects_anything_but_exact_indicators() {
        // Only `+OK` and `-ERR` exactly, followed by a space or the line end, are status
        // indicators; a lookalike must not count as success.
        for line in [
            &b"+OKAY"[..],
            b"+ok",
            b"OK",
            b"+Do you even care?",
            b"+OK[IN-USE]",
            b"+",
            b"-",
            b"-ER",
            b"",
            b" +OK",
        ] {
            assert!(
                parse_status(line).is_err(),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn err_glued_to_its_text_is_negative() {
        let status = parse_status(b"-ERR[IN-USE] locked").unwrap();
        assert!(!status.ok);
        assert_eq!(status.code, Some(ResponseCode::InUse));
        let status = parse_status(b"-ERROR x").unwrap();
        assert!(!status.ok);
        assert_eq!(status.code, None);
    }

    #[test]
    fn rejects_nul_and_tolerates_invalid_utf8() {
        assert!(parse_status(b"+OK hello\0world").is_err());
        // A line ends only at CRLF: CR or LF inside is a framing error.
        for line in [
            &b"+OK\nbody"[..],
            b"+OK 1 octets\rx",
            b"-ERR no\n",
            b"+OK\r",
            b"-ERR\r\n",
        ] {
            assert!(parse_status(line).is_err(), "{line:?}");
        }
        let status = parse_status(b"-ERR \xff\xfe bad").unwrap();
        assert_eq!(status.display_text(), "\u{fffd}\u{fffd} bad");
    }

    #[test]
    fn reads_response_codes_case_insensitively_ignoring_detail() {
        let code = |line: &[u8]| parse_status(line).unwrap().code;
        assert_eq!(code(b"-ERR [IN-USE] locked"), Some(ResponseCode::InUse));
        assert_eq!(
            code(b"-ERR [sys/temp/xyz] later"),
            Some(ResponseCode::SysTemp)
        );
        assert_eq!(code(b"-ERR [SYS/PERM] gone"), Some(ResponseCode::SysPerm));
        assert_eq!(
            code(b"-ERR [LOGIN-DELAY] wait"),
            Some(ResponseCode::LoginDelay)
        );
        assert_eq!(code(b"-ERR [AUTH] bad password"), Some(ResponseCode::Auth));
        assert_eq!(
            code(b"-ERR [X-NEW] what"),
            Some(ResponseCode::Other("X-NEW".into()))
        );
        assert_eq!(code(b"-ERR [unterminated"), None);
        assert_eq!(code(b"-ERR plain [IN-USE]"), None);
        assert!(ResponseCode::SysTemp.is_temporary());
        assert!(!ResponseCode::Auth.is_temporary());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_bytes_parse_or_fail_without_panicking(line in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(status) = parse_status(&line) {
                // Success only for an exact indicator followed by a space or nothing.
                let rest = if status.ok { line.strip_prefix(b"+OK") } else { line.strip_prefix(b"-ERR") };
                let rest = rest.expect("an exact indicator");
                prop_assert!(rest.is_empty() || rest[0] == b' ');
                prop_assert!(!status.text.iter().any(|b| matches!(b, 0 | b'\r' | b'\n')));
                let _ = status.display_text();
            }
        }

        #[test]
        fn status_text_round_trips(ok: bool, text in proptest::collection::vec(any::<u8>().prop_filter("line-safe", |b| !matches!(b, 0 | b'\r' | b'\n')), 0..200)) {
            let mut line = if ok { b"+OK ".to_vec() } else { b"-ERR ".to_vec() };
            line.extend_from_slice(&text);
            let status = parse_status(&line).unwrap();
            prop_assert_eq!(status.ok, ok);
            prop_assert!(!status.display_text().chars().any(char::is_control));
            prop_assert_eq!(status.text, text);
        }
    }
}
