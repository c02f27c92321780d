//! What is wrong with a configuration: the message, the settings it is about, and where in
//! the file's text it was found.

use std::ops::Range;

/// A configuration problem. It names the settings it is about, so that `popget config check`
/// can point at their lines without reading its words; one found while reading the file's
/// text also carries the byte span it was found at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    message: String,
    keys: Vec<&'static str>,
    span: Option<Range<usize>>,
    names_account: bool,
}

impl ConfigError {
    /// A problem about no setting in particular (an unreadable file, no account given).
    pub fn new(message: impl Into<String>) -> Self {
        ConfigError {
            message: message.into(),
            keys: Vec::new(),
            span: None,
            names_account: false,
        }
    }

    /// A problem about the settings `keys`, reported at whichever of them comes first in the
    /// file (a missing setting at its table).
    pub fn about(keys: &[&'static str], message: impl Into<String>) -> Self {
        ConfigError {
            keys: keys.to_vec(),
            ..ConfigError::new(message)
        }
    }

    /// The same problem, found at byte `span` of the file's text.
    pub fn at(self, span: Range<usize>) -> Self {
        ConfigError {
            span: Some(span),
            ..self
        }
    }

    /// The same problem, its message saying which account it is about.
    pub fn naming_account(self) -> Self {
        ConfigError {
            names_account: true,
            ..self
        }
    }

    /// The same problem in other words (naming the file, say).
    pub fn reworded(self, message: impl FnOnce(&str) -> String) -> Self {
        ConfigError {
            message: message(&self.message),
            ..self
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The settings the problem is about; empty when it is about none in particular.
    pub fn keys(&self) -> &[&'static str] {
        &self.keys
    }

    /// Whether the message says which account the problem is about.
    pub fn names_account(&self) -> bool {
        self.names_account
    }

    /// Where in the file's text it was found, when it was found while reading the text.
    pub fn span(&self) -> Option<Range<usize>> {
        self.span.clone()
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_keys_and_span_in_other_words() {
        let error = ConfigError::about(&["timeout"], "the timeout must be at least 1 second")
            .at(10..17)
            .reworded(|message| format!("config.toml: {message}"));
        assert_eq!(
            error.to_string(),
            "config.toml: the timeout must be at least 1 second"
        );
        assert_eq!(error.keys(), ["timeout"]);
        assert_eq!(error.span(), Some(10..17));
        assert_eq!(ConfigError::new("no account given").keys(), [] as [&str; 0]);
    }
}
