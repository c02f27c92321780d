//! `--proxy`: POP3S through a real SOCKS5 proxy (microsocks) to a real Dovecot, the server's
//! name resolved by the proxy alone, and the proxy's failures as exit codes.

use crate::harness::dovecot::Dovecot;
use crate::harness::socks::Socks;
use crate::harness::{maildir_messages, namespace, sorted, tricky_messages, Popget, Run};

const NAME: &str = "pop.popget.test";
/// A name the proxy resolves that Dovecot's certificate does not hold.
const OTHER_NAME: &str = "other.popget.test";
const LOGIN: (&str, &str) = ("tor", "s3cret");

/// What the proxy sees as /etc/hosts: the test names, for Dovecot's address.
fn proxy_hosts(popget: &Popget) -> std::path::PathBuf {
    let path = popget.path("proxy-hosts");
    std::fs::write(&path, format!("127.0.0.1 {NAME} {OTHER_NAME}\n")).unwrap();
    path
}

fn fetch_args(dovecot: &Dovecot, host: &str, proxy: &str, maildir: &str) -> Vec<String> {
    [
        "fetch",
        "--host",
        host,
        "--port",
        &dovecot.pop3s_port.to_string(),
        "--user",
        "alice",
        "--ca-file",
        &dovecot.certificate_arg(),
        "--proxy",
        proxy,
        "--maildir",
        maildir,
    ]
    .map(String::from)
    .to_vec()
}

/// Runs popget where its own resolver knows none of the test names and DNS fails at once.
fn run_without_the_names(popget: &Popget, wrapper: &[&str], args: &[String]) -> Run {
    let hosts = "127.0.0.1 localhost\n::1 localhost\n";
    popget.run_with(namespace::popget(popget, hosts, wrapper).args(args))
}

#[test]
fn pop3s_through_socks5h_byte_for_byte_with_no_local_lookup_of_the_server() {
    let dovecot = Dovecot::start();
    let messages = tricky_messages();
    for message in &messages {
        dovecot.deliver("alice", message);
    }
    let popget = Popget::new();
    let socks = Socks::start(Some(LOGIN), Some(&proxy_hosts(&popget)));
    let maildir = popget.path("Mail");
    let trace = popget.path("strace.log");
    let args = fetch_args(
        &dovecot,
        NAME,
        &socks.url("socks5h", Some(LOGIN)),
        maildir.to_str().unwrap(),
    );
    let wrapper = [
        "strace",
        "-f",
        "-qq",
        "-e",
        "trace=connect,sendto,openat",
        "-o",
    ];
    let mut wrapper: Vec<&str> = wrapper.to_vec();
    wrapper.push(trace.to_str().unwrap());
    run_without_the_names(&popget, &wrapper, &args).expect_code(0);
    assert_eq!(maildir_messages(&maildir), sorted(messages));

    let trace = std::fs::read_to_string(&trace).unwrap();
    assert!(
        trace.contains("connect("),
        "strace saw the connections:\n{trace}"
    );
    for leak in ["htons(53)", "/etc/hosts", "/etc/resolv.conf"] {
        let lines: Vec<&str> = trace.lines().filter(|line| line.contains(leak)).collect();
        assert!(
            lines.is_empty(),
            "popget looked up the server's name itself: {lines:#?}"
        );
    }
    let to_proxy = format!("sin_port=htons({})", socks.port);
    assert!(trace.contains(&to_proxy), "{trace}");
    let to_dovecot = format!("sin_port=htons({})", dovecot.pop3s_port);
    assert!(
        !trace.contains(&to_dovecot),
        "connected to Dovecot directly:\n{trace}"
    );
}

#[test]
fn the_certificate_is_checked_for_the_server_not_the_proxy() {
    // The proxy's address, 127.0.0.1, is in Dovecot's certificate; the name asked for is not.
    let dovecot = Dovecot::start();
    let popget = Popget::new();
    let socks = Socks::start(None, Some(&proxy_hosts(&popget)));
    let maildir = popget.path("Mail");
    let args = fetch_args(
        &dovecot,
        OTHER_NAME,
        &socks.url("socks5h", None),
        maildir.to_str().unwrap(),
    );
    let run = run_without_the_names(&popget, &[], &args);
    run.expect_code(69);
    assert!(run.stderr().contains("certificate"), "{}", run.stderr());
}

