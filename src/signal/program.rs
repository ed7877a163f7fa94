//! Async-signal-safe. The program's own handler, run before any report.
//!
//! A crash signal may have had a handler before ours was installed (Rust
//! std's stack-overflow handler, a JVM, a wasm engine, a garbage collector
//! that uses `mprotect`). Unless `report_first` is set, the fatal handler
//! calls it first, as the kernel would have: with its `sa_mask` (plus the
//! signal itself unless `SA_NODEFER`) over the interrupted code's mask, with
//! or without `SA_SIGINFO`, and with `SA_RESETHAND` putting the program's
//! action back to `SIG_DFL`. It runs on the stack our handler runs on (the
//! thread's alternate stack when it has one). What happens then decides
//! whether there is a report ([`After`]).
//!
//! While that handler runs, this thread's [`Slot`] says so, with the
//! original fault's siginfo and context: a crash signal that arrives inside
//! it (it called `abort()`, or raised the signal again) is reported as the
//! original fault. A handler that never returns (`siglongjmp`) leaves the
//! slot marked; the next signal finds it stale (see [`nested`]), so a later
//! crash on that thread gets a normal report.
//!
//! Each thread only ever touches its own slot (claimed by tid with a
//! compare-and-swap), so plain atomics suffice.
#![allow(unsafe_code)]

use crate::runtime::signals::Fatal;
use crate::runtime::sys::{self, Action};
use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// One thread's record.
pub(crate) struct Slot {
    /// The thread's `pthread_self()`: no system call to find it.
    key: AtomicUsize,
    /// Its kernel tid, to reclaim the slot of a thread that is gone.
    tid: AtomicI32,
    /// Inside the program's handler (maybe stale: see [`nested`]).
    active: AtomicBool,
    /// The call's generation, also written into the canary.
    gen: AtomicU64,
    /// The address of the canary in the calling frame.
    frame: AtomicUsize,
    sig: AtomicI32,
    info: AtomicUsize,
    uc: AtomicUsize,
    /// The last fault the program's handler returned from: a fingerprint
    /// of its signal, address and registers, and how often in a row.
    last: AtomicU64,
    repeats: AtomicU32,
    loop_reported: AtomicBool,
    /// The call holds the crash claim, with the stack walked already.
    prewalked: AtomicBool,
}

impl Slot {
    const fn new() -> Slot {
        Slot {
            key: AtomicUsize::new(0),
            tid: AtomicI32::new(0),
            active: AtomicBool::new(false),
            gen: AtomicU64::new(0),
            frame: AtomicUsize::new(0),
            sig: AtomicI32::new(0),
            info: AtomicUsize::new(0),
            uc: AtomicUsize::new(0),
            last: AtomicU64::new(0),
            repeats: AtomicU32::new(0),
            loop_reported: AtomicBool::new(false),
            prewalked: AtomicBool::new(false),
        }
    }
}

/// Threads that ran a program handler; a full table reclaims the slots of
/// threads that are gone.
static SLOTS: [Slot; 256] = [const { Slot::new() }; 256];
static GENERATION: AtomicU64 = AtomicU64::new(0);
const CANARY: u64 = 0x7072_6f67_6861_6e64; // "proghand"
/// The same fault (signal, address, every register) straight back this
/// many times in a row: the program's handler cannot fix it.
pub(crate) const LOOP_LIMIT: u32 = 64;

/// The calling thread's key: `pthread_self()`, never 0.
fn self_key() -> usize {
    // SAFETY: pthread_self reads the thread pointer; no system call.
    (unsafe { libc::pthread_self() }) as usize
}

fn find(key: usize) -> Option<&'static Slot> {
    SLOTS.iter().find(|s| s.key.load(Ordering::Acquire) == key)
}

fn slot_of(key: usize) -> Option<&'static Slot> {
    if let Some(s) = find(key) {
        return Some(s);
    }
    let tid = sys::gettid();
    let fresh = |s: &Slot, from: usize| {
        let ok = s
            .key
            .compare_exchange(from, key, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if ok {
            s.tid.store(tid, Ordering::Release);
            s.active.store(false, Ordering::Release);
            s.last.store(0, Ordering::Relaxed);
            s.repeats.store(0, Ordering::Relaxed);
            s.loop_reported.store(false, Ordering::Relaxed);
        }
        ok
    };
    if let Some(s) = SLOTS.iter().find(|s| fresh(s, 0)) {
        return Some(s);
    }
    // Full: take the slot of a thread that is gone.
    SLOTS.iter().find(|s| {
        let k = s.key.load(Ordering::Acquire);
        !sys::thread_exists(s.tid.load(Ordering::Acquire)) && fresh(s, k)
    })
}

