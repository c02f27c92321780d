//! The layering rules, checked on the source and the manifests: the POP3 layer (its own crates,
//! which the compiler keeps from using popget) brings in none of popget's outer libraries, clap
//! and the terminal live only at the command-line edge, the configuration reads no secret, the
//! fetch modules name what they import, files stay small enough to read, no files of different
//! folders import each other in a circle, and `unsafe` lives only in the one module that
//! documents it.

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

/// A crate's manifest, parsed.
fn manifest(crate_dir: &Path) -> toml::Table {
    let text = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    text.parse().unwrap()
}

/// The names of a manifest's dependencies in `section` (`dependencies`, `dev-dependencies`).
fn dependencies<'a>(
    manifest: &'a toml::Table,
    section: &str,
) -> Vec<(&'a String, &'a toml::Value)> {
    manifest
        .get(section)
        .and_then(toml::Value::as_table)
        .map(|table| table.iter().collect())
        .unwrap_or_default()
}

/// The compiler keeps the POP3 and SASL crates from reaching into popget: what is left to check
/// is that their manifests bring in no command-line, terminal or configuration-file library,
/// that serde stays an optional feature, and that the POP3 layer's only popget-family
/// dependency is the SASL crate (which has none).
#[test]
fn the_pop3_layer_uses_nothing_else_of_popget() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (name, allowed) in [("pop3", &["popget-sasl"][..]), ("sasl", &[][..])] {
        let manifest = manifest(&root.join("crates").join(name));
        for section in ["dependencies", "build-dependencies"] {
            for (dependency, spec) in dependencies(&manifest, section) {
                assert!(
                    !["clap", "indicatif", "toml", "console"].contains(&dependency.as_str()),
                    "crates/{name} depends on {dependency}"
                );
                assert!(
                    !dependency.starts_with("popget") || allowed.contains(&dependency.as_str()),
                    "crates/{name} depends on {dependency}"
                );
                if dependency == "serde" {
                    let optional = spec.get("optional").and_then(toml::Value::as_bool);
                    assert_eq!(
                        optional,
                        Some(true),
                        "crates/{name}: serde must be optional"
                    );
                }
            }
        }
        // unsafe_code_lives_only_in_sys covers src/; the crates forbid it outright.
        let lib = std::fs::read_to_string(root.join("crates").join(name).join("src/lib.rs"));
        assert!(
            lib.unwrap().contains("#![forbid(unsafe_code)]"),
            "crates/{name} forbids unsafe code"
        );
    }
    // Skipping the login is for tests only: the feature that allows it is never enabled for
    // the popget that ships.
    let popget = manifest(root);
    for (dependency, spec) in dependencies(&popget, "dependencies") {
        let features = spec.get("features").and_then(toml::Value::as_array);
        assert!(
            !features.is_some_and(|f| f.iter().any(|f| f.as_str() == Some("test-support"))),
            "{dependency} with test-support outside dev-dependencies"
        );
    }
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
fn the_library_knows_nothing_of_the_terminal() {
    let edge = source().join("cli");
    let mut offending = Vec::new();
    for file in rust_files(&source()) {
        if file.starts_with(&edge) || file.ends_with("main.rs") {
            continue;
        }
        let code = code(&file);
        for word in ["indicatif::", "console::", "crate::cli", "anyhow::"] {
            if code.contains(word) {
                offending.push(format!("{}: {word}", file.display()));
            }
        }
    }
    assert!(
        offending.is_empty(),
        "terminal code outside src/cli: {offending:?}"
    );
}

/// The configuration describes where a secret comes from; reading it (running a command,
/// asking the keyring, reading ~/.netrc, prompting) is for `src/credentials` when a login needs
/// it.
#[test]
fn the_configuration_reads_no_secret() {
    let mut offending = Vec::new();
    for file in rust_files(&source().join("config")) {
        if file.ends_with("tests.rs") {
            continue;
        }
        let code = code(&file);
        let code = code.split("#[cfg(test)]").next().unwrap_or_default();
        for word in [
            "keyring::",
            "netrc::",
            "sources::",
            "password_from_command",
            "prompt_password",
            "secrets.password(",
            "access_token",
            "std::process",
        ] {
            if code.contains(word) {
                offending.push(format!("{}: {word}", file.display()));
            }
        }
    }
    assert!(
        offending.is_empty(),
        "secret I/O in src/config: {offending:?}"
    );
}

