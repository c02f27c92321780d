//! IPv6 and names with several addresses: Dovecot on ::1 only, literal IPv6 addresses on the
//! command line and in account URLs, and a name whose first address refuses.

use crate::harness::dovecot::{Dovecot, Options};
use crate::harness::{maildir_messages, namespace, Popget};

const NAME: &str = "pop.popget.test";

fn on_ipv6() -> Dovecot {
    Dovecot::start_with(Options {
        listen: "::1",
        ..Options::default()
    })
}

#[test]
fn dovecot_on_ipv6_only_by_literal_address_and_account_url() {
    let dovecot = on_ipv6();
    dovecot.deliver("alice", b"Subject: one\n\n1\n");
    let popget = Popget::new();
    let maildir = popget.path("Mail");
    let maildir = maildir.to_str().unwrap();
    let mut args = vec!["fetch".to_string()];
    args.extend(dovecot.args("implicit", "alice"));
    assert_eq!(args[2], "::1");
    args.extend(["--maildir".into(), maildir.into()]);
    let run = popget.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    run.expect_code(0);
    assert_eq!(maildir_messages(maildir.as_ref()).len(), 1);

    dovecot.deliver("alice", b"Subject: two\n\n2\n");
    let port = dovecot.pop3s_port.to_string();
    let bracketed = popget.run(&[
        "uidl",
        "--host",
        "[::1]",
        "--port",
        &port,
        "--user",
        "alice",
        "--ca-file",
        &dovecot.certificate_arg(),
    ]);
    bracketed.expect_code(0);
    assert_eq!(bracketed.stdout().lines().count(), 2);

    dovecot.deliver("alice", b"Subject: three\n\n3\n");
    let url = format!("pop3s://alice@[::1]:{port}");
    popget
        .run(&[
            "fetch",
            &url,
            "--ca-file",
            &dovecot.certificate_arg(),
            "--maildir",
            maildir,
        ])
        .expect_code(0);
    assert_eq!(maildir_messages(maildir.as_ref()).len(), 3);
    // STLS over IPv6 too.
    let url = format!("pop3://alice@[::1]:{}", dovecot.pop3_port);
    popget
        .run(&["stat", "-a", &url, "--ca-file", &dovecot.certificate_arg()])
        .expect_code(0);
}

/// `stat` on `NAME`, which popget resolves through `hosts` alone.
fn stat_by_name(popget: &Popget, dovecot: &Dovecot, hosts: &str) -> crate::harness::Run {
    let port = dovecot.pop3s_port.to_string();
    let args = [
        "stat",
        "--host",
        NAME,
        "--port",
        &port,
        "--user",
        "alice",
        "--timeout",
        "10",
        "--ca-file",
        &dovecot.certificate_arg(),
    ];
    popget.run_with(namespace::popget(popget, hosts, &[]).args(args))
}

#[test]
fn a_name_whose_first_address_refuses_still_connects() {
    // Each family is first in one of the two cases: getaddrinfo orders ::1 before 127.0.0.1
    // (RFC 6724), so with Dovecot on IPv4 the first address is dead, and popget's own
    // interleaving is checked the other way round.
    for (dovecot, dead, live) in [
        (Dovecot::start(), "::1", "127.0.0.1"),
        (on_ipv6(), "127.0.0.1", "::1"),
    ] {
        dovecot.deliver("alice", b"Subject: x\n\ny\n");
        let popget = Popget::new();
        let only_dead = stat_by_name(&popget, &dovecot, &format!("{dead} {NAME}\n"));
        only_dead.expect_code(75);
        assert!(
            only_dead.stderr().contains("refused"),
            "{}",
            only_dead.stderr()
        );

        let started = std::time::Instant::now();
        let both = format!("{dead} {NAME}\n{live} {NAME}\n");
        let run = stat_by_name(&popget, &dovecot, &both);
        run.expect_code(0);
        assert_eq!(run.stdout(), "1 17\n");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let reversed = format!("{live} {NAME}\n{dead} {NAME}\n");
        stat_by_name(&popget, &dovecot, &reversed).expect_code(0);
    }
}
