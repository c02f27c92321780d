//! A fake Gmail API on 127.0.0.1, written from Google's published reference: users.messages.import
//! (uploadType multipart, media and resumable, with its query parameters), users.labels list and
//! create, users.getProfile, Google's error bodies, bearer tokens checked with the tests' OAuth
//! server, Gmail's de-duplication by Message-ID, and faults on demand. It records every request
//! and every message exactly as received.

mod api;
mod http;
mod resumable;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::harness::fake::BearerCheck;
use http::{Answer, BodyError, Connection, Head};

/// The largest request body the server reads (Gmail's own limit for an imported message is
/// 150 MB; the rest is room for the multipart framing).
pub const BODY_LIMIT: usize = 200 * 1024 * 1024;

/// How long a connection may stay silent, between or within requests.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// What one request meets instead of its ordinary answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// 401 with Google's `authError` body, even for a valid token.
    Unauthorized,
    /// 429 `rateLimitExceeded` with `Retry-After: seconds`.
    RateLimited { retry_after: u64 },
    /// 403 with this reason (`dailyLimitExceeded`, `userRateLimitExceeded`,
    /// `rateLimitExceeded`, `insufficientPermissions`, `domainPolicy`, ...).
    Forbidden(&'static str),
    /// 500 or 503 `backendError`.
    ServerError(u16),
    /// Reads this many octets of the body (keeping them, for an upload session), then
    /// breaks the connection without an answer.
    DropMidBody(usize),
    /// Does the work (an import is stored), then breaks the connection without an answer.
    DropAnswer,
    /// Waits this long, then answers as usual.
    Slow(Duration),
    /// Does the work (an import is stored), then holds the answer back this long: a window in
    /// which the client can be killed with its message imported but no id received.
    StoreThenStall(Duration),
}

/// How the server behaves; change it while it runs with [`GmailServer::with`].
pub struct Behaviour {
    /// The mailbox's address: the answer of users.getProfile, and a user id accepted besides
    /// `me`.
    pub address: &'static str,
    /// Faults the next requests to users.messages.import (any uploadType, including the POST
    /// that starts a resumable session) meet, one each, in order.
    pub import_faults: VecDeque<Fault>,
    /// Faults the next PUTs to a resumable upload session meet.
    pub upload_faults: VecDeque<Fault>,
    /// Faults the next requests to users.labels (list or create) meet.
    pub label_faults: VecDeque<Fault>,
    /// After this many imports answered with an id, every later import meets 403
    /// `limit_reason` (a daily limit running out in the middle of a run).
    pub limit_after: Option<usize>,
    pub limit_reason: &'static str,
    /// A message whose header section holds this line is refused with 400 `invalidArgument`
    /// and `refusal` as the message.
    pub refuse_marker: &'static str,
    pub refusal: &'static str,
    /// A message whose header section holds this line is classified as spam: SPAM instead of
    /// INBOX, unless the import says `neverMarkSpam=true`.
    pub spam_marker: &'static str,
    /// Someone else creates a label of this name right after the next labels.list is
    /// answered: the client's create that follows meets 409.
    pub label_race: Option<String>,
    /// Every answer waits this long.
    pub delay: Duration,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            address: "me@gmail.com",
            import_faults: VecDeque::new(),
            upload_faults: VecDeque::new(),
            label_faults: VecDeque::new(),
            limit_after: None,
            limit_reason: "dailyLimitExceeded",
            refuse_marker: "X-Test-Refuse: yes",
            refusal: "Message rejected: its attachment type is blocked for security reasons.",
            spam_marker: "X-Test-Spam: yes",
            label_race: None,
            delay: Duration::ZERO,
        }
    }
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    /// Header fields by lower-case name.
    pub headers: BTreeMap<String, String>,
    /// The octets of body read (all of it, unless the request was broken off).
    pub body_len: usize,
    /// The status answered; 0 when the connection was broken off instead.
    pub status: u16,
    /// When the answer was ready (or the connection was broken off).
    pub at: Instant,
}

