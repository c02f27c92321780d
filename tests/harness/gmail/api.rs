//! The fake Gmail API's endpoints: users.labels.list and create, users.getProfile,
//! users.messages.import in its four forms (multipart, media, resumable in resumable.rs, and
//! metadata with a `raw` message), storing with de-duplication, and Google's error bodies.

use serde_json::{json, Value};

use super::http::{Answer, Head};
use super::resumable;
use super::{Fault, Label, State, Stored};

/// Gmail's largest imported message.
const MESSAGE_LIMIT: usize = 150 * 1024 * 1024;

const SYSTEM_LABELS: &[&str] = &[
    "CHAT",
    "SENT",
    "INBOX",
    "IMPORTANT",
    "TRASH",
    "DRAFT",
    "SPAM",
    "CATEGORY_FORUMS",
    "CATEGORY_UPDATES",
    "CATEGORY_PERSONAL",
    "CATEGORY_PROMOTIONS",
    "CATEGORY_SOCIAL",
    "STARRED",
    "UNREAD",
];

/// The query parameters users.messages.import knows, besides the standard ones.
const IMPORT_PARAMETERS: &[&str] = &[
    "uploadType",
    "internalDateSource",
    "neverMarkSpam",
    "processForCalendar",
    "deleted",
    "upload_id",
];

/// Parameters every Google API accepts.
const STANDARD_PARAMETERS: &[&str] = &["alt", "fields", "prettyPrint", "key", "quotaUser"];

pub fn system_labels() -> Vec<Label> {
    SYSTEM_LABELS
        .iter()
        .map(|name| Label {
            id: name.to_string(),
            name: name.to_string(),
            kind: "system",
        })
        .collect()
}

pub fn find_label<'a>(labels: &'a [Label], name: &str) -> Option<&'a Label> {
    labels
        .iter()
        .find(|label| label.name.to_lowercase() == name.to_lowercase())
}

pub fn add_user_label(state: &mut State, name: &str) -> String {
    let id = format!("Label_{}", next(state));
    state.labels.push(Label {
        id: id.clone(),
        name: name.to_string(),
        kind: "user",
    });
    id
}

/// The query parameters of one import, as sent.
#[derive(Clone)]
pub(super) struct ImportParams {
    upload_type: String,
    internal_date_source: Option<String>,
    never_mark_spam: Option<String>,
    process_for_calendar: Option<String>,
    deleted: Option<String>,
}

pub fn route(state: &mut State, head: &Head, body: &[u8]) -> Answer {
    let Some((user, resource)) = split_path(&head.path) else {
        return not_found(&head.path);
    };
    if user != "me" && user != state.behaviour.address {
        return error(403, "forbidden", &format!("Delegation denied for {user}"));
    }
    match (head.method.as_str(), resource) {
        ("GET", "profile") => profile(state),
        ("GET", "labels") => list_labels(state),
        ("POST", "labels") => create_label(state, body),
        ("POST", "messages/import") => import_request(state, head, body),
        ("PUT", "messages/import") if head.path.starts_with("/upload/") => {
            resumable::upload(state, head, body)
        }
        (_, "profile" | "labels" | "messages/import") => error(
            405,
            "methodNotAllowed",
            &format!("Method {} is not allowed here", head.method),
        ),
        _ => not_found(&head.path),
    }
}

/// `/gmail/v1/users/{user}/{resource}` or `/upload/gmail/v1/users/{user}/{resource}`.
fn split_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/upload").unwrap_or(path);
    let rest = rest.strip_prefix("/gmail/v1/users/")?;
    rest.split_once('/')
}

fn profile(state: &State) -> Answer {
    Answer::json(
        200,
        &json!({
            "emailAddress": state.behaviour.address,
            "messagesTotal": state.record.messages.len(),
            "threadsTotal": state.record.messages.len(),
            "historyId": state.serial.to_string(),
        }),
    )
}

