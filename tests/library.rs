//! The library without the command line: an account resolved from configuration text is
//! fetched through `popget::fetch::fetch_account`, the operation `popget fetch` and the daemon
//! both call, against the private Dovecot.

use std::collections::HashMap;

use popget::config::{select_accounts, CommandLine, ConfigFile};
use popget::fetch::{fetch_account, Ended, Notice, Observer, Report, RunOptions, Stop};

use crate::harness::dovecot::Dovecot;
use crate::harness::{maildir_messages, sorted, tricky_messages};

/// What the run told its observer.
#[derive(Default)]
struct Seen {
    planned: Option<(usize, u64)>,
    delivered: usize,
    notices: Vec<Notice>,
}

impl Observer for Seen {
    fn planned(&mut self, messages: usize, octets: u64) {
        self.planned = Some((messages, octets));
    }
    fn delivered(&mut self, _octets: u64) {
        self.delivered += 1;
    }
    fn notice(&mut self, notice: Notice) {
        self.notices.push(notice);
    }
}

fn fetched(ended: Ended) -> Report {
    match ended {
        Ended::Fetched(outcome) => {
            assert!(outcome.error.is_none(), "{:?}", outcome.error);
            outcome.report
        }
        other => panic!("the run did not fetch: {other:?}"),
    }
}

#[test]
fn an_account_is_fetched_through_the_library() {
    let dovecot = Dovecot::start();
    let messages = tricky_messages();
    for message in &messages {
        dovecot.deliver("alice", message);
    }
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[accounts.library]\nhost = \"{}\"\nport = {}\nuser = \"alice\"\ntls = \"implicit\"\n\
         ca_file = \"{}\"\nmaildir = \"{}\"\nstate = \"{}\"\ndelete = true\n",
        dovecot.listen,
        dovecot.pop3s_port,
        dovecot.certificate().display(),
        dir.path().join("Maildir").display(),
        dir.path().join("library.state").display(),
    );
    // The password comes from the environment the caller hands in: nothing is read from the
    // process's own.
    let env = HashMap::from([
        ("POPGET_PASSWORD".to_string(), "secret".to_string()),
        ("HOME".to_string(), dir.path().display().to_string()),
    ]);
    let config = ConfigFile::parse(&text).unwrap();
    let accounts = select_accounts(&config, &[], &CommandLine::default(), &env).unwrap();
    let [account] = <[_; 1]>::try_from(accounts).unwrap();

    let mut seen = Seen::default();
    let report =
        fetched(fetch_account(&account, RunOptions::default(), Stop::Never, &mut seen).unwrap());
    assert_eq!(report.delivered, messages.len() as u64);
    assert_eq!(report.deleted, messages.len() as u64);
    assert_eq!(seen.delivered, messages.len());
    assert_eq!(seen.planned.map(|(count, _)| count), Some(messages.len()));
    assert!(seen.notices.is_empty(), "{:?}", seen.notices);
    assert_eq!(
        sorted(maildir_messages(&dir.path().join("Maildir"))),
        sorted(messages.clone()),
        "byte for byte"
    );
    assert!(dovecot.stored("alice").is_empty(), "deleted on the server");

    // A second run finds nothing new and changes nothing.
    let report =
        fetched(fetch_account(&account, RunOptions::default(), Stop::Never, &mut ()).unwrap());
    assert_eq!((report.delivered, report.deleted), (0, 0));
    assert_eq!(
        maildir_messages(&dir.path().join("Maildir")).len(),
        messages.len()
    );
}

#[test]
fn an_account_without_a_destination_is_refused_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 9: reaching the network would be a different error.
    let text = format!(
        "[accounts.nowhere]\nhost = \"127.0.0.1\"\nport = 9\nuser = \"alice\"\ntls = \"none\"\n\
         state = \"{}\"\n",
        dir.path().join("nowhere.state").display()
    );
    let env = HashMap::from([("HOME".to_string(), dir.path().display().to_string())]);
    let config = ConfigFile::parse(&text).unwrap();
    let accounts = select_accounts(&config, &[], &CommandLine::default(), &env).unwrap();
    assert!(accounts[0].delivery.is_none());
    let error =
        fetch_account(&accounts[0], RunOptions::default(), Stop::Never, &mut ()).unwrap_err();
    assert_eq!(error.exit_code(), popget::exit::CONFIG, "{error}");
    assert!(
        error
            .to_string()
            .contains("no destination for account \"nowhere\""),
        "{error}"
    );
    assert!(!dir.path().join("nowhere.state").exists());
}
