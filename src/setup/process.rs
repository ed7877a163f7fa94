//! Normal context: what the report needs to know about the process.
//! - Which process our state belongs to: `enable()` records the process,
//!   and a `pthread_atfork` child handler records every child that
//!   `fork()` makes, so the handlers can tell a `vfork` child (which
//!   borrows the parent's memory and runs no fork handlers) from a process
//!   of its own (see `runtime::signals::in_borrowed_memory`).
//! - What the process lines of a report need from `/proc`, read once at
//!   `enable()` (and at the first dump, watchdog or `register()`) and
//!   published to `report::process`: the start time and the command line.
#![allow(unsafe_code)]

use crate::report::process;
use crate::runtime::signals as table;
use core::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

extern "C" fn forked_child() {
    table::note_process();
    // The parent's helper threads are not here, starting or not.
    crate::signal::collector::forget_starting_helpers();
    // Nor is the index builder, or a capture or a warm-up that one of
    // them was running.
    crate::indexer::run::forget_builder_after_fork();
    CAPTURING.store(false, Ordering::Release);
    crate::signal::fatal::forget_warm_up_after_fork();
}

/// Record the calling process, and every forked child from now on.
pub(crate) fn watch() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: registering a handler that only stores an atomic; it
        // stays valid for the life of the process (a static function).
        unsafe { libc::pthread_atfork(None, None, Some(forked_child)) };
    });
    table::note_process();
}

/// Read the start time and the command line and publish them. Called
/// again, it reads the command line again (a program may rewrite its
/// argv, as `setproctitle` does). One caller at a time.
/// A call that finds another under way returns at once: what that one
/// publishes is as fresh.
pub(crate) fn capture() {
    if CAPTURING.swap(true, Ordering::AcqRel) {
        return;
    }
    let mut cmdline = [0u8; process::CMD_CAP];
    let (kept, total) = process::read_command_line(&mut cmdline);
    let kept = cmdline.get(..kept).unwrap_or(&[]);
    process::publish(process::read_start_ns(), kept, total);
    CAPTURING.store(false, Ordering::Release);
}

/// Set while [`capture`] runs.
static CAPTURING: AtomicBool = AtomicBool::new(false);

/// Capture unless done already.
pub(crate) fn capture_once() {
    if !process::published() {
        capture();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starttime_is_field_22() {
        let line = b"4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1234 56 18446744073709551615\n";
        assert_eq!(process::start_ticks(line), Some(987_654));
        assert_eq!(process::start_ticks(b"garbage"), None);
        assert_eq!(process::start_ticks(b"1 (x) S 1 2"), None);
        assert!(process::read_start_ns().is_some());
    }

    #[test]
    fn command_line_as_read() {
        let mut buf = [0u8; process::CMD_CAP];
        let (kept, total) = process::read_command_line(&mut buf);
        let want = std::fs::read("/proc/self/cmdline").unwrap();
        assert_eq!(total, want.len());
        assert_eq!(&buf[..kept], &want[..kept.min(want.len())]);
        assert_eq!(kept, want.len().min(process::CMD_CAP));
    }
}
