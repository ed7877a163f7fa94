//! Async-signal-safe. The symbolizer's own stack: a 1 MiB mapping with a
//! guard page below it, made once at `enable()` ([`prepare`]), on which the
//! reporting thread runs the demangler ([`run_on_symbolizer_stack`]).
//!
//! Why: v0 demangling recurses up to 500 levels, at a few hundred bytes
//! (release) to 1.7 KB (debug) a level, while a crash report may run on
//! an 8 KiB alternate stack (Rust std gives its threads those). Moving
//! that recursion to a stack of its own keeps the handler's own stack use
//! small and fixed, whatever the name. The pages are only touched when a
//! deep name is demangled, so the mapping costs address space, not memory.
//!
//! Only the thread that won the reporter compare-and-swap runs on it, so
//! one stack serves the whole process. Where the stack could not be made,
//! or on an architecture without the switch, the closure runs on the
//! current stack and the caller keeps the demangled names short.
//!
//! # Safety
//!
//! The switch is a few instructions of inline assembly: save the stack
//! pointer in a callee-saved register, point it at the top of our mapping,
//! call an `extern "C"` trampoline, restore it. The trampoline cannot
//! unwind (a panic in an `extern "C"` function aborts), so no unwinder
//! ever needs to cross the switch.
#![allow(unsafe_code)]

use core::ffi::c_void;
use core::sync::atomic::{AtomicUsize, Ordering};

/// Usable size of the symbolizer stack.
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

/// Whether [`run_on_symbolizer_stack`] really switches stacks.
pub(crate) fn available() -> bool {
    cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) && TOP.load(Ordering::Acquire) != 0
}

extern "C" fn trampoline(arg: *mut c_void) {
    // SAFETY: `arg` is the `&mut &mut dyn FnMut()` built in
    // `run_on_symbolizer_stack`, alive for the duration of the call.
    let f = unsafe { &mut *arg.cast::<&mut dyn FnMut()>() };
    f();
}

/// Run `f` on the symbolizer stack (or on the current one, see the module
/// docs).
///
/// # Safety
///
/// Only one thread at a time may call this: the reporting thread.
pub(crate) unsafe fn run_on_symbolizer_stack(f: &mut dyn FnMut()) {
    let top = TOP.load(Ordering::Acquire);
    if !available() {
        f();
        return;
    }
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
                unsafe { run_on_symbolizer_stack(&mut f) };
                (out, sp_inside)
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(r.0, 1000);
        let top = TOP.load(Ordering::Acquire);
        assert!(r.1 < top && r.1 > top - SIZE, "ran on the symbolizer stack");
    }
}
