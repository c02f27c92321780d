//! What the interoperability matrix needs from every real server, and the pieces the harnesses
//! for Cyrus, Courier and popa3d share: free ports, the unpacked packages' prefix, waiting for
//! a listener, and a server process tree that is killed as a whole.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The password of every test user on every real server.
pub const PASSWORD: &str = "secret";

/// A real POP3 server with test users, as the interoperability matrix drives it.
pub trait PopServer: Sync {
    fn name(&self) -> &'static str;
    /// TLS modes offered, among `none`, `starttls`, `implicit`.
    fn tls_modes(&self) -> &'static [&'static str];
    /// `--auth` methods offered (with every offered TLS mode).
    fn auth_methods(&self) -> &'static [&'static str];
    /// The test users, each with its own mailbox and the password [`PASSWORD`].
    fn users(&self) -> Vec<String>;
    /// Puts a message (LF line ends) into `user`'s mailbox the way this server receives mail.
    fn deliver(&self, user: &str, message: &[u8]);
    /// What the server holds for `user`, as the messages a client must end up with (LF line
    /// ends), sorted.
    fn stored(&self, user: &str) -> Vec<Vec<u8>>;
    /// Connection arguments for popget: host, port, user, `--tls` and `--ca-file`.
    fn args(&self, tls: &str, user: &str) -> Vec<String>;
    /// The server's log, for failure messages (may be empty).
    fn log(&self) -> String {
        String::new()
    }
}

/// Where scripts/install-deps unpacked `server` (cyrus, courier, popa3d).
pub fn prefix(server: &str) -> PathBuf {
    let root =
        std::env::var_os("POPGET_INTEROP_PREFIX").unwrap_or_else(|| "/opt/popget-interop".into());
    PathBuf::from(root).join(server)
}

/// Panics (fails the test, never skips it) when a file the harness runs is missing.
pub fn require(path: &Path, server: &str) {
    assert!(
        path.exists(),
        "{} is missing: scripts/install-deps unpacks {server} into {} (it needs root and apt)",
        path.display(),
        prefix(server).display()
    );
}

/// Panics unless running as root: the harness mounts, changes users or owns files as others.
pub fn require_root(server: &str) {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "the {server} tests need root (private mount and PID namespaces, mail owned by other \
         users); CI runs them as root"
    );
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (at most 20 s) until every port accepts connections; false if `child` exits first or
/// time runs out.
pub fn wait_until_listening(child: &mut Child, ports: &[u16]) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if ports
            .iter()
            .all(|port| TcpStream::connect(("127.0.0.1", *port)).is_ok())
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

/// Stops a server started as `unshare --pid --fork --kill-child ...` (SIGKILL to unshare takes
/// the whole PID namespace with it) or as the leader of its own process group.
pub fn kill_tree(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        // SAFETY: signalling our own child (and its process group), not yet reaped.
        unsafe {
            libc::kill(-(child.id() as libc::pid_t), libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: as above; whatever is left of the group goes too.
        unsafe {
            libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A command that runs `script` with sh in private mount and PID namespaces: mounts made there
/// are invisible to the rest of the machine, and every process of the server dies with it.
pub fn namespaced_sh(script: &Path) -> Command {
    let mut command = Command::new("unshare");
    command
        .process_group(0)
        .args(["--mount", "--propagation", "private", "--pid", "--fork"])
        .arg("--kill-child")
        .arg("sh")
        .arg(script);
    command
}

/// CRLF → LF, as popget stores what a server sends from CRLF storage.
pub fn crlf_to_lf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// A SHA-512 crypt(3) hash of `password`, from the openssl tool.
pub fn crypt_hash(password: &str) -> String {
    let output = Command::new("openssl")
        .args(["passwd", "-6", password])
        .output()
        .expect("openssl is installed (scripts/install-deps installs it)");
    assert!(output.status.success(), "openssl passwd failed");
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// The files of `dirs` under `root`, read, sorted.
pub fn files_in(root: &Path, dirs: &[&str]) -> Vec<Vec<u8>> {
    let mut messages = Vec::new();
    for sub in dirs {
        let Ok(entries) = fs::read_dir(root.join(sub)) else {
            continue;
        };
        for entry in entries {
            messages.push(fs::read(entry.unwrap().path()).unwrap());
        }
    }
    messages.sort();
    messages
}

/// Standard connection arguments for a server on 127.0.0.1.
pub fn connection_args(port: u16, user: &str, tls: &str, ca_file: &Path) -> Vec<String> {
    let mut args: Vec<String> = [
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--user",
        user,
        "--tls",
        tls,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if tls != "none" {
        args.push("--ca-file".into());
        args.push(ca_file.display().to_string());
    }
    args
}

/// The name of the effective user (Cyrus drops to it when not started as root).
pub fn current_user_name() -> String {
    // SAFETY: getpwuid returns a pointer to static storage or NULL; we copy the name at once.
    unsafe {
        let entry = libc::getpwuid(libc::geteuid());
        assert!(!entry.is_null(), "the current user has no passwd entry");
        std::ffi::CStr::from_ptr((*entry).pw_name)
            .to_string_lossy()
            .into_owned()
    }
}

pub fn chown_tree(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
    if path.is_dir() {
        for entry in fs::read_dir(path).unwrap() {
            chown_tree(&entry.unwrap().path(), uid, gid);
        }
    }
}
