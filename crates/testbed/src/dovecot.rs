//! A private Dovecot on loopback: config, users and a self-signed certificate in a directory of
//! its own (temporary unless one is given), started in the foreground and stopped when dropped.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const DOVECOT: &str = "/usr/sbin/dovecot";

/// What to configure beyond the defaults.
#[derive(Clone)]
pub struct Options {
    /// SASL/login mechanisms Dovecot offers (`apop` puts a timestamp in the greeting).
    pub mechanisms: &'static str,
    pub users: Vec<(&'static str, &'static str)>,
    /// The one address Dovecot listens on: `127.0.0.1` or `::1`.
    pub listen: &'static str,
    /// Kerberos for the GSSAPI mechanism (`gssapi` in `mechanisms` needs it).
    pub kerberos: Option<Kerberos>,
    /// Where the configuration, the users' homes and the log go. `None`: a new temporary
    /// directory, removed when the server is dropped; a given directory is created if needed
    /// and kept.
    pub dir: Option<PathBuf>,
    /// Keep login and pop3 processes for reuse instead of one of each per session. Hundreds of
    /// short sessions (a daemon polling many accounts) would otherwise mostly measure
    /// Dovecot's fork and exec per session.
    pub reuse_processes: bool,
    /// Also serve IMAP (a port with STARTTLS and one with TLS on connect) and LMTP (a Unix
    /// socket and a port), delivering into the same users' Maildirs: the destinations popget
    /// delivers to. Needs dovecot-imapd and dovecot-lmtpd.
    pub destinations: bool,
    /// Also log users in with OAuth 2.0 bearer tokens (XOAUTH2 and OAUTHBEARER, for IMAP and
    /// POP3): Dovecot's oauth2 passdb asks this token introspection endpoint (RFC 7662: a POST
    /// of `token=...`) whether a token is active and whose it is (its `username`). Passwords
    /// keep working for the other mechanisms.
    pub oauth_introspection: Option<String>,
}

/// The IMAP and LMTP endpoints of a Dovecot started with [`Options::destinations`].
#[derive(Debug, Clone)]
pub struct Destinations {
    pub imap_port: u16,
    pub imaps_port: u16,
    pub lmtp_port: u16,
    pub lmtp_socket: PathBuf,
}

/// Where Dovecot's GSSAPI mechanism finds its realm and keys.
#[derive(Clone)]
pub struct Kerberos {
    /// The krb5.conf naming the realm (Dovecot's processes get it as KRB5_CONFIG).
    pub config: PathBuf,
    /// The keytab with the key of `pop/HOSTNAME`.
    pub keytab: PathBuf,
    /// The host part of the service principal Dovecot accepts (`auth_gssapi_hostname`).
    pub hostname: &'static str,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mechanisms: "plain login apop",
            users: vec![("alice", "secret")],
            listen: "127.0.0.1",
            kerberos: None,
            dir: None,
            reuse_processes: false,
            destinations: false,
            oauth_introspection: None,
        }
    }
}

pub struct Dovecot {
    dir: Root,
    child: Option<Child>,
    pub pop3_port: u16,
    pub pop3s_port: u16,
    /// IMAP and LMTP, when [`Options::destinations`] asked for them.
    pub destinations: Option<Destinations>,
    /// The address it listens on.
    pub listen: std::net::IpAddr,
    mail_uid: u32,
    mail_gid: u32,
}

/// The server's directory: removed on drop when it is temporary.
enum Root {
    Temporary(tempfile::TempDir),
    Kept(PathBuf),
}

impl Root {
    fn path(&self) -> &Path {
        match self {
            Root::Temporary(dir) => dir.path(),
            Root::Kept(path) => path,
        }
    }
}

