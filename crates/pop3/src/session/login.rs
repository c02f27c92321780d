//! Logging in: USER and PASS, APOP and SASL AUTH, each turning a [`Client`] into a [`Session`]
//! only when the server accepts, and handing the client back when it does not.

use md5::{Digest, Md5};
use zeroize::Zeroizing;

use super::{Client, Read, SaslReply, Session, Write};
use crate::sasl::{self, Mechanism};
use crate::{apop_timestamp, Command, Error, ProtocolError, Result, Status, MAX_COMMAND};

/// The most challenges one exchange may take (SCRAM needs two).
const MAX_SASL_ROUNDS: usize = 8;

/// The APOP digest (RFC 1939 section 7): lowercase hex MD5 of the timestamp (brackets
/// included) and the secret.
pub fn apop_digest(timestamp: &[u8], secret: &str) -> String {
    let mut md5 = Md5::new();
    md5.update(timestamp);
    md5.update(secret.as_bytes());
    hex::encode(md5.finalize())
}

/// A login that failed, with the client it was tried on. After a refusal (an
/// [`Error::Refused`]) the client is still in the AUTHORIZATION state and may try again; after
/// an error that [ends the session](Error::ends_session) it is of no further use.
pub type LoginError<S> = (Error, Client<S>);

impl<S> From<LoginError<S>> for Error {
    fn from((error, _client): LoginError<S>) -> Error {
        error
    }
}

/// How an exchange that did not fail otherwise ended.
enum Exchange {
    Done,
    /// The AUTH line carrying the initial response was refused before any challenge.
    LineRefused(Status),
}

// A failed login hands the client back by value, as the Ok side hands over the session, which
// is as large; boxing it would cost an allocation for nothing on a path taken once per
// connection.
#[allow(clippy::result_large_err)]
impl<S: Read + Write> Client<S> {
    /// Logs in with USER and PASS (RFC 1939 section 7). The password goes out as it is: check
    /// [`Client::security`] first if it must not cross an unprotected connection. A refusal is
    /// an [`Error::Refused`] naming `USER` or `PASS`.
    ///
    /// When the client pipelines (see [`Client::set_pipelining`]), USER and PASS go out
    /// together.
    pub fn login_user_pass(
        mut self,
        user: &str,
        password: &str,
    ) -> std::result::Result<Session<S>, LoginError<S>> {
        let result = self.user_pass(user, password);
        self.logged_in(result)
    }

    /// Logs in with APOP (RFC 1939 section 7): an MD5 digest of the greeting's timestamp and
    /// the password, so the password itself never crosses the wire. Fails with
    /// [`Error::InvalidInput`], sending nothing, when the greeting has no valid timestamp; a
    /// refusal is an [`Error::Refused`] naming `APOP`.
    pub fn apop(
        mut self,
        user: &str,
        password: &str,
    ) -> std::result::Result<Session<S>, LoginError<S>> {
        let result = self.apop_exchange(user, password);
        self.logged_in(result)
    }

    /// Logs in with a SASL mechanism (RFC 5034), driving the whole AUTH exchange: the initial
    /// response, the challenges and the answers. A refusal is an [`Error::Refused`] naming
    /// `AUTH`; a mechanism that cannot go on (a server proof that does not verify, a challenge
    /// that makes no sense) cancels the exchange with `*` first, so the client stays usable.
    ///
    /// The initial response goes on the AUTH line only when the line stays within 255 octets;
    /// otherwise it answers the server's first, empty challenge. Microsoft's POP3 server
    /// answers `-ERR Protocol error` to `AUTH XOAUTH2` with the initial response on the line,
    /// and accepts the same response after `AUTH XOAUTH2` and `+`: for the OAuth mechanisms, an
    /// AUTH line refused at once without a response code (which would speak of the
    /// credentials or of a temporary condition) is tried once more in that two-step form.
    pub fn authenticate(
        mut self,
        mechanism: &mut dyn Mechanism,
    ) -> std::result::Result<Session<S>, LoginError<S>> {
        let result = self.sasl_exchange(mechanism);
        self.logged_in(result)
    }

