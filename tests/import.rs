//! `popget import fetchmail|mpop|getmail`. The peers themselves (the Debian packages fetchmail,
//! mpop and getmail6, installed by scripts/install-deps) fetch part of a mailbox from a private
//! Dovecot with keep-on-server, so that their real seen-mail files exist; more mail arrives;
//! `popget import` and `popget fetch` must then fetch exactly the rest, byte for byte. The
//! corpus under tests/data/import/ holds configurations shaped like real ones, each with the
//! TOML it must become and what must be reported as left out. Then exit statuses, `--dry-run`,
//! name clashes, `--state-only`, errors with file and line, and importing twice changing
//! nothing.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::dovecot::Dovecot;
use crate::harness::fake::{FakeServer, Script};
use crate::harness::{Popget, Run};

/// How long a peer may take for a few messages.
const PEER_LIMIT: Duration = Duration::from_secs(60);

fn message(n: usize) -> Vec<u8> {
    format!(
        "Return-Path: <sender{n}@example.org>\nFrom: Sender {n} <sender{n}@example.org>\n\
         Subject: message {n}\nMessage-ID: <{n}@example.org>\n\nbody of {n}\n.leading dot\n"
    )
    .into_bytes()
}

/// Runs a peer (fetchmail, mpop, getmail) in the sandbox's home with a deadline; panics with
/// its output unless it exits 0.
fn run_peer(popget: &Popget, program: &str, args: &[&str]) {
    let out = popget.path(&format!("{program}.out"));
    let mut child = Command::new(program)
        .args(args)
        .current_dir(popget.home())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", popget.home())
        .env("USER", "alice")
        .env("XDG_CONFIG_HOME", popget.path(".config"))
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out).unwrap())
        .stderr(fs::File::create(&out).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} runs (scripts/install-deps installs it): {e}"));
    let deadline = Instant::now() + PEER_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{program} did not finish within {PEER_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        status.success(),
        "{program} {args:?}: {status}\n{}",
        fs::read_to_string(&out).unwrap_or_default()
    );
}

