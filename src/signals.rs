//! Ctrl-C and SIGTERM during `popget fetch`: the first signal asks the run to stop at its next
//! safe point; a second one, or a stop that takes too long, ends the process at once.
//!
//! The handlers come from `signal-hook`: its self-pipe handler only writes a byte, and a thread
//! of ours reads the signals and does the work outside signal context (locks, I/O, allocation
//! are then allowed). Its handlers are installed with `SA_RESTART`, and that is kept on purpose:
//! an interrupted system call elsewhere (an fsync, a lock wait, a wait for an MDA) would
//! otherwise surface as a spurious `EINTR` error. A read blocked on a slow or silent server is
//! ended another way: after [`GRACE`] the thread shuts down the sockets of the sessions still
//! running, which makes any blocked read return at once, on whichever thread it waits.
//!
//! A signal that comes while no session is transferring (connecting, logging in, a password
//! prompt) ends the process at once. After a stop, up to [`GRACE`] goes to finishing the message in flight, making the staged
//! batch durable and recorded, and (when the connection allows) the DELEs and QUIT. Then the
//! connections are cut: what is staged is still made durable and recorded, as after any broken
//! connection. After [`LAST_CHANCE`] more, or at a second signal, the process exits at once
//! with the same status; the journal makes that as safe as `kill -9`.
//!
//! `popget daemon` installs the handlers with [`install_for_service`]: SIGHUP and SIGUSR1 are
//! passed on to it as [`Request`]s, and a stop while nothing is transferring does not end the
//! process; the daemon then exits on its own once its runs in flight are recorded.

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, Once};
use std::time::Duration;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
use signal_hook::iterator::Signals;

/// How long an orderly stop may take before the connections are cut.
pub const GRACE: Duration = Duration::from_secs(5);
/// How long after the connections are cut the process may still take before it exits at once.
pub const LAST_CHANCE: Duration = Duration::from_secs(5);

/// The first signal received, 0 while there is none.
static RECEIVED: AtomicI32 = AtomicI32::new(0);
/// The connections were cut because the stop took longer than [`GRACE`].
static CUT: AtomicBool = AtomicBool::new(false);
static NEXT_ID: AtomicU64 = AtomicU64::new(0);
static CONNECTIONS: Mutex<Vec<(u64, TcpStream)>> = Mutex::new(Vec::new());
type Hook = Box<dyn Fn() + Send>;
static ABORT_HOOKS: Mutex<Vec<(u64, Hook)>> = Mutex::new(Vec::new());

/// What a signal asks of `popget daemon`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// SIGTERM or SIGINT: finish the runs in flight, then exit.
    Stop,
    /// SIGHUP: read the configuration file again.
    Reload,
    /// SIGUSR1: poll every account now.
    PollNow,
}

/// Where `popget daemon` wants its requests.
type Listener = Box<dyn Fn(Request) + Send>;

/// Starts handling SIGINT and SIGTERM for the rest of the process. Without it (or if it fails)
/// the signals keep their default action: the process dies, which the journal makes safe.
pub fn install() -> std::io::Result<()> {
    install_with(None)
}

/// Starts handling SIGINT, SIGTERM, SIGHUP and SIGUSR1 for `popget daemon`, which hears of each
/// through `listener` (called on the signal thread, outside signal context).
pub fn install_for_service(listener: impl Fn(Request) + Send + 'static) -> std::io::Result<()> {
    install_with(Some(Box::new(listener)))
}

fn install_with(listener: Option<Listener>) -> std::io::Result<()> {
    static INSTALLED: Once = Once::new();
    let mut result = Ok(());
    INSTALLED.call_once(|| {
        let wanted: &[i32] = match listener {
            Some(_) => &[SIGINT, SIGTERM, SIGHUP, SIGUSR1],
            None => &[SIGINT, SIGTERM],
        };
        result = Signals::new(wanted).and_then(|mut signals| {
            std::thread::Builder::new()
                .name("signals".into())
                .spawn(move || {
                    for signal in signals.forever() {
                        match (&listener, signal) {
                            (Some(listener), SIGHUP) => listener(Request::Reload),
                            (Some(listener), SIGUSR1) => listener(Request::PollNow),
                            _ => receive(signal, listener.as_deref()),
                        }
                    }
                })
                .map(drop)
        });
    });
    result
}