fn label_json(label: &Label) -> Value {
    let mut value = json!({ "id": label.id, "name": label.name, "type": label.kind });
    if label.kind == "user" {
        value["messageListVisibility"] = json!("show");
        value["labelListVisibility"] = json!("labelShow");
    }
    value
}

fn list_labels(state: &mut State) -> Answer {
    let labels: Vec<Value> = state.labels.iter().map(label_json).collect();
    if let Some(name) = state.behaviour.label_race.take() {
        add_user_label(state, &name);
    }
    Answer::json(200, &json!({ "labels": labels }))
}

fn create_label(state: &mut State, body: &[u8]) -> Answer {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return invalid_json("the body is not JSON");
    };
    let name = request["name"]
        .as_str()
        .unwrap_or_default()
        .trim()
        .to_string();
    if name.is_empty() {
        return error(400, "invalidArgument", "Invalid label name");
    }
    if find_label(&state.labels, &name).is_some() {
        // What Gmail answers for a name in use (compared without case) or a system name.
        return google_error(
            409,
            "ALREADY_EXISTS",
            "global",
            "aborted",
            "Label name exists or conflicts",
        );
    }
    add_user_label(state, &name);
    let label = state.labels.last().unwrap();
    Answer::json(200, &label_json(label))
}

fn import_params(head: &Head) -> Result<ImportParams, Answer> {
    for (name, _) in &head.query {
        if !IMPORT_PARAMETERS.contains(&name.as_str())
            && !STANDARD_PARAMETERS.contains(&name.as_str())
        {
            return Err(error(
                400,
                "invalidParameter",
                &format!("Invalid JSON payload received. Unknown name \"{name}\": Cannot bind query parameter."),
            ));
        }
    }
    let choice = |name: &str, allowed: &[&str]| -> Result<Option<String>, Answer> {
        match head.param(name) {
            Some(value) if !allowed.contains(&value) => Err(error(
                400,
                "invalidArgument",
                &format!("Invalid value at '{name}' ({value})"),
            )),
            value => Ok(value.map(str::to_string)),
        }
    };
    let boolean = ["true", "false"];
    Ok(ImportParams {
        upload_type: head.param("uploadType").unwrap_or("raw").to_string(),
        internal_date_source: choice("internalDateSource", &["dateHeader", "receivedTime"])?,
        never_mark_spam: choice("neverMarkSpam", &boolean)?,
        process_for_calendar: choice("processForCalendar", &boolean)?,
        deleted: choice("deleted", &boolean)?,
    })
}

/// A POST to users.messages.import: the whole message (multipart, media, or `raw` in the
/// metadata), or the start of a resumable session.
fn import_request(state: &mut State, head: &Head, body: &[u8]) -> Answer {
    let params = match import_params(head) {
        Ok(params) => params,
        Err(answer) => return answer,
    };
    let upload = head.path.starts_with("/upload/");
    let parsed = match (upload, params.upload_type.as_str()) {
        (true, "multipart") => multipart(head, body),
        (true, "media") => {
            media_type(head.header("content-type")).map(|()| (Value::Null, body.to_vec()))
        }
        (true, "resumable") => return resumable::start_session(state, head, body, params),
        (false, "raw") => raw_metadata(body),
        (true, other) => Err(error(
            400,
            "invalidArgument",
            &format!("Invalid upload type: {other}"),
        )),
        (false, _) => Err(error(
            400,
            "badRequest",
            "Media upload is only possible on the /upload URI",
        )),
    };
    let (metadata, message) = match parsed {
        Ok(parsed) => parsed,
        Err(answer) => return answer,
    };
    let label_ids = match label_ids(&metadata) {
        Ok(ids) => ids,
        Err(answer) => return answer,
    };
    import(state, &params, label_ids, message)
}

