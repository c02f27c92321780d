//! The GSSAPI mechanism itself, through the system's GSSAPI library: the security context, the
//! security-layer negotiation and the failures sorted by what the user can do about them.

use libgssapi::context::{ClientCtx, CtxFlags, SecurityContext};
use libgssapi::credential::{Cred, CredUsage};
/// The errors GSSAPI reports, which [`GssapiError`] carries as its source.
pub use libgssapi::error::{Error as GssError, MajorFlags};
use libgssapi::name::Name;
use libgssapi::oid::{OidSet, GSS_MECH_KRB5, GSS_NT_HOSTBASED_SERVICE};

use super::Target;

/// Why a Kerberos (SASL GSSAPI) login failed.
#[derive(Debug, thiserror::Error)]
pub enum GssapiError {
    /// The credential cache holds no ticket: run `kinit`.
    #[error("no Kerberos ticket: {source}")]
    NoTicket {
        /// What GSSAPI reported.
        #[source]
        source: GssError,
    },
    /// The ticket in the credential cache has expired: run `kinit` again.
    #[error("the Kerberos ticket has expired: {source}")]
    TicketExpired {
        /// What GSSAPI reported.
        #[source]
        source: GssError,
    },
    /// The KDC knows no principal for the service (`service/host@REALM`).
    #[error("Kerberos knows no service principal for {target}: {source}")]
    UnknownService {
        /// The service asked for.
        target: Target,
        /// What GSSAPI reported.
        #[source]
        source: GssError,
    },
    /// No Kerberos KDC could be reached to get a ticket for the service.
    #[error("the Kerberos KDC cannot be reached for {target}: {source}")]
    KdcUnreachable {
        /// The service a ticket was wanted for.
        target: Target,
        /// What GSSAPI reported.
        #[source]
        source: GssError,
    },
    /// Any other GSSAPI failure.
    #[error("Kerberos authentication to {target} failed: {source}")]
    Failed {
        /// The service authenticated to.
        target: Target,
        /// What GSSAPI reported.
        #[source]
        source: GssError,
    },
    /// The server answered -ERR: its keytab has no key for the ticket, or it maps the
    /// principal to no user.
    #[error("{refusal}")]
    Refused {
        /// The service authenticated to.
        target: Target,
        /// The server's refusal, as reported to the user.
        refusal: String,
    },
    /// The context completed without the server authenticating itself (mutual authentication).
    #[error("the server {target} did not prove its identity (no mutual authentication)")]
    NotMutual {
        /// The service that did not prove itself.
        target: Target,
    },
    /// The server's wrapped security-layer offer cannot be unwrapped or is not 4 octets
    /// (RFC 4752 section 3.1).
    #[error("the server's GSSAPI security-layer offer is not valid: {detail}")]
    BadLayerOffer {
        /// What is wrong with it.
        detail: String,
    },
    /// The server does not offer "no security layer", which popget always chooses
    /// (RFC 4752 section 3.3).
    #[error(
        "the server requires a GSSAPI security layer (it offers layers {offered:#04x}); popget \
         protects the session with TLS and negotiates none"
    )]
    LayerRequired {
        /// The bit mask of the layers the server offers.
        offered: u8,
    },
    /// The server sent another challenge after the security layer was chosen.
    #[error("the server sent a GSSAPI challenge after the security layer was chosen")]
    UnexpectedChallenge,
    /// The server answered +OK before the exchange, security-layer choice included, was
    /// complete.
    #[error("the server accepted the GSSAPI login before Kerberos authentication was complete")]
    Incomplete,
}

