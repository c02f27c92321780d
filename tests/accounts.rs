//! The configuration file as the user sees it: account inheritance and templates in `fetch`,
//! `popget accounts`, and `popget config check`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use crate::harness::fake::{numbered_messages, FakeServer, Script};
use crate::harness::{maildir_messages, Popget};

const PASSWORD: &str = "hunter2-do-not-print";
const PASSWORD_COMMAND: &str = "echo also-never-printed";

/// Writes `text` as the default configuration file with `mode`; returns its path.
fn write_config(popget: &Popget, text: &str, mode: u32) -> PathBuf {
    let path = popget.path(".config/popget/config.toml");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, text).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    path
}

fn listed_config() -> String {
    format!(
        r#"[defaults]
timeout = 30

[accounts.provider]
template = true
host = "pop.provider.example"
password = "{PASSWORD}"
delete = true

[accounts.alice]
inherit = "provider"
user = "alice"
maildir = "~/Mail/alice"

[accounts.bob]
inherit = "provider"
user = "bob@provider.example"
tls = "starttls"
auth = "scram-sha-256"
password_command = "{PASSWORD_COMMAND}"
keep = true

[accounts.local]
host = "::1"
port = 1110
user = "me"
tls = "none"
mbox = "/var/mail/me"
"#
    )
}

#[test]
fn accounts_lists_every_account_as_resolved_and_no_secret() {
    let popget = Popget::new();
    write_config(&popget, &listed_config(), 0o600);
    // Without POPGET_PASSWORD, which would be every account's source.
    let run = popget.run_with(popget.command().arg("accounts"));
    run.expect_code(0);
    assert_eq!(
        run.stdout(),
        "alice  alice@pop.provider.example:995                 implicit  auto           \
         maildir ~/Mail/alice  delete  config file\n\
         bob    bob@provider.example@pop.provider.example:110  starttls  scram-sha-256  \
         -                     keep    password_command\n\
         local  me@[::1]:1110                                  none      auto           \
         mbox /var/mail/me     keep    none\n"
    );
    assert_eq!(run.stderr(), "");

    let run = popget.run(&["accounts", "--json"]);
    run.expect_code(0);
    let listed: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    let listed = listed.as_array().expect("an array");
    let names: Vec<&str> = listed.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["alice", "bob", "local"], "file order, no template");
    let alice = &listed[0];
    assert_eq!(alice["host"], "pop.provider.example", "inherited");
    assert_eq!(alice["user"], "alice");
    assert_eq!(alice["port"], 995);
    assert_eq!(alice["tls"], "implicit");
    assert_eq!(alice["auth"], "auto");
    assert_eq!(alice["store"], "maildir");
    assert_eq!(
        alice["destination"],
        popget.path("Mail/alice").to_str().unwrap()
    );
    assert_eq!(alice["policy"], "delete", "inherited");
    assert_eq!(
        alice["secret"], "POPGET_PASSWORD",
        "the environment comes first"
    );
    let bob = &listed[1];
    assert_eq!(
        (&bob["port"], &bob["tls"]),
        (&110.into(), &"starttls".into())
    );
    assert!(bob["store"].is_null() && bob["destination"].is_null());
    assert_eq!(
        bob["policy"], "keep",
        "its own keep over the inherited delete"
    );

    for run in [
        popget.run(&["accounts"]),
        popget.run(&["accounts", "--json"]),
    ] {
        let output = format!("{}{}", run.stdout(), run.stderr());
        assert!(!output.contains(PASSWORD), "{output}");
        assert!(!output.contains("never-printed"), "{output}");
        // The only mention of a password is where it comes from.
        let output = output.replace("password_command", "");
        assert!(!output.contains("password"), "{output}");
    }
}

#[test]
fn accounts_without_a_configuration_file_says_where_it_is_looked_for() {
    let popget = Popget::new();
    for args in [&["accounts"][..], &["config", "check"]] {
        let run = popget.run(args);
        run.expect_code(78);
        assert!(
            run.stderr().contains("no configuration file")
                && run
                    .stderr()
                    .contains(popget.path(".config/popget/config.toml").to_str().unwrap()),
            "{}",
            run.stderr()
        );
        assert_eq!(run.stdout(), "");
    }
    let run = popget.run(&["--config", "/nonexistent/popget.toml", "config", "check"]);
    run.expect_code(78);
    assert!(run.stderr().contains("/nonexistent/popget.toml"));
}

#[test]
fn accounts_reports_an_account_that_does_not_resolve_and_lists_the_others() {
    let popget = Popget::new();
    write_config(
        &popget,
        "[accounts.good]\nhost = \"h\"\nuser = \"u\"\n\n[accounts.nohost]\nuser = \"u\"\n",
        0o644,
    );
    let run = popget.run(&["accounts"]);
    run.expect_code(78);
    assert!(
        run.stdout().starts_with("good  u@h:995"),
        "{}",
        run.stdout()
    );
    assert!(
        run.stderr().contains("popget: nohost: no host given")
            && run.stderr().contains("config check"),
        "{}",
        run.stderr()
    );
}

