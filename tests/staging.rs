//! A staging file that cannot be created: the mailbox fails before it reads
//! the RETR answer. The session must stay in step (the answer is drained) or be abandoned;
//! nothing panics, nothing partial is delivered, the mail stays on the server, and a rerun
//! with a working TMPDIR delivers everything exactly once.

use crate::harness::fake::{numbered_messages, FakeServer, Script};
use crate::harness::{parse_mboxrd, sorted, Popget, Run};

const MESSAGES: usize = 5;

fn bodies() -> Vec<Vec<u8>> {
    sorted(
        numbered_messages(MESSAGES)
            .into_iter()
            .map(|(_, body)| body)
            .collect(),
    )
}

/// `popget fetch --delete` into `destination`, with TMPDIR set to `tmpdir`.
fn fetch(popget: &Popget, server: &FakeServer, destination: &[&str], tmpdir: &str) -> Run {
    let state = popget.path("account.state").display().to_string();
    let mut command = popget.command();
    command
        .env("POPGET_PASSWORD", "secret")
        .env("TMPDIR", tmpdir)
        .arg("fetch")
        .args(server.args())
        .args(["--auth", "user", "--state", &state, "--delete"])
        .args(destination);
    popget.run_with(&mut command)
}

fn check_failed_run(run: &Run, server: &FakeServer) {
    assert_ne!(run.code(), 101, "{}", run.stderr());
    assert!(!run.stderr().contains("panicked"), "{}", run.stderr());
    assert!(
        [73, 74].contains(&run.code()),
        "exit {}: {}",
        run.code(),
        run.stderr()
    );
    assert!(
        !server.commands().iter().any(|c| c.starts_with("DELE")),
        "{:?}",
        server.commands()
    );
    assert_eq!(
        server.remaining().len(),
        MESSAGES,
        "the mail stays on the server"
    );
}

fn server(pipelining: bool) -> FakeServer {
    let mut capa = vec!["USER".to_string(), "UIDL".to_string()];
    if pipelining {
        capa.push("PIPELINING".into());
    }
    FakeServer::start(Script {
        capa: Some(capa),
        messages: numbered_messages(MESSAGES),
        ..Script::default()
    })
}

#[test]
fn an_mbox_spool_that_cannot_be_created_loses_nothing() {
    for pipelining in [true, false] {
        let popget = Popget::new();
        let mbox = popget.path("mbox").display().to_string();
        let server = server(pipelining);
        let run = fetch(&popget, &server, &["--mbox", &mbox], "/nonexistent");
        check_failed_run(&run, &server);
        let partial = std::fs::read(&mbox).unwrap_or_default();
        assert!(partial.is_empty(), "{}", String::from_utf8_lossy(&partial));

        let tmp = popget.path("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        fetch(&popget, &server, &["--mbox", &mbox], tmp.to_str().unwrap()).expect_code(0);
        let delivered = sorted(parse_mboxrd(&std::fs::read(&mbox).unwrap()));
        assert_eq!(delivered, bodies(), "pipelining {pipelining}");
        assert!(server.remaining().is_empty());
    }
}

#[test]
fn an_mda_spool_that_cannot_be_created_loses_nothing() {
    for pipelining in [true, false] {
        let popget = Popget::new();
        let out = popget.path("out");
        std::fs::create_dir_all(&out).unwrap();
        // One file per message, named by a counter.
        let mda = format!("n=$(ls {dir} | wc -l); cat > {dir}/$n", dir = out.display());
        let server = server(pipelining);
        let run = fetch(&popget, &server, &["--mda", &mda], "/nonexistent");
        check_failed_run(&run, &server);
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);

        let tmp = popget.path("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        fetch(&popget, &server, &["--mda", &mda], tmp.to_str().unwrap()).expect_code(0);
        let delivered = sorted(
            std::fs::read_dir(&out)
                .unwrap()
                .map(|e| std::fs::read(e.unwrap().path()).unwrap())
                .collect(),
        );
        assert_eq!(delivered, bodies(), "pipelining {pipelining}");
        assert!(server.remaining().is_empty());
    }
}