/// The metadata part and the message of a `multipart/related` body (RFC 2387): the CRLF
/// before each delimiter belongs to the delimiter, so the message is exactly the octets
/// between its part's header section and the next `CRLF--boundary`.
fn multipart(head: &Head, body: &[u8]) -> Result<(Value, Vec<u8>), Answer> {
    let content_type = head.header("content-type").unwrap_or_default();
    let bad = |why: &str| error(400, "badContent", &format!("Bad multipart request: {why}"));
    if !content_type
        .to_ascii_lowercase()
        .starts_with("multipart/related")
    {
        return Err(bad("the content type is not multipart/related"));
    }
    let boundary = content_type
        .split(';')
        .filter_map(|param| param.trim().split_once('='))
        .find(|(name, _)| name.eq_ignore_ascii_case("boundary"))
        .map(|(_, value)| value.trim_matches('"').to_string())
        .ok_or_else(|| bad("no boundary"))?;
    let opening = format!("--{boundary}\r\n");
    let delimiter = format!("\r\n--{boundary}");
    let start = if body.starts_with(opening.as_bytes()) {
        opening.len()
    } else {
        find(body, format!("\r\n{opening}").as_bytes()).ok_or_else(|| bad("no first boundary"))?
            + opening.len()
            + 2
    };
    let mut parts = Vec::new();
    let mut rest = &body[start..];
    loop {
        let end = find(rest, delimiter.as_bytes()).ok_or_else(|| bad("a part is not closed"))?;
        parts.push(&rest[..end]);
        let after = &rest[end + delimiter.len()..];
        if after.starts_with(b"--") {
            break;
        }
        rest = after
            .strip_prefix(b"\r\n")
            .ok_or_else(|| bad("a boundary is not followed by CRLF"))?;
    }
    let [metadata, media] = parts[..] else {
        return Err(bad("expected two parts, metadata then media"));
    };
    let (metadata_headers, metadata_body) =
        split_part(metadata).ok_or_else(|| bad("part headers"))?;
    if !metadata_headers
        .to_ascii_lowercase()
        .contains("content-type: application/json")
    {
        return Err(bad("the first part is not application/json"));
    }
    let metadata: Value =
        serde_json::from_slice(metadata_body).map_err(|_| invalid_json("the metadata part"))?;
    let (media_headers, media_body) = split_part(media).ok_or_else(|| bad("part headers"))?;
    let media_content_type = media_headers.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-type")
            .then(|| value.trim())
    });
    media_type(media_content_type)?;
    let base64 = media_headers
        .to_ascii_lowercase()
        .contains("content-transfer-encoding: base64");
    let message = if base64 {
        use base64::Engine;
        let text: Vec<u8> = media_body
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| bad("invalid base64 in the media part"))?
    } else {
        media_body.to_vec()
    };
    Ok((metadata, message))
}

/// A part's header section (as text) and its content.
fn split_part(part: &[u8]) -> Option<(String, &[u8])> {
    if let Some(content) = part.strip_prefix(b"\r\n") {
        return Some((String::new(), content));
    }
    let end = find(part, b"\r\n\r\n")?;
    Some((
        String::from_utf8_lossy(&part[..end]).into_owned(),
        &part[end + 4..],
    ))
}

/// Gmail takes `message/*` media only.
pub(super) fn media_type(content_type: Option<&str>) -> Result<(), Answer> {
    let content_type = content_type.unwrap_or_default();
    if content_type.to_ascii_lowercase().starts_with("message/") {
        return Ok(());
    }
    Err(error(
        400,
        "badContent",
        &format!("Media type '{content_type}' is not supported. Valid media types: [message/*]"),
    ))
}

/// A metadata-only import: the message base64url-encoded in `raw`.
fn raw_metadata(body: &[u8]) -> Result<(Value, Vec<u8>), Answer> {
    use base64::Engine;
    let metadata: Value = serde_json::from_slice(body).map_err(|_| invalid_json("the body"))?;
    let raw = metadata["raw"]
        .as_str()
        .unwrap_or_default()
        .trim_end_matches('=');
    let message = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .map_err(|_| error(400, "invalidArgument", "Invalid value for ByteString"))?;
    Ok((metadata, message))
}

