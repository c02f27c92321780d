//! A private popa3d on loopback, from the package scripts/install-deps unpacked into
//! /opt/popget-interop/popa3d. popa3d has no configuration file: it authenticates system users
//! through PAM, serves the mbox spool /var/mail/USER, and drops privileges to the `popa3d` user
//! in a chroot to /var/lib/popa3d, all compiled in. It has no TLS, no CAPA, no APOP and no SASL.
//!
//! So that no system user is created and no system file changes, the harness listens itself
//! (inetd style, on a free port) and runs one popa3d per connection, with the socket as stdin
//! and stdout, in private mount and PID namespaces (`unshare`, root only) where read-only
//! overlays put the temporary directory's passwd, shadow and group over /etc (the test users
//! and `popa3d`), the temporary spool is bind-mounted on /var/mail, and an empty
//! /var/lib/popa3d is overlaid for the chroot. PAM's `other` service (pam_unix) checks the
//! passwords against that shadow file.
//!
//! Mail is delivered as an MTA appends to an mbox spool: a From_ line with a distinct date,
//! `From ` lines in the body quoted with `>` (mboxo), a blank line between messages. popa3d
//! serves each message as it is in the file (it does not unquote), and what the server holds is
//! read back the same way.

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::server::{self, PopServer, PASSWORD};

const POPA3D_UID: u32 = 60_000;

static MESSAGE_COUNTER: AtomicU64 = AtomicU64::new(0);

pub struct Popa3d {
    dir: tempfile::TempDir,
    users: Vec<String>,
    pub port: u16,
    stop: Arc<AtomicBool>,
    children: Arc<Mutex<Vec<Child>>>,
    thread: Option<JoinHandle<()>>,
}

fn binary() -> PathBuf {
    server::prefix("popa3d").join("usr/sbin/popa3d")
}

