//! The read-only search for a message whose APPEND outcome was lost, and its FETCH parsing.

use std::io::{Read, Write};

use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::core::{AString, Vec1};
use imap_codec::imap_types::fetch::{MessageDataItem, MessageDataItemName, Section};
use imap_codec::imap_types::response::{Code, Data};
use imap_codec::imap_types::sequence::SequenceSet;
use sha2::{Digest, Sha256};

use super::{mailbox_arg, Lookup, Session};
use crate::message::encode_mailbox;
use crate::wire::Received;
use crate::{Error, Result};

impl<S: Read + Write> Session<S> {
    /// Looks for a message appended before a crash whose outcome was lost: in `mailbox`, if
    /// its UIDVALIDITY is still `uid_validity`, among the messages with a UID of at least
    /// `since_uid` (the UIDNEXT seen before the APPEND), one of `octets` octets (the CRLF size
    /// sent, as [`crate::crlf_length`] counts it) whose Message-ID is `message_id` (angle
    /// brackets included, compared after trimming white space; without one, any fits) and,
    /// given `header_sha256`, whose header section hashes to it (as [`crate::header_sha256`]
    /// hashes the message sent). The digest tells apart messages of one size that only their
    /// headers differ in: those without a Message-ID, or a message refused beside another of
    /// its size that was stored. The lowest such UID is returned.
    ///
    /// Read-only: the mailbox is opened with EXAMINE, headers are fetched with BODY.PEEK, so
    /// no flag changes; it is closed again before returning.
    pub fn find_appended(
        &mut self,
        mailbox: &str,
        uid_validity: u32,
        since_uid: u32,
        message_id: Option<&str>,
        octets: u64,
        header_sha256: Option<&[u8; 32]>,
    ) -> Result<Lookup> {
        let name = encode_mailbox(mailbox)?;
        self.guard(|session| {
            let body = CommandBody::examine(mailbox_arg(&name)?)
                .map_err(|_| Error::protocol("cannot encode EXAMINE"))?;
            let mut current = None;
            session
                .simple(body, |received| {
                    if let Received::Untagged(body) = received {
                        if let Some(Code::UidValidity(value)) = body.code {
                            current = Some(value.get());
                        }
                    }
                    Ok(())
                })?
                .check("EXAMINE")?;
            let current =
                current.ok_or_else(|| Error::protocol("the EXAMINE answer lacks UIDVALIDITY"))?;
            let found = if current != uid_validity {
                Lookup::UidValidityChanged(current)
            } else {
                let candidates = session.search_range(since_uid.max(1), message_id, octets)?;
                match header_sha256 {
                    None => candidates.first().copied(),
                    Some(digest) => session.first_with_header(&candidates, digest)?,
                }
                .map_or(Lookup::Absent, Lookup::Found)
            };
            session.unselect()?;
            Ok(found)
        })
    }

    /// The UIDs from `since_uid` on of the messages of `octets` octets and that Message-ID,
    /// in ascending order.
    fn search_range(
        &mut self,
        since_uid: u32,
        message_id: Option<&str>,
        octets: u64,
    ) -> Result<Vec<u32>> {
        let range = SequenceSet::try_from(format!("{since_uid}:*").as_str())
            .map_err(|_| Error::protocol("cannot encode a UID range"))?;
        let header = AString::try_from("MESSAGE-ID")
            .map_err(|_| Error::protocol("cannot encode a header name"))?;
        let items = vec![
            MessageDataItemName::Uid,
            MessageDataItemName::Rfc822Size,
            MessageDataItemName::BodyExt {
                section: Some(Section::HeaderFields(None, Vec1::from(header))),
                partial: None,
                peek: true,
            },
        ];
        let body = CommandBody::fetch(range, items, true)
            .map_err(|_| Error::protocol("cannot encode UID FETCH"))?;
        let wanted = message_id.map(str::trim);
        let mut candidates = Vec::new();
        session_fetch(self, body, |items| {
            let mut uid = None;
            let mut size = None;
            let mut id = None;
            for item in items {
                match item {
                    MessageDataItem::Uid(value) => uid = Some(value.get()),
                    MessageDataItem::Rfc822Size(value) => size = Some(u64::from(*value)),
                    MessageDataItem::BodyExt { data, .. } => {
                        id = data.0.as_ref().map(|header| message_id_of(header.as_ref()));
                    }
                    _ => {}
                }
            }
            let (Some(uid), Some(size)) = (uid, size) else {
                return;
            };
            let id_fits = match wanted {
                None => true,
                Some(wanted) => id.flatten().as_deref() == Some(wanted),
            };
            if uid >= since_uid && size == octets && id_fits {
                candidates.push(uid);
            }
        })?;
        candidates.sort_unstable();
        candidates.dedup();
        Ok(candidates)
    }

