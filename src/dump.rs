//! Reports that are not crashes: `dump_traceback()`, dump requests by
//! signal and the watchdog. This is normal-context code (it may allocate
//! and lock); it reuses the async-signal-safe report writer and the thread
//! collection of [`crate::threads`].
//!
//! Dumps are serialised twice: a mutex orders the normal-context dumps
//! among themselves, and each dump then takes the crash reporter's slot
//! (see `handler::begin_dump`), which guards the storage a crash report
//! shares with it. A crash during a dump still gets its report: it waits
//! for the dump (bounded), or takes over at once when it happened on the
//! dumping thread itself.
//!
//! # Safety
//!
//! The report functions that share storage with the crash reporter are
//! called only between `handler::begin_dump` and `handler::end_dump`.
#![allow(unsafe_code)]

use crate::handler;
use crate::report::{self, DumpHeader, ModulesSeen};
use crate::sys;
use crate::threads;
use crate::writer::{SigpipeGuard, Writer};
use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::{Mutex, Once};

static DUMP_LOCK: Mutex<()> = Mutex::new(());

/// Make sure the module map and the stack collector exist, with the
/// configured limits.
pub(crate) fn prepare() -> Result<(), crate::Error> {
    static SNAPSHOT: Once = Once::new();
    SNAPSHOT.call_once(crate::modules::snapshot);
    threads::ensure_installed(
        threads::MAX_THREADS.load(Ordering::Relaxed),
        handler::MAX_FRAMES.load(Ordering::Relaxed),
    )
}

/// Where the calling thread's own block starts: frames whose stack address
/// is above `sp_floor`, minus `skip` of them.
#[derive(Clone, Copy)]
pub(crate) struct Current {
    pub sp_floor: usize,
    pub skip: usize,
}

/// Write one non-crash report to `fd`.
pub(crate) fn write_dump(
    fd: RawFd,
    header: DumpHeader,
    current: Option<Current>,
    all_threads: bool,
) -> io::Result<()> {
    prepare().map_err(io::Error::from)?;
    let _serial = DUMP_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let tid = sys::gettid();
    let wait = threads::THREAD_TIMEOUT_MS
        .load(Ordering::Relaxed)
        .saturating_add(handler::WRITE_TIMEOUT_MS.load(Ordering::Relaxed))
        .saturating_add(1000);
    if !handler::begin_dump(tid, wait) {
        return Err(io::Error::other(
            "faulthandler: a crash report is being written",
        ));
    }
    // SAFETY: we hold the reporter slot (begin_dump).
    unsafe { crate::symbolize::lookup::begin_report(u64::MAX) };
    let max = handler::MAX_FRAMES
        .load(Ordering::Relaxed)
        .clamp(1, handler::MAX_FRAMES_LIMIT);
    let ok = {
        let _pipe = SigpipeGuard::new();
        let mut w = Writer::new(fd, handler::WRITE_TIMEOUT_MS.load(Ordering::Relaxed));
        let mut seen = ModulesSeen::new();
        report::write_dump_header(&mut w, header);
        if let Some(cur) = current {
            report::write_thread_heading(&mut w, tid, true);
            let mut frames = vec![0usize; max];
            let walk = threads::walk_current(cur.sp_floor, cur.skip, &mut frames);
            let shown = frames.get(..walk.stored).unwrap_or(&[]);
            // SAFETY: we hold the reporter slot (begin_dump).
            unsafe {
                report::write_frames_unsynchronized(
                    &mut w, shown, false, walk.total, walk.cut, max, &mut seen,
                )
            };
        }
        if all_threads {
            w.flush();
            // SAFETY: we hold the reporter slot (begin_dump).
            unsafe { threads::write_other_threads(&mut w, max, &mut seen) };
        }
        // SAFETY: we hold the reporter slot (begin_dump).
        unsafe { report::write_modules_unsynchronized(&mut w, &seen) };
        w.flush();
        w.ok()
    };
    handler::end_dump(tid);
    if ok {
        Ok(())
    } else {
        Err(io::Error::other(
            "faulthandler: the report could not be written completely",
        ))
    }
}

/// Write a `Stack dump requested` report to `fd`: the calling thread's
/// stack, then (with `all_threads`) every other thread's, then the modules
/// the frames refer to. The process goes on running.
///
/// Uses the settings of the last [`enable`](crate::enable) (or the
/// defaults): `max_frames`, `max_threads`, `thread_timeout` and
/// `write_timeout`. Dumps from several threads at once are written one
/// after the other.
///
/// # Errors
///
/// When the report could not be written completely (a closed fd, a reader
/// that stopped reading until the write deadline), or when a crash report
/// kept the reporter busy.
///
/// ```
/// use std::os::fd::AsFd;
///
/// let stderr = std::io::stderr();
/// faulthandler::dump_traceback(stderr.as_fd(), true)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[inline(never)]
pub fn dump_traceback(fd: BorrowedFd<'_>, all_threads: bool) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // A frame's stack pointer (what the unwinder reports for it) lies
    // below its own locals: only our callers' frames are above this one.
    let marker = 0u8;
    let sp_floor = std::hint::black_box(&marker) as *const u8 as usize;
    write_dump(
        fd.as_raw_fd(),
        DumpHeader::Code,
        Some(Current { sp_floor, skip: 0 }),
        all_threads,
    )
}
