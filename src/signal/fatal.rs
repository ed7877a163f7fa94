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
use super::program::{self, After};
use crate::report::{self, Current, FatalHeader, Header, Parts, Then};
use crate::runtime::fmt::Buf;
use crate::runtime::late_file;
use crate::runtime::racy::RacyCell;
use crate::runtime::signals::{self as table, Origin, FATAL, FATAL_SIGNALS};
use crate::runtime::stack;
use crate::runtime::sys::{self, Action, Called, ErrnoGuard};
use crate::runtime::unwind;
use crate::runtime::writer::SigpipeGuard;
use crate::settings;
use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};

/// The signal being reported.
static ORIGINAL_SIG: AtomicI32 = AtomicI32::new(0);
/// Tid of the thread warming up the handler, 0 when none.
static WARMUP_TID: AtomicI32 = AtomicI32::new(0);
/// How long a fault that needs the claim waits for a warm-up that holds
/// it (it takes a fraction of a millisecond).
const WARM_UP_WAIT_MS: u64 = 100;
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

/// Whether `act` is our crash handler.
pub(crate) fn is_ours(act: &Action) -> bool {
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
        table::set_enabled(true);
    }
    sys::thread_sigmask(libc::SIG_SETMASK, &old_mask);
    if result.is_err() {
        uninstall();
    }
    result
}

