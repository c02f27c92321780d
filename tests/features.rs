//! The optional features, `gssapi` and `keyring`: what `popget --version` says of them, and the
//! lean build (`cargo build --no-default-features`), which needs no Kerberos, D-Bus or libclang
//! to build and refuses what it cannot do before connecting, with exit 78 and the feature's
//! name. (`auto` in the lean build, given a Kerberos ticket, is in tests/gssapi.rs.)

use std::fs;
use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use crate::harness::builds::{lean_popget, output_within};
use crate::harness::{Popget, Run};

/// How long `cargo tree` and `readelf` may take.
const TOOL_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// What build.rs records: the commit of popget's own checkout, none elsewhere.
fn expected_commit() -> Option<String> {
    let git = |args: &[&str]| {
        let output = Command::new("git")
            .arg("-C")
            .arg(repo())
            .args(args)
            .output()
            .ok()?;
        let text = String::from_utf8(output.stdout).ok()?;
        output.status.success().then(|| text.trim().to_string())
    };
    let top = git(&["rev-parse", "--show-toplevel"])?;
    (Path::new(&top).canonicalize().ok() == repo().canonicalize().ok())
        .then(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .flatten()
}

#[test]
fn version_names_the_commit_and_the_features_built_in() {
    let run = Popget::new().run(&["--version"]);
    run.expect_code(0);
    let commit = expected_commit()
        .map(|commit| format!(" (commit {commit})"))
        .unwrap_or_default();
    let sign = |built_in: bool| if built_in { '+' } else { '-' };
    let expected = format!(
        "popget {}{commit}\nfeatures: {}gssapi {}keyring\n",
        env!("CARGO_PKG_VERSION"),
        sign(cfg!(feature = "gssapi")),
        sign(cfg!(feature = "keyring")),
    );
    assert_eq!(run.stdout(), expected);
    // -V stays the version alone, and the man page's title never changes with a commit.
    let run = Popget::new().run(&["-V"]);
    assert_eq!(
        run.stdout(),
        format!("popget {}\n", env!("CARGO_PKG_VERSION"))
    );
}

/// The crates `cargo tree` lists for popget with `features` (cargo's flags), one per line.
fn dependency_tree(features: &[&str]) -> String {
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .current_dir(repo())
        .args(["tree", "--locked", "--offline", "-p", "popget"])
        .args(["-e", "normal,build", "--prefix", "none"])
        .args(features);
    let output = output_within(&mut cargo, TOOL_LIMIT);
    assert!(
        output.status.success(),
        "cargo tree failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn has_crate(tree: &str, name: &str) -> bool {
    tree.lines()
        .any(|line| line.split(' ').next() == Some(name))
}

#[test]
fn the_lean_build_needs_no_kerberos_dbus_or_libclang() {
    // What building needs: the crates that bind the system's GSSAPI and D-Bus libraries, and
    // bindgen's libclang, are in the default build only. OpenSSL's stays.
    let default = dependency_tree(&[]);
    let lean = dependency_tree(&["--no-default-features"]);
    for system_binding in ["libgssapi-sys", "libdbus-sys", "clang-sys"] {
        assert!(has_crate(&default, system_binding), "{default}");
        assert!(!has_crate(&lean, system_binding), "{lean}");
    }
    assert!(has_crate(&lean, "openssl-sys"), "{lean}");

    // What running needs: the lean binary links neither library.
    let mut readelf = Command::new("readelf");
    readelf.arg("--dynamic").arg(lean_popget());
    let output = output_within(&mut readelf, TOOL_LIMIT);
    assert!(output.status.success(), "{output:?}");
    let dynamic = String::from_utf8(output.stdout).unwrap();
    let needed: Vec<&str> = dynamic
        .lines()
        .filter(|line| line.contains("(NEEDED)"))
        .collect();
    assert!(
        needed.iter().any(|line| line.contains("libssl")),
        "{dynamic}"
    );
    for library in ["libgssapi", "libkrb5", "libdbus"] {
        assert!(
            !needed.iter().any(|line| line.contains(library)),
            "{library}: {needed:#?}"
        );
    }
}

#[test]
fn the_lean_build_says_what_it_has() {
    let popget = Popget::new();
    let run = popget.run_with(popget.command_of(lean_popget()).arg("--version"));
    run.expect_code(0);
    assert!(
        run.stdout().ends_with("\nfeatures: -gssapi -keyring\n"),
        "{}",
        run.stdout()
    );
}

fn expect_config_error_naming(run: &Run, feature: &str) {
    run.expect_code(78);
    assert!(
        run.stderr().contains(&format!(
            "this popget was built without the {feature} feature"
        )),
        "{}",
        run.stderr()
    );
    assert!(!run.stderr().contains("panicked"), "{}", run.stderr());
}

/// A port where popget would be seen connecting, and its number.
fn listener() -> (TcpListener, u16) {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    server.set_nonblocking(true).unwrap();
    let port = server.local_addr().unwrap().port();
    (server, port)
}

fn assert_never_connected(server: &TcpListener) {
    let accepted = server.accept().map(drop);
    assert_eq!(
        accepted.unwrap_err().kind(),
        ErrorKind::WouldBlock,
        "popget connected"
    );
}

#[test]
fn the_lean_build_refuses_kerberos_before_connecting() {
    let (server, port) = listener();
    let popget = Popget::new();
    let args = format!(
        "fetch --host 127.0.0.1 --port {port} --user me --tls none --auth gssapi --maildir m"
    );
    let run = popget.run_with(popget.command_of(lean_popget()).args(args.split(' ')));
    expect_config_error_naming(&run, "gssapi");
    assert_never_connected(&server);

    // In the configuration file it is a problem of the account, found by `config check`.
    let config = popget.path(".config/popget/config.toml");
    fs::create_dir_all(config.parent().unwrap()).unwrap();
    fs::write(
        &config,
        format!(
            "[accounts.uni]\nhost = \"127.0.0.1\"\nport = {port}\nuser = \"me\"\n\
             auth = \"gssapi\"\nmaildir = \"m\"\n"
        ),
    )
    .unwrap();
    let run = popget.run_with(popget.command_of(lean_popget()).args(["config", "check"]));
    expect_config_error_naming(&run, "gssapi");
    assert!(run.stderr().contains("config.toml:5:"), "{}", run.stderr());
    let run = popget.run_with(popget.command_of(lean_popget()).args(["fetch", "uni"]));
    expect_config_error_naming(&run, "gssapi");
    assert_never_connected(&server);
}

#[test]
fn the_lean_build_has_no_keyring_to_save_in_or_read_from() {
    let (server, port) = listener();
    let popget = Popget::new();
    let config = popget.path(".config/popget/config.toml");
    fs::create_dir_all(config.parent().unwrap()).unwrap();
    fs::write(
        &config,
        format!("[accounts.work]\nhost = \"127.0.0.1\"\nport = {port}\nuser = \"me\"\nmaildir = \"m\"\n"),
    )
    .unwrap();
    for command in ["set", "delete"] {
        let run = popget.run_with(
            popget
                .command_of(lean_popget())
                .args(["password", command, "work"]),
        );
        expect_config_error_naming(&run, "keyring");
    }
    // No password anywhere: the keyring is named as the source this build cannot read, and
    // the hint does not send the user to `popget password set`.
    let run = popget.run_with(popget.command_of(lean_popget()).args(["fetch", "work"]));
    expect_config_error_naming(&run, "keyring");
    assert!(!run.stderr().contains("password set"), "{}", run.stderr());
    assert_never_connected(&server);
}
