//! The interoperability matrix: `popget fetch` against four real POP3 servers (Dovecot, Cyrus,
//! Courier, popa3d), each started privately on loopback, in every TLS mode and login method the
//! server offers, into Maildir and mbox, keeping and deleting.
//!
//! Every case has its own user on the server, seeded with the tricky messages. It checks that
//! what was delivered is byte for byte what the server holds, that a second run fetches nothing,
//! and that delete mode empties the server (keep mode leaves it as it was). Each case prints a
//! line `INTEROP<TAB>server<TAB>tls<TAB>auth<TAB>store<TAB>policy<TAB>result` that
//! scripts/interop turns into the table in the README; combinations a server does not offer
//! are printed as `not offered`.
//!
//! Cyrus, Courier and popa3d come from scripts/install-deps (unpacked into
//! /opt/popget-interop); Courier and popa3d need root (CI runs as root). A server that is missing
//! fails its test, it is never skipped.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::harness::courier::Courier;
use crate::harness::cyrus::Cyrus;
use crate::harness::dovecot::{Dovecot, Options};
use crate::harness::popa3d::Popa3d;
use crate::harness::server::PopServer;
use crate::harness::{maildir_messages, parse_mboxrd, sorted, tricky_messages, Popget};

const TLS_MODES: [&str; 3] = ["none", "starttls", "implicit"];
const AUTH_METHODS: [&str; 6] = [
    "user",
    "apop",
    "plain",
    "cram-md5",
    "scram-sha-1",
    "scram-sha-256",
];
/// Store and policy, rotated over the cases so that each server has every combination.
const STORES: [(&str, &str); 4] = [
    ("maildir", "keep"),
    ("mbox", "delete"),
    ("mbox", "keep"),
    ("maildir", "delete"),
];
/// Cases run at the same time against one server.
const PARALLEL: usize = 6;

#[derive(Clone, Copy, Debug)]
struct Case {
    tls: &'static str,
    auth: &'static str,
    store: &'static str,
    policy: &'static str,
}

/// Every offered TLS mode × login method, at least four cases so that every store × policy
/// combination runs too.
fn cases(server: &dyn PopServer) -> Vec<Case> {
    let mut cross = Vec::new();
    for &tls in server.tls_modes() {
        for &auth in server.auth_methods() {
            cross.push((tls, auth));
        }
    }
    (0..cross.len().max(STORES.len()))
        .map(|i| {
            let (tls, auth) = cross[i % cross.len()];
            let (store, policy) = STORES[i % STORES.len()];
            Case {
                tls,
                auth,
                store,
                policy,
            }
        })
        .collect()
}

/// The tricky messages, each with a Message-ID as delivered mail has (popa3d derives its UIDLs
/// from header lines such as Message-ID and Date; without them, identical UIDLs).
fn messages(server: &str) -> Vec<Vec<u8>> {
    tricky_messages()
        .into_iter()
        .enumerate()
        .map(|(i, message)| {
            let mut with_id = format!("Message-ID: <{i}.{server}@interop.test>\n").into_bytes();
            with_id.extend(message);
            with_id
        })
        .collect()
}

fn delivered(popget: &Popget, store: &str) -> Vec<Vec<u8>> {
    let path = popget.path("mail");
    if store == "maildir" {
        maildir_messages(&path)
    } else {
        match std::fs::read(&path) {
            Ok(text) => sorted(parse_mboxrd(&text)),
            Err(_) => Vec::new(),
        }
    }
}

