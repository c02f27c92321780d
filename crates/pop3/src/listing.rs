//! Parsers for what the server reports about the maildrop: STAT, LIST, UIDL, CAPA and the APOP
//! timestamp in the greeting.

use super::ProtocolError;

/// One line of a LIST listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanEntry {
    /// The message number.
    pub message: u32,
    /// The size in octets the server reports; RFC 1939 counts CRLF line ends, real servers vary
    /// (see [`size_slack`](super::size_slack)).
    pub size: u64,
}

/// One line of a UIDL listing. The id is kept as raw bytes: servers send more than RFC 1939's
/// printable ASCII, and it is only ever compared and stored escaped, never used as a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UidlEntry {
    /// The message number.
    pub message: u32,
    /// The unique id, raw bytes as sent.
    pub uid: Vec<u8>,
}

/// Parses the text of `+OK count octets` answering STAT.
pub fn parse_stat(text: &[u8]) -> Result<(u32, u64), ProtocolError> {
    let mut fields = fields(text);
    let count = fields.next().and_then(parse_decimal::<u32>);
    let size = fields.next().and_then(parse_decimal::<u64>);
    match (count, size) {
        (Some(count), Some(size)) => Ok((count, size)),
        _ => Err(ProtocolError::new(format!(
            "malformed STAT answer \"{}\"",
            super::sanitize(text)
        ))),
    }
}

/// Parses `n size [anything]` from LIST (one line of the listing, or the text of `LIST n`).
pub fn parse_scan_line(line: &[u8]) -> Result<ScanEntry, ProtocolError> {
    let mut fields = fields(line);
    let message = fields
        .next()
        .and_then(parse_decimal::<u32>)
        .filter(|&n| n > 0);
    let size = fields.next().and_then(parse_decimal::<u64>);
    match (message, size) {
        (Some(message), Some(size)) => Ok(ScanEntry { message, size }),
        _ => Err(ProtocolError::new(format!(
            "malformed LIST line \"{}\"",
            super::sanitize(line)
        ))),
    }
}

/// Parses `n uid` from UIDL. Extra spaces between the fields are tolerated (seen in the wild);
/// trailing spaces are not part of the id.
pub fn parse_uidl_line(line: &[u8]) -> Result<UidlEntry, ProtocolError> {
    let malformed =
        || ProtocolError::new(format!("malformed UIDL line \"{}\"", super::sanitize(line)));
    let space = line.iter().position(|&b| b == b' ').ok_or_else(malformed)?;
    let (number, rest) = line.split_at_checked(space).ok_or_else(malformed)?;
    let message = parse_decimal::<u32>(number)
        .filter(|&n| n > 0)
        .ok_or_else(malformed)?;
    let uid = trim_spaces(rest);
    if uid.is_empty() {
        return Err(malformed());
    }
    Ok(UidlEntry {
        message,
        uid: uid.to_vec(),
    })
}

fn trim_spaces(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    bytes.get(start..end.max(start)).unwrap_or_default()
}

fn fields(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split(|&b| b == b' ').filter(|field| !field.is_empty())
}

/// A plain decimal number: digits only (no sign, no spaces), within the type's range.
fn parse_decimal<T: std::str::FromStr>(field: &[u8]) -> Option<T> {
    if field.is_empty() || field.len() > 20 || !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(field).ok()?.parse().ok()
}

/// The APOP timestamp in a greeting, if there is exactly one well-formed `<local@domain>` of
/// printable ASCII. Anything doubtful disables APOP rather than letting the server choose what
/// gets hashed with the password (CVE-2007-1558).
pub fn apop_timestamp(greeting: &[u8]) -> Option<&[u8]> {
    let start = greeting.iter().position(|&b| b == b'<')?;
    let from_start = greeting.get(start..)?;
    let length = from_start.iter().position(|&b| b == b'>')? + 1;
    let (timestamp, after) = from_start.split_at_checked(length)?;
    // Between the brackets.
    let inner = timestamp.get(1..length - 1)?;
    if inner.contains(&b'<') || after.iter().any(|&b| b == b'<' || b == b'>') {
        return None;
    }
    let at = inner.iter().position(|&b| b == b'@')?;
    let (local, domain) = inner.split_at_checked(at)?;
    let domain = domain.get(1..)?;
    let printable = |part: &[u8]| {
        !part.is_empty()
            && part
                .iter()
                .all(|&b| (0x21..=0x7e).contains(&b) && b != b'@')
    };
    if !printable(local) || !printable(domain) {
        return None;
    }
    Some(timestamp)
}

