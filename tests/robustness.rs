//! Never a panic, whatever the environment and the files say: environment
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

/// A fake server without TLS holding `n` messages, and its connection arguments with USER/PASS.
fn plain_server(n: usize) -> (crate::harness::fake::FakeServer, Vec<String>) {
    use crate::harness::fake::{numbered_messages, FakeServer, Script};
    let server = FakeServer::start(Script {
        messages: numbered_messages(n),
        ..Script::default()
    });
    let mut args = server.args();
    args.extend(["--auth".to_string(), "user".to_string()]);
    (server, args)
}

#[test]
fn the_largest_timeouts_are_no_panic() {
    // Regression: Instant + Duration overflowed and panicked for --session-timeout
    // 18446744073709551615, and for timeout = 2^63-1 in the file once an MDA or filter ran.
    let (_server, args) = plain_server(2);
    let popget = Popget::new();
    let run = popget.run_with(
        popget
            .command()
            .env("POPGET_PASSWORD", "secret")
            .arg("stat")
            .args(&args)
            .args(["--session-timeout", "18446744073709551615"]),
    );
    assert_no_panic(&run);
    assert_eq!(run.expect_code(0).stdout().split(' ').next(), Some("2"));

    let config = popget.path("config.toml");
    std::fs::write(
        &config,
        format!(
            "[accounts.a]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"alice\"\ntls = \"none\"\n\
             auth = \"user\"\nmaildir = \"{}\"\ntimeout = 9223372036854775807\n\
             session_timeout = 9223372036854775807\nfilter = \"exit 0\"\n",
            args[3],
            popget.path("m").display()
        ),
    )
    .unwrap();
    let run = popget.run(&["fetch", "--config", config.to_str().unwrap()]);
    assert_no_panic(&run);
    run.expect_code(0);
    assert_eq!(maildir_messages(&popget.path("m")).len(), 2);
}

#[test]
fn a_brace_in_an_account_name_is_no_panic_in_the_progress_bar() {
    // Regression: the account's name was part of the progress bar's template; "a{b" made it
    // invalid, and the expect on it panicked.
    let (_server, mut args) = plain_server(1);
    let at = args.iter().position(|a| a == "--user").unwrap();
    args[at + 1] = "a{b".into();
    let popget = Popget::new();
    let run = popget.run_with(
        popget
            .command()
            .env("POPGET_PASSWORD", "secret")
            .args(["fetch", "--progress", "always"])
            .args(&args)
            .args(["--maildir", &popget.path("m").display().to_string()]),
    );
    assert_no_panic(&run);
    run.expect_code(0);
    // The bar's prefix is the name, cut to a few characters; the summary has it whole.
    assert!(
        run.stderr().contains("a{b@127.0.0…: 1/1 messages"),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("a{b@127.0.0.1: 1 new message"));
    assert_eq!(maildir_messages(&popget.path("m")).len(), 1);
}

#[test]
fn a_closed_standard_error_is_no_panic() {
    // Regression: eprintln! panics when standard error is a pipe nobody reads any more.
    use std::os::fd::{FromRawFd, OwnedFd};
    let popget = Popget::new();
    let config = popget.path("config.toml");
    std::fs::write(&config, "[accounts.nohost]\nuser = \"u\"\n").unwrap();
    let mut fds = [0; 2];
    // SAFETY: pipe writes two new descriptors into the array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both descriptors were just created and are owned here only.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    let output = popget
        .command()
        .args(["accounts", "--config", config.to_str().unwrap()])
        .stderr(std::process::Stdio::from(write))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(78), "{output:?}");
}
