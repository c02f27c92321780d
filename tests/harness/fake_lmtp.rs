//! A scriptable fake LMTP server on loopback: greeting, LHLO with configurable extensions
//! (PIPELINING, 8BITMIME, SMTPUTF8, CHUNKING, ...), MAIL, RCPT, DATA with dot-unstuffing and
//! BDAT, RSET, NOOP, QUIT, with one fault at a time. It keeps every delivered message as it
//! arrived (unstuffed, CRLF line ends), which of them it acknowledged with a 2xx, and what the
//! client did that it must not.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;

use super::misbehaviour::{perform, read_command, Act, Flow, Line, Record, Served};

/// What the server says when a fault makes it hang up.
const GOODBYE: &[u8] = b"421 4.3.2 fake server shutting down\r\n";

/// Where in the dialogue a fault strikes (transactions counted from when it was set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LmtpAt {
    Greeting,
    Lhlo,
    /// The reply to the nth MAIL FROM.
    Mail(usize),
    /// The reply to the RCPT TO of the nth transaction.
    Rcpt(usize),
    /// The reply to DATA (354), or to the first BDAT chunk, of the nth transaction.
    Data(usize),
    /// The nth message's data after this many octets of it (then [`Act::Close`]).
    MidData(usize, usize),
    /// The nth message read to its end, stored or not: the act takes the final reply's place.
    AfterDot(usize, bool),
}

/// What goes wrong.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum LmtpFault {
    #[default]
    None,
    Strike(LmtpAt, Act),
}

/// How the server presents itself.
#[derive(Debug, Clone)]
pub struct LmtpScript {
    /// The LHLO reply's extension lines.
    pub extensions: Vec<String>,
    /// The recipients it accepts.
    pub recipients: Vec<String>,
}

impl Default for LmtpScript {
    fn default() -> Self {
        LmtpScript {
            extensions: ["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES"]
                .map(String::from)
                .to_vec(),
            recipients: vec!["bob".into()],
        }
    }
}

#[derive(Default)]
struct Model {
    fault: LmtpFault,
    record: Record,
    transactions: usize,
    delivered: Vec<Vec<u8>>,
}

impl Model {
    fn strike(&mut self, at: &LmtpAt) -> Option<Act> {
        match &self.fault {
            LmtpFault::Strike(target, act) if target == at && !self.record.fired => {
                self.record.fired = true;
                Some(act.clone())
            }
            _ => None,
        }
    }

    /// Where the nth message's data is cut, if the fault says so.
    fn cut(&mut self, transaction: usize) -> Option<usize> {
        match self.fault {
            LmtpFault::Strike(LmtpAt::MidData(n, after), _)
                if n == transaction && !self.record.fired =>
            {
                Some(after)
            }
            _ => None,
        }
    }
}

/// The fake server; stopped when dropped.
pub struct FakeLmtp {
    served: Served<Model>,
}

impl FakeLmtp {
    pub fn start(script: LmtpScript) -> FakeLmtp {
        let served = Served::start(Model::default(), move |model, stream| {
            Connection::new(&script, model, stream)?.serve()
        });
        FakeLmtp { served }
    }

    pub fn port(&self) -> u16 {
        self.served.port
    }

    /// Sets the fault (`LmtpFault::None`: well-behaved), counting transactions afresh.
    pub fn set_fault(&self, fault: LmtpFault) {
        let mut model = self.served.model();
        model.fault = fault;
        model.record.rearm();
        model.transactions = 0;
    }

    /// Every message delivered, as its data arrived (unstuffed), in order.
    pub fn delivered(&self) -> Vec<Vec<u8>> {
        self.served.model().delivered.clone()
    }

    /// Whether the fault struck, what was acknowledged, what the client did wrong.
    pub fn record(&self) -> Record {
        self.served.model().record.clone()
    }
}

/// One transaction under way.
#[derive(Default)]
struct Transaction {
    number: usize,
    eight_bit_declared: bool,
    accepted: usize,
    chunks: Vec<u8>,
}

struct Connection<'a> {
    script: &'a LmtpScript,
    model: &'a Mutex<Model>,
    input: BufReader<TcpStream>,
    out: TcpStream,
    transaction: Option<Transaction>,
}

