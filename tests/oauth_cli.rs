//! OAuth2 through the real binary: `popget login` (browser by `$BROWSER`, `--device`,
//! `--paste`), then `popget fetch` against the fake POP3 server, which accepts only access
//! tokens the test's authorization server issued and has not revoked or let expire; silent
//! refresh, rotation, a token rejected early, Microsoft's two-step AUTH, revocation, an
//! unreachable token endpoint and `popget logout`.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::harness::fake::{FakeServer, Script};
use crate::harness::oauth_server::{Behaviour, OAuthServer};
use crate::harness::{maildir_messages, Popget};

/// A POP3S server that logs in whoever presents a live token of `oauth`.
fn pop3_server(oauth: &OAuthServer, auth_line_refused: bool) -> FakeServer {
    FakeServer::start(Script {
        tls: true,
        capa: Some(vec![
            "USER".into(),
            "UIDL".into(),
            "SASL XOAUTH2 OAUTHBEARER".into(),
        ]),
        messages: vec![("u1".into(), b"Subject: by oauth\n\nhello\n".to_vec())],
        bearer_check: Some(oauth.token_check()),
        auth_line_refused,
        ..Script::default()
    })
}

/// Writes the configuration: account `work` on `pop3` with `oauth`'s endpoints, then
/// `extra_oauth` lines in its oauth table and `extra_account` lines in the account.
fn configure(
    popget: &Popget,
    pop3: &FakeServer,
    oauth: &OAuthServer,
    extra_account: &str,
    extra_oauth: &str,
) {
    let args = pop3.args();
    let ca_file = &args[args.iter().position(|a| a == "--ca-file").unwrap() + 1];
    let text = format!(
        "[accounts.work]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"alice\"\ntls = \"implicit\"\n\
         ca_file = \"{ca_file}\"\nmaildir = \"m\"\n{extra_account}\n\
         [accounts.work.oauth]\n{}{extra_oauth}",
        pop3.port,
        oauth.config_toml()
    );
    let path = popget.path(".config/popget/config.toml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Where the tokens go without a keyring (the tests run without a D-Bus session).
fn token_file(popget: &Popget) -> PathBuf {
    popget.path(".local/state/popget/oauth/work.json")
}

fn saved_refresh_token(popget: &Popget) -> String {
    let text = std::fs::read_to_string(token_file(popget)).unwrap();
    let record: serde_json::Value = serde_json::from_str(&text).unwrap();
    record["refresh_token"].as_str().unwrap().to_string()
}

/// `popget login work --device`; the server approves at once.
fn device_login(popget: &Popget) {
    let run = popget.run_with(popget.command().args(["login", "work", "--device"]));
    run.expect_code(0);
    assert!(run.stderr().contains("WDJB-MJHT"), "{}", run.stderr());
}

fn fetch(popget: &Popget) -> crate::harness::Run {
    popget.run_with(popget.command().args(["fetch", "work", "-v"]))
}

/// A `$BROWSER` script: `curl` following the redirect to popget's listener.
fn curl_browser(popget: &Popget) -> String {
    let script = popget.path("browser");
    std::fs::write(
        &script,
        "#!/bin/sh\nexec curl -sS -L --max-redirs 2 -o /dev/null \"$1\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script.display().to_string()
}

#[test]
fn login_in_a_browser_then_fetch_with_the_token() {
    let oauth = OAuthServer::start(Behaviour::default());
    let pop3 = pop3_server(&oauth, false);
    let popget = Popget::new();
    configure(&popget, &pop3, &oauth, "", "");
    let run = popget.run_with(
        popget
            .command()
            .env("BROWSER", curl_browser(&popget))
            .args(["login", "work"]),
    );
    run.expect_code(0);
    let file = token_file(&popget);
    assert_eq!(
        run.stdout(),
        format!(
            "popget: work: logged in; tokens saved in {}\n",
            file.display()
        )
    );
    assert!(run.stderr().contains("/authorize?"), "the URL is printed");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(oauth.grants("authorization_code"), 1);

    let run = fetch(&popget);
    run.expect_code(0);
    assert_eq!(maildir_messages(&popget.path("m")).len(), 1);
    assert!(
        run.stderr().contains("C: AUTH XOAUTH2 ***"),
        "{}",
        run.stderr()
    );
    assert!(!run.stderr().contains("access-"), "a token in the trace");
    assert_eq!(
        oauth.grants("refresh_token"),
        0,
        "the saved token was fresh"
    );

    let run = popget.run_with(popget.command().args(["accounts", "--json"]));
    run.expect_code(0);
    let listed: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(listed[0]["secret"], file.display().to_string());
    assert_eq!(listed[0]["auth"], "xoauth2", "the oauth table implies it");
}

#[test]
fn login_with_a_device_code_then_fetch_with_oauthbearer() {
    let oauth = OAuthServer::start(Behaviour::default());
    let pop3 = pop3_server(&oauth, false);
    let popget = Popget::new();
    configure(&popget, &pop3, &oauth, "auth = \"oauthbearer\"", "");
    device_login(&popget);
    let run = fetch(&popget);
    run.expect_code(0);
    assert!(
        pop3.commands()
            .iter()
            .any(|c| c.starts_with("AUTH OAUTHBEARER ")),
        "{:?}",
        pop3.commands()
    );
    assert_eq!(maildir_messages(&popget.path("m")).len(), 1);
}

#[test]
fn login_by_pasting_the_redirect_address() {
    let oauth = OAuthServer::start(Behaviour::default());
    let pop3 = pop3_server(&oauth, false);
    let popget = Popget::new();
    configure(
        &popget,
        &pop3,
        &oauth,
        "",
        "redirect_uri = \"https://localhost/callback\"\n",
    );
    // The "browser" notes where the provider sends it; the user pastes that.
    let landed = popget.path("landed");
    let browser = popget.path("browser");
    std::fs::write(
        &browser,
        format!(
            "#!/bin/sh\ncurl -sS -o /dev/null -w '%{{redirect_url}}' \"$1\" > {0}.tmp && mv {0}.tmp {0}\n",
            landed.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut child = popget
        .command()
        .env("BROWSER", &browser)
        .args(["login", "work", "--paste"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !landed.exists() {
        assert!(Instant::now() < deadline, "the browser never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pasted = std::fs::read_to_string(&landed).unwrap();
    assert!(
        pasted.starts_with("https://localhost/callback?code="),
        "{pasted}"
    );
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{pasted}").unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let run = crate::harness::Run { output };
    run.expect_code(0);
    assert!(run.stdout().contains("tokens saved in"), "{}", run.stdout());
    fetch(&popget).expect_code(0);
}

#[test]
fn expired_tokens_are_refreshed_silently_and_rotated_tokens_saved() {
    // Tokens that live 30 s are within the minute of reserve: every run refreshes.
    let oauth = OAuthServer::start(Behaviour {
        expires_in: 30,
        rotate: true,
        ..Behaviour::default()
    });
    let pop3 = pop3_server(&oauth, false);
    let popget = Popget::new();
    configure(&popget, &pop3, &oauth, "", "");
    device_login(&popget);
    let first = saved_refresh_token(&popget);
    fetch(&popget).expect_code(0);
    let second = saved_refresh_token(&popget);
    assert_ne!(first, second, "the rotated refresh token was saved");
    // The second run works only with the rotated token: the server revoked the first once the
    // second was used.
    let run = fetch(&popget);
    run.expect_code(0);
    assert_eq!(
        oauth.record(|r| r.refresh_tokens_used.clone()),
        [first, second]
    );
    assert_eq!(run.stderr().matches("C: AUTH XOAUTH2").count(), 1);
}

#[test]
fn a_token_rejected_before_its_expiry_is_refreshed_once_and_retried() {
    let oauth = OAuthServer::start(Behaviour::default());
    let pop3 = pop3_server(&oauth, false);
    let popget = Popget::new();
    configure(&popget, &pop3, &oauth, "", "");
    device_login(&popget);
    oauth.revoke_access_tokens();
    let run = fetch(&popget);
    run.expect_code(0);
    assert_eq!(oauth.grants("refresh_token"), 1);
    let auths = pop3
        .commands()
        .iter()
        .filter(|c| c.starts_with("AUTH XOAUTH2"))
        .count();
    assert_eq!(auths, 2, "{:?}", pop3.commands());
    assert_eq!(maildir_messages(&popget.path("m")).len(), 1);
}

#[test]
fn an_auth_line_refused_like_microsoft_is_retried_in_two_steps() {
    let oauth = OAuthServer::start(Behaviour::default());
    let pop3 = pop3_server(&oauth, true);
    let popget = Popget::new();
    configure(&popget, &pop3, &oauth, "", "");
    device_login(&popget);
    let run = fetch(&popget);
    run.expect_code(0);
    let commands = pop3.commands();
    let first = commands
        .iter()
        .position(|c| c.starts_with("AUTH XOAUTH2 "))
        .expect("the one-line form first");
    assert_eq!(commands[first + 1], "AUTH XOAUTH2", "{commands:?}");
    assert_eq!(oauth.grants("refresh_token"), 0, "no refresh for that");
}

#[test]
fn a_revoked_login_ends_with_77_and_asks_for_a_new_login() {
    let oauth = OAuthServer::start(Behaviour {
        expires_in: 30,
        ..Behaviour::default()
    });
    let pop3 = pop3_server(&oauth, false);
    let popget = Popget::new();
    configure(&popget, &pop3, &oauth, "", "");
    device_login(&popget);
    ureq::post(&oauth.url("/revoke"))
        .send_form([("token", saved_refresh_token(&popget).as_str())])
        .unwrap();
    let run = fetch(&popget);
    run.expect_code(77);
    assert!(
        run.stderr()
            .contains("popget: hint: run `popget login work` again"),
        "{}",
        run.stderr()
    );
    assert!(!run.stderr().contains("refresh-"), "{}", run.stderr());
    assert!(
        pop3.commands().is_empty(),
        "no connection without a token: {:?}",
        pop3.commands()
    );
    assert!(
        token_file(&popget).exists(),
        "the login is kept until replaced"
    );
}

#[test]
fn an_unreachable_token_endpoint_is_temporary_and_keeps_the_login() {
    let mut oauth = OAuthServer::start(Behaviour {
        expires_in: 30,
        ..Behaviour::default()
    });
    let pop3 = pop3_server(&oauth, false);
    let popget = Popget::new();
    configure(&popget, &pop3, &oauth, "", "");
    device_login(&popget);
    let saved = std::fs::read(token_file(&popget)).unwrap();
    oauth.stop();
    let run = fetch(&popget);
    run.expect_code(75);
    assert!(run.stderr().contains("/token"), "{}", run.stderr());
    assert_eq!(std::fs::read(token_file(&popget)).unwrap(), saved);
}

#[test]
fn logout_deletes_the_tokens() {
    let oauth = OAuthServer::start(Behaviour::default());
    let pop3 = pop3_server(&oauth, false);
    let popget = Popget::new();
    configure(&popget, &pop3, &oauth, "", "");
    device_login(&popget);
    let run = popget.run_with(popget.command().args(["logout", "work"]));
    run.expect_code(0);
    assert_eq!(
        run.stdout(),
        "popget: work: logged out; the saved tokens are deleted\n"
    );
    assert!(!token_file(&popget).exists());
    let run = fetch(&popget);
    run.expect_code(77);
    assert!(
        run.stderr().contains("has not logged in with OAuth yet"),
        "{}",
        run.stderr()
    );
    let run = popget.run_with(popget.command().args(["logout", "work"]));
    run.expect_code(0);
    assert_eq!(run.stdout(), "popget: work: no tokens were saved\n");
}

#[test]
fn login_needs_an_oauth_table() {
    let oauth = OAuthServer::start(Behaviour::default());
    let pop3 = pop3_server(&oauth, false);
    let popget = Popget::new();
    configure(&popget, &pop3, &oauth, "", "");
    let run = popget.run_with(popget.command().args(["login", "nobody"]));
    run.expect_code(78);
    assert!(
        run.stderr().contains("no account \"nobody\""),
        "{}",
        run.stderr()
    );
}

/// `popget login NAME` and `popget logout NAME` work for an IMAP destination's
/// `[destinations.NAME.oauth]` table as for an account's; its tokens are saved under its name.
#[test]
fn a_destination_logs_in_and_out_with_a_device_code() {
    let oauth = OAuthServer::start(Behaviour::default());
    let popget = Popget::new();
    let path = popget.path(".config/popget/config.toml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        &path,
        format!(
            "[destinations.gmail]\nimap = \"imaps://alice@127.0.0.1:1/INBOX\"\n\n\
             [destinations.gmail.oauth]\n{}",
            oauth.config_toml()
        ),
    )
    .unwrap();
    let run = popget.run_with(popget.command().args(["login", "gmail", "--device"]));
    run.expect_code(0);
    let tokens = popget.path(".local/state/popget/oauth/gmail.json");
    assert!(tokens.exists(), "{}", run.stderr());
    let run = popget.run_with(popget.command().args(["logout", "gmail"]));
    run.expect_code(0);
    assert!(!tokens.exists());
    // LMTP has no login to speak of.
    std::fs::write(
        &path,
        "[destinations.local]\nlmtp = \"127.0.0.1:24\"\nrecipient = \"alice\"\n",
    )
    .unwrap();
    let run = popget.run_with(popget.command().args(["login", "local", "--device"]));
    run.expect_code(78);
    assert!(
        run.stderr().contains("LMTP, which has no login"),
        "{}",
        run.stderr()
    );
}
