//! A private Cyrus IMAP on loopback, from the packages scripts/install-deps unpacked into
//! /opt/popget-interop/cyrus: POP3 and IMAP (each plain with STLS/STARTTLS and on TLS from the
//! first byte) and LMTP (TCP and a Unix socket). imapd.conf, cyrus.conf, a sasldb with the test
//! users, the spool and a self-signed certificate live in a temporary directory; `master` runs
//! in the foreground in its own process group and is stopped (with its children) when dropped.
//!
//! Each user's INBOX is created by a POP3 login at start, so LMTP refuses recipients that are
//! not users (Cyrus would otherwise create a mailbox for any name it is sent). Mail is delivered
//! the way Cyrus receives it, over LMTP (which adds header lines of its own); what the POP3
//! server holds is read back from the spool files (`N.` in the user's mailbox directory, stored
//! with CRLF line ends), what a mailbox holds over IMAP (tests/harness/imap_reader.rs).

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::imap_reader::{list_mailboxes, read_mailbox, Fetched};
use super::server::{self, PopServer, PASSWORD};

pub struct Cyrus {
    dir: tempfile::TempDir,
    child: Option<Child>,
    users: Vec<String>,
    pub pop3_port: u16,
    pub pop3s_port: u16,
    pub imap_port: u16,
    pub imaps_port: u16,
    /// lmtpd on TCP, taking mail without authentication (`-a`), as from a trusted MTA.
    pub lmtp_port: u16,
    /// lmtpd on a Unix socket.
    pub lmtp_socket: PathBuf,
}

/// How the server is set up.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The users `user1`..`userN`.
    pub users: usize,
    /// imapd.conf's `maxmessagesize`: the largest message LMTP takes (announced as `SIZE n`),
    /// and IMAP's APPENDLIMIT. None: no limit.
    pub max_message_size: Option<u64>,
}

fn bin(name: &str) -> PathBuf {
    server::prefix("cyrus").join("usr/lib/cyrus/bin").join(name)
}

fn library_path() -> PathBuf {
    server::prefix("cyrus").join("usr/lib/x86_64-linux-gnu")
}

impl Cyrus {
    /// Starts Cyrus with the users `user1`..`userN`. Panics when Cyrus is not unpacked.
    pub fn start(users: usize) -> Cyrus {
        Cyrus::start_with(Options {
            users,
            ..Options::default()
        })
    }

    /// Starts Cyrus as `options` say. Panics when Cyrus is not unpacked.
    pub fn start_with(options: Options) -> Cyrus {
        for binary in ["master", "pop3d", "imapd", "lmtpd", "ctl_cyrusdb"] {
            server::require(&bin(binary), "cyrus");
        }
        let saslpasswd = server::prefix("cyrus").join("usr/sbin/saslpasswd2");
        server::require(&saslpasswd, "cyrus");
        let dir = tempfile::Builder::new()
            .prefix("popget-cyrus")
            .tempdir()
            .unwrap();
        let root = dir.path();
        fs::set_permissions(root, fs::Permissions::from_mode(0o755)).unwrap();
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        // As root Cyrus drops to cyrus_user; nobody stands in for Debian's cyrus user.
        let (cyrus_user, uid, gid) = if euid == 0 {
            ("nobody".to_string(), 65534, 65534)
        } else {
            // SAFETY: getegid has no preconditions.
            (server::current_user_name(), euid, unsafe {
                libc::getegid()
            })
        };
        super::dovecot::generate_certificate(root);
        for sub in ["config/db", "config/socket", "config/proc", "spool", "run"] {
            fs::create_dir_all(root.join(sub)).unwrap();
        }
        let users: Vec<String> = (1..=options.users).map(|i| format!("user{i}")).collect();
        for user in &users {
            let mut child = Command::new(&saslpasswd)
                .env("LD_LIBRARY_PATH", library_path())
                .arg("-f")
                .arg(root.join("sasldb2"))
                .args(["-c", "-p", "-u", "localhost", user])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .expect("saslpasswd2 runs");
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("{PASSWORD}\n").as_bytes())
                .unwrap();
            assert!(child.wait().unwrap().success(), "saslpasswd2 failed");
        }
        for path in ["config", "spool", "run", "sasldb2", "key.pem"] {
            server::chown_tree(&root.join(path), uid, gid);
        }

