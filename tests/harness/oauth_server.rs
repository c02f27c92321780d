//! A small OAuth2 authorization server on 127.0.0.1 (plain HTTP, std only): an authorization
//! endpoint that redirects with a code, a token endpoint that checks PKCE and client
//! credentials and rotates refresh tokens, a device endpoint with scripted polling answers,
//! short-lived access tokens, revocation (RFC 7009) and token introspection (RFC 7662) for a
//! resource server such as Dovecot's oauth2 passdb. It records what clients sent.

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

pub const CLIENT_ID: &str = "popget-test-client";
pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// How the server behaves; change it while it runs with [`OAuthServer::with`].
pub struct Behaviour {
    /// The client secret the token endpoint requires (`None`: a public client).
    pub client_secret: Option<String>,
    /// The lifetime the server gives access tokens.
    pub expires_in: u64,
    /// Issue a new refresh token on every refresh. The old one stays valid until the new one
    /// is first used (as providers with rotation allow, so that a lost answer is not fatal).
    pub rotate: bool,
    /// How long the token endpoint takes to answer.
    pub token_delay: Duration,
    /// Answer the token endpoint with HTTP 503.
    pub unavailable: bool,
    /// The answers to successive device-code polls before the token: `authorization_pending`,
    /// `slow_down`, or a final error such as `access_denied` or `expired_token`.
    pub device_answers: VecDeque<&'static str>,
    /// The device flow's polling interval in seconds.
    pub device_interval: u64,
    /// Answer the authorization request with `error=access_denied`.
    pub deny: bool,
    /// Whose the issued tokens are: the `username` introspection gives for a live token.
    pub subject: &'static str,
    /// Introspection calls every token inactive, live or not: a resource server that no
    /// longer accepts this login's tokens.
    pub introspection_refuses: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            client_secret: None,
            expires_in: 3600,
            rotate: false,
            token_delay: Duration::ZERO,
            unavailable: false,
            device_answers: VecDeque::new(),
            device_interval: 1,
            deny: false,
            subject: "alice",
            introspection_refuses: false,
        }
    }
}

/// What the server saw and issued.
#[derive(Default)]
pub struct Record {
    /// The query of each authorization request.
    pub authorize_requests: Vec<HashMap<String, String>>,
    /// The `grant_type` of each token request, in order.
    pub grants: Vec<String>,
    /// The refresh tokens presented, in order.
    pub refresh_tokens_used: Vec<String>,
    /// When each device-code poll arrived.
    pub device_polls: Vec<Instant>,
    /// The access tokens issued, in order.
    pub access_tokens: Vec<String>,
    /// The tokens a resource server asked about at the introspection endpoint, in order.
    pub introspected: Vec<String>,
}

#[derive(Default)]
struct State {
    behaviour: Behaviour,
    record: Record,
    serial: u64,
    /// code → (PKCE challenge, redirect URI)
    codes: HashMap<String, (String, String)>,
    /// valid refresh token → the token it replaced (revoked once this one is used)
    refresh_tokens: HashMap<String, Option<String>>,
    device_codes: HashMap<String, ()>,
    /// access token → when it expires; what a resource server (the fake POP3 server) accepts.
    live_access: HashMap<String, Instant>,
}

pub struct OAuthServer {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl OAuthServer {
    pub fn start(behaviour: Behaviour) -> OAuthServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the OAuth server");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            behaviour,
            ..State::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let state = state.clone();
                    std::thread::spawn(move || serve(stream, &state));
                }
            })
        };
        OAuthServer {
            port,
            state,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// An `[accounts.NAME.oauth]` table for this server.
    pub fn config_toml(&self) -> String {
        format!(
            "authorize_url = \"{}\"\ntoken_url = \"{}\"\ndevice_authorization_url = \"{}\"\n\
             scopes = [\"pop\", \"offline_access\"]\nclient_id = \"{CLIENT_ID}\"\n",
            self.url("/authorize"),
            self.url("/token"),
            self.url("/device")
        )
    }

    /// Changes the behaviour while running.
    pub fn with(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut lock(&self.state).behaviour);
    }

    /// Reads what the server recorded.
    pub fn record<T>(&self, read: impl FnOnce(&Record) -> T) -> T {
        read(&lock(&self.state).record)
    }

    /// How many token requests of `grant_type` arrived.
    pub fn grants(&self, grant_type: &str) -> usize {
        self.record(|r| r.grants.iter().filter(|g| *g == grant_type).count())
    }

    /// What a resource server asks: whether `token` is an access token this server issued that
    /// has neither expired nor been revoked. For [`crate::harness::fake::Script::bearer_check`].
    pub fn token_check(&self) -> Arc<dyn Fn(&str) -> bool + Send + Sync> {
        let state = self.state.clone();
        Arc::new(move |token: &str| lock(&state).is_live(token))
    }

    /// Revokes every access token issued so far (refresh tokens stay valid).
    pub fn revoke_access_tokens(&self) {
        lock(&self.state).live_access.clear();
    }

    /// Stops listening: later connections are refused.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

