//! Async-signal-safe. The report's own stack: a 1 MiB mapping with a
//! guard page below it, made once at `enable()` ([`prepare`]), on which the
//! holder of the reporter claim composes the report
//! ([`run_on_report_stack`]).
//!
//! Why: a crash arrives on whatever stack the kernel chose: Rust std's
//! 8 KiB thread alternate stacks, a program's own 2 KiB one, or the few
//! KB left on a thread without one. A report in a downstream debug build
//! (faulthandler compiled at opt-level 0) needs more than that, and v0
//! demangling recurses up to 500 levels, at a few hundred bytes (release)
//! to 1.7 KB (debug) a level. On a stack of our own the report's stack use
//! no longer depends on where the signal arrived. The pages are only
//! touched as they are used, so the mapping costs address space, not
//! memory.
//!
//! Only the thread that holds the reporter claim runs on it, so one stack
//! serves the whole process. A call made while already on it (the
//! demangler, inside a report) just runs there. Where the stack could not be made,
//! or on an architecture without the switch, the closure runs on the
//! current stack and the caller keeps the demangled names short.
//!
//! # Safety
//!
//! The switch is a few instructions of inline assembly: save the stack
//! pointer in a callee-saved register, point it at the top of our mapping,
//! call an `extern "C"` trampoline, restore it. The trampoline cannot
//! unwind (a panic in an `extern "C"` function aborts), so no unwinder
//! ever needs to cross that switch. The crashing thread's walk, which
//! must reach the signal frame from the report stack, goes through
//! [`walk_on_report_stack`] instead, whose switch has unwind information.
#![allow(unsafe_code)]

use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Usable size of the report stack.
const SIZE: usize = 1 << 20;

/// Top of the stack (16-byte aligned), 0 until [`prepare`] made it.
static TOP: AtomicUsize = AtomicUsize::new(0);

/// Map the stack, once. Normal context (install time). Returns whether the
/// stack exists.
pub(crate) fn prepare() -> bool {
    if TOP.load(Ordering::Acquire) != 0 {
        return true;
    }
    let Ok(map) = crate::runtime::sys::GuardedMap::new(SIZE) else {
        return false;
    };
    let (base, len) = map.usable();
    let top = (base + len) & !15;
    if TOP
        .compare_exchange(0, top, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
    {
        // Kept for the life of the process; a report may run on it.
        let _ = map.leak();
    }
    // Otherwise another install made one first: `map` is unmapped here,
    // never published.
    true
}

/// Set while a closure runs on the stack.
static ON_IT: AtomicBool = AtomicBool::new(false);

/// Whether [`run_on_report_stack`] really switches stacks.
pub(crate) fn available() -> bool {
    cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) && TOP.load(Ordering::Acquire) != 0
}

extern "C" fn trampoline(arg: *mut c_void) {
    // SAFETY: `arg` is the `&mut &mut dyn FnMut()` built in
    // `run_on_report_stack`, alive for the duration of the call.
    let f = unsafe { &mut *arg.cast::<&mut dyn FnMut()>() };
    f();
}

/// Run `f` on the report stack (or on the current one, see the module
/// docs).
///
/// # Safety
///
/// Only the holder of the reporter claim may call this (one thread at a
/// time).
pub(crate) unsafe fn run_on_report_stack(f: &mut dyn FnMut()) {
    let top = TOP.load(Ordering::Acquire);
    if !available() || ON_IT.load(Ordering::Acquire) {
        // No stack of our own, or on it already.
        f();
        return;
    }
    ON_IT.store(true, Ordering::Release);
    // SAFETY: the caller's contract, passed on.
    unsafe { switch_to(top, f) };
    ON_IT.store(false, Ordering::Release);
}

/// Run `f`, a walk of this thread's stack, on the report stack, through
/// the switch an unwinder can cross ([`run_below`]'s), with the alternate
/// stack off meanwhile. The walk then takes almost nothing of the stack
/// the signal arrived on: a process's first walk binds libgcc_s's calls
/// lazily, and the resolver alone takes more than a few KB (a crash that
/// comes before the warm-up, on Rust std's 8 KiB alternate stack). With
/// the alternate stack off, a fault inside the walk lands below it, on the
/// report stack, not on top of the handler's frames on the alternate
/// stack. Already on the report stack, without one, or on other
/// architectures than x86_64, `f` runs where it is called.
///
/// # Safety
///
/// Only the holder of the reporter claim may call this (one thread at a
/// time), from the handler whose stack `f` walks.
pub(crate) unsafe fn walk_on_report_stack(f: &mut dyn FnMut()) {
    let top = TOP.load(Ordering::Acquire);
    if !cfg!(target_arch = "x86_64") || !available() || ON_IT.load(Ordering::Acquire) {
        f();
        return;
    }
    ON_IT.store(true, Ordering::Release);
    let mut off_altstack = || {
        // Off the alternate stack now, so the kernel lets us turn it off.
        let saved = crate::runtime::sys::altstack_disable();
        f();
        if let Some(ss) = saved {
            crate::runtime::sys::altstack_set(&ss);
        }
    };
    // SAFETY: the report stack belongs to the claim holder (the caller's
    // contract) and nothing runs on it (ON_IT was clear): below its top is
    // free stack of this thread.
    unsafe { run_below(top, &mut off_altstack) };
    ON_IT.store(false, Ordering::Release);
}