/// Recognise Rust std's stack-overflow handler among the actions from
/// before ours: the same `SA_SIGINFO | SA_ONSTACK` handler for `SIGSEGV`
/// and `SIGBUS`, in the module that holds our own code (std is linked
/// into the same binary). `in_our_module` answers for an address. Normal
/// context, under the install lock, after [`install`].
///
/// Std's handler only acts on a fault in a guard page: any other fault
/// makes it put back `SIG_DFL` for the whole process and return, which
/// would let another thread's fault at the same moment kill the process
/// before our report. So it runs first only for faults that may be stack
/// overflows, and for sent signals; other faults are reported first.
pub(crate) fn note_rust_std(in_our_module: impl Fn(usize) -> bool) {
    let (Some(segv), Some(bus)) = (table::fatal(libc::SIGSEGV), table::fatal(libc::SIGBUS)) else {
        return;
    };
    let (Some(a), Some(b)) = (segv.previous(), bus.previous()) else {
        return;
    };
    let want = libc::SA_SIGINFO | libc::SA_ONSTACK;
    let is_std = a.is_handler()
        && a.handler_addr() == b.handler_addr()
        && a.flags() & want == want
        && b.flags() & want == want
        && a.handler_addr() == segv.base().handler_addr()
        && in_our_module(a.handler_addr());
    segv.set_rust_std(is_std);
    bus.set_rust_std(is_std);
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

/// The signal the warm-up sends itself: one that debuggers pass on
/// silently (gdb: "nostop noprint"), so that `enable()` neither stops a
/// debugger nor shows a fault in strace, that programs hardly use (a
/// virtual-time interval timer), and whose default action is not to
/// ignore it: putting back an action that ignores a signal makes the
/// kernel drop it from every thread's queue, one thread at a time (0.5 ms
/// with 3,000 threads, with `SIGURG`).
const WARMUP_SIG: c_int = libc::SIGVTALRM;
/// The warm-up signal's action from before, for any `WARMUP_SIG` that is
/// not ours while our handler is briefly installed.
static WARMUP_PREV: RacyCell<Action> = RacyCell::new(Action::ZERO);

/// How long a warm-up holds the claim past its work (0; set only by
/// tests, through `__bench::delay_warm_up`).
pub(crate) static WARM_UP_DELAY_MS: core::sync::atomic::AtomicU64 =
    core::sync::atomic::AtomicU64::new(0);

/// Set while a thread warms up: one warm-up at a time.
static WARMING: AtomicBool = AtomicBool::new(false);

/// Send the warm-up signal to ourselves, so the whole report path (above
/// all the unwinder's first walk across a signal frame, which binds
/// libgcc_s's symbols lazily) runs once in a real signal frame now, not
/// during a crash. Normal context only: `enable()`'s symbol thread calls
/// it as it starts, or `enable()` itself when it starts no thread. A call
/// while another thread warms up returns at once.
///
/// `SIGVTALRM`'s action is ours only for the duration, and any
/// `SIGVTALRM` that is not the warm-up (a program's `ITIMER_VIRTUAL`) is
/// handed to the action from before as the kernel would have. An action
/// the program installs meanwhile is left in place.
pub(crate) fn warm_up() {
    if WARMING.swap(true, Ordering::AcqRel) {
        return;
    }
    warm_up_once_at_a_time();
    WARMING.store(false, Ordering::Release);
}

fn warm_up_once_at_a_time() {
    let me = sys::gettid();
    let prev = sys::query_action(WARMUP_SIG);
    // SAFETY: only the thread that set WARMING writes the slot, and our
    // handler, which reads it, is not installed yet (each warm-up puts
    // the action back before it clears WARMING).
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
    if sys::query_action(WARMUP_SIG).is(warm_up_handler) {
        let _ = sys::set_action(WARMUP_SIG, &prev);
    }
}

/// In a child that `fork()` made (its `pthread_atfork` handler) during a
/// warm-up on another of the parent's threads: undo what that warm-up
/// would have undone (its claim, its action, its flag), for no thread
/// here will.
pub(crate) fn forget_warm_up_after_fork() {
    let tid = WARMUP_TID.swap(0, Ordering::AcqRel);
    if tid == 0 && !WARMING.load(Ordering::Acquire) {
        return;
    }
    if tid != 0 {
        Claim::forget_warm_up_after_fork(tid);
    }
    if sys::query_action(WARMUP_SIG).is(warm_up_handler) {
        // SAFETY: written before the action was installed; the warm-up
        // that wrote it is not running in this process.
        let prev = unsafe { *WARMUP_PREV.get_unsynchronized() };
        let _ = sys::set_action(WARMUP_SIG, &prev);
    }
    WARMING.store(false, Ordering::Release);
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
    // kernel gave us.
    if let sys::Called::Default = unsafe { sys::call_handler(&prev, sig, info, uc) } {
        // The default, to end the process: put it back and send the
        // signal again. It is blocked while this handler runs, and is
        // delivered, with that action, when it returns.
        let _ = sys::set_action(sig, &prev);
        let _ = sys::tgkill(tid, sig);
    }
}

/// The interrupted program counter and stack pointer.
pub(crate) fn context_pc_sp(uc: *mut c_void) -> (usize, usize) {
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

/// The opt-in registers block, from the signal's context.
#[inline(never)]
fn write_registers(w: &mut crate::runtime::writer::Writer, uc: *mut c_void) {
    if uc.is_null() {
        return;
    }
    let uc = uc.cast::<libc::ucontext_t>();
    #[cfg(target_arch = "x86_64")]
    {
        use libc::{
            REG_EFL, REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15, REG_R8, REG_R9, REG_RAX,
            REG_RBP, REG_RBX, REG_RCX, REG_RDI, REG_RDX, REG_RIP, REG_RSI, REG_RSP,
        };
        // SAFETY: the kernel passes a valid ucontext to SA_SIGINFO handlers.
        let g = unsafe { &(*uc).uc_mcontext.gregs };
        let r = |i: libc::c_int| {
            usize::try_from(i)
                .ok()
                .and_then(|i| g.get(i))
                .map_or(0, |&v| v as u64)
        };
        let regs = [
            ("rax", r(REG_RAX)),
            ("rbx", r(REG_RBX)),
            ("rcx", r(REG_RCX)),
            ("rdx", r(REG_RDX)),
            ("rsi", r(REG_RSI)),
            ("rdi", r(REG_RDI)),
            ("rbp", r(REG_RBP)),
            ("rsp", r(REG_RSP)),
            ("r8", r(REG_R8)),
            ("r9", r(REG_R9)),
            ("r10", r(REG_R10)),
            ("r11", r(REG_R11)),
            ("r12", r(REG_R12)),
            ("r13", r(REG_R13)),
            ("r14", r(REG_R14)),
            ("r15", r(REG_R15)),
            ("rip", r(REG_RIP)),
            ("eflags", r(REG_EFL)),
        ];
        let pc = r(REG_RIP) as usize;
        report::registers::write_registers(w, &report::registers::Registers { regs: &regs, pc });
    }
    #[cfg(target_arch = "aarch64")]
    {
        const NAMES: [&str; 31] = [
            "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13",
            "x14", "x15", "x16", "x17", "x18", "x19", "x20", "x21", "x22", "x23", "x24", "x25",
            "x26", "x27", "x28", "x29", "x30",
        ];
        // SAFETY: as above.
        let m = unsafe { &(*uc).uc_mcontext };
        let mut regs = [("", 0u64); 34];
        for ((slot, name), v) in regs.iter_mut().zip(NAMES).zip(m.regs.iter()) {
            *slot = (name, *v);
        }
        if let Some(s) = regs.get_mut(31..34) {
            s[0] = ("sp", m.sp);
            s[1] = ("pc", m.pc);
            s[2] = ("pstate", m.pstate);
        }
        let pc = m.pc as usize;
        report::registers::write_registers(w, &report::registers::Registers { regs: &regs, pc });
    }
}

/// Whether the thread was interrupted right after its own
/// `tgkill(getpid(), gettid(), sig)`, as `abort()` and `raise()` make it
/// (glibc sends to itself without blocking signals around the call, so
/// the signal arrives as the system call returns). The siginfo does not
/// name the sending thread; the interrupted registers do: the
/// instruction before the pc is a system call, and the argument
/// registers, which the kernel leaves as they were, hold our pid (x86_64
/// only), our tid and the signal, with the tgkill number in `x8` on
/// aarch64. The two code bytes are read with `process_vm_readv`, which
/// cannot fault.
#[inline(never)]
fn raised_by_this_thread(sig: c_int, uc: *mut c_void) -> bool {
    if uc.is_null() {
        return false;
    }
    let uc = uc.cast::<libc::ucontext_t>();
    let tid = sys::gettid() as i64;
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: the kernel passes a valid ucontext to SA_SIGINFO handlers.
        let g = unsafe { &(*uc).uc_mcontext.gregs };
        let pc = g[libc::REG_RIP as usize] as usize;
        let mut code = [0u8; 2];
        sys::read_memory(pc.wrapping_sub(2), &mut code) == 2
            && code == [0x0f, 0x05]
            && g[libc::REG_RDI as usize] == i64::from(sys::getpid())
            && g[libc::REG_RSI as usize] == tid
            && g[libc::REG_RDX as usize] == i64::from(sig)
    }
    #[cfg(target_arch = "aarch64")]
    {
        // SAFETY: as above.
        let m = unsafe { &(*uc).uc_mcontext };
        let mut code = [0u8; 4];
        sys::read_memory((m.pc as usize).wrapping_sub(4), &mut code) == 4
            && u32::from_le_bytes(code) == 0xd400_0001
            && m.regs[8] == libc::SYS_tgkill as u64
            && m.regs[1] == tid as u64
            && m.regs[2] == sig as u64
    }
}

/// Whether a fault at `fault` with the stack pointer at `sp` is a stack
/// overflow: the address lies in the guard area just below the stack that
/// `sp` belongs to, and is not itself accessible memory.
///
/// Costs nothing for most faults: an address far from the stack pointer
/// is no overflow, and one within a few pages below it (the frame being
/// pushed) is one at once. Only an address in between, up to the gap the
/// kernel keeps below a growing stack, needs `/proc/self/maps`, whose
/// size grows with the number of threads.
#[inline(never)]
fn is_stack_overflow(fault: usize, sp: usize, scratch: &mut [u8]) -> bool {
    // The kernel keeps a 1 MiB gap below a growing main stack; thread
    // guards are a few pages. Allow for one large frame beyond that.
    const GAP: usize = (1 << 20) + (64 << 10);
    // A faulting access at most this far below the stack pointer (or just
    // above it: a push, a red-zone store) is the stack growing into what
    // is not there.
    const NEAR: usize = 64 << 10;
    const ABOVE: usize = 256;
    if fault >= sp {
        let above = fault - sp;
        // A store into the frame just made (`sub rsp, N`, then a local at
        // `[rsp + x]`) faults up to a frame's size above the stack
        // pointer. Beyond a few bytes, it is an overflow only when the
        // stack pointer itself already points at nothing: into the guard.
        return above < ABOVE || (above <= NEAR && sys::read_memory(sp, &mut [0u8; 1]) == 0);
    }
    let below = sp - fault;
    if below <= NEAR {
        return true;
    }
    if below > GAP.saturating_mul(2) {
        return false;
    }
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
    if crate::runtime::guard::recover(sig, uc) {
        // A dump's stack walk faulted on a corrupt stack: it resumes and
        // says so. Not a crash.
        return;
    }
    // A host that handles its own faults (a million a second, maybe)
    // takes this path each time: the program's handler first, with no
    // system call but the signal mask's and, when the handler returns
    // into the same instruction, one query of the action.
    let hot = hot_program_first(sig, info, uc);
    if hot.is_none() && table::in_borrowed_memory() {
        // A vfork child: its memory is the parent's, which resumes with
        // it. Touch nothing; end as the action from before us would.
        // (The hot path asks only once it would touch anything.)
        chain_read_only(sig, info, uc);
        return;
    }
    if let Some((f, prev)) = hot {
        run_program_first(f, &prev, sig, info, uc);
        return;
    }
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
    if !settings::REPORT_FIRST.load(Ordering::Relaxed) {
        // The program's own handler first.
        let first = program_first(sig, info, uc);
        if first.is_none() {
            if let Some(outer) = program::nested(uc) {
                let tid = sys::gettid();
                // The program's handler for an earlier fault on this
                // thread raised a crash signal that nothing of the
                // program's handles (abort(), or the signal again once
                // it put back SIG_DFL): that fault was fatal after all.
                // Report it, from its own context, then hand this signal
                // on.
                report_outer(tid, outer, sig);
                chain(sig, info, uc);
                return;
            }
        }
        if let Some((f, prev)) = first {
            run_program_first(f, &prev, sig, info, uc);
            return;
        }
    }
    report_crash(sys::gettid(), sig, info, uc, Then::Nothing);
    chain(sig, info, uc);
}

/// The program's handler to run first, when it may run before the vfork
/// check (a system call): nothing on its way writes memory that a vfork
/// child shares with its parent, except what `program::run_first` puts
/// back. Not with `SA_RESETHAND` (our record of the action changes), nor
/// for what looks like a stack overflow (the walk takes the crash claim
/// before the handler runs).
fn hot_program_first(
    sig: c_int,
    info: *mut libc::siginfo_t,
    uc: *mut c_void,
) -> Option<(&'static table::Fatal, Action)> {
    if info.is_null() || !table::enabled() || settings::REPORT_FIRST.load(Ordering::Relaxed) {
        return None;
    }
    let (f, prev) = program_first(sig, info, uc)?;
    if prev.flags() & libc::SA_RESETHAND != 0 || looks_like_overflow_on_small_stack(sig, info, uc) {
        return None;
    }
    Some((f, prev))
}

/// Report the fault whose program handler raised `sig` (still running on
/// this thread, below us).
#[inline(never)]
fn report_outer(tid: i32, outer: program::Outer, sig: c_int) {
    let then = Then::Raised { sig };
    // SAFETY: the claim's holder (if any) is the frame that called the
    // program's handler, suspended below us; it resumes only after this
    // token is gone (kept: the process ends).
    if let Some(mut claim) = unsafe { Claim::adopt(tid) }.filter(|_| outer.prewalked) {
        table::note_crashed(tid, outer.sig);
        ORIGINAL_SIG.store(outer.sig, Ordering::Release);
        report_prewalked(&mut claim, outer.sig, outer.info, outer.uc, then);
        claim.keep();
        return;
    }
    table::note_crashed(tid, outer.sig);
    match Claim::crash(tid) {
        Crash::Won(mut claim) => {
            let crash_set = sys::sigset_of(&FATAL_SIGNALS);
            sys::thread_sigmask(libc::SIG_UNBLOCK, &crash_set);
            ORIGINAL_SIG.store(outer.sig, Ordering::Release);
            // Walk from here, across the program's handler, to the fault;
            // where the unwinder cannot get there, follow the fault's
            // frame pointers instead.
            let (pc, _) = context_pc_sp(outer.uc);
            let max = settings::max_frames();
            let scratch = claim.scratch();
            let frames = scratch.frames.get_mut(..max).unwrap_or(&mut []);
            WALKING_PC.store(pc, Ordering::Release);
            let mut walk = walk_from(pc, frames);
            WALKING_PC.store(0, Ordering::Release);
            if !walk.found_start {
                walk = unwind::walk_frame_pointers(pc, context_fp(outer.uc), frames);
            }
            scratch.prewalk = walk;
            report_prewalked(&mut claim, outer.sig, outer.info, outer.uc, then);
            claim.keep();
        }
        Crash::Nested => {
            if !claim::mark_crash_done() {
                nested_fault(sig);
            }
        }
        Crash::Waited => {}
    }
}

/// The interrupted frame pointer.
fn context_fp(uc: *mut c_void) -> usize {
    if uc.is_null() {
        return 0;
    }
    let uc = uc.cast::<libc::ucontext_t>();
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: the kernel's ucontext.
        let g = unsafe { &(*uc).uc_mcontext.gregs };
        g[libc::REG_RBP as usize] as usize
    }
    #[cfg(target_arch = "aarch64")]
    {
        // SAFETY: the kernel's ucontext.
        let m = unsafe { &(*uc).uc_mcontext };
        m.regs[29] as usize
    }
}

