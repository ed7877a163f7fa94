//! Async-signal-safe. The one owner of every setting: the values the
//! handlers read (published atomics), their defaults and limits, every
//! timing margin, and the validators that [`Config`](crate::Config), the
//! environment ([`crate::env`]) and the `faulthandler` command share.
//!
//! Normal-context code writes the atomics (under the API's install lock);
//! handlers only load them. The validators allocate nothing: an
//! [`Invalid`] names the setting and the accepted range, and the caller
//! adds the value it was given to its own message.

use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use core::time::Duration;

/// Frames a stack shows by default.
pub const DEFAULT_MAX_FRAMES: usize = 100;
/// The largest `max_frames`; the crash report's frame buffer is this big.
pub const MAX_FRAMES_LIMIT: usize = 4096;
/// Other threads a report shows by default.
pub const DEFAULT_MAX_THREADS: usize = 100;
/// The largest `max_threads`.
pub const MAX_THREADS_LIMIT: usize = 100_000;
/// How long a report may take to write, by default.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest `write_timeout`.
pub const MAX_WRITE_TIMEOUT: Duration = Duration::from_secs(3600);
/// How long a collection waits for the other threads' stacks, by default.
pub const DEFAULT_THREAD_TIMEOUT: Duration = Duration::from_millis(100);
/// The longest `thread_timeout`.
pub const MAX_THREAD_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest watchdog timeout: a year.
pub const MAX_WATCHDOG_TIMEOUT: Duration = Duration::from_secs(31_536_000);

// Timing margins, in milliseconds unless the name says otherwise.

/// A thread that crashes while another thread writes a crash report waits
/// this long past the write deadline, then chains on its own.
pub(crate) const CRASH_WAIT_MARGIN_MS: u64 = 2000;
/// A crash waits for a dump on another thread for the dump's collection
/// and write deadlines plus this, then takes the claim over.
pub(crate) const DUMP_TAKEOVER_MARGIN_MS: u64 = 500;
/// A dump waits for a report in progress for its deadlines plus this,
/// then gives up with an error.
pub(crate) const DUMP_WAIT_MARGIN_MS: u64 = 1000;
/// A thread that arrives after a finished crash report sleeps this long,
/// so the reporter's chain (which ends the process) runs first.
pub(crate) const AFTER_REPORT_SLEEP_MS: u64 = 50;
/// Extra time to flush what a report had composed when it faulted.
pub(crate) const NESTED_FAULT_FLUSH_MS: u64 = 500;
/// After this long without an answer, a collection checks which threads
/// block the collection signal, and stops waiting for those.
pub(crate) const BLOCKED_CHECK_AFTER_NS: u64 = 2_000_000;
/// One symbol-table scan may take at most this long.
pub(crate) const SCAN_LOOKUP_MS: u64 = 50;
/// All the scans of one report may take at most this long.
pub(crate) const SCAN_REPORT_MS: u64 = 200;
/// The scan budget is renewed for a report that starts this long after
/// the last one (a long-running process that dumps now and then).
pub(crate) const SCAN_BUDGET_RENEW_MS: u64 = 2000;
/// How long a new helper thread may take to mark itself internal.
pub(crate) const HELPER_START_WAIT_MS: u64 = 100;

// The published settings, read by the handlers.

/// The fd the report goes to.
pub(crate) static FD: AtomicI32 = AtomicI32::new(2);
/// A second fd that gets a copy of the report (stderr, next to a report
/// file), or -1.
pub(crate) static COPY_FD: AtomicI32 = AtomicI32::new(-1);
/// How many frames of a stack are shown.
pub(crate) static MAX_FRAMES: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_FRAMES);
/// Whether a crash report shows the other threads too.
pub(crate) static ALL_THREADS: AtomicBool = AtomicBool::new(true);
/// The deadline for writing one report, in milliseconds.
pub(crate) static WRITE_TIMEOUT_MS: AtomicU64 = AtomicU64::new(3000);
/// How many other threads a report shows.
pub(crate) static MAX_THREADS: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_THREADS);
/// The deadline for one whole collection of stacks, in milliseconds.
pub(crate) static THREAD_TIMEOUT_MS: AtomicU64 = AtomicU64::new(100);
/// Whether the crash report is written before the handlers installed
/// before ours run (`Config::report_first(true)`), rather than after they
/// had their turn. Stored here for the chaining in `signal::fatal`.
pub(crate) static REPORT_FIRST: AtomicBool = AtomicBool::new(false);
/// Whether a crash report shows the crashing thread's registers and the
/// code bytes around its pc (`Config::registers`; off by default,
/// because reports are often shared).
pub(crate) static REGISTERS: AtomicBool = AtomicBool::new(false);
/// Set while the preload library's ELF constructor runs (possibly inside
/// `dlopen`, under the loader lock): nothing may wait for a new thread.
pub(crate) static IN_CONSTRUCTOR: AtomicBool = AtomicBool::new(false);

