//! Async-signal-safe. Walks the current thread's stack from inside a signal
//! handler.
//!
//! The walk calls libgcc's `_Unwind_Backtrace` directly (the unwinder Rust
//! std itself links, `libgcc_s`), reading each frame's IP and canonical
//! frame address; no allocation, and all of its state on our stack. (The
//! backtrace crate makes the same calls; we need nothing else of it.) On
//! glibc 2.35 and later libgcc finds each frame's
//! unwind info through `_dl_find_object`, which is async-signal-safe; on
//! older glibc it goes through `dl_iterate_phdr`, which takes the loader
//! lock (see the README's limits). The first walk ever binds libgcc_s's
//! symbols lazily, which takes several KB of stack: a crash's walk runs on
//! the report's own stack (`stack::walk_on_report_stack`), and
//! `signal::fatal::warm_up` runs one walk through a real signal frame on
//! the symbol thread after `enable()`.
//!
//! (The collector's walks of other threads, on x86_64, go through our own
//! reader of the unwind tables first, `runtime::cfi`, which feeds its
//! frames to the same rules through [`Taker`].)
//!
//! The walk starts in the handler, on the report stack, crosses the switch
//! back to the stack the signal arrived on, then the kernel's signal
//! trampoline (`__restore_rt` has a signal-frame FDE), and continues in
//! the interrupted code. Frames above the interrupted instruction (our
//! own, the switch and the trampoline) are dropped: the first frame kept
//! is the one whose IP equals the `pc` from the ucontext.
//!
//! The stack being walked may be corrupt, so the walk is bounded: it stops
//! after [`WALK_LIMIT`] frames and when the stack pointer stops growing
//! (a loop).
#![allow(unsafe_code)]

use core::ffi::{c_int, c_void};

/// libgcc's unwinder (`unwind.h`), as much as the walk needs.
mod uw {
    use core::ffi::{c_int, c_void};

    /// `_Unwind_Reason_Code`: go on.
    pub const URC_NO_REASON: c_int = 0;
    /// `_Unwind_Reason_Code`: stop the walk here.
    pub const URC_NORMAL_STOP: c_int = 4;

    pub type TraceFn = extern "C" fn(ctx: *mut c_void, arg: *mut c_void) -> c_int;

    extern "C" {
        pub fn _Unwind_Backtrace(trace: TraceFn, arg: *mut c_void) -> c_int;
        pub fn _Unwind_GetIP(ctx: *mut c_void) -> usize;
        pub fn _Unwind_GetCFA(ctx: *mut c_void) -> usize;
    }
}

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
    /// How many of the stored frames, at the end of the output, are the
    /// bottom of a stack too deep for it (its last frames, down to the
    /// thread's entry); the frames between the top part and those were
    /// walked, counted in `total`, and not kept. 0 when everything fit.
    pub bottom: usize,
}

/// The bottom of a deep stack keeps this many frames (fewer when the
/// output holds fewer than twice as many).
pub(crate) const BOTTOM_FRAMES: usize = 10;

/// How many bottom frames an output of `len` frames keeps.
pub(crate) const fn bottom_frames(len: usize) -> usize {
    if len >= 2 * BOTTOM_FRAMES {
        BOTTOM_FRAMES
    } else {
        len / 2
    }
}

impl Walk {
    /// No walk, for static storage.
    pub(crate) const EMPTY: Walk = Walk {
        stored: 0,
        total: 0,
        found_start: false,
        cut: false,
        bottom: 0,
    };
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
    // SAFETY: as this function's.
    unsafe { walk_with(start, skip, out, false) }
}

/// [`walk`], but only until `out` is full (the walk is then `cut`): the
/// top of a stack, for the warm-up, whose cost must not grow with the
/// depth of `enable()`'s caller.
///
/// # Safety
///
/// As for [`walk`].
pub(crate) unsafe fn walk_top(start: Start, out: &mut [usize]) -> Walk {
    // SAFETY: as this function's.
    unsafe { walk_with(start, 0, out, true) }
}

