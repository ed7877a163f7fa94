//! Async-signal-safe. The process lines of every report:
//! `Process PID "NAME" at TIME, up UPTIME` and `Command line: ...`.
//!
//! The time is `CLOCK_REALTIME` at the report, written as ISO 8601 UTC
//! with milliseconds by our own civil-from-days arithmetic (no
//! `localtime`, no time zone files). The uptime is `CLOCK_BOOTTIME` at the
//! report minus the process's start time, which normal-context code reads
//! from `/proc/self/stat` (field 22, `starttime`, clock ticks since boot)
//! at `enable()` and publishes here ([`publish`]). So is the command line
//! (`/proc/self/cmdline`, at most [`CMD_CAP`] bytes kept). Both are kept in
//! atomics: a report reads them without locks, and a report that runs
//! before anything was published leaves the uptime out and says the
//! command line is unknown.

use crate::runtime::fmt::Buf;
use crate::runtime::procfs;
use crate::runtime::sys;
use crate::runtime::writer::Writer;
use core::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};

/// Bytes of the command line kept.
pub(crate) const CMD_CAP: usize = 1024;

/// The process's start, in `CLOCK_BOOTTIME` nanoseconds; `u64::MAX` when
/// unknown.
static START_NS: AtomicU64 = AtomicU64::new(u64::MAX);
/// The command line's bytes (NUL-separated, as the kernel gives them).
static CMD: [AtomicU8; CMD_CAP] = [const { AtomicU8::new(0) }; CMD_CAP];
/// How many of `CMD` are valid; `usize::MAX` until published.
static CMD_LEN: AtomicUsize = AtomicUsize::new(usize::MAX);
/// The command line's whole length, when it is longer than `CMD_CAP`.
static CMD_TOTAL: AtomicUsize = AtomicUsize::new(0);

/// Publish the start time (ns of `CLOCK_BOOTTIME`, if known) and the
/// command line (`cmdline` as read, `total` its whole length). Normal
/// context, one caller at a time (`setup::process` serializes them);
/// allocates nothing.
pub(crate) fn publish(start_ns: Option<u64>, cmdline: &[u8], total: usize) {
    START_NS.store(start_ns.unwrap_or(u64::MAX), Ordering::Relaxed);
    let kept = cmdline.get(..CMD_CAP).unwrap_or(cmdline);
    for (cell, &b) in CMD.iter().zip(kept) {
        cell.store(b, Ordering::Relaxed);
    }
    CMD_TOTAL.store(total, Ordering::Relaxed);
    CMD_LEN.store(kept.len(), Ordering::Release);
}

/// The process's start in `CLOCK_BOOTTIME` nanoseconds: field 22
/// (`starttime`, in clock ticks since boot) of the main thread's
/// `/proc/self/task/PID/stat`. Not `/proc/self/stat` unless that fails:
/// the kernel sums its times over every thread (0.8 ms with 3,000
/// threads).
pub(crate) fn read_start_ns() -> Option<u64> {
    let mut path = Buf::<48>::new();
    path.str("/proc/self/task/")
        .dec(sys::getpid() as u64)
        .str("/stat");
    let mut stat = [0u8; 1024];
    let mut n = procfs::read_file(path.as_bytes(), &mut stat);
    if n == 0 {
        n = procfs::read_file(b"/proc/self/stat", &mut stat);
    }
    let ticks = start_ticks(stat.get(..n)?)?;
    // `/proc` counts in USER_HZ, which the kernel passes in the aux vector.
    // SAFETY: getauxval only reads the process's aux vector.
    #[allow(unsafe_code)]
    let hz = unsafe { libc::getauxval(libc::AT_CLKTCK) };
    let hz = if hz == 0 { 100 } else { hz };
    ticks
        .checked_mul(1_000_000_000)
        .map(|ns| ns / hz)
        .or_else(|| ticks.checked_div(hz)?.checked_mul(1_000_000_000))
}

