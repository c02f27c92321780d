//! The not-authenticated state: the greeting, CAPABILITY, STARTTLS, and the logins (LOGIN and
//! SASL AUTHENTICATE) that alone make a [`Session`], handing the client back when refused.

use std::io::{Read, Write};

use imap_codec::imap_types::auth::AuthMechanism;
use imap_codec::imap_types::command::{Command, CommandBody};
use imap_codec::imap_types::response::{Code, CommandContinuationRequest, Data, GreetingKind};
use popget_sasl::Mechanism;
use zeroize::Zeroizing;

use crate::session::Session;
use crate::wire::{Done, Received, Shown, Wire};
use crate::{sanitize, Capabilities, Error, Result, Tracer, DEFAULT_RESPONSE_LIMIT};

/// The most challenges one SASL exchange may take (SCRAM needs two).
const MAX_SASL_ROUNDS: usize = 8;

/// A login that failed, with the client it was tried on. After a refusal
/// ([`Error::Refused`]) the client may try again; after an error that
/// [ends the session](Error::ends_session) it is of no further use.
pub type LoginError<S> = (Error, Client<S>);

impl<S> From<LoginError<S>> for Error {
    fn from((error, _client): LoginError<S>) -> Error {
        error
    }
}

/// The not-authenticated state: greeting read, not logged in. Only CAPABILITY, STARTTLS and
/// the logins can be sent from here.
pub struct Client<S> {
    pub(crate) wire: Wire<S>,
    capabilities: Option<Capabilities>,
    greeting: String,
    preauth: bool,
}

/// Shows what the client learned, never the stream or a secret, so that a failed login (which
/// carries the client) can be unwrapped.
impl<S> std::fmt::Debug for Client<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("greeting", &self.greeting)
            .field("preauth", &self.preauth)
            .field("capabilities", &self.capabilities)
            .finish_non_exhaustive()
    }
}

impl<S: Read + Write> Client<S> {
    /// Reads the greeting. A `BYE` greeting is an [`Error::Bye`]; a `PREAUTH` one leaves a
    /// client that only [`Client::preauthenticated_session`] turns into a session.
    pub fn new(stream: S) -> Result<Self> {
        Self::with_trace(stream, None)
    }

    /// Like [`Client::new`], passing every line of the dialogue to `trace` (`C: ` or `S: ` in
    /// front, secrets redacted, literals summarised as `{n octets}`).
    pub fn with_trace(stream: S, trace: Option<Tracer>) -> Result<Self> {
        let mut wire = Wire::new(stream, DEFAULT_RESPONSE_LIMIT, trace);
        let greeting = wire.greeting()?;
        let text = sanitize(greeting.text.inner().as_bytes());
        let capabilities = match &greeting.code {
            Some(Code::Capability(list)) => Some(Capabilities::from_codec(list.as_ref())),
            _ => None,
        };
        let preauth = match greeting.kind {
            GreetingKind::Ok => false,
            GreetingKind::PreAuth => true,
            GreetingKind::Bye => {
                return Err(Error::Bye {
                    code: greeting.code.as_ref().map(crate::wire::classify),
                    text,
                })
            }
        };
        Ok(Client {
            wire,
            capabilities,
            greeting: text,
            preauth,
        })
    }

    /// The greeting's text, sanitized.
    pub fn greeting(&self) -> &str {
        &self.greeting
    }

    /// Whether the server greeted with `PREAUTH`: the connection is already authenticated (by
    /// means outside IMAP), so neither a login nor STARTTLS is possible.
    pub fn is_preauthenticated(&self) -> bool {
        self.preauth
    }

    /// Sets the most octets one server response may take, literals included (default
    /// [`DEFAULT_RESPONSE_LIMIT`]); a longer one is a protocol error.
    pub fn set_response_limit(&mut self, octets: u32) {
        self.wire.set_limit(octets);
    }

    /// The capabilities: from the greeting's `[CAPABILITY]` code, or asked for with
    /// CAPABILITY the first time.
    pub fn capabilities(&mut self) -> Result<&Capabilities> {
        if self.capabilities.is_none() {
            self.capabilities = Some(ask_capabilities(&mut self.wire)?);
        }
        Ok(self.capabilities.get_or_insert_with(Capabilities::default))
    }

    /// The stream underneath.
    pub fn connection(&self) -> &S {
        &self.wire.stream
    }

    /// Sends STARTTLS and hands back the raw stream for the TLS handshake. Refused without
    /// sending anything when the server does not announce STARTTLS or greeted with PREAUTH.
    /// Bytes the server sent after its OK would be read as if they came through TLS
    /// (response injection, RFC 2595 section 3.1), so any are an error.
    pub fn starttls(mut self) -> Result<Upgrade<S>> {
        if self.preauth {
            return Err(Error::InvalidInput(
                "the server greeted with PREAUTH: STARTTLS is no longer possible".into(),
            ));
        }
        if !self.capabilities()?.starttls() {
            return Err(Error::InvalidInput(
                "the IMAP server does not offer STARTTLS".into(),
            ));
        }
        let tag = self.wire.tag();
        let command = Command::new(tag.as_str(), CommandBody::StartTLS)
            .map_err(|_| Error::protocol("cannot encode STARTTLS"))?;
        self.wire.command(&command, Shown::Plain)?;
        self.wire.finish(&tag, |_| Ok(()))?.check("STARTTLS")?;
        if self.wire.has_unread_input() {
            return Err(Error::protocol(
                "the server sent data after accepting STARTTLS (possible response injection)",
            ));
        }
        Ok(Upgrade { wire: self.wire })
    }

