//! The Debian package as a user gets it: `scripts/package` builds it (lintian finds no error),
//! `dpkg -i` installs it (as root, as CI runs), and each installed file is checked with the
//! tool that finds it: the binary's version, `man -w`, bash-completion's loader, `systemd-analyze
//! verify` of the user units, and a fetch from the private Dovecot with /usr/bin/popget. Then
//! `dpkg -r` leaves nothing behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::generated::bash_complete_after;
use crate::harness::builds::{debian_package, output_within};
use crate::harness::dovecot::Dovecot;
use crate::harness::{maildir_messages, sorted, tricky_messages, Popget};

/// How long dpkg, man, bash and systemd-analyze may take.
const TOOL_LIMIT: Duration = Duration::from_secs(120);

/// Every file the package installs, and nothing else.
const FILES: [&str; 12] = [
    "/usr/bin/popget",
    "/usr/share/man/man1/popget.1.gz",
    "/usr/share/bash-completion/completions/popget",
    "/usr/share/zsh/vendor-completions/_popget",
    "/usr/share/fish/vendor_completions.d/popget.fish",
    "/usr/lib/systemd/user/popget.service",
    "/usr/lib/systemd/user/popget-fetch.service",
    "/usr/lib/systemd/user/popget-fetch.timer",
    "/usr/share/doc/popget/README.md",
    "/usr/share/doc/popget/changelog.gz",
    "/usr/share/doc/popget/changelog.Debian.gz",
    "/usr/share/doc/popget/copyright",
];

const UNITS: [&str; 3] = [
    "/usr/lib/systemd/user/popget.service",
    "/usr/lib/systemd/user/popget-fetch.service",
    "/usr/lib/systemd/user/popget-fetch.timer",
];

fn run(program: &str, args: &[&str]) -> Output {
    let mut command = Command::new(program);
    command.args(args).env("LANG", "C.UTF-8");
    output_within(&mut command, TOOL_LIMIT)
}

