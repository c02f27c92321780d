//! The peers' own records of the messages they fetched, in the formats measured with the Debian
//! versions: fetchmail 6.4's id file (`USER@HOST UIDL` lines, all accounts in one file), mpop
//! 1.4's UIDLs file (`#` comments, then for each account ` COUNT HOST USER` and COUNT lines of
//! UIDLs) and getmail 6's oldmail file (`UIDL<NUL>UNIX-TIME` lines, one file per account, a `/`
//! in a UIDL written as `-`).

use std::path::Path;

use super::{ParseError, Seen};

/// One message the peer fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenUid {
    pub uid: Vec<u8>,
    /// When the peer first saw it (getmail records it), seconds since the epoch.
    pub first_seen: Option<u64>,
    /// getmail writes a `/` in a UIDL as `-`: this one, having a `-`, may stand for a UIDL
    /// with `/` in its place, which only the server's listing tells.
    pub dash_may_be_slash: bool,
}

/// The account's seen messages in `text`, the content of `file` (which `seen` names).
pub fn parse(seen: &Seen, file: &Path, text: &[u8]) -> Result<Vec<SeenUid>, ParseError> {
    match seen {
        Seen::Fetchmail { user, host, .. } => fetchmail(file, text, user, host),
        Seen::Mpop { host, user, .. } => mpop(file, text, host, user),
        Seen::Getmail { .. } => getmail(file, text),
    }
}

fn lines(text: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    text.split(|&b| b == b'\n')
        .enumerate()
        .map(|(index, line)| (index + 1, line))
        .filter(|(_, line)| !line.is_empty())
}

fn wrong(file: &Path, line: usize, what: &str) -> ParseError {
    ParseError::at(file, line, format!("not {what}"))
}

/// fetchmail splits each line at its first space into `USER@HOST` (split at the last `@`) and
/// the UIDL, and compares user and host without regard to case.
fn fetchmail(file: &Path, text: &[u8], user: &str, host: &str) -> Result<Vec<SeenUid>, ParseError> {
    let mut uids = Vec::new();
    for (line, bytes) in lines(text) {
        let bytes = bytes.trim_ascii_start();
        let bad = || wrong(file, line, "a fetchmail id line (USER@HOST UIDL)");
        let space = bytes.iter().position(|&b| b == b' ').ok_or_else(bad)?;
        let (key, rest) = bytes.split_at(space);
        let uid = rest.trim_ascii();
        let at = key.iter().rposition(|&b| b == b'@').ok_or_else(bad)?;
        if uid.is_empty() || uid.contains(&b' ') || uid.contains(&b'\t') {
            return Err(bad());
        }
        if key[..at].eq_ignore_ascii_case(user.as_bytes())
            && key[at + 1..].eq_ignore_ascii_case(host.as_bytes())
        {
            uids.push(SeenUid {
                uid: uid.to_vec(),
                first_seen: None,
                dash_may_be_slash: false,
            });
        }
    }
    Ok(uids)
}

fn mpop(file: &Path, text: &[u8], host: &str, user: &str) -> Result<Vec<SeenUid>, ParseError> {
    let mut uids = Vec::new();
    let mut lines = lines(text).peekable();
    while let Some((line, bytes)) = lines.next() {
        if bytes.starts_with(b"#") {
            continue;
        }
        let bad = || wrong(file, line, "an mpop UIDL list header ( COUNT HOST USER)");
        let header = bytes.strip_prefix(b" ").ok_or_else(bad)?;
        let header = std::str::from_utf8(header).map_err(|_| bad())?;
        let mut words = header.splitn(3, ' ');
        let count: usize = words.next().and_then(|n| n.parse().ok()).ok_or_else(bad)?;
        let (list_host, list_user) = (words.next().ok_or_else(bad)?, words.next().unwrap_or(""));
        let ours = list_host == host && list_user == user;
        for n in 0..count {
            let Some((_, uid)) = lines.next() else {
                return Err(wrong(
                    file,
                    line,
                    &format!("complete: the list of {count} UIDLs ends after {n}"),
                ));
            };
            if ours {
                uids.push(SeenUid {
                    uid: uid.to_vec(),
                    first_seen: None,
                    dash_may_be_slash: false,
                });
            }
        }
    }
    Ok(uids)
}

fn getmail(file: &Path, text: &[u8]) -> Result<Vec<SeenUid>, ParseError> {
    let mut uids = Vec::new();
    for (line, bytes) in lines(text) {
        let bytes = bytes.trim_ascii();
        if bytes.is_empty() {
            continue;
        }
        let bad = || wrong(file, line, "a getmail oldmail line (UIDL, NUL, time)");
        let nul = bytes.iter().position(|&b| b == 0).ok_or_else(bad)?;
        let time = std::str::from_utf8(&bytes[nul + 1..])
            .ok()
            .and_then(|t| t.parse::<u64>().ok())
            .ok_or_else(bad)?;
        let uid = &bytes[..nul];
        uids.push(SeenUid {
            uid: uid.to_vec(),
            first_seen: Some(time),
            dash_may_be_slash: uid.contains(&b'-'),
        });
    }
    Ok(uids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uids(found: Vec<SeenUid>) -> Vec<String> {
        found
            .into_iter()
            .map(|s| String::from_utf8(s.uid).unwrap())
            .collect()
    }

    #[test]
    fn reads_fetchmails_id_file() {
        let seen = Seen::Fetchmail {
            file: "ids".into(),
            user: "alice".into(),
            host: "pop.example".into(),
        };
        let text = b"alice@pop.example 0001\nbob@pop.example 0002\nALICE@Pop.Example  0003\n\
                     me@x.org@pop.example <a@b>\n";
        assert_eq!(
            uids(parse(&seen, Path::new("ids"), text).unwrap()),
            ["0001", "0003"]
        );
        let error = parse(&seen, Path::new("ids"), b"alice@pop.example 1\nnospace\n").unwrap_err();
        assert_eq!(error.place.line, 2);
    }

    #[test]
    fn reads_mpops_uidls_file() {
        let seen = Seen::Mpop {
            file: "u".into(),
            host: "127.0.0.1".into(),
            user: "alice".into(),
        };
        let text = b"# generated\n#\n 2 127.0.0.1 bob\nb1\nb2\n 2 127.0.0.1 alice\na1\na2\n";
        assert_eq!(
            uids(parse(&seen, Path::new("u"), text).unwrap()),
            ["a1", "a2"]
        );
        let error = parse(&seen, Path::new("u"), b" 3 127.0.0.1 alice\na1\n").unwrap_err();
        assert_eq!(error.place.line, 1);
        assert!(parse(&seen, Path::new("u"), b"a1\n").is_err());
    }

    #[test]
    fn reads_getmails_oldmail_file() {
        let seen = Seen::Getmail { files: Vec::new() };
        let found = parse(
            &seen,
            Path::new("o"),
            b"000a\x001700000000\nx-y\x001700000001\n",
        )
        .unwrap();
        assert_eq!(found[0].first_seen, Some(1_700_000_000));
        assert!(!found[0].dash_may_be_slash && found[1].dash_may_be_slash);
        assert_eq!(
            parse(&seen, Path::new("o"), b"a\x001\nno time\n")
                .unwrap_err()
                .place
                .line,
            2
        );
    }
}
