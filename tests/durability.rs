//! Power-loss safety, checked in the order of the real system calls: a first run into
//! directories that do not exist yet is traced with strace, and every name popget creates, each
//! message's data and its record must be on stable storage before the first DELE is written.

use std::path::Path;
use std::process::Command;

use crate::harness::fake::{numbered_messages, FakeServer, Script};
use crate::harness::Popget;

/// One completed system call from `strace -f -y`.
#[derive(Debug, Clone)]
struct Call {
    /// Where it completed, in the trace's order.
    done: usize,
    /// Where it started (before `done` when another thread's calls came in between).
    started: usize,
    name: String,
    /// The text between the parentheses (both halves of an interrupted line).
    args: String,
    result: String,
}

impl Call {
    fn ok(&self) -> bool {
        !self.result.starts_with('-')
    }

    /// The path strace printed for the first argument's descriptor (`5</a/b>`).
    fn fd_path(&self) -> Option<&str> {
        let start = self.args.find('<')? + 1;
        let end = start + self.args[start..].find('>')?;
        Some(&self.args[start..end])
    }

    /// The quoted string arguments.
    fn strings(&self) -> Vec<String> {
        self.args
            .split('"')
            .enumerate()
            .filter(|(i, _)| i % 2 == 1)
            .map(|(_, s)| s.to_string())
            .collect()
    }
}

/// Reads an `strace -f -y` log into completed calls, joining `<unfinished ...>` and
/// `<... resumed>` halves.
fn parse_trace(text: &str) -> Vec<Call> {
    let mut unfinished: std::collections::HashMap<String, (usize, String, String)> =
        Default::default();
    let mut calls = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let Some((pid, rest)) = line.split_once(' ') else {
            continue;
        };
        let rest = rest.trim_start();
        if let Some(resumed) = rest.strip_prefix("<... ") {
            let Some((name, tail)) = resumed.split_once(" resumed>") else {
                continue;
            };
            let Some((started, start_name, head)) = unfinished.remove(pid) else {
                continue;
            };
            assert_eq!(name, start_name, "strace halves of one call: {line}");
            let (args_tail, result) = tail.rsplit_once(" = ").unwrap_or((tail, ""));
            calls.push(Call {
                done: index,
                started,
                name: name.to_string(),
                args: format!("{head}{args_tail}"),
                result: result.trim().to_string(),
            });
            continue;
        }
        let Some(open) = rest.find('(') else {
            continue;
        };
        let name = rest[..open].to_string();
        let body = &rest[open + 1..];
        if let Some(head) = body.strip_suffix(" <unfinished ...>") {
            unfinished.insert(pid.to_string(), (index, name, head.to_string()));
            continue;
        }
        let (args, result) = body.rsplit_once(" = ").unwrap_or((body, ""));
        calls.push(Call {
            done: index,
            started: index,
            name,
            args: args.to_string(),
            result: result.trim().to_string(),
        });
    }
    calls
}

