//! The Gmail API calls an import makes — `users.labels.list`, `users.labels.create` and
//! `users.messages.import` (multipart, or resumable above 5 MB) — each answer sorted into what
//! popget does about it: retried (a refused token once, rate limits and server errors with
//! backoff, bounded), or a failure of this run, of this message, or of the login.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::Deserialize;
use ureq::http::Response;
use ureq::Body;

use crate::account::GmailTarget;
use crate::credentials::Secret;

/// Messages up to this size go in one multipart request; larger ones in a resumable upload.
pub(super) const MULTIPART_LIMIT: u64 = 5 * 1024 * 1024;
/// Error bodies, label lists and message resources are small; anything far larger is not one.
const LARGEST_ANSWER: u64 = 4 << 20;
/// Retries after a dropped connection or a server error (5xx).
const SERVER_RETRIES: u32 = 4;
/// Retries after a rate limit (429, 403 rateLimitExceeded), and the longest all of them wait.
const RATE_RETRIES: u32 = 8;
const LONGEST_RATE_WAIT: Duration = Duration::from_secs(300);
/// The first backoff; each retry waits twice as long, plus up to this much again at random.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// Why a call failed, in popget's terms.
#[derive(Debug)]
pub(super) enum Failed {
    /// Nothing wrong with the message or the login: a later run should try again (75).
    Later(String),
    /// Gmail refuses this message for good (73); later messages may be imported.
    Refused(String),
    /// The login is refused or lacks a scope (77).
    Login(String),
    /// An answer that is not the API's (76).
    Protocol(String),
}

/// What kind of request a call sends, which decides how it is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Call {
    /// An import: waits for its turn (the pacing), sent again after a dropped connection or
    /// a server error.
    Import,
    /// The message's bytes to a resumable session: after a dropped connection or a server
    /// error the caller asks where the upload stands rather than send the same bytes again.
    Upload,
    /// Anything else (labels, an upload's status): sent again after a dropped connection or a
    /// server error.
    Other,
}

/// A successful answer (or one the caller handles itself: 308, 409).
pub(super) struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub range_end: Option<u64>,
    pub body: Vec<u8>,
}

/// Google's error body: `{"error": {"code", "message", "errors": [{"reason", ...}], "status"}}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Vec<ErrorItem>,
    #[serde(default)]
    status: String,
}

#[derive(Deserialize)]
struct ErrorItem {
    #[serde(default)]
    reason: String,
}

/// A Gmail address and its pacer.
type Paced = (String, Arc<Pacer>);

/// Builds one request, given the Authorization header's value, and sends it.
pub(super) type Request<'a> =
    dyn FnMut(&ureq::Agent, &str) -> Result<Response<Body>, ureq::Error> + 'a;

/// Spaces imports out to at most a number per second, shared by every account that imports
/// into one Gmail mailbox in this process.
struct Pacer {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Pacer {
    /// The pacer of `address`, made on first use.
    fn of(address: &str, per_second: u32) -> Arc<Pacer> {
        static PACERS: OnceLock<Mutex<Vec<Paced>>> = OnceLock::new();
        let mut pacers = PACERS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some((_, pacer)) = pacers.iter().find(|(name, _)| name == address) {
            return pacer.clone();
        }
        let pacer = Arc::new(Pacer {
            interval: Duration::from_secs(1) / per_second.max(1),
            next: Mutex::new(Instant::now()),
        });
        pacers.push((address.to_string(), pacer.clone()));
        pacer
    }

    /// Waits for this import's turn.
    fn wait(&self) {
        // Held while sleeping: the next caller's turn comes after this one's.
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if *next > now {
            std::thread::sleep(*next - now);
        }
        *next = (*next).max(now) + self.interval;
    }
}

/// A client of one Gmail mailbox's API.
pub(super) struct Api {
    agent: ureq::Agent,
    target: GmailTarget,
    token: Mutex<Secret>,
    pacer: Arc<Pacer>,
    trace: Mutex<Option<crate::pop3::Tracer>>,
}

impl Api {
    /// A client that logs in with the target's saved OAuth tokens (refreshed if stale).
    pub(super) fn new(
        target: &GmailTarget,
        trace: Option<crate::pop3::Tracer>,
    ) -> Result<Api, crate::error::Error> {
        let token = target.oauth.access_token()?;
        let agent = crate::credentials::oauth::agent_config()
            .timeout_connect(Some(target.timeout))
            .timeout_recv_response(Some(target.timeout))
            .timeout_recv_body(Some(target.timeout))
            .timeout_send_body(Some(target.timeout))
            .build()
            .new_agent();
        Ok(Api {
            agent,
            pacer: Pacer::of(&target.address, target.imports_per_second),
            target: target.clone(),
            token: Mutex::new(token),
            trace: Mutex::new(trace),
        })
    }

    fn trace(&self, line: &str) {
        let mut trace = self.trace.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(trace) = trace.as_mut() {
            trace(line);
        }
    }

    /// `{api_url}/{path}`.
    pub(super) fn url(&self, path: &str) -> String {
        format!(
            "{}/{path}",
            self.target.api_url.as_str().trim_end_matches('/')
        )
    }