    fn logged_in(self, result: Result<()>) -> std::result::Result<Session<S>, LoginError<S>> {
        match result {
            Ok(()) => Ok(self.enter_session()),
            Err(error) => Err((error, self)),
        }
    }

    fn user_pass(&mut self, user: &str, password: &str) -> Result<()> {
        self.settle()?;
        // With pipelining, USER and PASS go out at once. Nothing follows the command that logs
        // in before its answer: Courier hands the logged-in connection to a new process, which
        // never sees what the login process had already read.
        let pipelined = self.pipelines();
        let pass = Command::Pass(password);
        self.wire.send(&Command::User(user))?;
        if pipelined {
            self.wire.send(&pass)?;
        }
        let status = self.wire.receive_status()?;
        if !status.ok {
            return Err(Error::refused("USER", &status));
        }
        if !pipelined {
            self.wire.send(&pass)?;
        }
        let status = self.wire.receive_status()?;
        if !status.ok {
            return Err(Error::refused("PASS", &status));
        }
        Ok(())
    }

    fn apop_exchange(&mut self, user: &str, password: &str) -> Result<()> {
        let Some(timestamp) = apop_timestamp(&self.greeting.text) else {
            return Err(Error::InvalidInput(
                "APOP needs a valid timestamp in the server's greeting".into(),
            ));
        };
        let digest = apop_digest(timestamp, password);
        self.settle()?;
        let status = self.wire.command(&Command::Apop {
            user,
            digest: &digest,
        })?;
        if !status.ok {
            return Err(Error::refused("APOP", &status));
        }
        Ok(())
    }

    fn sasl_exchange(&mut self, mechanism: &mut dyn Mechanism) -> Result<()> {
        self.settle()?;
        let name = mechanism.name();
        match self.exchange(mechanism, true)? {
            Exchange::Done => Ok(()),
            Exchange::LineRefused(status)
                if matches!(name, "XOAUTH2" | "OAUTHBEARER") && status.code.is_none() =>
            {
                match self.exchange(mechanism, false)? {
                    Exchange::Done => Ok(()),
                    Exchange::LineRefused(status) => Err(Error::refused("AUTH", &status)),
                }
            }
            Exchange::LineRefused(status) => Err(Error::refused("AUTH", &status)),
        }
    }

    /// One AUTH exchange; with `inline`, the initial response goes on the AUTH line when it
    /// fits.
    fn exchange(&mut self, mechanism: &mut dyn Mechanism, inline: bool) -> Result<Exchange> {
        let name = mechanism.name();
        // Responses carry the secret (PLAIN, LOGIN, the OAuth tokens): zeroed once sent.
        let mut initial = mechanism.initial()?.map(|data| {
            let data = Zeroizing::new(data);
            Zeroizing::new(if data.is_empty() {
                "=".to_string()
            } else {
                sasl::encode(&data)
            })
        });
        let fits = inline
            && initial
                .as_ref()
                .is_some_and(|i| "AUTH ".len() + name.len() + 1 + i.len() + 2 <= MAX_COMMAND);
        let mut reply = self.wire.sasl(&Command::Auth {
            mechanism: name,
            initial: if fits {
                initial.as_deref().map(String::as_str)
            } else {
                None
            },
        })?;
        if fits {
            initial = None;
            if let SaslReply::Done(status) = &reply {
                if !status.ok {
                    return Ok(Exchange::LineRefused(status.clone()));
                }
            }
        }
        for _ in 0..MAX_SASL_ROUNDS {
            let challenge = match reply {
                SaslReply::Done(status) if status.ok => {
                    mechanism.finish()?;
                    return Ok(Exchange::Done);
                }
                SaslReply::Done(status) => return Err(Error::refused("AUTH", &status)),
                SaslReply::Challenge(challenge) => challenge,
            };
            let Some(response) = self.respond(mechanism, initial.take(), &challenge)? else {
                return Ok(Exchange::Done);
            };
            reply = self.wire.sasl(&Command::SaslResponse(&response))?;
        }
        self.cancel("the SASL exchange did not end")
            .map(|()| Exchange::Done)
    }

