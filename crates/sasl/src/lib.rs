//! SASL mechanisms as pure state machines: PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1/256, XOAUTH2,
//! OAUTHBEARER and (with the `gssapi` feature) GSSAPI. They compute what to send; the protocol
//! client (POP3, IMAP) sends it, with the framing its protocol gives SASL.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use zeroize::Zeroize;

pub mod gssapi;

/// The result of a mechanism's step, failing with [`Error`] by default.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a mechanism cannot go on with an exchange.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server's side of the exchange breaks the mechanism's rules (a challenge where the
    /// mechanism expects none, more challenges than it has answers for).
    #[error("{0}")]
    Unexpected(String),
    /// The exchange failed on the client's side of it (a server proof that does not verify, a
    /// server message that cannot be parsed).
    #[error("{mechanism}: {reason}")]
    Failed {
        /// The SASL mechanism name.
        mechanism: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// A value cannot be sent (a NUL byte in a password, no randomness for a nonce).
    #[error("{0}")]
    InvalidInput(String),
    /// Kerberos (SASL GSSAPI) failed on the client's side: no ticket, an expired one, an
    /// unknown service, a security-layer offer that makes no sense.
    #[cfg(feature = "gssapi")]
    #[error(transparent)]
    Gssapi(#[from] gssapi::GssapiError),
}

/// Zeroes the secret fields of a mechanism when it is dropped.
macro_rules! zeroize_on_drop {
    ($type:ty: $($field:ident),+) => {
        impl Drop for $type {
            fn drop(&mut self) {
                $( self.$field.zeroize(); )+
            }
        }
    };
}

zeroize_on_drop!(Plain: password);
zeroize_on_drop!(Login: password);
zeroize_on_drop!(CramMd5: password);
zeroize_on_drop!(Xoauth2: token);
zeroize_on_drop!(OauthBearer: token);
zeroize_on_drop!(Scram: password);

/// One SASL mechanism's side of the exchange.
pub trait Mechanism {
    /// The name sent with AUTH.
    fn name(&self) -> &'static str;
    /// The initial response, for mechanisms where the client speaks first.
    fn initial(&mut self) -> Result<Option<Vec<u8>>>;
    /// Answers a decoded challenge.
    fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>>;
    /// Called on `+OK`: fails if the server never proved itself (SCRAM).
    fn finish(&self) -> Result<()> {
        Ok(())
    }
}

/// Standard base64 with padding, the encoding of SASL lines in POP3 (RFC 5034 section 4) and
/// IMAP (RFC 9051 section 6.2.2).
pub fn encode(data: &[u8]) -> String {
    BASE64.encode(data)
}

/// Strict base64: anything outside the alphabet or padding anywhere but the end is refused.
pub fn decode(text: &[u8]) -> Option<Vec<u8>> {
    BASE64.decode(text).ok()
}

fn no_nul(what: &str, value: &str) -> Result<()> {
    if value.contains('\0') {
        return Err(Error::InvalidInput(format!(
            "the {what} contains a NUL byte"
        )));
    }
    Ok(())
}

/// RFC 4616: `authzid NUL authcid NUL password`, in one initial response.
pub struct Plain {
    /// The user to act as; empty to be the authenticated user.
    pub authzid: String,
    /// The authentication identity (authcid).
    pub user: String,
    /// The password.
    pub password: String,
}

impl Mechanism for Plain {
    fn name(&self) -> &'static str {
        "PLAIN"
    }
    fn initial(&mut self) -> Result<Option<Vec<u8>>> {
        no_nul("authorization id", &self.authzid)?;
        no_nul("user name", &self.user)?;
        no_nul("password", &self.password)?;
        Ok(Some(
            format!("{}\0{}\0{}", self.authzid, self.user, self.password).into_bytes(),
        ))
    }
    fn respond(&mut self, _: &[u8]) -> Result<Vec<u8>> {
        Err(Error::Unexpected(
            "the server sent a challenge to PLAIN".into(),
        ))
    }
}

/// LOGIN: the user name, then the password, each answering a challenge whatever its text.
pub struct Login {
    /// The user name, sent in answer to the first challenge.
    pub user: String,
    /// The password, sent in answer to the second challenge.
    pub password: String,
    /// How many challenges have been answered; start at 0.
    pub step: u8,
}