pub(super) fn label_ids(metadata: &Value) -> Result<Vec<String>, Answer> {
    if let Some(object) = metadata.as_object() {
        if let Some(unknown) = object
            .keys()
            .find(|key| !["labelIds", "threadId", "raw"].contains(&key.as_str()))
        {
            return Err(invalid_json(&format!("Unknown name \"{unknown}\"")));
        }
    }
    match &metadata["labelIds"] {
        Value::Null => Ok(Vec::new()),
        Value::Array(ids) => ids
            .iter()
            .map(|id| id.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| invalid_json("labelIds holds a value that is not a string")),
        _ => Err(invalid_json("labelIds is not a list")),
    }
}

/// Stores `message` with `label_ids`, or finds it already held: Gmail keeps one message per
/// Message-ID in a mailbox and answers a second import of it with the first one's id. (That is
/// popget's reading of Gmail's documented de-duplication of messages with the same
/// Message-ID; still to be confirmed against Google's servers.)
fn import(
    state: &mut State,
    params: &ImportParams,
    label_ids: Vec<String>,
    message: Vec<u8>,
) -> Answer {
    match store(state, params, label_ids, message) {
        Ok(value) => Answer::json(200, &value),
        Err(answer) => answer,
    }
}

pub(super) fn store(
    state: &mut State,
    params: &ImportParams,
    mut label_ids: Vec<String>,
    message: Vec<u8>,
) -> Result<Value, Answer> {
    if let Some(after) = state.behaviour.limit_after {
        if state.imported >= after {
            return Err(fault_answer(&Fault::Forbidden(
                state.behaviour.limit_reason,
            )));
        }
    }
    if message.is_empty() {
        return Err(error(
            400,
            "invalidArgument",
            "'raw' RFC822 payload message string or uploading message via /upload/* URL required",
        ));
    }
    if message.len() > MESSAGE_LIMIT {
        return Err(error(413, "uploadTooLarge", "Request Too Large"));
    }
    if let Some(unknown) = label_ids
        .iter()
        .find(|id| !state.labels.iter().any(|label| &label.id == *id))
    {
        return Err(error(
            400,
            "invalidArgument",
            &format!("Invalid label: {unknown}"),
        ));
    }
    let header = header_section(&message);
    if has_line(&header, state.behaviour.refuse_marker) {
        return Err(error(400, "invalidArgument", state.behaviour.refusal));
    }
    let message_id = message_id(&header);
    if let Some(existing) = message_id.as_ref().and_then(|id| state.message_ids.get(id)) {
        let held = state
            .record
            .messages
            .iter()
            .find(|stored| &stored.id == existing)
            .unwrap();
        let value = message_json(held);
        state.record.duplicates += 1;
        state.imported += 1;
        return Ok(value);
    }
    if has_line(&header, state.behaviour.spam_marker)
        && params.never_mark_spam.as_deref() != Some("true")
    {
        label_ids.retain(|id| id != "INBOX");
        label_ids.push("SPAM".into());
    }
    let id = format!("{:016x}", 0x18f0_0000_0000_0000 + next(state));
    if let Some(message_id) = message_id {
        state.message_ids.insert(message_id, id.clone());
    }
    let stored = Stored {
        thread_id: id.clone(),
        id,
        bytes: message,
        label_ids,
        internal_date_source: params.internal_date_source.clone(),
        never_mark_spam: params.never_mark_spam.clone(),
        process_for_calendar: params.process_for_calendar.clone(),
        deleted: params.deleted.clone(),
        upload_type: params.upload_type.clone(),
    };
    let value = message_json(&stored);
    state.record.messages.push(stored);
    state.imported += 1;
    Ok(value)
}

fn message_json(stored: &Stored) -> Value {
    json!({ "id": stored.id, "threadId": stored.thread_id, "labelIds": stored.label_ids })
}

