//! Async-signal-safe. Bringing the report file back for a late crash.
//!
//! An empty report file is removed at a clean exit (`crate::report_file`),
//! from an `atexit` handler. Handlers the program registered before
//! `enable()` run after ours, and one of them may crash: the report would
//! then go to a removed file. So the path is kept here (a fixed buffer,
//! written at `enable()` in normal context), and a crash report that finds
//! the file was removed creates it again, with the same flags as the first
//! time (`O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC`, mode 0600).
#![allow(unsafe_code)]

use super::racy::RacyCell;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Longest path kept, NUL included.
const CAP: usize = 4096;

static PATH: RacyCell<[u8; CAP]> = RacyCell::new([0; CAP]);
/// The path's length without its NUL, 0 when none is kept.
static LEN: AtomicUsize = AtomicUsize::new(0);
/// Set when the empty file was removed at exit.
static REMOVED: AtomicBool = AtomicBool::new(false);

/// Keep `path` (normal context, under the install lock). A path that does
/// not fit, or holds a NUL, is not kept: the file is then never removed.
pub(crate) fn keep(path: &[u8]) -> bool {
    LEN.store(0, Ordering::Release);
    REMOVED.store(false, Ordering::Release);
    if path.is_empty() || path.len() >= CAP || path.contains(&0) {
        return false;
    }
    // SAFETY: LEN is 0, so no reader looks at the buffer while it changes,
    // and only the install-lock holder writes it.
    let buf = unsafe { PATH.get_unsynchronized() };
    if let Some(dst) = buf.get_mut(..path.len()) {
        dst.copy_from_slice(path);
    }
    if let Some(nul) = buf.get_mut(path.len()) {
        *nul = 0;
    }
    LEN.store(path.len(), Ordering::Release);
    true
}

/// Forget the path (the file is no longer the report's).
pub(crate) fn forget() {
    LEN.store(0, Ordering::Release);
    REMOVED.store(false, Ordering::Release);
}

/// Note that the empty file was removed at exit.
pub(crate) fn mark_removed() {
    REMOVED.store(true, Ordering::Release);
}

/// When the file was removed at exit, create it again and return its fd.
pub(crate) fn reopen() -> Option<i32> {
    if !REMOVED.load(Ordering::Acquire) || LEN.load(Ordering::Acquire) == 0 {
        return None;
    }
    REMOVED.store(false, Ordering::Release);
    let buf = PATH.as_ptr();
    // SAFETY: the buffer holds a NUL-terminated path (LEN > 0, written
    // before LEN was published, never written while LEN > 0).
    let fd = unsafe {
        libc::open(
            buf.cast(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o600,
        )
    };
    (fd >= 0).then_some(fd)
}