    /// Whether `location` (a resumable session) is on the API's own server: only there does
    /// the token go.
    pub(super) fn same_origin(&self, location: &str) -> bool {
        url::Url::parse(location).is_ok_and(|url| url.origin() == self.target.api_url.origin())
    }

    /// Sends what `request` builds (given the Authorization header's value) until it succeeds
    /// or fails for good: a refused token is refreshed once; rate limits, and (as `kind`
    /// allows) dropped connections and server errors, are retried with backoff, a bounded
    /// number of times.
    pub(super) fn call(
        &self,
        what: &str,
        kind: Call,
        request: &mut Request,
    ) -> Result<Answer, Failed> {
        let resend = kind != Call::Upload;
        let mut refreshed = false;
        let (mut server_retries, mut rate_retries) = (0, 0);
        let mut rate_waited = Duration::ZERO;
        loop {
            if kind == Call::Import {
                self.pacer.wait();
            }
            let token = self.token.lock().unwrap_or_else(|p| p.into_inner()).clone();
            self.trace(what);
            let answer =
                request(&self.agent, &format!("Bearer {}", token.expose())).and_then(read_answer);
            let answer = match answer {
                Ok(answer) => answer,
                Err(error) => {
                    self.trace(&format!("no answer: {error}"));
                    if resend && server_retries < SERVER_RETRIES {
                        server_retries += 1;
                        std::thread::sleep(backoff(server_retries));
                        continue;
                    }
                    return Err(Failed::Later(format!(
                        "the Gmail API at {} did not answer ({what}): {error}",
                        self.host()
                    )));
                }
            };
            let status = answer.0.status;
            self.trace(&format!("HTTP {status}"));
            if matches!(status, 200..=299 | 308 | 409) {
                return Ok(answer.0);
            }
            let (reason, message) = error_of(&answer.0.body);
            let said = if reason.is_empty() {
                message.clone()
            } else {
                format!("{message} ({reason})")
            };
            match (status, reason.as_str()) {
                (401, _) if !refreshed => {
                    refreshed = true;
                    let fresh = self
                        .target
                        .oauth
                        .token_after_rejection(&token)
                        .map_err(|e| Failed::Login(e.to_string()))?;
                    *self.token.lock().unwrap_or_else(|p| p.into_inner()) = fresh;
                }
                (401, _) => {
                    return Err(Failed::Login(format!(
                        "Gmail refused the login of {} twice: {said}; run `popget login {}`",
                        self.target.address, self.target.name
                    )))
                }
                (429, _) | (403, "rateLimitExceeded" | "userRateLimitExceeded") => {
                    let wait = answer
                        .1
                        .unwrap_or(Duration::ZERO)
                        .max(backoff(rate_retries + 1));
                    if rate_retries >= RATE_RETRIES || rate_waited + wait > LONGEST_RATE_WAIT {
                        return Err(Failed::Later(format!(
                            "Gmail still limits the rate of {} after {rate_retries} waits: {said}",
                            self.target.address
                        )));
                    }
                    rate_retries += 1;
                    rate_waited += wait;
                    self.trace(&format!("rate limited: waiting {} ms", wait.as_millis()));
                    std::thread::sleep(wait);
                }
                (403, "dailyLimitExceeded" | "quotaExceeded") => {
                    return Err(Failed::Later(format!(
                        "Gmail's daily limit for {} is used up: {said}; the rest stays on the \
                         server for a later run",
                        self.target.address
                    )))
                }
                (403, _) => {
                    return Err(Failed::Login(format!(
                        "Gmail refused access to {}: {said}; `popget login {}` asks for the \
                         scopes an import needs",
                        self.target.address, self.target.name
                    )))
                }
                (400, _) => return Err(Failed::Refused(said)),
                (500..=599, _) if resend && server_retries < SERVER_RETRIES => {
                    server_retries += 1;
                    std::thread::sleep(backoff(server_retries));
                }
                (500..=599, _) => {
                    return Err(Failed::Later(format!(
                        "the Gmail API answered HTTP {status} {retries} times ({what}): {said}",
                        retries = server_retries + 1
                    )))
                }
                _ => {
                    return Err(Failed::Protocol(format!(
                        "the Gmail API answered HTTP {status} ({what}): {said}"
                    )))
                }
            }
        }
    }

    fn host(&self) -> &str {
        self.target.api_url.host_str().unwrap_or_default()
    }
}

/// The answer's status, headers that matter and body, and how long `Retry-After` asks to
/// wait.
fn read_answer(mut response: Response<Body>) -> Result<(Answer, Option<Duration>), ureq::Error> {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string)
    };
    let retry_after = header("retry-after")
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(|seconds| Duration::from_secs(seconds.min(3600)));
    let location = header("location");
    // `Range: bytes=0-K` of a resumable upload: K + 1 octets arrived.
    let range_end =
        header("range").and_then(|range| range.rsplit('-').next()?.trim().parse::<u64>().ok());
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(LARGEST_ANSWER)
        .read_to_vec()?;
    Ok((
        Answer {
            status,
            location,
            range_end,
            body,
        },
        retry_after,
    ))
}