        let [pop3_port, pop3s_port, imap_port, imaps_port, lmtp_port] =
            std::array::from_fn(|_| server::free_port());
        let lmtp_socket = root.join("run/lmtp");
        let max_message_size = options.max_message_size.unwrap_or(0);
        let r = root.display();
        let socket = lmtp_socket.display();
        let imapd_conf = format!(
            "configdirectory: {r}/config
defaultpartition: default
partition-default: {r}/spool
cyrus_user: {cyrus_user}
servername: localhost
allowplaintext: yes
allowapop: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: {r}/sasldb2
sasl_mech_list: PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256
tls_server_cert: {r}/cert.pem
tls_server_key: {r}/key.pem
autocreate_post: no
autocreate_quota: 0
maxmessagesize: {max_message_size}
mailbox_legacy_dirs: yes
expunge_mode: immediate
popminpoll: 0
lmtpsocket: {socket}
idlesocket: {r}/run/idle
notifysocket: {r}/run/notify
syslog_prefix: popget-cyrus-{pop3_port}
"
        );
        fs::write(root.join("imapd.conf"), imapd_conf).unwrap();
        let conf = format!("-C {r}/imapd.conf");
        let cyrus_conf = format!(
            r#"START {{
  recover cmd="{recover} {conf} -r"
}}
SERVICES {{
  pop3 cmd="{pop3d} {conf}" listen="127.0.0.1:{pop3_port}" prefork=0
  pop3s cmd="{pop3d} {conf} -s" listen="127.0.0.1:{pop3s_port}" prefork=0
  imap cmd="{imapd} {conf}" listen="127.0.0.1:{imap_port}" prefork=0
  imaps cmd="{imapd} {conf} -s" listen="127.0.0.1:{imaps_port}" prefork=0
  lmtp cmd="{lmtpd} {conf} -a" listen="127.0.0.1:{lmtp_port}" prefork=0
  lmtpunix cmd="{lmtpd} {conf}" listen="{socket}" prefork=0
}}
EVENTS {{
}}
"#,
            recover = bin("ctl_cyrusdb").display(),
            pop3d = bin("pop3d").display(),
            imapd = bin("imapd").display(),
            lmtpd = bin("lmtpd").display(),
        );
        fs::write(root.join("cyrus.conf"), cyrus_conf).unwrap();
        let child = Command::new(bin("master"))
            .env("LD_LIBRARY_PATH", library_path())
            .arg("-C")
            .arg(root.join("imapd.conf"))
            .arg("-M")
            .arg(root.join("cyrus.conf"))
            .arg("-p")
            .arg(root.join("run/master.pid"))
            .arg("-D")
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cyrus master starts");
        let mut cyrus = Cyrus {
            dir,
            child: Some(child),
            users,
            pop3_port,
            pop3s_port,
            imap_port,
            imaps_port,
            lmtp_port,
            lmtp_socket,
        };
        let ports = [pop3_port, pop3s_port, imap_port, imaps_port, lmtp_port];
        assert!(
            server::wait_until_listening(cyrus.child.as_mut().unwrap(), &ports),
            "cyrus master did not start listening on {ports:?} (it logs only to syslog)"
        );
        assert!(
            cyrus.lmtp_socket.exists(),
            "cyrus master made no LMTP socket"
        );
        // A login creates the user's INBOX (autocreate_quota), which LMTP delivers into.
        for user in &cyrus.users {
            pop3_uids(pop3_port, user);
        }
        cyrus
    }

    /// The self-signed certificate the TLS services present (for `--ca-file`, `ca_file`).
    pub fn certificate(&self) -> PathBuf {
        self.root().join("cert.pem")
    }

    /// Every message of `user`'s `mailbox`, read over IMAP byte for byte, in UID order.
    pub fn mailbox(&self, user: &str, mailbox: &str) -> Vec<Fetched> {
        read_mailbox(self.imap_port, user, PASSWORD, mailbox)
    }

    /// The mailboxes `user` sees, by their IMAP names.
    pub fn mailboxes(&self, user: &str) -> Vec<String> {
        list_mailboxes(self.imap_port, user, PASSWORD)
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    fn mailbox_dir(&self, user: &str) -> PathBuf {
        self.root().join("spool/user").join(user)
    }
}

