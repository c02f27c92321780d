//! A scriptable fake IMAP server on loopback: a small mailbox model (greeting, CAPABILITY,
//! LOGIN, AUTHENTICATE PLAIN, STATUS, CREATE, SELECT/EXAMINE, APPEND with synchronising and
//! non-synchronising literals, the UID FETCH of sizes, Message-IDs and headers that recovery
//! asks, UNSELECT/CLOSE, LOGOUT) with one fault at a time. It keeps every message exactly as its
//! literal arrived, which of them it acknowledged, and what the client did that it must not.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;

use super::misbehaviour::{
    drain, fill_tag, perform, read_command, Act, Flow, Line, Record, Served,
};

/// What the server says when a fault makes it hang up.
const GOODBYE: &[u8] = b"* BYE fake server shutting down\r\n";

/// Where in the dialogue a fault strikes (counted from when it was set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum At {
    /// Where the greeting was due.
    Greeting,
    /// The answer to LOGIN or AUTHENTICATE.
    Login,
    /// The answer to the nth command (from 1) with this verb (`UID` for UID FETCH).
    Verb(&'static str, usize),
    /// The nth APPEND: right after its command line, before its literal (where a
    /// synchronising literal's `+` was due).
    AppendLine(usize),
    /// The nth APPEND, after this many octets of its literal (then [`Act::Close`]).
    MidLiteral(usize, usize),
    /// The nth APPEND with its literal read, the message stored or not: the act takes the
    /// tagged answer's place.
    AfterLiteral(usize, bool),
}

/// What goes wrong.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Fault {
    #[default]
    None,
    /// Every login is refused (`NO [AUTHENTICATIONFAILED]`).
    RefuseLogin,
    /// `act` happens once, at `at`.
    Strike(At, Act),
    /// `APPENDLIMIT=n` is announced and enforced.
    AppendLimit(u64),
}

/// How the server presents itself.
#[derive(Debug, Clone)]
pub struct ImapScript {
    /// Capabilities besides IMAP4rev1 (`LITERAL+`, `LITERAL-`, `UIDPLUS`, `AUTH=PLAIN`,
    /// `SASL-IR`, `UNSELECT`, `ID` ...).
    pub capabilities: Vec<String>,
    /// The tagged OK of a login carries `[CAPABILITY ...]` (else the client must ask).
    pub capabilities_after_login: bool,
    pub user: String,
    pub password: String,
    /// Mailboxes besides INBOX that exist from the start.
    pub mailboxes: Vec<String>,
}