impl Mechanism for Login {
    fn name(&self) -> &'static str {
        "LOGIN"
    }
    fn initial(&mut self) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }
    fn respond(&mut self, _: &[u8]) -> Result<Vec<u8>> {
        self.step += 1;
        match self.step {
            1 => Ok(self.user.clone().into_bytes()),
            2 => Ok(self.password.clone().into_bytes()),
            _ => Err(Error::Unexpected("LOGIN asked more than twice".into())),
        }
    }
}

/// RFC 2195: `user SP hex(HMAC-MD5(password, challenge))`.
pub struct CramMd5 {
    /// The user name.
    pub user: String,
    /// The password, the HMAC-MD5 key.
    pub password: String,
}

impl Mechanism for CramMd5 {
    fn name(&self) -> &'static str {
        "CRAM-MD5"
    }
    fn initial(&mut self) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }
    fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>> {
        let mut mac =
            <Hmac<Md5> as Mac>::new_from_slice(self.password.as_bytes()).expect("any key length");
        mac.update(challenge);
        let digest = hex::encode(mac.finalize().into_bytes());
        Ok(format!("{} {digest}", self.user).into_bytes())
    }
}

/// Google's XOAUTH2: `user=U ^A auth=Bearer T ^A ^A`. An error arrives as a challenge; the
/// answer is an empty response, after which the server says -ERR.
pub struct Xoauth2 {
    /// The user name (usually the e-mail address).
    pub user: String,
    /// The OAuth 2.0 access token.
    pub token: String,
}

impl Mechanism for Xoauth2 {
    fn name(&self) -> &'static str {
        "XOAUTH2"
    }
    fn initial(&mut self) -> Result<Option<Vec<u8>>> {
        Ok(Some(
            format!("user={}\x01auth=Bearer {}\x01\x01", self.user, self.token).into_bytes(),
        ))
    }
    fn respond(&mut self, _error_json: &[u8]) -> Result<Vec<u8>> {
        Ok(Vec::new())
    }
}

/// RFC 7628 OAUTHBEARER. An error challenge is answered with a single %x01.
pub struct OauthBearer {
    /// The user name, sent as the GS2 authorization identity.
    pub user: String,
    /// The OAuth 2.0 bearer token.
    pub token: String,
    /// The server's host name, sent as the `host` key.
    pub host: String,
    /// The server's port, sent as the `port` key.
    pub port: u16,
}

impl Mechanism for OauthBearer {
    fn name(&self) -> &'static str {
        "OAUTHBEARER"
    }
    fn initial(&mut self) -> Result<Option<Vec<u8>>> {
        let user = self.user.replace('=', "=3D").replace(',', "=2C");
        Ok(Some(
            format!(
                "n,a={user},\x01host={}\x01port={}\x01auth=Bearer {}\x01\x01",
                self.host, self.port, self.token
            )
            .into_bytes(),
        ))
    }
    fn respond(&mut self, _error_json: &[u8]) -> Result<Vec<u8>> {
        Ok(vec![0x01])
    }
}

/// The hash behind a SCRAM variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramHash {
    /// SHA-1: SCRAM-SHA-1 (RFC 5802).
    Sha1,
    /// SHA-256: SCRAM-SHA-256 (RFC 7677).
    Sha256,
}

impl ScramHash {
    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha1 => {
                let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key).expect("any key length");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            ScramHash::Sha256 => {
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha1 => Sha1::digest(data).to_vec(),
            ScramHash::Sha256 => Sha256::digest(data).to_vec(),
        }
    }

    fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramHash::Sha1 => {
                let mut out = [0u8; 20];
                pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, iterations, &mut out);
                out.to_vec()
            }
            ScramHash::Sha256 => {
                let mut out = [0u8; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out.to_vec()
            }
        }
    }
}

/// The most PBKDF2 iterations a server may ask for (a hostile server could otherwise make the
/// client spin).
const MAX_ITERATIONS: u32 = 1_000_000;

/// RFC 5802 / RFC 7677 SCRAM, without channel binding. The login succeeds only if the server
/// proves it knows the password.
pub struct Scram {
    hash: ScramHash,
    user: String,
    password: String,
    client_nonce: String,
    client_first_bare: String,
    server_signature: Option<Vec<u8>>,
    verified: bool,
}