/// A fault whose program handler is still running on this thread.
#[derive(Clone, Copy)]
pub(crate) struct Outer {
    pub sig: c_int,
    pub info: *mut libc::siginfo_t,
    pub uc: *mut c_void,
    /// Its call holds the crash claim, and the stack is walked already.
    pub prewalked: bool,
}

/// Whether this signal (context `uc`) arrived inside a program handler
/// that we called on this thread for an earlier signal, and is still
/// running: its frame is above us, deeper than the new signal's stack
/// pointer, and its canary intact. A record that fails any of these is
/// stale (the handler left by `siglongjmp`) and is dropped.
#[inline(never)]
pub(crate) fn nested(uc: *mut c_void) -> Option<Outer> {
    let slot = find(self_key())?;
    if !slot.active.load(Ordering::Acquire) {
        return None;
    }
    let frame = slot.frame.load(Ordering::Acquire);
    let (_, sp) = super::fatal::context_pc_sp(uc);
    let here = 0u8;
    let here = core::hint::black_box(&here) as *const u8 as usize;
    let mut canary = [0u8; 8];
    let live = sp < frame
        && frame - sp <= (1 << 20)
        && here < frame
        && sys::read_memory(frame, &mut canary) == 8
        && u64::from_ne_bytes(canary) == slot.gen.load(Ordering::Acquire) ^ CANARY;
    if !live {
        slot.active.store(false, Ordering::Release);
        if slot.prewalked.swap(false, Ordering::AcqRel) {
            super::claim::release_left(slot.tid.load(Ordering::Acquire));
        }
        return None;
    }
    Some(Outer {
        sig: slot.sig.load(Ordering::Acquire),
        info: slot.info.load(Ordering::Acquire) as *mut libc::siginfo_t,
        uc: slot.uc.load(Ordering::Acquire) as *mut c_void,
        prewalked: slot.prewalked.load(Ordering::Acquire),
    })
}

/// What the program's handler did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum After {
    /// It returned, and the fault may be fixed (or the signal was sent):
    /// no report, return to the kernel.
    Handled,
    /// It returned from a real fault with `SIG_DFL` or `SIG_IGN` as the
    /// program's action now: it gave up. Report, then let the fault fire
    /// into that action.
    GaveUp,
    /// It returned, but the same fault came straight back
    /// [`LOOP_LIMIT`] times: report once, then go on as without us.
    Looping,
}

/// The program's action for `f` now: the kernel's when it is not ours
/// (the program changed it from its handler), else the one we keep.
pub(crate) fn program_action(f: &Fatal, kernel: &Action, ours: bool) -> Action {
    if ours {
        f.previous().unwrap_or_else(Action::default_action)
    } else {
        *kernel
    }
}

