//! Async-signal-safe. Walks the current thread's stack from inside a signal
//! handler.
//!
//! The walk uses `backtrace::trace_unsynchronized`, which calls libgcc's
//! `_Unwind_Backtrace`. On glibc 2.35 and later that finds each frame's
//! unwind info through `_dl_find_object`, which is async-signal-safe; on
//! older glibc it goes through `dl_iterate_phdr`, which takes the loader
//! lock (see the README's limits). The first walk ever binds libgcc_s's
//! symbols lazily, so `handler::warm_up` runs one walk through a real signal frame
//! at `enable()` time.
//!
//! The walk starts in the handler, crosses the kernel's signal trampoline
//! (`__restore_rt` has a signal-frame FDE) and continues in the interrupted
//! code. Frames above the interrupted instruction (our own and the
//! trampoline) are dropped: the first frame kept is the one whose IP equals
//! the `pc` from the ucontext.
//!
//! The stack being walked may be corrupt, so the walk is bounded: it stops
//! after [`WALK_LIMIT`] frames and when the stack pointer stops growing
//! (a loop).
#![allow(unsafe_code)]

/// Never walk more frames than this, even to count them.
pub(crate) const WALK_LIMIT: usize = 100_000;

/// The result of a walk.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Walk {
    /// Frames stored in the output slice.
    pub stored: usize,
    /// Frames seen from the start frame on (at least `stored`).
    pub total: usize,
    /// Whether the walk reached the start frame (`pc`) at all.
    pub found_start: bool,
    /// Whether the walk stopped early: the limit, or a loop.
    pub cut: bool,
}

/// Where a walk's kept frames begin.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Start {
    /// At the frame whose IP is this interrupted instruction (in a signal
    /// handler: everything above it is the handler and the trampoline).
    Pc(usize),
    /// At the first frame whose stack address lies above this one (the
    /// callers of a normal-context function that took the address of a
    /// local).
    AboveSp(usize),
}

/// Walk from the current frame, keep frames from `start` on, drop the
/// first `skip` of those, and store the IPs of the rest in `out`.
///
/// # Safety
///
/// Reads the stack through the unwinder: call only from a thread that is
/// allowed to walk its own stack (any thread, in practice); the unwinder is
/// not reentrant with itself on the same thread.
pub(crate) unsafe fn walk(start: Start, skip: usize, out: &mut [usize]) -> Walk {
    let mut w = Walk::default();
    let mut skipped = 0usize;
    let mut last_sp = 0usize;
    let mut steps = 0usize;
    let mut on = false;
    // SAFETY: trace_unsynchronized only requires that no other thread is
    // using the *same* unwinder state; the libgcc walk keeps all of its
    // state on our stack.
    unsafe {
        backtrace::trace_unsynchronized(|frame| {
            steps += 1;
            if steps > WALK_LIMIT {
                w.cut = true;
                return false;
            }
            let ip = frame.ip() as usize;
            let sp = frame.sp() as usize;
            if !on {
                let here = match start {
                    Start::Pc(pc) => ip == pc,
                    Start::AboveSp(floor) => sp > floor,
                };
                if !here {
                    return true;
                }
                on = true;
                w.found_start = true;
            }
            if skipped < skip {
                skipped += 1;
                return true;
            }
            if w.total > 0 && sp != 0 && sp <= last_sp {
                // The canonical frame address must grow toward the stack's
                // base; anything else is a corrupt or looping stack.
                w.cut = true;
                return false;
            }
            if ip == 0 {
                return false;
            }
            last_sp = sp;
            if let Some(slot) = out.get_mut(w.stored) {
                *slot = ip;
                w.stored += 1;
            }
            w.total += 1;
            true
        });
    }
    w
}
