//! Async-signal-safe. The fatal-signal handler: install, report, chain.
//!
//! [`install`] and [`uninstall`] run in normal context (under the API's
//! install lock); everything they publish for the handler is in atomics or
//! in static storage written before the handler can see it.
//!
//! The handler itself, [`fatal_handler`], follows these rules:
//! - `errno` is saved and restored;
//! - exactly one thread reports: the first to swap its tid into
//!   [`REPORTER`]. A thread that crashes meanwhile waits a bounded time for
//!   that report, then chains. A fault inside our own handler (the same tid
//!   again) writes one line and chains at once, so it can neither loop nor
//!   hang;
//! - the report is written with the signal-safe writer, bounded by a
//!   deadline, with `SIGPIPE` kept from killing the process;
//! - then it chains: the previous actions are put back, and a real fault
//!   (`si_code > 0`) is left to fire again when the handler returns, so the
//!   previous handler gets the genuine siginfo and context and the process
//!   dies exactly as it would have without us. A sent signal, or SIGABRT, is
//!   queued again to this thread with its original siginfo.
//!
//! # Safety
//!
//! The handler receives raw `siginfo_t` and `ucontext_t` pointers from the
//! kernel; they are valid for the duration of the call. Static scratch
//! storage is only touched by the thread that won the reporter CAS.
#![allow(unsafe_code)]

use crate::fmt::Buf;
use crate::racy::RacyCell;
use crate::report::{self, FatalHeader, ModulesSeen};
use crate::signals::{self, Origin, FATAL_SIGNALS};
use crate::symbolize::lookup;
use crate::sys::{self, ErrnoGuard};
use crate::unwind;
use crate::writer::{SigpipeGuard, Writer};
use core::ffi::{c_int, c_void};
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};

/// The largest `max_frames` accepted; the frame buffer is this big.
pub(crate) const MAX_FRAMES_LIMIT: usize = 4096;

/// The fd the report goes to.
pub(crate) static FD: AtomicI32 = AtomicI32::new(2);
/// A second fd that gets a copy of the report (stderr, next to a report
/// file), or -1.
pub(crate) static COPY_FD: AtomicI32 = AtomicI32::new(-1);
/// How many frames of a stack are shown.
pub(crate) static MAX_FRAMES: AtomicUsize = AtomicUsize::new(100);
/// Whether other threads are dumped too.
pub(crate) static ALL_THREADS: AtomicBool = AtomicBool::new(true);
/// Deadline for writing one report, in milliseconds.
pub(crate) static WRITE_TIMEOUT_MS: AtomicU64 = AtomicU64::new(3000);

/// Whether the handlers are installed and should report.
static ENABLED: AtomicBool = AtomicBool::new(false);
/// Tid of the thread that reports, 0 when none.
static REPORTER: AtomicI32 = AtomicI32::new(0);
/// Set when the report is complete (or given up on).
static REPORT_DONE: AtomicBool = AtomicBool::new(false);
/// The signal being reported.
static ORIGINAL_SIG: AtomicI32 = AtomicI32::new(0);
/// Tid of the thread warming up the handler, 0 when none.
static WARMUP_TID: AtomicI32 = AtomicI32::new(0);
/// `si_value` that marks the warm-up signal.
const WARMUP_MAGIC: usize = 0x6661_756c_7468_6e64; // "faulthnd"

/// The action each fatal signal had before us, valid when the flag is set.
static PREV: [RacyCell<MaybeUninit<libc::sigaction>>; FATAL_SIGNALS.len()] =
    [const { RacyCell::new(MaybeUninit::uninit()) }; FATAL_SIGNALS.len()];
static PREV_VALID: [AtomicBool; FATAL_SIGNALS.len()] =
    [const { AtomicBool::new(false) }; FATAL_SIGNALS.len()];

