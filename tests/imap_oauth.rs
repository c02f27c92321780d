//! An IMAP destination that logs in with OAuth 2.0: `popget login home --device` against the
//! tests' OAuth server, then `popget fetch` delivering into Dovecot's IMAP, whose oauth2 passdb
//! asks that server's introspection endpoint about each token. XOAUTH2 and OAUTHBEARER byte for
//! byte, a token revoked early or expired is refreshed, a token refused for good stops the run
//! (77) and an unreachable introspection endpoint delays it (75) before anything is fetched, and
//! no token in the `-v` trace.

use std::os::unix::fs::PermissionsExt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::harness::dovecot::{Dovecot, Options};
use crate::harness::oauth_server::{Behaviour, OAuthServer};
use crate::harness::{maildir_messages, sorted, tricky_messages, Popget, Run};

/// alice's POP3 mailbox holding `messages`, bob's IMAP mailbox reached with tokens of an OAuth
/// server, and popget logged in to that server for destination `home`.
struct Setup {
    oauth: OAuthServer,
    dovecot: Dovecot,
    popget: Popget,
}

impl Setup {
    /// Starts the servers; account `isp` (with `extra` account keys) fetches alice's mail over
    /// POP3 into bob's INBOX over IMAPS, as destination `home`, which logs in with `auth`.
    fn logged_in(behaviour: Behaviour, auth: &str, extra: &str, messages: &[Vec<u8>]) -> Setup {
        let oauth = OAuthServer::start(Behaviour {
            subject: "bob",
            ..behaviour
        });
        let dovecot = Dovecot::start_with(Options {
            users: vec![("alice", "secret"), ("bob", "bob's password")],
            destinations: true,
            oauth_introspection: Some(oauth.url("/introspect")),
            ..Options::default()
        });
        for message in messages {
            dovecot.deliver("alice", message);
        }
        let popget = Popget::new();
        configure(&popget, &dovecot, &oauth, auth, extra);
        let run = popget.run_with(popget.command().args(["login", "home", "--device"]));
        run.expect_code(0);
        assert!(run.stderr().contains("WDJB-MJHT"), "{}", run.stderr());
        Setup {
            oauth,
            dovecot,
            popget,
        }
    }

    /// `popget -v fetch`, checking that no token the OAuth server issued shows in the trace,
    /// plain or inside a SASL initial response's base64.
    fn fetch(&self) -> Run {
        let run = self
            .popget
            .run_with(self.popget.command().args(["-v", "fetch"]));
        let stderr = run.stderr();
        for token in self.oauth.record(|r| r.access_tokens.clone()) {
            assert!(!stderr.contains(&token), "{token} in the trace:\n{stderr}");
            let xoauth2 = STANDARD.encode(format!("user=bob\x01auth=Bearer {token}\x01\x01"));
            assert!(!stderr.contains(&xoauth2), "{stderr}");
        }
        assert!(!stderr.contains("access-"), "{stderr}");
        run
    }

    /// The tokens Dovecot's passdb asked the OAuth server about.
    fn introspected(&self) -> Vec<String> {
        self.oauth.record(|r| r.introspected.clone())
    }

