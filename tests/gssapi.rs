//! Kerberos logins (SASL GSSAPI, RFC 4752) against Dovecot with a real MIT KDC on loopback:
//! a ticket from kinit fetches byte for byte; no ticket, an expired one or the wrong service
//! principal fail with 77 and say what to do; `auto` uses a ticket only inside TLS.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::builds::lean_popget;
use crate::harness::dovecot::{Dovecot, Kerberos, Options};
use crate::harness::kdc::Kdc;
use crate::harness::{maildir_messages, sorted, tricky_messages, Popget, Run};

/// A realm with alice and the POP service of localhost, and a Dovecot that accepts both.
struct Site {
    // Dovecot first: it is stopped before the KDC it was configured with.
    dovecot: Dovecot,
    kdc: Kdc,
    popget: Popget,
}

impl Site {
    fn start() -> Site {
        let kdc = Kdc::start();
        kdc.add_user("alice", "alice-kerberos-password");
        kdc.add_service("pop/localhost");
        let dovecot = Dovecot::start_with(Options {
            mechanisms: "gssapi plain",
            kerberos: Some(Kerberos {
                config: kdc.config(),
                keytab: kdc.keytab(),
                hostname: "localhost",
            }),
            ..Options::default()
        });
        Site {
            dovecot,
            kdc,
            popget: Popget::new(),
        }
    }

    fn ccache(&self) -> PathBuf {
        self.popget.path("krb5cc")
    }

    fn kinit(&self, lifetime: &str) {
        self.kdc
            .kinit(&self.ccache(), "alice", "alice-kerberos-password", lifetime);
    }

    /// popget with this realm's krb5.conf and the test's credential cache, and no password.
    fn command(&self) -> Command {
        self.command_of(Path::new(env!("CARGO_BIN_EXE_popget")))
    }

    /// [`Site::command`] for another popget binary.
    fn command_of(&self, binary: &Path) -> Command {
        let mut command = self.popget.command_of(binary);
        command
            .env("KRB5_CONFIG", self.kdc.config())
            .env("KRB5CCNAME", format!("FILE:{}", self.ccache().display()));
        command
    }

    /// `popget fetch` from localhost (Kerberos names hosts, not addresses) with `tls`, then
    /// `extra`, verbose.
    fn fetch(&self, tls: &str, extra: &[&str]) -> Run {
        self.fetch_with(self.command(), tls, extra)
    }

    fn fetch_with(&self, mut command: Command, tls: &str, extra: &[&str]) -> Run {
        let connection: Vec<String> = self
            .dovecot
            .args(tls, "alice")
            .into_iter()
            .map(|arg| {
                if arg == "127.0.0.1" {
                    "localhost".into()
                } else {
                    arg
                }
            })
            .collect();
        let maildir = self.popget.path("m").display().to_string();
        command
            .arg("fetch")
            .args(connection)
            .args(["--maildir", &maildir, "-v"])
            .args(extra);
        self.popget.run_with(&mut command)
    }

    fn fetched(&self) -> Vec<Vec<u8>> {
        maildir_messages(&self.popget.path("m"))
    }
}

#[test]
fn a_ticket_fetches_byte_for_byte_without_a_password() {
    let site = Site::start();
    let messages = tricky_messages();
    for message in &messages {
        site.dovecot.deliver("alice", message);
    }
    site.kinit("10h");
    let run = site.fetch("implicit", &["--auth", "gssapi"]);
    run.expect_code(0);
    assert_eq!(site.fetched(), sorted(messages));
    assert!(run.stderr().contains("C: AUTH GSSAPI"), "{}", run.stderr());
    let log = site.dovecot.log();
    assert!(log.contains("user=<alice>, method=GSSAPI"), "{log}");
}

#[test]
fn no_ticket_fails_with_77_before_auth_is_sent() {
    let site = Site::start();
    site.dovecot.deliver("alice", b"Subject: waits\n\nx\n");
    site.kinit("10h");
    let status = site
        .kdc
        .command("/usr/bin/kdestroy")
        .env("KRB5CCNAME", format!("FILE:{}", site.ccache().display()))
        .status()
        .unwrap();
    assert!(status.success());
    let run = site.fetch("implicit", &["--auth", "gssapi"]);
    run.expect_code(77);
    let stderr = run.stderr();
    assert!(stderr.contains("no Kerberos ticket"), "{stderr}");
    assert!(stderr.contains("hint: get a ticket with kinit"), "{stderr}");
    assert!(!stderr.contains("C: AUTH"), "{stderr}");
    assert!(site.fetched().is_empty());
}

#[test]
fn an_expired_ticket_fails_with_77() {
    let site = Site::start();
    site.kinit("2s");
    std::thread::sleep(std::time::Duration::from_millis(3_100));
    let run = site.fetch("implicit", &["--auth", "gssapi"]);
    run.expect_code(77);
    let stderr = run.stderr();
    assert!(stderr.contains("Kerberos ticket has expired"), "{stderr}");
    assert!(stderr.contains("kinit"), "{stderr}");
}

