//! Import into a Gmail mailbox through the Gmail API (`users.messages.import`, so that Gmail's
//! spam filter and categories see each message as if it came over SMTP), with the labels the
//! destination names (created where missing), INBOX unless archived, UNREAD unless not.
//!
//! Exactly once: a message counts as delivered only once the API returned its Gmail id, which
//! is kept with the record. One message at a time, without intents: an import whose answer was
//! lost (a crash, a dropped connection) is imported again on the next run, and Gmail drops a
//! second import of a Message-ID it holds. A message without a Message-ID gets one before its
//! first attempt, derived from its bytes (the same on every retry), as an MTA adds one.

mod api;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use self::api::{Answer, Api, Call, CrlfReader, Failed, MULTIPART_LIMIT};
use super::{Fill, Handed, Journal, Mailbox, Placement, Staged};
use crate::account::{GmailTarget, InternalDate};
use crate::error::Error;

/// The largest message Gmail imports.
const GMAIL_LIMIT: u64 = 150 * 1024 * 1024;
/// Resumable uploads interrupted more often than this give up for this run.
const UPLOAD_ATTEMPTS: u32 = 4;

/// A Gmail mailbox ready to import into: the API client and the label ids each message gets.
pub struct Gmail {
    target: GmailTarget,
    api: Api,
    label_ids: Vec<String>,
}

#[derive(Deserialize)]
struct LabelList {
    #[serde(default)]
    labels: Vec<Label>,
}

#[derive(Deserialize)]
struct Label {
    id: String,
    name: String,
}

/// The part of a Message resource that matters here.
#[derive(Deserialize)]
struct Imported {
    id: String,
}

impl Gmail {
    /// Logs in (the saved tokens, refreshed if stale) and finds or creates the labels, before
    /// anything is fetched: a refused login is 77, an API that cannot be reached 75.
    pub fn open(target: &GmailTarget, trace: Option<super::TraceMaker>) -> Result<Gmail, Error> {
        let api = Api::new(target, trace.map(|make| make()))?;
        let mut label_ids = labels(&api, &target.labels).map_err(|f| failure(target, f))?;
        if !target.archive {
            label_ids.push("INBOX".into());
        }
        if target.unread {
            label_ids.push("UNREAD".into());
        }
        Ok(Gmail {
            target: target.clone(),
            api,
            label_ids,
        })
    }

    /// Imports one spooled message; its Gmail id is the receipt.
    fn import(&self, spool: &mut File) -> Handed {
        let prepared = match prepare(spool) {
            Ok(prepared) => prepared,
            Err(e) => return Handed::Failed(Error::io("cannot read the spool file", e)),
        };
        let result = if prepared.octets <= MULTIPART_LIMIT {
            self.import_multipart(spool, &prepared)
        } else {
            self.import_resumable(spool, &prepared)
        };
        let answer = match result {
            Ok(answer) => answer,
            Err(Failed::Refused(why)) => {
                return Handed::Rejected(Error::Rejected(format!(
                    "Gmail refused the message: {why}; it stays on the server"
                )))
            }
            Err(failed) => return Handed::Failed(failure(&self.target, failed)),
        };
        match serde_json::from_slice::<Imported>(&answer.body) {
            Ok(imported) if is_message_id(&imported.id) => Handed::DeliveredAs(format!(
                "https://mail.google.com/mail/u/{}/#all/{}",
                self.target.address, imported.id
            )),
            _ => Handed::Failed(Error::DestinationProtocol(
                "the Gmail API answered an import without a message id".into(),
            )),
        }
    }

    /// The query of an import: where the internal date comes from, and the two options.
    fn import_query(&self, upload: &str) -> String {
        let date = match self.target.internal_date {
            InternalDate::Date => "dateHeader",
            InternalDate::Received => "receivedTime",
        };
        format!(
            "upload/gmail/v1/users/me/messages/import?uploadType={upload}\
             &internalDateSource={date}&neverMarkSpam={}&processForCalendar={}",
            self.target.never_mark_spam, self.target.process_for_calendar
        )
    }

    fn metadata(&self) -> String {
        serde_json::json!({ "labelIds": self.label_ids }).to_string()
    }