#[test]
fn the_fetch_modules_name_what_they_import() {
    let mut offending = Vec::new();
    for file in rust_files(&source().join("fetch")) {
        let text = std::fs::read_to_string(&file).unwrap();
        // Test modules may take everything of the module they test.
        let before_tests = text.split("#[cfg(test)]").next().unwrap_or_default();
        for line in before_tests.lines() {
            let line = line.trim();
            if line.starts_with("use ") && line.ends_with("::*;") {
                offending.push(format!("{}: {line}", file.display()));
            }
        }
    }
    assert!(offending.is_empty(), "glob imports: {offending:?}");
}

/// No source file of popget or its crates over 1,000 lines with its tests, none over 700
/// without them (a `tests.rs` file is all tests).
#[test]
fn source_files_stay_readable() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = rust_files(&source());
    files.extend(rust_files(&root.join("crates")));
    let mut offending = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let total = text.lines().count();
        let code = if file.ends_with("tests.rs") {
            0
        } else {
            text.split("#[cfg(test)]")
                .next()
                .unwrap_or_default()
                .lines()
                .count()
        };
        if total > 1000 || code > 700 {
            offending.push(format!(
                "{}: {total} lines, {code} before its tests",
                file.display()
            ));
        }
    }
    assert!(offending.is_empty(), "files too long: {offending:?}");
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

/// The files of `src/` each file refers to: `crate::a::b` and `super::a` paths (also inside
/// `use ...::{...}` groups) resolved to the file of the deepest module they name, and a
/// `mod.rs` naming one of its own submodules.
fn references(files: &[PathBuf]) -> Vec<(PathBuf, PathBuf)> {
    let src = source();
    let module_of = |file: &Path| -> Vec<String> {
        let relative = file.strip_prefix(&src).unwrap().with_extension("");
        let mut parts: Vec<String> = relative
            .iter()
            .map(|part| part.to_string_lossy().into_owned())
            .collect();
        if matches!(
            parts.last().map(String::as_str),
            Some("mod" | "lib" | "main")
        ) {
            parts.pop();
        }
        parts
    };
    let file_of = |module: &[String]| -> Option<PathBuf> {
        (1..=module.len()).rev().find_map(|length| {
            let stem = src.join(module[..length].join("/"));
            [stem.with_extension("rs"), stem.join("mod.rs")]
                .into_iter()
                .find(|candidate| candidate.is_file())
        })
    };
    let mut edges = Vec::new();
    for file in files {
        let own = module_of(file);
        let is_folder_face = file.ends_with("mod.rs") || file.ends_with("lib.rs");
        // What only the unit tests use is no part of the layering.
        let code = code(file);
        let code = code.split("#[cfg(test)]").next().unwrap_or_default();
        for path in paths_in(code) {
            let mut words: Vec<&str> = path.split("::").collect();
            let mut module: Vec<String> = match words.first() {
                Some(&"crate") => Vec::new(),
                Some(&"super") => {
                    let mut parent = own.clone();
                    while words.first() == Some(&"super") {
                        parent.pop();
                        words.remove(0);
                    }
                    words.insert(0, "super");
                    parent
                }
                Some(&"self") => own.clone(),
                Some(first) if is_folder_face => {
                    let child: Vec<String> =
                        own.iter().cloned().chain([first.to_string()]).collect();
                    match file_of(&child) {
                        Some(target) if target != *file => {
                            edges.push((file.clone(), target));
                        }
                        _ => {}
                    }
                    continue;
                }
                _ => continue,
            };
            module.extend(words[1..].iter().map(|word| word.to_string()));
            if let Some(target) = file_of(&module).filter(|target| target != file) {
                edges.push((file.clone(), target));
            }
        }
    }
    edges.sort();
    edges.dedup();
    edges
}

