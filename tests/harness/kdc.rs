//! A private MIT Kerberos KDC on loopback: realm database, principals and keytab in a temporary
//! directory, `krb5kdc -n` in the foreground until dropped, and `kinit` into caches there.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::server::free_port;

pub const REALM: &str = "POPGET.TEST";

const KRB5KDC: &str = "/usr/sbin/krb5kdc";
const KDB5_UTIL: &str = "/usr/sbin/kdb5_util";
const KADMIN_LOCAL: &str = "/usr/sbin/kadmin.local";
const KINIT: &str = "/usr/bin/kinit";

pub struct Kdc {
    dir: tempfile::TempDir,
    child: Option<Child>,
    pub port: u16,
}

impl Kdc {
    /// Creates the realm and starts its KDC on 127.0.0.1 (TCP only). Panics (fails the test,
    /// never skips it) when the MIT Kerberos tools are missing.
    pub fn start() -> Kdc {
        for (tool, package) in [
            (KRB5KDC, "krb5-kdc"),
            (KDB5_UTIL, "krb5-kdc"),
            (KADMIN_LOCAL, "krb5-admin-server"),
            (KINIT, "krb5-user"),
        ] {
            assert!(
                Path::new(tool).exists(),
                "{tool} is missing: install {package} (scripts/install-deps does this)"
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("popget-kdc")
            .tempdir()
            .unwrap();
        // Dovecot's auth process (not root) reads the krb5.conf and the keytab here.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let port = free_port();
        let mut kdc = Kdc {
            dir,
            child: None,
            port,
        };
        kdc.write_configuration();
        kdc.tool(KDB5_UTIL)
            .args(["create", "-s", "-r", REALM, "-P", "master-key-of-the-test"])
            .expect_success();
        let child = kdc
            .command(KRB5KDC)
            .arg("-n")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("krb5kdc starts");
        kdc.child = Some(child);
        kdc.wait_until_listening();
        kdc
    }

    /// krb5.conf for everyone (popget, kinit, Dovecot) and kdc.conf for the KDC. `localhost`
    /// is a name of the realm, taken as it is: no DNS canonicalization, no reverse lookup.
    fn write_configuration(&self) {
        let root = self.root().display().to_string();
        let port = self.port;
        let krb5_conf = format!(
            "[libdefaults]\n  default_realm = {REALM}\n  dns_lookup_kdc = false\n  \
             dns_lookup_realm = false\n  rdns = false\n  dns_canonicalize_hostname = false\n  \
             udp_preference_limit = 1\n\n\
             [realms]\n  {REALM} = {{\n    kdc = 127.0.0.1:{port}\n  }}\n\n\
             [domain_realm]\n  localhost = {REALM}\n"
        );
        fs::write(self.config(), krb5_conf).unwrap();
        let kdc_conf = format!(
            "[kdcdefaults]\n  kdc_listen = 127.0.0.1:{port}\n  \
             kdc_tcp_listen = 127.0.0.1:{port}\n\n\
             [realms]\n  {REALM} = {{\n    database_name = {root}/principal\n    \
             key_stash_file = {root}/stash\n    acl_file = {root}/kadm5.acl\n  }}\n\n\
             [logging]\n  kdc = FILE:{root}/kdc.log\n  admin_server = FILE:{root}/kadmin.log\n"
        );
        fs::write(self.root().join("kdc.conf"), kdc_conf).unwrap();
    }

    fn wait_until_listening(&mut self) {
        let child = self.child.as_mut().expect("started");
        if !super::server::wait_until_listening(child, &[self.port]) {
            panic!(
                "krb5kdc did not listen (or exited); its log:\n{}",
                self.log()
            );
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The krb5.conf naming this realm and its KDC (KRB5_CONFIG).
    pub fn config(&self) -> PathBuf {
        self.root().join("krb5.conf")
    }

    /// The keytab holding the keys of every service added with [`Kdc::add_service`].
    pub fn keytab(&self) -> PathBuf {
        self.root().join("services.keytab")
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.root().join("kdc.log")).unwrap_or_default()
    }

    /// A command for a Kerberos tool with this realm's configuration and nothing of the user's.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("KRB5_CONFIG", self.config())
            .env("KRB5_KDC_PROFILE", self.root().join("kdc.conf"));
        command
    }

    fn tool(&self, program: &str) -> Tool {
        Tool(self.command(program))
    }

    fn kadmin(&self, query: &str) {
        self.tool(KADMIN_LOCAL).args(["-q", query]).expect_success();
    }

    /// A user principal with a password.
    pub fn add_user(&self, name: &str, password: &str) {
        self.kadmin(&format!("addprinc -pw {password} {name}"));
    }

    /// A service principal (`pop/localhost`) with a random key, written to [`Kdc::keytab`].
    pub fn add_service(&self, principal: &str) {
        self.kadmin(&format!("addprinc -randkey {principal}"));
        self.kadmin(&format!("ktadd -k {} {principal}", self.keytab().display()));
        fs::set_permissions(self.keytab(), fs::Permissions::from_mode(0o644)).unwrap();
    }

    /// A service principal the KDC knows but whose key no keytab holds.
    pub fn add_service_without_keytab(&self, principal: &str) {
        self.kadmin(&format!("addprinc -randkey {principal}"));
    }

    /// Gets `user` a ticket into the credential cache file `ccache`, valid for `lifetime`
    /// (`kinit -l`, e.g. `10h` or `2s`).
    pub fn kinit(&self, ccache: &Path, user: &str, password: &str, lifetime: &str) {
        let mut child = self
            .command(KINIT)
            .env("KRB5CCNAME", format!("FILE:{}", ccache.display()))
            .args(["-l", lifetime, user])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kinit starts");
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "kinit {user} failed: {}\nKDC log:\n{}",
            String::from_utf8_lossy(&output.stderr),
            self.log()
        );
    }
}

impl Drop for Kdc {
    fn drop(&mut self) {
        // krb5kdc -n stays one process in the foreground.
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A Kerberos administration tool that must succeed.
struct Tool(Command);

impl Tool {
    fn args<const N: usize>(mut self, args: [&str; N]) -> Tool {
        self.0.args(args);
        self
    }

    fn expect_success(mut self) {
        let output = self.0.stdin(Stdio::null()).output().expect("the tool runs");
        assert!(
            output.status.success(),
            "{:?} failed: {}",
            self.0,
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
