//! getmail writes a `/` in a UIDL as `-`, so a recorded `a-b` may be the server's `a/b` or its
//! `a-b`: the server's own listing tells, rather than a guess.

use std::collections::HashMap;

use super::seen::SeenUid;
use crate::config::{self, CommandLine, ConfigFile};
use crate::connect;
use crate::error::{Error, Result};

/// Logs in to the account `name` of `config` and gives each recorded UIDL with a `-` the
/// server's spelling of it, where the server has one.
pub(super) fn match_slashes(
    config: &ConfigFile,
    name: &str,
    env: &HashMap<String, String>,
    uids: &mut [SeenUid],
) -> Result<()> {
    let account =
        config::select_accounts(config, &[name.to_string()], &CommandLine::default(), env)?
            .into_iter()
            .next()
            .ok_or_else(|| Error::config(format!("no account {name}")))?;
    let password = connect::password_before_connecting(&account)?;
    let mut session = connect::open_session(&account, password, None)?;
    let listing = session.uidl()?.ok_or_else(|| Error::Unavailable {
        message: "the server does not answer UIDL".into(),
        remedy: None,
    })?;
    session.quit()?;
    respell(uids, listing.iter().map(|entry| entry.uid.as_slice()));
    Ok(())
}

/// Where a server UIDL with `/` becomes, with `-` in their place, a recorded one: that one is
/// the server's.
fn respell<'a>(uids: &mut [SeenUid], server: impl Iterator<Item = &'a [u8]>) {
    let recorded: HashMap<Vec<u8>, usize> = uids
        .iter()
        .enumerate()
        .filter(|(_, u)| u.dash_may_be_slash)
        .map(|(index, u)| (u.uid.clone(), index))
        .collect();
    for uid in server.filter(|uid| uid.contains(&b'/')) {
        let dashed: Vec<u8> = uid
            .iter()
            .map(|&b| if b == b'/' { b'-' } else { b })
            .collect();
        if let Some(&index) = recorded.get(&dashed) {
            uids[index].uid = uid.to_vec();
            uids[index].dash_may_be_slash = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_servers_spelling() {
        let seen = |uid: &str| SeenUid {
            uid: uid.as_bytes().to_vec(),
            first_seen: Some(1),
            dash_may_be_slash: uid.contains('-'),
        };
        let mut uids = vec![seen("a-1"), seen("b-2"), seen("c3"), seen("gone-4")];
        let server: Vec<&[u8]> = vec![b"a/1", b"b-2", b"c3", b"new/5"];
        respell(&mut uids, server.into_iter());
        let spelled: Vec<&[u8]> = uids.iter().map(|u| u.uid.as_slice()).collect();
        assert_eq!(spelled, [&b"a/1"[..], b"b-2", b"c3", b"gone-4"]);
    }
}
