//! The OS keyring against a real Secret Service: GNOME Keyring, unlocked, on a private D-Bus
//! session, checked with libsecret's `secret-tool`; and the fallback to a private file on a
//! machine with no keyring.
//!
//! The Secret Service is found through the process environment (DBUS_SESSION_BUS_ADDRESS),
//! which a test cannot change safely while other threads run. So this test binary has its own
//! `main` (harness = false): run by cargo it starts itself twice — once under
//! `dbus-run-session` with an unlocked keyring, once with no session bus at all — and each
//! child runs its checks in-process and reports them. Missing tools fail the test: nothing is
//! skipped.

#[path = "harness/oauth_server.rs"]
#[allow(dead_code)]
mod oauth_server;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime};

use popget::credentials::keyring::{self, KeyringError};
use popget::credentials::oauth::{self, Flow, OAuthConfig};
use popget::credentials::token_store::{self, Location, Tokens};
use popget::credentials::Secret;

/// Which checks a process runs: set for the children this binary starts.
const ROLE: &str = "POPGET_KEYRING_TEST_ROLE";
const KEYRING_UNLOCK_PASSWORD: &str = "popget-test-keyring";

type Check = (&'static str, fn(&Path));

const WITH_SECRET_SERVICE: &[Check] = &[
    (
        "password_round_trip_seen_by_secret_tool",
        password_round_trip,
    ),
    (
        "password_stored_with_secret_tool_is_found",
        password_from_secret_tool,
    ),
    (
        "tokens_go_to_the_keyring_when_it_answers",
        tokens_in_keyring,
    ),
    (
        "rotated_refresh_token_is_saved_in_the_keyring",
        refresh_through_keyring,
    ),
    (
        "popget_password_set_then_fetch_then_delete",
        password_commands_through_the_binary,
    ),
    (
        "popget_login_saves_tokens_in_the_keyring_and_logout_deletes_them",
        login_and_logout_through_the_binary,
    ),
];

const WITHOUT_KEYRING: &[Check] = &[(
    "tokens_fall_back_to_a_private_file_without_a_keyring",
    tokens_without_keyring,
)];

fn main() -> ExitCode {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    match std::env::var(ROLE).as_deref() {
        Ok("secret-service") => run_checks(WITH_SECRET_SERVICE, &filters),
        Ok("no-keyring") => run_checks(WITHOUT_KEYRING, &filters),
        _ => run_outer(&filters),
    }
}

/// Runs each selected check, catching its panic, and prints one libtest-style line for it.
fn run_checks(checks: &[Check], filters: &[String]) -> ExitCode {
    let state = tempfile::tempdir().expect("a temporary state directory");
    let mut failed = false;
    for (name, check) in selected(checks, filters) {
        let outcome = std::panic::catch_unwind(|| check(state.path()));
        println!(
            "test keyring::{name} ... {}",
            if outcome.is_ok() { "ok" } else { "FAILED" }
        );
        failed |= outcome.is_err();
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn selected<'a>(checks: &'a [Check], filters: &'a [String]) -> impl Iterator<Item = Check> + 'a {
    checks.iter().copied().filter(move |(name, _)| {
        filters.is_empty()
            || filters
                .iter()
                .any(|f| format!("keyring::{name}").contains(f.as_str()))
    })
}

/// Starts the two children and sums up what they report.
fn run_outer(filters: &[String]) -> ExitCode {
    let started = Instant::now();
    let wanted =
        selected(WITH_SECRET_SERVICE, filters).count() + selected(WITHOUT_KEYRING, filters).count();
    let mut report = String::new();
    let mut problems = Vec::new();
    if wanted > 0 {
        for tool in ["dbus-run-session", "gnome-keyring-daemon", "secret-tool"] {
            if !on_path(tool) {
                problems.push(format!(
                    "{tool} is missing: run scripts/install-deps (Debian: dbus, gnome-keyring, libsecret-tools)"
                ));
            }
        }
    }
    if problems.is_empty() && wanted > 0 {
        for role in ["secret-service", "no-keyring"] {
            match run_child(role, filters) {
                Ok(output) => report.push_str(&output),
                Err(problem) => problems.push(problem),
            }
        }
    }
    print!("{report}");
    let passed = report.lines().filter(|l| l.ends_with(" ... ok")).count();
    let mut failed = report
        .lines()
        .filter(|l| l.ends_with(" ... FAILED"))
        .count();
    if passed + failed < wanted || !problems.is_empty() {
        for problem in &problems {
            println!("test keyring::setup ... FAILED\n  {problem}");
        }
        failed = failed.max(1);
    }
    println!(
        "\ntest result: {}. {passed} passed; {failed} failed; 0 ignored; 0 measured; 0 filtered out; finished in {:.2}s\n",
        if failed == 0 { "ok" } else { "FAILED" },
        started.elapsed().as_secs_f64()
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs this binary as `role` in a clean environment with its own HOME and runtime directory;
/// for the Secret Service under a new session bus with GNOME Keyring unlocked.
fn run_child(role: &str, filters: &[String]) -> Result<String, String> {
    let home = tempfile::tempdir().map_err(|e| e.to_string())?;
    let runtime = home.path().join("run");
    std::fs::create_dir(&runtime).map_err(|e| e.to_string())?;
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| e.to_string())?;
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut command = if role == "secret-service" {
        let mut command = Command::new("dbus-run-session");
        command.args([
            "--",
            "sh",
            "-c",
            // The daemon creates the login collection (the default one) in the background:
            // a request before it exists finds no default collection.
            "printf %s \"$UNLOCK\" | gnome-keyring-daemon --unlock --components=secrets >/dev/null \
             || exit 1; unset UNLOCK; n=0; \
             until [ -f \"$XDG_DATA_HOME/keyrings/login.keyring\" ]; do \
               n=$((n+1)); [ $n -le 100 ] || { echo 'no login keyring after 10 s' >&2; exit 1; }; \
               sleep 0.1; \
             done; exec \"$0\" \"$@\"",
        ]);
        command.arg(&me);
        command
    } else {
        Command::new(&me)
    };
    command
        .args(filters)
        .env_clear()
        .env("UNLOCK", KEYRING_UNLOCK_PASSWORD)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("XDG_DATA_HOME", home.path().join(".local/share"))
        .env("XDG_STATE_HOME", home.path().join(".local/state"))
        .env(ROLE, role)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command
        .spawn()
        .map_err(|e| format!("cannot start the {role} child: {e}"))?;
    let output = wait_bounded(child, Duration::from_secs(120))
        .ok_or_else(|| format!("the {role} child ran over two minutes and was stopped"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        return Err(format!(
            "the {role} child failed ({}):\n{stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(stdout)
}

fn wait_bounded(mut child: std::process::Child, limit: Duration) -> Option<std::process::Output> {
    let deadline = Instant::now() + limit;
    while child.try_wait().ok()?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().ok()
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

/// `secret-tool lookup ATTRIBUTE VALUE...`: the secret, or `None` when nothing matches.
fn secret_tool_lookup(attributes: &[&str]) -> Option<String> {
    let output = Command::new("secret-tool")
        .arg("lookup")
        .args(attributes)
        .output()
        .expect("secret-tool runs");
    output
        .status
        .success()
        .then(|| String::from_utf8(output.stdout).expect("UTF-8"))
}

fn password_round_trip(_: &Path) {
    let password = Secret::new("correct horse ü battery".into());
    keyring::store_password("work", &password).unwrap();
    assert_eq!(
        secret_tool_lookup(&["service", "popget", "username", "work"]).as_deref(),
        Some("correct horse ü battery")
    );
    let loaded = keyring::load_password("work").unwrap().unwrap();
    assert_eq!(loaded.expose(), password.expose());
    keyring::store_password("work", &Secret::new("second".into())).unwrap();
    assert_eq!(
        keyring::load_password("work").unwrap().unwrap().expose(),
        "second"
    );
    assert!(keyring::delete_password("work").unwrap());
    assert_eq!(
        secret_tool_lookup(&["service", "popget", "username", "work"]),
        None
    );
    assert!(keyring::load_password("work").unwrap().is_none());
    assert!(!keyring::delete_password("work").unwrap());
}

/// The README's way to store a password without popget.
fn password_from_secret_tool(_: &Path) {
    let mut store = Command::new("secret-tool")
        .args([
            "store",
            "--label=popget home",
            "service",
            "popget",
            "username",
            "home",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    store
        .stdin
        .take()
        .unwrap()
        .write_all(b"from-secret-tool")
        .unwrap();
    assert!(store.wait().unwrap().success());
    let loaded = keyring::load_password("home").unwrap().unwrap();
    assert_eq!(loaded.expose(), "from-secret-tool");
    assert!(keyring::delete_password("home").unwrap());
}

fn sample_tokens() -> Tokens {
    Tokens {
        access_token: Secret::new("access-in-keyring".into()),
        expires_at: Some(SystemTime::now() + Duration::from_secs(3600)),
        refresh_token: Some(Secret::new("refresh-in-keyring".into())),
    }
}

fn tokens_in_keyring(state: &Path) {
    keyring::probe().expect("the keyring answers");
    let store = token_store::open("work", state);
    let location = Location::Keyring {
        service: "popget-oauth",
        account: "work".into(),
    };
    assert_eq!(store.location(), location);
    store.save(&sample_tokens()).unwrap();
    let loaded = store.load().unwrap().unwrap();
    assert_eq!(loaded.refresh_token.unwrap().expose(), "refresh-in-keyring");
    let item = secret_tool_lookup(&["service", "popget-oauth", "username", "work"]).unwrap();
    assert!(
        item.contains("\"refresh_token\":\"refresh-in-keyring\""),
        "{item}"
    );
    assert!(!state.join("oauth/work.json").exists(), "no copy on disk");
    assert_eq!(token_store::locate("work", state).unwrap(), Some(location));
    assert!(token_store::delete_everywhere("work", state).unwrap());
    assert_eq!(token_store::locate("work", state).unwrap(), None);
}

/// A full refresh with rotation whose tokens live in the keyring.
fn refresh_through_keyring(state: &Path) {
    let server = oauth_server::OAuthServer::start(oauth_server::Behaviour {
        rotate: true,
        expires_in: 30,
        ..Default::default()
    });
    let config: OAuthConfig = toml::from_str(&server.config_toml()).unwrap();
    let resolved = config.resolve("rotating").unwrap();
    let store = token_store::open("rotating", state);
    assert!(matches!(store.location(), Location::Keyring { .. }));
    let login = oauth::authorize(&resolved, Flow::Device, &mut Silent).unwrap();
    store.save(&login).unwrap();
    let token = oauth::access_token(&resolved, &*store).unwrap();
    let item = secret_tool_lookup(&["service", "popget-oauth", "username", "rotating"]).unwrap();
    assert!(item.contains(token.expose()), "{item}");
    let first_refresh = login.refresh_token.unwrap();
    assert!(
        !item.contains(first_refresh.expose()),
        "the rotated token replaced the old one"
    );
    assert!(store.delete().unwrap());
}

fn tokens_without_keyring(state: &Path) {
    assert!(matches!(keyring::probe(), Err(KeyringError::Failed(_))));
    assert!(keyring::load_password("work").is_err());
    let store = token_store::open("work", state);
    let path = state.join("oauth/work.json");
    assert_eq!(store.location(), Location::File(path.clone()));
    store.save(&sample_tokens()).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(
        store.load().unwrap().unwrap().access_token.expose(),
        "access-in-keyring"
    );
    assert_eq!(
        token_store::locate("work", state).unwrap(),
        Some(Location::File(path))
    );
    assert!(token_store::delete_everywhere("work", state).unwrap());
}

/// A user who approves device codes elsewhere and reads nothing.
struct Silent;

impl oauth::UserInterface for Silent {
    fn show(&mut self, _: &str) {}
    fn open_browser(&mut self, _: &str) -> std::io::Result<()> {
        Ok(())
    }
    fn read_line(&mut self, _: &str) -> std::io::Result<Secret> {
        Err(std::io::ErrorKind::UnexpectedEof.into())
    }
}

/// The real binary with this process's environment (its D-Bus session, HOME, XDG dirs).
fn popget(config: &Path, args: &[&str]) -> std::process::Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_popget"));
    command
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("POPGET_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn run(mut command: Command, stdin: &[u8]) -> std::process::Output {
    command.stdin(Stdio::piped());
    let mut child = command.spawn().expect("popget runs");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

#[track_caller]
fn expect(output: &std::process::Output, code: i32) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    stdout
}

/// A POP3 server on 127.0.0.1 with an empty maildrop that takes USER alice and PASS
/// `password`; returns its port and the PASS lines it saw.
fn tiny_pop3(password: &'static str) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(stream);
            let _ = reader.get_mut().write_all(b"+OK tiny\r\n");
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                let command = line.trim_end().to_string();
                line.clear();
                let answer: &[u8] = match command.split(' ').next().unwrap_or("") {
                    "USER" => b"+OK\r\n",
                    "PASS" => {
                        record.lock().unwrap().push(command.clone());
                        if command == format!("PASS {password}") {
                            b"+OK in\r\n"
                        } else {
                            b"-ERR [AUTH] no\r\n"
                        }
                    }
                    "STAT" => b"+OK 0 0\r\n",
                    "UIDL" | "LIST" => b"+OK\r\n.\r\n",
                    "QUIT" => {
                        let _ = reader.get_mut().write_all(b"+OK bye\r\n");
                        break;
                    }
                    _ => b"-ERR unknown\r\n",
                };
                if reader.get_mut().write_all(answer).is_err() {
                    break;
                }
            }
        }
    });
    (port, seen)
}

fn password_commands_through_the_binary(state: &Path) {
    let (port, seen) = tiny_pop3("from-the-keyring");
    let config = state.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[accounts.kr]\nhost = \"127.0.0.1\"\nport = {port}\nuser = \"alice\"\n\
             tls = \"none\"\nauth = \"user\"\nmaildir = \"{}\"\n",
            state.join("m").display()
        ),
    )
    .unwrap();
    let out = expect(
        &run(
            popget(&config, &["password", "set", "kr"]),
            b"from-the-keyring\n",
        ),
        0,
    );
    assert!(out.contains("password saved in the OS keyring"), "{out}");
    assert_eq!(
        secret_tool_lookup(&["service", "popget", "username", "kr"]).as_deref(),
        Some("from-the-keyring")
    );
    let out = expect(&run(popget(&config, &["accounts", "--json"]), b""), 0);
    assert!(out.contains("\"secret\": \"keyring\""), "{out}");
    expect(&run(popget(&config, &["fetch", "kr"]), b""), 0);
    assert_eq!(*seen.lock().unwrap(), ["PASS from-the-keyring"]);

    let out = expect(&run(popget(&config, &["password", "delete", "kr"]), b""), 0);
    assert!(out.contains("password deleted"), "{out}");
    assert_eq!(
        secret_tool_lookup(&["service", "popget", "username", "kr"]),
        None
    );
    let output = run(popget(&config, &["fetch", "kr"]), b"");
    expect(&output, 78);
    assert!(String::from_utf8_lossy(&output.stderr).contains("no password for alice@127.0.0.1"));
    assert_eq!(seen.lock().unwrap().len(), 1, "nothing more was sent");
}

fn login_and_logout_through_the_binary(state: &Path) {
    let server = oauth_server::OAuthServer::start(oauth_server::Behaviour::default());
    let config = state.join("oauth.toml");
    std::fs::write(
        &config,
        format!(
            "[accounts.ko]\nhost = \"127.0.0.1\"\nuser = \"alice\"\n[accounts.ko.oauth]\n{}",
            server.config_toml()
        ),
    )
    .unwrap();
    let out = expect(&run(popget(&config, &["login", "ko", "--device"]), b""), 0);
    assert_eq!(
        out,
        "popget: ko: logged in; tokens saved in OS keyring (service popget-oauth, user ko)\n"
    );
    let item = secret_tool_lookup(&["service", "popget-oauth", "username", "ko"]).unwrap();
    assert!(
        item.contains("\"refresh_token\""),
        "the record is in the keyring"
    );
    let out = expect(&run(popget(&config, &["accounts", "--json"]), b""), 0);
    assert!(out.contains("\"secret\": \"keyring\""), "{out}");
    let out = expect(&run(popget(&config, &["logout", "ko"]), b""), 0);
    assert!(out.contains("logged out"), "{out}");
    assert_eq!(
        secret_tool_lookup(&["service", "popget-oauth", "username", "ko"]),
        None
    );
}