fn parent(path: &str) -> String {
    Path::new(path)
        .parent()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// The checks: every rule broken before the first DELE is returned, one line each.
fn violations(calls: &[Call], mailbox: &str, journal: &str) -> Vec<String> {
    let dele = calls
        .iter()
        .find(|c| {
            matches!(c.name.as_str(), "write" | "sendto" | "writev" | "sendmsg")
                && c.args.contains("DELE ")
        })
        .expect("popget sent a DELE");
    let before_dele = |c: &&Call| c.done < dele.started;
    let synced_after = |path: &str, after: usize, names: &[&str]| {
        calls.iter().filter(before_dele).any(|c| {
            names.contains(&c.name.as_str())
                && c.ok()
                && c.started > after
                && c.fd_path() == Some(path)
        })
    };
    let fsync = ["fsync"];
    let any_sync = ["fsync", "fdatasync"];
    let mut broken = Vec::new();
    // Every directory created: its parent synced after it.
    for call in calls.iter().filter(before_dele) {
        if matches!(call.name.as_str(), "mkdir" | "mkdirat") && call.ok() {
            let created = call.strings().into_iter().next().unwrap();
            if !synced_after(&parent(&created), call.done, &fsync) {
                broken.push(format!("mkdir {created}: parent not synced before DELE"));
            }
        }
    }
    // Every file created that a record depends on (the mbox, the journal): its directory
    // synced after its creation (the first open that may create it).
    let mut seen = std::collections::HashSet::new();
    for call in calls.iter().filter(before_dele) {
        if matches!(call.name.as_str(), "open" | "openat")
            && call.ok()
            && call.args.contains("O_CREAT")
        {
            let path = call.strings().into_iter().next().unwrap();
            if (path == mailbox || path == journal)
                && seen.insert(path.clone())
                && !synced_after(&parent(&path), call.done, &fsync)
            {
                broken.push(format!("created {path}: directory not synced before DELE"));
            }
        }
    }
    // Maildir: each file synced before its rename into new/, new/ synced after the rename.
    for call in calls.iter().filter(before_dele) {
        if call.name.starts_with("rename") || call.name.starts_with("link") {
            let paths = call.strings();
            let (Some(from), Some(to)) = (paths.first(), paths.get(1)) else {
                continue;
            };
            if !to.starts_with(&format!("{mailbox}/new/")) {
                continue;
            }
            let data_synced = calls.iter().any(|c| {
                c.name == "fsync" && c.ok() && c.done < call.started && c.fd_path() == Some(from)
            });
            if !data_synced {
                broken.push(format!("{from} moved into new/ before its data was synced"));
            }
            if !synced_after(&parent(to), call.done, &fsync) {
                broken.push(format!("{to}: new/ not synced before DELE"));
            }
            // Linked rather than renamed: the tmp/ name goes only once the new/ name is
            // durable, or a power loss in between could leave neither.
            let unlinked = calls
                .iter()
                .find(|c| c.name.starts_with("unlink") && c.strings().first() == Some(from));
            if let Some(unlinked) = unlinked {
                let new_synced_first = calls.iter().any(|c| {
                    c.name == "fsync"
                        && c.ok()
                        && c.started > call.done
                        && c.done < unlinked.started
                        && c.fd_path() == Some(parent(to).as_str())
                });
                if !new_synced_first {
                    broken.push(format!("{from} unlinked before new/ was synced"));
                }
            }
        }
    }
    // mbox: the file synced after its last write.
    let last_write = calls
        .iter()
        .filter(before_dele)
        .filter(|c| c.name.starts_with("pwrite") || c.name == "write")
        .filter(|c| c.fd_path() == Some(mailbox))
        .map(|c| c.done)
        .max();
    if let Some(last_write) = last_write {
        if !synced_after(mailbox, last_write, &any_sync) {
            broken.push(format!("{mailbox} not synced after its last write"));
        }
    }
    // The record: a journal write naming "delivered", synced, before the DELE.
    let recorded = calls.iter().filter(before_dele).any(|c| {
        c.name == "write"
            && c.fd_path() == Some(journal)
            && c.args.contains("delivered")
            && synced_after(journal, c.done, &any_sync)
    });
    if !recorded {
        broken.push("no synced 'delivered' record before DELE".to_string());
    }
    broken
}

fn trace_first_run(mbox: bool, inject: Option<&str>) {
    let server = FakeServer::start(Script {
        messages: numbered_messages(5),
        ..Script::default()
    });
    let popget = Popget::new();
    // Nothing of these exists yet: each level is created by popget.
    let root = popget.home().canonicalize().unwrap().join("new-root");
    let mailbox = if mbox {
        root.join("Mail/deep/inbox.mbox")
    } else {
        root.join("Mail/deep/inbox")
    };
    let state = root.join("state/dir/account.state");
    let journal = format!("{}.journal", state.display());
    let trace = popget.path("trace.log");
    let mut command = Command::new("strace");
    command
        .args(["-f", "-y", "-s", "256", "-qq", "-o"])
        .arg(&trace)
        .args([
            "-e",
            "trace=mkdir,mkdirat,open,openat,rename,renameat,renameat2,link,linkat,\
             unlink,unlinkat,fsync,fdatasync,write,writev,pwrite64,sendto,sendmsg",
        ]);
    if let Some(inject) = inject {
        command.args(["-e", inject]);
    }
    let popget_command = popget.command();
    command.arg(popget_command.get_program());
    for (key, value) in popget_command.get_envs() {
        if let Some(value) = value {
            command.env(key, value);
        }
    }
    command.env("POPGET_PASSWORD", "secret");
    command.arg("fetch").args(server.args());
    command.args(["--auth", "user", "--delete"]);
    command.arg(if mbox { "--mbox" } else { "--maildir" });
    command.arg(&mailbox).arg("--state").arg(&state);
    let output = command
        .output()
        .expect("strace runs (scripts/test installs it)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(server.remaining().is_empty(), "the server was emptied");
    let calls = parse_trace(&std::fs::read_to_string(&trace).unwrap());
    let mkdirs = calls
        .iter()
        .filter(|c| c.name.starts_with("mkdir") && c.ok())
        .count();
    assert!(
        mkdirs >= 4,
        "the trace shows the directories created: {mkdirs}"
    );
    if inject.is_some() {
        let links = calls
            .iter()
            .filter(|c| c.name.starts_with("link") && c.ok())
            .count();
        assert_eq!(links, 5, "every message was linked into new/");
    }
    let broken = violations(&calls, &mailbox.display().to_string(), &journal);
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn a_first_run_into_a_new_mbox_is_durable_before_any_dele() {
    trace_first_run(true, None);
}

#[test]
fn a_first_run_into_a_new_maildir_is_durable_before_any_dele() {
    trace_first_run(false, None);
}

/// Where the filesystem cannot rename without replacing (renameat2 answers EINVAL, as on some
/// network filesystems; injected here by strace), messages are linked into new/ instead.
#[test]
fn the_link_fallback_keeps_the_tmp_name_until_new_is_synced() {
    trace_first_run(false, Some("inject=renameat2:error=EINVAL"));
}
