//! The authorization server's answer to a browser login: received by a one-request HTTP
//! listener on a loopback address, or read from the URL the user pasted.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use url::{Host, Url};

use super::OAuthError;
use crate::credentials::{printable, Secret};

/// How long a connected browser may take to send its request line and headers.
const REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(5);
const LARGEST_REQUEST_HEAD: usize = 16 * 1024;

/// The query of the redirect, as the authorization server set it (RFC 6749 section 4.1.2).
pub(crate) struct RedirectAnswer {
    pub code: Option<Secret>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// A listener on a loopback address waiting for the one request that carries the answer.
pub(crate) struct RedirectListener {
    listener: TcpListener,
    redirect: Url,
}

impl RedirectListener {
    /// Listens on 127.0.0.1 on a port the system picks, or where a configured loopback
    /// `redirect_uri` says (its host, its port if it has one, its path).
    pub fn bind(configured: Option<&Url>) -> Result<RedirectListener, OAuthError> {
        let mut redirect = configured
            .cloned()
            .unwrap_or_else(|| Url::parse("http://127.0.0.1/").expect("a valid URL"));
        let ip = match redirect.host() {
            Some(Host::Ipv4(ip)) => ip.into(),
            Some(Host::Ipv6(ip)) => ip.into(),
            _ => Ipv4Addr::LOCALHOST.into(),
        };
        let port = redirect.port().unwrap_or(0);
        let listener =
            TcpListener::bind(SocketAddr::new(ip, port)).map_err(|source| OAuthError::Local {
                action: "listen on a loopback port for the browser's redirect",
                source,
            })?;
        let local = listener.local_addr().map_err(|source| OAuthError::Local {
            action: "read the loopback listener's port",
            source,
        })?;
        redirect
            .set_port(Some(local.port()))
            .expect("an http URL takes a port");
        Ok(RedirectListener { listener, redirect })
    }

    pub fn redirect_uri(&self) -> &Url {
        &self.redirect
    }

    /// Answers requests until one comes to the redirect path (other paths, such as a favicon,
    /// get 404; a connection that sends nothing is dropped), then closes. Gives up at
    /// `deadline`.
    pub fn receive(self, waited: Duration) -> Result<RedirectAnswer, OAuthError> {
        let deadline = Instant::now() + waited;
        self.listener
            .set_nonblocking(true)
            .map_err(|source| OAuthError::Local {
                action: "set up the loopback listener",
                source,
            })?;
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if let Some(answer) = self.answer(stream) {
                        return Ok(answer);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        return Err(OAuthError::RedirectTimeout {
                            redirect: self.redirect.to_string(),
                            waited,
                        });
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(OAuthError::Local {
                        action: "accept the browser's connection",
                        source,
                    })
                }
            }
        }
    }

    /// Reads one request; the answer if it came to the redirect path.
    fn answer(&self, mut stream: TcpStream) -> Option<RedirectAnswer> {
        let target = read_request_target(&mut stream)?;
        let url = self.redirect.join(&target).ok()?;
        if url.path() != self.redirect.path() {
            let _ = respond(&mut stream, "404 Not Found", "Not found.");
            return None;
        }
        let answer = answer_from(&url);
        let page = if answer.code.is_some() && answer.error.is_none() {
            "popget received the authorization. You can close this tab and return to the terminal."
        } else {
            "popget received no authorization. Return to the terminal for details."
        };
        let _ = respond(&mut stream, "200 OK", page);
        Some(answer)
    }
}

/// The target of a `GET` request (`/path?query`), or `None` for anything else.
fn read_request_target(stream: &mut TcpStream) -> Option<String> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(REQUEST_READ_TIMEOUT)).ok()?;
    let mut head = Vec::new();
    let mut buffer = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        let n = stream.read(&mut buffer).ok()?;
        if n == 0 || head.len() + n > LARGEST_REQUEST_HEAD {
            return None;
        }
        head.extend_from_slice(&buffer[..n]);
    }
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim_end();
    let mut parts = line.split(' ');
    match (parts.next(), parts.next()) {
        (Some("GET"), Some(target)) if target.starts_with('/') => Some(target.to_string()),
        _ => None,
    }
}

