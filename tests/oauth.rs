//! OAuth2 logins (XOAUTH2, OAUTHBEARER) against the fake server over TLS: the Google one-line
//! form, the Microsoft two-step form, error challenges and the single token refresh.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

use crate::harness::fake::{FakeServer, Script};
use crate::harness::Popget;

fn oauth_script(mechanisms: &str) -> Script {
    Script {
        tls: true,
        capa: Some(vec![
            "USER".into(),
            "UIDL".into(),
            format!("SASL {mechanisms}"),
        ]),
        messages: vec![("u1".into(), b"Subject: oauth\n\nx\n".to_vec())],
        ..Script::default()
    }
}

fn xoauth2(user: &str, token: &str) -> String {
    BASE64.encode(format!("user={user}\x01auth=Bearer {token}\x01\x01"))
}

/// A password command that prints token1, token2, ... on successive runs.
fn counting_token_command(popget: &Popget) -> String {
    let counter = popget.path("token-counter");
    format!(
        "n=$(cat {0} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {0}; echo token$n",
        counter.display()
    )
}

fn fetch(
    popget: &Popget,
    server: &FakeServer,
    method: &str,
    password_command: &str,
) -> crate::harness::Run {
    let maildir = popget.path("m").display().to_string();
    let mut command = popget.command();
    command.arg("fetch").args(server.args()).args([
        "--auth",
        method,
        "--password-command",
        password_command,
        "--maildir",
        &maildir,
        "-v",
    ]);
    popget.run_with(&mut command)
}

#[test]
fn xoauth2_google_form_in_one_line() {
    let mut script = oauth_script("XOAUTH2");
    script.login_on = Some(format!("AUTH XOAUTH2 {}", xoauth2("alice", "token1")));
    let server = FakeServer::start(script);
    let popget = Popget::new();
    let run = fetch(
        &popget,
        &server,
        "xoauth2",
        &counting_token_command(&popget),
    );
    run.expect_code(0);
    assert!(
        run.stderr().contains("C: AUTH XOAUTH2 ***"),
        "{}",
        run.stderr()
    );
    assert!(
        !run.stderr().contains("token1"),
        "the token leaked into the trace"
    );
}

#[test]
fn xoauth2_microsoft_two_step_form_for_long_tokens() {
    let token = "t".repeat(1500);
    let mut script = oauth_script("XOAUTH2");
    script.overrides.insert("AUTH XOAUTH2".into(), "+".into());
    script.login_on = Some(xoauth2("alice", &token));
    let server = FakeServer::start(script);
    let popget = Popget::new();
    let run = fetch(&popget, &server, "xoauth2", &format!("echo {token}"));
    run.expect_code(0);
    let commands = server.commands();
    assert!(
        commands.contains(&"AUTH XOAUTH2".to_string()),
        "{commands:?}"
    );
    assert!(
        commands
            .iter()
            .all(|c| c.len() <= 253 || !c.starts_with("AUTH")),
        "an AUTH line over 255 octets"
    );
}

#[test]
fn xoauth2_error_challenge_refreshes_the_token_once() {
    let mut script = oauth_script("XOAUTH2");
    let error =
        BASE64.encode(r#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#);
    script.overrides.insert(
        format!("AUTH XOAUTH2 {}", xoauth2("alice", "token1")),
        format!("+ {error}"),
    );
    script
        .overrides
        .insert(String::new(), "-ERR [AUTH] invalid credentials".into());
    script.login_on = Some(format!("AUTH XOAUTH2 {}", xoauth2("alice", "token2")));
    let server = FakeServer::start(script);
    let popget = Popget::new();
    let run = fetch(
        &popget,
        &server,
        "xoauth2",
        &counting_token_command(&popget),
    );
    run.expect_code(0);
    let auths = server
        .commands()
        .iter()
        .filter(|c| c.starts_with("AUTH"))
        .count();
    assert_eq!(auths, 2, "{:?}", server.commands());
}

#[test]
fn oauthbearer_error_is_answered_with_one_ctrl_a_and_never_loops() {
    let mut script = oauth_script("OAUTHBEARER");
    let error = BASE64.encode(r#"{"status":"invalid_token"}"#);
    script
        .overrides
        .insert("AQ==".into(), "-ERR [AUTH] token rejected".into());
    let server = FakeServer::start(script);
    // Every AUTH line gets the error challenge; the client must answer AQ== and give up after
    // one refresh.
    for n in 1..=3 {
        let initial = BASE64.encode(format!(
            "n,a=alice,\x01host=127.0.0.1\x01port={}\x01auth=Bearer token{n}\x01\x01",
            server.port
        ));
        server.answer(
            &format!("AUTH OAUTHBEARER {initial}"),
            &format!("+ {error}"),
        );
    }
    let popget = Popget::new();
    let run = fetch(
        &popget,
        &server,
        "oauthbearer",
        &counting_token_command(&popget),
    );
    run.expect_code(77);
    let commands = server.commands();
    assert_eq!(
        commands
            .iter()
            .filter(|c| c.starts_with("AUTH OAUTHBEARER"))
            .count(),
        2,
        "{commands:?}"
    );
    assert_eq!(
        commands.iter().filter(|c| *c == "AQ==").count(),
        2,
        "{commands:?}"
    );
}