impl Drop for OAuthServer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl State {
    fn is_live(&self, token: &str) -> bool {
        self.live_access
            .get(token)
            .is_some_and(|expiry| Instant::now() < *expiry)
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct Request {
    method: String,
    path: String,
    query: HashMap<String, String>,
    form: HashMap<String, String>,
}

struct Response {
    status: &'static str,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn serve(mut stream: TcpStream, state: &Mutex<State>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let Some(request) = read_request(&mut stream) else {
        return;
    };
    let response = route(&request, state);
    let mut text = format!("HTTP/1.1 {}\r\nConnection: close\r\n", response.status);
    for (name, value) in &response.headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str(&format!(
        "Content-Length: {}\r\n\r\n{}",
        response.body.len(),
        response.body
    ));
    let _ = stream.write_all(text.as_bytes());
}

fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut data = Vec::new();
    let mut buffer = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut buffer).ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buffer[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while data.len() < head_end + length {
        let n = stream.read(&mut buffer).ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buffer[..n]);
    }
    let mut request_line = head.lines().next()?.split(' ');
    let method = request_line.next()?.to_string();
    let target = request_line.next()?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Some(Request {
        method,
        path: path.to_string(),
        query: decode_form(query.as_bytes()),
        form: decode_form(&data[head_end..head_end + length]),
    })
}

fn decode_form(bytes: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

fn route(request: &Request, state: &Mutex<State>) -> Response {
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/authorize") => authorize(request, &mut lock(state)),
        ("POST", "/token") => {
            let delay = lock(state).behaviour.token_delay;
            std::thread::sleep(delay);
            token(request, &mut lock(state))
        }
        ("POST", "/device") => device(request, &mut lock(state)),
        ("POST", "/revoke") => revoke(request, &mut lock(state)),
        ("POST", "/introspect") => introspect(request, &mut lock(state)),
        _ => json("404 Not Found", "{\"error\":\"not_found\"}".into()),
    }
}

fn authorize(request: &Request, state: &mut State) -> Response {
    let query = &request.query;
    state.record.authorize_requests.push(query.clone());
    let redirect = query.get("redirect_uri").cloned().unwrap_or_default();
    let separator = if redirect.contains('?') { '&' } else { '?' };
    let state_param = query.get("state").cloned().unwrap_or_default();
    let valid = query.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && query.get("response_type").map(String::as_str) == Some("code")
        && query.get("code_challenge_method").map(String::as_str) == Some("S256")
        && query.contains_key("code_challenge");
    let answer = if !valid {
        "error=invalid_request&error_description=PKCE+S256+and+the+client+are+required".into()
    } else if state.behaviour.deny {
        "error=access_denied&error_description=The+user+said+no".into()
    } else {
        let code = format!("code-{}", next(state));
        state.codes.insert(
            code.clone(),
            (query["code_challenge"].clone(), redirect.clone()),
        );
        format!("code={code}")
    };
    let location = format!(
        "{redirect}{separator}{answer}&state={}",
        url::form_urlencoded::byte_serialize(state_param.as_bytes()).collect::<String>()
    );
    Response {
        status: "302 Found",
        headers: vec![("Location", location)],
        body: String::new(),
    }
}

fn token(request: &Request, state: &mut State) -> Response {
    let form = &request.form;
    let grant = form.get("grant_type").cloned().unwrap_or_default();
    state.record.grants.push(grant.clone());
    if state.behaviour.unavailable {
        return Response {
            status: "503 Service Unavailable",
            headers: vec![("Content-Type", "text/html".into())],
            body: "<h1>down for maintenance</h1>".into(),
        };
    }
    if form.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || form.get("client_secret") != state.behaviour.client_secret.as_ref()
    {
        return error(
            "401 Unauthorized",
            "invalid_client",
            "Unknown client or wrong secret.",
        );
    }
    match grant.as_str() {
        "authorization_code" => code_grant(form, state),
        "refresh_token" => refresh_grant(form, state),
        DEVICE_GRANT => device_grant(form, state),
        _ => error("400 Bad Request", "unsupported_grant_type", "No."),
    }
}