fn run_case(server: &dyn PopServer, user: &str, case: Case, count: usize) {
    let held = server.stored(user);
    assert_eq!(held.len(), count, "the server holds the seeded messages");
    let popget = Popget::new();
    let mailbox = popget.path("mail").display().to_string();
    let mut args: Vec<String> = vec!["fetch".into()];
    args.extend(server.args(case.tls, user));
    args.extend([
        "--auth".into(),
        case.auth.into(),
        format!("--{}", case.store),
        mailbox,
        format!("--{}", case.policy),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    let run = popget.run(&args);
    run.expect_code(0);
    let summary = format!("{user}@127.0.0.1: {count} new messages (");
    assert!(run.stderr().starts_with(&summary), "{}", run.stderr());
    assert_eq!(
        delivered(&popget, case.store),
        held,
        "delivered differs from what the server held"
    );
    if case.policy == "delete" {
        assert!(
            run.stderr().ends_with(&format!(", {count} deleted\n")),
            "{}",
            run.stderr()
        );
        assert!(
            server.stored(user).is_empty(),
            "the server still holds mail after --delete"
        );
    } else {
        assert_eq!(server.stored(user), held, "keep mode changed the server");
    }

    let again = popget.run(&args);
    again.expect_code(0);
    assert_eq!(again.stderr(), "", "the second run fetched something");
    assert_eq!(delivered(&popget, case.store), held);
}

/// Runs every case against `server`, prints one INTEROP line per case, fails if any failed.
fn matrix(server: &dyn PopServer) {
    let name = server.name();
    for tls in TLS_MODES {
        for auth in AUTH_METHODS {
            if !server.tls_modes().contains(&tls) || !server.auth_methods().contains(&auth) {
                println!("INTEROP\t{name}\t{tls}\t{auth}\t-\t-\tnot offered");
            }
        }
    }
    let cases = cases(server);
    let users = server.users();
    assert!(users.len() >= cases.len(), "one user per case");
    let messages = messages(name);
    for user in &users[..cases.len()] {
        for message in &messages {
            server.deliver(user, message);
        }
    }
    let mut failures = Vec::new();
    let indexed: Vec<(usize, Case)> = cases.iter().copied().enumerate().collect();
    for chunk in indexed.chunks(PARALLEL) {
        let results: Vec<(Case, bool)> = std::thread::scope(|scope| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|&(i, case)| {
                    let user = users[i].as_str();
                    let count = messages.len();
                    scope.spawn(move || {
                        let ok =
                            catch_unwind(AssertUnwindSafe(|| run_case(server, user, case, count)))
                                .is_ok();
                        (case, ok)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (case, ok) in results {
            let result = if ok { "pass" } else { "fail" };
            println!(
                "INTEROP\t{name}\t{}\t{}\t{}\t{}\t{result}",
                case.tls, case.auth, case.store, case.policy
            );
            if !ok {
                failures.push(case);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{name}: {} of {} cases failed: {failures:?}\n--- server log ---\n{}",
        failures.len(),
        cases.len(),
        server.log()
    );
}

/// Dovecot as the matrix sees it: one user per case, every mechanism it has turned on.
struct DovecotServer {
    dovecot: Dovecot,
    users: Vec<String>,
}

const DOVECOT_USERS: [&str; 18] = [
    "user1", "user2", "user3", "user4", "user5", "user6", "user7", "user8", "user9", "user10",
    "user11", "user12", "user13", "user14", "user15", "user16", "user17", "user18",
];

impl DovecotServer {
    fn start() -> DovecotServer {
        let dovecot = Dovecot::start_with(Options {
            mechanisms: "plain login apop cram-md5 scram-sha-1 scram-sha-256",
            users: DOVECOT_USERS.iter().map(|u| (*u, "secret")).collect(),
            ..Options::default()
        });
        DovecotServer {
            dovecot,
            users: DOVECOT_USERS.iter().map(|u| u.to_string()).collect(),
        }
    }
}

impl PopServer for DovecotServer {
    fn name(&self) -> &'static str {
        "dovecot"
    }

    fn tls_modes(&self) -> &'static [&'static str] {
        &TLS_MODES
    }

    fn auth_methods(&self) -> &'static [&'static str] {
        &AUTH_METHODS
    }

    fn users(&self) -> Vec<String> {
        self.users.clone()
    }

    fn deliver(&self, user: &str, message: &[u8]) {
        self.dovecot.deliver(user, message);
    }

    fn stored(&self, user: &str) -> Vec<Vec<u8>> {
        self.dovecot.stored(user)
    }

    fn args(&self, tls: &str, user: &str) -> Vec<String> {
        self.dovecot.args(tls, user)
    }

    fn log(&self) -> String {
        self.dovecot.log()
    }
}

#[test]
fn dovecot_matrix() {
    matrix(&DovecotServer::start());
}

#[test]
fn cyrus_matrix() {
    matrix(&Cyrus::start(18));
}

#[test]
fn courier_matrix() {
    matrix(&Courier::start(9));
}

#[test]
fn popa3d_matrix() {
    matrix(&Popa3d::start(4));
}