#[test]
fn config_check_accepts_a_good_file() {
    let popget = Popget::new();
    let path = write_config(&popget, &listed_config(), 0o600);
    // bob has no destination of its own: fetch needs one, so the check wants one too.
    let text = listed_config().replace("keep = true\n", "keep = true\nmbox = \"~/bob\"\n");
    fs::write(&path, text).unwrap();
    let run = popget.run(&["config", "check"]);
    run.expect_code(0);
    assert_eq!(run.stdout(), "ok: 3 accounts, 1 template\n");
    assert_eq!(run.stderr(), "");
    let run = popget.run(&["-q", "config", "check"]);
    run.expect_code(0);
    assert_eq!(run.stdout(), "");
    // --config names another file.
    let other = popget.path("other.toml");
    fs::write(
        &other,
        "[accounts.x]\nhost = \"h\"\nuser = \"u\"\nmaildir = \"m\"\n",
    )
    .unwrap();
    let run = popget.run(&["config", "check", "--config", other.to_str().unwrap()]);
    run.expect_code(0);
    assert_eq!(run.stdout(), "ok: 1 account\n");
}

#[test]
fn config_check_reports_every_problem_with_its_line() {
    let popget = Popget::new();
    let text = r#"[defaults]
timout = 30
inherit = "alice"

[accounts.provider]
template = true
host = "pop.provider.example"
port = "995"

[accounts.alice]
inherit = "provider"
user = "alice"
maildir = "~/Mail/alice"
pasword = "typo"

[accounts.loop1]
inherit = "loop2"

[accounts.loop2]
inherit = "loop1"

[accounts.orphan]
inherit = "nobody"

[accounts.nohost]
user = "me"
mbox = "~/mbox"
password = "s3cret"

[accounts.pinned]
host = "h"
user = "u"
mbox = "~/mbox"
fingerprint = "SHA256:00"

[accounts.both]
host = "h"
user = "u"
mbox = "~/mbox"
maildir = "~/Maildir"
timeout = 0
"#;
    let path = write_config(&popget, text, 0o644);
    let run = popget.run(&["config", "check"]);
    run.expect_code(78);
    assert_eq!(run.stdout(), "");
    let file = path.display().to_string();
    let expected: &[(usize, &str)] = &[
        (2, "unknown key \"timout\" (did you mean \"timeout\"?)"),
        (3, "inherit and template belong in [accounts.NAME] tables"),
        (8, "port: invalid type: string \"995\""),
        (14, "unknown key \"pasword\" (did you mean \"password\"?)"),
        (17, "cycle: loop1 -> loop2 -> loop1"),
        (20, "cycle: loop2 -> loop1 -> loop2"),
        (
            23,
            "account \"orphan\" inherits \"nobody\", which is not an account",
        ),
        (25, "no host given for account \"nohost\""),
        (28, "holds a password but is readable by others"),
        (34, "account \"pinned\": the fingerprint \"SHA256:00\""),
        (
            39,
            "account \"both\" sets more than one of maildir, mbox and mda",
        ),
        (
            41,
            "account \"both\": the timeout must be at least 1 second",
        ),
    ];
    let stderr = run.stderr();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), expected.len() + 1, "{stderr}");
    for (line, (number, message)) in lines.iter().zip(expected) {
        let prefix = format!("{file}:{number}: ");
        assert!(
            line.starts_with(&prefix) && line.contains(message),
            "expected {prefix}...{message}..., got {line}\n{stderr}"
        );
    }
    assert_eq!(
        lines[expected.len()],
        format!("popget: {} problems in {file}", expected.len())
    );
    assert!(!stderr.contains("s3cret"), "{stderr}");
}

#[test]
fn config_check_reports_a_syntax_error_at_its_line() {
    let popget = Popget::new();
    let path = write_config(
        &popget,
        "[accounts.a]\nhost = \"h\"\nuser = \"u\n\n[accounts.b]\n",
        0o644,
    );
    let run = popget.run(&["config", "check"]);
    run.expect_code(78);
    let first = run.stderr().lines().next().unwrap().to_string();
    assert!(
        first.starts_with(&format!("{}:3: ", path.display())),
        "{}",
        run.stderr()
    );
}

