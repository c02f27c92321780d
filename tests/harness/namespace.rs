//! Runs a program with its own /etc/hosts (and optionally /etc/resolv.conf): a private mount
//! namespace (`unshare -m`) with the test's files bind-mounted over the system's.

use std::path::Path;
use std::process::Command;

/// A command that runs `unshare -m`, mounts `hosts` (and `resolv_conf`) over the system's
/// files, then execs the program and arguments added to it. Needs root, as the tests run.
pub fn with_hosts(hosts: &Path, resolv_conf: Option<&Path>) -> Command {
    let mut command = Command::new("unshare");
    command.args([
        "-m",
        "sh",
        "-ec",
        r#"mount --bind "$1" /etc/hosts
if [ -n "$2" ]; then mount --bind "$2" /etc/resolv.conf; fi
shift 2
exec "$@""#,
        "sh",
    ]);
    command.arg(hosts);
    command.arg(resolv_conf.map_or_else(Default::default, |path| path.as_os_str().to_owned()));
    command
}

/// A resolver configuration that sends DNS queries to a closed loopback port: any query
/// fails at once instead of waiting for a network this machine may not have.
pub const NO_DNS: &str = "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n";

/// The real popget in the sandbox of `popget` (its environment, as [`super::Popget::command`]
/// sets it), seeing `hosts` as /etc/hosts and [`NO_DNS`] as /etc/resolv.conf, behind the
/// programs of `wrapper` (e.g. strace and its options).
pub fn popget(popget: &super::Popget, hosts: &str, wrapper: &[&str]) -> Command {
    let hosts_path = popget.path("hosts");
    let resolv_path = popget.path("resolv.conf");
    std::fs::write(&hosts_path, hosts).unwrap();
    std::fs::write(&resolv_path, NO_DNS).unwrap();
    let mut command = with_hosts(&hosts_path, Some(&resolv_path));
    command.args(wrapper).arg(env!("CARGO_BIN_EXE_popget"));
    let template = popget.command();
    command.env_clear();
    for (key, value) in template.get_envs() {
        if let Some(value) = value {
            command.env(key, value);
        }
    }
    command.env("POPGET_PASSWORD", "secret");
    command.stdin(std::process::Stdio::null());
    command
}

/// Runs `command` with `directory` made read-only in a private mount namespace (as root, or
/// through a user namespace otherwise): the kernel, not permissions, refuses the writes.
pub fn read_only(directory: &Path, command: &Command) -> Command {
    let program = command.get_program().to_owned();
    let args: Vec<_> = command.get_args().map(|a| a.to_owned()).collect();
    // SAFETY: geteuid has no preconditions.
    let unshare_flags = if unsafe { libc::geteuid() } == 0 {
        "-m"
    } else {
        "-rm"
    };
    let mut wrapped = Command::new("unshare");
    wrapped
        .args([
            unshare_flags,
            "sh",
            "-c",
            "mount --bind \"$1\" \"$1\" && mount -o remount,bind,ro \"$1\" && shift && exec \"$@\"",
            "sh",
        ])
        .arg(directory)
        .arg(program)
        .args(args);
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    if let Some(directory) = command.get_current_dir() {
        wrapped.current_dir(directory);
    }
    wrapped.stdin(std::process::Stdio::null());
    wrapped
}
