//! Where fetched messages go: Maildir or mbox, behind one trait.

mod maildir;
mod mbox;

use std::io::Write;

pub use maildir::Maildir;
pub use mbox::Mbox;

use crate::error::Error;
use crate::session::Body;

/// Why a delivery did not happen.
#[derive(Debug)]
pub enum Failure {
    /// Reading the message failed (connection or protocol); the session is no longer usable.
    Source(Error),
    /// The mailbox could not take the message; the session is still usable.
    Mailbox(Error),
}

/// A message that reached the mailbox.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// Octets stored (after line-end conversion), not counting mbox framing.
    pub octets: u64,
}

/// Writes one message into the sink it is given.
pub type Fill<'a> = dyn FnMut(&mut dyn Write) -> Result<Body, Error> + 'a;

/// A mailbox that takes messages one at a time.
pub trait Mailbox {
    /// Delivers one message, which `fill` streams (LF line ends) into the sink it is handed.
    /// Either the whole message is in the mailbox, written and fsynced, or nothing of it is.
    fn deliver(&mut self, fill: &mut Fill) -> Result<Delivered, Failure>;

    /// Makes everything delivered so far durable (directory entries included). Called before
    /// the deliveries are recorded in the state file.
    fn sync(&mut self) -> Result<(), Error>;
}

/// Turns the sink's recorded error (disk full, quota) into a mailbox failure.
fn check_body(body: Body, what: &str) -> Result<u64, Failure> {
    match body.sink_error {
        Some(e) => Err(Failure::Mailbox(Error::io(
            format!("cannot write {what}"),
            e,
        ))),
        None => Ok(body.octets),
    }
}