/// The reply code a reply (or a replacement for it) begins with.
fn code_of(reply: &[u8]) -> u16 {
    std::str::from_utf8(reply.get(..3).unwrap_or_default())
        .ok()
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

impl<'a> Connection<'a> {
    fn new(script: &'a LmtpScript, model: &'a Mutex<Model>, stream: TcpStream) -> io::Result<Self> {
        Ok(Connection {
            script,
            model,
            input: BufReader::new(stream.try_clone()?),
            out: stream,
            transaction: None,
        })
    }

    fn model(&self) -> std::sync::MutexGuard<'a, Model> {
        self.model.lock().unwrap()
    }

    fn violation(&self, what: String) {
        self.model().record.violations.push(what);
    }

    fn has(&self, extension: &str) -> bool {
        self.script
            .extensions
            .iter()
            .any(|e| e.split(' ').next() == Some(extension))
    }

    /// Sends `reply` unless the fault strikes at `at`; returns the flow and the code of the
    /// reply the model goes on from (a replacement's own).
    fn reply(&mut self, at: &LmtpAt, reply: &[u8]) -> io::Result<(Flow, u16)> {
        let act = self.model().strike(at);
        let Some(act) = act else {
            self.out.write_all(reply)?;
            return Ok((Flow::Go, code_of(reply)));
        };
        let code = match &act {
            Act::Replace(bytes) => code_of(bytes),
            _ => code_of(reply),
        };
        let flow = perform(&act, &mut self.input, &mut self.out, reply, GOODBYE, "")?;
        Ok((flow, code))
    }

    fn serve(&mut self) -> io::Result<()> {
        if self.reply(&LmtpAt::Greeting, b"220 fake LMTP ready\r\n")?.0 == Flow::Stop {
            return Ok(());
        }
        loop {
            let line = match read_command(&mut self.input)? {
                Line::Command(line) => line,
                Line::End => return Ok(()),
                Line::Broken(line) => {
                    self.violation(format!("a command without CRLF: {line}"));
                    return Ok(());
                }
            };
            let upper = line.to_ascii_uppercase();
            let verb = upper.split(' ').next().unwrap_or("").to_string();
            // Once replies went out of step, a client may well answer ahead of them.
            let more_waiting = !self.input.buffer().is_empty() && !self.model().record.fired;
            if more_waiting && !self.has("PIPELINING") && verb != "BDAT" {
                self.violation(format!(
                    "{verb} sent with more behind it, without PIPELINING"
                ));
            }
            if self.command(&verb, &line)? == Flow::Stop {
                return Ok(());
            }
        }
    }

    fn command(&mut self, verb: &str, line: &str) -> io::Result<Flow> {
        match verb {
            "LHLO" => {
                let mut lines = vec!["fake.example".to_string()];
                lines.extend(self.script.extensions.iter().cloned());
                let mut reply = String::new();
                for (i, text) in lines.iter().enumerate() {
                    let separator = if i + 1 == lines.len() { ' ' } else { '-' };
                    reply.push_str(&format!("250{separator}{text}\r\n"));
                }
                Ok(self.reply(&LmtpAt::Lhlo, reply.as_bytes())?.0)
            }
            "MAIL" => self.mail(line),
            "RCPT" => self.rcpt(line),
            "DATA" => self.data(),
            "BDAT" => self.bdat(line),
            "RSET" => {
                self.transaction = None;
                self.out.write_all(b"250 2.0.0 OK\r\n")?;
                Ok(Flow::Go)
            }
            "NOOP" => {
                self.out.write_all(b"250 2.0.0 OK\r\n")?;
                Ok(Flow::Go)
            }
            "QUIT" => {
                self.out.write_all(b"221 2.0.0 Bye\r\n")?;
                Ok(Flow::Stop)
            }
            _ => {
                self.violation(format!("the command {line}"));
                self.out.write_all(b"500 5.5.2 Unknown command\r\n")?;
                Ok(Flow::Go)
            }
        }
    }

    fn mail(&mut self, line: &str) -> io::Result<Flow> {
        if self.transaction.is_some() {
            self.violation("MAIL inside a transaction".into());
        }
        let upper = line.to_ascii_uppercase();
        for (parameter, extension) in [
            ("BODY=8BITMIME", "8BITMIME"),
            ("SMTPUTF8", "SMTPUTF8"),
            ("SIZE=", "SIZE"),
        ] {
            if upper.contains(parameter) && !self.has(extension) {
                self.violation(format!("{parameter} without {extension}: {line}"));
            }
        }
        let number = {
            let mut model = self.model();
            model.transactions += 1;
            model.transactions
        };
        let (flow, code) = self.reply(&LmtpAt::Mail(number), b"250 2.1.0 OK\r\n")?;
        self.transaction = (200..300).contains(&code).then(|| Transaction {
            number,
            eight_bit_declared: upper.contains("BODY=8BITMIME"),
            ..Transaction::default()
        });
        Ok(flow)
    }

    fn rcpt(&mut self, line: &str) -> io::Result<Flow> {
        let Some(number) = self.transaction.as_ref().map(|t| t.number) else {
            self.out.write_all(b"503 5.5.1 MAIL first\r\n")?;
            return Ok(Flow::Go);
        };
        let address = line
            .split_once('<')
            .and_then(|(_, rest)| rest.split_once('>'))
            .map_or("", |(address, _)| address);
        let known = self.script.recipients.iter().any(|r| r == address);
        let reply: &[u8] = match known {
            true => b"250 2.1.5 OK\r\n",
            false => b"550 5.1.1 User doesn't exist\r\n",
        };
        let (flow, code) = self.reply(&LmtpAt::Rcpt(number), reply)?;
        if let Some(transaction) = self.transaction.as_mut() {
            transaction.accepted += usize::from((200..300).contains(&code));
        }
        Ok(flow)
    }

    fn data(&mut self) -> io::Result<Flow> {
        let Some(number) = self
            .transaction
            .as_ref()
            .filter(|t| t.accepted > 0)
            .map(|t| t.number)
        else {
            self.transaction = None;
            self.out.write_all(b"554 5.5.1 No valid recipients\r\n")?;
            return Ok(Flow::Go);
        };
        let (flow, code) = self.reply(&LmtpAt::Data(number), b"354 OK\r\n")?;
        if flow == Flow::Stop {
            return Ok(flow);
        }
        if code != 354 {
            self.transaction = None;
            return Ok(flow);
        }
        let cut = self.model().cut(number);
        let mut message = Vec::new();
        let mut octets = 0;
        loop {
            if cut.is_some_and(|cut| octets >= cut) {
                self.model().record.fired = true;
                return Ok(Flow::Stop);
            }
            let mut line = Vec::new();
            if self.input.read_until(b'\n', &mut line)? == 0 {
                return Ok(Flow::Stop);
            }
            octets += line.len();
            if !line.ends_with(b"\r\n") {
                self.violation("a data line ending in a bare LF".into());
            }
            if line == b".\r\n" {
                break;
            }
            let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
            message.extend_from_slice(unstuffed);
        }
        self.delivered(message)
    }

    fn bdat(&mut self, line: &str) -> io::Result<Flow> {
        if !self.has("CHUNKING") {
            self.violation("BDAT without CHUNKING".into());
        }
        let mut words = line.split(' ').skip(1);
        let size: usize = words.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let last = words.next().is_some_and(|w| w.eq_ignore_ascii_case("LAST"));
        let Some(transaction) = self.transaction.as_mut().filter(|t| t.accepted > 0) else {
            let mut chunk = vec![0u8; size];
            self.input.read_exact(&mut chunk)?;
            self.transaction = None;
            self.out.write_all(b"554 5.5.1 No valid recipients\r\n")?;
            return Ok(Flow::Go);
        };
        let (number, first, before) = (
            transaction.number,
            transaction.chunks.is_empty(),
            transaction.chunks.len(),
        );
        let cut = self.model().cut(number).filter(|&cut| cut < before + size);
        if let Some(cut) = cut {
            self.model().record.fired = true;
            let mut part = vec![0u8; cut.saturating_sub(before)];
            self.input.read_exact(&mut part)?;
            return Ok(Flow::Stop);
        }
        let mut chunk = vec![0u8; size];
        self.input.read_exact(&mut chunk)?;
        if let Some(transaction) = self.transaction.as_mut() {
            transaction.chunks.extend_from_slice(&chunk);
        }
        if first && !last {
            let (flow, code) =
                self.reply(&LmtpAt::Data(number), b"250 2.0.0 chunk received\r\n")?;
            if code / 100 != 2 {
                self.transaction = None;
            }
            return Ok(flow);
        }
        if !last {
            self.out.write_all(b"250 2.0.0 chunk received\r\n")?;
            return Ok(Flow::Go);
        }
        let message = self
            .transaction
            .as_mut()
            .map(|t| std::mem::take(&mut t.chunks));
        self.delivered(message.unwrap_or_default())
    }

    /// The message is complete: stored (unless the fault says otherwise) and answered once
    /// per accepted recipient.
    fn delivered(&mut self, message: Vec<u8>) -> io::Result<Flow> {
        let Some(transaction) = self.transaction.take() else {
            return Ok(Flow::Stop);
        };
        if message.iter().any(|&b| b >= 0x80)
            && self.has("8BITMIME")
            && !transaction.eight_bit_declared
        {
            self.violation("8-bit data without BODY=8BITMIME".into());
        }
        if message.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r') {
            self.violation("a message with a bare LF".into());
        }
        let number = transaction.number;
        let act = {
            let mut model = self.model();
            [true, false].into_iter().find_map(|stored| {
                model
                    .strike(&LmtpAt::AfterDot(number, stored))
                    .map(|a| (stored, a))
            })
        };
        let stored = act.as_ref().is_none_or(|(stored, _)| *stored);
        if stored {
            self.model().delivered.push(message.clone());
        }
        let mut reply = Vec::new();
        for _ in 0..transaction.accepted {
            reply.extend_from_slice(match stored {
                true => b"250 2.0.0 Saved\r\n",
                false => b"451 4.3.0 Not saved\r\n",
            });
        }
        let seen = match &act {
            None => code_of(&reply),
            Some((_, Act::Inject(bytes) | Act::Replace(bytes))) => code_of(bytes),
            Some(_) => 0,
        };
        if stored && (200..300).contains(&seen) {
            self.model().record.acknowledged.push(message);
        }
        match act {
            None => {
                self.out.write_all(&reply)?;
                Ok(Flow::Go)
            }
            Some((_, act)) => perform(&act, &mut self.input, &mut self.out, &reply, GOODBYE, ""),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_codes() {
        assert_eq!(code_of(b"250 ok\r\n"), 250);
        assert_eq!(code_of(b"xx"), 0);
    }
}