fn private_file(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

fn new_maildir(path: &Path) {
    for sub in ["new", "cur", "tmp"] {
        fs::create_dir_all(path.join(sub)).unwrap();
    }
}

/// An MDA that puts the message into the Maildir it is given, as fetchmail and getmail need
/// (and popget then runs the same command).
fn maildir_mda(popget: &Popget) -> PathBuf {
    let path = popget.path("deliver");
    fs::write(
        &path,
        "#!/bin/sh\nset -e\nt=$(mktemp \"$1/tmp/mda.XXXXXXXX\")\ncat > \"$t\"\nmv \"$t\" \"$1/new/\"\n",
    )
    .unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn names_in(maildir: &Path) -> BTreeSet<PathBuf> {
    fs::read_dir(maildir.join("new"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

/// The messages that arrived in `maildir` since `before`, sorted.
fn arrived_since(maildir: &Path, before: &BTreeSet<PathBuf>) -> Vec<Vec<u8>> {
    let mut messages: Vec<Vec<u8>> = names_in(maildir)
        .difference(before)
        .map(|path| fs::read(path).unwrap())
        .collect();
    messages.sort();
    messages
}

/// The configuration file and every state file, to see that a run changed nothing.
fn snapshot(popget: &Popget) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let config = popget.path(".config/popget/config.toml");
    files.push((config.clone(), fs::read(&config).unwrap_or_default()));
    if let Ok(entries) = fs::read_dir(popget.state_dir()) {
        for entry in entries {
            let path = entry.unwrap().path();
            files.push((path.clone(), fs::read(&path).unwrap()));
        }
    }
    files.sort();
    files
}

fn import(popget: &Popget, args: &[&str]) -> Run {
    popget.run_with(popget.command().arg("import").args(args))
}

/// The peer fetched messages 1..=4 and kept them; 5..=7 arrive; after the import popget
/// fetches exactly 5..=7 into the peer's Maildir. A second import changes nothing.
fn fetches_the_rest(popget: &Popget, dovecot: &Dovecot, maildir: &Path, import_args: &[&str]) {
    let before = names_in(maildir);
    assert_eq!(before.len(), 4, "the peer fetched the first four");
    for n in 5..=7 {
        dovecot.deliver("alice", &message(n));
    }
    let run = import(popget, import_args);
    run.expect_code(0);
    assert!(
        run.stdout().contains("4 fetched message(s)") && run.stdout().contains("4 new recorded"),
        "{}",
        run.stdout()
    );
    let fetch = popget.run_with(popget.command().arg("fetch"));
    fetch.expect_code(0);
    let expected: Vec<Vec<u8>> = (5..=7).map(message).collect();
    assert_eq!(
        arrived_since(maildir, &before),
        expected,
        "{}",
        fetch.stderr()
    );

    let after = snapshot(popget);
    import(popget, import_args).expect_code(0);
    assert_eq!(snapshot(popget), after, "a second import changed something");
    let again = popget.run_with(popget.command().arg("fetch"));
    again.expect_code(0);
    assert_eq!(names_in(maildir).len(), 7, "{}", again.stderr());
}

/// A Dovecot with messages 1 to 4 for alice, a sandbox, and an empty Maildir in it.
fn four_messages_waiting() -> (Dovecot, Popget, PathBuf) {
    let dovecot = Dovecot::start();
    let popget = Popget::new();
    for n in 1..=4 {
        dovecot.deliver("alice", &message(n));
    }
    let maildir = popget.path("Mail");
    new_maildir(&maildir);
    (dovecot, popget, maildir)
}

#[test]
fn fetchmail_kept_half_popget_fetches_the_rest() {
    let (dovecot, popget, maildir) = four_messages_waiting();
    let mda = maildir_mda(&popget);
    private_file(
        &popget.path(".fetchmailrc"),
        &format!(
            "set no syslog\nset invisible\n\
             poll dovecot via 127.0.0.1 with proto POP3 service {} auth password timeout 30\n  \
             user \"alice\" there with password \"secret\" is alice here\n  \
             options keep no rewrite sslproto '' mda \"{} {}\"\n",
            dovecot.pop3_port,
            mda.display(),
            maildir.display()
        ),
    );
    run_peer(&popget, "fetchmail", &["--nodetach", "-s"]);
    assert!(popget.path(".fetchids").exists(), "fetchmail's id file");
    // The password is in clear text in the rc file: --plaintext puts it in a private file.
    fetches_the_rest(&popget, &dovecot, &maildir, &["fetchmail", "--plaintext"]);
    let password = popget.path(".config/popget/passwords/dovecot");
    assert_eq!(fs::read_to_string(&password).unwrap(), "secret\n");
    assert_eq!(
        fs::metadata(&password).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let config = fs::read_to_string(popget.path(".config/popget/config.toml")).unwrap();
    assert!(!config.contains("secret\""), "{config}");
}

#[test]
fn mpop_kept_half_popget_fetches_the_rest() {
    let (dovecot, popget, maildir) = four_messages_waiting();
    private_file(
        &popget.path(".mpoprc"),
        &format!(
            "# mpop, as its manual suggests\ndefaults\ntls off\nreceived_header off\n\n\
             account dovecot\nhost 127.0.0.1\nport {}\nuser alice\nauth user\n\
             passwordeval \"printf '%s\\n' secret\"\nkeep on\ndelivery maildir {}\n",
            dovecot.pop3_port,
            maildir.display()
        ),
    );
    run_peer(&popget, "mpop", &["-q", "dovecot"]);
    assert!(popget.path(".mpop_uidls/alice_at_127.0.0.1").exists());
    fetches_the_rest(&popget, &dovecot, &maildir, &["mpop"]);
    let config = fs::read_to_string(popget.path(".config/popget/config.toml")).unwrap();
    let config: toml::Table = config.parse().unwrap();
    assert_eq!(
        config["accounts"]["dovecot"]["password_command"].as_str(),
        Some(r"printf '%s\n' secret"),
        "mpop's passwordeval, its outer quotes taken off as mpop does"
    );
}

#[test]
fn getmail_kept_half_popget_fetches_the_rest() {
    let (dovecot, popget, maildir) = four_messages_waiting();
    let mda = maildir_mda(&popget);
    private_file(
        &popget.path(".getmail/getmailrc"),
        &getmailrc(
            dovecot.pop3_port,
            &mda,
            &maildir,
            "password_command = (\"/bin/sh\", \"-c\",\n    \"echo 'secret'\")\n",
            "",
        ),
    );
    run_getmail(&popget, &popget.path(".getmail/getmailrc"));
    fetches_the_rest(&popget, &dovecot, &maildir, &["getmail"]);
}

/// getmail with `rc`, its getmail directory (where its oldmail files go) the one `rc` is in.
fn run_getmail(popget: &Popget, rc: &Path) {
    let getmaildir = rc.parent().unwrap().to_str().unwrap();
    let name = rc.file_name().unwrap().to_str().unwrap();
    run_peer(
        popget,
        "getmail",
        &["--getmaildir", getmaildir, "--rcfile", name, "--quiet"],
    );
}

/// A getmail rc file for a plain POP3 account delivering through `mda` into `maildir`.
fn getmailrc(port: u16, mda: &Path, maildir: &Path, password: &str, options: &str) -> String {
    format!(
        "[retriever]\ntype = SimplePOP3Retriever\nserver = 127.0.0.1\nport = {port}\n\
         username = alice\n{password}\n[destination]\ntype = MDA_external\npath = {}\n\
         arguments = (\"{}\", )\nallow_root_commands = true\n\n[options]\nread_all = false\n\
         delete = false\ndelivered_to = false\nreceived = false\n{options}",
        mda.display(),
        maildir.display()
    )
}

/// getmail stores a `/` in a UIDL as `-`: the import asks the server which it was. The fake
/// server's UIDLs have slashes; getmail fetches two of four, popget the other two.
#[test]
fn getmails_dashes_are_matched_against_the_servers_uidls() {
    let messages: Vec<(String, Vec<u8>)> = ["box/1", "box/2", "box-3", "box/4"]
        .iter()
        .enumerate()
        .map(|(i, uid)| (uid.to_string(), message(i + 1)))
        .collect();
    let server = FakeServer::start(Script {
        messages,
        ..Script::default()
    });
    let popget = Popget::new();
    let maildir = popget.path("Mail");
    new_maildir(&maildir);
    let mda = maildir_mda(&popget);
    let rc = popget.path("getmail/slashes");
    private_file(
        &rc,
        &getmailrc(
            server.port,
            &mda,
            &maildir,
            "password = secret\n",
            "max_messages_per_session = 2\n",
        ),
    );
    run_getmail(&popget, &rc);
    let getmaildir = popget.path("getmail");
    let oldmail =
        fs::read(getmaildir.join(format!("oldmail-127.0.0.1-{}-alice", server.port))).unwrap();
    assert!(
        String::from_utf8_lossy(&oldmail).contains("box-1\0"),
        "{oldmail:?}"
    );
    let before = names_in(&maildir);
    assert_eq!(before.len(), 2);
    // The password is in clear text; the keyring is not reachable here, so that is left out
    // (exit 1) and the server is asked with POPGET_PASSWORD.
    let run = popget.run(&["import", "getmail", rc.to_str().unwrap()]);
    run.expect_code(1);
    assert!(
        run.stdout().contains("the password was not saved"),
        "{}",
        run.stdout()
    );
    assert!(!run.stdout().contains("a / in a UIDL"), "{}", run.stdout());
    let state = fs::read_to_string(
        popget
            .state_dir()
            .join(format!("alice@127.0.0.1_{}.state", server.port)),
    )
    .unwrap();
    assert!(
        state.contains(" box/1\n") && state.contains(" box/2\n"),
        "{state}"
    );
    let fetch = popget.run(&["fetch"]);
    fetch.expect_code(0);
    assert_eq!(
        arrived_since(&maildir, &before),
        vec![message(3), message(4)],
        "{}",
        fetch.stderr()
    );
}

/// The corpus: each configuration under tests/data/import/TOOL/ becomes the TOML of its
/// `.toml` file, and what is left out is its `.left-out` file (`LINE: what`, one a line; the
/// exit status is 1 when there is any). `POPGET_REGENERATE=1` rewrites both.
#[test]
fn the_corpus_becomes_the_expected_toml() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let regenerate = std::env::var_os("POPGET_REGENERATE").is_some_and(|v| v == "1");
    let mut checked = 0;
    for tool in ["fetchmail", "mpop", "getmail"] {
        let dir = root.join("tests/data/import").join(tool);
        let mut sources: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                !["toml", "left-out"].contains(&p.extension().unwrap_or_default().to_str().unwrap())
            })
            .collect();
        sources.sort();
        for source in sources {
            let popget = Popget::new();
            let run = popget.run_with(
                popget
                    .command()
                    .env("USER", "me")
                    .args(["import", tool, "--dry-run"])
                    .arg(&source),
            );
            let prefix = format!("{}/", root.display());
            let toml = run.stdout().replace(&prefix, "");
            let left_out = left_out_lines(&run.stderr(), &source);
            let expected_code = if left_out.is_empty() { 0 } else { 1 };
            run.expect_code(expected_code);
            let toml_file = source.with_extension("toml");
            let left_out_file = source.with_extension("left-out");
            if regenerate {
                fs::write(&toml_file, &toml).unwrap();
                fs::write(&left_out_file, &left_out).unwrap();
            } else {
                let expected = fs::read_to_string(&toml_file).unwrap();
                assert_eq!(toml, expected, "{}\n{}", source.display(), run.stderr());
                let expected = fs::read_to_string(&left_out_file).unwrap();
                assert_eq!(left_out, expected, "{}", source.display());
            }
            // What the dry run prints is what popget reads.
            let config = popget.path("imported.toml");
            fs::write(&config, run.stdout()).unwrap();
            let check = popget.run_with(popget.command().args([
                "--config",
                config.to_str().unwrap(),
                "config",
                "check",
            ]));
            let complete = !toml.contains("Not carried over: where mail goes");
            if complete && !toml.is_empty() {
                check.expect_code(0);
            }
            checked += 1;
        }
    }
    assert!(checked >= 8, "the corpus was found: {checked} files");
}

/// The left-out lines of a run's summary, `LINE: what`, for `source`.
fn left_out_lines(stderr: &str, source: &Path) -> String {
    let prefix = format!("  {}:", source.display());
    stderr
        .lines()
        .skip_while(|line| !line.starts_with("left out"))
        .filter_map(|line| line.strip_prefix(&prefix))
        .map(|line| format!("{line}\n"))
        .collect()
}

#[test]
fn a_dry_run_prints_the_toml_and_no_secret_and_writes_nothing() {
    let popget = Popget::new();
    let rc = popget.path("mpoprc");
    private_file(
        &rc,
        "account home\nhost pop.home.example\nuser me\npassword Sup3r-S3cret\ntls on\n\
         delivery maildir ~/Mail\nkeep on\n\naccount work\nhost pop.work.example\nuser w\n\
         passwordeval \"pass show work\"\ntls on\ndelivery mbox ~/work.mbox\n",
    );
    let run = import(&popget, &["mpop", rc.to_str().unwrap(), "--dry-run"]);
    run.expect_code(0);
    let toml: toml::Table = run.stdout().parse().unwrap();
    assert_eq!(
        toml["accounts"]["work"]["password_command"].as_str(),
        Some("pass show work")
    );
    assert!(toml["accounts"]["home"].get("password").is_none());
    for output in [run.stdout(), run.stderr()] {
        assert!(!output.contains("Sup3r-S3cret"), "{output}");
    }
    assert!(run.stderr().contains("would import"), "{}", run.stderr());
    assert!(!popget.path(".config/popget").exists());
    assert!(!popget.state_dir().exists());

    // Something that would be left out: 1, still nothing written.
    fs::write(
        &rc,
        "account x\nhost h\nuser u\nsocket /run/pop\ndelivery mbox ~/m\n",
    )
    .unwrap();
    let run = import(&popget, &["mpop", rc.to_str().unwrap(), "--dry-run"]);
    run.expect_code(1);
    assert!(
        run.stderr()
            .contains("socket: popget connects over TCP only"),
        "{}",
        run.stderr()
    );
    assert!(!popget.path(".config/popget").exists());
}

#[test]
fn a_taken_name_gets_a_suffix_and_existing_accounts_stay_as_they_are() {
    let popget = Popget::new();
    let config = popget.path(".config/popget/config.toml");
    let mine =
        "# my own\n[defaults]\ntimeout = 30\n\n[accounts.work]\nhost = \"pop.other.example\"\n\
                user = \"someone\"\nmaildir = \"~/Mail/other\"  # keep this comment\n";
    private_file(&config, mine);
    let rc = popget.path("mpoprc");
    private_file(
        &rc,
        "account work\nhost pop.work.example\nuser w\ntls on\ndelivery maildir ~/Mail/work\n",
    );
    let run = import(&popget, &["mpop", rc.to_str().unwrap()]);
    run.expect_code(0);
    assert!(
        run.stdout()
            .contains("added as \"work-2\" (its own name is taken)"),
        "{}",
        run.stdout()
    );
    let after = fs::read_to_string(&config).unwrap();
    assert!(after.starts_with(mine), "{after}");
    assert!(
        after.contains("[accounts.work-2]\nhost = \"pop.work.example\""),
        "{after}"
    );
    let accounts = popget.run(&["accounts"]);
    accounts.expect_code(0);
    assert!(
        accounts.stdout().contains("work-2"),
        "{}",
        accounts.stdout()
    );

    let run = import(&popget, &["mpop", rc.to_str().unwrap()]);
    run.expect_code(0);
    assert!(
        run.stdout().contains("already configured as \"work-2\""),
        "{}",
        run.stdout()
    );
    assert_eq!(fs::read_to_string(&config).unwrap(), after);
}

#[test]
fn state_only_merges_into_the_configured_accounts_state() {
    let popget = Popget::new();
    private_file(
        &popget.path(".config/popget/config.toml"),
        "[accounts.mine]\nhost = \"127.0.0.1\"\nport = 110\nuser = \"alice\"\ntls = \"none\"\n\
         maildir = \"~/Mail\"\n",
    );
    let state = popget.state_dir().join("alice@127.0.0.1_110.state");
    fs::create_dir_all(popget.state_dir()).unwrap();
    fs::write(&state, "popget-state 1\n1600000000 old-one\nend 1\n").unwrap();
    let rc = popget.path("mpoprc");
    private_file(
        &rc,
        &format!(
            "defaults\nkeep on\nuidls_file {}\naccount a\nhost 127.0.0.1\nuser alice\n\
             delivery maildir ~/Mail\naccount b\nhost pop.elsewhere.example\nuser bob\n\
             delivery maildir ~/Mail\n",
            popget.path("uidls").display()
        ),
    );
    fs::write(
        popget.path("uidls"),
        concat!(
            "# This file was generated by mpop version 1.4.18.\n",
            " 2 127.0.0.1 alice\nu1\nold-one\n",
            " 1 pop.elsewhere.example bob\nb1\n",
        ),
    )
    .unwrap();
    let config_before = fs::read(popget.path(".config/popget/config.toml")).unwrap();
    let run = import(&popget, &["mpop", rc.to_str().unwrap(), "--state-only"]);
    // b is not configured: left out, exit 1.
    run.expect_code(1);
    assert!(
        run.stdout()
            .contains("no account of popget has bob@pop.elsewhere.example:110"),
        "{}",
        run.stdout()
    );
    assert!(
        run.stdout()
            .contains("already configured as \"mine\"; 2 fetched message(s)")
            && run.stdout().contains("1 new recorded"),
        "{}",
        run.stdout()
    );
    let merged = fs::read_to_string(&state).unwrap();
    assert!(
        merged.contains("1600000000 old-one\n"),
        "kept, never replaced: {merged}"
    );
    assert!(
        merged.contains(" u1\n") && merged.ends_with("end 2\n"),
        "{merged}"
    );
    assert_eq!(
        fs::read(popget.path(".config/popget/config.toml")).unwrap(),
        config_before
    );
}

#[test]
fn bad_input_is_an_error_naming_the_file_and_line() {
    let popget = Popget::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let missing = popget.path("no-such-rc");
    let run = import(&popget, &["fetchmail", missing.to_str().unwrap()]);
    run.expect_code(74);
    assert!(run.stderr().contains("no-such-rc"), "{}", run.stderr());

    let unknown = root.join("tests/data/import/errors/unknown-keyword.fetchmailrc");
    let run = import(&popget, &["fetchmail", unknown.to_str().unwrap()]);
    run.expect_code(78);
    assert!(
        run.stderr().contains(&format!(
            "{}:3: unknown keyword \"kepe\"",
            unknown.display()
        )),
        "{}",
        run.stderr()
    );

    let cases = [
        ("mpop", "account a\nhost h\n\ntls maybe\n", 4, "expected on or off"),
        ("mpop", "account a\nhost h\nhots x\n", 3, "unknown command \"hots\""),
        ("getmail", "[retriever]\ntype = SimplePOP3Retriever\nserver pop\n", 3, "not \"key = value\""),
        ("getmail", "[retriever]\ntype = SimplePOP3Retriever\nserver = s\nusername = u\nprot = 1\n[destination]\ntype = Maildir\npath = ~/M/\n", 5, "prot"),
        ("fetchmail", "poll a user \"b\n", 1, "not closed"),
        ("fetchmail", "poll a proto pop3 user b\npoll a proto pop3 user c\n", 2, "a second entry named a"),
    ];
    for (tool, text, line, message) in cases {
        let file = popget.path(&format!("bad-{tool}"));
        fs::write(&file, text).unwrap();
        let run = import(&popget, &[tool, file.to_str().unwrap()]);
        run.expect_code(78);
        let expected = format!("{}:{line}: ", file.display());
        assert!(
            run.stderr().contains(&expected) && run.stderr().contains(message),
            "{tool} {text:?}: {}",
            run.stderr()
        );
    }

    // A seen-mail file of the wrong format: an error before anything is written.
    fs::write(popget.path(".fetchids"), "alice@pop.example 1\ngarbage\n").unwrap();
    let rc = popget.path("fetchmailrc");
    fs::write(
        &rc,
        "poll pop.example proto pop3 user alice mda \"cat\" keep ssl\n",
    )
    .unwrap();
    let run = import(&popget, &["fetchmail", rc.to_str().unwrap()]);
    run.expect_code(78);
    assert!(
        run.stderr().contains(&format!(
            "{}:2: not a fetchmail id line",
            popget.path(".fetchids").display()
        )),
        "{}",
        run.stderr()
    );
    assert!(!popget.path(".config/popget/config.toml").exists());
}

/// Importing the same sources twice: the second run changes no byte of the configuration,
/// the states or the password files, whatever the accounts, names, clashes and seen mail.
mod twice {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    struct Source {
        name: &'static str,
        host: &'static str,
        user: &'static str,
        tls: bool,
        keep: bool,
        password: u8,
        uids: Vec<u16>,
    }

    fn source() -> impl Strategy<Value = Source> {
        (
            prop::sample::select(vec!["a", "b", "work", "default"]),
            prop::sample::select(vec!["pop.one.example", "pop.two.example"]),
            prop::sample::select(vec!["me", "you"]),
            any::<bool>(),
            any::<bool>(),
            0u8..3,
            prop::collection::vec(0u16..50, 0..6),
        )
            .prop_map(|(name, host, user, tls, keep, password, uids)| Source {
                name,
                host,
                user,
                tls,
                keep,
                password,
                uids,
            })
    }

    fn mpoprc(sources: &[Source], uidls: &Path) -> (String, String) {
        let mut rc = format!("defaults\nuidls_file {}\n", uidls.display());
        let mut lists = String::from("# mpop\n");
        let mut names = Vec::new();
        for (i, s) in sources.iter().enumerate() {
            // mpop refuses a name twice: later ones get a number.
            let name = if names.contains(&s.name) {
                format!("{}{i}", s.name)
            } else {
                s.name.to_string()
            };
            names.push(s.name);
            rc.push_str(&format!(
                "account {name}\nhost {}\nuser {}\ntls {}\nkeep {}\ndelivery maildir ~/Mail\n",
                s.host,
                s.user,
                if s.tls { "on" } else { "off" },
                if s.keep { "on" } else { "off" }
            ));
            match s.password {
                1 => rc.push_str(&format!("password pw-{i}\n")),
                2 => rc.push_str("passwordeval \"echo pw\"\n"),
                _ => {}
            }
            let uids: BTreeSet<u16> = s.uids.iter().copied().collect();
            lists.push_str(&format!(" {} {} {}\n", uids.len(), s.host, s.user));
            for uid in uids {
                lists.push_str(&format!("{}-{uid}\n", s.host));
            }
        }
        (rc, lists)
    }

    fn everything(popget: &Popget) -> Vec<(PathBuf, Vec<u8>)> {
        let mut files = snapshot(popget);
        if let Ok(entries) = fs::read_dir(popget.path(".config/popget/passwords")) {
            for entry in entries {
                let path = entry.unwrap().path();
                files.push((path.clone(), fs::read(&path).unwrap()));
            }
        }
        files.sort();
        files
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn importing_twice_changes_nothing_the_second_time(
            sources in prop::collection::vec(source(), 1..5),
            existing in any::<bool>(),
            plaintext in any::<bool>(),
        ) {
            let popget = Popget::new();
            if existing {
                private_file(
                    &popget.path(".config/popget/config.toml"),
                    "[accounts.a]\nhost = \"pop.one.example\"\nuser = \"me\"\ntls = \"none\"\n\
                     port = 110\nmaildir = \"~/Old\"\n",
                );
            }
            let (rc, lists) = mpoprc(&sources, &popget.path("uidls"));
            private_file(&popget.path("mpoprc"), &rc);
            fs::write(popget.path("uidls"), lists).unwrap();
            let mut args = vec!["mpop", "mpoprc"];
            if plaintext {
                args.push("--plaintext");
            }
            let first = import(&popget, &args);
            prop_assert!([0, 1].contains(&first.code()), "{}", first.stderr());
            let after_first = everything(&popget);
            let second = import(&popget, &args);
            prop_assert!([0, 1].contains(&second.code()), "{}", second.stderr());
            prop_assert_eq!(everything(&popget), after_first, "{}", second.stdout());
            prop_assert!(!second.stdout().contains("added as"), "{}", second.stdout());
        }
    }
}
