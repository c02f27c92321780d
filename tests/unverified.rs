//! No credential for an unverified server: an impostor with a self-signed
//! certificate, reached with `--insecure` as popget's own hint suggests, sees no login; a pin in
//! the form `openssl x509 -fingerprint -sha256` prints connects; and without `--insecure` no
//! command sends anything to a server whose certificate is rejected.

use std::path::{Path, PathBuf};

use crate::harness::fake::{numbered_messages, FakeServer, Script};
use crate::harness::{maildir_messages, Popget};

const SECRET: &str = "alice-s3cret";

/// Commands that carry a credential, in any login method.
fn logins(commands: &[String]) -> Vec<String> {
    commands
        .iter()
        .filter(|c| {
            let verb = c.split(' ').next().unwrap_or("").to_ascii_uppercase();
            matches!(verb.as_str(), "USER" | "PASS" | "AUTH" | "APOP") || c.contains(SECRET)
        })
        .cloned()
        .collect()
}

/// An impostor: TLS with a self-signed certificate nobody vouches for, on connect or via STLS,
/// that would accept alice's password if it were sent.
fn impostor(starttls: bool) -> FakeServer {
    FakeServer::start(Script {
        tls: !starttls,
        starttls,
        capa: Some(vec!["STLS".into(), "USER".into(), "UIDL".into()]),
        password: SECRET.into(),
        messages: numbered_messages(1),
        greeting: "+OK impostor ready <1.2@impostor>".into(),
        ..Script::default()
    })
}

/// The server's connection arguments without the `--ca-file` that would make it trusted.
fn untrusted_args(server: &FakeServer) -> Vec<String> {
    let mut args = server.args();
    if let Some(at) = args.iter().position(|a| a == "--ca-file") {
        args.drain(at..at + 2);
    }
    args
}

/// The certificate file the fake server presents.
fn certificate_of(server: &FakeServer) -> PathBuf {
    let args = server.args();
    let at = args.iter().position(|a| a == "--ca-file").unwrap();
    PathBuf::from(&args[at + 1])
}

/// A config file with alice's account at the server, her password in it (mode 0600), and
/// `insecure = true` as someone following the hint might add it.
fn config_with_password(popget: &Popget, server: &FakeServer, insecure: bool) -> String {
    let args = server.args();
    let tls = &args[args.iter().position(|a| a == "--tls").unwrap() + 1];
    let path = popget.path("config.toml");
    let mut text = format!(
        "[accounts.alice]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"alice\"\ntls = \"{tls}\"\n\
         password = \"{SECRET}\"\nmaildir = \"{}\"\nauth = \"auto\"\n",
        server.port,
        popget.path("m").display()
    );
    if insecure {
        text.push_str("insecure = true\n");
    }
    std::fs::write(&path, text).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path.display().to_string()
}