    fn saved_access_token(&self) -> String {
        saved_tokens(&self.popget)["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn delivered(&self) -> Vec<Vec<u8>> {
        maildir_messages(&self.dovecot.maildir("bob"))
    }
}

/// The configuration, where `popget login` looks for it.
fn configure(popget: &Popget, dovecot: &Dovecot, oauth: &OAuthServer, auth: &str, extra: &str) {
    let to = dovecot.destinations.as_ref().unwrap();
    let path = popget.path(".config/popget/config.toml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        &path,
        format!(
            "[destinations.home]\nimap = \"imaps://bob@127.0.0.1:{}/INBOX\"\nca_file = \"{}\"\n\
             auth = \"{auth}\"\n\n[destinations.home.oauth]\n{}\n\
             [accounts.isp]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"alice\"\ntls = \"none\"\n\
             auth = \"user\"\npassword_command = \"echo secret\"\ndeliver_to = \"home\"\n{extra}\n",
            to.imaps_port,
            dovecot.certificate().display(),
            oauth.config_toml(),
            dovecot.pop3_port
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// The tokens popget saved for `home` (in a file: the tests have no keyring).
fn saved_tokens(popget: &Popget) -> serde_json::Value {
    let file = popget.path(".local/state/popget/oauth/home.json");
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

/// How many AUTHENTICATE commands with `mechanism` the trace shows, each with its initial
/// response redacted.
fn authentications(run: &Run, mechanism: &str) -> usize {
    let stderr = run.stderr();
    let sent = stderr
        .lines()
        .filter(|line| line.contains(&format!("AUTHENTICATE {mechanism}")))
        .collect::<Vec<_>>();
    for line in &sent {
        assert!(
            line.ends_with(&format!("AUTHENTICATE {mechanism} ***")),
            "{line}"
        );
    }
    sent.len()
}

/// Logs in with `auth`, fetches every message into bob's INBOX with `extra` account keys, and
/// checks that Dovecot asked about the very token popget holds. Returns the POP3 side's
/// messages left.
fn delivers_byte_for_byte(auth: &str, mechanism: &str, extra: &str) -> usize {
    let messages = tricky_messages();
    let setup = Setup::logged_in(Behaviour::default(), auth, extra, &messages);
    let run = setup.fetch();
    run.expect_code(0);
    assert_eq!(setup.delivered(), sorted(messages));
    assert_eq!(authentications(&run, mechanism), 1, "{}", run.stderr());
    assert_eq!(setup.introspected(), [setup.saved_access_token()]);
    assert_eq!(setup.oauth.grants("refresh_token"), 0, "a fresh token");
    setup.dovecot.stored("alice").len()
}

#[test]
fn xoauth2_delivers_byte_for_byte_with_the_token_dovecot_introspected() {
    let left = delivers_byte_for_byte("xoauth2", "XOAUTH2", "delete = true");
    assert_eq!(left, 0, "deleted once appended");
}

#[test]
fn oauthbearer_delivers_byte_for_byte_with_the_token_dovecot_introspected() {
    let left = delivers_byte_for_byte("oauthbearer", "OAUTHBEARER", "");
    assert_eq!(left, tricky_messages().len(), "kept");
}

/// Dovecot refuses a token the provider revoked before its expiry; popget refreshes it once
/// and logs in again on the same connection.
#[test]
fn a_token_revoked_early_is_refreshed_once_and_the_login_tried_again() {
    let setup = Setup::logged_in(Behaviour::default(), "xoauth2", "", &[one()]);
    let revoked = setup.saved_access_token();
    setup.oauth.revoke_access_tokens();
    let run = setup.fetch();
    run.expect_code(0);
    assert_eq!(setup.oauth.grants("refresh_token"), 1);
    let fresh = setup.saved_access_token();
    assert_ne!(fresh, revoked, "the refreshed token was saved");
    assert_eq!(setup.introspected(), [revoked, fresh]);
    assert_eq!(authentications(&run, "XOAUTH2"), 2, "{}", run.stderr());
    assert_eq!(setup.delivered(), [one()]);
}

/// A token within a minute of its expiry is refreshed before popget connects: Dovecot sees
/// only the new one.
#[test]
fn an_expiring_token_is_refreshed_before_the_login() {
    let behaviour = Behaviour {
        expires_in: 30,
        ..Behaviour::default()
    };
    let setup = Setup::logged_in(behaviour, "oauthbearer", "", &[one()]);
    let expiring = setup.saved_access_token();
    setup.fetch().expect_code(0);
    assert_eq!(setup.oauth.grants("refresh_token"), 1);
    let fresh = setup.saved_access_token();
    assert_ne!(fresh, expiring);
    assert_eq!(setup.introspected(), [fresh]);
    assert_eq!(setup.delivered(), [one()]);
}

/// Dovecot refuses every token: the refreshed one too. The run ends with 77 before a message
/// is fetched or deleted.
#[test]
fn a_token_refused_for_good_ends_with_77_before_anything_is_fetched() {
    let behaviour = Behaviour {
        introspection_refuses: true,
        ..Behaviour::default()
    };
    let messages = tricky_messages();
    let setup = Setup::logged_in(behaviour, "xoauth2", "delete = true", &messages);
    let run = setup.fetch();
    run.expect_code(77);
    let stderr = run.stderr();
    assert!(stderr.contains("refused the login of bob"), "{stderr}");
    assert!(!stderr.contains("RETR"), "nothing fetched:\n{stderr}");
    assert_eq!(
        setup.oauth.grants("refresh_token"),
        1,
        "one refresh, no more"
    );
    assert_eq!(setup.introspected().len(), 2, "the old token and the new");
    assert_eq!(setup.dovecot.stored("alice"), sorted(messages));
    assert!(setup.delivered().is_empty());
}

/// The provider revoked the whole login: the refresh after Dovecot's refusal fails too, and
/// popget asks for `popget login home` again.
#[test]
fn a_revoked_login_ends_with_77_and_asks_to_log_the_destination_in_again() {
    let setup = Setup::logged_in(Behaviour::default(), "xoauth2", "delete = true", &[one()]);
    let refresh_token = saved_tokens(&setup.popget)["refresh_token"].clone();
    ureq::post(&setup.oauth.url("/revoke"))
        .send_form([("token", refresh_token.as_str().unwrap())])
        .unwrap();
    setup.oauth.revoke_access_tokens();
    let run = setup.fetch();
    run.expect_code(77);
    let stderr = run.stderr();
    assert!(stderr.contains("run `popget login home` again"), "{stderr}");
    assert_eq!(setup.dovecot.stored("alice"), [one()]);
    assert_eq!(
        saved_tokens(&setup.popget)["refresh_token"],
        refresh_token,
        "the login is kept until replaced"
    );
}

/// Dovecot cannot reach the introspection endpoint and says so (`[UNAVAILABLE]`): that is a
/// temporary failure (75), not a refused token, so nothing is refreshed and the login kept.
#[test]
fn an_unreachable_introspection_endpoint_is_temporary() {
    let mut setup = Setup::logged_in(Behaviour::default(), "xoauth2", "delete = true", &[one()]);
    let saved = setup.saved_access_token();
    setup.oauth.stop();
    let run = setup.fetch();
    run.expect_code(75);
    assert!(run.stderr().contains("UNAVAILABLE"), "{}", run.stderr());
    assert_eq!(setup.oauth.grants("refresh_token"), 0);
    assert_eq!(setup.saved_access_token(), saved);
    assert_eq!(setup.dovecot.stored("alice"), [one()]);
}

fn one() -> Vec<u8> {
    b"Subject: one\n\nbody\n".to_vec()
}
