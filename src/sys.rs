//! The system calls that no safe wrapper offers, each use of `unsafe` explained where it is.

use std::fs::File;

/// Asks the kernel to start writing the file's dirty pages back now, without waiting: a hint
/// only, whose errors surface at the later fsync. (rustix does not wrap sync_file_range.)
#[cfg(target_os = "linux")]
pub fn start_writeback(file: &File) {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain system call on a descriptor that `file` keeps open for its duration; no
    // memory is passed.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
pub fn start_writeback(_file: &File) {}

/// Ignores SIGXFSZ, so that a file-size limit (`ulimit -f`) makes writes fail with EFBIG
/// (reported, the message kept on the server) instead of killing popget. Commands popget runs
/// inherit the ignored signal. To be called first thing in `main`, before any other thread
/// exists. (signal-hook can only install handlers, which would not be inherited, and neither
/// it nor rustix offers a safe way to set SIG_IGN.)
pub fn ignore_file_size_signal() {
    // SAFETY: SIG_IGN is no handler, so nothing runs in signal context; `signal` only changes
    // the disposition, and the caller does it before other threads could race it.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// Whether process `pid` exists on this host (as far as this process's pid namespace shows).
/// Only a definite "no such process" counts as gone.
pub fn process_exists(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return true; // not a single process: never taken as gone
    };
    rustix::process::test_kill_process(pid) != Err(rustix::io::Errno::SRCH)
}

/// Ends the process at once with `code`, running no exit handlers: OpenSSL's cleanup at exit
/// would race the threads still using it.
pub fn exit_now(code: u8) -> ! {
    // SAFETY: _exit has no preconditions; it does not return.
    unsafe { libc::_exit(i32::from(code)) }
}