fn openssl_fingerprint(certificate: &Path) -> String {
    let output = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(certificate)
        .output()
        .expect("openssl runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

#[test]
fn info_insecure_shows_an_impostor_its_certificate_and_no_password() {
    for starttls in [false, true] {
        let server = impostor(starttls);
        let popget = Popget::new();
        let config = config_with_password(&popget, &server, false);
        // What the hint after a rejected certificate says to run, with the password configured
        // in the file and in the environment.
        let run = popget.run_with(popget.command().env("POPGET_PASSWORD", SECRET).args([
            "info",
            "--config",
            &config,
            "-a",
            "alice",
            "--insecure",
        ]));
        let out = run.expect_code(0).stdout();
        assert!(out.contains("certificate fingerprint: SHA256:"), "{out}");
        assert!(out.contains("certificate not checked"), "{out}");
        assert!(out.contains("not logged in"), "{out}");
        assert!(
            run.stderr().contains("nothing secret is sent"),
            "{}",
            run.stderr()
        );
        let commands = server.commands();
        assert_eq!(logins(&commands), Vec::<String>::new(), "{commands:?}");
        assert!(commands.contains(&"CAPA".to_string()), "{commands:?}");

        // insecure = true in the file is the same; --login is refused before connecting.
        let config = config_with_password(&popget, &server, true);
        let run = popget.run(&["info", "--json", "--config", &config, "-a", "alice"]);
        let value: serde_json::Value =
            serde_json::from_slice(&run.expect_code(0).output.stdout).unwrap();
        assert_eq!(value["logged_in"], false);
        assert_eq!(value["certificate_check"], "not checked");
        let before = server.commands().len();
        let run = popget.run(&["info", "--login", "--config", &config, "-a", "alice"]);
        run.expect_code(64);
        assert!(run.stderr().contains("--fingerprint"), "{}", run.stderr());
        assert_eq!(
            server.commands().len(),
            before,
            "--login refused before connecting"
        );
        assert_eq!(logins(&server.commands()), Vec::<String>::new());
    }
}

#[test]
fn info_logs_in_only_when_asked_and_verified() {
    let server = impostor(false);
    let popget = Popget::new();
    let mut args = vec!["info".to_string()];
    args.extend(server.args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = popget.run_with(popget.command().env("POPGET_PASSWORD", SECRET).args(&args));
    assert!(run.expect_code(0).stdout().contains("not logged in"));
    assert_eq!(logins(&server.commands()), Vec::<String>::new());

    let run = popget.run_with(
        popget
            .command()
            .env("POPGET_PASSWORD", SECRET)
            .args(&args)
            .arg("--login"),
    );
    let out = run.expect_code(0).stdout();
    assert!(out.contains("capabilities after login: "), "{out}");
    assert!(!out.contains("not logged in"), "{out}");
    assert!(
        !logins(&server.commands()).is_empty(),
        "{:?}",
        server.commands()
    );
}

#[test]
fn a_fingerprint_as_openssl_prints_it_pins_the_certificate() {
    let server = impostor(false);
    let popget = Popget::new();
    let printed = openssl_fingerprint(&certificate_of(&server));
    // "sha256 Fingerprint=AB:CD:..." (OpenSSL 3) or "SHA256 Fingerprint=..." (1.1).
    assert!(printed
        .to_ascii_lowercase()
        .starts_with("sha256 fingerprint="));
    let colons = printed.split_once('=').unwrap().1.to_string();
    assert!(colons.contains(':'), "{colons}");
    let mut args = untrusted_args(&server);
    args.extend(["--fingerprint".into(), printed.clone()]);
    args.extend(["--maildir".into(), popget.path("m").display().to_string()]);
    let mut command = vec!["fetch".to_string()];
    command.extend(args);
    let command: Vec<&str> = command.iter().map(String::as_str).collect();
    let run = popget.run_with(
        popget
            .command()
            .env("POPGET_PASSWORD", SECRET)
            .args(&command),
    );
    run.expect_code(0);
    assert_eq!(maildir_messages(&popget.path("m")).len(), 1);

    // The bare colon form providers publish, in lower case, for info --login.
    let mut args = vec!["info".to_string(), "--login".to_string()];
    args.extend(untrusted_args(&server));
    args.extend(["--fingerprint".into(), colons.to_ascii_lowercase()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = popget.run_with(popget.command().env("POPGET_PASSWORD", SECRET).args(&args));
    let out = run.expect_code(0).stdout();
    assert!(out.contains("certificate pinned"), "{out}");
    assert!(!out.contains("not logged in"), "{out}");
}

#[test]
fn no_command_sends_a_secret_to_a_rejected_certificate() {
    for starttls in [false, true] {
        let server = impostor(starttls);
        let popget = Popget::new();
        let maildir = popget.path("m").display().to_string();
        let commands: [&[&str]; 9] = [
            &["fetch", "--maildir", &maildir],
            &["stat"],
            &["list"],
            &["uidl"],
            &["retr", "1"],
            &["top", "1", "0"],
            &["dele", "1"],
            &["info", "--login"],
            &["info"],
        ];
        for command in commands {
            let run = popget.run_with(
                popget
                    .command()
                    .env("POPGET_PASSWORD", SECRET)
                    .args(command)
                    .args(untrusted_args(&server)),
            );
            run.expect_code(69);
            assert!(
                run.stderr().contains("certificate"),
                "{command:?}: {}",
                run.stderr()
            );
            assert!(
                run.stderr().contains("popget info --insecure"),
                "the hint: {}",
                run.stderr()
            );
            assert_eq!(
                logins(&server.commands()),
                Vec::<String>::new(),
                "{command:?}"
            );
        }
        assert_eq!(server.remaining().len(), 1);
    }
}

#[test]
fn insecure_is_an_explicit_choice_for_the_commands_that_log_in() {
    // The documented trade-off: --insecure on a command that logs in sends the password, with
    // a warning on every run; info without --login is the only way to look without logging in.
    let server = impostor(false);
    let popget = Popget::new();
    let run = popget.run_with(
        popget
            .command()
            .env("POPGET_PASSWORD", SECRET)
            .arg("stat")
            .args(untrusted_args(&server))
            .arg("--insecure"),
    );
    run.expect_code(0);
    assert!(
        run.stderr().contains("warning: --insecure"),
        "{}",
        run.stderr()
    );
    assert!(!logins(&server.commands()).is_empty());
}
