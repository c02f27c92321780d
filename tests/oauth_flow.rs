//! OAuth2 logins and token refresh from popget's credentials library against a real (small)
//! authorization server on loopback: the browser flow through a browser command, the device
//! flow, the pasted redirect, silent refresh with rotation, shared logins, revocation, an
//! unreachable endpoint and a crash before a rotated token is saved.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use popget::credentials::oauth::{self, Flow, OAuthConfig, OAuthError, ResolvedOAuth};
use popget::credentials::token_store::{
    FileTokenStore, Location, RefreshLock, StoreError, TokenStore, Tokens,
};
use popget::credentials::Secret;

use crate::harness::oauth_server::{Behaviour, OAuthServer, DEVICE_GRANT};

fn resolved(server: &OAuthServer, extra: &str) -> ResolvedOAuth {
    let text = format!("{}{extra}", server.config_toml());
    let config: OAuthConfig = toml::from_str(&text).expect("a valid oauth table");
    config.resolve("work").expect("a complete oauth table")
}

/// Plays the user: records what is shown; "opens" a URL by requesting it without following the
/// redirect, and pastes the address the server redirected to (changed by `tamper`).
#[derive(Default)]
struct ScriptedUser {
    shown: Vec<String>,
    opened: Vec<String>,
    redirected_to: Option<String>,
    tamper: Option<fn(String) -> String>,
}

impl oauth::UserInterface for ScriptedUser {
    fn show(&mut self, message: &str) {
        self.shown.push(message.to_string());
    }

    fn open_browser(&mut self, url: &str) -> io::Result<()> {
        self.opened.push(url.to_string());
        self.redirected_to = Some(location_of(url));
        Ok(())
    }

    fn read_line(&mut self, _prompt: &str) -> io::Result<Secret> {
        let pasted = self.redirected_to.take().expect("a URL was opened first");
        let pasted = match self.tamper {
            Some(tamper) => tamper(pasted),
            None => pasted,
        };
        Ok(Secret::new(pasted))
    }
}

/// Where the server redirects a GET of `url`.
fn location_of(url: &str) -> String {
    let agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .new_agent();
    let response = agent
        .get(url)
        .call()
        .expect("the authorization endpoint answers");
    assert_eq!(response.status(), 302, "{url}");
    response.headers()["location"].to_str().unwrap().to_string()
}

