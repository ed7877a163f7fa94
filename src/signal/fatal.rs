//! Async-signal-safe. The fatal-signal handler: install, report, chain.
//!
//! [`install`] and [`uninstall`] run in normal context (under the API's
//! install lock); everything they publish for the handler is in atomics or
//! in static storage written before the handler can see it.
//!
//! The handler itself, [`fatal_handler`], follows these rules:
//! - `errno` is saved and restored;
//! - exactly one thread reports: the one that takes the reporter
//!   [`Claim`]. A thread that crashes meanwhile waits a bounded time for
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
//! kernel; they are valid for the duration of the call. The report's
//! scratch storage is reached only through the reporter [`Claim`].
#![allow(unsafe_code)]

use super::claim::{self, Claim, Crash, Scratch};
use crate::report::{self, Current, FatalHeader, Header, Parts};
use crate::runtime::fmt::Buf;
use crate::runtime::late_file;
use crate::runtime::modules;
use crate::runtime::racy::RacyCell;
use crate::runtime::signals::{self as table, Origin, FATAL, FATAL_SIGNALS};
use crate::runtime::stack;
use crate::runtime::sys::{self, Action, Called, ErrnoGuard};
use crate::runtime::unwind;
use crate::runtime::writer::SigpipeGuard;
use crate::settings;
use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

/// The signal being reported.
static ORIGINAL_SIG: AtomicI32 = AtomicI32::new(0);
/// Tid of the thread warming up the handler, 0 when none.
static WARMUP_TID: AtomicI32 = AtomicI32::new(0);
/// `si_value` that marks the warm-up signal.
const WARMUP_MAGIC: usize = 0x6661_756c_7468_6e64; // "faulthnd"

/// The interrupted instruction while the crash report walks the stack, 0
/// otherwise: if the walk itself faults, the note still shows frame #0.
static WALKING_PC: AtomicUsize = AtomicUsize::new(0);

/// Whether the crash handlers are installed.
pub(crate) fn is_enabled() -> bool {
    table::enabled()
}

fn our_action() -> Action {
    // Every crash signal is blocked while the handler runs; no SA_NODEFER.
    let mut act = Action::handler(fatal_handler, libc::SA_ONSTACK, &FATAL_SIGNALS);
    // So is the stack collector's signal: a dump must not make a thread
    // that sits in this handler (on an alternate stack that may be as
    // small as 8 KiB) unwind itself on top of it. A dump then lists such
    // a thread as blocking the signal, and does not wait for it.
    if let Some(collector) = super::collector::signal() {
        act.also_block(collector);
    }
    act
}

fn is_ours(act: &Action) -> bool {
    act.is(fatal_handler)
}

