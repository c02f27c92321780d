//! `popget-testbed dovecot`: the tests' private Dovecot for programs that are not Rust tests
//! (`scripts/bench`). Prints where everything is, one `key value` line each, then `ready`, and
//! runs until its standard input closes or it gets SIGTERM, SIGINT or SIGHUP.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use popget_testbed::dovecot::{Dovecot, Options};

const USAGE: &str = "usage: popget-testbed dovecot --dir DIR --user NAME:PASSWORD... \
[--mechanisms LIST] [--listen ADDRESS] [--reuse-processes] [--destinations]

Starts a private Dovecot (POP3 on a free port of ADDRESS, 127.0.0.1 by default, plain and TLS)
with its configuration, the users' Maildirs and its log under DIR, which is kept. Prints

  pop3_port N, pop3s_port N, pid N (the master), root DIR, log FILE, certificate FILE,
  with --destinations imap_port N, imaps_port N, lmtp_port N, lmtp_socket PATH (IMAP and
  LMTP into the same Maildirs), mail_owner UID GID, maildir NAME PATH (one per user), ready

and stops Dovecot when standard input closes or on SIGTERM, SIGINT or SIGHUP.";

fn main() -> ExitCode {
    match parse(std::env::args().skip(1)) {
        Ok(options) => serve(options),
        Err(message) => {
            eprintln!("popget-testbed: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    if args.next().as_deref() != Some("dovecot") {
        return Err("the only server is `dovecot`".into());
    }
    // Options borrows its strings for 'static, as the tests' literals are; these arguments
    // live as long as the process anyway.
    let leak = |value: String| -> &'static str { value.leak() };
    let mut options = Options {
        users: Vec::new(),
        ..Options::default()
    };
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--dir" => options.dir = Some(PathBuf::from(value()?)),
            "--user" => {
                let user = value()?;
                let (name, password) = user
                    .split_once(':')
                    .ok_or_else(|| format!("--user {user}: expected NAME:PASSWORD"))?;
                options
                    .users
                    .push((leak(name.to_owned()), leak(password.to_owned())));
            }
            "--mechanisms" => options.mechanisms = leak(value()?),
            "--listen" => options.listen = leak(value()?),
            "--reuse-processes" => options.reuse_processes = true,
            "--destinations" => options.destinations = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if options.dir.is_none() || options.users.is_empty() {
        return Err("--dir and at least one --user are needed".into());
    }
    Ok(options)
}

fn serve(options: Options) -> ExitCode {
    let (stop, stopped) = mpsc::channel::<&'static str>();
    // Registered before Dovecot starts, so a signal during its start still stops it.
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ])
    .expect("signal handlers");
    let on_signal = stop.clone();
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            let _ = on_signal.send("signal");
        }
    });

    let users: Vec<&str> = options.users.iter().map(|(name, _)| *name).collect();
    let mut dovecot = Dovecot::start_with(options);
    let mut report = format!(
        "pop3_port {}\npop3s_port {}\npid {}\nroot {}\nlog {}\ncertificate {}\n",
        dovecot.pop3_port,
        dovecot.pop3s_port,
        dovecot.pid().expect("running"),
        dovecot.root().display(),
        dovecot.root().join("dovecot.log").display(),
        dovecot.certificate().display(),
    );
    if let Some(to) = &dovecot.destinations {
        report.push_str(&format!(
            "imap_port {}\nimaps_port {}\nlmtp_port {}\nlmtp_socket {}\n",
            to.imap_port,
            to.imaps_port,
            to.lmtp_port,
            to.lmtp_socket.display()
        ));
    }
    let (uid, gid) = dovecot.mail_owner();
    report.push_str(&format!("mail_owner {uid} {gid}\n"));
    for user in users {
        report.push_str(&format!(
            "maildir {user} {}\n",
            dovecot.maildir(user).display()
        ));
    }
    report.push_str("ready\n");
    let mut stdout = std::io::stdout().lock();
    if stdout
        .write_all(report.as_bytes())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    drop(stdout);

    std::thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        let _ = stop.send("end of input");
    });
    loop {
        match stopped.recv_timeout(Duration::from_millis(200)) {
            // Dropping the server stops Dovecot.
            Ok(_) => return ExitCode::SUCCESS,
            Err(mpsc::RecvTimeoutError::Timeout) if dovecot.is_running() => {}
            Err(_) => {
                eprintln!(
                    "popget-testbed: dovecot exited; its log:\n{}",
                    dovecot.log()
                );
                return ExitCode::FAILURE;
            }
        }
    }
}