/// A browser command for `$BROWSER`: curl following the redirect to popget's listener.
fn curl_browser(dir: &Path) -> String {
    let script = dir.join("browser");
    std::fs::write(
        &script,
        "#!/bin/sh\nexec curl -sS -L --max-redirs 2 -o /dev/null \"$1\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script.display().to_string()
}

/// Logs in with the device flow (the server approves at once) and saves the tokens.
fn log_in(oauth: &ResolvedOAuth, store: &dyn TokenStore) -> Tokens {
    let tokens =
        oauth::authorize(oauth, Flow::Device, &mut ScriptedUser::default()).expect("device login");
    store.save(&tokens).unwrap();
    tokens
}

/// Panics if a token, code or refresh token the server issued shows in `error`.
#[track_caller]
fn assert_no_secret_in(error: &OAuthError) {
    let shown = format!(
        "{error} | {error:?} | {:?}",
        std::error::Error::source(error)
    );
    for secret in ["access-", "refresh-", "code-", "device-"] {
        assert!(!shown.contains(secret), "{secret} in: {shown}");
    }
}

#[test]
fn loopback_login_through_a_browser_exchanges_a_pkce_code() {
    let server = OAuthServer::start(Behaviour::default());
    let home = tempfile::tempdir().unwrap();
    let oauth = resolved(&server, "");
    let mut browser = oauth::TerminalInterface::with_browser(&curl_browser(home.path()));
    let tokens = oauth::authorize(&oauth, Flow::Loopback, &mut browser).expect("login");
    assert_eq!(tokens.access_token.expose(), "access-3");
    assert_eq!(tokens.refresh_token.as_ref().unwrap().expose(), "refresh-2");
    let request = server.record(|r| r.authorize_requests[0].clone());
    assert_eq!(request["code_challenge_method"], "S256");
    assert!(
        request["redirect_uri"].starts_with("http://127.0.0.1:"),
        "{request:?}"
    );
    assert_eq!(request["scope"], "pop offline_access");
    // The URL the browser command sees carries no verifier and no secret.
    assert!(!request.contains_key("code_verifier") && !request.contains_key("client_secret"));
    assert_eq!(server.grants("authorization_code"), 1);
    // The listener answered one request and closed.
    let port = url::Url::parse(&request["redirect_uri"])
        .unwrap()
        .port()
        .unwrap();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn a_denied_authorization_is_reported_as_such() {
    let server = OAuthServer::start(Behaviour {
        deny: true,
        ..Behaviour::default()
    });
    let home = tempfile::tempdir().unwrap();
    let mut browser = oauth::TerminalInterface::with_browser(&curl_browser(home.path()));
    let error = oauth::authorize(&resolved(&server, ""), Flow::Loopback, &mut browser).unwrap_err();
    assert!(matches!(error, OAuthError::Denied { .. }), "{error:?}");
    assert_eq!(error.exit_code(), 77);
    assert!(error.to_string().contains("The user said no"), "{error}");
    assert_eq!(server.grants("authorization_code"), 0);
}

#[test]
fn a_pasted_redirect_url_completes_the_login() {
    let server = OAuthServer::start(Behaviour::default());
    let oauth = resolved(&server, "redirect_uri = \"https://localhost/callback\"\n");
    let mut user = ScriptedUser::default();
    let tokens = oauth::authorize(&oauth, Flow::Paste, &mut user).expect("login");
    assert!(tokens.refresh_token.is_some());
    assert_eq!(
        server.record(|r| r.authorize_requests[0]["redirect_uri"].clone()),
        "https://localhost/callback"
    );
    assert!(
        user.shown[0].contains(&user.opened[0]),
        "the URL is always printed"
    );
    assert_eq!(server.grants("authorization_code"), 1);
}

#[test]
fn a_redirect_with_another_state_is_refused_before_any_exchange() {
    let server = OAuthServer::start(Behaviour::default());
    let oauth = resolved(&server, "");
    let mut user = ScriptedUser {
        tamper: Some(|url| url.replace("state=", "state=forged")),
        ..ScriptedUser::default()
    };
    let error = oauth::authorize(&oauth, Flow::Paste, &mut user).unwrap_err();
    assert!(matches!(error, OAuthError::StateMismatch), "{error:?}");
    assert_eq!(server.grants("authorization_code"), 0);
    assert_no_secret_in(&error);
}

#[test]
fn device_login_waits_through_pending_and_slow_down() {
    let server = OAuthServer::start(Behaviour {
        device_answers: ["authorization_pending", "slow_down"].into(),
        device_interval: 1,
        ..Behaviour::default()
    });
    let mut user = ScriptedUser::default();
    let tokens = oauth::authorize(&resolved(&server, ""), Flow::Device, &mut user).unwrap();
    assert!(tokens.refresh_token.is_some());
    assert!(user.shown[0].contains("WDJB-MJHT"), "{:?}", user.shown);
    assert!(user.shown[0].contains("https://id.example/device"));
    let polls = server.record(|r| r.device_polls.clone());
    assert_eq!(polls.len(), 3);
    let gap = |i: usize| polls[i + 1] - polls[i];
    assert!(gap(0) >= Duration::from_secs(1), "{:?}", gap(0));
    // slow_down: the interval grows by 5 seconds.
    assert!(gap(1) >= Duration::from_secs(6), "{:?}", gap(1));
}

#[test]
fn device_login_reports_denial_and_expiry() {
    for (answer, exit_code) in [("access_denied", 77), ("expired_token", 75)] {
        let server = OAuthServer::start(Behaviour {
            device_answers: [answer].into(),
            ..Behaviour::default()
        });
        let error = oauth::authorize(
            &resolved(&server, ""),
            Flow::Device,
            &mut ScriptedUser::default(),
        )
        .unwrap_err();
        assert_eq!(error.exit_code(), exit_code, "{answer}: {error:?}");
        assert_no_secret_in(&error);
    }
}

#[test]
fn silent_refresh_saves_each_rotated_token_before_use() {
    // Tokens that live 30 s are always within the minute of reserve: every use refreshes.
    let server = OAuthServer::start(Behaviour {
        rotate: true,
        expires_in: 30,
        ..Behaviour::default()
    });
    let state = tempfile::tempdir().unwrap();
    let oauth = resolved(&server, "");
    let store = FileTokenStore::new(state.path(), "work");
    let first = log_in(&oauth, &store);
    let first_refresh = first.refresh_token.unwrap().expose().to_string();

    let token = oauth::access_token(&oauth, &store).unwrap();
    let saved = store.load().unwrap().unwrap();
    assert_eq!(saved.access_token.expose(), token.expose());
    let second_refresh = saved.refresh_token.unwrap().expose().to_string();
    assert_ne!(second_refresh, first_refresh, "the server rotated it");

    // The second expiry works only because the rotated token was saved: the server revokes
    // the first one as soon as the second is used.
    oauth::access_token(&oauth, &store).unwrap();
    assert_eq!(
        server.record(|r| r.refresh_tokens_used.clone()),
        [first_refresh.clone(), second_refresh]
    );
    let stale = FileTokenStore::new(state.path(), "stale-copy");
    stale
        .save(&Tokens {
            refresh_token: Some(Secret::new(first_refresh)),
            ..store.load().unwrap().unwrap()
        })
        .unwrap();
    stale
        .save(&Tokens {
            expires_at: Some(SystemTime::now()),
            ..stale.load().unwrap().unwrap()
        })
        .unwrap();
    let error = oauth::access_token(&oauth, &stale).unwrap_err();
    assert!(
        matches!(error, OAuthError::LoginExpired { .. }),
        "{error:?}"
    );
}

#[test]
fn a_saved_token_is_used_while_more_than_a_minute_is_left() {
    let server = OAuthServer::start(Behaviour {
        expires_in: 63,
        ..Behaviour::default()
    });
    let state = tempfile::tempdir().unwrap();
    let oauth = resolved(&server, "");
    let store = FileTokenStore::new(state.path(), "work");
    let login = log_in(&oauth, &store);
    let token = oauth::access_token(&oauth, &store).unwrap();
    assert_eq!(token.expose(), login.access_token.expose());
    assert_eq!(server.grants("refresh_token"), 0);
    // Three seconds later less than a minute is left.
    std::thread::sleep(Duration::from_millis(3100));
    let token = oauth::access_token(&oauth, &store).unwrap();
    assert_ne!(token.expose(), login.access_token.expose());
    assert_eq!(server.grants("refresh_token"), 1);
}

#[test]
fn accounts_sharing_a_login_refresh_it_once() {
    let server = OAuthServer::start(Behaviour {
        expires_in: 30,
        rotate: true,
        token_delay: Duration::from_millis(300),
        ..Behaviour::default()
    });
    let state = tempfile::tempdir().unwrap();
    let oauth = resolved(&server, "");
    log_in(&oauth, &FileTokenStore::new(state.path(), "shared"));
    server.with(|b| b.expires_in = 3600);
    let tokens: Vec<String> = std::thread::scope(|scope| {
        let fetches: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    // Each account opens the shared login's store on its own.
                    let store = FileTokenStore::new(state.path(), "shared");
                    oauth::access_token(&oauth, &store)
                        .unwrap()
                        .expose()
                        .to_string()
                })
            })
            .collect();
        fetches.into_iter().map(|f| f.join().unwrap()).collect()
    });
    assert_eq!(server.grants("refresh_token"), 1);
    assert!(tokens.iter().all(|t| *t == tokens[0]), "{tokens:?}");
}