#[test]
fn fetch_uses_inherited_settings_and_skips_templates() {
    let server = FakeServer::start(Script {
        messages: numbered_messages(3),
        ..Script::default()
    });
    let popget = Popget::new();
    write_config(
        &popget,
        &format!(
            r#"[defaults]
timeout = 20
maildir = "~/wrong"

[accounts.provider]
template = true
host = "127.0.0.1"
port = {port}
tls = "none"
auth = "user"
delete = true

[accounts.alice]
inherit = "provider"
user = "alice"
maildir = "~/Mail/alice"
"#,
            port = server.port
        ),
        0o600,
    );
    // A template is only inherited: naming it is an error, and nothing is sent.
    let run = popget.run(&["fetch", "provider"]);
    run.expect_code(78);
    assert!(run.stderr().contains("is a template"), "{}", run.stderr());
    assert!(server.commands().is_empty());

    // Every account: only alice, with the provider's host, port, TLS mode, login and delete.
    let run = popget.run(&["fetch"]);
    run.expect_code(0);
    assert_eq!(maildir_messages(&popget.path("Mail/alice")).len(), 3);
    assert!(!popget.path("wrong").exists());
    assert!(server.remaining().is_empty(), "delete was inherited");
    let commands = server.commands();
    assert!(
        commands.contains(&"USER alice".to_string()),
        "auth = \"user\" was inherited: {commands:?}"
    );
    assert!(
        run.stderr().starts_with("alice: 3 new messages"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_typo_in_one_account_stops_only_that_account() {
    // A typo stops only its own account (and those inheriting from it), with one line naming
    // the key, not serde's list of every field name; `popget fetch OTHER` still runs.
    let server = FakeServer::start(Script {
        messages: numbered_messages(2),
        ..Script::default()
    });
    let popget = Popget::new();
    write_config(
        &popget,
        &format!(
            r#"[defaults]
host = "127.0.0.1"
port = {port}
tls = "none"
auth = "user"

[accounts.typo]
user = "alice"
maildir = "~/Mail/typo"
pasword = "oops"

[accounts.good]
user = "alice"
maildir = "~/Mail/good"

[accounts.heir]
inherit = "typo"
"#,
            port = server.port
        ),
        0o600,
    );
    let expected =
        "popget: typo: account \"typo\" in {file}: line 10: unknown key \"pasword\" (did you \
         mean \"password\"?) (popget config check reports every problem with its line)";
    let file = popget
        .path(".config/popget/config.toml")
        .display()
        .to_string();
    let expected = expected.replace("{file}", &file);

    // Every account: the broken ones are reported, the good one is fetched; the status is the
    // first failure's.
    let run = popget.run(&["fetch"]);
    run.expect_code(78);
    let stderr = run.stderr();
    assert!(stderr.lines().any(|l| l == expected), "{stderr}");
    assert!(
        stderr.contains("popget: heir: account \"typo\""),
        "{stderr}"
    );
    assert!(!stderr.contains("expected one of"), "{stderr}");
    assert!(stderr.contains("good: 2 new messages"), "{stderr}");
    assert_eq!(maildir_messages(&popget.path("Mail/good")).len(), 2);
    assert!(!popget.path("Mail/typo").exists());

    // The good account alone is fine.
    popget.run(&["fetch", "good"]).expect_code(0);
    let run = popget.run(&["fetch", "typo"]);
    run.expect_code(78);
    assert_eq!(run.stderr().trim_end(), expected);

    let run = popget.run(&["fetch", "--json", "--all"]);
    run.expect_code(78);
    let document: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    let accounts = document["accounts"].as_array().unwrap();
    let summary: Vec<(&str, u64, Option<u64>)> = accounts
        .iter()
        .map(|a| {
            (
                a["account"].as_str().unwrap(),
                a["delivered"].as_u64().unwrap(),
                a["error"]["exit_code"].as_u64(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("typo", 0, Some(78)),
            ("heir", 0, Some(78)),
            ("good", 2, None)
        ]
    );

    let run = popget.run(&["accounts"]);
    run.expect_code(78);
    assert!(run.stdout().starts_with("good "), "{}", run.stdout());
    assert!(
        !run.stderr().contains("expected one of"),
        "{}",
        run.stderr()
    );
}

#[test]
fn config_check_reports_every_bad_value_of_an_account() {
    // `config check` reports every bad value of an account, not only the first.
    let popget = Popget::new();
    let path = write_config(
        &popget,
        "[accounts.a]\nhost = \"h\"\nuser = \"u\"\nmbox = \"b\"\n\
         fingerprint = \"SHA256:00\"\nsession_timeout = 0\nmax_listing = \"lots\"\n\
         max_size = \"20X\"\nlimit = 0\n",
        0o600,
    );
    let run = popget.run(&["config", "check"]);
    run.expect_code(78);
    let file = path.display().to_string();
    let lines: Vec<String> = run.stderr().lines().map(str::to_string).collect();
    let numbers: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix(&format!("{file}:")))
        .map(|rest| rest.split(':').next().unwrap())
        .collect();
    assert_eq!(numbers, ["5", "6", "7", "8", "9"], "{}", run.stderr());
    assert_eq!(
        lines.last().unwrap(),
        &format!("popget: 5 problems in {file}")
    );
}