impl Popa3d {
    /// Starts listening for popa3d with the users `user1`..`userN` (uids 60001...). Panics when
    /// popa3d is not unpacked or the tests do not run as root.
    pub fn start(users: usize) -> Popa3d {
        server::require_root("popa3d");
        server::require(&binary(), "popa3d");
        assert!(
            Path::new("/var/mail").is_dir(),
            "/var/mail is missing (the mount point for popa3d's spool)"
        );
        let dir = tempfile::Builder::new()
            .prefix("popget-popa3d")
            .tempdir()
            .unwrap();
        let root = dir.path().to_path_buf();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        let users: Vec<String> = (1..=users).map(|i| format!("user{i}")).collect();

        let etc = root.join("etc");
        fs::create_dir_all(&etc).unwrap();
        let hash = server::crypt_hash(PASSWORD);
        let (mut passwd, mut shadow, mut group) = (String::new(), String::new(), String::new());
        // Ours first: getpwnam takes the first match.
        passwd.push_str(&format!(
            "popa3d:x:{POPA3D_UID}:{POPA3D_UID}::/var/lib/popa3d:/usr/sbin/nologin\n"
        ));
        shadow.push_str("popa3d:*:19000:0:99999:7:::\n");
        group.push_str(&format!("popa3d:x:{POPA3D_UID}:\n"));
        fs::create_dir_all(root.join("mail")).unwrap();
        fs::set_permissions(root.join("mail"), fs::Permissions::from_mode(0o1777)).unwrap();
        for (i, user) in users.iter().enumerate() {
            let uid = POPA3D_UID + 1 + i as u32;
            passwd.push_str(&format!(
                "{user}:x:{uid}:{uid}::/nonexistent:/usr/sbin/nologin\n"
            ));
            shadow.push_str(&format!("{user}:{hash}:19000:0:99999:7:::\n"));
            group.push_str(&format!("{user}:x:{uid}:\n"));
            let spool = root.join("mail").join(user);
            fs::write(&spool, b"").unwrap();
            fs::set_permissions(&spool, fs::Permissions::from_mode(0o600)).unwrap();
            std::os::unix::fs::chown(&spool, Some(uid), Some(uid)).unwrap();
        }
        passwd.push_str(&fs::read_to_string("/etc/passwd").unwrap());
        shadow.push_str(&fs::read_to_string("/etc/shadow").unwrap_or_default());
        group.push_str(&fs::read_to_string("/etc/group").unwrap());
        fs::write(etc.join("passwd"), passwd).unwrap();
        fs::write(etc.join("shadow"), shadow).unwrap();
        fs::set_permissions(etc.join("shadow"), fs::Permissions::from_mode(0o640)).unwrap();
        fs::write(etc.join("group"), group).unwrap();
        fs::create_dir_all(root.join("varlib/popa3d")).unwrap();

        let script = format!(
            "set -e
mount -t overlay overlay -o lowerdir={root}/etc:/etc /etc
mount --bind {root}/mail /var/mail
mount -t overlay overlay -o lowerdir={root}/varlib:/var/lib /var/lib
exec {binary}
",
            root = root.display(),
            binary = binary().display()
        );
        fs::write(root.join("connection.sh"), script).unwrap();

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let children = Arc::new(Mutex::new(Vec::<Child>::new()));
        let thread = {
            let (stop, children, root) = (stop.clone(), children.clone(), root.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            stream.set_nonblocking(false).unwrap();
                            let input: OwnedFd = stream.try_clone().unwrap().into();
                            let output: OwnedFd = stream.into();
                            let log = fs::OpenOptions::new()
                                .create(true)
                                .append(true)
                                .open(root.join("popa3d.log"))
                                .unwrap();
                            let child = server::namespaced_sh(&root.join("connection.sh"))
                                .stdin(Stdio::from(input))
                                .stdout(Stdio::from(output))
                                .stderr(log)
                                .spawn()
                                .expect("unshare starts");
                            let mut children = children.lock().unwrap();
                            children.retain_mut(|c| matches!(c.try_wait(), Ok(None)));
                            children.push(child);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        Popa3d {
            dir,
            users,
            port,
            stop,
            children,
            thread: Some(thread),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    fn spool(&self, user: &str) -> PathBuf {
        self.root().join("mail").join(user)
    }
}

/// Splits an mbox spool into messages the way popa3d serves them: a From_ line at the start or
/// after a blank line begins a message; the blank line before it ends the previous one.
fn split_spool(text: &[u8]) -> Vec<Vec<u8>> {
    let mut messages: Vec<Vec<u8>> = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    let mut previous_blank = true;
    for line in text.split_inclusive(|&b| b == b'\n') {
        if previous_blank && line.starts_with(b"From ") {
            if let Some(mut message) = current.take() {
                if message.ends_with(b"\n\n") {
                    message.pop();
                }
                messages.push(message);
            }
            current = Some(Vec::new());
            previous_blank = false;
            continue;
        }
        previous_blank = line == b"\n";
        if let Some(message) = current.as_mut() {
            message.extend_from_slice(line);
        }
    }
    messages.extend(current);
    messages
}

impl PopServer for Popa3d {
    fn name(&self) -> &'static str {
        "popa3d"
    }

    fn tls_modes(&self) -> &'static [&'static str] {
        &["none"]
    }

    fn auth_methods(&self) -> &'static [&'static str] {
        &["user"]
    }

    fn users(&self) -> Vec<String> {
        self.users.clone()
    }

    fn deliver(&self, user: &str, message: &[u8]) {
        assert!(message.ends_with(b"\n"), "mbox messages end with a newline");
        let n = MESSAGE_COUNTER.fetch_add(1, Ordering::Relaxed);
        let spool = self.spool(user);
        let mut entry = Vec::new();
        if fs::metadata(&spool).unwrap().len() > 0 {
            entry.push(b'\n');
        }
        // A distinct date per message, as an MTA writes it (asctime form, UTC).
        entry.extend_from_slice(
            format!(
                "From sender@example.org Mon Jan  1 {:02}:{:02}:{:02} 2024\n",
                (n / 3600) % 24,
                (n / 60) % 60,
                n % 60
            )
            .as_bytes(),
        );
        for line in message.split_inclusive(|&b| b == b'\n') {
            if line.starts_with(b"From ") {
                entry.push(b'>');
            }
            entry.extend_from_slice(line);
        }
        fs::OpenOptions::new()
            .append(true)
            .open(&spool)
            .unwrap()
            .write_all(&entry)
            .unwrap();
    }

    fn stored(&self, user: &str) -> Vec<Vec<u8>> {
        let mut messages = split_spool(&fs::read(self.spool(user)).unwrap_or_default());
        messages.sort();
        messages
    }

    fn args(&self, tls: &str, user: &str) -> Vec<String> {
        assert_eq!(tls, "none", "popa3d has no TLS");
        server::connection_args(self.port, user, tls, Path::new("/nonexistent"))
    }

    fn log(&self) -> String {
        fs::read_to_string(self.root().join("popa3d.log")).unwrap_or_default()
    }
}

impl Drop for Popa3d {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        for mut child in self.children.lock().unwrap().drain(..) {
            server::kill_tree(&mut child);
        }
    }
}
