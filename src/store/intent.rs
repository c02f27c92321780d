//! Intents: what a placement is about to do, written to the journal before it does it, so
//! that a later run can tell whether it completed.

use std::fmt;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::str::FromStr;

/// One message's placement, as the journal records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// The message is being moved to `target`, a file in a Maildir's new/.
    Maildir { target: PathBuf },
    /// The message is being appended to an mbox.
    Mbox(MboxAppend),
    /// The message is being stored in an IMAP mailbox with APPEND.
    Imap(ImapAppend),
}

/// An APPEND to `mailbox`, which had `uid_validity` and would give the next message
/// `uid_next`: it arrived if a message of `octets` (with CRLF line ends, as the server counts),
/// the same `message_id` and a header section of SHA-256 `header_sha256` is there at `uid_next`
/// or after, under the same UIDVALIDITY. (Journals of earlier versions have no digest: then
/// size and Message-ID decide.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapAppend {
    pub mailbox: String,
    pub uid_validity: u32,
    pub uid_next: u32,
    pub octets: u64,
    pub message_id: Option<String>,
    pub header_sha256: Option<[u8; 32]>,
}

/// An append to the mbox at `path`: it arrived if the octets from `begin` to `end` hash
/// (SHA-256) to `digest`; if the file ends part way into them, the append was torn and the
/// file is cut back to `truncate_to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MboxAppend {
    pub path: PathBuf,
    pub truncate_to: u64,
    pub begin: u64,
    pub end: u64,
    pub digest: [u8; 32],
}

/// A journal line that is not an intent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed intent {0:?}")]
pub struct MalformedIntent(pub String);

impl fmt::Display for Intent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Intent::Maildir { target } => write!(f, "maildir {}", PathToken(target)),
            Intent::Mbox(append) => write!(
                f,
                "mbox {} {} {} {} {}",
                PathToken(&append.path),
                append.truncate_to,
                append.begin,
                append.end,
                hex::encode(append.digest)
            ),
            Intent::Imap(append) => write!(
                f,
                "imap {} {} {} {} {} {}",
                crate::state::escape(append.mailbox.as_bytes()),
                append.uid_validity,
                append.uid_next,
                append.octets,
                match &append.message_id {
                    Some(id) => format!("<{}>", crate::state::escape(id.as_bytes())),
                    None => "-".to_string(),
                },
                append.header_sha256.map_or("-".to_string(), hex::encode)
            ),
        }
    }
}

impl FromStr for Intent {
    type Err = MalformedIntent;

    fn from_str(line: &str) -> Result<Intent, MalformedIntent> {
        let malformed = || MalformedIntent(line.to_string());
        if let Some(rest) = line.strip_prefix("imap ") {
            return imap_intent(rest).ok_or_else(malformed);
        }
        let mut words = line.split(' ');
        let kind = words.next();
        let path = words
            .next()
            .and_then(|word| crate::state::unescape(word.as_bytes()))
            .map(|bytes| PathBuf::from(std::ffi::OsString::from_vec(bytes)))
            .ok_or_else(malformed)?;
        let intent = match kind {
            Some("maildir") => Intent::Maildir { target: path },
            Some("mbox") => {
                let mut number = || -> Result<u64, MalformedIntent> {
                    words
                        .next()
                        .and_then(|word| word.parse().ok())
                        .ok_or_else(malformed)
                };
                let (truncate_to, begin, end) = (number()?, number()?, number()?);
                let mut digest = [0u8; 32];
                hex::decode_to_slice(words.next().unwrap_or_default(), &mut digest)
                    .map_err(|_| malformed())?;
                if !(truncate_to <= begin && begin <= end) {
                    return Err(malformed());
                }
                Intent::Mbox(MboxAppend {
                    path,
                    truncate_to,
                    begin,
                    end,
                    digest,
                })
            }
            _ => return Err(malformed()),
        };
        match words.next() {
            None => Ok(intent),
            Some(_) => Err(malformed()),
        }
    }
}