impl GssapiError {
    /// Sorts a GSSAPI failure by what the user can do about it.
    pub fn classify(target: &Target, source: GssError) -> GssapiError {
        // The minor status codes of MIT Kerberos (com_err table krb5, krb5.h).
        const KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN: i32 = -1_765_328_377;
        const KRB5KRB_AP_ERR_TKT_EXPIRED: i32 = -1_765_328_352;
        const KRB5_CC_NOTFOUND: i32 = -1_765_328_243;
        const KRB5_KDC_UNREACH: i32 = -1_765_328_228;
        const KRB5_FCC_NOFILE: i32 = -1_765_328_189;
        // Routine errors are a number in bits 16-23 of the major status, not single bits.
        let routine = source.major.bits() & 0x00ff_0000;
        let is = |flag: MajorFlags| routine == flag.bits();
        let target = target.clone();
        match source.minor as i32 {
            KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN => GssapiError::UnknownService { target, source },
            KRB5KRB_AP_ERR_TKT_EXPIRED => GssapiError::TicketExpired { source },
            KRB5_FCC_NOFILE | KRB5_CC_NOTFOUND => GssapiError::NoTicket { source },
            KRB5_KDC_UNREACH => GssapiError::KdcUnreachable { target, source },
            _ if is(MajorFlags::GSS_S_CREDENTIALS_EXPIRED) => GssapiError::TicketExpired { source },
            _ if is(MajorFlags::GSS_S_NO_CRED) => GssapiError::NoTicket { source },
            _ => GssapiError::Failed { target, source },
        }
    }
}

/// Whether the default credential cache holds a Kerberos ticket that has not expired. Reads
/// only the cache: no network.
pub fn has_usable_ticket() -> bool {
    let Ok(mechanisms) = OidSet::singleton(GSS_MECH_KRB5) else {
        return false;
    };
    Cred::acquire(None, None, CredUsage::Initiate, Some(&mechanisms))
        .and_then(|credential| credential.lifetime())
        .is_ok_and(|lifetime| !lifetime.is_zero())
}

/// The security layers of RFC 4752, section 3.3: a bit mask in the first octet.
const NO_SECURITY_LAYER: u8 = 1;

/// What one side of a GSS security context must do for SASL GSSAPI: the real one is
/// [`ClientCtx`]; the unit tests script one.
pub trait Context {
    /// One `GSS_Init_sec_context` call: the token to send, if any.
    fn step(&mut self, token: Option<&[u8]>) -> Result<Option<Vec<u8>>, GssError>;
    /// Whether the context is fully established.
    fn is_complete(&self) -> bool;
    /// Whether the server authenticated itself to the client.
    fn is_mutual(&self) -> bool;
    /// `GSS_Wrap` with integrity only (conf_flag FALSE).
    fn wrap(&mut self, message: &[u8]) -> Result<Vec<u8>, GssError>;
    /// `GSS_Unwrap`: checks and removes the protection of a wrapped message.
    fn unwrap(&mut self, message: &[u8]) -> Result<Vec<u8>, GssError>;
}

impl Context for ClientCtx {
    fn step(&mut self, token: Option<&[u8]>) -> Result<Option<Vec<u8>>, GssError> {
        ClientCtx::step(self, token, None).map(|token| token.map(|t| t.to_vec()))
    }
    fn is_complete(&self) -> bool {
        SecurityContext::is_complete(self)
    }
    fn is_mutual(&self) -> bool {
        self.flags()
            .is_ok_and(|flags| flags.contains(CtxFlags::GSS_C_MUTUAL_FLAG))
    }
    fn wrap(&mut self, message: &[u8]) -> Result<Vec<u8>, GssError> {
        SecurityContext::wrap(self, false, message).map(|wrapped| wrapped.to_vec())
    }
    fn unwrap(&mut self, message: &[u8]) -> Result<Vec<u8>, GssError> {
        SecurityContext::unwrap(self, message).map(|unwrapped| unwrapped.to_vec())
    }
}

/// Where the exchange stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Context tokens go back and forth.
    Establishing,
    /// The context is complete: the server's wrapped security-layer offer comes next.
    AwaitingLayers,
    /// The layer was chosen; only the server's +OK may follow.
    Done,
}

/// The client side of SASL GSSAPI. Its first token is made when it is created, so a missing or
/// expired ticket is found before `AUTH` is sent.
pub struct Gssapi<C: Context = ClientCtx> {
    context: C,
    target: Target,
    authzid: String,
    first_token: Option<Vec<u8>>,
    stage: Stage,
}