/// `starttime` from a `/proc/PID/stat` line. The name (field 2) is in
/// parentheses and may hold spaces and parentheses itself, so fields are
/// counted from the last `)`: field 3 is the first after it.
pub(crate) fn start_ticks(stat: &[u8]) -> Option<u64> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = stat.get(close + 1..)?;
    let field = rest
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty())
        .nth(22 - 3)?;
    let mut v: u64 = 0;
    for &b in field {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    (!field.is_empty()).then_some(v)
}

/// Whether [`publish`] ran.
pub(crate) fn published() -> bool {
    CMD_LEN.load(Ordering::Acquire) != usize::MAX
}

/// `Process PID "NAME" at 2026-12-01T21:22:58.123Z, up 3.204 s`, then
/// `Command line: ...`.
pub(crate) fn write_process_lines(w: &mut Writer) {
    let mut line = Buf::<128>::new();
    line.str("Process ").dec(sys::getpid() as u64).str(" \"");
    procfs::write_exe_name(&mut line);
    line.str("\"");
    w.write(line.as_bytes());
    line.clear();
    let (secs, nanos) = clock(libc::CLOCK_REALTIME);
    line.str(" at ");
    write_utc(&mut line, secs, nanos / 1_000_000);
    let mut start = START_NS.load(Ordering::Relaxed);
    if start == u64::MAX && !published() {
        // A report right after `enable()`, before the symbol thread
        // published: read it now.
        start = read_start_ns().unwrap_or(u64::MAX);
    }
    if start != u64::MAX {
        let (s, n) = clock(libc::CLOCK_BOOTTIME);
        let now = s.saturating_mul(1_000_000_000).saturating_add(n);
        let up_ms = now.saturating_sub(start) / 1_000_000;
        line.str(", up ")
            .dec(up_ms / 1000)
            .byte(b'.')
            .push(&three(up_ms % 1000))
            .str(" s");
    }
    line.byte(b'\n');
    w.write(line.as_bytes());
    write_command_line(w);
}

/// `Command line: ARG ARG ...`, escaped, arguments separated by spaces,
/// with ` ... (cut: K of N bytes shown)` when it was longer than kept.
fn write_command_line(w: &mut Writer) {
    w.write(b"Command line: ");
    let len = CMD_LEN.load(Ordering::Acquire);
    if len == usize::MAX {
        // Not published yet (a report right after `enable()`): read it.
        let mut now = [0u8; CMD_CAP];
        let (kept, total) = read_command_line(&mut now);
        if total == 0 {
            w.write(b"(unknown)\n");
            return;
        }
        let bytes = now.get(..kept).unwrap_or(&[]);
        write_args(
            w,
            bytes.len(),
            |i| bytes.get(i).copied().unwrap_or(0),
            total,
        );
        return;
    }
    let len = len.min(CMD_CAP);
    let total = CMD_TOTAL.load(Ordering::Relaxed);
    let cell = |i: usize| CMD.get(i).map_or(0, |c| c.load(Ordering::Relaxed));
    write_args(w, len, cell, total);
}

/// `/proc/self/cmdline` into `buf`: how many bytes were kept, and the
/// whole length (0 when it cannot be read).
pub(crate) fn read_command_line(buf: &mut [u8; CMD_CAP]) -> (usize, usize) {
    let mut total = 0;
    let kept = procfs::read_file_counting(b"/proc/self/cmdline", buf, &mut total);
    (kept, total)
}

/// The arguments, `len` bytes that `byte` gives, of `total` in all.
fn write_args(w: &mut Writer, len: usize, byte: impl Fn(usize) -> u8, total: usize) {
    // The kernel ends every argument with a NUL: drop the last one.
    let mut end = len;
    if end > 0 && byte(end - 1) == 0 {
        end -= 1;
    }
    let mut raw = [0u8; 16];
    let mut piece = Buf::<64>::new();
    let mut at = 0;
    while at < end {
        let n = (end - at).min(raw.len());
        for (k, slot) in raw.iter_mut().take(n).enumerate() {
            let b = byte(at + k);
            *slot = if b == 0 { b' ' } else { b };
        }
        piece.clear();
        piece.ascii(raw.get(..n).unwrap_or(&[]));
        w.write(piece.as_bytes());
        at += n;
    }
    let mut tail = Buf::<80>::new();
    if total > len {
        tail.str(" ... (cut: ")
            .dec(len as u64)
            .str(" of ")
            .dec(total as u64)
            .str(" bytes shown)");
    }
    tail.byte(b'\n');
    w.write(tail.as_bytes());
}