/// `max_frames`, clamped to what the buffers hold.
pub(crate) fn max_frames() -> usize {
    MAX_FRAMES
        .load(Ordering::Relaxed)
        .clamp(1, MAX_FRAMES_LIMIT)
}

/// The write deadline, in milliseconds.
pub(crate) fn write_timeout_ms() -> u64 {
    WRITE_TIMEOUT_MS.load(Ordering::Relaxed)
}

/// The collection deadline, in milliseconds.
pub(crate) fn thread_timeout_ms() -> u64 {
    THREAD_TIMEOUT_MS.load(Ordering::Relaxed)
}

/// The longest writing one report may take: the write timeout for each of
/// its two destinations (the fd, and the copy to stderr).
pub(crate) fn report_write_ms() -> u64 {
    write_timeout_ms().saturating_mul(2)
}

/// The longest a dump may take: its collection and write deadlines.
pub(crate) fn dump_duration_ms() -> u64 {
    thread_timeout_ms().saturating_add(report_write_ms())
}

/// A setting given a value outside its range. The caller adds the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Invalid {
    /// The setting's name, as the Rust API spells it (`max_frames`).
    pub setting: &'static str,
    /// What it accepts (`between 1 and 4096`).
    pub expected: &'static str,
}

fn check<T: PartialOrd>(
    v: T,
    lo: T,
    hi: T,
    setting: &'static str,
    expected: &'static str,
) -> Result<T, Invalid> {
    if lo <= v && v <= hi {
        Ok(v)
    } else {
        Err(Invalid { setting, expected })
    }
}

/// Frames a stack shows: 1 to [`MAX_FRAMES_LIMIT`].
pub fn validate_max_frames(n: usize) -> Result<usize, Invalid> {
    check(n, 1, MAX_FRAMES_LIMIT, "max_frames", "between 1 and 4096")
}

/// Other threads a report shows: 1 to [`MAX_THREADS_LIMIT`].
pub fn validate_max_threads(n: usize) -> Result<usize, Invalid> {
    check(
        n,
        1,
        MAX_THREADS_LIMIT,
        "max_threads",
        "between 1 and 100000",
    )
}

/// The write deadline: 1 ms to 1 hour.
pub fn validate_write_timeout(d: Duration) -> Result<Duration, Invalid> {
    check(
        d,
        Duration::from_millis(1),
        MAX_WRITE_TIMEOUT,
        "write_timeout",
        "between 1 ms and 1 hour",
    )
}

/// The collection deadline: 1 ms to 60 s.
pub fn validate_thread_timeout(d: Duration) -> Result<Duration, Invalid> {
    check(
        d,
        Duration::from_millis(1),
        MAX_THREAD_TIMEOUT,
        "thread_timeout",
        "between 1 ms and 60 s",
    )
}

/// A watchdog timeout: more than 0, at most a year.
pub fn validate_watchdog_timeout(d: Duration) -> Result<Duration, Invalid> {
    if d.is_zero() || d > MAX_WATCHDOG_TIMEOUT {
        Err(Invalid {
            setting: "timeout",
            expected: "more than 0 and at most a year",
        })
    } else {
        Ok(d)
    }
}

/// A watchdog timeout given in seconds, as the environment and the command
/// line spell it (`2.5`).
pub fn validate_watchdog_seconds(secs: f64) -> Result<Duration, Invalid> {
    let bad = Invalid {
        setting: "timeout",
        expected: "a number of seconds greater than 0, at most a year",
    };
    if !secs.is_finite() || secs <= 0.0 || secs > MAX_WATCHDOG_TIMEOUT.as_secs_f64() {
        return Err(bad);
    }
    validate_watchdog_timeout(Duration::from_secs_f64(secs)).map_err(|_| bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(validate_max_frames(1), Ok(1));
        assert_eq!(validate_max_frames(4096), Ok(4096));
        assert_eq!(validate_max_frames(0).unwrap_err().setting, "max_frames");
        assert!(validate_max_frames(4097).is_err());
        assert!(validate_max_threads(100_001).is_err());
        assert!(validate_write_timeout(Duration::ZERO).is_err());
        assert!(validate_thread_timeout(Duration::from_secs(61)).is_err());
        assert_eq!(
            validate_watchdog_seconds(2.5),
            Ok(Duration::from_millis(2500))
        );
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 4e7] {
            assert!(validate_watchdog_seconds(bad).is_err(), "{bad}");
        }
        assert_eq!(
            DEFAULT_WRITE_TIMEOUT.as_millis() as u64,
            WRITE_TIMEOUT_MS.load(Ordering::Relaxed)
        );
        assert_eq!(
            DEFAULT_THREAD_TIMEOUT.as_millis() as u64,
            THREAD_TIMEOUT_MS.load(Ordering::Relaxed)
        );
    }
}
