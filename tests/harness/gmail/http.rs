//! The HTTP/1.1 the fake Gmail API speaks on one connection: request heads, bodies with a
//! Content-Length or chunked, `Expect: 100-continue`, persistent connections, and the two ways
//! of breaking a request on purpose (reading only part of its body, never answering it).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};

/// The largest request head the server reads.
const HEAD_LIMIT: usize = 64 * 1024;

/// A request line and its header fields; the body is read separately, once the server knows
/// what to do with it.
pub struct Head {
    pub method: String,
    /// The path without its query.
    pub path: String,
    /// The query's parameters, decoded, in order.
    pub query: Vec<(String, String)>,
    /// Header fields with lower-case names, in order.
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"))
    }

    fn content_length(&self) -> io::Result<usize> {
        self.header("content-length")
            .map_or(Ok(0), |value| value.trim().parse().map_err(invalid))
    }

    /// Whether the client asked to close the connection after this request.
    pub fn wants_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|value| value.eq_ignore_ascii_case("close"))
    }
}

/// Why a body could not be read whole.
pub enum BodyError {
    /// Larger than the limit: answered with 413, then the connection closes.
    TooLarge,
    /// The connection failed or the framing was broken.
    Broken,
}

pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(status: u16, value: &serde_json::Value) -> Answer {
        Answer {
            status,
            headers: vec![("Content-Type", "application/json; charset=UTF-8".into())],
            body: serde_json::to_vec_pretty(value).unwrap(),
        }
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Answer {
        self.headers.push((name, value));
        self
    }
}

pub struct Connection {
    reader: BufReader<TcpStream>,
    /// Whether the client was told to go on sending the current body.
    continued: bool,
}

impl Connection {
    pub fn new(stream: TcpStream) -> Connection {
        Connection {
            reader: BufReader::new(stream),
            continued: false,
        }
    }

    /// The next request's head; `None` when the client closed the connection (or fell silent
    /// past the read timeout) between requests.
    pub fn read_head(&mut self) -> Option<Head> {
        self.continued = false;
        let mut lines = Vec::new();
        let mut total = 0;
        loop {
            let mut line = Vec::new();
            let n = self.reader.read_until(b'\n', &mut line).ok()?;
            total += n;
            if n == 0 || total > HEAD_LIMIT || !line.ends_with(b"\n") {
                return None;
            }
            let line = String::from_utf8_lossy(&line).trim_end().to_string();
            if line.is_empty() {
                if lines.is_empty() {
                    continue; // a stray CRLF between requests (RFC 9112, 2.2)
                }
                break;
            }
            lines.push(line);
        }
        let mut request_line = lines[0].split(' ');
        let method = request_line.next()?.to_string();
        let target = request_line.next()?;
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let headers = lines[1..]
            .iter()
            .filter_map(|line| {
                let (name, value) = line.split_once(':')?;
                Some((name.trim().to_ascii_lowercase(), value.trim().to_string()))
            })
            .collect();
        Some(Head {
            method,
            path: path.to_string(),
            query: url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
            headers,
        })
    }

    /// The whole body of `head`, at most `limit` octets.
    pub fn read_body(&mut self, head: &Head, limit: usize) -> Result<Vec<u8>, BodyError> {
        self.continue_if_expected(head)
            .map_err(|_| BodyError::Broken)?;
        let mut body = Vec::new();
        if head.chunked() {
            while let Some(size) = self.chunk_size().map_err(|_| BodyError::Broken)? {
                if body.len() + size > limit {
                    return Err(BodyError::TooLarge);
                }
                self.read_exactly(size, &mut body)
                    .map_err(|_| BodyError::Broken)?;
                self.expect_crlf().map_err(|_| BodyError::Broken)?;
            }
            self.skip_trailers().map_err(|_| BodyError::Broken)?;
        } else {
            let length = head.content_length().map_err(|_| BodyError::Broken)?;
            if length > limit {
                return Err(BodyError::TooLarge);
            }
            self.read_exactly(length, &mut body)
                .map_err(|_| BodyError::Broken)?;
        }
        Ok(body)
    }

    /// Up to `count` octets of the body of `head` (fewer if the body is shorter or the client
    /// stops sending): what a server holds when the connection breaks in the middle.
    pub fn read_body_prefix(&mut self, head: &Head, count: usize) -> Vec<u8> {
        let mut prefix = Vec::new();
        if self.continue_if_expected(head).is_err() {
            return prefix;
        }
        if head.chunked() {
            while prefix.len() < count {
                let Ok(Some(size)) = self.chunk_size() else {
                    break;
                };
                let take = size.min(count - prefix.len());
                if self.read_exactly(take, &mut prefix).is_err() || take < size {
                    break;
                }
                if self.expect_crlf().is_err() {
                    break;
                }
            }
        } else {
            let length = head.content_length().unwrap_or(0);
            let _ = self.read_exactly(length.min(count), &mut prefix);
        }
        prefix
    }

    pub fn write(&mut self, answer: &Answer, close: bool) -> io::Result<()> {
        let mut text = format!("HTTP/1.1 {} {}\r\n", answer.status, reason(answer.status));
        for (name, value) in &answer.headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        if close {
            text.push_str("Connection: close\r\n");
        }
        text.push_str(&format!("Content-Length: {}\r\n\r\n", answer.body.len()));
        let stream = self.reader.get_mut();
        stream.write_all(text.as_bytes())?;
        stream.write_all(&answer.body)?;
        stream.flush()
    }

    /// Ends the connection at once, in both directions.
    pub fn break_off(&mut self) {
        let _ = self.reader.get_ref().shutdown(Shutdown::Both);
    }

    fn continue_if_expected(&mut self, head: &Head) -> io::Result<()> {
        let expects = head
            .header("expect")
            .is_some_and(|value| value.eq_ignore_ascii_case("100-continue"));
        if expects && !self.continued {
            self.continued = true;
            self.reader
                .get_mut()
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        Ok(())
    }

    fn read_exactly(&mut self, count: usize, into: &mut Vec<u8>) -> io::Result<()> {
        let read = (&mut self.reader).take(count as u64).read_to_end(into)?;
        if read < count {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }

    /// The size line of the next chunk; `None` for the last (zero-size) chunk.
    fn chunk_size(&mut self) -> io::Result<Option<usize>> {
        let line = self.line()?;
        let digits = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(digits, 16).map_err(invalid)?;
        Ok((size > 0).then_some(size))
    }

    fn expect_crlf(&mut self) -> io::Result<()> {
        if self.line()?.is_empty() {
            Ok(())
        } else {
            Err(invalid("chunk not followed by CRLF"))
        }
    }

    fn skip_trailers(&mut self) -> io::Result<()> {
        while !self.line()?.is_empty() {}
        Ok(())
    }

    fn line(&mut self) -> io::Result<String> {
        let mut line = Vec::new();
        (&mut self.reader)
            .take(HEAD_LIMIT as u64)
            .read_until(b'\n', &mut line)?;
        if !line.ends_with(b"\n") {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(String::from_utf8_lossy(&line).trim_end().to_string())
    }
}

fn invalid(error: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error.to_string())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        308 => "Resume Incomplete",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