/// Run the program's handler first, then report if it showed the fault
/// to be fatal.
#[inline(never)]
fn run_program_first(
    f: &table::Fatal,
    prev: &Action,
    sig: c_int,
    info: *mut libc::siginfo_t,
    uc: *mut c_void,
) {
    // On a small alternate stack, what looks like a stack overflow is
    // walked now, while there is room: the program's handler (Rust std's
    // prints its message and aborts) and the signal it raises would leave
    // too little of an 8 KiB stack for the walk.
    // A warm-up on the symbol thread may hold the claim: the fault waits
    // for it (else the program's handler, its abort and our report of
    // that would all pile up on the small stack, and overflow it).
    let mut held = if looks_like_overflow_on_small_stack(sig, info, uc) {
        let limit = WARM_UP_WAIT_MS + WARM_UP_DELAY_MS.load(Ordering::Relaxed);
        Claim::try_crash_after_warm_up(sys::gettid(), &WARMUP_TID, limit)
    } else {
        None
    };
    if let Some(claim) = held.as_mut() {
        let (pc, _) = context_pc_sp(uc);
        let max = settings::max_frames();
        let scratch = claim.scratch();
        let frames = scratch.frames.get_mut(..max).unwrap_or(&mut []);
        let walk = walk_from(pc, frames);
        if !walk.found_start {
            if let Some(first) = frames.first_mut() {
                *first = pc;
            }
        }
        scratch.prewalk = walk;
    }
    let prewalked = held.is_some();
    // SAFETY: `info` and `uc` are the kernel's; `prev` is the action the
    // kernel gave us at install.
    let run = || unsafe { program::run_first(f, prev, sig, info, uc, prewalked) };
    let after = if prewalked {
        // And the handler runs on the report stack (ours while we hold
        // the claim), with the alternate stack off meanwhile, so that the
        // signal it may raise lands below it there, not on top of our
        // frames on the small alternate stack.
        let mut after = After::Handled;
        let mut on_report_stack = || {
            let saved = sys::altstack_disable();
            after = run();
            if let Some(ss) = saved {
                sys::altstack_set(&ss);
            }
        };
        // SAFETY: we hold the claim, which the report stack belongs to.
        unsafe { stack::run_on_report_stack(&mut on_report_stack) };
        after
    } else if prev.flags() & libc::SA_ONSTACK == 0
        && on_another_stack(uc)
        && !fault_near_sp(info, uc)
    {
        // The program's handler did not ask for the alternate stack: run
        // it where the kernel would have, on the interrupted stack below
        // its red zone, with the alternate stack off meanwhile (so that a
        // signal it raises lands below it there, not on top of our frames).
        let (_, sp) = context_pc_sp(uc);
        let top = sp.saturating_sub(RED_ZONE + 256) & !15;
        let mut after = After::Handled;
        // An alternate stack registered with SS_AUTODISARM (ours are) is
        // off already while we run on it: no system call then.
        let disarmed = {
            // SAFETY: the kernel's ucontext, with the alternate stack's
            // settings at delivery.
            let flags = unsafe { (*uc.cast::<libc::ucontext_t>()).uc_stack.ss_flags };
            flags & SS_AUTODISARM != 0
        };
        let mut below = || {
            let saved = if disarmed {
                None
            } else {
                sys::altstack_disable()
            };
            after = run();
            if let Some(ss) = saved {
                sys::altstack_set(&ss);
            }
        };
        // SAFETY: below the interrupted stack pointer and its red zone is
        // free stack of this thread (the kernel would have put the signal
        // frame there); a fault there is a fault of the program's handler,
        // as without us.
        unsafe { stack::run_below(top, &mut below) };
        after
    } else {
        run()
    };
    if after != After::Handled && held.is_none() && table::in_borrowed_memory() {
        // A vfork child (see `hot_program_first`): no report from it; the
        // fault fires again into its action, as without us.
        return;
    }
    match (after, held) {
        (After::Handled, _) => {}
        (After::GaveUp, held) => {
            let tid = sys::gettid();
            match held {
                Some(mut claim) => {
                    table::note_crashed(tid, sig);
                    ORIGINAL_SIG.store(sig, Ordering::Release);
                    report_prewalked(&mut claim, sig, info, uc, Then::Nothing);
                    claim.keep();
                }
                None => report_crash(tid, sig, info, uc, Then::Nothing),
            }
            // The fault fires again into the program's action.
            if is_ours(&sys::query_action(sig)) {
                restore_previous_actions();
                table::set_enabled(false);
            }
        }
        (After::Looping, held) => {
            drop(held);
            report_loop(sys::gettid(), sig, info, uc);
        }
    }
}