/// Run `f` with the stack pointer at `top`, on a stack that is not ours:
/// the interrupted code's, below its red zone, where the kernel would have
/// run a handler without `SA_ONSTACK` (`signal::program`).
///
/// # Safety
///
/// `top` is 16-byte aligned, and the memory below it is free stack of the
/// calling thread (below the interrupted stack pointer and its red zone).
///
/// Unlike the report stack's switch, this one can be unwound across: the
/// program's handler may raise a signal whose report walks from there,
/// through the switch, to the fault (the switch keeps a frame pointer and
/// says so in its unwind information). On other architectures than
/// x86_64, `f` runs on the current stack.
pub(crate) unsafe fn run_below(top: usize, f: &mut dyn FnMut()) {
    #[cfg(target_arch = "x86_64")]
    {
        let mut f = f;
        let arg = (&mut f as *mut &mut dyn FnMut()).cast::<c_void>();
        // SAFETY: `top` is free stack below the interrupted code's (the
        // caller's contract); `fh_switch_stack` calls the trampoline with
        // `arg` there and comes back with the stack pointer restored.
        unsafe { fh_switch_stack(arg, top, trampoline) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = top;
        f();
    }
}

#[cfg(target_arch = "x86_64")]
extern "C" {
    /// `fh_switch_stack(arg, top, f)`: call `f(arg)` with the stack
    /// pointer at `top` (see the `global_asm!` below).
    fn fh_switch_stack(arg: *mut c_void, top: usize, f: extern "C" fn(*mut c_void));
}

// The frame pointer holds the old stack pointer across the call, and the
// unwind information defines the frame from it (CFA = rbp + 16), so an
// unwinder walking up from `f` comes back to our caller.
#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".pushsection .text.fh_switch_stack,\"ax\",@progbits",
    ".globl fh_switch_stack",
    ".hidden fh_switch_stack",
    ".type fh_switch_stack,@function",
    "fh_switch_stack:",
    ".cfi_startproc",
    "push rbp",
    ".cfi_def_cfa_offset 16",
    ".cfi_offset rbp, -16",
    "mov rbp, rsp",
    ".cfi_def_cfa_register rbp",
    "mov rsp, rsi",
    "call rdx",
    "mov rsp, rbp",
    "pop rbp",
    ".cfi_def_cfa rsp, 8",
    "ret",
    ".cfi_endproc",
    ".size fh_switch_stack, .-fh_switch_stack",
    ".popsection",
);

/// Run `f` with the stack pointer at `top`.
///
/// # Safety
///
/// `top` is the 16-byte aligned top of a mapping that nothing else uses.
#[inline(never)]
unsafe fn switch_to(top: usize, f: &mut dyn FnMut()) {
    let mut f = f;
    let arg = (&mut f as *mut &mut dyn FnMut()).cast::<c_void>();
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `top` is the 16-byte aligned top of a mapping only this
    // thread uses (the caller's contract). r12 is callee-saved, so it holds
    // our stack pointer across the call; everything the C ABI lets the
    // callee clobber is declared clobbered.
    unsafe {
        core::arch::asm!(
            "mov r12, rsp",
            "mov rsp, {top}",
            "call {tramp}",
            "mov rsp, r12",
            top = in(reg) top,
            tramp = in(reg) trampoline as extern "C" fn(*mut c_void),
            in("rdi") arg,
            out("r12") _,
            clobber_abi("C"),
        );
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: as above; x20 is callee-saved.
    unsafe {
        core::arch::asm!(
            "mov x20, sp",
            "mov sp, {top}",
            "blr {tramp}",
            "mov sp, x20",
            top = in(reg) top,
            tramp = in(reg) trampoline as extern "C" fn(*mut c_void),
            in("x0") arg,
            out("x20") _,
            clobber_abi("C"),
        );
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let _ = (top, arg);
        f();
    }
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

    #[inline(never)]
    fn depth(n: u32) -> u32 {
        let pad = [n as u8; 512];
        core::hint::black_box(&pad);
        if n == 0 {
            0
        } else {
            depth(n - 1) + 1
        }
    }

    #[test]
    fn runs_deep_recursion_off_a_small_stack() {
        assert!(prepare());
        assert!(available());
        // 600 KB of recursion from a thread with a 64 KiB stack.
        let r = std::thread::Builder::new()
            .stack_size(64 << 10)
            .spawn(|| {
                let mut out = 0;
                let mut sp_inside = 0usize;
                let mut f = || {
                    let probe = 0u8;
                    sp_inside = &probe as *const u8 as usize;
                    out = depth(1000);
                };
                // SAFETY: only this thread uses the stack during the test
                // (tests that use it are in this module and run it once).
                unsafe { run_on_report_stack(&mut f) };
                (out, sp_inside)
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(r.0, 1000);
        let top = TOP.load(Ordering::Acquire);
        assert!(r.1 < top && r.1 > top - SIZE, "ran on the report stack");
    }
}