impl Gssapi {
    /// Starts a Kerberos 5 context for `target` with the default credential cache
    /// (`KRB5CCNAME`), asking the server to authenticate itself too. `authzid` is the user to
    /// log in as.
    pub fn start(target: &Target, authzid: &str) -> Result<Gssapi, GssapiError> {
        let failed = |source| GssapiError::classify(target, source);
        let name = Name::new(
            target.to_string().as_bytes(),
            Some(GSS_NT_HOSTBASED_SERVICE),
        )
        .map_err(failed)?;
        // Delegation is left off (RFC 4752, section 3.1): the server needs no ticket of ours.
        let flags = CtxFlags::GSS_C_MUTUAL_FLAG | CtxFlags::GSS_C_SEQUENCE_FLAG;
        let context = ClientCtx::new(None, name, flags, Some(GSS_MECH_KRB5));
        Gssapi::with_context(context, target.clone(), authzid)
    }
}

impl<C: Context> Gssapi<C> {
    fn with_context(
        mut context: C,
        target: Target,
        authzid: &str,
    ) -> Result<Gssapi<C>, GssapiError> {
        let first_token = context
            .step(None)
            .map_err(|source| GssapiError::classify(&target, source))?;
        let mut gssapi = Gssapi {
            context,
            target,
            authzid: authzid.to_string(),
            first_token: Some(first_token.unwrap_or_default()),
            stage: Stage::Establishing,
        };
        gssapi.note_completion()?;
        Ok(gssapi)
    }

    /// Moves on once the context is complete, which is only good if the server proved itself.
    fn note_completion(&mut self) -> Result<(), GssapiError> {
        if self.stage == Stage::Establishing && self.context.is_complete() {
            if !self.context.is_mutual() {
                return Err(GssapiError::NotMutual {
                    target: self.target.clone(),
                });
            }
            self.stage = Stage::AwaitingLayers;
        }
        Ok(())
    }

    fn establish(&mut self, token: &[u8]) -> Result<Vec<u8>, GssapiError> {
        let reply = self
            .context
            .step(Some(token))
            .map_err(|source| GssapiError::classify(&self.target, source))?;
        self.note_completion()?;
        Ok(reply.unwrap_or_default())
    }

    /// RFC 4752, section 3.1: unwraps the server's offer (a layer mask and a maximum message
    /// size), chooses no security layer, which TLS makes unneeded, and names the user.
    fn choose_layer(&mut self, offer: &[u8]) -> Result<Vec<u8>, GssapiError> {
        let bad = |detail: String| GssapiError::BadLayerOffer { detail };
        let offer = self
            .context
            .unwrap(offer)
            .map_err(|source| bad(format!("it cannot be unwrapped: {source}")))?;
        let [layers, _, _, _] = offer[..] else {
            return Err(bad(format!("{} octets instead of 4", offer.len())));
        };
        if layers & NO_SECURITY_LAYER == 0 {
            return Err(GssapiError::LayerRequired { offered: layers });
        }
        // No layer means a maximum message size of 0.
        let mut answer = vec![NO_SECURITY_LAYER, 0, 0, 0];
        answer.extend_from_slice(self.authzid.as_bytes());
        let wrapped = self
            .context
            .wrap(&answer)
            .map_err(|source| GssapiError::classify(&self.target, source))?;
        self.stage = Stage::Done;
        Ok(wrapped)
    }

    fn next(&mut self, challenge: &[u8]) -> Result<Vec<u8>, GssapiError> {
        match self.stage {
            Stage::Establishing => self.establish(challenge),
            Stage::AwaitingLayers => self.choose_layer(challenge),
            Stage::Done => Err(GssapiError::UnexpectedChallenge),
        }
    }
}

