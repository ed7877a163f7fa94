//! Reports that are not crashes: `dump_traceback()`, dump requests by
//! signal and the watchdog. This is normal-context code (it may allocate
//! and lock); it writes through the same report composer as a crash, and
//! the same thread collection ([`crate::signal::collector`]).
//!
//! Dumps are serialised twice: a mutex orders the normal-context dumps
//! among themselves, and each dump then takes the reporter claim
//! (`signal::claim`), which guards the storage a crash report shares with
//! it. A crash during a dump still gets its report: it waits for the dump
//! (bounded), or takes over at once when it happened on the dumping
//! thread itself.
#![allow(unsafe_code)]

use crate::report::{self, Current as CurrentStack, DumpHeader, Header, Parts};
use crate::runtime::writer::SigpipeGuard;
use crate::runtime::{guard, sys};
use crate::settings;
use crate::signal::claim::{Claim, Scratch};
use crate::signal::collector as threads;
use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::{Mutex, Once};

static DUMP_LOCK: Mutex<()> = Mutex::new(());

/// Make sure the module map and the stack collector exist, with the
/// configured limits.
pub(crate) fn prepare() -> Result<(), crate::Error> {
    static SNAPSHOT: Once = Once::new();
    SNAPSHOT.call_once(|| {
        crate::indexer::modules::snapshot();
        crate::setup::process::capture_once();
        // Bind the unwinder's lazily resolved symbols now, in normal
        // context: the first walk otherwise does it inside a collection
        // handler, and a lazy binding saves the whole register file on
        // whatever stack that handler runs on.
        let mut frames = [0usize; 8];
        let _ = threads::walk_current(0, 0, &mut frames);
    });
    crate::setup::collector::ensure_installed(
        settings::MAX_THREADS.load(Ordering::Relaxed),
        settings::max_frames(),
    )
}

/// Where the calling thread's own block starts: frames whose stack address
/// is above `sp_floor`, minus `skip` of them.
#[derive(Clone, Copy)]
pub(crate) struct Current {
    pub sp_floor: usize,
    pub skip: usize,
}

/// Where a dump without an fd of its own goes: the report file and its
/// copy (as a crash report) when `enable()` made one, stderr otherwise.
pub(crate) fn default_destinations() -> (RawFd, RawFd) {
    if crate::report_file::is_tracked() {
        (
            settings::FD.load(Ordering::Acquire),
            settings::COPY_FD.load(Ordering::Acquire),
        )
    } else {
        (libc::STDERR_FILENO, -1)
    }
}

/// Write one non-crash report to `fd` (and to `copy`, when not negative):
/// the calling thread's frames above `current`, then every other thread
/// (`all_threads`), or else thread `only` alone when it is not 0.
pub(crate) fn write_dump(
    fd: RawFd,
    copy: RawFd,
    header: DumpHeader,
    current: Option<Current>,
    all_threads: bool,
    only: i32,
) -> io::Result<()> {
    prepare().map_err(io::Error::from)?;
    let _serial = DUMP_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    // A thread's walk may fault on a corrupt stack: with the crash
    // handlers not installed, catch such faults for the dump's duration.
    let _catcher = guard::Catcher::install_unless(crate::signal::fatal::is_ours);
    // The loader's counts, read before the claim: they take the loader
    // lock, which a thread that crashed inside dlopen() may hold while it
    // waits for the claim. Equal counts at the next dump keep the frames
    // this one names.
    let loader = crate::indexer::modules::loader_counts();
    let tid = sys::gettid();
    let wait = settings::dump_duration_ms().saturating_add(settings::DUMP_WAIT_MARGIN_MS);
    let Some(mut claim) = Claim::dump(tid, wait) else {
        return Err(io::Error::other(
            "faulthandler: a crash report is being written",
        ));
    };
    let max = settings::max_frames();
    // Our own frames (the caller's are above `sp_floor`) are walked here,
    // in normal context, into a buffer of our own. None for a helper
    // thread's dump (the dumper's, the watchdog's): it allocates nothing,
    // so that the helper gets no malloc arena.
    let mut frames = match current {
        Some(_) => vec![0usize; max],
        None => Vec::new(),
    };
    let walk = current.map(|cur| threads::walk_current(cur.sp_floor, cur.skip, &mut frames));
    let _pipe = SigpipeGuard::new();
    let Scratch {
        seen,
        late,
        collect,
        symbols,
        writer: w,
        ..
    } = claim.scratch();
    // The claim's writer, reset in place (8 KiB: not copied through here).
    w.reset(fd, copy, settings::write_timeout_ms());
    w.set_json(settings::json());
    let mut parts = Parts {
        w,
        seen,
        late,
        symbols,
    };
    report::compose_header(&mut parts, &Header::Dump(header));
    if let Some(None) = walk {
        // Our own walk faulted on a corrupt frame chain (caught).
        report::write_unwinder_faulted(parts.w, tid);
    }
    let stack = walk.flatten().map(|walk| CurrentStack {
        tid,
        frames: frames.get(..walk.stored).unwrap_or(&[]),
        first_is_pc: false,
        total: walk.total,
        cut: walk.cut,
        bottom: walk.bottom,
        found_start: true,
        heading: true,
        name: None,
    });
    let mut others = |emit: &mut dyn FnMut(report::Thread<'_>)| {
        // SAFETY: we hold the claim.
        unsafe {
            if all_threads {
                threads::collect_other_threads(collect, max, false, emit)
            } else {
                threads::collect_one_thread(collect, max, only, emit)
            }
        }
    };
    let others: Option<report::Others<'_>> = if all_threads || (only != 0 && only != tid) {
        Some(&mut others)
    } else {
        None
    };
    let world = loader.map(|(loads, unloads)| crate::symbolize::lookup::world(loads, unloads));
    report::begin_naming(parts.symbols, u64::MAX, world);
    report::compose_body(&mut parts, stack.as_ref(), max, others);
    report::end_dump(&mut parts);
    let ok = parts.w.ok();
    drop(claim);
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
        -1,
        DumpHeader::Code,
        Some(Current { sp_floor, skip: 0 }),
        all_threads,
        0,
    )
}
