//! What getmail takes from Python in its rc files: tuples of string literals, which it reads
//! with `eval` (`("/bin/cat", '/path')`, `()`, `('one', )`), and paths expanded with
//! `os.path.expandvars`.

use std::collections::HashMap;

/// `$NAME` and `${NAME}` replaced from `env`; the names not set are left and returned.
pub(super) fn expand_vars(text: &str, env: &HashMap<String, String>) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut unknown = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, used) = match after.strip_prefix('{') {
            Some(inner) => match inner.find('}') {
                Some(end) => (&inner[..end], end + 2),
                None => ("", 0),
            },
            None => {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], end)
            }
        };
        match env.get(name).filter(|_| !name.is_empty()) {
            Some(value) => out.push_str(value),
            None => {
                if !name.is_empty() {
                    unknown.push(name.to_string());
                }
                out.push_str(&rest[at..at + 1 + used]);
            }
        }
        rest = &after[used..];
    }
    out.push_str(rest);
    (out, unknown)
}

/// A Python tuple of string literals, as getmail writes commands, arguments and lists:
/// `("/bin/cat", '/path')`, `()`, `('one', )`; adjacent literals join, `r''` is raw.
pub(super) fn python_tuple(text: &str) -> Result<Vec<String>, String> {
    let not_tuple = || format!("{text:?} is not a tuple of quoted strings");
    let inner = text
        .trim()
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .ok_or_else(not_tuple)?;
    let chars: Vec<char> = inner.chars().collect();
    let mut items: Vec<String> = Vec::new();
    let mut at = 0;
    let mut current: Option<String> = None;
    while at < chars.len() {
        let c = chars[at];
        if c.is_whitespace() {
            at += 1;
        } else if c == ',' {
            items.push(current.take().ok_or_else(not_tuple)?);
            at += 1;
        } else {
            let mut raw = false;
            while at < chars.len() && "rRbBuU".contains(chars[at]) {
                raw |= "rR".contains(chars[at]);
                at += 1;
            }
            let quote = *chars
                .get(at)
                .filter(|q| **q == '"' || **q == '\'')
                .ok_or_else(not_tuple)?;
            at += 1;
            let mut literal = String::new();
            loop {
                let c = *chars
                    .get(at)
                    .ok_or_else(|| format!("{text:?}: a string is not closed"))?;
                at += 1;
                if c == quote {
                    break;
                }
                if c == '\\' && at < chars.len() {
                    let next = chars[at];
                    at += 1;
                    match next {
                        // A raw string keeps its backslashes, but one still escapes a quote.
                        _ if raw => {
                            literal.push('\\');
                            literal.push(next);
                        }
                        // A backslash before a line end joins the lines.
                        '\n' => {}
                        '\\' | '\'' | '"' => literal.push(next),
                        'n' => literal.push('\n'),
                        't' => literal.push('\t'),
                        'r' => literal.push('\r'),
                        other => {
                            literal.push('\\');
                            literal.push(other);
                        }
                    }
                    continue;
                }
                literal.push(c);
            }
            current.get_or_insert_with(String::new).push_str(&literal);
        }
    }
    if let Some(last) = current {
        if items.is_empty() {
            // `("x")` is a string in parentheses, not a tuple.
            return Err(format!(
                "{text:?} is one string: a tuple of one needs a comma (\"x\", )"
            ));
        }
        items.push(last);
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_python_tuples() {
        assert_eq!(
            python_tuple("(\"/bin/cat\", '/my dir/pw')").unwrap(),
            ["/bin/cat", "/my dir/pw"]
        );
        assert_eq!(python_tuple("()").unwrap(), Vec::<String>::new());
        assert_eq!(python_tuple("('one', )").unwrap(), ["one"]);
        assert_eq!(python_tuple("('a' \"b\",\n'c')").unwrap(), ["ab", "c"]);
        assert_eq!(
            python_tuple(r#"(r'\d', '\'q\\')"#).unwrap(),
            [r"\d", r"'q\"]
        );
        assert!(python_tuple("('x')").is_err());
        assert!(python_tuple("'x',").is_err());
        assert!(python_tuple("('open, )").is_err());
    }

    #[test]
    fn expands_variables() {
        let env = HashMap::from([("MAIL".to_string(), "/m".to_string())]);
        assert_eq!(
            expand_vars("$MAIL/a/${MAIL}/$NOPE/", &env),
            ("/m/a//m/$NOPE/".to_string(), vec!["NOPE".to_string()])
        );
    }
}