#[test]
fn a_revoked_login_asks_for_a_new_login() {
    let server = OAuthServer::start(Behaviour {
        expires_in: 30,
        ..Behaviour::default()
    });
    let state = tempfile::tempdir().unwrap();
    let oauth = resolved(&server, "");
    let store = FileTokenStore::new(state.path(), "work");
    let tokens = log_in(&oauth, &store);
    ureq::post(&server.url("/revoke"))
        .send_form([("token", tokens.refresh_token.unwrap().expose())])
        .unwrap();
    let error = oauth::access_token(&oauth, &store).unwrap_err();
    assert!(
        matches!(error, OAuthError::LoginExpired { .. }),
        "{error:?}"
    );
    assert_eq!(error.exit_code(), 77);
    assert_eq!(
        error.to_string(),
        "the provider no longer accepts the saved login of work: Token has been expired or \
         revoked.; run `popget login work` again"
    );
    assert_no_secret_in(&error);
}

#[test]
fn an_unreachable_or_unavailable_token_endpoint_is_temporary() {
    let mut server = OAuthServer::start(Behaviour {
        expires_in: 30,
        ..Behaviour::default()
    });
    let state = tempfile::tempdir().unwrap();
    let oauth = resolved(&server, "");
    let store = FileTokenStore::new(state.path(), "work");
    log_in(&oauth, &store);
    let saved = std::fs::read(store.path()).unwrap();

    server.with(|b| b.unavailable = true);
    let error = oauth::access_token(&oauth, &store).unwrap_err();
    assert!(matches!(error, OAuthError::Unreachable { .. }), "{error:?}");
    assert_eq!(error.exit_code(), 75);

    server.stop();
    let error = oauth::access_token(&oauth, &store).unwrap_err();
    assert!(matches!(error, OAuthError::Unreachable { .. }), "{error:?}");
    assert_eq!(error.exit_code(), 75);
    assert!(error.to_string().contains("/token"), "{error}");
    assert_no_secret_in(&error);
    assert_eq!(
        std::fs::read(store.path()).unwrap(),
        saved,
        "the login is kept"
    );
}