    /// One request: the metadata and the message as `multipart/related`.
    fn import_multipart(&self, spool: &mut File, prepared: &Prepared) -> Result<Answer, Failed> {
        let mut message = Vec::with_capacity(prepared.octets as usize);
        CrlfReader::new(spool, prepared.prefix.as_bytes(), 0)
            .and_then(|mut reader| reader.read_to_end(&mut message))
            .map_err(|e| Failed::Later(format!("cannot read the spool file: {e}")))?;
        let boundary = boundary_for(&message);
        let mut body = Vec::with_capacity(message.len() + 512);
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{}\r\n\
                 --{boundary}\r\nContent-Type: message/rfc822\r\n\r\n",
                self.metadata()
            )
            .as_bytes(),
        );
        body.extend_from_slice(&message);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let url = self.api.url(&self.import_query("multipart"));
        let content_type = format!("multipart/related; boundary={boundary}");
        self.api
            .call("import (multipart)", Call::Import, &mut |agent, auth| {
                agent
                    .post(&url)
                    .header("Authorization", auth)
                    .header("Content-Type", &content_type)
                    .send(&body[..])
            })
    }

    /// A resumable upload: a session, then the message, resumed where the server says it
    /// stopped after an interruption.
    fn import_resumable(&self, spool: &mut File, prepared: &Prepared) -> Result<Answer, Failed> {
        let url = self.api.url(&self.import_query("resumable"));
        let metadata = self.metadata();
        let length = prepared.octets.to_string();
        let session = self.api.call(
            "import (resumable session)",
            Call::Import,
            &mut |agent, auth| {
                agent
                    .post(&url)
                    .header("Authorization", auth)
                    .header("Content-Type", "application/json; charset=UTF-8")
                    .header("X-Upload-Content-Type", "message/rfc822")
                    .header("X-Upload-Content-Length", &length)
                    .send(metadata.as_bytes())
            },
        )?;
        let location = session
            .location
            .filter(|location| self.api.same_origin(location))
            .ok_or_else(|| {
                Failed::Protocol(
                    "the Gmail API opened an upload session without a Location on its own \
                     server"
                        .into(),
                )
            })?;
        let total = prepared.octets;
        let mut from = 0u64;
        for _ in 0..UPLOAD_ATTEMPTS {
            let range = format!("bytes {from}-{}/{total}", total.saturating_sub(1));
            let sent = self
                .api
                .call("import (upload)", Call::Upload, &mut |agent, auth| {
                    let mut reader = CrlfReader::new(spool, prepared.prefix.as_bytes(), from)
                        .map_err(ureq::Error::Io)?;
                    agent
                        .put(&location)
                        .header("Authorization", auth)
                        .header("Content-Length", (total - from).to_string())
                        .header("Content-Range", &range)
                        .send(ureq::SendBody::from_reader(&mut reader))
                });
            match sent {
                Ok(answer) if answer.status != 308 && answer.status != 409 => return Ok(answer),
                Ok(_) | Err(Failed::Later(_)) => {}
                Err(failed) => return Err(failed),
            }
            // Where the upload stands: done, or how much arrived.
            let asked = format!("bytes */{total}");
            let status =
                self.api
                    .call("import (upload status)", Call::Other, &mut |agent, auth| {
                        agent
                            .put(&location)
                            .header("Authorization", auth)
                            .header("Content-Range", &asked)
                            .send_empty()
                    })?;
            match status.status {
                308 => from = status.range_end.map_or(0, |end| (end + 1).min(total)),
                409 => {
                    return Err(Failed::Protocol(
                        "the Gmail API answered an upload with 409".into(),
                    ))
                }
                _ => return Ok(status),
            }
        }
        Err(Failed::Later(format!(
            "the upload of a {total}-octet message to Gmail broke off {UPLOAD_ATTEMPTS} times"
        )))
    }
}

/// The label ids of `names`, each created if Gmail has no label of that name (a 409, someone
/// else creating it meanwhile, is answered by listing again).
fn labels(api: &Api, names: &[String]) -> Result<Vec<String>, Failed> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let list_url = api.url("gmail/v1/users/me/labels");
    let list = |api: &Api| -> Result<Vec<Label>, Failed> {
        let answer = api.call("labels.list", Call::Other, &mut |agent, auth| {
            agent.get(&list_url).header("Authorization", auth).call()
        })?;
        serde_json::from_slice::<LabelList>(&answer.body)
            .map(|list| list.labels)
            .map_err(|e| Failed::Protocol(format!("the Gmail API listed labels oddly: {e}")))
    };
    let find = |labels: &[Label], name: &str| {
        labels
            .iter()
            .find(|label| label.name.eq_ignore_ascii_case(name))
            .map(|label| label.id.clone())
    };
    let mut known = list(api)?;
    let mut ids = Vec::with_capacity(names.len());
    for name in names {
        if let Some(id) = find(&known, name) {
            ids.push(id);
            continue;
        }
        let body = serde_json::json!({
            "name": name,
            "labelListVisibility": "labelShow",
            "messageListVisibility": "show",
        })
        .to_string();
        let created = api.call("labels.create", Call::Other, &mut |agent, auth| {
            agent
                .post(&list_url)
                .header("Authorization", auth)
                .header("Content-Type", "application/json; charset=UTF-8")
                .send(body.as_bytes())
        });
        let created = created.map_err(|failed| match failed {
            Failed::Refused(why) => {
                Failed::Login(format!("Gmail refused to create the label {name:?}: {why}"))
            }
            other => other,
        })?;
        if created.status == 409 {
            known = list(api)?;
            ids.push(find(&known, name).ok_or_else(|| {
                Failed::Protocol(format!(
                    "Gmail says the label {name:?} exists, but does not list it"
                ))
            })?);
            continue;
        }
        let label: Label = serde_json::from_slice(&created.body)
            .map_err(|e| Failed::Protocol(format!("the Gmail API created a label oddly: {e}")))?;
        ids.push(label.id);
    }
    Ok(ids)
}