    /// The session of a connection the server greeted with `PREAUTH`. Refused (handing the
    /// client back) when it did not.
    #[allow(clippy::result_large_err)]
    pub fn preauthenticated_session(mut self) -> std::result::Result<Session<S>, LoginError<S>> {
        if !self.preauth {
            return Err((
                Error::InvalidInput("the server did not greet with PREAUTH".into()),
                self,
            ));
        }
        match self.refresh_after_login(None) {
            Ok(capabilities) => Ok(Session::new(self.wire, capabilities)),
            Err(error) => Err((error, self)),
        }
    }

    /// Logs in with LOGIN. Refused without sending anything when the server announces
    /// LOGINDISABLED or greeted with PREAUTH. The password goes out as it is: the caller
    /// makes sure the connection is encrypted first. A refusal is an [`Error::Refused`]
    /// naming `LOGIN`.
    #[allow(clippy::result_large_err)]
    pub fn login(
        mut self,
        user: &str,
        password: &str,
    ) -> std::result::Result<Session<S>, LoginError<S>> {
        match self.login_exchange(user, password) {
            Ok(capabilities) => Ok(Session::new(self.wire, capabilities)),
            Err(error) => Err((error, self)),
        }
    }

    fn login_exchange(&mut self, user: &str, password: &str) -> Result<Capabilities> {
        self.check_not_preauth()?;
        if self.capabilities()?.login_disabled() {
            return Err(Error::InvalidInput(
                "the IMAP server refuses LOGIN here (LOGINDISABLED): use STARTTLS or AUTHENTICATE"
                    .into(),
            ));
        }
        let body = CommandBody::login(user, password).map_err(|_| {
            Error::InvalidInput("the user name or password cannot be sent with LOGIN".into())
        })?;
        let tag = self.wire.tag();
        let command =
            Command::new(tag.as_str(), body).map_err(|_| Error::protocol("cannot encode LOGIN"))?;
        let shown = format!("LOGIN {} ***", sanitize(user.as_bytes()));
        let mut seen = None;
        let done = match self.wire.command(&command, Shown::Redacted(&shown))? {
            Some(done) => done,
            None => self.wire.finish(&tag, |received| {
                remember_capabilities(received, &mut seen);
                Ok(())
            })?,
        };
        let done = done.check("LOGIN")?;
        self.refresh_after_login(capability_code(&done).or(seen))
    }

    /// Logs in with a SASL mechanism, driving the whole AUTHENTICATE exchange (RFC 3501
    /// section 6.2.2, RFC 4959): the initial response on the command line when the server
    /// announces SASL-IR, otherwise in answer to its first, empty challenge; then each
    /// challenge and answer. A refusal is an [`Error::Refused`] naming `AUTHENTICATE`; a
    /// mechanism that cannot go on (a server proof that does not verify, a challenge that
    /// makes no sense) cancels the exchange with `*` first, so the client stays usable.
    ///
    /// A mechanism whose final check fails after the server said OK ([`Mechanism::finish`],
    /// SCRAM's server signature) fails too, handing back a client that must be dropped.
    #[allow(clippy::result_large_err)]
    pub fn authenticate(
        mut self,
        mechanism: &mut dyn Mechanism,
    ) -> std::result::Result<Session<S>, LoginError<S>> {
        self.wire.redact_continuations = true;
        let result = self.authenticate_exchange(mechanism);
        self.wire.redact_continuations = false;
        match result {
            Ok(capabilities) => Ok(Session::new(self.wire, capabilities)),
            Err(error) => Err((error, self)),
        }
    }

