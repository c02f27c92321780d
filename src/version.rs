//! What this popget is, for `popget --version`: its version, the git commit it was built from
//! (recorded by build.rs when it was built from a checkout), and the optional features built in.

/// The optional Cargo features, each with whether this build has it.
pub const FEATURES: [(&str, bool); 2] = [
    ("gssapi", cfg!(feature = "gssapi")),
    ("keyring", cfg!(feature = "keyring")),
];

/// The commit of the checkout popget was built from; `None` when it was built from a published
/// package or without git.
pub const COMMIT: Option<&str> = option_env!("POPGET_GIT_COMMIT");

/// The text `popget --version` prints after the name: `0.1.0 (commit 0123abcd4567)` and a line
/// of the features, each `+name` when built in and `-name` when not.
pub fn long_version() -> String {
    let mut text = env!("CARGO_PKG_VERSION").to_string();
    if let Some(commit) = COMMIT {
        text.push_str(&format!(" (commit {commit})"));
    }
    text.push_str("\nfeatures:");
    for (name, built_in) in FEATURES {
        text.push_str(&format!(" {}{name}", if built_in { '+' } else { '-' }));
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_long_version_names_every_feature_once() {
        let text = super::long_version();
        assert!(text.starts_with(env!("CARGO_PKG_VERSION")), "{text}");
        let features = text.lines().last().unwrap();
        assert_eq!(features.matches("gssapi").count(), 1, "{text}");
        assert_eq!(features.matches("keyring").count(), 1, "{text}");
    }
}