/// A message Gmail holds after an import.
#[derive(Clone, Debug)]
pub struct Stored {
    pub id: String,
    pub thread_id: String,
    /// The message exactly as uploaded.
    pub bytes: Vec<u8>,
    /// The labels it carries, system labels (INBOX, UNREAD, SPAM) and label ids.
    pub label_ids: Vec<String>,
    /// The query parameters of the import, as sent (absent: `None`).
    pub internal_date_source: Option<String>,
    pub never_mark_spam: Option<String>,
    pub process_for_calendar: Option<String>,
    pub deleted: Option<String>,
    /// `multipart`, `media`, `resumable`, or `raw` (metadata only).
    pub upload_type: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub id: String,
    pub name: String,
    /// `system` or `user`.
    pub kind: &'static str,
}

/// What the server saw and holds.
#[derive(Default)]
pub struct Record {
    pub requests: Vec<Seen>,
    pub messages: Vec<Stored>,
    /// Imports answered with an existing message's id because it carried a Message-ID the
    /// mailbox already held.
    pub duplicates: usize,
}

struct State {
    behaviour: Behaviour,
    record: Record,
    labels: Vec<Label>,
    /// Message-ID → the id of the message holding it.
    message_ids: HashMap<String, String>,
    sessions: HashMap<String, resumable::Session>,
    /// Imports answered with an id (stored or de-duplicated).
    imported: usize,
    serial: u64,
    base_url: String,
}

struct Shared {
    state: Mutex<State>,
    token_check: BearerCheck,
}

pub struct GmailServer {
    address: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
    thread: Option<JoinHandle<()>>,
}

impl GmailServer {
    /// Starts the server; `token_check` says which bearer tokens are valid (see
    /// `OAuthServer::token_check`).
    pub fn start(token_check: BearerCheck, behaviour: Behaviour) -> GmailServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the Gmail server");
        let address = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                behaviour,
                record: Record::default(),
                labels: api::system_labels(),
                message_ids: HashMap::new(),
                sessions: HashMap::new(),
                imported: 0,
                serial: 0,
                base_url: format!("http://{address}"),
            }),
            token_check,
        });
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (shared, stop, connections) = (shared.clone(), stop.clone(), connections.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    if let Ok(clone) = stream.try_clone() {
                        lock(&connections).push(clone);
                    }
                    let shared = shared.clone();
                    std::thread::spawn(move || serve(stream, &shared));
                }
            })
        };
        GmailServer {
            address,
            shared,
            stop,
            connections,
            thread: Some(thread),
        }
    }

    /// The `api_url` of a destination using this server.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Changes the behaviour while running.
    pub fn with(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut lock(&self.shared.state).behaviour);
    }

    /// Reads what the server recorded.
    pub fn record<T>(&self, read: impl FnOnce(&Record) -> T) -> T {
        read(&lock(&self.shared.state).record)
    }

    /// The messages the mailbox holds, in the order they were imported.
    pub fn messages(&self) -> Vec<Stored> {
        self.record(|r| r.messages.clone())
    }

    /// The requests whose path ends with `suffix`, in order.
    pub fn requests_to(&self, suffix: &str) -> Vec<Seen> {
        self.record(|r| {
            r.requests
                .iter()
                .filter(|seen| seen.path.ends_with(suffix))
                .cloned()
                .collect()
        })
    }

    pub fn labels(&self) -> Vec<Label> {
        lock(&self.shared.state).labels.clone()
    }

    /// The id of the label called `name` (Gmail compares label names without case).
    pub fn label_id(&self, name: &str) -> Option<String> {
        api::find_label(&lock(&self.shared.state).labels, name).map(|label| label.id.clone())
    }

    /// Creates a user label, as if the user had made it in Gmail; returns its id.
    pub fn add_label(&self, name: &str) -> String {
        api::add_user_label(&mut lock(&self.shared.state), name)
    }

    /// Stops listening and breaks every open connection.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.address);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        for stream in lock(&self.connections).drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Drop for GmailServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Which fault queue a request draws from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Import,
    Upload,
    Labels,
    Other,
}