#[test]
fn the_wrong_service_principal_fails_with_77() {
    let site = Site::start();
    site.dovecot.deliver("alice", b"Subject: waits\n\nx\n");
    // The KDC knows imap/localhost, but Dovecot holds no key for it: the server refuses.
    site.kdc.add_service_without_keytab("imap/localhost");
    site.kinit("10h");
    let config = site.popget.path("config.toml");
    std::fs::write(&config, "[defaults]\ngssapi_service = \"imap\"\n").unwrap();
    let config = config.display().to_string();
    let run = site.fetch("implicit", &["--config", &config, "--auth", "gssapi"]);
    run.expect_code(77);
    let stderr = run.stderr();
    assert!(stderr.contains("C: AUTH GSSAPI"), "{stderr}");
    assert!(
        stderr.contains("authentication failed (AUTH GSSAPI)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("refused the Kerberos ticket for imap/localhost"),
        "{stderr}"
    );
    // A service the KDC does not know: found before anything is sent, with a hint.
    let run = site.fetch(
        "implicit",
        &["--auth", "gssapi", "--gssapi-service", "nosuch"],
    );
    run.expect_code(77);
    let stderr = run.stderr();
    assert!(
        stderr.contains("Kerberos knows no service principal for nosuch@localhost"),
        "{stderr}"
    );
    assert!(stderr.contains("gssapi_service"), "{stderr}");
    assert!(!stderr.contains("C: AUTH"), "{stderr}");
    assert!(site.fetched().is_empty());
}

#[test]
fn auto_uses_a_ticket_inside_tls_and_the_password_without_one() {
    let site = Site::start();
    site.dovecot.deliver("alice", b"Subject: one\n\nx\n");
    // No ticket: what it always was (PLAIN inside TLS), the Kerberos offer ignored.
    let mut command = site.command();
    command.env("POPGET_PASSWORD", "secret");
    let run = site.fetch_with(command, "starttls", &[]);
    run.expect_code(0);
    assert!(run.stderr().contains("C: AUTH PLAIN"), "{}", run.stderr());
    // With a ticket: Kerberos, and no password is asked for.
    site.dovecot.deliver("alice", b"Subject: two\n\ny\n");
    site.kinit("10h");
    let run = site.fetch("starttls", &[]);
    run.expect_code(0);
    assert!(run.stderr().contains("C: AUTH GSSAPI"), "{}", run.stderr());
    assert_eq!(site.fetched().len(), 2);
    // A ticket that gets no service ticket for the server: the password, as without one.
    site.dovecot.deliver("alice", b"Subject: three\n\nz\n");
    let mut command = site.command();
    command.env("POPGET_PASSWORD", "secret");
    let run = site.fetch_with(command, "starttls", &["--gssapi-service", "nosuch"]);
    run.expect_code(0);
    assert!(run.stderr().contains("C: AUTH PLAIN"), "{}", run.stderr());
    assert!(!run.stderr().contains("C: AUTH GSSAPI"), "{}", run.stderr());
    assert_eq!(site.fetched().len(), 3);
    // Over plain text auto never chooses it: nothing there keeps a password secret (69).
    let mut command = site.command();
    command.env("POPGET_PASSWORD", "secret");
    let run = site.fetch_with(command, "none", &[]);
    run.expect_code(69);
    assert!(!run.stderr().contains("C: AUTH"), "{}", run.stderr());
}

/// popget built without the gssapi feature has no Kerberos: given the ticket the full build
/// uses, `auto` logs in with the password, and `--auth gssapi` is refused before connecting.
#[test]
fn without_the_gssapi_feature_auto_uses_the_password_despite_a_ticket() {
    let site = Site::start();
    site.dovecot.deliver("alice", b"Subject: lean\n\nx\n");
    site.kinit("10h");
    let mut command = site.command_of(lean_popget());
    command.env("POPGET_PASSWORD", "secret");
    let run = site.fetch_with(command, "starttls", &[]);
    run.expect_code(0);
    assert!(run.stderr().contains("C: AUTH PLAIN"), "{}", run.stderr());
    assert!(!run.stderr().contains("C: AUTH GSSAPI"), "{}", run.stderr());
    assert_eq!(site.fetched().len(), 1);

    let run = site.fetch_with(
        site.command_of(lean_popget()),
        "starttls",
        &["--auth", "gssapi"],
    );
    run.expect_code(78);
    assert!(
        run.stderr()
            .contains("this popget was built without the gssapi feature"),
        "{}",
        run.stderr()
    );
    // -v shows every line the server sent: there was none.
    assert!(!run.stderr().contains(": S: "), "{}", run.stderr());
}

#[test]
fn gssapi_over_plain_text_only_when_asked_for() {
    // No password crosses the wire: --auth gssapi --tls none is allowed, like --auth user.
    let site = Site::start();
    site.dovecot.deliver("alice", b"Subject: plain\n\nz\n");
    site.kinit("10h");
    let run = site.fetch("none", &["--auth", "gssapi"]);
    run.expect_code(0);
    assert_eq!(site.fetched().len(), 1);
}