/// The reason and message of Google's error body, or what can be said of another body.
fn error_of(body: &[u8]) -> (String, String) {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(parsed) => {
            let error = parsed.error;
            let reason = error
                .errors
                .into_iter()
                .map(|item| item.reason)
                .find(|reason| !reason.is_empty())
                .unwrap_or(error.status);
            let message = if error.message.is_empty() {
                "no message".to_string()
            } else {
                error.message
            };
            (sanitize(&reason), sanitize(&message))
        }
        Err(_) => (
            String::new(),
            "an answer that is not Google's error body".into(),
        ),
    }
}

/// A server's text made safe for one line of the terminal, and short.
fn sanitize(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(300).collect()
}

/// The wait before retry `attempt` (1, 2, ...): doubling from [`FIRST_BACKOFF`], capped at a
/// minute, plus as much again at most at random, so that accounts do not retry in step.
fn backoff(attempt: u32) -> Duration {
    let base = FIRST_BACKOFF
        .saturating_mul(1 << attempt.saturating_sub(1).min(8))
        .min(Duration::from_secs(60));
    let mut random = [0u8; 2];
    let _ = getrandom::fill(&mut random);
    let jitter = u32::from(u16::from_le_bytes(random)) as f64 / f64::from(u16::MAX);
    base + base.mul_f64(jitter)
}

/// Reads a spooled message (LF line ends) as the API receives it: `prefix` (a header popget
/// adds) then the message with CRLF line ends, from octet `skip` of that on.
pub(super) struct CrlfReader<'a> {
    spool: &'a mut std::fs::File,
    encoder: popget_imap::CrlfEncoder,
    pending: Vec<u8>,
    offset: usize,
    skip: u64,
}

impl<'a> CrlfReader<'a> {
    pub(super) fn new(
        spool: &'a mut std::fs::File,
        prefix: &[u8],
        skip: u64,
    ) -> io::Result<CrlfReader<'a>> {
        spool.seek(SeekFrom::Start(0))?;
        Ok(CrlfReader {
            spool,
            encoder: popget_imap::CrlfEncoder::default(),
            pending: prefix.to_vec(),
            offset: 0,
            skip,
        })
    }
}

impl Read for CrlfReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.offset < self.pending.len() {
                let available = &self.pending[self.offset..];
                let skipped = (self.skip.min(available.len() as u64)) as usize;
                if skipped > 0 {
                    self.skip -= skipped as u64;
                    self.offset += skipped;
                    continue;
                }
                let n = available.len().min(buf.len());
                buf[..n].copy_from_slice(&available[..n]);
                self.offset += n;
                return Ok(n);
            }
            let mut raw = [0u8; 64 * 1024];
            let n = self.spool.read(&mut raw)?;
            if n == 0 {
                return Ok(0);
            }
            self.pending.clear();
            self.offset = 0;
            self.encoder.encode(&raw[..n], &mut self.pending);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_error_bodies_give_reason_and_message() {
        let body = br#"{"error": {"code": 429, "message": "Too many\nrequests",
            "errors": [{"domain": "usageLimits", "reason": "rateLimitExceeded"}],
            "status": "RESOURCE_EXHAUSTED"}}"#;
        assert_eq!(
            error_of(body),
            ("rateLimitExceeded".into(), "Too manyrequests".into())
        );
        let status_only =
            br#"{"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}}"#;
        assert_eq!(error_of(status_only).0, "INVALID_ARGUMENT");
        assert_eq!(error_of(b"<html>").0, "");
    }

    #[test]
    fn the_pacer_spaces_imports_and_is_shared_by_address() {
        let pacer = Pacer::of("pacer-test@example.org", 20);
        assert!(Arc::ptr_eq(
            &pacer,
            &Pacer::of("pacer-test@example.org", 20)
        ));
        let started = Instant::now();
        for _ in 0..5 {
            pacer.wait();
        }
        // The first goes at once, each of the other four 50 ms after the one before.
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(195), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
    }

    #[test]
    fn backoff_doubles_and_is_bounded() {
        for attempt in 1..40 {
            let wait = backoff(attempt);
            let base = FIRST_BACKOFF
                .saturating_mul(1 << (attempt - 1).min(8))
                .min(Duration::from_secs(60));
            assert!(wait >= base && wait <= base * 2, "{attempt}: {wait:?}");
        }
    }

    #[test]
    fn the_crlf_reader_converts_prefixes_and_skips() {
        let mut spool = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut spool, b"a\nb\r\nc\n").unwrap();
        let read = |spool: &mut std::fs::File, skip| {
            let mut out = Vec::new();
            CrlfReader::new(spool, b"X: 1\r\n", skip)
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            out
        };
        assert_eq!(read(&mut spool, 0), b"X: 1\r\na\r\nb\r\nc\r\n");
        assert_eq!(read(&mut spool, 7), b"\r\nb\r\nc\r\n");
    }
}