/// The words of an IMAP intent after its kind.
fn imap_intent(rest: &str) -> Option<Intent> {
    let text = |word: &str| {
        crate::state::unescape(word.as_bytes()).and_then(|bytes| String::from_utf8(bytes).ok())
    };
    let words: Vec<&str> = rest.split(' ').collect();
    let (mailbox, uid_validity, uid_next, octets, message_id, digest) = match words[..] {
        [a, b, c, d, e] => (a, b, c, d, e, "-"),
        [a, b, c, d, e, f] => (a, b, c, d, e, f),
        _ => return None,
    };
    let message_id = match message_id {
        "-" => None,
        id => Some(text(id.strip_prefix('<')?.strip_suffix('>')?)?),
    };
    let header_sha256 = match digest {
        "-" => None,
        hex => {
            let mut digest = [0u8; 32];
            hex::decode_to_slice(hex, &mut digest).ok()?;
            Some(digest)
        }
    };
    Some(Intent::Imap(ImapAppend {
        mailbox: text(mailbox)?,
        uid_validity: uid_validity.parse().ok()?,
        uid_next: uid_next.parse().ok()?,
        octets: octets.parse().ok()?,
        message_id,
        header_sha256,
    }))
}

/// A path as one word of a journal line: escaped as the state file escapes ids (no spaces,
/// no line ends, any byte kept).
struct PathToken<'a>(&'a std::path::Path);

impl fmt::Display for PathToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&crate::state::escape(self.0.as_os_str().as_bytes()), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intents_round_trip_through_their_text() {
        let odd = PathBuf::from(std::ffi::OsString::from_vec(
            b"/m/new/a b\n%\xff:2,S".to_vec(),
        ));
        let intents = [
            Intent::Maildir {
                target: odd.clone(),
            },
            Intent::Mbox(MboxAppend {
                path: odd,
                truncate_to: 10,
                begin: 11,
                end: 400,
                digest: [0xab; 32],
            }),
            Intent::Imap(ImapAppend {
                mailbox: "Old ISP/2019 ü".into(),
                uid_validity: 1_796_599_213,
                uid_next: 42,
                octets: 1234,
                message_id: Some("a b@c>d".into()),
                header_sha256: Some([0x5a; 32]),
            }),
            Intent::Imap(ImapAppend {
                mailbox: "INBOX".into(),
                uid_validity: 1,
                uid_next: 1,
                octets: 0,
                message_id: None,
                header_sha256: None,
            }),
        ];
        for intent in intents {
            let text = intent.to_string();
            assert!(!text.contains('\n') && text.is_ascii(), "{text:?}");
            assert_eq!(text.parse::<Intent>(), Ok(intent));
        }
    }

    #[test]
    fn the_format_of_earlier_versions_is_read() {
        let digest = "0".repeat(64);
        let line = format!("mbox /home/me/inbox 0 1 99 {digest}");
        assert_eq!(
            line.parse(),
            Ok(Intent::Mbox(MboxAppend {
                path: "/home/me/inbox".into(),
                truncate_to: 0,
                begin: 1,
                end: 99,
                digest: [0; 32],
            }))
        );
        // IMAP intents without the header's digest.
        assert_eq!(
            "imap INBOX 7 3 120 <a@b>".parse(),
            Ok(Intent::Imap(ImapAppend {
                mailbox: "INBOX".into(),
                uid_validity: 7,
                uid_next: 3,
                octets: 120,
                message_id: Some("a@b".into()),
                header_sha256: None,
            }))
        );
        assert_eq!(
            "maildir /m/new/1.M2P3Q4.host,S=5".parse(),
            Ok(Intent::Maildir {
                target: "/m/new/1.M2P3Q4.host,S=5".into()
            })
        );
    }

    #[test]
    fn malformed_lines_are_refused() {
        for line in [
            "",
            "maildir",
            "maildir /a extra",
            "mbox /a 1 2",
            "mbox /a 3 2 1 00",
            "mbox /a 0 1 2 nothex",
            "delivered",
            "other /a",
            "imap INBOX 7 3 120 - nothex",
            "imap INBOX 7 3 120 - 00 extra",
        ] {
            assert!(line.parse::<Intent>().is_err(), "{line:?}");
        }
    }
}