#[test]
fn a_rejected_client_names_the_key_to_fix() {
    let server = OAuthServer::start(Behaviour {
        client_secret: Some("right".into()),
        ..Behaviour::default()
    });
    let state = tempfile::tempdir().unwrap();
    let oauth = resolved(&server, "client_secret = \"not-the-s3cr3t\"\n");
    let store = FileTokenStore::new(state.path(), "work");
    store
        .save(&Tokens {
            access_token: Secret::new("access-old".into()),
            expires_at: Some(SystemTime::now()),
            refresh_token: Some(Secret::new("refresh-old".into())),
        })
        .unwrap();
    let error = oauth::access_token(&oauth, &store).unwrap_err();
    assert_eq!(error.exit_code(), 78, "{error:?}");
    assert!(
        error
            .to_string()
            .contains("check client_secret in [accounts.work.oauth]"),
        "{error}"
    );
    assert!(!format!("{error} {error:?}").contains("s3cr3t"));
}

/// A store whose process "dies" after the server answered and before the new record is
/// written: the save never happens.
struct CrashingStore(FileTokenStore);

impl TokenStore for CrashingStore {
    fn load(&self) -> Result<Option<Tokens>, StoreError> {
        self.0.load()
    }
    fn save(&self, _: &Tokens) -> Result<(), StoreError> {
        Err(StoreError::Io {
            action: "write (simulated crash)",
            path: self.0.path().to_path_buf(),
            source: io::Error::other("killed"),
        })
    }
    fn delete(&self) -> Result<bool, StoreError> {
        self.0.delete()
    }
    fn location(&self) -> Location {
        self.0.location()
    }
    fn lock_path(&self) -> &Path {
        self.0.lock_path()
    }
    fn lock_for_refresh(&self) -> Result<RefreshLock, StoreError> {
        self.0.lock_for_refresh()
    }
}

#[test]
fn a_crash_before_a_rotated_token_is_saved_does_not_lock_the_user_out() {
    let server = OAuthServer::start(Behaviour {
        rotate: true,
        expires_in: 30,
        ..Behaviour::default()
    });
    let state = tempfile::tempdir().unwrap();
    let oauth = resolved(&server, "");
    let store = FileTokenStore::new(state.path(), "work");
    let login = log_in(&oauth, &store);
    let login_refresh = login.refresh_token.unwrap().expose().to_string();
    let before = std::fs::read(store.path()).unwrap();

    let error = oauth::access_token(&oauth, &CrashingStore(store.clone())).unwrap_err();
    assert!(matches!(error, OAuthError::Store(_)), "{error:?}");
    assert_eq!(
        server.grants("refresh_token"),
        1,
        "the server rotated the token"
    );
    assert_eq!(
        std::fs::read(store.path()).unwrap(),
        before,
        "the old record is intact"
    );

    // The next run refreshes with the old token, which the server still honours because its
    // successor was never used.
    let token = oauth::access_token(&oauth, &store).unwrap();
    let issued = server.record(|r| r.access_tokens.clone());
    assert_eq!(token.expose(), issued.last().unwrap());
    assert_eq!(
        server.record(|r| r.refresh_tokens_used.clone()),
        [login_refresh.clone(), login_refresh.clone()]
    );
    let saved = store.load().unwrap().unwrap().refresh_token.unwrap();
    assert_ne!(
        saved.expose(),
        login_refresh,
        "the rotated token was saved this time"
    );
    assert_eq!(server.grants(DEVICE_GRANT), 1);
}