impl<C: Context> crate::Mechanism for Gssapi<C> {
    fn name(&self) -> &'static str {
        "GSSAPI"
    }
    fn initial(&mut self) -> crate::Result<Option<Vec<u8>>> {
        Ok(self.first_token.take())
    }
    fn respond(&mut self, challenge: &[u8]) -> crate::Result<Vec<u8>> {
        Ok(self.next(challenge)?)
    }
    fn finish(&self) -> crate::Result<()> {
        match self.stage {
            Stage::Done => Ok(()),
            _ => Err(GssapiError::Incomplete.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Mechanism;

    /// A context that completes after `rounds` server tokens; wrapping adds a `W` in front.
    struct Scripted {
        rounds: usize,
        seen: usize,
        mutual: bool,
    }

    impl Context for Scripted {
        fn step(&mut self, token: Option<&[u8]>) -> Result<Option<Vec<u8>>, GssError> {
            if token.is_some() {
                self.seen += 1;
            }
            Ok((self.seen == 0).then(|| b"ap-req".to_vec()))
        }
        fn is_complete(&self) -> bool {
            self.seen >= self.rounds
        }
        fn is_mutual(&self) -> bool {
            self.mutual
        }
        fn wrap(&mut self, message: &[u8]) -> Result<Vec<u8>, GssError> {
            Ok([b"W", message].concat())
        }
        fn unwrap(&mut self, message: &[u8]) -> Result<Vec<u8>, GssError> {
            match message.strip_prefix(b"W") {
                Some(inner) => Ok(inner.to_vec()),
                None => Err(GssError {
                    major: MajorFlags::GSS_S_BAD_SIG,
                    minor: 0,
                }),
            }
        }
    }

    fn mechanism(mutual: bool) -> Gssapi<Scripted> {
        let context = Scripted {
            rounds: 1,
            seen: 0,
            mutual,
        };
        Gssapi::with_context(context, Target::pop("localhost"), "alice").unwrap()
    }

    #[test]
    fn chooses_no_security_layer_and_names_the_user() {
        let mut gssapi = mechanism(true);
        assert_eq!(gssapi.initial().unwrap().unwrap(), b"ap-req");
        assert!(
            gssapi.finish().is_err(),
            "+OK before the context is complete"
        );
        assert_eq!(gssapi.respond(b"ap-rep").unwrap(), b"");
        // Layers 1 (none), 2 (integrity) and 4 (confidentiality), up to 65536 octets.
        let answer = gssapi.respond(b"W\x07\x01\x00\x00").unwrap();
        assert_eq!(answer, b"W\x01\x00\x00\x00alice");
        gssapi.finish().unwrap();
        assert!(matches!(
            gssapi.next(b"W\x01\x00\x00\x00"),
            Err(GssapiError::UnexpectedChallenge)
        ));
    }

    #[test]
    fn a_server_that_requires_a_layer_is_refused() {
        let mut gssapi = mechanism(true);
        gssapi.respond(b"ap-rep").unwrap();
        match gssapi.next(b"W\x06\x01\x00\x00") {
            Err(GssapiError::LayerRequired { offered: 6 }) => {}
            other => panic!("{other:?}"),
        }
        assert!(gssapi.finish().is_err());
    }

    #[test]
    fn a_layer_offer_must_be_four_wrapped_octets() {
        for offer in [
            &b"W\x01\x00\x00"[..],
            b"W\x01\x00\x00\x00\x00",
            b"\x01\x00\x00\x00",
        ] {
            let mut gssapi = mechanism(true);
            gssapi.respond(b"ap-rep").unwrap();
            assert!(
                matches!(gssapi.next(offer), Err(GssapiError::BadLayerOffer { .. })),
                "{offer:?}"
            );
        }
    }

    #[test]
    fn a_server_that_does_not_prove_itself_is_refused() {
        let mut gssapi = mechanism(false);
        gssapi.initial().unwrap();
        assert!(matches!(
            gssapi.next(b"ap-rep"),
            Err(GssapiError::NotMutual { .. })
        ));
    }

    #[test]
    fn failures_are_sorted_by_what_the_user_can_do() {
        let target = Target::pop("localhost");
        let error = |major: MajorFlags, minor: i32| GssError {
            major,
            minor: minor as u32,
        };
        let no_cache =
            GssapiError::classify(&target, error(MajorFlags::GSS_S_NO_CRED, -1_765_328_189));
        assert!(matches!(no_cache, GssapiError::NoTicket { .. }));
        let expired =
            GssapiError::classify(&target, error(MajorFlags::GSS_S_CREDENTIALS_EXPIRED, 0));
        assert!(matches!(expired, GssapiError::TicketExpired { .. }));
        let unknown =
            GssapiError::classify(&target, error(MajorFlags::GSS_S_FAILURE, -1_765_328_377));
        assert!(matches!(unknown, GssapiError::UnknownService { .. }));
        // GSS_S_FAILURE (13) shares bits with GSS_S_NO_CRED (7): compared as numbers.
        let other = GssapiError::classify(&target, error(MajorFlags::GSS_S_FAILURE, 1));
        assert!(matches!(other, GssapiError::Failed { .. }));
    }
}
