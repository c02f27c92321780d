//! Where the password comes from, through the real binary: a systemd credential named after
//! the account, and the difference between "no password" and "the password command failed".

use std::os::unix::fs::PermissionsExt;

use crate::harness::fake::{FakeServer, Script};
use crate::harness::{maildir_messages, Popget};

fn configure(popget: &Popget, server: &FakeServer, extra: &str) {
    let text = format!(
        "[accounts.work]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"alice\"\ntls = \"none\"\n\
         auth = \"user\"\nmaildir = \"m\"\n{extra}",
        server.port
    );
    let path = popget.path(".config/popget/config.toml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn a_systemd_credential_named_after_the_account_is_the_password() {
    let server = FakeServer::start(Script {
        messages: vec![("u1".into(), b"Subject: s\n\nx\n".to_vec())],
        ..Script::default()
    });
    let popget = Popget::new();
    configure(&popget, &server, "");
    let credentials = popget.path("credentials");
    std::fs::create_dir(&credentials).unwrap();
    std::fs::write(credentials.join("work"), "secret\n").unwrap();
    let run = popget.run_with(
        popget
            .command()
            .env("CREDENTIALS_DIRECTORY", &credentials)
            .args(["fetch", "work"]),
    );
    run.expect_code(0);
    assert!(server.commands().contains(&"PASS secret".to_string()));
    assert_eq!(maildir_messages(&popget.path("m")).len(), 1);

    let run = popget.run_with(
        popget
            .command()
            .env("CREDENTIALS_DIRECTORY", &credentials)
            .args(["accounts", "--json"]),
    );
    run.expect_code(0);
    let listed: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(listed[0]["secret"], "systemd credential");
}

#[test]
fn no_password_and_a_failed_password_command_are_told_apart() {
    // Each has its own message, not one shared "configuration error".
    let server = FakeServer::start(Script::default());
    let popget = Popget::new();
    configure(&popget, &server, "");
    let run = popget.run_with(popget.command().args(["fetch", "work"]));
    run.expect_code(78);
    assert!(
        run.stderr().contains("no password for alice@127.0.0.1"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr()
            .contains("hint: store one in the OS keyring with `popget password set work`"),
        "{}",
        run.stderr()
    );
    configure(&popget, &server, "password_command = \"exit 3\"\n");
    let run = popget.run_with(popget.command().args(["info", "-a", "work", "--login"]));
    run.expect_code(78);
    assert!(
        run.stderr().contains("the password command failed"),
        "{}",
        run.stderr()
    );
    assert!(!run.stderr().contains("no password"), "{}", run.stderr());
    assert!(server.commands().is_empty(), "{:?}", server.commands());
}