/// The header section, unfolded, one field a line (CRLF or LF line ends).
fn header_section(message: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(message);
    let mut fields: Vec<String> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        match fields.last_mut() {
            Some(field) if line.starts_with([' ', '\t']) => field.push_str(line),
            _ => fields.push(line.to_string()),
        }
    }
    fields
}

fn has_line(header: &[String], line: &str) -> bool {
    header.iter().any(|field| field.eq_ignore_ascii_case(line))
}

fn message_id(header: &[String]) -> Option<String> {
    header.iter().find_map(|field| {
        let (name, value) = field.split_once(':')?;
        let value = value.trim();
        (name.trim().eq_ignore_ascii_case("message-id") && !value.is_empty())
            .then(|| value.to_string())
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

pub(super) fn next(state: &mut State) -> u64 {
    state.serial += 1;
    state.serial
}

/// The answer a fault from the queue stands for.
pub fn fault_answer(fault: &Fault) -> Answer {
    match fault {
        Fault::Unauthorized => unauthorised(),
        Fault::RateLimited { retry_after } => google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "global",
            "rateLimitExceeded",
            "Too many concurrent requests for user.",
        )
        .with_header("Retry-After", retry_after.to_string()),
        Fault::Forbidden(reason) => {
            let (domain, message) = match *reason {
                "dailyLimitExceeded" => ("usageLimits", "Daily Limit Exceeded"),
                "userRateLimitExceeded" => ("usageLimits", "User Rate Limit Exceeded"),
                "rateLimitExceeded" => ("usageLimits", "Rate Limit Exceeded"),
                "domainPolicy" => (
                    "global",
                    "The domain administrators have disabled Gmail apps.",
                ),
                "insufficientPermissions" => {
                    ("global", "Request had insufficient authentication scopes.")
                }
                _ => ("global", "Forbidden"),
            };
            google_error(403, "PERMISSION_DENIED", domain, reason, message)
        }
        Fault::ServerError(503) => google_error(
            503,
            "UNAVAILABLE",
            "global",
            "backendError",
            "The service is currently unavailable.",
        ),
        Fault::ServerError(code) => {
            google_error(*code, "INTERNAL", "global", "backendError", "Backend Error")
        }
        Fault::DropMidBody(_) | Fault::DropAnswer | Fault::Slow(_) | Fault::StoreThenStall(_) => {
            unreachable!("handled by the connection")
        }
    }
}

/// 401 as Google sends it for a missing, expired or revoked token.
pub fn unauthorised() -> Answer {
    let message = "Request had invalid authentication credentials. Expected OAuth 2 access \
                   token, login cookie or other valid authentication credential.";
    Answer::json(
        401,
        &json!({ "error": {
            "code": 401,
            "message": message,
            "errors": [{
                "message": "Invalid Credentials",
                "domain": "global",
                "reason": "authError",
                "location": "Authorization",
                "locationType": "header",
            }],
            "status": "UNAUTHENTICATED",
        }}),
    )
    .with_header(
        "WWW-Authenticate",
        "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"".into(),
    )
}

/// An error with the status name HTTP `code` maps to.
pub(super) fn error(code: u16, reason: &str, message: &str) -> Answer {
    let status = match code {
        400 | 413 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ALREADY_EXISTS",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        _ => "INTERNAL",
    };
    google_error(code, status, "global", reason, message)
}

pub(super) fn invalid_json(what: &str) -> Answer {
    error(
        400,
        "invalidArgument",
        &format!("Invalid JSON payload received. {what}"),
    )
}

pub(super) fn not_found(what: &str) -> Answer {
    error(
        404,
        "notFound",
        &format!("Requested entity was not found: {what}"),
    )
}

/// Google's error body: `{"error": {"code", "message", "errors": [{"message", "domain",
/// "reason"}], "status"}}`.
fn google_error(code: u16, status: &str, domain: &str, reason: &str, message: &str) -> Answer {
    Answer::json(
        code,
        &json!({ "error": {
            "code": code,
            "message": message,
            "errors": [{ "message": message, "domain": domain, "reason": reason }],
            "status": status,
        }}),
    )
}
