//! The tokens of a `.fetchmailrc`, split as fetchmail's lexer splits them: `#` comments, `;:,`
//! ignored, strings in double or single quotes (ending at the first matching quote) with
//! fetchmail's escapes, a backslash before a line end joining lines.

use std::path::Path;

use crate::import::model::ParseError;

/// One token and the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Token {
    pub kind: Kind,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kind {
    /// An unquoted word: a keyword where the grammar expects one, else a value.
    Word(String),
    /// A quoted string: always a value.
    Quoted(String),
    Number(String),
    /// `=`, in `is` lists (`remote=local`) and `set logfile = FILE`.
    Map,
    /// `*`, at the end of an `is` list.
    Wildcard,
}

impl Kind {
    pub fn text(&self) -> Option<&str> {
        match self {
            Kind::Word(text) | Kind::Quoted(text) | Kind::Number(text) => Some(text),
            Kind::Map | Kind::Wildcard => None,
        }
    }
}

/// Splits the file into tokens.
pub(super) fn tokenize(file: &Path, text: &str) -> Result<Vec<Token>, ParseError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let (mut at, mut line) = (0, 1);
    let ends_word = |b: u8| b"=;:, \t\r\n".contains(&b);
    while at < bytes.len() {
        match bytes[at] {
            b'\n' => {
                line += 1;
                at += 1;
            }
            b' ' | b'\t' | b'\r' | b';' | b':' | b',' => at += 1,
            b'\\' if bytes.get(at + 1) == Some(&b'\n') => {
                line += 1;
                at += 2;
            }
            b'#' => {
                while at < bytes.len() && bytes[at] != b'\n' {
                    at += 1;
                }
            }
            b'=' => {
                tokens.push(Token {
                    kind: Kind::Map,
                    line,
                });
                at += 1;
            }
            first => {
                let word_end = bytes[at..]
                    .iter()
                    .position(|&b| ends_word(b))
                    .map_or(bytes.len(), |n| at + n);
                let quoted_end = (first == b'"' || first == b'\'')
                    .then(|| bytes[at + 1..].iter().position(|&b| b == first))
                    .map(|end| end.map(|n| at + 1 + n + 1));
                match quoted_end {
                    // The lexer takes the longer match; on a tie the quoted string.
                    Some(Some(end)) if end >= word_end => {
                        let inner = &text[at + 1..end - 1];
                        tokens.push(Token {
                            kind: Kind::Quoted(escapes(inner)),
                            line,
                        });
                        line += inner.matches('\n').count();
                        at = end;
                    }
                    Some(None) => {
                        return Err(ParseError::at(file, line, "a quoted string is not closed"))
                    }
                    _ => {
                        let word = &text[at..word_end];
                        let digits = word.strip_prefix('-').unwrap_or(word);
                        let kind = if word == "*" {
                            Kind::Wildcard
                        } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                            Kind::Number(word.to_string())
                        } else {
                            Kind::Word(escapes(word))
                        };
                        tokens.push(Token { kind, line });
                        at = word_end;
                    }
                }
            }
        }
    }
    Ok(tokens)
}

/// fetchmail's escapes: `\n \t \b \r \\`, `\xHH`, `\0OO` (octal, the 0 counting as a digit),
/// `\DDD` (decimal), a backslash before a line end joins the lines, any other `\c` is `c`.
fn escapes(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] != b'\\' || at + 1 == bytes.len() {
            if bytes[at] != b'\\' {
                out.push(bytes[at]);
            }
            at += 1;
            continue;
        }
        at += 1;
        let (radix, max, skip) = match bytes[at] {
            b'x' | b'X' => (16, 2, 1),
            b'0' => (8, 3, 0),
            b'1'..=b'9' => (10, 3, 0),
            other => {
                match other {
                    b'\n' => {}
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'b' => out.push(8),
                    b'r' => out.push(b'\r'),
                    other => out.push(other),
                }
                at += 1;
                continue;
            }
        };
        at += skip;
        let mut value: u32 = 0;
        let mut count = 0;
        while count < max && at < bytes.len() && (bytes[at] as char).is_digit(radix) {
            value = value * radix + (bytes[at] as char).to_digit(radix).unwrap_or(0);
            at += 1;
            count += 1;
        }
        out.push(value as u8);
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<Kind> {
        tokenize(Path::new("rc"), text)
            .unwrap()
            .into_iter()
            .map(|t| t.kind)
            .collect()
    }

    #[test]
    fn tokenizes_as_fetchmails_lexer() {
        assert_eq!(
            words("poll a.b, with proto POP3; # comment \"x\n user 'it''s' pass \"p w\\x41\\n\""),
            vec![
                Kind::Word("poll".into()),
                Kind::Word("a.b".into()),
                Kind::Word("with".into()),
                Kind::Word("proto".into()),
                Kind::Word("POP3".into()),
                Kind::Word("user".into()),
                // The longer match wins, as in flex: a word with quotes in it.
                Kind::Word("'it''s'".into()),
                Kind::Word("pass".into()),
                Kind::Quoted("p wA\n".into()),
            ]
        );
        assert_eq!(
            words("limit 10 x=y * \"a\"b sslproto ''"),
            vec![
                Kind::Word("limit".into()),
                Kind::Number("10".into()),
                Kind::Word("x".into()),
                Kind::Map,
                Kind::Word("y".into()),
                Kind::Wildcard,
                Kind::Word("\"a\"b".into()),
                Kind::Word("sslproto".into()),
                Kind::Quoted(String::new()),
            ]
        );
        let tokens = tokenize(Path::new("rc"), "a \"x\ny\"\nb \\\nc").unwrap();
        let lines: Vec<usize> = tokens.iter().map(|t| t.line).collect();
        assert_eq!(lines, [1, 1, 3, 4]);
        let error = tokenize(Path::new("rc"), "\n pass \"open").unwrap_err();
        assert_eq!(error.place.line, 2);
    }

    #[test]
    fn escapes_as_fetchmail_does() {
        assert_eq!(escapes(r"a\tb\\c\q"), "a\tb\\cq");
        assert_eq!(escapes(r"\x41\x4a2"), "AJ2");
        assert_eq!(escapes(r"\65\065\0101"), "A5\u{8}1");
        assert_eq!(escapes("a\\\nb"), "ab");
    }
}