/// Scratch for the reporting thread: the frames, and text for /proc reads.
/// The report's writer and list of modules live here too, not on the
/// (possibly 8 KiB) alternate stack.
struct Scratch {
    frames: [usize; MAX_FRAMES_LIMIT],
    maps: [u8; 4096],
    writer: Writer,
    seen: ModulesSeen,
}
static SCRATCH: RacyCell<Scratch> = RacyCell::new(Scratch {
    frames: [0; MAX_FRAMES_LIMIT],
    maps: [0; 4096],
    writer: Writer::IDLE,
    seen: ModulesSeen::new(),
});
/// The interrupted instruction while the crash report walks the stack, 0
/// otherwise: if the walk itself faults, the note still shows frame #0.
static WALKING_PC: AtomicUsize = AtomicUsize::new(0);

/// Whether the crash handlers are installed.
pub(crate) fn is_enabled() -> bool {
    ENABLED.load(Ordering::Acquire)
}

fn our_action() -> libc::sigaction {
    // SAFETY: an all-zero sigaction is a valid value to fill in.
    let mut act: libc::sigaction = unsafe { core::mem::zeroed() };
    act.sa_sigaction = fatal_handler as *const () as usize;
    act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
    // Every crash signal is blocked while the handler runs; no SA_NODEFER.
    act.sa_mask = sys::sigset_of(&FATAL_SIGNALS);
    // So is the stack collector's signal: a dump must not make a thread
    // that sits in this handler (on an alternate stack that may be as
    // small as 8 KiB) unwind itself on top of it. A dump then lists such
    // a thread as blocking the signal, and does not wait for it.
    if let Some(collector) = crate::threads::signal() {
        // SAFETY: adding a valid signal number to a set we own.
        unsafe { libc::sigaddset(&mut act.sa_mask, collector) };
    }
    act
}

fn query(sig: c_int) -> libc::sigaction {
    // SAFETY: an all-zero sigaction is a valid value to overwrite.
    let mut cur: libc::sigaction = unsafe { core::mem::zeroed() };
    // SAFETY: a null new action only queries.
    unsafe { libc::sigaction(sig, core::ptr::null(), &mut cur) };
    cur
}

fn is_ours(act: &libc::sigaction) -> bool {
    act.sa_sigaction == fatal_handler as *const () as usize
}

/// Install the handler for every fatal signal, remembering the previous
/// actions. Idempotent: a signal whose action is already ours is left as is.
/// Normal context only, under the API's install lock.
pub(crate) fn install() -> Result<(), crate::Error> {
    let block = sys::sigset_of(&FATAL_SIGNALS);
    let old_mask = sys::thread_sigmask(libc::SIG_BLOCK, &block);
    let ours = our_action();
    let mut result = Ok(());
    for (i, &sig) in FATAL_SIGNALS.iter().enumerate() {
        let cur = query(sig);
        if is_ours(&cur) {
            // Reconfiguring: refresh our action (its mask) and keep the
            // previous action we saved the first time.
            // SAFETY: `ours` is a fully initialised action.
            unsafe { libc::sigaction(sig, &ours, core::ptr::null_mut()) };
            continue;
        }
        // Publish the previous action before ours can run.
        // SAFETY: the install lock is held and the handler reads a slot
        // only after seeing its flag set below (Release/Acquire).
        unsafe { PREV[i].get_unsynchronized().write(cur) };
        PREV_VALID[i].store(true, Ordering::Release);
        // SAFETY: `ours` is a fully initialised action.
        if unsafe { libc::sigaction(sig, &ours, core::ptr::null_mut()) } != 0 {
            result = Err(crate::Error::os("sigaction"));
            break;
        }
    }
    if result.is_ok() {
        REPORTER.store(0, Ordering::Release);
        REPORT_DONE.store(false, Ordering::Release);
        ENABLED.store(true, Ordering::Release);
    }
    sys::thread_sigmask(libc::SIG_SETMASK, &old_mask);
    if result.is_err() {
        uninstall();
    }
    result
}