// Not inlined: the walk's innermost frame is the same for every caller.
#[inline(never)]
unsafe fn walk_with(start: Start, skip: usize, out: &mut [usize], top_only: bool) -> Walk {
    let mut state = State::new(start, skip, out, top_only);
    // SAFETY: `_Unwind_Backtrace` calls `step` once per frame, on this
    // thread, before it returns, with `arg` as given: a pointer to `state`,
    // which outlives the call.
    unsafe { uw::_Unwind_Backtrace(step, (&mut state as *mut State<'_>).cast()) };
    keep_bottom(&mut state);
    state.walk
}

/// A walk fed one frame at a time by another unwinder (`runtime::cfi`),
/// kept by the same rules as [`walk`]'s: where it starts, the bound, the
/// loop check, and the bottom of a deep stack.
pub(crate) struct Taker<'a>(State<'a>);

impl<'a> Taker<'a> {
    /// A walk that keeps frames from `start` on, into `out`.
    pub(crate) fn new(start: Start, out: &'a mut [usize]) -> Taker<'a> {
        Taker(State::new(start, 0, out, false))
    }

    /// Take one frame: its IP and canonical frame address (the stack
    /// pointer of the frame, as `_Unwind_GetCFA` gives it). Returns
    /// whether to go on.
    pub(crate) fn take(&mut self, ip: usize, cfa: usize) -> bool {
        frame(&mut self.0, ip, cfa)
    }

    /// The walk.
    pub(crate) fn finish(mut self) -> Walk {
        keep_bottom(&mut self.0);
        self.0.walk
    }
}

/// A stack deeper than the output, walked to its end: put its last frames
/// (from the ring) at the end of the output, over the top part's last
/// ones. A walk that stopped early (`cut`) has no known bottom.
fn keep_bottom(s: &mut State<'_>) {
    let len = s.out.len();
    let keep = bottom_frames(len);
    let w = &mut s.walk;
    if w.cut || keep == 0 || w.total <= len {
        return;
    }
    let first = len - keep;
    for k in 0..keep {
        // Frame number total - keep + k sits in the ring at its number
        // modulo the ring's size.
        let number = w.total - keep + k;
        let ip = s.ring.get(number % BOTTOM_FRAMES).copied().unwrap_or(0);
        if let Some(slot) = s.out.get_mut(first + k) {
            *slot = ip;
        }
    }
    w.bottom = keep;
}

/// Walk the frame-pointer chain of an interrupted context: `pc`, then
/// the return address of each frame from `fp` up, read without any risk
/// of faulting. For a fault whose stack the unwinder could not reach (the
/// program's own handler, which ran first, left frames without unwind
/// information between ours and the fault). Stops at a chain that does
/// not grow toward the stack's base, or after `out` is full.
pub(crate) fn walk_frame_pointers(pc: usize, fp: usize, out: &mut [usize]) -> Walk {
    let mut w = Walk::EMPTY;
    let Some(first) = out.first_mut() else {
        return w;
    };
    *first = pc;
    w.stored = 1;
    w.total = 1;
    w.found_start = true;
    let mut fp = fp;
    let mut steps = 0usize;
    while fp != 0 && fp.is_multiple_of(core::mem::size_of::<usize>()) && steps < WALK_LIMIT {
        steps += 1;
        let mut pair = [0u8; 16];
        if crate::runtime::sys::read_memory(fp, &mut pair) != 16 {
            break;
        }
        let mut a = [0u8; 8];
        let mut b = [0u8; 8];
        a.copy_from_slice(pair.get(..8).unwrap_or(&[0; 8]));
        b.copy_from_slice(pair.get(8..).unwrap_or(&[0; 8]));
        let (next, ret) = (
            u64::from_ne_bytes(a) as usize,
            u64::from_ne_bytes(b) as usize,
        );
        if ret == 0 {
            break;
        }
        match out.get_mut(w.stored) {
            Some(slot) => {
                *slot = ret;
                w.stored += 1;
            }
            None => {
                w.cut = true;
                break;
            }
        }
        w.total += 1;
        if next <= fp || next - fp > (8 << 20) {
            break;
        }
        fp = next;
    }
    w
}

/// What a walk carries from frame to frame.
struct State<'a> {
    start: Start,
    skip: usize,
    /// Stop once `out` is full.
    top_only: bool,
    out: &'a mut [usize],
    walk: Walk,
    skipped: usize,
    last_sp: usize,
    steps: usize,
    on: bool,
    /// The last frames seen, by frame number modulo its size.
    ring: [usize; BOTTOM_FRAMES],
}

impl<'a> State<'a> {
    fn new(start: Start, skip: usize, out: &'a mut [usize], top_only: bool) -> State<'a> {
        State {
            start,
            skip,
            top_only,
            out,
            walk: Walk::default(),
            skipped: 0,
            last_sp: 0,
            steps: 0,
            on: false,
            ring: [0; BOTTOM_FRAMES],
        }
    }
}

/// One frame of the walk; returns whether to go on.
extern "C" fn step(ctx: *mut c_void, arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `State` that `walk` passed, alive and used by
    // nothing else during the walk.
    let s = unsafe { &mut *arg.cast::<State<'_>>() };
    // SAFETY: `ctx` is the unwinder's context for the current frame.
    let (ip, sp) = unsafe { (uw::_Unwind_GetIP(ctx), uw::_Unwind_GetCFA(ctx)) };
    if frame(s, ip, sp) {
        uw::URC_NO_REASON
    } else {
        uw::URC_NORMAL_STOP
    }
}

/// Take one frame (its IP and canonical frame address); returns whether
/// to go on.
fn frame(s: &mut State<'_>, ip: usize, sp: usize) -> bool {
    let w = &mut s.walk;
    s.steps += 1;
    if s.steps > WALK_LIMIT {
        w.cut = true;
        return false;
    }
    if !s.on {
        let here = match s.start {
            Start::Pc(pc) => ip == pc,
            Start::AboveSp(floor) => sp > floor,
        };
        if !here {
            return true;
        }
        s.on = true;
        w.found_start = true;
    }
    if s.skipped < s.skip {
        s.skipped += 1;
        return true;
    }
    if w.total > 0 && sp != 0 && sp <= s.last_sp {
        // The canonical frame address must grow toward the stack's base;
        // anything else is a corrupt or looping stack.
        w.cut = true;
        return false;
    }
    if ip == 0 {
        return false;
    }
    s.last_sp = sp;
    if let Some(slot) = s.out.get_mut(w.stored) {
        *slot = ip;
        w.stored += 1;
    }
    if let Some(r) = s.ring.get_mut(w.total % BOTTOM_FRAMES) {
        *r = ip;
    }
    w.total += 1;
    if s.top_only && w.stored >= s.out.len() {
        w.cut = true;
        return false;
    }
    true
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
    fn nested(depth: usize, f: &mut dyn FnMut()) {
        if depth == 0 {
            f();
        } else {
            nested(depth - 1, f);
        }
        std::hint::black_box(depth);
    }

    /// The top of a stack stops once its output is full, and says it was
    /// cut; the whole walk of the same stack goes on to the bottom.
    #[test]
    fn a_top_walk_stops_when_full() {
        nested(20, &mut || {
            let mut top = [0usize; 2];
            // SAFETY: walking this thread's own stack.
            let t = unsafe { walk_top(Start::AboveSp(0), &mut top) };
            assert_eq!((t.stored, t.total, t.cut), (2, 2, true));
            assert!(top.iter().all(|&ip| ip != 0));
            let mut all = [0usize; 256];
            // SAFETY: as above.
            let w = unsafe { walk(Start::AboveSp(0), 0, &mut all) };
            assert!(w.total > 20 && !w.cut, "{} frames", w.total);
            // The same innermost frame (the callers differ: two calls).
            assert_eq!(all[0], top[0]);
        });
    }
}