    /// The lowest of `uids` whose header section hashes to `digest`: their headers fetched
    /// in one UID FETCH, each within the response limit.
    fn first_with_header(&mut self, uids: &[u32], digest: &[u8; 32]) -> Result<Option<u32>> {
        if uids.is_empty() {
            return Ok(None);
        }
        let list: Vec<String> = uids.iter().map(u32::to_string).collect();
        let set = SequenceSet::try_from(list.join(",").as_str())
            .map_err(|_| Error::protocol("cannot encode a UID set"))?;
        let items = vec![
            MessageDataItemName::Uid,
            MessageDataItemName::BodyExt {
                section: Some(Section::Header(None)),
                partial: None,
                peek: true,
            },
        ];
        let body = CommandBody::fetch(set, items, true)
            .map_err(|_| Error::protocol("cannot encode UID FETCH"))?;
        let mut best: Option<u32> = None;
        session_fetch(self, body, |items| {
            let mut uid = None;
            let mut fits = false;
            for item in items {
                match item {
                    MessageDataItem::Uid(value) => uid = Some(value.get()),
                    MessageDataItem::BodyExt { data, .. } => {
                        fits = data.0.as_ref().is_some_and(|header| {
                            <[u8; 32]>::from(Sha256::digest(header.as_ref())) == *digest
                        });
                    }
                    _ => {}
                }
            }
            if let Some(uid) = uid.filter(|uid| fits && uids.contains(uid)) {
                best = Some(best.map_or(uid, |best| best.min(uid)));
            }
        })?;
        Ok(best)
    }

    /// Leaves the selected mailbox: UNSELECT where offered, else CLOSE (which expunges
    /// nothing in a mailbox opened with EXAMINE).
    fn unselect(&mut self) -> Result<()> {
        let body = if self.capabilities.has("UNSELECT") {
            CommandBody::Unselect
        } else {
            CommandBody::Close
        };
        let keyword = body.name();
        self.simple(body, |_| Ok(()))?.check(keyword)?;
        Ok(())
    }
}

/// Sends a UID FETCH and hands the items of each FETCH response to `each`.
fn session_fetch<S: Read + Write>(
    session: &mut Session<S>,
    body: CommandBody<'_>,
    mut each: impl FnMut(&[MessageDataItem<'_>]),
) -> Result<()> {
    session
        .simple(body, |received| {
            if let Received::Data(Data::Fetch { items, .. }) = received {
                each(items.as_ref());
            }
            Ok(())
        })?
        .check("FETCH")?;
    Ok(())
}

/// The Message-ID in a header block (`Message-ID: <a@b>`, folded lines unfolded), trimmed.
fn message_id_of(header: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(header);
    let mut value: Option<String> = None;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with([' ', '\t']) {
            if let Some(value) = value.as_mut() {
                value.push_str(line.trim());
            }
            continue;
        }
        if value.is_some() {
            break;
        }
        if let Some((name, rest)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("message-id") {
                value = Some(rest.trim().to_string());
            }
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_from_header_blocks() {
        assert_eq!(
            message_id_of(b"Message-ID: <a@b>\r\n\r\n").as_deref(),
            Some("<a@b>")
        );
        assert_eq!(
            message_id_of(b"message-id:\r\n  <folded@x>\r\n\r\n").as_deref(),
            Some("<folded@x>")
        );
        assert_eq!(message_id_of(b"\r\n"), None);
    }
}
