//! Async-signal-safe. The one owner of every setting: the values the
//! handlers read (published atomics), their defaults and limits, every
//! timing margin, and the validators that [`Config`](crate::Config), the
//! environment ([`crate::env`]) and the `faulthandler` command share.
//!
//! Normal-context code writes the atomics (under the API's install lock);
//! handlers only load them. The validators allocate nothing: an
//! [`Invalid`] names the setting and the accepted range, and the caller
//! adds the value it was given to its own message.

use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
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
/// The symbol index and line tables are built this long after
/// `enable()` (at once when a crash wants them): a short-lived process
/// pays nothing for them.
pub(crate) const INDEX_DELAY_MS: u64 = 200;
/// After this long without an answer, a collection checks which threads
/// block the collection signal, and stops waiting for those.
pub(crate) const STALL_CHECK_NS: u64 = 2_000_000;
/// A crash claim whose report was done this long ago, in a process that
/// still runs, is stale: the process survived the crash.
pub(crate) const STALE_CRASH_MS: u64 = 200;
/// A thread found blocking the collection signal is looked at again this
/// much later before it is left out.
pub(crate) const BLOCKED_RECHECK_AFTER_NS: u64 = 8_000_000;
/// While a collection waits, it checks this often for threads that
/// exited without answering.
pub(crate) const GONE_CHECK_EVERY_NS: u64 = 5_000_000;
/// One symbol-table scan may take at most this long.
pub(crate) const SCAN_LOOKUP_MS: u64 = 50;
/// All the scans of one report may take at most this long.
pub(crate) const SCAN_REPORT_MS: u64 = 200;
/// The scan budget is renewed for a report that starts this long after
/// the last one (a long-running process that dumps now and then).
pub(crate) const SCAN_BUDGET_RENEW_MS: u64 = 2000;
/// The threads of a crash's collection stay held (see
/// `signal::collector`) at most this long past the report's deadlines.
pub(crate) const HOLD_MARGIN_MS: u64 = 5000;
/// A crash while the background indexer still builds line tables waits
/// at most this long for those of its own frames' modules.
pub(crate) const LINES_WAIT_MS: u64 = 500;
/// How long a new helper thread may take to mark itself internal.
pub(crate) const HELPER_START_WAIT_MS: u64 = 100;

// The published settings, read by the handlers.

/// The fd the report goes to.
pub(crate) static FD: AtomicI32 = AtomicI32::new(2);
/// A second fd that gets a copy of the report (stderr, next to a report
/// file), or -1.
pub(crate) static COPY_FD: AtomicI32 = AtomicI32::new(-1);
/// The identity of [`FD`]'s open file at `enable()`: device and inode (0
/// and 0 for stderr, which is not checked). A daemon that closes every fd
/// and opens its own files may have given our number to another file.
pub(crate) static FD_DEV: AtomicU64 = AtomicU64::new(0);
pub(crate) static FD_INO: AtomicU64 = AtomicU64::new(0);

/// Where the crash report goes: [`FD`] while it is still the file it was
/// at `enable()`; stderr otherwise, with `Err` carrying the stale number.
pub(crate) fn report_fd() -> Result<i32, i32> {
    let fd = FD.load(Ordering::Relaxed);
    let (dev, ino) = (
        FD_DEV.load(Ordering::Relaxed),
        FD_INO.load(Ordering::Relaxed),
    );
    if fd == libc::STDERR_FILENO || (dev, ino) == (0, 0) {
        return Ok(fd);
    }
    match crate::runtime::sys::fd_identity(fd) {
        Some(id) if id == (dev, ino) => Ok(fd),
        _ => Err(fd),
    }
}
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
/// Whether a crash is reported before the program's own handler from
/// before `enable()` runs (`Config::report_first`), instead of after it,
/// only once that handler has shown the fault to be fatal.
pub(crate) static REPORT_FIRST: AtomicBool = AtomicBool::new(false);
/// The default budget of DWARF bytes read for one module's line tables.
pub const DEFAULT_LINE_BUDGET: u64 = 64 << 20;
/// The budget of DWARF bytes read for one module's line tables (the
/// background indexer reads it; a module over it gets names only).
pub(crate) static LINE_BUDGET: AtomicU64 = AtomicU64::new(DEFAULT_LINE_BUDGET);
/// The report format: 0 for [`Format::Text`], 1 for [`Format::JsonLines`].
pub(crate) static FORMAT: AtomicU8 = AtomicU8::new(0);

/// Whether reports are written as JSON lines; read once per report.
pub(crate) fn json() -> bool {
    FORMAT.load(Ordering::Relaxed) == Format::JsonLines as u8
}

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

/// The longest the other threads of a crash stay held in the collector
/// handler: the report's deadlines plus [`HOLD_MARGIN_MS`].
pub(crate) fn hold_limit_ms() -> u64 {
    dump_duration_ms().saturating_add(HOLD_MARGIN_MS)
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

/// How reports are written: the text of the crate docs' "The report", or
/// one JSON object per report on one line (see "JSON lines" in the crate
/// docs for the schema).
///
/// ```
/// use faulthandler::Format;
/// faulthandler::Config::new().format(Format::JsonLines).enable()?;
/// # faulthandler::disable();
/// assert_eq!(faulthandler::settings::validate_format("json"), Ok(Format::JsonLines));
/// assert_eq!(Format::default(), Format::Text);
/// # Ok::<(), faulthandler::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Format {
    /// The text report (the default).
    #[default]
    Text = 0,
    /// One JSON object per report, on one line.
    JsonLines = 1,
}

/// A format by name, as the environment (`FAULTHANDLER_FORMAT`) and the
/// command line (`--format`) spell it: `text`, or `json` (also `jsonl`,
/// `json-lines`), in any case.
pub fn validate_format(name: &str) -> Result<Format, Invalid> {
    let name = name.trim();
    let is = |s: &str| name.eq_ignore_ascii_case(s);
    if is("text") {
        Ok(Format::Text)
    } else if is("json") || is("jsonl") || is("json-lines") || is("jsonlines") {
        Ok(Format::JsonLines)
    } else {
        Err(Invalid {
            setting: "format",
            expected: "text or json",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(validate_format("text"), Ok(Format::Text));
        assert_eq!(validate_format(" JSON "), Ok(Format::JsonLines));
        assert_eq!(validate_format("jsonl"), Ok(Format::JsonLines));
        assert_eq!(validate_format("xml").unwrap_err().expected, "text or json");
        assert_eq!(validate_format("").unwrap_err().setting, "format");
    }

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
