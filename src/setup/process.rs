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
use std::sync::Once;

extern "C" fn forked_child() {
    table::note_process();
    // The parent's helper threads are not here, starting or not.
    crate::signal::collector::forget_starting_helpers();
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
/// argv, as `setproctitle` does).
pub(crate) fn capture() {
    let cmdline = std::fs::read("/proc/self/cmdline").unwrap_or_default();
    process::publish(start_boottime_ns(), &cmdline, cmdline.len());
}

/// Capture unless done already.
pub(crate) fn capture_once() {
    if !process::published() {
        capture();
    }
}

/// The process's start in `CLOCK_BOOTTIME` nanoseconds: field 22
/// (`starttime`, in clock ticks since boot) of the main thread's
/// `/proc/self/task/PID/stat`, the process's start. Not
/// `/proc/self/stat`: the kernel sums its times over every thread, which
/// took 0.8 ms with 3,000 threads.
fn start_boottime_ns() -> Option<u64> {
    let leader = format!("/proc/self/task/{}/stat", std::process::id());
    let stat = std::fs::read_to_string(leader)
        .or_else(|_| std::fs::read_to_string("/proc/self/stat"))
        .ok()?;
    start_ticks(&stat).and_then(|ticks| {
        // SAFETY: sysconf takes a plain integer.
        #[allow(unsafe_code)]
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let hz = u64::try_from(hz).ok().filter(|&h| h > 0)?;
        ticks
            .checked_mul(1_000_000_000)
            .map(|ns| ns / hz)
            .or_else(|| ticks.checked_div(hz)?.checked_mul(1_000_000_000))
    })
}

/// `starttime` from a `/proc/PID/stat` line. The name (field 2) is in
/// parentheses and may hold spaces and parentheses itself, so fields are
/// counted from the last `)`: field 3 is the first after it.
fn start_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_ascii_whitespace().nth(22 - 3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starttime_is_field_22() {
        let line = "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1234 56 18446744073709551615\n";
        assert_eq!(start_ticks(line), Some(987_654));
        assert_eq!(start_ticks("garbage"), None);
        assert!(start_boottime_ns().is_some());
    }
}
