//! Never a panic, whatever the environment and the files say (issue 15, item 2): environment
//! variables that are not UTF-8, a `.netrc` with a macro before the account's entry.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;

use crate::harness::dovecot::Dovecot;
use crate::harness::{maildir_messages, Popget};

/// Asserts that popget did not panic (a panic exits 101 and prints "panicked").
#[track_caller]
fn assert_no_panic(run: &crate::harness::Run) {
    assert_ne!(run.code(), 101, "{}", run.stderr());
    assert!(!run.stderr().contains("panicked"), "{}", run.stderr());
}

#[test]
fn environment_variables_that_are_not_utf8_are_no_panic() {
    // Regression: std::env::vars() panics on the first variable that is not UTF-8, even one
    // popget never reads (FOO=$'\xff').
    let dovecot = Dovecot::start();
    dovecot.deliver("alice", b"Subject: env\n\nx\n");
    let popget = Popget::new();
    let maildir = popget.path("m").display().to_string();
    let mut command = popget.command();
    command
        .env("POPGET_PASSWORD", "secret")
        .env("FOO", OsStr::from_bytes(b"\xff"))
        .env(OsStr::from_bytes(b"NAME_\xfe"), "value")
        .arg("fetch")
        .args(dovecot.args("implicit", "alice"))
        .args(["--maildir", &maildir]);
    let run = popget.run_with(&mut command);
    assert_no_panic(&run);
    run.expect_code(0);
    assert_eq!(maildir_messages(&popget.path("m")).len(), 1);

    // Every other command reads the environment the same way.
    for args in [&["stat"][..], &["list"], &["uidl"], &["info"]] {
        let run = popget.run_with(
            popget
                .command()
                .env("POPGET_PASSWORD", "secret")
                .env("FOO", OsStr::from_bytes(b"\xff"))
                .args(args)
                .args(dovecot.args("starttls", "alice")),
        );
        assert_no_panic(&run);
        run.expect_code(0);
    }
    let run = popget.run_with(
        popget
            .command()
            .env("FOO", OsStr::from_bytes(b"\xff"))
            .args(["config", "check"]),
    );
    assert_no_panic(&run);
    run.expect_code(78);

    // A password that is not UTF-8 is refused (78) before anything is sent, not skipped.
    let run = popget.run_with(
        popget
            .command()
            .env("POPGET_PASSWORD", OsStr::from_bytes(b"s\xffcret"))
            .arg("stat")
            .args(dovecot.args("implicit", "alice")),
    );
    assert_no_panic(&run);
    run.expect_code(78);
    assert!(
        run.stderr().contains("POPGET_PASSWORD") && run.stderr().contains("UTF-8"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_home_that_is_not_utf8_is_used_as_it_is() {
    // HOME holds the ~/.netrc and the ~ of the configuration's paths, byte for byte.
    let dovecot = Dovecot::start();
    dovecot.deliver("alice", b"Subject: home\n\nx\n");
    let popget = Popget::new();
    let home = popget.home().join(OsStr::from_bytes(b"h\xe9me-latin1"));
    std::fs::create_dir(&home).unwrap();
    let netrc = home.join(".netrc");
    std::fs::write(&netrc, "machine 127.0.0.1 login alice password secret\n").unwrap();
    std::fs::set_permissions(&netrc, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = popget.path("config.toml");
    let args = dovecot.args("implicit", "alice");
    std::fs::write(
        &config,
        format!(
            "[accounts.a]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"alice\"\nca_file = \"{}\"\n\
             maildir = \"~/Mail\"\n",
            dovecot.pop3s_port,
            args.last().unwrap()
        ),
    )
    .unwrap();
    let run = popget.run_with(popget.command().env("HOME", &home).args([
        "fetch",
        "--config",
        config.to_str().unwrap(),
    ]));
    assert_no_panic(&run);
    run.expect_code(0);
    assert_eq!(maildir_messages(&home.join("Mail")).len(), 1);
}

#[test]
fn a_netrc_macro_before_the_account_does_not_hide_it() {
    // Regression: a macdef ended the reading of the file, so every entry after it was
    // invisible. A macro runs to the next blank line.
    let dovecot = Dovecot::start();
    dovecot.deliver("alice", b"Subject: netrc\n\nx\n");
    let popget = Popget::new();
    let netrc = popget.path(".netrc");
    std::fs::write(
        &netrc,
        "machine ftp.example.org login anonymous password guest\n\
         macdef init\n\
         cd /pub\n\
         machine 127.0.0.1 login alice password not-this-one\n\
         \n\
         machine 127.0.0.1\n\
         \tlogin alice\n\
         \tpassword secret\n",
    )
    .unwrap();
    std::fs::set_permissions(&netrc, std::fs::Permissions::from_mode(0o600)).unwrap();
    let maildir = popget.path("m").display().to_string();
    // No POPGET_PASSWORD: the password comes from ~/.netrc.
    let run = popget.run_with(
        popget
            .command()
            .arg("fetch")
            .args(dovecot.args("implicit", "alice"))
            .args(["--maildir", &maildir]),
    );
    run.expect_code(0);
    assert_eq!(maildir_messages(&popget.path("m")).len(), 1);
}