/// Every path in `code` that starts with a lower-case word followed by `::`, with `use` groups
/// (`a::{b, c::d}`) spelled out, one level deep.
fn paths_in(code: &str) -> Vec<String> {
    let bytes = code.as_bytes();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut paths = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let starts = (at == 0 || !is_word(bytes[at - 1]) && bytes[at - 1] != b':')
            && bytes[at].is_ascii_lowercase();
        if !starts {
            at += 1;
            continue;
        }
        let mut end = at;
        while end < bytes.len() && (is_word(bytes[end]) || code[end..].starts_with("::")) {
            end += if bytes[end] == b':' { 2 } else { 1 };
        }
        let path = code[at..end].trim_end_matches("::");
        if path.contains("::") {
            if code[end..].starts_with('{') && code[..end].ends_with("::") {
                let group_end = code[end..].find('}').map_or(code.len(), |i| end + i);
                for item in code[end + 1..group_end].split(',') {
                    let item = item.trim();
                    if item.starts_with(|c: char| c.is_ascii_lowercase()) {
                        paths.push(format!("{path}::{item}"));
                    }
                }
                paths.push(path.to_string());
                at = group_end;
                continue;
            }
            paths.push(path.to_string());
        }
        at = end.max(at + 1);
    }
    paths
}

/// The groups of files that reach each other through [`references`] (strongly connected
/// components of two or more files).
fn circles(edges: &[(PathBuf, PathBuf)]) -> Vec<Vec<PathBuf>> {
    let mut nodes: Vec<&PathBuf> = edges.iter().flat_map(|(a, b)| [a, b]).collect();
    nodes.sort();
    nodes.dedup();
    fn reaches<'a>(edges: &'a [(PathBuf, PathBuf)], from: &'a PathBuf) -> Vec<&'a PathBuf> {
        let mut seen = vec![from];
        let mut todo = vec![from];
        while let Some(node) = todo.pop() {
            for (_, next) in edges.iter().filter(|(a, _)| a == node) {
                if !seen.contains(&next) {
                    seen.push(next);
                    todo.push(next);
                }
            }
        }
        seen
    }
    let reach: Vec<(&PathBuf, Vec<&PathBuf>)> =
        nodes.iter().map(|n| (*n, reaches(edges, n))).collect();
    let mut circles: Vec<Vec<PathBuf>> = Vec::new();
    for (node, reached) in &reach {
        let mut circle: Vec<PathBuf> = reached
            .iter()
            .filter(|other| {
                reach
                    .iter()
                    .any(|(n, back)| n == *other && back.contains(node))
            })
            .map(|p| (*p).clone())
            .collect();
        circle.sort();
        if circle.len() > 1 && !circles.contains(&circle) {
            circles.push(circle);
        }
    }
    circles
}

#[test]
fn no_two_files_import_each_other_across_modules() {
    let files = rust_files(&source());
    let edges = references(&files);
    assert!(
        edges.len() > 50,
        "the references were found: {}",
        edges.len()
    );
    // A folder's own files may use each other (a mod.rs and the submodules it declares); a
    // circle that leaves the folder is a layering error.
    let folder = |file: &PathBuf| file.parent().map(Path::to_path_buf);
    let crossing: Vec<Vec<PathBuf>> = circles(&edges)
        .into_iter()
        .filter(|circle| circle.iter().any(|file| folder(file) != folder(&circle[0])))
        .collect();
    assert!(crossing.is_empty(), "import circles: {crossing:#?}");
}

#[test]
fn the_circle_finder_finds_a_circle() {
    let (a, b, c) = (
        PathBuf::from("a.rs"),
        PathBuf::from("b.rs"),
        PathBuf::from("c.rs"),
    );
    let edges = [
        (a.clone(), b.clone()),
        (b.clone(), a.clone()),
        (b.clone(), c),
    ];
    assert_eq!(circles(&edges), [vec![a, b]]);
    assert_eq!(
        paths_in("use crate::config::{self, Account, error::ConfigError};"),
        [
            "crate::config::self",
            "crate::config::error::ConfigError",
            "crate::config"
        ]
    );
}