/// Put back the previous actions wherever ours is still installed.
/// Normal context only, under the API's install lock.
pub(crate) fn uninstall() {
    let block = sys::sigset_of(&FATAL_SIGNALS);
    let old_mask = sys::thread_sigmask(libc::SIG_BLOCK, &block);
    ENABLED.store(false, Ordering::Release);
    restore_previous_actions();
    sys::thread_sigmask(libc::SIG_SETMASK, &old_mask);
}

/// Async-signal-safe. For every fatal signal whose action is still ours,
/// put back the previous one. A signal that someone else took over after us
/// is left to them (their handler may chain to ours; see [`chain`]).
fn restore_previous_actions() {
    for (i, &sig) in FATAL_SIGNALS.iter().enumerate() {
        if !PREV_VALID[i].load(Ordering::Acquire) {
            continue;
        }
        if !is_ours(&query(sig)) {
            continue;
        }
        // SAFETY: the slot was written before its flag was set.
        let prev = unsafe { PREV[i].get_unsynchronized().assume_init_ref() };
        // SAFETY: `prev` is an action the kernel gave us.
        unsafe { libc::sigaction(sig, prev, core::ptr::null_mut()) };
    }
}

/// Send the warm-up signal to ourselves, so the whole report path (above
/// all the unwinder's first walk, which binds libgcc_s's symbols lazily and
/// may take loader locks) runs once in a real signal frame now, not during
/// a crash. Normal context only, after [`install`].
pub(crate) fn warm_up() {
    let sig = libc::SIGSEGV;
    WARMUP_TID.store(sys::gettid(), Ordering::Release);
    // Let exactly SIGSEGV through for the duration.
    let unblock = sys::sigset_of(&[sig]);
    let old = sys::thread_sigmask(libc::SIG_UNBLOCK, &unblock);
    // Delivered before the call returns: the signal is unblocked here.
    sys::queue_to_thread(sys::gettid(), sig, WARMUP_MAGIC);
    sys::thread_sigmask(libc::SIG_SETMASK, &old);
    WARMUP_TID.store(0, Ordering::Release);
}

/// The interrupted program counter and stack pointer.
fn context_pc_sp(uc: *mut c_void) -> (usize, usize) {
    if uc.is_null() {
        return (0, 0);
    }
    let uc = uc.cast::<libc::ucontext_t>();
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: the kernel passes a valid ucontext to SA_SIGINFO handlers.
        let g = unsafe { &(*uc).uc_mcontext.gregs };
        (
            g[libc::REG_RIP as usize] as usize,
            g[libc::REG_RSP as usize] as usize,
        )
    }
    #[cfg(target_arch = "aarch64")]
    {
        // SAFETY: as above.
        let m = unsafe { &(*uc).uc_mcontext };
        (m.pc as usize, m.sp as usize)
    }
}

/// Whether a fault at `fault` with the stack pointer at `sp` is a stack
/// overflow: the address lies in the guard area just below the stack that
/// `sp` belongs to, and is not itself accessible memory.
#[inline(never)]
fn is_stack_overflow(fault: usize, sp: usize, scratch: &mut [u8]) -> bool {
    // The kernel keeps a 1 MiB gap below a growing main stack; thread
    // guards are a few pages. Allow for one large frame beyond that.
    const GAP: usize = (1 << 20) + (64 << 10);
    let mut fault_accessible = false;
    let mut stack: Option<(usize, usize)> = None;
    crate::procfs::for_each_mapping(scratch, |m| {
        if m.start <= fault && fault < m.end && m.readable() {
            fault_accessible = true;
        }
        if stack.is_none() && m.end > sp && m.writable() {
            stack = Some((m.start, m.end));
        }
        m.start <= fault.max(sp) || stack.is_none()
    });
    let Some((start, _end)) = stack else {
        return false;
    };
    !fault_accessible
        && fault < start
        && start - fault <= GAP
        && sp.saturating_add(GAP) >= start
        && sp < start.saturating_add(GAP)
}