/// The x86_64 ABI's red zone below the stack pointer (aarch64 has none;
/// the same margin does no harm there).
const RED_ZONE: usize = 128;

/// `SS_AUTODISARM` (Linux 4.7).
const SS_AUTODISARM: c_int = 1 << 31;

/// Whether our handler runs on another stack than the interrupted code
/// (an alternate stack): the interrupted stack pointer is not just above
/// our frame.
fn on_another_stack(uc: *mut c_void) -> bool {
    let (_, sp) = context_pc_sp(uc);
    let here = 0u8;
    let here = core::hint::black_box(&here) as *const u8 as usize;
    !(here < sp && sp - here < (64 << 10))
}

/// A `SIGSEGV` at an address just below the stack pointer, taken on an
/// alternate stack with less than 32 KiB left.
fn looks_like_overflow_on_small_stack(
    sig: c_int,
    info: *mut libc::siginfo_t,
    uc: *mut c_void,
) -> bool {
    if sig != libc::SIGSEGV {
        return false;
    }
    // SAFETY: the kernel's siginfo.
    let addr = unsafe { (*info).si_addr() } as usize;
    let (_, sp) = context_pc_sp(uc);
    let near = addr < sp.saturating_add(4096) && sp - addr.min(sp) <= (1 << 20) + (64 << 10);
    near && sys::altstack_room().is_some_and(|room| room < (32 << 10))
}

