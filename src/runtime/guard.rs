//! Async-signal-safe. Fault recovery for the one risky step of a dump:
//! a thread walking its own stack. A corrupt frame chain can make libgcc's
//! unwinder read unmapped memory; in a crash report that only costs the
//! thread's stack, but a dump must never kill a process that runs fine
//! without us.
//!
//! [`catching_faults`] runs a closure through a small assembly routine
//! that saves the callee-saved registers, the stack pointer and its own
//! return address into an entry of [`TABLE`], keyed by the thread id. When
//! a `SIGSEGV` or `SIGBUS` hits an armed thread, [`recover`] (called first
//! by every handler of ours for those signals) rewrites the signal's
//! ucontext so that returning from the handler resumes as if the routine
//! had returned 1: the closure's frames are abandoned, and the caller
//! answers "the unwinder faulted". The unwinder takes no lock in the step
//! that reads the stack (the frame-info lookup before it reads only
//! loaded modules), so nothing stays locked behind the abandoned frames.
//!
//! x86_64 only; elsewhere the closure runs unguarded.
//!
//! # Safety
//!
//! An entry's registers are written by the routine on the entry's own
//! thread and read by [`recover`] on that same thread (the fault arrives
//! on the faulting thread), so the two never race; entries are claimed and
//! released with compare-and-swap on their thread id.
#![allow(unsafe_code)]

use super::racy::RacyCell;
use super::sys::{self, Action, Called, ErrnoGuard};
use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

/// How many threads may walk under a guard at once; more walk unguarded.
const ENTRIES: usize = 256;
/// Saved registers: rbx, rbp, r12, r13, r14, r15, the stack pointer after
/// the routine's return, and its return address.
const REGS: usize = 8;

struct Entry {
    tid: AtomicI32,
    regs: [AtomicUsize; REGS],
}

static TABLE: [Entry; ENTRIES] = [const {
    Entry {
        tid: AtomicI32::new(0),
        regs: [const { AtomicUsize::new(0) }; REGS],
    }
}; ENTRIES];

/// How many entries are armed: a fault handler skips the table when 0.
static ARMED: AtomicUsize = AtomicUsize::new(0);

/// The closure faulted, and was abandoned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Faulted;

#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".pushsection .text.__faulthandler_guarded_call_v0_2,\"ax\",@progbits",
    ".globl __faulthandler_guarded_call_v0_2",
    ".hidden __faulthandler_guarded_call_v0_2",
    ".type __faulthandler_guarded_call_v0_2,@function",
    ".p2align 4",
    "__faulthandler_guarded_call_v0_2:",
    ".cfi_startproc",
    "mov [rdx], rbx",
    "mov [rdx + 8], rbp",
    "mov [rdx + 16], r12",
    "mov [rdx + 24], r13",
    "mov [rdx + 32], r14",
    "mov [rdx + 40], r15",
    "lea rax, [rsp + 8]",
    "mov [rdx + 48], rax",
    "mov rax, [rsp]",
    "mov [rdx + 56], rax",
    // Realign the stack for the call (16 bytes at the call).
    "push rbx",
    ".cfi_adjust_cfa_offset 8",
    "mov rax, rdi",
    "mov rdi, rsi",
    "call rax",
    "pop rbx",
    ".cfi_adjust_cfa_offset -8",
    "xor eax, eax",
    "ret",
    ".cfi_endproc",
    ".size __faulthandler_guarded_call_v0_2, . - __faulthandler_guarded_call_v0_2",
    ".popsection",
);

#[cfg(target_arch = "x86_64")]
extern "C" {
    /// Save the registers into `regs`, call `f(arg)`, return 0; returns 1
    /// instead when [`recover`] resumed it after a fault.
    fn __faulthandler_guarded_call_v0_2(
        f: extern "C" fn(*mut c_void),
        arg: *mut c_void,
        regs: *mut usize,
    ) -> usize;
}

