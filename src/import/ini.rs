//! INI files read as Python's `configparser.RawConfigParser` reads them, which is how getmail
//! reads its rc files: `[section]` headers, `key = value` or `key: value` (keys in lower case),
//! values continued on more-indented lines, whole-line `#` and `;` comments, no `%`
//! interpolation, a repeated section or key an error. Every key keeps its line, which is why
//! this is not the rust-ini or configparser crate: both read continuation lines without `%`
//! interpolation, but neither tells on which line a key was, and every error and every
//! left-out setting the import reports names it.

/// A section: its name, the line of its header, its keys in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Section {
    pub name: String,
    pub line: usize,
    pub keys: Vec<Key>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Key {
    pub name: String,
    /// Continuation lines joined with `\n`, surrounding whitespace removed.
    pub value: String,
    pub line: usize,
}

impl Section {
    pub fn get(&self, name: &str) -> Option<&Key> {
        self.keys.iter().find(|key| key.name == name)
    }
}

/// The sections of `text`, or the line that cannot be read and why.
pub(super) fn read(text: &str) -> Result<Vec<Section>, (usize, String)> {
    let mut sections: Vec<Section> = Vec::new();
    // The indentation of the line that started the current key: deeper lines continue it.
    let mut indent = usize::MAX;
    let mut open_key = false;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let stripped = raw.trim();
        let is_comment = stripped.starts_with('#') || stripped.starts_with(';');
        if stripped.is_empty() || is_comment {
            // An empty line may belong to a value continued after it (it is trimmed off the
            // end otherwise); a comment line never does.
            if stripped.is_empty() && open_key {
                if let Some(key) = sections.last_mut().and_then(|s| s.keys.last_mut()) {
                    key.value.push('\n');
                }
            }
            continue;
        }
        let depth = raw.len() - raw.trim_start().len();
        if open_key && depth > indent {
            let key = sections
                .last_mut()
                .and_then(|s| s.keys.last_mut())
                .expect("an open key");
            key.value.push('\n');
            key.value.push_str(stripped);
            continue;
        }
        indent = depth;
        if let Some(name) = header(stripped) {
            if sections.iter().any(|s| s.name == name) {
                return Err((line, format!("section [{name}] appears twice")));
            }
            sections.push(Section {
                name: name.to_string(),
                line,
                keys: Vec::new(),
            });
            open_key = false;
            continue;
        }
        let Some(section) = sections.last_mut() else {
            return Err((line, "a line before the first [section] header".into()));
        };
        let Some(delimiter) = stripped.find(['=', ':']) else {
            return Err((line, format!("not \"key = value\": {stripped}")));
        };
        let name = stripped[..delimiter].trim_end().to_lowercase();
        if name.is_empty() {
            return Err((line, format!("a value without a key: {stripped}")));
        }
        if section.get(&name).is_some() {
            return Err((line, format!("{name} appears twice in [{}]", section.name)));
        }
        section.keys.push(Key {
            name,
            value: stripped[delimiter + 1..].trim().to_string(),
            line,
        });
        open_key = true;
    }
    for key in sections.iter_mut().flat_map(|s| s.keys.iter_mut()) {
        let end = key.value.trim_end().len();
        key.value.truncate(end);
    }
    Ok(sections)
}

/// `[name]` at the start of a line (configparser ignores what follows the last `]`).
fn header(line: &str) -> Option<&str> {
    let inner = line.strip_prefix('[')?;
    let end = inner.rfind(']')?;
    Some(&inner[..end]).filter(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_as_configparser_does() {
        let text = "# comment\n[retriever]\nType = SimplePOP3Retriever\nserver: pop.x\n\
                    password_command = (\"/bin/cat\",\n    \"/my/file\")\n  ; not a value\n\n\
                    [destination]\npath = ~/100%/Mail/\n";
        let sections = read(text).unwrap();
        assert_eq!(sections[0].name, "retriever");
        let retriever = &sections[0];
        assert_eq!(retriever.get("type").unwrap().value, "SimplePOP3Retriever");
        assert_eq!(retriever.get("server").unwrap().value, "pop.x");
        let command = retriever.get("password_command").unwrap();
        assert_eq!(command.value, "(\"/bin/cat\",\n\"/my/file\")");
        assert_eq!(command.line, 5);
        assert_eq!(sections[1].get("path").unwrap().value, "~/100%/Mail/");
    }

    #[test]
    fn names_the_bad_line() {
        assert_eq!(read("key = 1\n").unwrap_err().0, 1);
        assert_eq!(read("[a]\nx = 1\nx = 2\n").unwrap_err().0, 3);
        assert_eq!(read("[a]\n[a]\n").unwrap_err().0, 2);
        assert_eq!(read("[a]\njust words\n").unwrap_err().0, 2);
    }
}