/// Install the handler for every fatal signal, remembering the previous
/// actions. Idempotent: a signal whose action is already ours is left as is.
/// Normal context only, under the API's install lock.
pub(crate) fn install() -> Result<(), crate::Error> {
    let block = sys::sigset_of(&FATAL_SIGNALS);
    let old_mask = sys::thread_sigmask(libc::SIG_BLOCK, &block);
    let ours = our_action();
    let mut result = Ok(());
    for f in &FATAL {
        let cur = sys::query_action(f.sig);
        if is_ours(&cur) {
            // Reconfiguring: refresh our action (its mask) and keep the
            // previous action we saved the first time.
            let _ = sys::set_action(f.sig, &ours);
            continue;
        }
        // Publish the previous action before ours can run. When one is
        // saved already, our handler is still in someone's chain (they
        // installed over us, then we were disabled): the action we chain
        // to becomes theirs, and the one from before our first install
        // stays our base, for when their handler calls ours.
        f.save_previous(cur);
        if let Err(e) = sys::set_action(f.sig, &ours) {
            result = Err(crate::Error::from_raw_os("sigaction", e));
            break;
        }
    }
    if result.is_ok() {
        claim::reset();
        table::set_enabled(true);
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
    table::set_enabled(false);
    restore_previous_actions();
    sys::thread_sigmask(libc::SIG_SETMASK, &old_mask);
}

/// For every fatal signal whose action is still ours, put back the
/// previous one. A signal that someone else took over after us is left to
/// them (their handler may chain to ours; see [`chain`]).
fn restore_previous_actions() {
    for f in &FATAL {
        let Some(prev) = f.previous() else {
            continue;
        };
        let ours = is_ours(&sys::query_action(f.sig));
        f.set_displaced(!ours);
        if ours {
            let _ = sys::set_action(f.sig, &prev);
        }
    }
}

/// The signal the warm-up sends itself: one whose default action is to
/// ignore it and that debuggers pass on silently (gdb: "nostop noprint"),
/// so that `enable()` neither stops a debugger nor shows a fault in
/// strace.
const WARMUP_SIG: c_int = libc::SIGURG;
/// The warm-up signal's action from before, for any `WARMUP_SIG` that is
/// not ours while our handler is briefly installed.
static WARMUP_PREV: RacyCell<Action> = RacyCell::new(Action::ZERO);

/// Send the warm-up signal to ourselves, so the whole report path (above
/// all the unwinder's first walk across a signal frame, which binds
/// libgcc_s's symbols lazily) runs once in a real signal frame now, not
/// during a crash. Normal context only, under the API's install lock.
///
/// `SIGURG`'s action is ours only for the duration, and any `SIGURG` that
/// is not the warm-up (another thread's socket, Go's preemption) is handed
/// to the action from before as the kernel would have.
pub(crate) fn warm_up() {
    let me = sys::gettid();
    let prev = sys::query_action(WARMUP_SIG);
    // SAFETY: only the install-lock holder writes the slot, and our
    // handler, which reads it, is not installed yet.
    unsafe { *WARMUP_PREV.get_unsynchronized() = prev };
    let ours = Action::handler(warm_up_handler, libc::SA_ONSTACK | libc::SA_RESTART, &[]);
    if sys::set_action(WARMUP_SIG, &ours).is_err() {
        return;
    }
    WARMUP_TID.store(me, Ordering::Release);
    // Let exactly the warm-up signal through for the duration.
    let unblock = sys::sigset_of(&[WARMUP_SIG]);
    let old = sys::thread_sigmask(libc::SIG_UNBLOCK, &unblock);
    // Delivered before the call returns: the signal is unblocked here.
    sys::queue_to_thread(me, WARMUP_SIG, WARMUP_MAGIC);
    sys::thread_sigmask(libc::SIG_SETMASK, &old);
    WARMUP_TID.store(0, Ordering::Release);
    let _ = sys::set_action(WARMUP_SIG, &prev);
}

/// The warm-up signal's handler while `warm_up` runs.
extern "C" fn warm_up_handler(sig: c_int, info: *mut libc::siginfo_t, uc: *mut c_void) {
    let _errno = ErrnoGuard::new();
    let tid = sys::gettid();
    if !info.is_null() && WARMUP_TID.load(Ordering::Acquire) == tid {
        // SAFETY: the kernel passes a valid siginfo; SI_QUEUE siginfo
        // carries pid and value (checked before they are used).
        let (code, pid, value) = unsafe {
            let i = &*info;
            (i.si_code, i.si_pid(), i.si_value().sival_ptr as usize)
        };
        if code == libc::SI_QUEUE && pid == sys::getpid() && value == WARMUP_MAGIC {
            warm_up_in_handler(tid, uc);
            return;
        }
    }
    // SAFETY: written before this handler was installed.
    let prev = unsafe { *WARMUP_PREV.get_unsynchronized() };
    // SAFETY: `info` and `uc` are the kernel's; `prev` is an action the
    // kernel gave us. SIG_DFL for SIGURG is to ignore it, as is SIG_IGN.
    let _ = unsafe { sys::call_handler(&prev, sig, info, uc) };
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
    crate::runtime::procfs::for_each_mapping(scratch, |m| {
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
    if !table::enabled() {
        chain(sig, info, uc);
        return;
    }
    // SAFETY: the kernel passes a valid siginfo to SA_SIGINFO handlers.
    let code = unsafe { (*info).si_code };
    if code <= 0 && sig != libc::SIGABRT && previous_is_ignore(sig) {
        // A sent signal the program ignores: ignored, as without us, and
        // we stay in place for a real fault. (A real fault of an ignored
        // signal is still reported: the kernel would kill the process.)
        return;
    }
    table::note_crashed(tid, sig);
    match Claim::crash(tid) {
        Crash::Won(mut claim) => {
            // Let a fault inside the report reach the handler again, so it
            // is recognised below rather than killing us silently.
            let crash_set = sys::sigset_of(&FATAL_SIGNALS);
            sys::thread_sigmask(libc::SIG_UNBLOCK, &crash_set);
            ORIGINAL_SIG.store(sig, Ordering::Release);
            report_fatal(&mut claim, sig, info, uc);
            claim.keep();
        }
        Crash::Nested => {
            // Either our own report faulted, or the previous handler we
            // chained to raised again (Rust std aborts after printing its
            // stack-overflow message). One report is enough.
            if !claim::mark_crash_done() {
                nested_fault(sig);
            }
        }
        Crash::Waited => {}
    }
    chain(sig, info, uc);
}

/// Whether the action from before ours for `sig` is `SIG_IGN`.
fn previous_is_ignore(sig: c_int) -> bool {
    table::fatal(sig)
        .and_then(|f| f.previous())
        .is_some_and(|p| p.is_ignore())
}

/// Hand the signal to whatever was installed before us.
#[inline(never)]
fn chain(sig: c_int, info: *mut libc::siginfo_t, uc: *mut c_void) {
    let Some(f) = table::fatal(sig) else {
        return;
    };
    let cur = sys::query_action(sig);
    let prev = f.previous();
    if is_ours(&cur) {
        restore_previous_actions();
        table::set_enabled(false);
    } else if let Some(prev) = prev {
        // Someone installed a handler after us and called ours: run the
        // action from before us directly, never re-raising into them. When
        // that someone is the very action we chain to (we were installed
        // again over a handler that chains to ours), run the action from
        // before our first install instead, or the two would call each
        // other forever.
        let next = if cur.handler_addr() == prev.handler_addr() {
            f.base()
        } else {
            prev
        };
        if next.handler_addr() == cur.handler_addr() {
            // It would call the caller again: end as the default would.
            call_previous(Action::default_action(), sig, info, uc);
        } else {
            call_previous(next, sig, info, uc);
        }
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

#[inline(never)]
fn call_previous(prev: Action, sig: c_int, info: *mut libc::siginfo_t, uc: *mut c_void) {
    // SAFETY: `info` and `uc` are the kernel's, and `prev` is an action the
    // kernel gave us.
    match unsafe { sys::call_handler(&prev, sig, info, uc) } {
        Called::Handler => {}
        Called::Default | Called::Ignore => {
            let _ = sys::set_action(sig, &Action::default_action());
            sys::requeue_to_self(sig, info);
        }
    }
}

/// Our report faulted. Write one line, then end the process with the
/// *original* signal when its previous action was the default one, so the
/// exit status is what it would have been without us.
#[inline(never)]
fn nested_fault(sig: c_int) {
    note_nested_fault(sig);
    restore_previous_actions();
    table::set_enabled(false);
    let orig = ORIGINAL_SIG.load(Ordering::Acquire);
    let Some(prev) = table::fatal(orig).and_then(|f| f.previous()) else {
        return;
    };
    if orig != sig && !prev.is_handler() {
        let _ = sys::set_action(orig, &Action::default_action());
        sys::thread_sigmask(libc::SIG_UNBLOCK, &sys::sigset_of(&[orig]));
        sys::tgkill(sys::gettid(), orig);
    }
}

#[inline(never)]
fn note_nested_fault(sig: c_int) {
    let _pipe = SigpipeGuard::new();
    let pc = WALKING_PC.swap(0, Ordering::AcqRel);
    // SAFETY: the fault is inside our own report on this thread: the claim
    // holder is the frame below us, and it never resumes.
    let scratch = unsafe { Claim::scratch_of_faulted_report() };
    let w = &mut scratch.writer;
    // Keep what the report had composed, with a little more time.
    w.extend_deadline(settings::NESTED_FAULT_FLUSH_MS);
    w.flush();
    let mut line = Buf::<128>::new();
    if pc != 0 {
        // The walk itself faulted: at least show where the crash was.
        line.str("  #0  ").addr(pc).str(" in ?? ");
        w.write(line.as_bytes());
        line.clear();
        match modules::lookup(pc, &mut scratch.late) {
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
    table::write_name(&mut line, sig);
    line.str(") inside the handler)\n");
    w.write(line.as_bytes());
    w.flush();
}

/// Write the crash report. Never inlined, so that the frame of
/// `fatal_handler` stays small for the paths that do not report.
///
/// Three steps, so that as little as possible runs on the stack the signal
/// arrived on (an 8 KiB alternate stack, or what is left of a thread's
/// stack): the first lines (on the report's own stack), the walk of the
/// crashing thread (on the arrival stack: the unwinder must start from
/// there to cross the signal frame), then everything else (on the report's
/// own stack again).
#[inline(never)]
fn report_fatal(claim: &mut Claim, sig: c_int, info: *mut libc::siginfo_t, uc: *mut c_void) {
    let _pipe = SigpipeGuard::new();
    let (pc, sp) = context_pc_sp(uc);
    {
        let scratch = claim.scratch();
        let mut header = || write_header(scratch, sig, info, sp);
        // SAFETY: we hold the claim, which the report stack belongs to.
        unsafe { stack::run_on_report_stack(&mut header) };
    }
    let max = settings::max_frames();
    let scratch = claim.scratch();
    let frames = scratch.frames.get_mut(..max).unwrap_or(&mut []);
    WALKING_PC.store(pc, Ordering::Release);
    // SAFETY: walking our own stack from the handler (see `unwind`).
    let walk = unsafe { unwind::walk(unwind::Start::Pc(pc), 0, frames) };
    WALKING_PC.store(0, Ordering::Release);
    if !walk.found_start {
        if let Some(f) = frames.first_mut() {
            *f = pc;
        }
    }
    let mut body = || write_body(scratch, walk, max);
    // SAFETY: as above.
    unsafe { stack::run_on_report_stack(&mut body) };
}

/// The report's first lines, flushed: they are out before the walk, the
/// riskiest step.
#[inline(never)]
fn write_header(scratch: &mut Scratch, sig: c_int, info: *mut libc::siginfo_t, sp: usize) {
    let Scratch {
        maps,
        writer: w,
        seen,
        late,
        symbols,
        ..
    } = scratch;
    // SAFETY: `info` is the kernel's siginfo (checked non-null by caller).
    let (code, addr, pid, uid) = unsafe {
        let i = &*info;
        (i.si_code, i.si_addr() as usize, i.si_pid(), i.si_uid())
    };
    let origin = table::origin(sig, code, pid, uid);
    let has_address = table::fatal(sig).is_some_and(|f| f.has_address);
    let fault_addr = match origin {
        Origin::Fault { .. } if has_address => Some(addr),
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
    // The report file was removed at exit (empty) and we crash after
    // that, in an atexit handler: create it again.
    let fd = late_file::reopen().unwrap_or_else(|| settings::FD.load(Ordering::Relaxed));
    w.reset(
        fd,
        settings::COPY_FD.load(Ordering::Relaxed),
        settings::write_timeout_ms(),
    );
    let mut parts = Parts {
        w,
        seen,
        late,
        symbols,
    };
    report::compose_header(&mut parts, &Header::Fatal(&header));
    report::write_thread_heading(parts.w, sys::gettid(), true);
    parts.w.flush();
}

/// Everything after the first lines: the crashing thread's frames (walked
/// already), the other threads, the modules.
#[inline(never)]
fn write_body(scratch: &mut Scratch, walk: unwind::Walk, max: usize) {
    let Scratch {
        frames,
        writer: w,
        seen,
        late,
        collect,
        symbols,
        ..
    } = scratch;
    let mut parts = Parts {
        w,
        seen,
        late,
        symbols,
    };
    let current = Current {
        tid: sys::gettid(),
        frames: frames.get(..walk.stored.max(1).min(max)).unwrap_or(&[]),
        first_is_pc: true,
        total: walk.total,
        cut: walk.cut,
        found_start: walk.found_start,
        heading: false,
    };
    let mut others = |emit: &mut dyn FnMut(report::Thread<'_>)| {
        // SAFETY: we hold the claim.
        unsafe { super::collector::collect_other_threads(collect, max, emit) }
    };
    let others: Option<report::Others<'_>> = if settings::ALL_THREADS.load(Ordering::Relaxed) {
        Some(&mut others)
    } else {
        None
    };
    if crate::symbolize::lookup::USE_INDEX.load(Ordering::Relaxed)
        && crate::symbolize::lookup::USE_LINES.load(Ordering::Relaxed)
    {
        // A crash right after enable(): give the line tables being built
        // a moment (bounded).
        crate::symbolize::index::wait_for_lines(current.frames, settings::LINES_WAIT_MS);
    }
    report::begin_naming(parts.symbols, u64::MAX);
    report::compose_body(&mut parts, Some(&current), max, others);
}

/// Run the report path once, discarding the text: the same steps as a
/// crash report, stack switches included.
#[inline(never)]
fn warm_up_in_handler(tid: i32, uc: *mut c_void) {
    let Some(mut claim) = Claim::warm_up(tid) else {
        return;
    };
    let (pc, sp) = context_pc_sp(uc);
    let scratch = claim.scratch();
    let frames = scratch.frames.get_mut(..64).unwrap_or(&mut []);
    // SAFETY: walking our own stack from the handler.
    let walk = unsafe { unwind::walk(unwind::Start::Pc(pc), 0, frames) };
    let mut rest = || {
        let Scratch {
            frames,
            maps,
            writer: w,
            seen,
            late,
            symbols,
            ..
        } = &mut *scratch;
        let _ = is_stack_overflow(pc, sp, maps);
        // A writer with no fd: everything is formatted, nothing written.
        w.reset(-1, -1, 0);
        let mut parts = Parts {
            w,
            seen,
            late,
            symbols,
        };
        report::compose_header(&mut parts, &Header::WarmUp);
        let current = Current {
            tid,
            frames: frames.get(..walk.stored.min(64)).unwrap_or(&[]),
            first_is_pc: true,
            total: walk.total,
            cut: walk.cut,
            found_start: true,
            heading: true,
        };
        // The symbolizer runs too (open, pread, close, the demangler), but
        // makes one scan read in all: the index is not built yet, and
        // enable() must stay fast.
        report::begin_naming(parts.symbols, 1);
        report::warm_up_naming(parts.symbols);
        report::compose_body(&mut parts, Some(&current), 64, None);
        report::begin_naming(parts.symbols, u64::MAX);
    };
    // SAFETY: we hold the claim, which the report stack belongs to.
    unsafe { stack::run_on_report_stack(&mut rest) };
}