fn code_grant(form: &HashMap<String, String>, state: &mut State) -> Response {
    let code = form.get("code").cloned().unwrap_or_default();
    let Some((challenge, redirect)) = state.codes.remove(&code) else {
        return error("400 Bad Request", "invalid_grant", "Unknown or used code.");
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != challenge {
        return error(
            "400 Bad Request",
            "invalid_grant",
            "PKCE verification failed.",
        );
    }
    if form.get("redirect_uri") != Some(&redirect) {
        return error("400 Bad Request", "invalid_grant", "redirect_uri mismatch.");
    }
    issue(state, None)
}

fn refresh_grant(form: &HashMap<String, String>, state: &mut State) -> Response {
    let presented = form.get("refresh_token").cloned().unwrap_or_default();
    state.record.refresh_tokens_used.push(presented.clone());
    let Some(replaced) = state.refresh_tokens.get(&presented).cloned() else {
        return error(
            "400 Bad Request",
            "invalid_grant",
            "Token has been expired or revoked.",
        );
    };
    // The token it replaced is no longer needed once this one is in use.
    if let Some(replaced) = replaced {
        state.refresh_tokens.remove(&replaced);
    }
    if state.behaviour.rotate {
        issue(state, Some(presented))
    } else {
        issue_access_only(state)
    }
}

/// RFC 7009: the token (and whatever it replaced) stops working; unknown tokens are fine.
fn revoke(request: &Request, state: &mut State) -> Response {
    if let Some(token) = request.form.get("token") {
        if let Some(Some(replaced)) = state.refresh_tokens.remove(token) {
            state.refresh_tokens.remove(&replaced);
        }
    }
    json("200 OK", "{}".into())
}

/// RFC 7662: whether `token` is a live access token, and whose. Resource servers authenticate
/// to a real provider here; this one answers anyone on loopback.
fn introspect(request: &Request, state: &mut State) -> Response {
    let token = request.form.get("token").cloned().unwrap_or_default();
    state.record.introspected.push(token.clone());
    if state.behaviour.introspection_refuses || !state.is_live(&token) {
        return json("200 OK", "{\"active\":false}".into());
    }
    json(
        "200 OK",
        format!(
            "{{\"active\":true,\"username\":\"{}\",\"client_id\":\"{CLIENT_ID}\",\
             \"token_type\":\"Bearer\"}}",
            state.behaviour.subject
        ),
    )
}

fn device(request: &Request, state: &mut State) -> Response {
    if request.form.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return error("401 Unauthorized", "invalid_client", "Unknown client.");
    }
    let device_code = format!("device-{}", next(state));
    state.device_codes.insert(device_code.clone(), ());
    let body = format!(
        "{{\"device_code\":\"{device_code}\",\"user_code\":\"WDJB-MJHT\",\
         \"verification_uri\":\"{}\",\"expires_in\":60,\"interval\":{}}}",
        "https://id.example/device", state.behaviour.device_interval
    );
    json("200 OK", body)
}

fn device_grant(form: &HashMap<String, String>, state: &mut State) -> Response {
    state.record.device_polls.push(Instant::now());
    let code = form.get("device_code").cloned().unwrap_or_default();
    if !state.device_codes.contains_key(&code) {
        return error("400 Bad Request", "invalid_grant", "Unknown device code.");
    }
    match state.behaviour.device_answers.pop_front() {
        Some(answer) => error("400 Bad Request", answer, "Scripted answer."),
        None => {
            state.device_codes.remove(&code);
            issue(state, None)
        }
    }
}

fn issue(state: &mut State, replacing: Option<String>) -> Response {
    let refresh = format!("refresh-{}", next(state));
    state.refresh_tokens.insert(refresh.clone(), replacing);
    let access = new_access_token(state);
    json(
        "200 OK",
        format!(
            "{{\"access_token\":\"{access}\",\"token_type\":\"Bearer\",\"expires_in\":{},\
             \"refresh_token\":\"{refresh}\"}}",
            state.behaviour.expires_in
        ),
    )
}

fn issue_access_only(state: &mut State) -> Response {
    let access = new_access_token(state);
    json(
        "200 OK",
        format!(
            "{{\"access_token\":\"{access}\",\"token_type\":\"Bearer\",\"expires_in\":{}}}",
            state.behaviour.expires_in
        ),
    )
}

fn new_access_token(state: &mut State) -> String {
    let access = format!("access-{}", next(state));
    state.record.access_tokens.push(access.clone());
    let lifetime = Duration::from_secs(state.behaviour.expires_in);
    state
        .live_access
        .insert(access.clone(), Instant::now() + lifetime);
    access
}

fn next(state: &mut State) -> u64 {
    state.serial += 1;
    state.serial
}

fn error(status: &'static str, code: &str, description: &str) -> Response {
    json(
        status,
        format!("{{\"error\":\"{code}\",\"error_description\":\"{description}\"}}"),
    )
}

fn json(status: &'static str, body: String) -> Response {
    Response {
        status,
        headers: vec![
            ("Content-Type", "application/json".into()),
            ("Cache-Control", "no-store".into()),
        ],
        body,
    }
}