fn expect_success(program: &str, args: &[&str]) -> String {
    let output = run(program, args);
    assert!(
        output.status.success(),
        "{program} {args:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Whether dpkg knows anything of popget: installed, or removed with files left (config-files).
fn dpkg_knows_popget() -> bool {
    let output = run(
        "dpkg-query",
        &["--show", "--showformat=${Status}", "popget"],
    );
    let status = String::from_utf8_lossy(&output.stdout);
    !(status.is_empty() || status.ends_with("not-installed"))
}

/// The package installed for the length of the test: removed when dropped, so that a failing
/// check leaves no popget on the machine.
struct Installed;

impl Installed {
    fn install(deb: &Path) -> Installed {
        assert!(
            !dpkg_knows_popget(),
            "a popget package is installed already (an earlier run was killed?); remove it \
             with `dpkg -r popget` and run again"
        );
        expect_success("dpkg", &["--install", deb.to_str().unwrap()]);
        Installed
    }

    fn remove(self) {
        std::mem::forget(self);
        expect_success("dpkg", &["--remove", "popget"]);
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = run("dpkg", &["--remove", "popget"]);
    }
}

/// The paths in the package, each with whether it is a directory, from its own listing
/// (`drwxr-xr-x root/root 0 2026-12-01 10:00 ./usr/bin/`).
fn package_paths(deb: &Path) -> Vec<(PathBuf, bool)> {
    expect_success("dpkg-deb", &["--contents", deb.to_str().unwrap()])
        .lines()
        .map(|line| {
            let path = line.split_whitespace().nth(5).expect("a path in each line");
            let path = path.trim_start_matches('.').trim_end_matches('/');
            let path = PathBuf::from(if path.is_empty() { "/" } else { path });
            (path, line.starts_with('d'))
        })
        .collect()
}

#[test]
fn the_debian_package_installs_works_and_removes_cleanly() {
    assert!(
        rustix::process::geteuid().is_root(),
        "installing the package with dpkg needs root (CI runs as root)"
    );
    let deb = debian_package();
    let paths = package_paths(deb);
    let existed_before: Vec<bool> = paths.iter().map(|(path, _)| path.exists()).collect();
    let mut files: Vec<&Path> = paths
        .iter()
        .filter(|(_, directory)| !directory)
        .map(|(path, _)| path.as_path())
        .collect();
    files.sort();
    let mut expected: Vec<&Path> = FILES.iter().map(Path::new).collect();
    expected.sort();
    assert_eq!(files, expected, "the package's files");

    let installed = Installed::install(deb);
    for file in FILES {
        assert!(Path::new(file).is_file(), "{file} is not installed");
    }

    let version = expect_success("/usr/bin/popget", &["--version"]);
    assert!(
        version.starts_with(&format!("popget {}", env!("CARGO_PKG_VERSION")))
            && version.ends_with("\nfeatures: +gssapi +keyring\n"),
        "{version}"
    );
    assert_eq!(
        expect_success("man", &["-w", "popget"]).trim(),
        "/usr/share/man/man1/popget.1.gz"
    );

    // bash-completion's own loader finds the file by the command's name.
    let home = tempfile::tempdir().unwrap();
    let load = "set +u\n\
                source /usr/share/bash-completion/bash_completion\n\
                __load_completion popget || exit 11\n\
                set -u";
    assert_eq!(
        bash_complete_after(load, home.path(), &["popget", "fe"]),
        ["fetch"]
    );

    // The units as installed, ExecStart=/usr/bin/popget included (verify checks that it runs).
    for unit in UNITS.iter().filter(|unit| unit.ends_with(".service")) {
        let text = std::fs::read_to_string(unit).unwrap();
        assert!(
            text.contains("\nExecStart=/usr/bin/popget "),
            "{unit}:\n{text}"
        );
    }
    let mut analyze = Command::new("systemd-analyze");
    analyze
        .args(["verify", "--man=no"])
        .args(UNITS)
        .env("SYSTEMD_LOG_LEVEL", "warning");
    let output = output_within(&mut analyze, TOOL_LIMIT);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // An unknown key is only a warning, so the lines about the units count as much as the
    // status.
    assert!(
        output.status.success() && !stderr.contains("popget"),
        "systemd-analyze verify:\n{stderr}"
    );

    // The installed binary fetches from the private Dovecot, byte for byte.
    let dovecot = Dovecot::start();
    let messages = tricky_messages();
    for message in &messages {
        dovecot.deliver("alice", message);
    }
    let popget = Popget::new();
    let maildir = popget.path("Mail");
    let run = popget.run_with(
        popget
            .command_of(Path::new("/usr/bin/popget"))
            .env("POPGET_PASSWORD", "secret")
            .arg("fetch")
            .args(dovecot.args("implicit", "alice"))
            .arg("--maildir")
            .arg(&maildir),
    );
    run.expect_code(0);
    assert_eq!(maildir_messages(&maildir), sorted(messages));

    installed.remove();
    assert!(
        !dpkg_knows_popget(),
        "dpkg still knows popget after dpkg -r"
    );
    for ((path, _), existed) in paths.iter().zip(existed_before) {
        assert_eq!(
            path.exists(),
            existed,
            "{}: {} after dpkg -r",
            path.display(),
            if existed { "gone" } else { "left behind" }
        );
    }
}

/// What crates.io would get (`cargo package --list`): everything `cargo install` builds from and
/// installs by hand, and none of the tests, their corpora, the benchmarks or the scripts.
#[test]
fn the_crate_holds_sources_man_page_completions_units_and_documents_only() {
    let mut cargo = Command::new(env!("CARGO"));
    cargo.current_dir(env!("CARGO_MANIFEST_DIR")).args([
        "package",
        "--list",
        "--locked",
        "--allow-dirty",
        "-p",
        "popget",
    ]);
    let output = output_within(&mut cargo, TOOL_LIMIT);
    assert!(
        output.status.success(),
        "cargo package --list failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listed = String::from_utf8(output.stdout).unwrap();
    let files: Vec<&str> = listed.lines().collect();
    for wanted in [
        "Cargo.toml",
        "Cargo.lock",
        "build.rs",
        "src/main.rs",
        "src/lib.rs",
        "man/popget.1",
        "completions/popget.bash",
        "completions/_popget",
        "completions/popget.fish",
        "contrib/popget.service",
        "contrib/popget-fetch.service",
        "contrib/popget-fetch.timer",
        "README.md",
        "CHANGELOG.md",
        "LICENSE-MIT",
        "LICENSE-APACHE",
    ] {
        assert!(files.contains(&wanted), "{wanted} is missing:\n{listed}");
    }
    let unwanted = [
        "tests/",
        "benches/",
        "scripts/",
        "proptest-regressions/",
        "crates/",
    ];
    for file in &files {
        assert!(
            !unwanted.iter().any(|prefix| file.starts_with(prefix)),
            "{file} is in the package"
        );
    }
}
