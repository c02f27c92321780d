//! The layering rules, checked on the source: the POP3 layer needs nothing else of popget, clap
//! lives only at the command-line edge, and `unsafe` only in the one module that documents it.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The code of a file without its line comments (doc comments included).
fn code(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_pop3_layer_uses_nothing_else_of_popget() {
    let mut offending = Vec::new();
    for file in rust_files(&source().join("pop3")) {
        let code = code(&file);
        for (number, line) in code.lines().enumerate() {
            let outside = line.contains("crate::") && !line.contains("crate::pop3");
            let foreign = ["clap", "serde", "indicatif", "toml", "popget::"]
                .iter()
                .any(|name| {
                    line.contains(&format!("{name}::")) || line.contains(&format!("use {name}"))
                });
            if outside || foreign {
                offending.push(format!("{}:{}: {line}", file.display(), number + 1));
            }
        }
    }
    assert!(offending.is_empty(), "{}", offending.join("\n"));
    assert!(
        rust_files(&source().join("pop3")).len() >= 6,
        "the layer was found"
    );
}

#[test]
fn clap_is_used_only_at_the_command_line_edge() {
    let edge = source().join("cli");
    let mut offending = Vec::new();
    for file in rust_files(&source()) {
        if file.starts_with(&edge) || file.ends_with("main.rs") {
            continue;
        }
        if code(&file).contains("clap::") {
            offending.push(file.display().to_string());
        }
    }
    assert!(offending.is_empty(), "clap outside src/cli: {offending:?}");
}

#[test]
fn unsafe_code_lives_only_in_sys() {
    let mut offending = Vec::new();
    for file in rust_files(&source()) {
        if file.ends_with("sys.rs") {
            continue;
        }
        if code(&file).contains("unsafe") {
            offending.push(file.display().to_string());
        }
    }
    assert!(
        offending.is_empty(),
        "unsafe outside src/sys.rs: {offending:?}"
    );
}