/// A failure in popget's terms.
fn failure(target: &GmailTarget, failed: Failed) -> Error {
    match failed {
        Failed::Later(why) => Error::Temporary(why),
        Failed::Refused(why) => Error::Rejected(format!("Gmail ({}): {why}", target.address)),
        Failed::Login(why) => Error::AuthFailed(why),
        Failed::Protocol(why) => Error::DestinationProtocol(why),
    }
}

/// What an import sends besides the spool: a Message-ID header where the message has none,
/// and the length of the whole.
struct Prepared {
    prefix: String,
    octets: u64,
}

/// Reads the spooled message once: whether it has a Message-ID, its digest (for one it lacks)
/// and its CRLF length.
fn prepare(spool: &mut File) -> std::io::Result<Prepared> {
    let head = super::read_headers(spool, &["Message-ID"])?;
    let crlf = popget_imap::crlf_length(spool)?;
    let prefix = match &head[0] {
        Some(_) => String::new(),
        None => {
            spool.seek(SeekFrom::Start(0))?;
            let mut digest = Sha256::new();
            std::io::copy(spool, &mut digest)?;
            let id = hex::encode(&digest.finalize()[..16]);
            format!("Message-ID: <{id}@popget.invalid>\r\n")
        }
    };
    spool.seek(SeekFrom::Start(0))?;
    Ok(Prepared {
        octets: crlf + prefix.len() as u64,
        prefix,
    })
}

/// A multipart boundary that does not occur in `message`.
fn boundary_for(message: &[u8]) -> String {
    loop {
        let mut random = [0u8; 16];
        let _ = getrandom::fill(&mut random);
        let boundary = format!("popget-{}", hex::encode(random));
        if memchr::memmem::find(message, boundary.as_bytes()).is_none() {
            return boundary;
        }
    }
}

/// Gmail's message ids are hexadecimal; anything else would not belong in a receipt.
fn is_message_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl Mailbox for Gmail {
    fn stage(&self, fill: &mut Fill) -> Result<Staged, super::Failure> {
        super::stage_spooled(fill)
    }

    /// No intents: the API's answer is the only proof; an import whose answer was lost is
    /// imported again and Gmail drops the repeat (see the module's comment).
    fn place(&self, staged: Vec<Staged>, _journal: &mut Journal) -> Placement {
        super::place_spooled(staged, "Gmail", |spool, _| self.import(spool))
    }

    /// One message at a time, so that a crash leaves at most one import to repeat.
    fn batch_limit(&self) -> usize {
        1
    }

    fn size_limit(&self) -> Option<u64> {
        Some(GMAIL_LIMIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn spool(text: &[u8]) -> File {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(text).unwrap();
        file.seek(SeekFrom::Start(0)).unwrap();
        file
    }

    #[test]
    fn a_message_without_message_id_gets_the_same_one_every_time() {
        let text = b"Subject: x\n\nbody\n";
        let first = prepare(&mut spool(text)).unwrap();
        let again = prepare(&mut spool(text)).unwrap();
        assert_eq!(first.prefix, again.prefix);
        assert!(
            first.prefix.starts_with("Message-ID: <")
                && first.prefix.ends_with("@popget.invalid>\r\n")
        );
        assert_eq!(first.octets, first.prefix.len() as u64 + 20);
        let other = prepare(&mut spool(b"Subject: y\n\nbody\n")).unwrap();
        assert_ne!(first.prefix, other.prefix);

        let with_id = prepare(&mut spool(b"Message-ID: <a@b>\nSubject: x\n\nb\n")).unwrap();
        assert_eq!(with_id.prefix, "");
        assert_eq!(with_id.octets, 36);
    }

    #[test]
    fn boundaries_avoid_the_message_and_ids_are_checked() {
        let boundary = boundary_for(b"--popget-");
        assert!(boundary.starts_with("popget-") && boundary.len() == 39);
        assert!(is_message_id("18c2f0a1b2c3d4e5"));
        assert!(!is_message_id(""));
        assert!(!is_message_id("a b"));
        assert!(!is_message_id("x/../y"));
    }
}