extern "C" fn trampoline(arg: *mut c_void) {
    // SAFETY: `arg` is the `&mut dyn FnMut()` that `catching_faults`
    // passed, alive for the duration of the call.
    let f = unsafe { &mut *arg.cast::<&mut dyn FnMut()>() };
    f();
}

/// Run `f`; when it faults with `SIGSEGV` or `SIGBUS` on this thread, and
/// one of our handlers for those signals is installed, it is abandoned and
/// this returns [`Faulted`]. Without a free entry (or off x86_64), `f`
/// runs unguarded.
pub(crate) fn catching_faults(f: &mut dyn FnMut()) -> Result<(), Faulted> {
    catching_faults_as(sys::gettid(), f)
}

/// [`catching_faults`] for a caller that knows its tid (`tid`, this
/// thread's): one system call less.
pub(crate) fn catching_faults_as(tid: i32, f: &mut dyn FnMut()) -> Result<(), Faulted> {
    let Some(entry) = TABLE.iter().find(|e| {
        e.tid
            .compare_exchange(0, tid, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }) else {
        f();
        return Ok(());
    };
    ARMED.fetch_add(1, Ordering::AcqRel);
    let mut f = f;
    let arg = (&mut f as *mut &mut dyn FnMut()).cast::<c_void>();
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the routine saves registers into the entry's storage (which
    // has the layout of `[usize; REGS]`) and calls `trampoline(arg)`;
    // `arg` outlives the call.
    let faulted = unsafe {
        __faulthandler_guarded_call_v0_2(trampoline, arg, entry.regs.as_ptr() as *mut usize)
    } != 0;
    #[cfg(not(target_arch = "x86_64"))]
    let faulted = {
        trampoline(arg);
        false
    };
    ARMED.fetch_sub(1, Ordering::AcqRel);
    entry.tid.store(0, Ordering::Release);
    if faulted {
        Err(Faulted)
    } else {
        Ok(())
    }
}

/// Called first by a handler of `SIGSEGV` or `SIGBUS`: when the faulting
/// thread runs [`catching_faults`], make the handler's return resume
/// there, reporting the fault; returns whether it did.
pub(crate) fn recover(sig: c_int, uc: *mut c_void) -> bool {
    if ARMED.load(Ordering::Acquire) == 0
        || uc.is_null()
        || (sig != libc::SIGSEGV && sig != libc::SIGBUS)
    {
        return false;
    }
    let tid = sys::gettid();
    let Some(entry) = TABLE.iter().find(|e| e.tid.load(Ordering::Acquire) == tid) else {
        return false;
    };
    resume(entry, uc)
}

#[cfg(target_arch = "x86_64")]
fn resume(entry: &Entry, uc: *mut c_void) -> bool {
    let r = |i: usize| entry.regs.get(i).map_or(0, |v| v.load(Ordering::Relaxed)) as i64;
    // SAFETY: `uc` is the kernel's ucontext for this signal, on this
    // thread; the registers written are the ones the routine saved on
    // this thread before calling the closure, so the handler's return
    // lands on the routine's return address with its caller's registers.
    unsafe {
        let g = &mut (*uc.cast::<libc::ucontext_t>()).uc_mcontext.gregs;
        g[libc::REG_RBX as usize] = r(0);
        g[libc::REG_RBP as usize] = r(1);
        g[libc::REG_R12 as usize] = r(2);
        g[libc::REG_R13 as usize] = r(3);
        g[libc::REG_R14 as usize] = r(4);
        g[libc::REG_R15 as usize] = r(5);
        g[libc::REG_RSP as usize] = r(6);
        g[libc::REG_RIP as usize] = r(7);
        g[libc::REG_RAX as usize] = 1;
    }
    true
}

#[cfg(not(target_arch = "x86_64"))]
fn resume(_entry: &Entry, _uc: *mut c_void) -> bool {
    false
}

/// The signals a stack walk can fault with.
const FAULTS: [c_int; 2] = [libc::SIGSEGV, libc::SIGBUS];
/// Their actions from before a [`Catcher`], while one is installed.
static SAVED: [RacyCell<Action>; 2] = [const { RacyCell::new(Action::ZERO) }; 2];

/// While it lives, a handler of ours catches `SIGSEGV` and `SIGBUS` for
/// [`recover`], for a dump in a process where the crash handlers are not
/// installed (`dump_traceback()` without `enable()`). Any other fault goes
/// to the action from before, as the kernel would have delivered it.
/// Normal context, one at a time (the dump lock).
pub(crate) struct Catcher {
    installed: [bool; 2],
}

impl Catcher {
    /// Install the catcher for each fault signal whose action `keep` does
    /// not accept (our crash handler catches for itself).
    pub(crate) fn install_unless(keep: impl Fn(&Action) -> bool) -> Catcher {
        let mut installed = [false; 2];
        for ((sig, saved), done) in FAULTS.iter().zip(&SAVED).zip(&mut installed) {
            let cur = sys::query_action(*sig);
            if keep(&cur) {
                continue;
            }
            // SAFETY: our catcher is not installed for `sig` (it is only
            // while a Catcher lives, and one lives at a time), so no
            // handler reads the slot while it changes.
            unsafe { *saved.get_unsynchronized() = cur };
            let ours = Action::handler(catch_handler, libc::SA_ONSTACK, &[]);
            *done = sys::set_action(*sig, &ours).is_ok();
        }
        Catcher { installed }
    }
}

impl Drop for Catcher {
    fn drop(&mut self) {
        for ((sig, saved), done) in FAULTS.iter().zip(&SAVED).zip(&self.installed) {
            // Someone who installed over us meanwhile keeps their action.
            if *done && sys::query_action(*sig).is(catch_handler) {
                // SAFETY: written by install_unless; our handler only
                // reads it.
                let prev = unsafe { *saved.get_unsynchronized() };
                let _ = sys::set_action(*sig, &prev);
            }
        }
    }
}

extern "C" fn catch_handler(sig: c_int, info: *mut libc::siginfo_t, uc: *mut c_void) {
    let _errno = ErrnoGuard::new();
    if recover(sig, uc) {
        return;
    }
    let Some(saved) = FAULTS
        .iter()
        .position(|&s| s == sig)
        .and_then(|i| SAVED.get(i))
    else {
        return;
    };
    // SAFETY: written before this handler was installed.
    let prev = unsafe { *saved.get_unsynchronized() };
    // SAFETY: `info` and `uc` are the kernel's; `prev` an action it gave us.
    if unsafe { sys::call_handler(&prev, sig, info, uc) } == Called::Handler {
        return;
    }
    let _ = sys::set_action(sig, &prev);
    let code = if info.is_null() {
        0
    } else {
        // SAFETY: the kernel's siginfo.
        unsafe { (*info).si_code }
    };
    if code <= 0 && code != libc::SI_KERNEL {
        // Sent: send it again, into the action from before.
        sys::requeue_to_self(sig, info);
    }
    // A real fault fires again into it when we return.
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

    #[test]
    fn runs_the_closure_and_releases_the_entry() {
        let mut ran = 0;
        assert_eq!(catching_faults(&mut || ran += 1), Ok(()));
        assert_eq!(ran, 1);
        let me = sys::gettid();
        assert!(TABLE.iter().all(|e| e.tid.load(Ordering::Acquire) != me));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn a_fault_inside_is_caught_and_the_caller_goes_on() {
        let _g = crate::TEST_LOCK.lock().unwrap();
        let catcher = Catcher::install_unless(|_| false);
        let mut reached = false;
        let got = catching_faults(&mut || {
            // SAFETY: not safe: a read of an unmapped address, which is
            // the fault this test wants caught.
            let v = unsafe { core::ptr::read_volatile(0x10 as *const u64) };
            std::hint::black_box(v);
            reached = true;
        });
        drop(catcher);
        assert_eq!(got, Err(Faulted));
        assert!(!reached);
        // The entry is free again, and a clean run still works.
        assert_eq!(catching_faults(&mut || {}), Ok(()));
        assert!(!sys::query_action(libc::SIGSEGV).is(catch_handler));
    }
}