#[test]
fn socks5_resolves_locally_where_the_name_is_unknown() {
    let dovecot = Dovecot::start();
    let popget = Popget::new();
    let socks = Socks::start(None, Some(&proxy_hosts(&popget)));
    let maildir = popget.path("Mail");
    let args = fetch_args(
        &dovecot,
        NAME,
        &socks.url("socks5", None),
        maildir.to_str().unwrap(),
    );
    let run = run_without_the_names(&popget, &[], &args);
    run.expect_code(75);
    assert!(
        run.stderr().contains(&format!("cannot resolve {NAME}")),
        "{}",
        run.stderr()
    );

    // An address needs no resolving; socks5:// then works like socks5h://.
    dovecot.deliver("alice", b"Subject: by address\n\nhi\n");
    let args = fetch_args(
        &dovecot,
        "127.0.0.1",
        &socks.url("socks5", None),
        maildir.to_str().unwrap(),
    );
    popget
        .run(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .expect_code(0);
    assert_eq!(
        maildir_messages(&maildir),
        [b"Subject: by address\n\nhi\n".to_vec()]
    );
}

#[test]
fn proxy_failures_exit_75_or_77_with_a_clear_message() {
    let dovecot = Dovecot::start();
    let popget = Popget::new();
    let socks = Socks::start(Some(LOGIN), None);
    let maildir = popget.path("Mail");
    let maildir = maildir.to_str().unwrap();
    let run = |proxy: &str| {
        let args = fetch_args(&dovecot, "127.0.0.1", proxy, maildir);
        popget.run(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };

    let wrong = run(&socks.url("socks5h", Some(("tor", "wrong"))));
    wrong.expect_code(77);
    assert!(
        wrong
            .stderr()
            .contains("rejected the user name or password"),
        "{}",
        wrong.stderr()
    );
    let missing = run(&socks.url("socks5h", None));
    missing.expect_code(77);
    assert!(
        missing
            .stderr()
            .contains("requires a user name and password"),
        "{}",
        missing.stderr()
    );

    dovecot.deliver("alice", b"Subject: right\n\nok\n");
    run(&socks.url("socks5h", Some(LOGIN))).expect_code(0);
    assert_eq!(maildir_messages(std::path::Path::new(maildir)).len(), 1);

    // The proxy gone: nothing listens on its port any more.
    let url = socks.url("socks5h", Some(LOGIN));
    drop(socks);
    let down = run(&url);
    down.expect_code(75);
    assert!(
        down.stderr().contains("cannot reach the proxy 127.0.0.1:"),
        "{}",
        down.stderr()
    );

    // A proxy that cannot reach the server (Dovecot's POP3S port closed) is temporary too.
    let socks = Socks::start(None, None);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port().to_string();
    drop(closed);
    let run = popget.run(&[
        "stat",
        "--host",
        "127.0.0.1",
        "--port",
        &closed_port,
        "--user",
        "alice",
        "--proxy",
        &socks.url("socks5h", None),
    ]);
    run.expect_code(75);
    assert!(
        run.stderr().contains("could not connect to 127.0.0.1:"),
        "{}",
        run.stderr()
    );
}

#[test]
fn the_proxy_comes_from_the_configuration_file() {
    let dovecot = Dovecot::start();
    dovecot.deliver("alice", b"Subject: configured\n\nx\n");
    let popget = Popget::new();
    let socks = Socks::start(Some(LOGIN), None);
    let config = popget.path("config.toml");
    std::fs::write(
        &config,
        format!(
            "[defaults]\nproxy = \"{}\"\n\n[accounts.a]\nhost = \"127.0.0.1\"\nport = {}\n\
             user = \"alice\"\nca_file = \"{}\"\n",
            socks.url("socks5h", Some(LOGIN)),
            dovecot.pop3s_port,
            dovecot.certificate_arg()
        ),
    )
    .unwrap();
    let run = popget.run(&["--config", config.to_str().unwrap(), "stat", "-a", "a"]);
    run.expect_code(0);
    assert_eq!(run.stdout(), "1 26\n", "23 octets with LF, 26 on the wire");
    let bad = popget.run(&[
        "--config",
        config.to_str().unwrap(),
        "stat",
        "-a",
        "a",
        "--proxy",
        "http://x",
    ]);
    bad.expect_code(78);
    assert!(
        bad.stderr().contains("invalid proxy URL"),
        "{}",
        bad.stderr()
    );
}