impl Scram {
    /// Starts a SCRAM login for `user` with a random client nonce; fails only if the system has
    /// no randomness.
    pub fn new(hash: ScramHash, user: &str, password: &str) -> Result<Scram> {
        let mut random = [0u8; 18];
        getrandom::fill(&mut random)
            .map_err(|e| Error::InvalidInput(format!("no randomness for SCRAM: {e}")))?;
        Ok(Scram::with_nonce(hash, user, password, &encode(&random)))
    }

    /// Starts a SCRAM login with the given client nonce: [`Scram::new`] passes a random one,
    /// tests a fixed one to replay known exchanges.
    pub fn with_nonce(hash: ScramHash, user: &str, password: &str, nonce: &str) -> Scram {
        Scram {
            hash,
            user: user.to_string(),
            password: password.to_string(),
            client_nonce: nonce.to_string(),
            client_first_bare: String::new(),
            server_signature: None,
            verified: false,
        }
    }

    fn failed(message: &str) -> Error {
        Error::Failed {
            mechanism: "SCRAM",
            reason: message.to_string(),
        }
    }

    fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>> {
        let server_first = std::str::from_utf8(server_first)
            .map_err(|_| Scram::failed("the server's message is not UTF-8"))?;
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for attribute in server_first.split(',') {
            match attribute.split_once('=') {
                Some(("r", value)) => nonce = Some(value),
                Some(("s", value)) => salt = decode(value.as_bytes()),
                Some(("i", value)) => iterations = value.parse::<u32>().ok(),
                Some(("m", _)) => {
                    return Err(Scram::failed("the server requires an unknown extension"))
                }
                _ => {}
            }
        }
        let nonce = nonce.ok_or_else(|| Scram::failed("no nonce from the server"))?;
        if !nonce.starts_with(&self.client_nonce) || nonce.len() <= self.client_nonce.len() {
            return Err(Scram::failed("the server's nonce does not extend ours"));
        }
        let salt = salt
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Scram::failed("no valid salt"))?;
        let iterations = iterations
            .filter(|&i| (1..=MAX_ITERATIONS).contains(&i))
            .ok_or_else(|| Scram::failed("an invalid iteration count"))?;
        let password = stringprep::saslprep(&self.password)
            .map_err(|_| Scram::failed("the password is not valid for SASLprep"))?;
        let salted = self
            .hash
            .salted_password(password.as_bytes(), &salt, iterations);
        let client_key = self.hash.hmac(&salted, b"Client Key");
        let stored_key = self.hash.hash(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let signature = self.hash.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = self.hash.hmac(&salted, b"Server Key");
        self.server_signature = Some(self.hash.hmac(&server_key, auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", encode(&proof)).into_bytes())
    }

    fn check_server_final(&mut self, server_final: &[u8]) -> Result<Vec<u8>> {
        let text = std::str::from_utf8(server_final)
            .map_err(|_| Scram::failed("the server's final message is not UTF-8"))?;
        if let Some(error) = text.strip_prefix("e=") {
            return Err(Scram::failed(&format!("the server reported {error}")));
        }
        let signature = text
            .strip_prefix("v=")
            .and_then(|v| decode(v.split(',').next().unwrap_or("").as_bytes()));
        if signature.is_none() || signature != self.server_signature {
            return Err(Scram::failed(
                "the server could not prove it knows the password",
            ));
        }
        self.verified = true;
        Ok(Vec::new())
    }
}

impl Mechanism for Scram {
    fn name(&self) -> &'static str {
        match self.hash {
            ScramHash::Sha1 => "SCRAM-SHA-1",
            ScramHash::Sha256 => "SCRAM-SHA-256",
        }
    }

    fn initial(&mut self) -> Result<Option<Vec<u8>>> {
        let user = stringprep::saslprep(&self.user)
            .map_err(|_| Scram::failed("the user name is not valid for SASLprep"))?;
        let user = user.replace('=', "=3D").replace(',', "=2C");
        self.client_first_bare = format!("n={user},r={}", self.client_nonce);
        Ok(Some(format!("n,,{}", self.client_first_bare).into_bytes()))
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>> {
        if self.server_signature.is_none() {
            self.client_final(challenge)
        } else if !self.verified {
            self.check_server_final(challenge)
        } else {
            Err(Scram::failed("the server kept sending challenges"))
        }
    }

    fn finish(&self) -> Result<()> {
        if self.verified {
            Ok(())
        } else {
            Err(Scram::failed(
                "the server accepted the login without proving it knows the password",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_matches_rfc_4616_form() {
        // RFC 4616's own example; a NUL inside a field would shift the fields, so it is refused.
        let mut plain = Plain {
            authzid: "test".into(),
            user: "test".into(),
            password: "test".into(),
        };
        assert_eq!(
            encode(&plain.initial().unwrap().unwrap()),
            "dGVzdAB0ZXN0AHRlc3Q="
        );
        let mut nul = Plain {
            authzid: String::new(),
            user: "a\0b".into(),
            password: "p".into(),
        };
        assert!(nul.initial().is_err());
    }

    #[test]
    fn cram_md5_matches_rfc_2195() {
        let mut cram = CramMd5 {
            user: "tim".into(),
            password: "tanstaaftanstaaf".into(),
        };
        let response = cram
            .respond(b"<1896.697170952@postoffice.reston.mci.net>")
            .unwrap();
        assert_eq!(response, b"tim b913a602c7eda7a495b4e6e7334d3890");
    }

    fn scram_exchange(
        hash: ScramHash,
        nonce: &str,
        server_first: &str,
        client_final: &str,
        server_final: &str,
    ) {
        let mut scram = Scram::with_nonce(hash, "user", "pencil", nonce);
        assert_eq!(
            scram.initial().unwrap().unwrap(),
            format!("n,,n=user,r={nonce}").into_bytes()
        );
        assert_eq!(
            String::from_utf8(scram.respond(server_first.as_bytes()).unwrap()).unwrap(),
            client_final
        );
        assert!(
            scram.finish().is_err(),
            "not verified before the server's signature"
        );
        assert_eq!(scram.respond(server_final.as_bytes()).unwrap(), b"");
        scram.finish().unwrap();
    }

    #[test]
    fn scram_sha_1_matches_rfc_5802() {
        scram_exchange(
            ScramHash::Sha1,
            "fyko+d2lbbFgONRv9qkxdawL",
            "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
            "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
            "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
        );
    }

    #[test]
    fn scram_sha_256_matches_rfc_7677() {
        scram_exchange(
            ScramHash::Sha256,
            "rOprNGfwEbeRWgbNEkqO",
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
        );
    }

    #[test]
    fn scram_refuses_a_server_that_cannot_prove_itself() {
        // A server that cannot prove it knows the password: a nonce that does not extend ours,
        // a wrong signature, or an iteration count that would make the client spin.
        let mut scram = Scram::with_nonce(ScramHash::Sha256, "user", "pencil", "abc");
        scram.initial().unwrap();
        assert!(scram
            .respond(b"r=xyz123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
            .is_err());
        let mut scram = Scram::with_nonce(ScramHash::Sha256, "user", "pencil", "abc");
        scram.initial().unwrap();
        scram
            .respond(b"r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
            .unwrap();
        assert!(scram.respond(b"v=AAAA").is_err());
        assert!(scram.finish().is_err());
        let mut scram = Scram::with_nonce(ScramHash::Sha256, "user", "pencil", "abc");
        scram.initial().unwrap();
        assert!(scram
            .respond(b"r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4000000000")
            .is_err());
    }

    #[test]
    fn oauth_mechanisms_have_their_documented_forms() {
        let mut xoauth2 = Xoauth2 {
            user: "me@example.com".into(),
            token: "ya29.token".into(),
        };
        assert_eq!(
            xoauth2.initial().unwrap().unwrap(),
            b"user=me@example.com\x01auth=Bearer ya29.token\x01\x01"
        );
        assert_eq!(xoauth2.respond(b"{\"status\":\"401\"}").unwrap(), b"");
        let mut bearer = OauthBearer {
            user: "a,b=c".into(),
            token: "t".into(),
            host: "h".into(),
            port: 995,
        };
        assert_eq!(
            bearer.initial().unwrap().unwrap(),
            b"n,a=a=2Cb=3Dc,\x01host=h\x01port=995\x01auth=Bearer t\x01\x01"
        );
        assert_eq!(bearer.respond(b"{}").unwrap(), [1]);
    }

    #[test]
    fn base64_decoding_is_strict() {
        assert_eq!(decode(b"dGVzdA=="), Some(b"test".to_vec()));
        for bad in [&b"=AAA"[..], b"AAA=BBB", b"a b", b"!!!!"] {
            assert_eq!(decode(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
