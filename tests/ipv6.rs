//! IPv6 and names with several addresses: Dovecot on ::1 only, literal IPv6 addresses on the
//! command line and in account URLs, a name whose first address refuses, and one whose first
//! address never answers.

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

/// A listener on `[::1]:port` whose accept queue is full: the kernel drops every further SYN,
/// so a connection to it neither succeeds nor fails, as behind a firewall that drops packets.
struct SilentAddress {
    _listener: std::net::TcpListener,
    _queued: std::net::TcpStream,
}

impl SilentAddress {
    fn on_ipv6_loopback(port: u16) -> SilentAddress {
        use rustix::net::{AddressFamily, SocketType};
        let address = std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port));
        let socket = rustix::net::socket(AddressFamily::INET6, SocketType::STREAM, None).unwrap();
        rustix::net::bind(&socket, &address).unwrap();
        // A backlog of 0 holds one connection that is never accepted, and then no more.
        rustix::net::listen(&socket, 0).unwrap();
        let listener = std::net::TcpListener::from(socket);
        let queued = std::net::TcpStream::connect(address).unwrap();
        let probe =
            std::net::TcpStream::connect_timeout(&address, std::time::Duration::from_millis(500));
        assert!(
            probe.is_err_and(|e| e.kind() == std::io::ErrorKind::TimedOut),
            "[::1]:{port} is not silent"
        );
        SilentAddress {
            _listener: listener,
            _queued: queued,
        }
    }
}

#[test]
fn a_name_whose_first_address_is_silent_connects_to_the_next_after_the_stagger() {
    // Dovecot on 127.0.0.1; getaddrinfo orders ::1 first, and nothing ever answers there.
    let dovecot = Dovecot::start();
    dovecot.deliver("alice", b"Subject: x\n\ny\n");
    let _silent = SilentAddress::on_ipv6_loopback(dovecot.pop3s_port);
    let popget = Popget::new();

    // Waiting for the silent address alone ends at --timeout (10 s): 74, a network timeout.
    let started = std::time::Instant::now();
    let only_silent = stat_by_name(&popget, &dovecot, &format!("::1 {NAME}\n"));
    only_silent.expect_code(74);
    assert!(
        only_silent.stderr().contains("timed out"),
        "{}",
        only_silent.stderr()
    );
    assert!(started.elapsed() >= std::time::Duration::from_secs(9));

    // With a second address, the next attempt starts 250 ms after the first (RFC 8305), not
    // after the first one's timeout.
    let started = std::time::Instant::now();
    let run = stat_by_name(
        &popget,
        &dovecot,
        &format!("::1 {NAME}\n127.0.0.1 {NAME}\n"),
    );
    let took = started.elapsed();
    run.expect_code(0);
    assert_eq!(run.stdout(), "1 17\n");
    assert!(
        took < std::time::Duration::from_secs(5),
        "took {took:?}: the second address waited for the first one's timeout"
    );
}