fn respond(stream: &mut TcpStream, status: &str, text: &str) -> io::Result<()> {
    let body = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>popget</title></head>\
         <body><p>{text}</p></body></html>"
    );
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// The answer in a URL the user pasted: it must be the redirect URI with the answer's query.
pub(crate) fn parse_pasted(text: &str, redirect: &Url) -> Result<RedirectAnswer, OAuthError> {
    let text = text.trim();
    let url = Url::parse(text).map_err(|_| {
        OAuthError::BadRedirect(format!(
            "what was pasted is not a URL; paste the whole address the browser went to (it starts with {redirect})"
        ))
    })?;
    let same_place = url.scheme() == redirect.scheme()
        && url.host_str() == redirect.host_str()
        && url.path().trim_end_matches('/') == redirect.path().trim_end_matches('/');
    if !same_place {
        return Err(OAuthError::BadRedirect(format!(
            "the pasted URL does not start with the redirect URI {redirect}"
        )));
    }
    Ok(answer_from(&url))
}

fn answer_from(url: &Url) -> RedirectAnswer {
    let mut answer = RedirectAnswer {
        code: None,
        state: None,
        error: None,
        error_description: None,
    };
    for (key, value) in url.query_pairs() {
        match &*key {
            "code" => answer.code = Some(Secret::new(value.into_owned())),
            "state" => answer.state = Some(value.into_owned()),
            "error" => answer.error = Some(printable(&value)),
            "error_description" => answer.error_description = Some(printable(&value)),
            _ => {}
        }
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(port: u16, target: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(stream, "GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        reply
    }

    #[test]
    fn the_listener_answers_the_redirect_and_closes() {
        let listener = RedirectListener::bind(None).unwrap();
        let port = listener.redirect_uri().port().unwrap();
        assert_eq!(listener.redirect_uri().host_str(), Some("127.0.0.1"));
        let browser = std::thread::spawn(move || {
            let favicon = get(port, "/favicon.ico");
            let redirect = get(port, "/?code=abc&state=xyz");
            (favicon, redirect)
        });
        let answer = listener.receive(Duration::from_secs(10)).unwrap();
        let (favicon, redirect) = browser.join().unwrap();
        assert!(favicon.starts_with("HTTP/1.1 404"), "{favicon}");
        assert!(redirect.starts_with("HTTP/1.1 200"), "{redirect}");
        assert_eq!(answer.code.unwrap().expose(), "abc");
        assert_eq!(answer.state.as_deref(), Some("xyz"));
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "still listening"
        );
    }

    #[test]
    fn the_listener_gives_up_at_its_deadline() {
        let listener = RedirectListener::bind(None).unwrap();
        let result = listener.receive(Duration::from_millis(200));
        assert!(matches!(result, Err(OAuthError::RedirectTimeout { .. })));
    }

    #[test]
    fn a_configured_loopback_redirect_keeps_its_host_and_path() {
        let configured = Url::parse("http://localhost/callback").unwrap();
        let listener = RedirectListener::bind(Some(&configured)).unwrap();
        let uri = listener.redirect_uri();
        assert_eq!(uri.host_str(), Some("localhost"));
        assert_eq!(uri.path(), "/callback");
        assert_ne!(uri.port(), None);
    }

    #[test]
    fn a_pasted_url_must_be_the_redirect() {
        let redirect = Url::parse("http://localhost/").unwrap();
        let answer = parse_pasted(" http://localhost/?state=s&code=c%2F1 \n", &redirect).unwrap();
        assert_eq!(answer.code.unwrap().expose(), "c/1");
        for bad in [
            "c%2F1",
            "https://evil.example/?code=c",
            "http://localhost/other?code=c",
        ] {
            assert!(
                matches!(
                    parse_pasted(bad, &redirect),
                    Err(OAuthError::BadRedirect(_))
                ),
                "{bad}"
            );
        }
    }
}