/// What the server announced in answer to CAPA. Tags are case-insensitive; unknown ones are kept
/// only for display.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// The capability lines as received, one tag and its arguments each.
    pub lines: Vec<String>,
}

impl Capabilities {
    /// Builds the set from the lines of a CAPA answer.
    pub fn from_lines(lines: Vec<String>) -> Self {
        Capabilities { lines }
    }

    fn find(&self, tag: &str) -> Option<&str> {
        self.lines.iter().map(String::as_str).find(|line| {
            let name = line.split(' ').next().unwrap_or("");
            name.eq_ignore_ascii_case(tag)
        })
    }

    /// Whether the capability `tag` was announced, compared case-insensitively.
    pub fn has(&self, tag: &str) -> bool {
        self.find(tag).is_some()
    }

    /// Whether the server offers STLS (RFC 2595).
    pub fn stls(&self) -> bool {
        self.has("STLS")
    }

    /// Whether the server announces UIDL (RFC 2449).
    pub fn uidl(&self) -> bool {
        self.has("UIDL")
    }

    /// Whether the server announces TOP (RFC 2449).
    pub fn top(&self) -> bool {
        self.has("TOP")
    }

    /// Whether the server accepts pipelined commands (RFC 2449).
    pub fn pipelining(&self) -> bool {
        self.has("PIPELINING")
    }

    /// Whether the server offers USER/PASS login (RFC 2449).
    pub fn user(&self) -> bool {
        self.has("USER")
    }

