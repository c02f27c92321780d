//! Builds of popget besides the one under test, made by the tests that need them: the lean
//! build (`cargo build --no-default-features`) and the Debian package (`scripts/package`).
//! Each is made once per test process, and a build that fails fails the test with its output.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a build may take: a release build with LTO on a busy 2-CPU machine is slow.
const BUILD_LIMIT: Duration = Duration::from_secs(45 * 60);

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The target directory of the build under test (`target/` unless CARGO_TARGET_DIR says
/// otherwise): its binary is TARGET/PROFILE/popget.
fn target_dir() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_popget"))
        .ancestors()
        .nth(2)
        .expect("the binary under test lies in TARGET/PROFILE/")
}

/// popget without its default features (no Kerberos, no keyring), built into TARGET/lean so
/// that it never replaces the binary under test.
pub fn lean_popget() -> &'static Path {
    static LEAN: OnceLock<PathBuf> = OnceLock::new();
    LEAN.get_or_init(|| {
        let target = target_dir().join("lean");
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .current_dir(repo())
            .args(["build", "--locked", "--quiet", "--no-default-features"])
            .args(["--bin", "popget", "--target-dir"])
            .arg(&target);
        expect_success("cargo build --no-default-features", &mut cargo);
        target.join("debug/popget")
    })
}

/// The Debian package, as `scripts/package` builds (and lintian checks) it.
pub fn debian_package() -> &'static Path {
    static DEB: OnceLock<PathBuf> = OnceLock::new();
    DEB.get_or_init(|| {
        let mut script = Command::new(repo().join("scripts/package"));
        script.current_dir(repo());
        let output = expect_success("scripts/package", &mut script);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let deb = PathBuf::from(stdout.lines().last().unwrap_or_default());
        assert!(
            deb.is_file(),
            "scripts/package printed no package path:\n{stdout}"
        );
        deb
    })
}

fn expect_success(what: &str, command: &mut Command) -> Output {
    let output = output_within(command, BUILD_LIMIT);
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs `command` (standard input closed) and collects its output; after `limit` its whole
/// process group is killed and the test fails. A program that cannot be started fails it too.
pub fn output_within(command: &mut Command, limit: Duration) -> Output {
    let program = command.get_program().to_string_lossy().into_owned();
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = command.spawn().unwrap_or_else(|e| {
        panic!("cannot run {program} ({e}); install it (scripts/install-deps does)")
    });
    let collect = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = collect(Box::new(child.stdout.take().unwrap()));
    let stderr = collect(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            // SAFETY: kill has no memory-safety preconditions; the group is the child's own.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            panic!("{program} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Anything the program left behind in its group must not hold the pipes open.
    // SAFETY: as above.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}