impl Default for ImapScript {
    fn default() -> Self {
        ImapScript {
            capabilities: ["LITERAL+", "UIDPLUS", "AUTH=PLAIN", "SASL-IR", "UNSELECT"]
                .map(String::from)
                .to_vec(),
            capabilities_after_login: true,
            user: "bob".into(),
            password: "secret".into(),
            mailboxes: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
struct Folder {
    uid_validity: u32,
    uid_next: u32,
    messages: Vec<(u32, Vec<u8>)>,
}

/// What every connection shares: the mailboxes, the fault and what was seen.
#[derive(Default)]
struct Model {
    folders: BTreeMap<String, Folder>,
    next_validity: u32,
    fault: Fault,
    record: Record,
    verbs: BTreeMap<String, usize>,
    appends: usize,
}

impl Model {
    fn create(&mut self, name: &str) {
        self.next_validity += 1;
        let folder = Folder {
            uid_validity: self.next_validity,
            uid_next: 1,
            messages: Vec::new(),
        };
        self.folders.insert(name.to_string(), folder);
    }

    /// The fault's act if it strikes at `at` now (once).
    fn strike(&mut self, at: &At) -> Option<Act> {
        match &self.fault {
            Fault::Strike(target, act) if target == at && !self.record.fired => {
                self.record.fired = true;
                Some(act.clone())
            }
            _ => None,
        }
    }

    fn append_limit(&self) -> Option<u64> {
        match self.fault {
            Fault::AppendLimit(limit) => Some(limit),
            _ => None,
        }
    }
}

/// The fake server; stopped when dropped.
pub struct FakeImap {
    served: Served<Model>,
}

impl FakeImap {
    pub fn start(script: ImapScript) -> FakeImap {
        let mut model = Model {
            next_validity: 1_700_000_000,
            ..Model::default()
        };
        model.create("INBOX");
        for name in &script.mailboxes {
            model.create(name);
        }
        let served = Served::start(model, move |model, stream| {
            Connection::new(&script, model, stream)?.serve()
        });
        FakeImap { served }
    }

    pub fn port(&self) -> u16 {
        self.served.port
    }

    /// Sets the fault (`Fault::None`: well-behaved), counting commands afresh.
    pub fn set_fault(&self, fault: Fault) {
        let mut model = self.served.model();
        model.fault = fault;
        model.record.rearm();
        model.verbs.clear();
        model.appends = 0;
    }

    /// The messages of `mailbox` as their literals arrived, in UID order.
    pub fn stored(&self, mailbox: &str) -> Vec<Vec<u8>> {
        let model = self.served.model();
        model.folders.get(mailbox).map_or_else(Vec::new, |folder| {
            folder.messages.iter().map(|(_, m)| m.clone()).collect()
        })
    }

    /// Whether the fault struck, what was acknowledged, what the client did wrong.
    pub fn record(&self) -> Record {
        self.served.model().record.clone()
    }

    /// Gives `mailbox` a new UIDVALIDITY, its messages kept (a server that rebuilt its index).
    pub fn change_uid_validity(&self, mailbox: &str) {
        let mut model = self.served.model();
        model.next_validity += 1;
        let validity = model.next_validity;
        if let Some(folder) = model.folders.get_mut(mailbox) {
            folder.uid_validity = validity;
        }
    }
}

/// One client's connection.
struct Connection<'a> {
    script: &'a ImapScript,
    model: &'a Mutex<Model>,
    input: BufReader<TcpStream>,
    out: TcpStream,
    authenticated: bool,
    selected: Option<String>,
    tags: HashSet<String>,
}

/// An argument of a command line: an atom or a quoted string, or a parenthesised list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Arg {
    Text(String),
    List(String),
}

/// Splits the arguments of a command line (no literals).
fn parse_args(mut rest: &str) -> Option<Vec<Arg>> {
    let mut args = Vec::new();
    loop {
        rest = rest.trim_start_matches(' ');
        let Some(first) = rest.chars().next() else {
            return Some(args);
        };
        match first {
            '"' => {
                let mut text = String::new();
                let mut chars = rest[1..].char_indices();
                let end = loop {
                    match chars.next()? {
                        (_, '\\') => text.push(chars.next()?.1),
                        (i, '"') => break i + 2,
                        (_, c) => text.push(c),
                    }
                };
                args.push(Arg::Text(text));
                rest = &rest[end..];
            }
            '(' => {
                let mut depth = 0;
                let mut end = None;
                for (i, c) in rest.char_indices() {
                    match c {
                        '(' => depth += 1,
                        ')' if depth == 1 => {
                            end = Some(i);
                            break;
                        }
                        ')' => depth -= 1,
                        _ => {}
                    }
                }
                let end = end?;
                args.push(Arg::List(rest[1..end].to_string()));
                rest = &rest[end + 1..];
            }
            _ => {
                // An atom; `BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]` holds a space inside brackets.
                let mut depth = 0;
                let end = rest
                    .char_indices()
                    .find(|&(_, c)| {
                        match c {
                            '[' => depth += 1,
                            ']' => depth -= 1,
                            _ => {}
                        }
                        c == ' ' && depth == 0
                    })
                    .map_or(rest.len(), |(i, _)| i);
                args.push(Arg::Text(rest[..end].to_string()));
                rest = &rest[end..];
            }
        }
    }
}

fn text(args: &[Arg], i: usize) -> Option<&str> {
    match args.get(i) {
        Some(Arg::Text(text)) => Some(text),
        _ => None,
    }
}

/// A mailbox name as a quoted string.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The Message-ID header lines of a message (unfolded lines kept as they are), then CRLF.
fn message_id_header(message: &[u8]) -> Vec<u8> {
    let end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(message.len(), |i| i + 2);
    let mut out = Vec::new();
    let mut taking = false;
    for line in message[..end].split_inclusive(|&b| b == b'\n') {
        let folded = line.starts_with(b" ") || line.starts_with(b"\t");
        if !folded {
            taking = line.len() > 11 && line[..11].eq_ignore_ascii_case(b"message-id:");
        }
        if taking {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// A message's header section, through the empty line that ends it (`BODY[HEADER]`).
fn header_section(message: &[u8]) -> Vec<u8> {
    if message.starts_with(b"\r\n") {
        return b"\r\n".to_vec();
    }
    let end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(message.len(), |i| i + 4);
    message[..end].to_vec()
}

/// The UIDs of `folder` that a sequence set (`3:*`, `1,4:6`) names; `*` is the largest UID, so
/// `n:*` past the end still names the last message (RFC 3501 section 6.4.8).
fn uid_set(set: &str, folder: &Folder) -> Option<Vec<u32>> {
    let largest = folder.messages.last().map_or(0, |(uid, _)| *uid);
    let number = |s: &str| match s {
        "*" => Some(largest),
        _ => s.parse::<u32>().ok(),
    };
    let mut uids = Vec::new();
    for item in set.split(',') {
        let (low, high) = match item.split_once(':') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => (number(item)?, number(item)?),
        };
        let (low, high) = (low.min(high), low.max(high));
        uids.extend(
            folder
                .messages
                .iter()
                .map(|(uid, _)| *uid)
                .filter(|uid| (low..=high).contains(uid)),
        );
    }
    uids.sort_unstable();
    uids.dedup();
    Some(uids)
}

impl<'a> Connection<'a> {
    fn new(script: &'a ImapScript, model: &'a Mutex<Model>, stream: TcpStream) -> io::Result<Self> {
        Ok(Connection {
            script,
            model,
            input: BufReader::new(stream.try_clone()?),
            out: stream,
            authenticated: false,
            selected: None,
            tags: HashSet::new(),
        })
    }

    fn model(&self) -> std::sync::MutexGuard<'a, Model> {
        self.model.lock().unwrap()
    }

    fn violation(&self, what: String) {
        self.model().record.violations.push(what);
    }

    fn capabilities(&self) -> String {
        let mut names = vec!["IMAP4rev1".to_string()];
        names.extend(self.script.capabilities.iter().cloned());
        if let Some(limit) = self.model().append_limit() {
            names.push(format!("APPENDLIMIT={limit}"));
        }
        names.join(" ")
    }

    fn has(&self, capability: &str) -> bool {
        self.script
            .capabilities
            .iter()
            .any(|c| c.eq_ignore_ascii_case(capability))
    }

    /// Sends `answer`, unless the fault strikes at `at`.
    fn answer(&mut self, at: &At, answer: &[u8], tag: &str) -> io::Result<Flow> {
        let act = self.model().strike(at);
        match act {
            Some(act) => perform(&act, &mut self.input, &mut self.out, answer, GOODBYE, tag),
            None => {
                self.out.write_all(answer)?;
                Ok(Flow::Go)
            }
        }
    }

    fn serve(&mut self) -> io::Result<()> {
        let greeting = format!(
            "* OK [CAPABILITY {}] fake IMAP ready\r\n",
            self.capabilities()
        );
        if self.answer(&At::Greeting, greeting.as_bytes(), "*")? == Flow::Stop {
            return Ok(());
        }
        loop {
            let line = match read_command(&mut self.input)? {
                Line::Command(line) => line,
                Line::End => return Ok(()),
                Line::Broken(line) => {
                    self.violation(format!("a command line without CRLF: {line}"));
                    return Ok(());
                }
            };
            let (tag, rest) = line.split_once(' ').unwrap_or((&line, ""));
            let (verb, rest) = rest.split_once(' ').unwrap_or((rest, ""));
            let (tag, verb, rest) = (tag.to_string(), verb.to_ascii_uppercase(), rest.to_string());
            if !self.tags.insert(tag.clone()) {
                self.violation(format!("the tag {tag} used twice"));
            }
            let count = {
                let mut model = self.model();
                let count = model.verbs.entry(verb.clone()).or_default();
                *count += 1;
                *count
            };
            let flow = self.command(&tag, &verb, &rest, count)?;
            if flow == Flow::Stop {
                return Ok(());
            }
        }
    }

    fn command(&mut self, tag: &str, verb: &str, rest: &str, count: usize) -> io::Result<Flow> {
        let at = At::Verb(
            match verb {
                "CAPABILITY" => "CAPABILITY",
                "STATUS" => "STATUS",
                "CREATE" => "CREATE",
                "EXAMINE" => "EXAMINE",
                "SELECT" => "SELECT",
                "UID" => "UID",
                "UNSELECT" => "UNSELECT",
                "CLOSE" => "CLOSE",
                "LOGOUT" => "LOGOUT",
                _ => "other",
            },
            count,
        );
        let before_login = [
            "CAPABILITY",
            "LOGIN",
            "AUTHENTICATE",
            "LOGOUT",
            "NOOP",
            "ID",
        ];
        if !self.authenticated && !before_login.contains(&verb) {
            self.violation(format!("{verb} before logging in"));
            return self.answer(&at, format!("{tag} BAD log in first\r\n").as_bytes(), tag);
        }
        match verb {
            "CAPABILITY" => {
                let answer = format!(
                    "* CAPABILITY {}\r\n{tag} OK CAPABILITY completed\r\n",
                    self.capabilities()
                );
                self.answer(&at, answer.as_bytes(), tag)
            }
            "NOOP" => self.answer(&at, format!("{tag} OK NOOP completed\r\n").as_bytes(), tag),
            "ID" => {
                let answer = format!("* ID NIL\r\n{tag} OK ID completed\r\n");
                self.answer(&at, answer.as_bytes(), tag)
            }
            "LOGIN" => {
                let args = parse_args(rest).unwrap_or_default();
                let given = (text(&args, 0), text(&args, 1));
                let right = given == (Some(&self.script.user), Some(&self.script.password));
                self.logged_in(tag, right)
            }
            "AUTHENTICATE" => self.authenticate(tag, rest),
            "LOGOUT" => {
                let answer = format!("* BYE logging out\r\n{tag} OK LOGOUT completed\r\n");
                self.answer(&at, answer.as_bytes(), tag)?;
                Ok(Flow::Stop)
            }
            "STATUS" => self.status(tag, rest, &at),
            "CREATE" => {
                let args = parse_args(rest).unwrap_or_default();
                let name = text(&args, 0).unwrap_or_default().to_string();
                let exists = self.model().folders.contains_key(&name);
                let answer = if exists {
                    format!("{tag} NO [ALREADYEXISTS] Mailbox already exists\r\n")
                } else {
                    self.model().create(&name);
                    format!("{tag} OK CREATE completed\r\n")
                };
                self.answer(&at, answer.as_bytes(), tag)
            }
            "EXAMINE" | "SELECT" => self.examine(tag, verb, rest, &at),
            "UNSELECT" | "CLOSE" => {
                if verb == "UNSELECT" && !self.has("UNSELECT") {
                    self.violation("UNSELECT, which the server does not offer".into());
                }
                self.selected = None;
                let answer = format!("{tag} OK {verb} completed\r\n");
                self.answer(&at, answer.as_bytes(), tag)
            }
            "UID" => self.uid_fetch(tag, rest, &at),
            "APPEND" => self.append(tag, rest),
            _ => {
                self.violation(format!("the command {verb} {rest}"));
                self.answer(
                    &at,
                    format!("{tag} BAD unknown command\r\n").as_bytes(),
                    tag,
                )
            }
        }
    }

    fn logged_in(&mut self, tag: &str, right: bool) -> io::Result<Flow> {
        let refused = matches!(self.model().fault, Fault::RefuseLogin);
        let answer = if right && !refused {
            self.authenticated = true;
            match self.script.capabilities_after_login {
                true => format!(
                    "{tag} OK [CAPABILITY {}] Logged in\r\n",
                    self.capabilities()
                ),
                false => format!("{tag} OK Logged in\r\n"),
            }
        } else {
            if refused {
                self.model().record.fired = true;
            }
            format!("{tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")
        };
        self.answer(&At::Login, answer.as_bytes(), tag)
    }

    /// AUTHENTICATE PLAIN, with or without an initial response.
    fn authenticate(&mut self, tag: &str, rest: &str) -> io::Result<Flow> {
        use base64::Engine as _;
        let (mechanism, initial) = rest.split_once(' ').unwrap_or((rest, ""));
        if !mechanism.eq_ignore_ascii_case("PLAIN") || !self.has("AUTH=PLAIN") {
            self.violation(format!("AUTHENTICATE {mechanism}, which is not offered"));
            return Ok(Flow::Stop);
        }
        if !initial.is_empty() && !self.has("SASL-IR") {
            self.violation("an initial response without SASL-IR".into());
        }
        let response = if initial.is_empty() {
            self.out.write_all(b"+ \r\n")?;
            let mut line = String::new();
            self.input.read_line(&mut line)?;
            line.trim_end().to_string()
        } else {
            initial.to_string()
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(response.as_bytes())
            .unwrap_or_default();
        let mut fields = decoded.split(|&b| b == 0).skip(1);
        let right = fields.next() == Some(self.script.user.as_bytes())
            && fields.next() == Some(self.script.password.as_bytes());
        self.logged_in(tag, right)
    }

    fn status(&mut self, tag: &str, rest: &str, at: &At) -> io::Result<Flow> {
        let args = parse_args(rest).unwrap_or_default();
        let name = text(&args, 0).unwrap_or_default();
        let folder = self.model().folders.get(name).cloned();
        let answer = match folder {
            Some(folder) => format!(
                "* STATUS {} (MESSAGES {} UIDNEXT {} UIDVALIDITY {})\r\n{tag} OK STATUS completed\r\n",
                quoted(name),
                folder.messages.len(),
                folder.uid_next,
                folder.uid_validity
            ),
            None => format!("{tag} NO [NONEXISTENT] Mailbox doesn't exist\r\n"),
        };
        self.answer(at, answer.as_bytes(), tag)
    }

    fn examine(&mut self, tag: &str, verb: &str, rest: &str, at: &At) -> io::Result<Flow> {
        let args = parse_args(rest).unwrap_or_default();
        let name = text(&args, 0).unwrap_or_default().to_string();
        let folder = self.model().folders.get(&name).cloned();
        let answer = match folder {
            Some(folder) => {
                self.selected = Some(name);
                format!(
                    "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n\
                     * OK [PERMANENTFLAGS ()] Read-only mailbox.\r\n\
                     * {} EXISTS\r\n* 0 RECENT\r\n\
                     * OK [UIDVALIDITY {}] UIDs valid\r\n\
                     * OK [UIDNEXT {}] Predicted next UID\r\n\
                     {tag} OK [{}] {verb} completed\r\n",
                    folder.messages.len(),
                    folder.uid_validity,
                    folder.uid_next,
                    if verb == "EXAMINE" {
                        "READ-ONLY"
                    } else {
                        "READ-WRITE"
                    }
                )
            }
            None => {
                self.selected = None;
                format!("{tag} NO [NONEXISTENT] Mailbox doesn't exist\r\n")
            }
        };
        self.answer(at, answer.as_bytes(), tag)
    }

    /// `UID FETCH set (UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])`: what recovery
    /// asks; nothing that could set a flag is allowed.
    fn uid_fetch(&mut self, tag: &str, rest: &str, at: &At) -> io::Result<Flow> {
        let args = parse_args(rest).unwrap_or_default();
        let folder = self
            .selected
            .as_ref()
            .and_then(|name| self.model().folders.get(name).cloned());
        let (Some("FETCH" | "fetch"), Some(set), Some(Arg::List(items)), Some(folder)) =
            (text(&args, 0), text(&args, 1), args.get(2), folder)
        else {
            self.violation(format!(
                "UID {rest} (no mailbox selected, or not a UID FETCH)"
            ));
            return self.answer(
                at,
                format!("{tag} BAD unexpected UID command\r\n").as_bytes(),
                tag,
            );
        };
        let upper = items.to_ascii_uppercase();
        if upper.contains("BODY[") || upper.contains("RFC822 ") || upper.ends_with("RFC822") {
            self.violation(format!("a FETCH that sets \\Seen: {items}"));
        }
        let section = upper
            .split_once("BODY.PEEK[")
            .and_then(|(_, after)| after.split_once(']'))
            .map(|(section, _)| section.to_string());
        let Some(uids) = uid_set(set, &folder) else {
            return self.answer(
                at,
                format!("{tag} BAD bad sequence set\r\n").as_bytes(),
                tag,
            );
        };
        let mut answer = Vec::new();
        for uid in uids {
            let position = folder.messages.iter().position(|(u, _)| *u == uid).unwrap();
            let message = &folder.messages[position].1;
            let mut item = format!("* {} FETCH (UID {uid}", position + 1).into_bytes();
            if upper.contains("RFC822.SIZE") {
                item.extend_from_slice(format!(" RFC822.SIZE {}", message.len()).as_bytes());
            }
            if let Some(section) = &section {
                let header = match section.as_str() {
                    "HEADER" => header_section(message),
                    _ => message_id_header(message),
                };
                item.extend_from_slice(
                    format!(" BODY[{section}] {{{}}}\r\n", header.len()).as_bytes(),
                );
                item.extend_from_slice(&header);
            }
            item.extend_from_slice(b")\r\n");
            answer.extend_from_slice(&item);
        }
        answer.extend_from_slice(format!("{tag} OK UID FETCH completed\r\n").as_bytes());
        self.answer(at, &answer, tag)
    }

    /// `APPEND mailbox [(flags)] ["date"] {n}` or `{n+}`, then the literal and CRLF.
    fn append(&mut self, tag: &str, rest: &str) -> io::Result<Flow> {
        let number = {
            let mut model = self.model();
            model.appends += 1;
            model.appends
        };
        let Some((head, literal)) = rest.strip_suffix('}').and_then(|r| r.rsplit_once('{')) else {
            self.violation(format!("APPEND without a literal: {rest}"));
            return Ok(Flow::Stop);
        };
        let non_sync = literal.ends_with('+');
        let Ok(octets) = literal.trim_end_matches('+').parse::<usize>() else {
            self.violation(format!("APPEND with a bad literal: {rest}"));
            return Ok(Flow::Stop);
        };
        let name = parse_args(head)
            .and_then(|args| text(&args, 0).map(str::to_string))
            .unwrap_or_default();
        let allowed = self.has("LITERAL+") || (self.has("LITERAL-") && octets <= 4096);
        if non_sync && !allowed {
            self.violation(format!("a non-synchronising literal of {octets} octets"));
        }
        let limit = self.model().append_limit();
        let too_big = limit.is_some_and(|limit| octets as u64 > limit);
        if too_big {
            self.violation(format!("a literal of {octets} octets over APPENDLIMIT"));
        }
        let exists = self.model().folders.contains_key(&name);
        let refusal = match (exists, too_big) {
            (_, true) => Some(format!("{tag} NO [TOOBIG] Message too large\r\n")),
            (false, _) => Some(format!("{tag} NO [TRYCREATE] Mailbox doesn't exist\r\n")),
            _ => None,
        };
        if !non_sync {
            if let Some(refusal) = &refusal {
                return self.answer(&At::AppendLine(number), refusal.as_bytes(), tag);
            }
        }
        let line_act = self.model().strike(&At::AppendLine(number));
        // A non-synchronising literal is on its way whatever the server says: an answer
        // chosen before it is sent once it has been read.
        let mut deferred = None;
        match line_act {
            Some(act @ (Act::Inject(_) | Act::Replace(_))) if non_sync => deferred = Some(act),
            Some(act) => {
                let flow = perform(
                    &act,
                    &mut self.input,
                    &mut self.out,
                    b"+ Ready for literal data\r\n",
                    GOODBYE,
                    tag,
                )?;
                let tagged = matches!(&act, Act::Replace(bytes) if bytes.starts_with(b"$TAG "));
                if flow == Flow::Stop || tagged {
                    return Ok(flow);
                }
                if matches!(act, Act::Replace(_)) {
                    // What the client sends next cannot be told from commands.
                    drain(&mut self.input);
                    return Ok(Flow::Stop);
                }
            }
            None if !non_sync => self.out.write_all(b"+ Ready for literal data\r\n")?,
            None => {}
        }
        let Some(message) = self.read_literal_or_cut(octets, number)? else {
            return Ok(Flow::Stop);
        };
        let mut end = [0u8; 2];
        self.input.read_exact(&mut end)?;
        if &end != b"\r\n" {
            self.violation(format!("APPEND's literal not followed by CRLF: {end:?}"));
            return Ok(Flow::Stop);
        }
        if message.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r')
            || message.first() == Some(&b'\n')
        {
            self.violation("a message with a bare LF".into());
        }
        if let Some(refusal) = refusal {
            return self.answer(&At::AfterLiteral(number, false), refusal.as_bytes(), tag);
        }
        let (stored, act) = match deferred {
            // Stored when the answer says so.
            Some(act) => {
                let ok = match &act {
                    Act::Replace(bytes) => bytes.starts_with(b"$TAG OK"),
                    _ => true,
                };
                (ok, Some(act))
            }
            None => {
                let mut model = self.model();
                let struck = [true, false].into_iter().find_map(|stored| {
                    model
                        .strike(&At::AfterLiteral(number, stored))
                        .map(|act| (stored, act))
                });
                match struck {
                    Some((stored, act)) => (stored, Some(act)),
                    None => (true, None),
                }
            }
        };
        let answer = if stored {
            let mut model = self.model();
            let folder = model.folders.get_mut(&name).unwrap();
            let uid = folder.uid_next;
            folder.uid_next += 1;
            folder.messages.push((uid, message.clone()));
            let validity = folder.uid_validity;
            match self.has("UIDPLUS") {
                true => format!("{tag} OK [APPENDUID {validity} {uid}] APPEND completed\r\n"),
                false => format!("{tag} OK APPEND completed\r\n"),
            }
        } else {
            format!("{tag} NO [SERVERBUG] not stored\r\n")
        };
        let written = match &act {
            None | Some(Act::Inject(_)) => answer.clone().into_bytes(),
            Some(Act::Replace(bytes)) => fill_tag(bytes, tag),
            Some(_) => Vec::new(),
        };
        let ok = format!("{tag} OK");
        if stored
            && written
                .split(|&b| b == b'\n')
                .any(|line| line.starts_with(ok.as_bytes()))
        {
            self.model().record.acknowledged.push(message);
        }
        match act {
            None => {
                self.out.write_all(answer.as_bytes())?;
                Ok(Flow::Go)
            }
            Some(act) => perform(
                &act,
                &mut self.input,
                &mut self.out,
                answer.as_bytes(),
                GOODBYE,
                tag,
            ),
        }
    }

    /// Reads a literal of `octets`, or only the first octets of it when the fault cuts the
    /// connection in its middle (then `None`).
    fn read_literal_or_cut(&mut self, octets: usize, number: usize) -> io::Result<Option<Vec<u8>>> {
        let cut_at = {
            let mut model = self.model();
            match model.fault {
                Fault::Strike(At::MidLiteral(n, after), _)
                    if n == number && after < octets && !model.record.fired =>
                {
                    model.record.fired = true;
                    Some(after)
                }
                _ => None,
            }
        };
        if let Some(after) = cut_at {
            let mut part = vec![0u8; after];
            self.input.read_exact(&mut part)?;
            return Ok(None);
        }
        self.read_literal(octets).map(Some)
    }

    fn read_literal(&mut self, octets: usize) -> io::Result<Vec<u8>> {
        let mut message = vec![0u8; octets];
        self.input.read_exact(&mut message)?;
        Ok(message)
    }
}
