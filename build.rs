//! Records the git commit popget is built from, when it is built from its own checkout, for
//! `popget --version` (src/version.rs). A published package has no commit to record.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if !record_commit() {
        // Nothing recorded, and this script runs again at the next build all the same (the
        // path never exists): cargo gives a build of `cargo package`'s copy of popget the
        // fingerprint of the checkout's own build (the same path within its workspace), and a
        // checkout built after it must not keep its "no commit".
        println!("cargo:rerun-if-changed=.popget-build-outside-a-git-checkout");
    }
}

/// Records the commit when built from popget's own checkout; whether it did.
fn record_commit() -> bool {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let git = |args: &[&str]| -> Option<String> {
        let output = Command::new("git")
            .arg("-C")
            .arg(&manifest_dir)
            .args(args)
            .output()
            .ok()?;
        let text = String::from_utf8(output.stdout).ok()?;
        output.status.success().then(|| text.trim().to_string())
    };
    // Only popget's own checkout: a package unpacked inside another repository (cargo
    // package's verification under target/, a vendored copy) would report that one's commit.
    let Some(top) = git(&["rev-parse", "--show-toplevel"]) else {
        return false;
    };
    if Path::new(&top).canonicalize().ok() != manifest_dir.canonicalize().ok() {
        return false;
    }
    let Some(commit) = git(&["rev-parse", "--short=12", "HEAD"]) else {
        return false;
    };
    // A new commit moves HEAD, or the branch it points to (a loose ref, or packed-refs).
    let mut watched = vec!["HEAD".to_string()];
    watched.extend(git(&["symbolic-ref", "-q", "HEAD"]));
    watched.push("packed-refs".to_string());
    for name in watched {
        let Some(path) = git(&["rev-parse", "--git-path", &name]) else {
            continue;
        };
        let path = manifest_dir.join(path);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    println!("cargo:rustc-env=POPGET_GIT_COMMIT={commit}");
    true
}
