//! The command line's contract: usage and configuration errors, exit codes, locks, state files.

use crate::harness::fake::{FakeServer, Script};
use crate::harness::{maildir_messages, Popget};

#[test]
fn a_usage_error_exits_64() {
    let popget = Popget::new();
    popget.run(&["fetch", "--no-such-flag"]).expect_code(64);
    popget
        .run(&[
            "fetch",
            "--maildir",
            "a",
            "--mbox",
            "b",
            "--host",
            "h",
            "--user",
            "u",
        ])
        .expect_code(64);
    popget
        .run(&["fetch", "--keep", "--delete", "--host", "h", "--user", "u"])
        .expect_code(64);
}

#[test]
fn help_and_version_exit_0() {
    let popget = Popget::new();
    let run = popget.run(&["--help"]);
    run.expect_code(0);
    assert!(run.stdout().contains("fetch"));
    popget.run(&["--version"]).expect_code(0);
}

#[test]
fn no_account_and_no_destination_are_configuration_errors() {
    let popget = Popget::new();
    let run = popget.run(&["fetch"]);
    run.expect_code(78);
    assert!(run.stderr().contains("--host"), "{}", run.stderr());
    let run = popget.run(&["fetch", "--host", "127.0.0.1", "--user", "u"]);
    run.expect_code(78);
    assert!(run.stderr().contains("--maildir"), "{}", run.stderr());
    let run = popget.run(&["fetch", "nosuch"]);
    run.expect_code(78);
}

#[test]
fn a_missing_password_without_a_terminal_exits_78_with_advice() {
    let server = FakeServer::start(Script::default());
    let popget = Popget::new();
    let port = server.port.to_string();
    let run = popget.run_with(popget.command().args([
        "fetch",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--user",
        "u",
        "--tls",
        "none",
        "--maildir",
        "m",
    ]));
    run.expect_code(78);
    assert!(
        run.stderr().contains("POPGET_PASSWORD") && run.stderr().contains("--password-command"),
        "{}",
        run.stderr()
    );
    assert!(
        server.commands().is_empty(),
        "connected before having a password"
    );
}

#[test]
fn a_readable_config_with_a_password_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let popget = Popget::new();
    let path = popget.path("config.toml");
    std::fs::write(
        &path,
        "[accounts.a]\nhost = \"127.0.0.1\"\nuser = \"u\"\npassword = \"p\"\nmaildir = \"m\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = popget.run(&["fetch", "--config", path.to_str().unwrap()]);
    run.expect_code(78);
    assert!(run.stderr().contains("chmod 600"), "{}", run.stderr());
}

#[test]
fn a_bad_config_names_the_file_and_line() {
    let popget = Popget::new();
    let path = popget.path("config.toml");
    std::fs::write(&path, "[accounts.a]\nhost = \"h\"\ntls = \"maybe\"\n").unwrap();
    let run = popget.run(&["fetch", "--config", path.to_str().unwrap()]);
    run.expect_code(78);
    assert!(
        run.stderr().contains("config.toml") && run.stderr().contains("line 3"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_corrupt_state_file_exits_65_naming_the_file() {
    let server = FakeServer::start(Script::default());
    let popget = Popget::new();
    let state = popget.path("broken.state");
    std::fs::write(&state, "not a state file\n").unwrap();
    let port = server.port.to_string();
    let run = popget.fetch(
        &port,
        "alice",
        "none",
        &[
            "--auth",
            "user",
            "--maildir",
            "m",
            "--state",
            state.to_str().unwrap(),
        ],
    );
    run.expect_code(65);
    assert!(run.stderr().contains("broken.state"), "{}", run.stderr());
}

#[test]
fn a_second_popget_on_the_same_account_exits_75_at_once() {
    let popget = Popget::new();
    let state = popget.path("account.state");
    let lock = std::fs::File::create(popget.path("account.state.lock")).unwrap();
    lock.try_lock().unwrap();
    let started = std::time::Instant::now();
    let run = popget.fetch(
        "9",
        "alice",
        "none",
        &["--maildir", "m", "--state", state.to_str().unwrap()],
    );
    run.expect_code(75);
    assert!(run.stderr().contains("another popget"), "{}", run.stderr());
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn connection_refused_is_temporary() {
    let popget = Popget::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let run = popget.fetch(&port, "u", "none", &["--maildir", "m"]);
    run.expect_code(75);
    assert!(
        run.stderr()
            .starts_with("popget: u@127.0.0.1: cannot connect"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_user_name_that_could_inject_commands_is_refused() {
    let popget = Popget::new();
    let run = popget.run(&[
        "fetch",
        "--host",
        "127.0.0.1",
        "--user",
        "a\r\nDELE 1",
        "--maildir",
        "m",
    ]);
    run.expect_code(78);
}

/// The entries of a directory, names only.
fn entries(directory: &std::path::Path) -> std::collections::BTreeSet<std::ffi::OsString> {
    std::fs::read_dir(directory)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect()
}

#[test]
fn relative_paths_land_in_the_sandbox_never_in_the_checkout() {
    // Regression: `--maildir m` in a test created ./m/ in the checkout (then hidden by
    // .gitignore lines for cur, new and tmp). Every test command now runs in its own home.
    let checkout = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let before = entries(&checkout);
    let server = FakeServer::start(Script {
        messages: crate::harness::fake::numbered_messages(2),
        ..Script::default()
    });
    let popget = Popget::new();
    let port = server.port.to_string();
    for destination in [["--maildir", "rel-maildir"], ["--mbox", "rel.mbox"]] {
        let mut extra = vec!["--auth", "user", "--all", "--state", "rel.state"];
        extra.extend(destination);
        popget.fetch(&port, "alice", "none", &extra).expect_code(0);
    }
    assert_eq!(maildir_messages(&popget.path("rel-maildir")).len(), 2);
    assert!(popget.path("rel.mbox").is_file());
    assert!(popget.path("rel.state").is_file());
    let after = entries(&checkout);
    let new: Vec<_> = after.difference(&before).collect();
    assert!(new.is_empty(), "new files in the checkout: {new:?}");
    for name in [
        "rel-maildir",
        "rel.mbox",
        "rel.state",
        "m",
        "cur",
        "new",
        "tmp",
    ] {
        assert!(!checkout.join(name).exists(), "{name} in the checkout");
    }
}
