//! A private Courier POP3 server on loopback, from the packages scripts/install-deps unpacked
//! into /opt/popget-interop/courier: couriertcpd → courierpop3login → courierpop3d, with
//! authdaemond (userdb module) for the logins and couriertls for STLS and POP3S.
//!
//! Courier insists on system paths compiled into it (/etc/courier/authdaemonrc, the userdb in
//! /etc/courier, authdaemond's socket in /run/courier, its modules in /usr/lib/courier-authlib)
//! and on a `courier` system user for STLS. So the whole server runs in private mount and PID
//! namespaces (`unshare`, root only): read-only overlays put the temporary directory's
//! `etc/courier`, `passwd` and `group` over /etc and the unpacked libraries over /usr/lib, and a
//! tmpfs is mounted on /run. Nothing changes outside the namespace; killing `unshare` on drop
//! ends every process of the server.
//!
//! Mail lives in Maildirs in the temporary directory; what the server holds is read from them.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use super::server::{self, PopServer, PASSWORD};

/// Mail belongs to nobody; couriertls (STLS) runs as `courier`, mapped to the same uid.
const MAIL_UID: u32 = 65534;

static MESSAGE_COUNTER: AtomicU64 = AtomicU64::new(0);

pub struct Courier {
    dir: tempfile::TempDir,
    child: Option<Child>,
    users: Vec<String>,
    pub pop3_port: u16,
    pub pop3s_port: u16,
}

fn path(relative: &str) -> PathBuf {
    server::prefix("courier").join(relative)
}

