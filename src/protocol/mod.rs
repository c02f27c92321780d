//! The POP3 wire format as pure functions over bytes: commands, status lines, listings, dot-unstuffing.

mod command;
mod dot;
mod listing;
mod response;

pub use command::Command;
pub use dot::{size_slack, stuff, DotDecoder, LineEnding, Progress};
pub use listing::{
    apop_timestamp, parse_scan_line, parse_stat, parse_uidl_line, Capabilities, ScanEntry,
    UidlEntry,
};
pub use response::{parse_status, ResponseCode, Status};

/// The longest status or listing line accepted, CRLF included. RFC 1939 allows 512 octets; real
/// servers exceed that slightly, so a modest tolerance is kept.
pub const MAX_LINE: usize = 8 * 1024;

/// The longest command the client may send, CRLF included (RFC 2449 section 4).
pub const MAX_COMMAND: usize = 255;

/// A violation of the POP3 grammar by the server, or an argument that cannot be sent safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProtocolError(pub String);

impl ProtocolError {
    pub fn new(message: impl Into<String>) -> Self {
        ProtocolError(message.into())
    }
}

/// Makes server-controlled bytes safe to print on a terminal or in a log: control characters and
/// invalid UTF-8 become visible escapes, so a hostile server cannot paint the screen or forge lines.
pub fn sanitize(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if ch.is_control() {
            out.extend(ch.escape_default());
        } else {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_neutralises_escape_sequences_and_newlines() {
        assert_eq!(
            sanitize(b"ok\x1b[31mred\r\nforged"),
            "ok\\u{1b}[31mred\\r\\nforged"
        );
        assert_eq!(sanitize(b"caf\xc3\xa9 \xff"), "caf\u{e9} \u{fffd}");
    }
}