/// Run `prev`, the program's handler for `sig`, as the kernel would have,
/// and say what it did.
///
/// # Safety
///
/// `info` and `uc` are the kernel's for this signal, and `prev` a handler
/// the kernel gave us.
#[inline(never)]
pub(crate) unsafe fn run_first(
    f: &Fatal,
    prev: &Action,
    sig: c_int,
    info: *mut libc::siginfo_t,
    uc: *mut c_void,
    prewalked: bool,
) -> After {
    let slot = slot_of(self_key());
    // A fault inside a program handler that we called (its own probe,
    // SafeFetch-style): keep the outer call's record, and put it back.
    let saved = slot.map(|s| {
        (
            s.active.load(Ordering::Acquire),
            s.gen.load(Ordering::Acquire),
            s.frame.load(Ordering::Acquire),
            s.sig.load(Ordering::Acquire),
            s.info.load(Ordering::Acquire),
            s.uc.load(Ordering::Acquire),
            s.prewalked.load(Ordering::Acquire),
        )
    });
    let gen = GENERATION.fetch_add(1, Ordering::AcqRel).wrapping_add(1);
    let canary: u64 = core::hint::black_box(gen ^ CANARY);
    let frame = &canary as *const u64 as usize;
    if let Some(s) = slot {
        s.gen.store(gen, Ordering::Release);
        s.frame.store(frame, Ordering::Release);
        s.sig.store(sig, Ordering::Release);
        s.info.store(info as usize, Ordering::Release);
        s.uc.store(uc as usize, Ordering::Release);
        s.prewalked.store(prewalked, Ordering::Release);
        s.active.store(true, Ordering::Release);
    }
    if prev.flags() & libc::SA_RESETHAND != 0 {
        f.reset_hand();
    }
    // The mask the kernel would have set: the interrupted code's, plus the
    // handler's sa_mask, plus the signal unless SA_NODEFER.
    let mut mask = prev.mask();
    if !uc.is_null() {
        // SAFETY: the kernel's ucontext for this signal.
        let interrupted = unsafe { (*uc.cast::<libc::ucontext_t>()).uc_sigmask };
        sys::sigset_add_all(&mut mask, &interrupted);
    }
    if prev.flags() & libc::SA_NODEFER == 0 {
        sys::sigset_add(&mut mask, sig);
    }
    let before = if slot.is_some() {
        fingerprint(sig, info, uc)
    } else {
        0
    };
    let (pc_before, _) = super::fatal::context_pc_sp(uc);
    sys::thread_sigmask(libc::SIG_SETMASK, &mask);
    // SAFETY: the caller's contract.
    let _ = unsafe { sys::call_handler(prev, sig, info, uc) };
    core::hint::black_box(&canary);
    if let (Some(s), Some((active, gen, frame, sig, info, uc, prewalked))) = (slot, saved) {
        s.gen.store(gen, Ordering::Release);
        s.frame.store(frame, Ordering::Release);
        s.sig.store(sig, Ordering::Release);
        s.info.store(info, Ordering::Release);
        s.uc.store(uc, Ordering::Release);
        s.prewalked.store(prewalked, Ordering::Release);
        s.active.store(active, Ordering::Release);
    }
    // Back from it, with the program's mask still in force: the kernel
    // restores the interrupted one when we return, and a report unblocks
    // the crash signals itself.
    // SAFETY: the kernel passes a valid siginfo.
    let code = unsafe { (*info).si_code };
    let real = code > 0 || code == libc::SI_KERNEL;
    if !real {
        return After::Handled;
    }
    // A handler that moved the context on (to a landing pad, past the
    // instruction: a JIT's null check, a wasm engine's bounds check) made
    // the instruction not run again, so what the action is now does not
    // matter to this fault: no need to ask the kernel.
    let moved = super::fatal::context_pc_sp(uc).0 != pc_before;
    if moved {
        if let Some(s) = slot {
            s.last.store(0, Ordering::Release);
            s.repeats.store(0, Ordering::Release);
        }
        return After::Handled;
    }
    // Under the preload's interposer the kernel always has ours, and the
    // program's view is what it set; otherwise ask the kernel whether the
    // handler changed the action.
    let now = if crate::runtime::signals::interposed() {
        f.previous().unwrap_or_else(Action::default_action)
    } else {
        let kernel = sys::query_action(sig);
        program_action(f, &kernel, super::fatal::is_ours(&kernel))
    };
    if !now.is_handler() {
        return After::GaveUp;
    }
    let Some(s) = slot else {
        return After::Handled;
    };
    // The same fault straight back: the handler returned into it without
    // changing the context (the instruction runs again), and it faulted
    // again just the same. A handler that moved the context on (a landing
    // pad) made progress, even when the next fault looks the same.
    let after = fingerprint(sig, info, uc);
    let again = before != 0 && s.last.load(Ordering::Acquire) == before;
    s.last
        .store(if after == before { before } else { 0 }, Ordering::Release);
    if again {
        let n = s.repeats.fetch_add(1, Ordering::AcqRel).saturating_add(1);
        if n >= LOOP_LIMIT && !s.loop_reported.swap(true, Ordering::AcqRel) {
            return After::Looping;
        }
    } else {
        s.repeats.store(0, Ordering::Release);
    }
    After::Handled
}

/// A hash of the signal, its address and every general register: the
/// same fault, with no progress in between, gives the same value.
fn fingerprint(sig: c_int, info: *mut libc::siginfo_t, uc: *mut c_void) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ sig as u64;
    let mut mix = |v: u64| {
        h ^= v;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    };
    // SAFETY: the kernel's siginfo.
    mix(unsafe { (*info).si_addr() } as u64);
    if uc.is_null() {
        return h;
    }
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: the kernel's ucontext.
        let g = unsafe { &(*uc.cast::<libc::ucontext_t>()).uc_mcontext.gregs };
        for r in g.iter() {
            mix(*r as u64);
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        // SAFETY: the kernel's ucontext.
        let m = unsafe { &(*uc.cast::<libc::ucontext_t>()).uc_mcontext };
        for r in m.regs.iter() {
            mix(*r);
        }
        mix(m.sp);
        mix(m.pc);
    }
    h
}