static MESSAGE_COUNTER: AtomicU64 = AtomicU64::new(0);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Dovecot {
    pub fn start() -> Dovecot {
        Dovecot::start_with(Options::default())
    }

    /// Starts Dovecot. Panics (fails the test, never skips it) when Dovecot is not installed.
    pub fn start_with(options: Options) -> Dovecot {
        assert!(
            Path::new(DOVECOT).exists(),
            "{DOVECOT} is missing: install dovecot-pop3d (scripts/test does this)"
        );
        let dir = match &options.dir {
            Some(path) => {
                fs::create_dir_all(path).unwrap();
                Root::Kept(path.clone())
            }
            None => Root::Temporary(
                tempfile::Builder::new()
                    .prefix("popget-dovecot")
                    .tempdir()
                    .unwrap(),
            ),
        };
        let root = dir.path();
        fs::set_permissions(root, fs::Permissions::from_mode(0o755)).unwrap();
        // SAFETY: geteuid/getegid have no preconditions.
        let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
        // Dovecot refuses to serve mail as root; as root the mail belongs to nobody.
        let (mail_uid, mail_gid) = if euid == 0 {
            (65534, 65534)
        } else {
            (euid, egid)
        };
        let service_users = if euid == 0 {
            String::new()
        } else {
            let name = current_user_name();
            format!("default_internal_user = {name}\ndefault_login_user = {name}\n")
        };
        generate_certificate(root);
        let mut passwd = String::new();
        for (user, password) in &options.users {
            passwd.push_str(&format!("{user}:{{PLAIN}}{password}::::::\n"));
            let maildir = root.join("home").join(user).join("Maildir");
            for sub in ["new", "cur", "tmp"] {
                fs::create_dir_all(maildir.join(sub)).unwrap();
            }
        }
        fs::write(root.join("passwd"), passwd).unwrap();
        fs::create_dir_all(root.join("run")).unwrap();
        chown_tree(&root.join("home"), mail_uid, mail_gid);
        // Dovecot clears its processes' environment: KRB5_CONFIG must be imported by name.
        // Dovecot takes the user from the authorization identity popget sends (alice for the
        // principal alice@REALM) and looks it up in the passdb and userdb below, as for PLAIN.
        let kerberos = options.kerberos.as_ref().map_or(String::new(), |kerberos| {
            format!(
                "auth_gssapi_hostname = {}\nauth_krb5_keytab = {}\n\
                 import_environment = TZ KRB5_CONFIG={}\n",
                kerberos.hostname,
                kerberos.keytab.display(),
                kerberos.config.display()
            )
        });

        let (mechanisms, oauth_passdb) = match &options.oauth_introspection {
            Some(url) => {
                write_oauth_passdb(root, url);
                (
                    format!("{} xoauth2 oauthbearer", options.mechanisms),
                    oauth_passdb(root),
                )
            }
            None => (options.mechanisms.to_string(), String::new()),
        };

        let (login_reuse, pop3_service) = if options.reuse_processes {
            (
                "  service_count = 0\n  process_min_avail = 2\n",
                "service pop3 {\n  service_count = 1000\n  process_min_avail = 8\n}\n",
            )
        } else {
            ("", "")
        };

        {
            let pop3_port = free_port();
            let pop3s_port = free_port();
            let destinations = options.destinations.then(|| Destinations {
                imap_port: free_port(),
                imaps_port: free_port(),
                lmtp_port: free_port(),
                lmtp_socket: root.join("run").join("lmtp"),
            });
            let (protocols, destination_services) = match &destinations {
                Some(to) => (
                    "pop3 imap lmtp",
                    format!(
                        "postmaster_address = postmaster@popget.test\n\
                         service imap-login {{\n  chroot =\n  inet_listener imap {{\n    port = {}\n  }}\n  \
                         inet_listener imaps {{\n    port = {}\n    ssl = yes\n  }}\n}}\n\
                         service lmtp {{\n  unix_listener lmtp {{\n    mode = 0666\n  }}\n  \
                         inet_listener lmtp {{\n    port = {}\n  }}\n}}\n",
                        to.imap_port,
                        to.imaps_port,
                        to.lmtp_port
                    ),
                ),
                None => ("pop3", String::new()),
            };
            let config = format!(
                r#"base_dir = {root}/run
state_dir = {root}/run
log_path = {root}/dovecot.log
instance_name = popget-test-{pop3_port}
protocols = {protocols}
listen = {listen}
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_failure_delay = 0
auth_mechanisms = {mechanisms}
{kerberos}first_valid_uid = 0
mail_location = maildir:~/Maildir
{service_users}{oauth_passdb}passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={root}/home/%u
}}
service pop3-login {{
{login_reuse}  chroot =
  inet_listener pop3 {{
    port = {pop3_port}
  }}
  inet_listener pop3s {{
    port = {pop3s_port}
    ssl = yes
  }}
}}
service stats {{
  inet_listener http {{
    port = 0
  }}
}}
{pop3_service}{destination_services}"#,
                root = root.display(),
                listen = options.listen,
            );
            fs::write(root.join("dovecot.conf"), config).unwrap();
            let child = Command::new(DOVECOT)
                .arg("-F")
                .arg("-c")
                .arg(root.join("dovecot.conf"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("dovecot starts");
            let mut dovecot = Dovecot {
                dir,
                child: Some(child),
                pop3_port,
                pop3s_port,
                destinations,
                listen: options.listen.parse().expect("an IP address to listen on"),
                mail_uid,
                mail_gid,
            };
            assert!(
                dovecot.wait_until_listening(),
                "dovecot did not start listening; its log:\n{}",
                dovecot.log()
            );
            dovecot
        }
    }

    fn wait_until_listening(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            let child = self.child.as_mut().expect("running");
            if let Ok(Some(_)) = child.try_wait() {
                return false;
            }
            let mut ports = vec![self.pop3_port, self.pop3s_port];
            if let Some(to) = &self.destinations {
                ports.extend([to.imap_port, to.imaps_port, to.lmtp_port]);
            }
            let ready = ports
                .iter()
                .all(|port| TcpStream::connect((self.listen, *port)).is_ok());
            if ready {
                return true;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        false
    }

    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(None) = child.try_wait() {
            // SAFETY: signalling our own child, which has not been reaped yet.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Stops the server; its mail and configuration stay for [`Dovecot::restart`].
    pub fn pause(&mut self) {
        self.stop();
    }

    /// Starts the server again on the same ports after [`Dovecot::pause`].
    pub fn restart(&mut self) {
        let child = Command::new(DOVECOT)
            .arg("-F")
            .arg("-c")
            .arg(self.root().join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("dovecot starts again");
        self.child = Some(child);
        assert!(
            self.wait_until_listening(),
            "dovecot did not listen again; its log:\n{}",
            self.log()
        );
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The Dovecot master's process id while it runs; its services are its children.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the master is still running (false once it has exited or been stopped).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// The user and group the mail belongs to: files put into a Maildir must be theirs.
    pub fn mail_owner(&self) -> (u32, u32) {
        (self.mail_uid, self.mail_gid)
    }

    /// The certificate the server presents (self-signed, for localhost and 127.0.0.1).
    pub fn certificate(&self) -> PathBuf {
        self.root().join("cert.pem")
    }

    pub fn certificate_arg(&self) -> String {
        self.certificate().display().to_string()
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.root().join("dovecot.log")).unwrap_or_default()
    }

    pub fn maildir(&self, user: &str) -> PathBuf {
        self.root().join("home").join(user).join("Maildir")
    }

    /// Puts a message into the user's mailbox on the server.
    pub fn deliver(&self, user: &str, message: &[u8]) {
        let n = MESSAGE_COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{}.{n}.test", 1_700_000_000 + n);
        let tmp = self.maildir(user).join("tmp").join(&name);
        fs::write(&tmp, message).unwrap();
        std::os::unix::fs::chown(&tmp, Some(self.mail_uid), Some(self.mail_gid)).unwrap();
        fs::rename(&tmp, self.maildir(user).join("new").join(&name)).unwrap();
    }

    /// The messages the server holds for `user`, sorted.
    pub fn stored(&self, user: &str) -> Vec<Vec<u8>> {
        let mut messages = Vec::new();
        for sub in ["new", "cur"] {
            for entry in fs::read_dir(self.maildir(user).join(sub)).unwrap() {
                messages.push(fs::read(entry.unwrap().path()).unwrap());
            }
        }
        messages.sort();
        messages
    }

    /// Connection arguments for popget: host, port, user and TLS mode.
    pub fn args(&self, tls: &str, user: &str) -> Vec<String> {
        let port = if tls == "implicit" {
            self.pop3s_port
        } else {
            self.pop3_port
        };
        let mut args = vec![
            "--host".to_string(),
            self.listen.to_string(),
            "--port".to_string(),
            port.to_string(),
            "--user".to_string(),
            user.to_string(),
            "--tls".to_string(),
            tls.to_string(),
        ];
        if tls != "none" {
            args.push("--ca-file".to_string());
            args.push(self.certificate_arg());
        }
        args
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The oauth2 passdb's settings: every token is sent to `url` (no tokeninfo step), and only a
/// token the endpoint calls active and gives a username for logs that user in.
fn write_oauth_passdb(root: &Path, url: &str) {
    let settings = format!(
        "introspection_url = {url}\nintrospection_mode = post\nforce_introspection = yes\n\
         username_attribute = username\nactive_attribute = active\nactive_value = true\n\
         timeout_msecs = 10000\n"
    );
    fs::write(root.join("dovecot-oauth2.conf.ext"), settings).unwrap();
}

/// Ahead of the passwd-file: it takes only the token mechanisms (a password is never sent to
/// the introspection endpoint), and a token it refuses is not then tried as a password.
fn oauth_passdb(root: &Path) -> String {
    format!(
        "passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  \
         args = {}\n  result_failure = return-fail\n}}\n",
        root.join("dovecot-oauth2.conf.ext").display()
    )
}

pub fn generate_certificate(root: &Path) {
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ])
        .arg("-keyout")
        .arg(root.join("key.pem"))
        .arg("-out")
        .arg(root.join("cert.pem"))
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            // pop.popget.test: the name the proxy and IPv6 tests resolve in their own hosts file.
            "subjectAltName=DNS:localhost,DNS:pop.popget.test,IP:127.0.0.1,IP:::1",
            "-days",
            "2",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl is installed (scripts/test installs it)");
    assert!(status.success(), "openssl could not make a certificate");
}

fn chown_tree(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
    if path.is_dir() {
        for entry in fs::read_dir(path).unwrap() {
            chown_tree(&entry.unwrap().path(), uid, gid);
        }
    }
}

fn current_user_name() -> String {
    // SAFETY: getpwuid returns a pointer to static storage or NULL; we copy the name at once.
    unsafe {
        let entry = libc::getpwuid(libc::geteuid());
        assert!(!entry.is_null(), "the current user has no passwd entry");
        std::ffi::CStr::from_ptr((*entry).pw_name)
            .to_string_lossy()
            .into_owned()
    }
}