/// The program's own handler for `sig`, when it is to run before any
/// report: the action from before our first install is a handler (and
/// not one installed over ours that calls ours back: the re-enable case,
/// whose chain keeps the older order). A host installed after us that
/// calls ours runs it too, after itself: the order the kernel would have
/// had with the host chaining straight to it.
fn program_first(
    sig: c_int,
    info: *mut libc::siginfo_t,
    uc: *mut c_void,
) -> Option<(&'static table::Fatal, Action)> {
    let f = table::fatal(sig)?;
    let prev = f.previous()?;
    if !prev.is_handler() || prev.handler_addr() != f.base().handler_addr() {
        return None;
    }
    if f.is_rust_std() && !std_acts_on(info, uc) {
        return None;
    }
    Some((f, prev))
}

/// Whether Rust std's handler may act on this signal: a sent one (it puts
/// back `SIG_DFL` and returns: the program survives, as without us), or
/// a fault close below the stack pointer (a stack overflow, maybe).
fn std_acts_on(info: *mut libc::siginfo_t, uc: *mut c_void) -> bool {
    // SAFETY: the kernel's siginfo.
    let code = unsafe { (*info).si_code };
    code <= 0 || fault_near_sp(info, uc)
}

/// A real fault close below the stack pointer: a stack overflow, maybe
/// (where the kernel could not have run a handler on that stack).
fn fault_near_sp(info: *mut libc::siginfo_t, uc: *mut c_void) -> bool {
    // SAFETY: the kernel's siginfo.
    let (code, addr) = unsafe { ((*info).si_code, (*info).si_addr() as usize) };
    let (_, sp) = context_pc_sp(uc);
    code > 0 && addr < sp.saturating_add(4096) && sp - addr.min(sp) <= (1 << 20) + (64 << 10)
}