    /// SASL mechanisms, upper case.
    pub fn sasl_mechanisms(&self) -> Vec<String> {
        self.find("SASL")
            .map(|line| {
                line.split(' ')
                    .skip(1)
                    .filter(|m| !m.is_empty())
                    .map(str::to_ascii_uppercase)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The IMPLEMENTATION text, informational only.
    pub fn implementation(&self) -> Option<&str> {
        self.find("IMPLEMENTATION")
            .map(|line| line.get("IMPLEMENTATION".len()..).unwrap_or("").trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat() {
        assert_eq!(parse_stat(b"2 320").unwrap(), (2, 320));
        assert_eq!(parse_stat(b"0 0").unwrap(), (0, 0));
        // Signs, overflow and junk are refused.
        for bad in [&b"-1 3"[..], b"+1 3", b"4294967296 1", b"x 1", b"1", b""] {
            assert!(
                parse_stat(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn parses_scan_lines() {
        assert_eq!(
            parse_scan_line(b"1 120").unwrap(),
            ScanEntry {
                message: 1,
                size: 120
            }
        );
        assert_eq!(
            parse_scan_line(b"7 5 extra info").unwrap(),
            ScanEntry {
                message: 7,
                size: 5
            }
        );
        assert_eq!(
            parse_scan_line(b"3  44").unwrap(),
            ScanEntry {
                message: 3,
                size: 44
            }
        );
        // Numbers start at 1, carry no sign and must fit; each line has a number and a size.
        for bad in [
            &b"0 5"[..],
            b"-1 100",
            b"+1 100",
            b"1",
            b"a 1",
            b"1 -5",
            b"99999999999 1",
        ] {
            assert!(
                parse_scan_line(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn parses_uidl_lines() {
        let entry = parse_uidl_line(b"1 whqtswO00WBw418f9t5JxYwZ").unwrap();
        assert_eq!(
            (entry.message, entry.uid.as_slice()),
            (1, &b"whqtswO00WBw418f9t5JxYwZ"[..])
        );
        assert_eq!(parse_uidl_line(b"2   spaced  ").unwrap().uid, b"spaced");
        let long = [b"3 ".as_slice(), &[b'x'; 200]].concat();
        assert_eq!(parse_uidl_line(&long).unwrap().uid.len(), 200);
        assert_eq!(
            parse_uidl_line(b"4 ../../etc/passwd").unwrap().uid,
            b"../../etc/passwd"
        );
        for bad in [&b"1"[..], b"1 ", b"0 x", b"x y", b"-1 y", b""] {
            assert!(
                parse_uidl_line(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn finds_valid_apop_timestamps_only() {
        let greeting = b"POP3 server ready <1896.697170952@dbc.mtview.ca.us>";
        assert_eq!(
            apop_timestamp(greeting),
            Some(&b"<1896.697170952@dbc.mtview.ca.us>"[..])
        );
        // A timestamp is one `<...@...>` with nothing odd inside; anything else means no APOP.
        for bad in [
            &b"ready"[..],
            b"ready <>",
            b"ready <no-at-sign>",
            b"ready <a@b> <c@d>",
            b"ready <a<b@c>",
            b"ready <a@b",
            b"ready <a b@c>",
            b"ready <\xc3\xa9@c>",
            b"ready <@c>",
            b"ready <a@>",
        ] {
            assert_eq!(
                apop_timestamp(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn reads_capabilities_case_insensitively() {
        let capa = Capabilities::from_lines(vec![
            "top".into(),
            "UIDL".into(),
            "SASL plain SCRAM-SHA-256".into(),
            "PIPELINING".into(),
            "IMPLEMENTATION Test server 1.0".into(),
        ]);
        assert!(capa.top() && capa.uidl() && capa.pipelining());
        assert!(!capa.stls() && !capa.user());
        assert_eq!(capa.sasl_mechanisms(), vec!["PLAIN", "SCRAM-SHA-256"]);
        assert_eq!(capa.implementation(), Some("Test server 1.0"));
        assert!(!Capabilities::from_lines(vec!["STLSX".into()]).stls());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_line_parses_or_fails_without_panicking(line in proptest::collection::vec(any::<u8>(), 0..120)) {
            if let Ok(entry) = parse_scan_line(&line) {
                prop_assert!(entry.message > 0);
            }
            if let Ok(entry) = parse_uidl_line(&line) {
                prop_assert!(entry.message > 0 && !entry.uid.is_empty());
                prop_assert!(!entry.uid.starts_with(b" ") && !entry.uid.ends_with(b" "));
            }
            let _ = parse_stat(&line);
            let _ = apop_timestamp(&line);
        }

        #[test]
        fn uidl_lines_round_trip(
            message in 1u32..,
            uid in proptest::collection::vec(0x21u8..=0x7e, 1..=70),
        ) {
            let line = [format!("{message} ").as_bytes(), &uid].concat();
            let entry = parse_uidl_line(&line).unwrap();
            prop_assert_eq!(entry, UidlEntry { message, uid });
        }

        #[test]
        fn scan_lines_round_trip(message in 1u32.., size: u64, extra in "[ a-z0-9]{0,20}") {
            let line = format!("{message} {size} {extra}");
            prop_assert_eq!(parse_scan_line(line.as_bytes()).unwrap(), ScanEntry { message, size });
            prop_assert_eq!(parse_stat(format!("{message} {size}").as_bytes()).unwrap(), (message, size));
        }

        #[test]
        fn an_apop_timestamp_is_printable_ascii_in_brackets(greeting in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Some(timestamp) = apop_timestamp(&greeting) {
                prop_assert!(timestamp.starts_with(b"<") && timestamp.ends_with(b">"));
                prop_assert!(timestamp.iter().all(|&b| (0x21..=0x7e).contains(&b)));
                prop_assert_eq!(greeting.iter().filter(|&&b| b == b'<').count(), 1);
            }
        }
    }
}