fn receive(signal: i32, service: Option<&(dyn Fn(Request) + Send)>) {
    if RECEIVED
        .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        abort(None);
    }
    if let Some(listener) = service {
        // The daemon exits by itself once its runs in flight are recorded.
        listener(Request::Stop);
    } else if lock(&CONNECTIONS).is_empty() {
        // No session is transferring (popget is connecting, logging in, asking for a password
        // or done): there is nothing to finish, and a prompt would not notice the request.
        abort(Some("no transfer was under way"));
    }
    // A timer for the orderly stop; the process normally exits long before it fires.
    let _ = std::thread::Builder::new()
        .name("stop-timer".into())
        .spawn(|| {
            std::thread::sleep(GRACE);
            cut_connections();
            std::thread::sleep(LAST_CHANCE);
            abort(Some("the orderly stop took too long"));
        });
}

/// The signal that asked the run to stop, if one did.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::Relaxed) {
        0 => None,
        signal => Some(signal),
    }
}

/// Whether the connections were cut because the orderly stop took too long.
pub fn connections_were_cut() -> bool {
    CUT.load(Ordering::SeqCst)
}

/// The exit status for a run stopped by `signal`: 128 plus its number, as shells report it
/// (130 for SIGINT, 143 for SIGTERM).
pub fn exit_code(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(u8::MAX)
}

/// The signal's name as people know it.
pub fn name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        SIGHUP => "SIGHUP",
        SIGUSR1 => "SIGUSR1",
        _ => "a signal",
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A session's socket, shut down if a stop takes longer than [`GRACE`]; forgotten when dropped.
pub struct Watched(u64);

/// Watches `socket` (a clone of a session's socket) until the returned guard is dropped.
pub fn watch(socket: TcpStream) -> Watched {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    if connections_were_cut() {
        let _ = socket.shutdown(Shutdown::Both);
    }
    lock(&CONNECTIONS).push((id, socket));
    Watched(id)
}

impl Drop for Watched {
    fn drop(&mut self) {
        lock(&CONNECTIONS).retain(|(id, _)| *id != self.0);
    }
}

fn cut_connections() {
    let connections = lock(&CONNECTIONS);
    CUT.store(true, Ordering::SeqCst);
    for (_, socket) in connections.iter() {
        let _ = socket.shutdown(Shutdown::Both);
    }
}

/// Work to do if the process has to exit at once (clear the progress bars, remove this
/// process's staging files); forgotten when dropped.
pub struct AbortHook(u64);

pub fn on_abort(hook: impl Fn() + Send + 'static) -> AbortHook {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    lock(&ABORT_HOOKS).push((id, Box::new(hook)));
    AbortHook(id)
}

impl Drop for AbortHook {
    fn drop(&mut self) {
        lock(&ABORT_HOOKS).retain(|(id, _)| *id != self.0);
    }
}

/// Exits at once with the status of the first signal: no further server commands, no state
/// written beyond what is already durable. `_exit` rather than `exit`: no atexit handler
/// (OpenSSL's cleanup among them) runs while other threads still use what it frees.
fn abort(why: Option<&str>) -> ! {
    let signal = received().unwrap_or(SIGINT);
    for (_, hook) in lock(&ABORT_HOOKS).iter() {
        hook();
    }
    let why = why.unwrap_or("a second signal");
    let _ = writeln!(
        std::io::stderr().lock(),
        "popget: {}: stopped at once ({why}); messages not yet recorded stay on the server \
         for the next run",
        name(signal)
    );
    crate::sys::exit_now(exit_code(signal))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_the_shells() {
        assert_eq!(exit_code(SIGINT), crate::exit::INTERRUPTED);
        assert_eq!(exit_code(SIGTERM), crate::exit::TERMINATED);
        assert_eq!(name(SIGTERM), "SIGTERM");
    }

    #[test]
    fn a_watched_socket_is_forgotten_when_its_guard_drops() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let socket = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let before = lock(&CONNECTIONS).len();
        let watched = watch(socket);
        assert_eq!(lock(&CONNECTIONS).len(), before + 1);
        drop(watched);
        assert_eq!(lock(&CONNECTIONS).len(), before);
    }
}