/// Write the crash report of `sig` (`info`, `uc`) once: the thread that
/// takes the claim reports, a fault inside our own report writes one line.
#[inline(never)]
fn report_crash(tid: i32, sig: c_int, info: *mut libc::siginfo_t, uc: *mut c_void, then: Then) {
    table::note_crashed(tid, sig);
    match Claim::crash(tid) {
        Crash::Won(mut claim) => {
            // Let a fault inside the report reach the handler again, so it
            // is recognised below rather than killing us silently.
            let crash_set = sys::sigset_of(&FATAL_SIGNALS);
            sys::thread_sigmask(libc::SIG_UNBLOCK, &crash_set);
            ORIGINAL_SIG.store(sig, Ordering::Release);
            report_fatal(&mut claim, sig, info, uc, then);
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
}

/// The program's handler keeps returning into the same fault: report it
/// once, and let the process go on as it would without us.
#[inline(never)]
fn report_loop(tid: i32, sig: c_int, info: *mut libc::siginfo_t, uc: *mut c_void) {
    if let Crash::Won(mut claim) = Claim::crash(tid) {
        ORIGINAL_SIG.store(sig, Ordering::Release);
        let then = Then::Looping {
            times: program::LOOP_LIMIT,
        };
        report_fatal(&mut claim, sig, info, uc, then);
        // Not kept: the process goes on, and later crashes and dumps
        // take the claim again.
    }
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
        // A handler of the program's runs next: the process may go on,
        // and the handler may need the other threads. Not Rust std's for
        // a fault it does not act on: it only puts back SIG_DFL.
        let std_gives_up = f.is_rust_std() && !info.is_null() && !std_acts_on(info, uc);
        if prev.is_some_and(|p| p.is_handler()) && !std_gives_up {
            super::collector::release_held();
        }
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

/// Hand the signal to the action from before us, writing no memory (a
/// vfork child shares the parent's): only system calls, which act on
/// this process alone (a vfork child has its own signal actions).
#[inline(never)]
fn chain_read_only(sig: c_int, info: *mut libc::siginfo_t, uc: *mut c_void) {
    let prev = table::fatal(sig)
        .and_then(|f| f.previous())
        .unwrap_or(Action::default_action());
    if prev.is_handler() && prev.handler_addr() != our_action().handler_addr() {
        // SAFETY: `info` and `uc` are the kernel's, and `prev` is an
        // action the kernel gave us.
        if unsafe { sys::call_handler(&prev, sig, info, uc) } == Called::Handler {
            return;
        }
    }
    let _ = sys::set_action(sig, &prev);
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
    if prev.is_handler() {
        // The program's handler may need the other threads, and may go on.
        super::collector::release_held();
    }
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
    if w.json().is_some() {
        report::json::nested_fault(w, &mut scratch.late, &mut scratch.seen, pc, sig);
        w.flush();
        return;
    }
    let mut line = Buf::<128>::new();
    if pc != 0 {
        // The walk itself faulted (the symbolizer had not started): at
        // least show where the crash was, named.
        let mut frame0 = || {
            let Scratch {
                writer,
                seen,
                late,
                symbols,
                ..
            } = &mut *scratch;
            report::begin_naming(symbols, u64::MAX, None);
            let max = settings::max_frames();
            report::write_frames(writer, late, symbols, &[pc], true, 1, false, 0, max, seen);
        };
        // SAFETY: we hold the claim (Nested: ours, below us). The walk
        // that faulted ran on the report stack with the alternate stack
        // off, so this handler is on it, below the walk, and the naming
        // runs in place; or (no switch on this architecture) it ran on the
        // arrival stack, and the report stack is free.
        unsafe { stack::run_on_report_stack(&mut frame0) };
    }
    // The modules known so far, so the frames shown can be symbolized.
    let w = &mut scratch.writer;
    report::write_modules(w, &mut scratch.late, &scratch.seen);
    line.str("\n(the report was cut short: signal ")
        .dec(sig as u64)
        .str(" (");
    table::write_name(&mut line, sig);
    line.str(") inside the handler)\n");
    w.write(line.as_bytes());
    w.flush();
}

/// Walk the crashing thread's stack from the interrupted `pc`, on the
/// report stack (see [`stack::walk_on_report_stack`]): the claim holder
/// only, from the handler the signal arrived in.
fn walk_from(pc: usize, frames: &mut [usize]) -> unwind::Walk {
    let mut walk = unwind::Walk::EMPTY;
    let mut all = || {
        // SAFETY: walking our own stack from the handler (see `unwind`).
        walk = unsafe { unwind::walk(unwind::Start::Pc(pc), 0, frames) };
    };
    // SAFETY: our callers hold the claim, in the handler whose stack is
    // walked.
    unsafe { stack::walk_on_report_stack(&mut all) };
    walk
}

/// Write the crash report. Never inlined, so that the frame of
/// `fatal_handler` stays small for the paths that do not report.
///
/// Three steps, each on the report's own stack, so that almost nothing
/// runs on the stack the signal arrived on (an 8 KiB alternate stack, or
/// what is left of a thread's stack): the first lines, flushed; the walk
/// of the crashing thread (through a switch the unwinder crosses back to
/// the signal frame, with the alternate stack off); then everything else.
#[inline(never)]
fn report_fatal(
    claim: &mut Claim,
    sig: c_int,
    info: *mut libc::siginfo_t,
    uc: *mut c_void,
    then: Then,
) {
    let _pipe = SigpipeGuard::new();
    let (pc, sp) = context_pc_sp(uc);
    {
        let scratch = claim.scratch();
        let raised_here = raised_by_this_thread(sig, uc);
        let mut header = || write_header(scratch, sig, info, uc, sp, then, raised_here);
        // SAFETY: we hold the claim, which the report stack belongs to.
        unsafe { stack::run_on_report_stack(&mut header) };
    }
    let max = settings::max_frames();
    let scratch = claim.scratch();
    let frames = scratch.frames.get_mut(..max).unwrap_or(&mut []);
    WALKING_PC.store(pc, Ordering::Release);
    let walk = walk_from(pc, frames);
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

/// Write the crash report from a walk made earlier (`Scratch::prewalk`),
/// everything on the report's own stack.
#[inline(never)]
fn report_prewalked(
    claim: &mut Claim,
    sig: c_int,
    info: *mut libc::siginfo_t,
    uc: *mut c_void,
    then: Then,
) {
    let _pipe = SigpipeGuard::new();
    let crash_set = sys::sigset_of(&FATAL_SIGNALS);
    sys::thread_sigmask(libc::SIG_UNBLOCK, &crash_set);
    let (_, sp) = context_pc_sp(uc);
    let max = settings::max_frames();
    let scratch = claim.scratch();
    let walk = scratch.prewalk;
    let raised_here = raised_by_this_thread(sig, uc);
    let mut all = || {
        write_header(scratch, sig, info, uc, sp, then, raised_here);
        write_body(scratch, walk, max);
    };
    // SAFETY: we hold the claim, which the report stack belongs to.
    unsafe { stack::run_on_report_stack(&mut all) };
}

/// The report's first lines, flushed: they are out before the walk, the
/// riskiest step.
#[inline(never)]
fn write_header(
    scratch: &mut Scratch,
    sig: c_int,
    info: *mut libc::siginfo_t,
    uc: *mut c_void,
    sp: usize,
    then: Then,
    raised_here: bool,
) {
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
    let mut origin = table::origin(sig, code, pid, uid);
    if code == libc::SI_TKILL && pid == sys::getpid() && raised_here {
        origin = Origin::RaisedHere;
    }
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
        then,
    };
    // The report file was removed at exit (empty) and we crash after
    // that, in an atexit handler: create it again.
    let (fd, stale) = match late_file::reopen() {
        Some(fd) => (fd, None),
        None => match settings::report_fd() {
            Ok(fd) => (fd, None),
            Err(stale) => (libc::STDERR_FILENO, Some(stale)),
        },
    };
    // The copy to stderr would repeat the report there.
    let copy = match stale {
        Some(_) => -1,
        None => settings::COPY_FD.load(Ordering::Relaxed),
    };
    w.reset(fd, copy, settings::write_timeout_ms());
    w.set_json(settings::json());
    if let Some(stale) = stale {
        report::write_stale_fd_note(w, stale);
    }
    let mut parts = Parts {
        w,
        seen,
        late,
        symbols,
    };
    report::compose_header(&mut parts, &Header::Fatal(&header));
    if settings::REGISTERS.load(Ordering::Relaxed) {
        write_registers(parts.w, uc);
    }
    report::write_thread_heading(parts.w, sys::gettid(), true, None);
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
    let current = Current::from_handler_walk(sys::gettid(), frames, walk, max, false);
    let mut others = |emit: &mut dyn FnMut(report::Thread<'_>)| {
        // SAFETY: we hold the claim.
        unsafe { super::collector::collect_other_threads(collect, max, true, emit) }
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
    report::begin_naming(parts.symbols, u64::MAX, None);
    report::compose_body(&mut parts, Some(&current), max, others);
}

/// Run the report path once, discarding the text: the same steps as a
/// crash report, stack switches included.
#[inline(never)]
fn warm_up_in_handler(tid: i32, uc: *mut c_void) {
    let Some(mut claim) = Claim::warm_up(tid) else {
        return;
    };
    claim.prefault_scratch();
    #[cfg(target_arch = "x86_64")]
    // SAFETY: we hold the claim: no collection runs, so nothing writes the
    // collector's row cache meanwhile.
    unsafe {
        crate::runtime::cfi::prefault_cache()
    };
    let delay = WARM_UP_DELAY_MS.load(Ordering::Relaxed);
    if delay > 0 {
        sys::sleep_ms(delay);
    }
    let (pc, sp) = context_pc_sp(uc);
    let scratch = claim.scratch();
    // The top of the stack only: through the signal frame (the path a
    // crash takes) to the interrupted code and its caller. The frames of
    // enable()'s callers would cost a lookup each for nothing.
    let frames = scratch.frames.get_mut(..2).unwrap_or(&mut []);
    let mut walk = unwind::Walk::EMPTY;
    let mut top = || {
        // SAFETY: walking our own stack from the handler.
        walk = unsafe { unwind::walk_top(unwind::Start::Pc(pc), frames) };
    };
    // SAFETY: we hold the claim (the warm-up's), and walk the stack of
    // the handler we are in.
    unsafe { stack::walk_on_report_stack(&mut top) };
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
        // The proc readers' calls (open, read, close), on a file with
        // nothing to read: even the first line of `/proc/self/maps` costs
        // tens of microseconds, and a small proc file ten.
        let mut name = [0u8; 32];
        let _ = crate::runtime::procfs::read_file(b"/dev/null", &mut name);
        // A writer with no fd: everything is formatted, nothing written.
        w.reset(-1, -1, 0);
        w.set_json(settings::json());
        let mut parts = Parts {
            w,
            seen,
            late,
            symbols,
        };
        report::compose_header(&mut parts, &Header::WarmUp);
        // One frame is named, in our own module if the top of the stack
        // has one: every path of the naming runs (the file opened and
        // checked, a scan read, the demangler), and the lazy bindings it
        // needs are made; naming more would open other modules' files for
        // nothing.
        let top = frames.get(..walk.stored).unwrap_or(&[]);
        let ours =
            crate::runtime::modules::lookup_in_snapshot(warm_up_in_handler as *const () as usize)
                .map(|m| m.start);
        let pick = top
            .iter()
            .position(|&ip| {
                ours.is_some()
                    && crate::runtime::modules::lookup_in_snapshot(ip).map(|m| m.start) == ours
            })
            .unwrap_or(0);
        let current = Current {
            tid,
            frames: top.get(pick..pick + 1).unwrap_or(&[]),
            first_is_pc: pick == 0,
            total: walk.total,
            cut: walk.cut,
            bottom: walk.bottom,
            found_start: true,
            heading: true,
            name: None,
        };
        // The symbolizer runs too (open, pread, close, the demangler), but
        // makes one scan read in all: the index is not built yet, and
        // enable() must stay fast.
        report::begin_naming(parts.symbols, 1, None);
        report::warm_up_naming(parts.symbols);
        report::compose_body(&mut parts, Some(&current), 64, None);
        report::begin_naming(parts.symbols, u64::MAX, None);
    };
    // SAFETY: we hold the claim, which the report stack belongs to.
    unsafe { stack::run_on_report_stack(&mut rest) };
}

#[cfg(test)]
mod tests {
    use super::is_stack_overflow;

    /// Two pages: an inaccessible one (the guard) below a writable one
    /// (the stack's last page).
    struct Pages(*mut libc::c_void, usize);

    impl Pages {
        fn new() -> Pages {
            let page = 4096;
            // SAFETY: a fresh anonymous mapping, ours alone.
            let p = unsafe {
                libc::mmap(
                    core::ptr::null_mut(),
                    2 * page,
                    libc::PROT_NONE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            assert_ne!(p, libc::MAP_FAILED);
            // SAFETY: the upper page of the mapping just made.
            let rc = unsafe {
                libc::mprotect(
                    p.cast::<u8>().add(page).cast(),
                    page,
                    libc::PROT_READ | libc::PROT_WRITE,
                )
            };
            assert_eq!(rc, 0);
            Pages(p, page)
        }
        fn guard(&self) -> usize {
            self.0 as usize
        }
        fn stack(&self) -> usize {
            self.0 as usize + self.1
        }
    }

    impl Drop for Pages {
        fn drop(&mut self) {
            // SAFETY: the mapping made in `new`, unused after this.
            unsafe { libc::munmap(self.0, 2 * self.1) };
        }
    }

    #[test]
    fn a_store_into_a_frame_made_in_the_guard_is_an_overflow() {
        let pages = Pages::new();
        let mut maps = [0u8; 4096];
        // The stack pointer went into the guard, and a local 0x130 bytes
        // above it faulted (the frame of a function with a 256-byte array).
        let sp = pages.guard() + 0x100;
        assert!(is_stack_overflow(sp + 0x130, sp, &mut maps));
        // A push just below the stack pointer.
        let sp = pages.stack();
        assert!(is_stack_overflow(sp - 8, sp, &mut maps));
    }

    #[test]
    fn a_fault_above_a_valid_stack_pointer_is_not() {
        let pages = Pages::new();
        let mut maps = [0u8; 4096];
        // The stack pointer is in accessible memory; a fault 2 KiB above
        // it is some other access, not the stack growing.
        let sp = pages.stack() + 16;
        assert!(!is_stack_overflow(sp + 2048, sp, &mut maps));
        // Far from any stack pointer.
        assert!(!is_stack_overflow(0x10, sp, &mut maps));
    }
}
