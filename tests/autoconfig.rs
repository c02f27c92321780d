//! `popget config add`: accounts found in DNS SRV records served by a real dnsmasq, written
//! into the configuration file, then used against a real Dovecot.

use std::os::unix::fs::PermissionsExt;

use crate::harness::dnsmasq::Dnsmasq;
use crate::harness::dovecot::{Dovecot, Options};
use crate::harness::{Popget, Run};

fn dovecot() -> Dovecot {
    Dovecot::start_with(Options {
        users: vec![
            ("bob@srv.popget.test", "secret"),
            ("carol@plain.popget.test", "secret"),
        ],
        ..Options::default()
    })
}

fn popget_with_dns(popget: &Popget, dns: &Dnsmasq, args: &[&str]) -> Run {
    popget.run_with(
        popget
            .command()
            .env("POPGET_DNS_SERVER", dns.server())
            .env("POPGET_PASSWORD", "secret")
            .args(args),
    )
}

#[test]
fn pop3s_from_srv_appended_to_a_commented_file_then_used() {
    let dovecot = dovecot();
    dovecot.deliver("bob@srv.popget.test", b"Subject: found\n\nvia SRV\n");
    let dns = Dnsmasq::start(&[
        format!(
            "--srv-host=_pop3s._tcp.srv.popget.test,localhost,{},10,5",
            dovecot.pop3s_port
        ),
        "--srv-host=_pop3s._tcp.srv.popget.test,backup.srv.popget.test,995,20,100".into(),
        format!(
            "--srv-host=_pop3._tcp.srv.popget.test,localhost,{}",
            dovecot.pop3_port
        ),
    ]);
    let popget = Popget::new();
    let config = popget.path("config.toml");
    let before = "# My accounts.\n[defaults]\nmaildir = \"~/Mail\"  # all in one place\n";
    std::fs::write(&config, before).unwrap();
    let config = config.to_str().unwrap();

    let run = popget_with_dns(
        &popget,
        &dns,
        &["--config", config, "config", "add", "bob@srv.popget.test"],
    );
    run.expect_code(0);
    let stdout = run.stdout();
    assert!(
        stdout.contains(&format!(
            "_pop3s._tcp.srv.popget.test: localhost port {} (priority 10, weight 5)",
            dovecot.pop3s_port
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("backup.srv.popget.test port 995 (priority 20"),
        "{stdout}"
    );
    assert!(
        stdout.contains("added account \"bob@srv.popget.test\""),
        "{stdout}"
    );
    assert!(
        !stdout.contains("_pop3._tcp"),
        "POP3S found first, STLS not asked: {stdout}"
    );

    let after = std::fs::read_to_string(config).unwrap();
    assert!(
        after.starts_with(before),
        "the file's own text is kept:\n{after}"
    );
    let added = &after[before.len()..];
    let expected = format!(
        "\n# Added by `popget config add` from the DNS SRV record _pop3s._tcp.srv.popget.test \
         (localhost port {port} (priority 10, weight 5)).\n\
         # Check it with: popget info -a bob@srv.popget.test\n\
         [accounts.\"bob@srv.popget.test\"]\nhost = \"localhost\"\nport = {port}\n\
         user = \"bob@srv.popget.test\"\n",
        port = dovecot.pop3s_port
    );
    assert_eq!(
        added, expected,
        "maildir and tls come from [defaults] and are not repeated"
    );
    popget
        .run(&["--config", config, "config", "check"])
        .expect_code(0);

    let stat = popget.run(&[
        "--config",
        config,
        "stat",
        "-a",
        "bob@srv.popget.test",
        "--ca-file",
        &dovecot.certificate_arg(),
    ]);
    stat.expect_code(0);
    assert_eq!(stat.stdout(), "1 27\n");

    let again = popget_with_dns(
        &popget,
        &dns,
        &["--config", config, "config", "add", "bob@srv.popget.test"],
    );
    again.expect_code(78);
    assert!(
        again.stderr().contains("already has an account"),
        "{}",
        again.stderr()
    );
    assert_eq!(std::fs::read_to_string(config).unwrap(), after);
}

#[test]
fn only_pop3_srv_means_stls_and_a_new_private_file() {
    let dovecot = dovecot();
    dovecot.deliver("carol@plain.popget.test", b"Subject: stls\n\nx\n");
    let dns = Dnsmasq::start(&[
        // "." as target: POP3S is decidedly not offered.
        "--srv-host=_pop3s._tcp.plain.popget.test".into(),
        format!(
            "--srv-host=_pop3._tcp.plain.popget.test,localhost,{}",
            dovecot.pop3_port
        ),
    ]);
    let popget = Popget::new();
    let run = popget_with_dns(
        &popget,
        &dns,
        &[
            "config",
            "add",
            "carol@plain.popget.test",
            "--name",
            "carol",
        ],
    );
    run.expect_code(0);
    assert!(
        run.stdout()
            .contains("_pop3s._tcp.plain.popget.test: \".\": the service is not offered"),
        "{}",
        run.stdout()
    );
    let path = popget.path(".config/popget/config.toml");
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("[accounts.carol]\n"), "{text}");
    assert!(text.contains("tls = \"starttls\"\n"), "{text}");
    assert!(text.contains("# maildir = \"~/Mail/carol\"\n"), "{text}");

    let stat = popget.run(&[
        "stat",
        "-a",
        "carol",
        "--ca-file",
        &dovecot.certificate_arg(),
    ]);
    stat.expect_code(0);
    assert_eq!(stat.stdout(), "1 20\n");
}

#[test]
fn no_service_exits_69_unless_a_guess_is_asked_for_and_found() {
    let dns = Dnsmasq::start(&[
        "--srv-host=_pop3s._tcp.dot.popget.test".into(),
        "--srv-host=_pop3._tcp.dot.popget.test".into(),
        "--host-record=pop3.none.popget.test,127.0.0.1".into(),
    ]);
    let popget = Popget::new();
    let config = popget.path("config.toml");
    let config = config.to_str().unwrap();
    for domain in ["none", "dot"] {
        let address = format!("dan@{domain}.popget.test");
        let run = popget_with_dns(
            &popget,
            &dns,
            &["--config", config, "config", "add", &address],
        );
        run.expect_code(69);
        assert!(
            run.stderr().contains(&format!(
                "{domain}.popget.test announces no POP3 service in DNS"
            )),
            "{}",
            run.stderr()
        );
        assert!(run.stderr().contains("--guess"), "{}", run.stderr());
        assert!(!std::path::Path::new(config).exists(), "nothing written");
    }

    let run = popget_with_dns(
        &popget,
        &dns,
        &[
            "--config",
            config,
            "config",
            "add",
            "dan@none.popget.test",
            "--guess",
        ],
    );
    run.expect_code(0);
    assert!(
        run.stdout().contains("pop.none.popget.test: no address\n"),
        "{}",
        run.stdout()
    );
    let text = std::fs::read_to_string(config).unwrap();
    assert!(
        text.contains("host = \"pop3.none.popget.test\"\n"),
        "{text}"
    );
    assert!(text.contains("a guess"), "{text}");

    // The DNS server down: try again later.
    let server = dns.server();
    drop(dns);
    let down = popget.run_with(popget.command().env("POPGET_DNS_SERVER", server).args([
        "--config",
        config,
        "config",
        "add",
        "eve@srv.popget.test",
    ]));
    down.expect_code(75);
    assert!(
        down.stderr()
            .contains("DNS query for _pop3s._tcp.srv.popget.test"),
        "{}",
        down.stderr()
    );
}
