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