/// Normal context. Take the reporter slot for a dump on thread `tid`,
/// waiting up to `wait_ms` for a dump or crash report in progress.
/// Returns false when it stayed busy (most likely a crash is being
/// reported and the process is about to end).
pub(crate) fn begin_dump(tid: i32, wait_ms: u64) -> bool {
    let start = sys::monotonic_ms();
    loop {
        match REPORTER.compare_exchange(0, -tid, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return true,
            // A crash was reported and handed on to the previous handler,
            // and we are still running: the process survived it (a
            // handler that recovers, a sent signal). Its claim is stale.
            Err(owner)
                if owner > 0
                    && REPORT_DONE.load(Ordering::Acquire)
                    && !ENABLED.load(Ordering::Acquire)
                    && REPORTER
                        .compare_exchange(owner, -tid, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok() =>
            {
                return true;
            }
            Err(_) => {}
        }
        if sys::monotonic_ms().saturating_sub(start) >= wait_ms {
            return false;
        }
        sys::sleep_ms(1);
    }
}

/// Give the reporter slot back after [`begin_dump`]. A crash that took it
/// over meanwhile keeps it.
pub(crate) fn end_dump(tid: i32) {
    let _ = REPORTER.compare_exchange(-tid, 0, Ordering::AcqRel, Ordering::Acquire);
}

/// The handler for every fatal signal.
///
/// Async-signal-safe: see the module documentation for what it does.
extern "C" fn fatal_handler(sig: c_int, info: *mut libc::siginfo_t, uc: *mut c_void) {
    let _errno = ErrnoGuard::new();
    let tid = sys::gettid();
    if info.is_null() {
        chain(sig, info, uc);
        return;
    }
    // SAFETY: the kernel passes a valid siginfo to SA_SIGINFO handlers.
    let code = unsafe { (*info).si_code };
    if code == libc::SI_QUEUE && WARMUP_TID.load(Ordering::Acquire) == tid {
        // SAFETY: SI_QUEUE siginfo carries pid and value.
        let (pid, value) = unsafe { ((*info).si_pid(), (*info).si_value().sival_ptr as usize) };
        if pid == sys::getpid() && value == WARMUP_MAGIC {
            warm_up_in_handler(tid, uc);
            return;
        }
    }
    if !ENABLED.load(Ordering::Acquire) {
        chain(sig, info, uc);
        return;
    }
    match claim_reporter(tid) {
        Claim::Won => {
            // Let a fault inside the report reach the handler again, so it
            // is recognised below rather than killing us silently.
            let crash_set = sys::sigset_of(&FATAL_SIGNALS);
            sys::thread_sigmask(libc::SIG_UNBLOCK, &crash_set);
            ORIGINAL_SIG.store(sig, Ordering::Release);
            report_fatal(sig, info, uc);
            REPORT_DONE.store(true, Ordering::Release);
        }
        Claim::Nested => {
            // Either our own report faulted, or the previous handler we
            // chained to raised again (Rust std aborts after printing its
            // stack-overflow message). One report is enough.
            if !REPORT_DONE.swap(true, Ordering::AcqRel) {
                nested_fault(sig);
            }
        }
        Claim::Waited => {}
    }
    chain(sig, info, uc);
}

/// The outcome of trying to become the reporting thread.
enum Claim {
    /// We report.
    Won,
    /// We are the reporting thread already: a fault inside the handler,
    /// or a signal raised by the handler we chained to.
    Nested,
    /// Another thread reported (or took too long); just chain.
    Waited,
}

/// Become the one thread that reports a crash on thread `tid`.
///
/// `REPORTER` is 0 when free, a positive tid while a crash is reported (or
/// while `enable()` warms the handler up), and a negative tid while a
/// normal-context dump (a request, the watchdog, `dump_traceback()`) runs
/// on that thread. A crash must still be reported, and must not deadlock:
/// - a dump on *this* thread (we crashed inside it): take over at once;
///   the dump never resumes;
/// - a dump on another thread: wait for it to end, at most as long as a
///   dump may take (its collection and write deadlines, plus a margin),
///   then take over anyway;
/// - a crash report on another thread: wait until it is done, then chain
///   (the report covers us too); if the claim is released instead (the
///   warm-up finished), try again;
/// - a crash report on this thread: a fault inside our own handler.
#[inline(never)]
fn claim_reporter(tid: i32) -> Claim {
    let write_ms = WRITE_TIMEOUT_MS.load(Ordering::Relaxed);
    let crash_limit = write_ms.saturating_add(2000);
    let dump_limit = crate::threads::THREAD_TIMEOUT_MS
        .load(Ordering::Relaxed)
        .saturating_add(write_ms)
        .saturating_add(500);
    let start = sys::monotonic_ms();
    loop {
        let waited = sys::monotonic_ms().saturating_sub(start);
        match REPORTER.compare_exchange(0, tid, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return Claim::Won,
            Err(owner) if owner == tid => return Claim::Nested,
            Err(owner) if owner < 0 => {
                if (owner == -tid || waited >= dump_limit)
                    && REPORTER
                        .compare_exchange(owner, tid, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                {
                    return Claim::Won;
                }
            }
            Err(_) => {
                if REPORT_DONE.load(Ordering::Acquire) {
                    // Let the reporter's chain run first: it ends the process.
                    sys::sleep_ms(50);
                    return Claim::Waited;
                }
                if waited >= crash_limit {
                    return Claim::Waited;
                }
            }
        }
        sys::sleep_ms(1);
    }
}

/// Hand the signal to whatever was installed before us.
#[inline(never)]
fn chain(sig: c_int, info: *mut libc::siginfo_t, uc: *mut c_void) {
    let Some(i) = signals::fatal_index(sig) else {
        return;
    };
    let cur = query(sig);
    if is_ours(&cur) {
        restore_previous_actions();
        ENABLED.store(false, Ordering::Release);
    } else if PREV_VALID[i].load(Ordering::Acquire) && !same_action(&cur, i) {
        // Someone installed a handler after us and called ours: call the
        // previous action directly rather than re-raising into them.
        call_previous(i, sig, info, uc);
        return;
    }
    // The previous action is in place now; make the signal fire again.
    refire(sig, info);
}

/// Make `sig` happen again once the handler returns, into whatever action
/// is installed now.
fn refire(sig: c_int, info: *mut libc::siginfo_t) {
    let code = if info.is_null() {
        0
    } else {
        // SAFETY: `info` is the kernel's siginfo.
        unsafe { (*info).si_code }
    };
    if sig != libc::SIGABRT && (code > 0 || code == libc::SI_KERNEL) {
        // A real fault: returning re-executes the instruction, which faults
        // again into the previous action with the genuine siginfo.
        return;
    }
    // Sent, or SIGABRT: queue it again with its original siginfo; it is
    // delivered when the handler returns and unblocks it.
    sys::requeue_to_self(sig, info);
}

fn same_action(cur: &libc::sigaction, i: usize) -> bool {
    // SAFETY: the caller checked the slot's flag.
    let prev = unsafe { PREV[i].get_unsynchronized().assume_init_ref() };
    cur.sa_sigaction == prev.sa_sigaction
}

#[inline(never)]
fn call_previous(i: usize, sig: c_int, info: *mut libc::siginfo_t, uc: *mut c_void) {
    // SAFETY: the caller checked the slot's flag.
    let prev = unsafe { *PREV[i].get_unsynchronized().assume_init_ref() };
    let h = prev.sa_sigaction;
    if h == libc::SIG_DFL || h == libc::SIG_IGN {
        // SAFETY: setting the default action for this signal.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
        sys::requeue_to_self(sig, info);
    } else {
        sys::call_handler(&prev, sig, info, uc);
    }
}

/// Our report faulted. Write one line, then end the process with the
/// *original* signal when its previous action was the default one, so the
/// exit status is what it would have been without us.
#[inline(never)]
fn nested_fault(sig: c_int) {
    note_nested_fault(sig);
    restore_previous_actions();
    ENABLED.store(false, Ordering::Release);
    let orig = ORIGINAL_SIG.load(Ordering::Acquire);
    let Some(i) = signals::fatal_index(orig) else {
        return;
    };
    if orig == sig || !PREV_VALID[i].load(Ordering::Acquire) {
        return;
    }
    // SAFETY: the flag was checked.
    let prev = unsafe { PREV[i].get_unsynchronized().assume_init_ref() };
    if prev.sa_sigaction == libc::SIG_DFL || prev.sa_sigaction == libc::SIG_IGN {
        // SAFETY: plain calls with integer arguments and a valid set.
        unsafe { libc::signal(orig, libc::SIG_DFL) };
        sys::thread_sigmask(libc::SIG_UNBLOCK, &sys::sigset_of(&[orig]));
        // SAFETY: tgkill takes plain integers.
        unsafe { libc::syscall(libc::SYS_tgkill, sys::getpid(), sys::gettid(), orig) };
    }
}

#[inline(never)]
fn note_nested_fault(sig: c_int) {
    let _pipe = SigpipeGuard::new();
    let pc = WALKING_PC.swap(0, Ordering::AcqRel);
    // SAFETY: we are the reporting thread (the nested fault is ours).
    let scratch = unsafe { SCRATCH.get_unsynchronized() };
    let w = &mut scratch.writer;
    // Keep what the report had composed, with a little more time.
    w.extend_deadline(500);
    w.flush();
    let mut line = Buf::<128>::new();
    if pc != 0 {
        // The walk itself faulted: at least show where the crash was.
        line.str("  #0  ").addr(pc).str(" in ?? ");
        w.write(line.as_bytes());
        line.clear();
        // SAFETY: we are the reporting thread.
        match unsafe { crate::modules::lookup_unsynchronized(pc) } {
            Some(m) => {
                w.write(b"(");
                report::write_ascii(w, m.path());
                line.str(" +")
                    .hex(pc.wrapping_sub(m.bias) as u64, 1)
                    .str(")\n");
            }
            None => {
                line.str("(??)\n");
            }
        }
        w.write(line.as_bytes());
        line.clear();
    }
    line.str("\n(the report was cut short: signal ")
        .dec(sig as u64)
        .str(" (");
    signals::write_name(&mut line, sig);
    line.str(") inside the handler)\n");
    w.write(line.as_bytes());
    w.flush();
}

/// Never inlined, so that the frame of `fatal_handler` stays small for the
/// paths that do not report.
#[inline(never)]
fn report_fatal(sig: c_int, info: *mut libc::siginfo_t, uc: *mut c_void) {
    // SAFETY: only the thread that won the reporter CAS gets here.
    let scratch = unsafe { SCRATCH.get_unsynchronized() };
    let Scratch {
        frames: all_frames,
        maps,
        writer: w,
        seen,
    } = scratch;
    // SAFETY: `info` is the kernel's siginfo (checked non-null by caller).
    let (code, addr, pid, uid) = unsafe {
        let i = &*info;
        (i.si_code, i.si_addr() as usize, i.si_pid(), i.si_uid())
    };
    let origin = signals::origin(sig, code, pid, uid);
    let (pc, sp) = context_pc_sp(uc);
    let fault_addr = match origin {
        Origin::Fault { .. } if signals::has_fault_address(sig) => Some(addr),
        _ => None,
    };
    let stack_overflow =
        sig == libc::SIGSEGV && fault_addr.is_some_and(|a| is_stack_overflow(a, sp, maps));
    let header = FatalHeader {
        sig,
        origin,
        fault_addr,
        stack_overflow,
    };
    let _pipe = SigpipeGuard::new();
    w.reset(
        FD.load(Ordering::Relaxed),
        COPY_FD.load(Ordering::Relaxed),
        WRITE_TIMEOUT_MS.load(Ordering::Relaxed),
    );
    seen.clear();
    report::write_fatal_header(w, &header);
    let tid = sys::gettid();
    report::write_thread_heading(w, tid, true);
    // The header is out before the walk, which is the riskiest step.
    w.flush();
    let max = MAX_FRAMES
        .load(Ordering::Relaxed)
        .clamp(1, MAX_FRAMES_LIMIT);
    let frames = all_frames.get_mut(..max).unwrap_or(&mut []);
    WALKING_PC.store(pc, Ordering::Release);
    // SAFETY: walking our own stack from the handler (see `unwind`).
    let walk = unsafe { unwind::walk(unwind::Start::Pc(pc), 0, frames) };
    WALKING_PC.store(0, Ordering::Release);
    // SAFETY: we are the reporting thread.
    unsafe { lookup::begin_report(u64::MAX) };
    if walk.found_start {
        let shown = frames.get(..walk.stored).unwrap_or(&[]);
        // SAFETY: we are the reporting thread.
        unsafe {
            report::write_frames_unsynchronized(w, shown, true, walk.total, walk.cut, max, seen)
        };
    } else {
        // The unwinder could not cross the signal frame: show the
        // faulting instruction alone, and say so.
        // SAFETY: we are the reporting thread.
        unsafe { report::write_frames_unsynchronized(w, &[pc], true, 1, false, max, seen) };
        w.write(
            b"  ... more frames not shown (the unwinder could not walk past the signal frame)\n",
        );
    }
    if ALL_THREADS.load(Ordering::Relaxed) {
        w.flush();
        // SAFETY: we are the reporting thread.
        unsafe { crate::threads::write_other_threads(w, max, seen) };
    }
    // SAFETY: we are the reporting thread.
    unsafe { report::write_modules_unsynchronized(w, seen) };
    w.flush();
}

/// Run the report path once, discarding the text.
#[inline(never)]
fn warm_up_in_handler(tid: i32, uc: *mut c_void) {
    if REPORTER
        .compare_exchange(0, tid, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return;
    }
    // SAFETY: we hold the reporter CAS.
    let scratch = unsafe { SCRATCH.get_unsynchronized() };
    let Scratch {
        frames,
        maps,
        writer: w,
        seen,
    } = scratch;
    let (pc, sp) = context_pc_sp(uc);
    let _ = is_stack_overflow(pc, sp, maps);
    let frames = frames.get_mut(..64).unwrap_or(&mut []);
    // SAFETY: walking our own stack from the handler.
    let walk = unsafe { unwind::walk(unwind::Start::Pc(pc), 0, frames) };
    // A writer with no fd: everything is formatted, nothing written.
    w.reset(-1, -1, 0);
    seen.clear();
    report::write_process_line(w);
    report::write_thread_heading(w, tid, true);
    let shown = frames.get(..walk.stored).unwrap_or(&[]);
    // SAFETY: we hold the reporter CAS.
    unsafe {
        // The symbolizer runs too (open, pread, close, the demangler on its
        // own stack), but makes one scan read in all: the index is not
        // built yet, and enable() must stay fast.
        lookup::begin_report(1);
        lookup::warm_up_unsynchronized();
        report::write_frames_unsynchronized(w, shown, true, walk.total, walk.cut, 64, seen);
        report::write_modules_unsynchronized(w, seen);
        lookup::begin_report(u64::MAX);
    }
    REPORTER.store(0, Ordering::Release);
}