fn endpoint(head: &Head) -> Endpoint {
    if head.path.ends_with("/messages/import") {
        if head.method == "PUT" {
            Endpoint::Upload
        } else {
            Endpoint::Import
        }
    } else if head.path.ends_with("/labels") {
        Endpoint::Labels
    } else {
        Endpoint::Other
    }
}

/// Serves one connection's requests until the client closes it or a fault breaks it.
fn serve(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let mut connection = Connection::new(stream);
    while let Some(head) = connection.read_head() {
        let endpoint = endpoint(&head);
        // A session URI is its own credential (Google's resumable protocol): PUTs to it are
        // served whatever token they carry.
        let authorised = endpoint == Endpoint::Upload || authorised(&head, shared);
        let (fault, delay) = {
            let mut state = lock(&shared.state);
            let fault = authorised.then(|| next_fault(&mut state.behaviour, endpoint));
            (fault.flatten(), state.behaviour.delay)
        };
        if let Some(Fault::DropMidBody(count)) = fault {
            let prefix = connection.read_body_prefix(&head, count);
            if endpoint == Endpoint::Upload {
                resumable::keep_partial_upload(&mut lock(&shared.state), &head, &prefix);
            }
            record(shared, &head, prefix.len(), 0);
            connection.break_off();
            return;
        }
        let body = match connection.read_body(&head, BODY_LIMIT) {
            Ok(body) => body,
            Err(BodyError::TooLarge) => {
                let answer = api::error(413, "uploadTooLarge", "Request Too Large");
                record(shared, &head, 0, 413);
                let _ = connection.write(&answer, true);
                return;
            }
            Err(BodyError::Broken) => {
                record(shared, &head, 0, 0);
                return;
            }
        };
        std::thread::sleep(delay);
        let answer = match (&fault, authorised) {
            (_, false) => api::unauthorised(),
            (Some(Fault::Slow(pause)), _) => {
                std::thread::sleep(*pause);
                route(shared, &head, &body)
            }
            (Some(Fault::StoreThenStall(pause)), _) => {
                let answer = route(shared, &head, &body);
                std::thread::sleep(*pause);
                answer
            }
            (Some(fault), _) if fault != &Fault::DropAnswer => api::fault_answer(fault),
            _ => route(shared, &head, &body),
        };
        if fault == Some(Fault::DropAnswer) {
            record(shared, &head, body.len(), 0);
            connection.break_off();
            return;
        }
        record(shared, &head, body.len(), answer.status);
        let close = head.wants_close() || answer.status == 413;
        if connection.write(&answer, close).is_err() || close {
            return;
        }
    }
}

fn authorised(head: &Head, shared: &Shared) -> bool {
    head.header("authorization")
        .and_then(|value| value.strip_prefix("Bearer "))
        .is_some_and(|token| (shared.token_check)(token.trim()))
}

fn next_fault(behaviour: &mut Behaviour, endpoint: Endpoint) -> Option<Fault> {
    match endpoint {
        Endpoint::Import => behaviour.import_faults.pop_front(),
        Endpoint::Upload => behaviour.upload_faults.pop_front(),
        Endpoint::Labels => behaviour.label_faults.pop_front(),
        Endpoint::Other => None,
    }
}

fn route(shared: &Shared, head: &Head, body: &[u8]) -> Answer {
    api::route(&mut lock(&shared.state), head, body)
}

fn record(shared: &Shared, head: &Head, body_len: usize, status: u16) {
    let seen = Seen {
        method: head.method.clone(),
        path: head.path.clone(),
        query: head.query.iter().cloned().collect(),
        headers: head.headers.iter().cloned().collect(),
        body_len,
        status,
        at: Instant::now(),
    };
    lock(&shared.state).record.requests.push(seen);
}