impl PopServer for Cyrus {
    fn name(&self) -> &'static str {
        "cyrus"
    }

    fn tls_modes(&self) -> &'static [&'static str] {
        &["none", "starttls", "implicit"]
    }

    fn auth_methods(&self) -> &'static [&'static str] {
        &[
            "user",
            "apop",
            "plain",
            "cram-md5",
            "scram-sha-1",
            "scram-sha-256",
        ]
    }

    fn users(&self) -> Vec<String> {
        self.users.clone()
    }

    /// Delivers over LMTP, as an MTA would.
    fn deliver(&self, user: &str, message: &[u8]) {
        lmtp_deliver(self.lmtp_port, user, message);
    }

    /// The spool files (`UID.`) of the messages in `user`'s INBOX. Cyrus unlinks the files of
    /// expunged messages only later (when the mailbox is next opened with no one else in it),
    /// so which messages the mailbox holds comes from its index, through the UIDs in a UIDL
    /// listing (`uidvalidity.uid`); their bytes come from the spool files.
    fn stored(&self, user: &str) -> Vec<Vec<u8>> {
        let mut messages: Vec<Vec<u8>> = pop3_uids(self.pop3_port, user)
            .iter()
            .map(|uid| {
                let file = self.mailbox_dir(user).join(format!("{uid}."));
                server::crlf_to_lf(&fs::read(&file).unwrap_or_else(|e| {
                    panic!("{}: {e}", file.display());
                }))
            })
            .collect();
        messages.sort();
        messages
    }

    fn args(&self, tls: &str, user: &str) -> Vec<String> {
        let port = if tls == "implicit" {
            self.pop3s_port
        } else {
            self.pop3_port
        };
        server::connection_args(port, user, tls, &self.certificate())
    }
}

impl Drop for Cyrus {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            server::kill_tree(&mut child);
        }
    }
}

/// The message UIDs of `user`'s INBOX, from a UIDL listing. A mailbox still locked by the
/// session that just ended (`-ERR [IN-USE]`) is tried again for up to 10 s.
fn pop3_uids(port: u16, user: &str) -> Vec<u64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match pop3_uidl(port, user) {
            Ok(uids) => return uids,
            Err(_) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(answer) => panic!("cyrus POP3 refused {user}: {answer:?}"),
        }
    }
}

fn pop3_uidl(port: u16, user: &str) -> Result<Vec<u64>, String> {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("POP3 connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut reader = BufReader::new(stream);
    let read_line = |reader: &mut BufReader<TcpStream>| {
        let mut line = String::new();
        reader.read_line(&mut line).expect("POP3 answers");
        line.trim_end().to_string()
    };
    for command in [
        "",
        &format!("USER {user}"),
        &format!("PASS {PASSWORD}"),
        "UIDL",
    ] {
        if !command.is_empty() {
            reader
                .get_mut()
                .write_all(format!("{command}\r\n").as_bytes())
                .unwrap();
        }
        let line = read_line(&mut reader);
        if !line.starts_with("+OK") {
            return Err(line);
        }
    }
    let mut uids = Vec::new();
    loop {
        let line = read_line(&mut reader);
        if line == "." {
            break;
        }
        let uid = line
            .split_whitespace()
            .nth(1)
            .and_then(|id| id.split_once('.'))
            .and_then(|(_, uid)| uid.parse().ok())
            .unwrap_or_else(|| panic!("unexpected UIDL line from cyrus: {line:?}"));
        uids.push(uid);
    }
    reader.get_mut().write_all(b"QUIT\r\n").unwrap();
    read_line(&mut reader);
    Ok(uids)
}

/// One LMTP transaction: the message (LF line ends) sent with CRLF and dot-stuffing.
fn lmtp_deliver(port: u16, user: &str, message: &[u8]) {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("LMTP connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut reader = BufReader::new(stream);
    let expect = |reader: &mut BufReader<TcpStream>, code: &str, what: &str| loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("LMTP answers");
        assert!(
            line.starts_with(code),
            "LMTP {what}: expected {code}, got {line:?}"
        );
        if line.as_bytes().get(3) != Some(&b'-') {
            break;
        }
    };
    expect(&mut reader, "220", "greeting");
    let send = |reader: &mut BufReader<TcpStream>, bytes: &[u8]| {
        reader.get_mut().write_all(bytes).unwrap();
    };
    send(&mut reader, b"LHLO localhost\r\n");
    expect(&mut reader, "250", "LHLO");
    send(&mut reader, b"MAIL FROM:<sender@example.org>\r\n");
    expect(&mut reader, "250", "MAIL");
    send(&mut reader, format!("RCPT TO:<{user}>\r\n").as_bytes());
    expect(&mut reader, "250", "RCPT");
    send(&mut reader, b"DATA\r\n");
    expect(&mut reader, "354", "DATA");
    let mut data = Vec::with_capacity(message.len() + message.len() / 20);
    for line in message.split_inclusive(|&b| b == b'\n') {
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        if content.starts_with(b".") {
            data.push(b'.');
        }
        data.extend_from_slice(content);
        data.extend_from_slice(b"\r\n");
    }
    data.extend_from_slice(b".\r\n");
    send(&mut reader, &data);
    expect(&mut reader, "250", "end of DATA");
    send(&mut reader, b"QUIT\r\n");
}