impl Courier {
    /// Starts Courier with the users `user1`..`userN`. Panics when Courier is not unpacked or
    /// the tests do not run as root.
    pub fn start(users: usize) -> Courier {
        server::require_root("courier");
        for binary in [
            "usr/sbin/couriertcpd",
            "usr/bin/couriertls",
            "usr/lib/courier/courier/courierpop3login",
            "usr/lib/courier/courier/courierpop3d",
            "usr/lib/courier/courier-authlib/authdaemond",
            "usr/sbin/makeuserdb",
            "usr/sbin/userdbpw",
        ] {
            server::require(&path(binary), "courier");
        }
        let dir = tempfile::Builder::new()
            .prefix("popget-courier")
            .tempdir()
            .unwrap();
        let root = dir.path();
        fs::set_permissions(root, fs::Permissions::from_mode(0o755)).unwrap();
        super::dovecot::generate_certificate(root);
        // couriertls wants key and certificate in one file, readable by `courier` for STLS.
        let mut pem = fs::read(root.join("key.pem")).unwrap();
        pem.extend(fs::read(root.join("cert.pem")).unwrap());
        fs::write(root.join("server.pem"), pem).unwrap();
        fs::set_permissions(root.join("server.pem"), fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::chown(root.join("server.pem"), Some(MAIL_UID), Some(MAIL_UID)).unwrap();

        let etc = root.join("etc");
        fs::create_dir_all(etc.join("courier")).unwrap();
        let mut passwd = fs::read_to_string("/etc/passwd").unwrap();
        passwd.push_str(&format!(
            "courier:x:{MAIL_UID}:{MAIL_UID}:courier:/nonexistent:/usr/sbin/nologin\n"
        ));
        fs::write(etc.join("passwd"), passwd).unwrap();
        let mut group = fs::read_to_string("/etc/group").unwrap();
        group.push_str(&format!("courier:x:{MAIL_UID}:\n"));
        fs::write(etc.join("group"), group).unwrap();
        fs::write(
            etc.join("courier/authdaemonrc"),
            "authmodulelist=\"authuserdb\"\ndaemons=3\nauthdaemonvar=/run/courier/authdaemon\n\
             DEBUG_LOGIN=0\nDEFAULTOPTIONS=\"\"\nLOGGEROPTS=\"\"\n",
        )
        .unwrap();

        let users: Vec<String> = (1..=users).map(|i| format!("user{i}")).collect();
        let systempw = server::crypt_hash(PASSWORD);
        let hmac_md5pw = userdbpw_hmac_md5(PASSWORD);
        let mut userdb = String::new();
        for user in &users {
            let home = root.join("home").join(user);
            for sub in ["new", "cur", "tmp"] {
                fs::create_dir_all(home.join("Maildir").join(sub)).unwrap();
            }
            userdb.push_str(&format!(
                "{user}\tuid={MAIL_UID}|gid={MAIL_UID}|home={home}|mail={home}/Maildir|\
                 systempw={systempw}|hmac-md5pw={hmac_md5pw}\n",
                home = home.display()
            ));
        }
        fs::write(etc.join("courier/userdb"), userdb).unwrap();
        fs::set_permissions(
            etc.join("courier/userdb"),
            fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        if root.join("home").exists() {
            server::chown_tree(&root.join("home"), MAIL_UID, MAIL_UID);
        }

        let (pop3_port, pop3s_port) = (server::free_port(), server::free_port());
        let tcpd = format!(
            "{} -address=127.0.0.1 -nodnslookup -noidentlookup -maxprocs=40 -maxperip=40",
            path("usr/sbin/couriertcpd").display()
        );
        let login = format!(
            "{} {} Maildir",
            path("usr/lib/courier/courier/courierpop3login").display(),
            path("usr/lib/courier/courier/courierpop3d").display()
        );
        let couriertls = path("usr/bin/couriertls");
        let script = format!(
            r#"set -e
mount -t overlay overlay -o lowerdir={root}/etc:/etc /etc
mount -t overlay overlay -o lowerdir={prefix}/usr/lib:/usr/lib /usr/lib
mount -t tmpfs tmpfs /run
mkdir -p /run/courier/authdaemon
perl {prefix}/usr/sbin/makeuserdb -f {root}/etc/courier/userdb
(set -a; . /etc/courier/authdaemonrc; exec /usr/lib/courier/courier-authlib/authdaemond) &
export POP3AUTH="PLAIN LOGIN CRAM-MD5" POP3AUTH_TLS="PLAIN LOGIN CRAM-MD5"
export POP3_STARTTLS=YES POP3_TLS_REQUIRED=0 COURIERTLS={couriertls} TLS_CERTFILE={root}/server.pem
{tcpd} {pop3_port} {login} &
POP3_TLS=1 {tcpd} {pop3s_port} {couriertls} -server -tcpd {login} &
wait
"#,
            root = root.display(),
            prefix = server::prefix("courier").display(),
            couriertls = couriertls.display(),
        );
        fs::write(root.join("start.sh"), script).unwrap();
        let log = fs::File::create(root.join("courier.log")).unwrap();
        let child = server::namespaced_sh(&root.join("start.sh"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("unshare starts");
        let mut courier = Courier {
            dir,
            child: Some(child),
            users,
            pop3_port,
            pop3s_port,
        };
        assert!(
            server::wait_until_listening(courier.child.as_mut().unwrap(), &[pop3_port, pop3s_port]),
            "courier did not start listening; its log:\n{}",
            courier.log()
        );
        courier
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    fn maildir(&self, user: &str) -> PathBuf {
        self.root().join("home").join(user).join("Maildir")
    }
}

/// The `hmac-md5pw` userdb field (CRAM-MD5) for `password`, from Courier's userdbpw.
fn userdbpw_hmac_md5(password: &str) -> String {
    let mut child = Command::new(path("usr/sbin/userdbpw"))
        .arg("-hmac-md5")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("userdbpw runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "userdbpw failed");
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

impl PopServer for Courier {
    fn name(&self) -> &'static str {
        "courier"
    }

    fn tls_modes(&self) -> &'static [&'static str] {
        &["none", "starttls", "implicit"]
    }

    fn auth_methods(&self) -> &'static [&'static str] {
        &["user", "plain", "cram-md5"]
    }

    fn users(&self) -> Vec<String> {
        self.users.clone()
    }

    /// Delivers as an MDA does: a file written in tmp/, renamed into new/.
    fn deliver(&self, user: &str, message: &[u8]) {
        let n = MESSAGE_COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{}.{n}.test", 1_700_000_000 + n);
        let tmp = self.maildir(user).join("tmp").join(&name);
        fs::write(&tmp, message).unwrap();
        std::os::unix::fs::chown(&tmp, Some(MAIL_UID), Some(MAIL_UID)).unwrap();
        fs::rename(&tmp, self.maildir(user).join("new").join(&name)).unwrap();
    }

    fn stored(&self, user: &str) -> Vec<Vec<u8>> {
        server::files_in(&self.maildir(user), &["new", "cur"])
    }

    fn args(&self, tls: &str, user: &str) -> Vec<String> {
        let port = if tls == "implicit" {
            self.pop3s_port
        } else {
            self.pop3_port
        };
        server::connection_args(port, user, tls, &self.root().join("cert.pem"))
    }

    fn log(&self) -> String {
        fs::read_to_string(self.root().join("courier.log")).unwrap_or_default()
    }
}

impl Drop for Courier {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            server::kill_tree(&mut child);
        }
    }
}
