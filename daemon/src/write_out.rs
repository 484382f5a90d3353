//! Starting a file's write-out to disk without waiting for it.
//!
//! A file written all the time and synced seldom piles up dirty pages in the kernel, which writes
//! a file's dirty pages back all at once about 30 s after it first dirtied them: megabytes in one
//! go, which every commit's flush then waits behind. The SQLite store's database file between
//! the checkpoint's syncs, and the sandbox's ledger, which is never synced, start their
//! write-out now and then instead, a little at a time.

use std::fs::File;
use std::os::fd::AsRawFd;

/// Starts writing out `file`'s dirty pages. A failure is only logged: the kernel writes them back
/// in the end all the same. `what` names the file in the log.
pub fn start(file: &File, what: &str) {
    // SAFETY: the descriptor stays open for the call, which reads nothing else.
    let started =
        unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
    if started != 0 {
        let e = std::io::Error::last_os_error();
        tracing::warn!("cannot start writing out {what}: {e}");
    }
}