    fn authenticate_exchange(&mut self, mechanism: &mut dyn Mechanism) -> Result<Capabilities> {
        self.check_not_preauth()?;
        let name = mechanism.name();
        AuthMechanism::try_from(name)
            .map_err(|_| Error::InvalidInput(format!("{name:?} is not a SASL mechanism name")))?;
        let sasl_ir = self.capabilities()?.sasl_ir();
        let mut initial = mechanism.initial()?.map(Zeroizing::new);
        let tag = self.wire.tag();
        let mut line = Zeroizing::new(format!("{tag} AUTHENTICATE {name}"));
        match initial.take() {
            Some(response) if sasl_ir => {
                line.push(' ');
                if response.is_empty() {
                    line.push('=');
                } else {
                    line.push_str(&Zeroizing::new(popget_sasl::encode(&response)));
                }
                self.wire
                    .trace(|| format!("C: {tag} AUTHENTICATE {name} ***"));
            }
            other => {
                initial = other;
                self.wire.trace(|| format!("C: {tag} AUTHENTICATE {name}"));
            }
        }
        line.push_str("\r\n");
        self.wire.queue(line.as_bytes())?;
        let mut seen = None;
        let mut rounds = 0;
        let done = loop {
            match self.wire.receive()? {
                Received::Tagged { tag: got, done } if got == tag => break done,
                Received::Tagged { tag: got, .. } => {
                    return Err(Error::protocol(format!(
                        "the server answered {} during {tag} AUTHENTICATE",
                        sanitize(got.as_bytes())
                    )))
                }
                Received::Continue(request) => {
                    rounds += 1;
                    let challenge: Vec<u8> = match request {
                        CommandContinuationRequest::Base64(data) => data.into_owned(),
                        CommandContinuationRequest::Basic(_) => Vec::new(),
                    };
                    let answer = if rounds > MAX_SASL_ROUNDS {
                        Err(Error::Sasl {
                            mechanism: name,
                            reason: format!("more than {MAX_SASL_ROUNDS} challenges"),
                        })
                    } else if let Some(response) = initial.take() {
                        Ok(response)
                    } else {
                        mechanism
                            .respond(&challenge)
                            .map(Zeroizing::new)
                            .map_err(Error::from)
                    };
                    match answer {
                        Ok(response) => {
                            let mut line = Zeroizing::new(popget_sasl::encode(&response));
                            line.push_str("\r\n");
                            self.wire.trace(|| "C: ***".to_string());
                            self.wire.queue(line.as_bytes())?;
                        }
                        Err(error) => {
                            self.wire.trace(|| "C: *".to_string());
                            self.wire.queue(b"*\r\n")?;
                            // The server answers the cancelled exchange (BAD, RFC 3501): read
                            // it, so that the client stays in step.
                            self.wire.finish(&tag, |_| Ok(()))?;
                            return Err(error);
                        }
                    }
                }
                other => remember_capabilities(other, &mut seen),
            }
        };
        let done = done.check("AUTHENTICATE")?;
        mechanism.finish()?;
        self.refresh_after_login(capability_code(&done).or(seen))
    }

    fn check_not_preauth(&self) -> Result<()> {
        if self.preauth {
            return Err(Error::InvalidInput(
                "the server greeted with PREAUTH: the connection is already authenticated".into(),
            ));
        }
        Ok(())
    }

    /// The capabilities after login: those the login's answer carried, else asked again
    /// (servers announce more, or other, capabilities once a user is logged in).
    fn refresh_after_login(&mut self, known: Option<Capabilities>) -> Result<Capabilities> {
        match known {
            Some(capabilities) => Ok(capabilities),
            None => ask_capabilities(&mut self.wire),
        }
    }
}

/// A connection between the server's OK to STARTTLS and the TLS handshake.
pub struct Upgrade<S> {
    wire: Wire<S>,
}

impl<S> std::fmt::Debug for Upgrade<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upgrade").finish_non_exhaustive()
    }
}

impl<S: Read + Write> Upgrade<S> {
    /// Runs the handshake on the raw stream with the caller's TLS (`start_tls`) and continues
    /// in the not-authenticated state over the encrypted stream. Capabilities learned before
    /// TLS are forgotten (RFC 2595 section 3.1) and asked again when needed.
    pub fn handshake<T: Read + Write, E>(
        self,
        start_tls: impl FnOnce(S) -> std::result::Result<T, E>,
    ) -> std::result::Result<Client<T>, E> {
        let (stream, trace, limit, tags) = self.wire.into_parts();
        let stream = start_tls(stream)?;
        let mut wire = Wire::new(stream, limit, trace);
        wire.continue_tags(tags);
        Ok(Client {
            wire,
            capabilities: None,
            greeting: String::new(),
            preauth: false,
        })
    }
}

/// Sends CAPABILITY and reads the list.
pub(crate) fn ask_capabilities<S: Read + Write>(wire: &mut Wire<S>) -> Result<Capabilities> {
    let tag = wire.tag();
    let command = Command::new(tag.as_str(), CommandBody::Capability)
        .map_err(|_| Error::protocol("cannot encode CAPABILITY"))?;
    wire.command(&command, Shown::Plain)?;
    let mut seen = None;
    let done = wire.finish(&tag, |received| {
        remember_capabilities(received, &mut seen);
        Ok(())
    })?;
    let done = done.check("CAPABILITY")?;
    seen.or_else(|| capability_code(&done))
        .ok_or_else(|| Error::protocol("the server answered CAPABILITY without capabilities"))
}

fn remember_capabilities(received: Received, seen: &mut Option<Capabilities>) {
    match received {
        Received::Data(Data::Capability(list)) => {
            *seen = Some(Capabilities::from_codec(list.as_ref()));
        }
        Received::Untagged(body) => {
            if let Some(Code::Capability(list)) = &body.code {
                *seen = Some(Capabilities::from_codec(list.as_ref()));
            }
        }
        _ => {}
    }
}

fn capability_code(done: &Done) -> Option<Capabilities> {
    match &done.code {
        Some(Code::Capability(list)) => Some(Capabilities::from_codec(list.as_ref())),
        _ => None,
    }
}