    /// The response to `challenge`: the initial response still unsent, or the mechanism's
    /// answer. `None` once the exchange was cancelled for a challenge that makes no sense.
    fn respond(
        &mut self,
        mechanism: &mut dyn Mechanism,
        initial: Option<Zeroizing<String>>,
        challenge: &[u8],
    ) -> Result<Option<Zeroizing<String>>> {
        match initial {
            Some(initial) if challenge.is_empty() => Ok(Some(initial)),
            Some(_) => self
                .cancel("the server sent a challenge before the initial response")
                .map(|()| None),
            None => {
                let Some(decoded) = sasl::decode(challenge) else {
                    return self
                        .cancel("the server sent a challenge that is not valid base64")
                        .map(|()| None);
                };
                match mechanism.respond(&decoded) {
                    Ok(response) => Ok(Some(Zeroizing::new(sasl::encode(&Zeroizing::new(
                        response,
                    ))))),
                    Err(error) => {
                        let _ = self.wire.sasl(&Command::SaslResponse("*"));
                        Err(error.into())
                    }
                }
            }
        }
    }

    /// Cancels an exchange with `*` (the server answers -ERR) and reports why.
    fn cancel(&mut self, why: &str) -> Result<()> {
        let _ = self.wire.sasl(&Command::SaslResponse("*"));
        Err(ProtocolError::new(why).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::{client as connect, sent as text};
    use crate::Pipelining;

    #[test]
    fn apop_digest_matches_rfc_1939() {
        assert_eq!(
            apop_digest(b"<1896.697170952@dbc.mtview.ca.us>", "tanstaaf"),
            "c4c9334bac560ecc979e58001b3e22fb"
        );
    }

    #[test]
    fn apop_sends_the_digest_of_the_greeting_timestamp() {
        let (client, written) = connect(&[
            b"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n",
            b"+OK maildrop has 1 message\r\n",
        ]);
        client.apop("mrose", "tanstaaf").unwrap();
        assert_eq!(
            text(&written),
            "APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n"
        );

        let (refusing, written) = connect(&[b"+OK no timestamp\r\n"]);
        let (error, _) = refusing.apop("mrose", "tanstaaf").err().unwrap();
        assert!(matches!(error, Error::InvalidInput(_)), "{error:?}");
        assert_eq!(text(&written), "");
    }

    #[test]
    fn a_refused_authentication_hands_the_client_back_to_try_again() {
        let (client, written) = connect(&[
            b"+OK hi\r\n",
            b"-ERR [AUTH] expired\r\n",
            b"+OK in\r\n",
            b"+OK 0 0\r\n",
        ]);
        let mechanism = |token: &str| sasl::Xoauth2 {
            user: "me".into(),
            token: token.into(),
        };
        let (error, client) = client.authenticate(&mut mechanism("old")).err().unwrap();
        assert!(
            matches!(
                error,
                Error::Refused {
                    command: "AUTH",
                    ..
                }
            ),
            "{error:?}"
        );
        let mut session = client.authenticate(&mut mechanism("new")).ok().unwrap();
        assert_eq!(session.stat().unwrap(), (0, 0));
        let line = |token: &str| {
            let response =
                sasl::encode(format!("user=me\x01auth=Bearer {token}\x01\x01").as_bytes());
            format!("AUTH XOAUTH2 {response}\r\n")
        };
        assert_eq!(
            text(&written),
            format!("{}{}STAT\r\n", line("old"), line("new"))
        );
    }

    #[test]
    fn a_pass_pipelined_behind_a_refused_user_is_answered_before_anything_else() {
        let (mut client, written) = connect(&[
            b"+OK hi\r\n",
            b"-ERR [AUTH] who?\r\n-ERR no USER\r\n",
            b"+OK\r\nUSER\r\n.\r\n",
        ]);
        client.set_pipelining(Pipelining::On);
        let (error, mut client) = client.login_user_pass("mrose", "secret").err().unwrap();
        assert!(
            matches!(
                error,
                Error::Refused {
                    command: "USER",
                    ..
                }
            ),
            "{error:?}"
        );
        // CAPA gets its own answer, not the one to PASS.
        assert_eq!(client.capa().unwrap().unwrap().lines, ["USER"]);
        assert_eq!(text(&written), "USER mrose\r\nPASS secret\r\nCAPA\r\n");
    }
}