/// A clock's seconds and nanoseconds (0, 0 if it cannot be read).
fn clock(id: libc::clockid_t) -> (u64, u64) {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; clock_gettime is
    // async-signal-safe.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::clock_gettime(id, &mut ts) };
    if rc != 0 || ts.tv_sec < 0 || ts.tv_nsec < 0 {
        return (0, 0);
    }
    (ts.tv_sec as u64, ts.tv_nsec as u64)
}

/// The civil date (year, month 1-12, day 1-31) of `days` since 1970-01-01.
///
/// Counted in 400-year eras of 146097 days that start on March 1st, so
/// that the leap day is the last day of a year: the year of the era comes
/// from the day of the era with the leap-year corrections, and the month
/// from the day of that March-based year (153 days a five-month group).
pub(crate) fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Days from 0000-03-01 to 1970-01-01.
    let z = days.saturating_add(719_468);
    let era = z / 146_097;
    let doe = z % 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = era
        .saturating_mul(400)
        .saturating_add(yoe)
        .saturating_add(u64::from(month <= 2));
    (year, month, day)
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for `secs` since the epoch and `ms`.
pub(crate) fn write_utc<const N: usize>(out: &mut Buf<N>, secs: u64, ms: u64) {
    let (y, mo, d) = civil_from_days(secs / 86_400);
    let s = secs % 86_400;
    out.dec(y)
        .byte(b'-')
        .push(&two(mo))
        .byte(b'-')
        .push(&two(d))
        .byte(b'T')
        .push(&two(s / 3600))
        .byte(b':')
        .push(&two(s / 60 % 60))
        .byte(b':')
        .push(&two(s % 60))
        .byte(b'.')
        .push(&three(ms % 1000))
        .byte(b'Z');
}

/// Two decimal digits of `v`.
pub(crate) fn two(v: u64) -> [u8; 2] {
    [b'0' + (v / 10 % 10) as u8, b'0' + (v % 10) as u8]
}

/// Three decimal digits of `v`.
pub(crate) fn three(v: u64) -> [u8; 3] {
    [
        b'0' + (v / 100 % 10) as u8,
        b'0' + (v / 10 % 10) as u8,
        b'0' + (v % 10) as u8,
    ]
}

#[cfg(test)]
// Tests run in normal context: heap, std::io and panics are fine.
#[allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]
mod tests {
    use super::*;

    fn utc(secs: u64, ms: u64) -> String {
        let mut b = Buf::<64>::new();
        write_utc(&mut b, secs, ms);
        String::from_utf8(b.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn dates() {
        assert_eq!(utc(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(951_782_400, 7), "2000-02-29T00:00:00.007Z");
        assert_eq!(utc(951_868_799, 999), "2000-02-29T23:59:59.999Z");
        assert_eq!(utc(1_796_160_178, 123), "2026-12-01T21:22:58.123Z");
        assert_eq!(utc(4_107_542_400, 0), "2100-03-01T00:00:00.000Z");
        assert_eq!(utc(253_402_300_799, 0), "9999-12-31T23:59:59.000Z");
        // Every day from 1970 to 2200 against a plain day-by-day count.
        let (mut y, mut m, mut d) = (1970u64, 1u64, 1u64);
        for days in 0..84_000u64 {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            let leap = y.is_multiple_of(4) && (!y.is_multiple_of(100) || y.is_multiple_of(400));
            let len = [
                31,
                if leap { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ];
            d += 1;
            if d > len[(m - 1) as usize] {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }
}
