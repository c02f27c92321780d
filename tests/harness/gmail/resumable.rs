//! Resumable uploads to the fake Gmail API, as Google's resumable protocol has them: a POST
//! opens a session and answers its URI in `Location`; PUTs carry the message (all of it, or
//! from an offset with `Content-Range`); `Content-Range: bytes */N` asks what arrived (308 with
//! `Range`); the last octet completes the import, whose answer a later query gets again.

use serde_json::Value;

use super::api::{
    error, invalid_json, label_ids, media_type, next, not_found, store, ImportParams,
};
use super::http::{Answer, Head};
use super::State;

/// A resumable upload in progress: what the POST that started it said, and the octets
/// received so far.
pub(super) struct Session {
    params: ImportParams,
    label_ids: Vec<String>,
    /// `X-Upload-Content-Length`, when the client announced it.
    announced: Option<usize>,
    received: Vec<u8>,
    /// The answer once the upload completed: asking again gets it again.
    finished: Option<Value>,
}

/// The POST that opens a resumable session: metadata (possibly empty) in the body, the
/// message's type and length announced in `X-Upload-Content-*`.
pub(super) fn start_session(
    state: &mut State,
    head: &Head,
    body: &[u8],
    params: ImportParams,
) -> Answer {
    let metadata = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(body) {
            Ok(value) => value,
            Err(_) => return invalid_json("the metadata"),
        }
    };
    let label_ids = match label_ids(&metadata) {
        Ok(ids) => ids,
        Err(answer) => return answer,
    };
    if let Err(answer) = media_type(head.header("x-upload-content-type")) {
        return answer;
    }
    let announced = match head.header("x-upload-content-length").map(str::parse) {
        None => None,
        Some(Ok(length)) => Some(length),
        Some(Err(_)) => return error(400, "invalidArgument", "Invalid X-Upload-Content-Length"),
    };
    let upload_id = format!("session-{}", next(state));
    let mut location = url::Url::parse(&format!("{}{}", state.base_url, head.path)).unwrap();
    location
        .query_pairs_mut()
        .extend_pairs(head.query.iter().filter(|(name, _)| name != "upload_id"))
        .append_pair("upload_id", &upload_id);
    state.sessions.insert(
        upload_id.clone(),
        Session {
            params,
            label_ids,
            announced,
            received: Vec::new(),
            finished: None,
        },
    );
    Answer {
        status: 200,
        headers: vec![("X-GUploader-UploadID", upload_id.clone())],
        body: Vec::new(),
    }
    .with_header("Location", location.to_string())
}

/// A `Content-Range` of a PUT to a session: `bytes */N` (a status query), `bytes a-b/N` or
/// `bytes a-b/*` (octets from `a` on). `None` when absent: the body is the whole message.
enum ContentRange {
    Query { total: usize },
    From { first: usize, total: Option<usize> },
}

fn content_range(head: &Head) -> Result<Option<ContentRange>, Answer> {
    let Some(value) = head.header("content-range") else {
        return Ok(None);
    };
    let bad = || {
        error(
            400,
            "badRequest",
            &format!("Invalid Content-Range: {value}"),
        )
    };
    let spec = value.strip_prefix("bytes ").ok_or_else(bad)?;
    let (range, total) = spec.split_once('/').ok_or_else(bad)?;
    let total = match total {
        "*" => None,
        number => Some(number.parse().map_err(|_| bad())?),
    };
    if range == "*" {
        return Ok(Some(ContentRange::Query {
            total: total.ok_or_else(bad)?,
        }));
    }
    let (first, _) = range.split_once('-').ok_or_else(bad)?;
    Ok(Some(ContentRange::From {
        first: first.parse().map_err(|_| bad())?,
        total,
    }))
}

fn session_id(head: &Head) -> Option<String> {
    head.param("upload_id").map(str::to_string)
}

/// Octets a broken-off PUT delivered before the connection failed: kept, as Google keeps what
/// reached it, for the client to find with a status query.
pub(super) fn keep_partial_upload(state: &mut State, head: &Head, prefix: &[u8]) {
    let Ok(range) = content_range(head) else {
        return;
    };
    let first = match range {
        Some(ContentRange::Query { .. }) => return,
        Some(ContentRange::From { first, .. }) => first,
        None => 0,
    };
    let Some(session) = session_id(head).and_then(|id| state.sessions.get_mut(&id)) else {
        return;
    };
    if session.finished.is_none() && first <= session.received.len() {
        session.received.truncate(first);
        session.received.extend_from_slice(prefix);
    }
}

/// A PUT to a session: octets of the message, or a status query.
pub(super) fn upload(state: &mut State, head: &Head, body: &[u8]) -> Answer {
    let Some(id) = session_id(head) else {
        return error(400, "badRequest", "No upload_id");
    };
    let range = match content_range(head) {
        Ok(range) => range,
        Err(answer) => return answer,
    };
    let Some(session) = state.sessions.get_mut(&id) else {
        return not_found("the upload session");
    };
    if let Some(done) = &session.finished {
        return Answer::json(200, done);
    }
    let (first, total) = match range {
        Some(ContentRange::Query { total }) => {
            if session
                .announced
                .is_some_and(|announced| announced != total)
            {
                return error(
                    400,
                    "badRequest",
                    "The total differs from X-Upload-Content-Length",
                );
            }
            return incomplete(session.received.len());
        }
        Some(ContentRange::From { first, total }) => (first, total),
        None => (0, Some(body.len())),
    };
    if first > session.received.len() {
        return error(
            400,
            "badRequest",
            &format!(
                "Invalid request. According to the Content-Range header, the upload offset is {first} byte(s), which exceeds already uploaded size of {} byte(s).",
                session.received.len()
            ),
        );
    }
    let total = total.or(session.announced);
    if let (Some(total), Some(announced)) = (total, session.announced) {
        if total != announced {
            return error(
                400,
                "badRequest",
                "The total differs from X-Upload-Content-Length",
            );
        }
    }
    session.received.truncate(first);
    session.received.extend_from_slice(body);
    match total {
        Some(total) if session.received.len() > total => {
            error(400, "badRequest", "More octets than the announced total")
        }
        Some(total) if session.received.len() == total => finish(state, &id),
        _ => incomplete(session.received.len()),
    }
}

fn finish(state: &mut State, id: &str) -> Answer {
    let session = state.sessions.get_mut(id).unwrap();
    let params = session.params.clone();
    let label_ids = session.label_ids.clone();
    let message = std::mem::take(&mut session.received);
    match store(state, &params, label_ids, message) {
        Ok(value) => {
            state.sessions.get_mut(id).unwrap().finished = Some(value.clone());
            Answer::json(200, &value)
        }
        Err(answer) => {
            // A refused message ends the session, as Google's do.
            state.sessions.remove(id);
            answer
        }
    }
}

/// 308: the upload goes on; `Range` says what arrived (none when nothing did).
fn incomplete(received: usize) -> Answer {
    let answer = Answer {
        status: 308,
        headers: Vec::new(),
        body: Vec::new(),
    };
    if received == 0 {
        answer
    } else {
        answer.with_header("Range", format!("bytes=0-{}", received - 1))
    }
}
