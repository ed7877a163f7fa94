//! Async-signal-safe. The handler for dump-request signals
//! (`register()`), and the per-signal state it shares with the dumper
//! thread (`crate::register`, normal context).
//!
//! The handler does almost nothing: it notes the request (and the
//! sender's pid), wakes the dumper thread through an eventfd, and chains
//! when asked to.
//!
//! # Safety
//!
//! A saved previous action is written only while our handler is not
//! installed for the signal (see [`SigState::save_previous`]); the handler
//! reads it only after seeing its flag set.
#![allow(unsafe_code)]

use crate::runtime::racy::RacyCell;
use crate::runtime::sys::{self, Action, Called, ErrnoGuard};
use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};

/// Signals 1..=64 have a state each.
pub(crate) const NSIG: usize = 65;

/// What the handler needs for one signal.
pub(crate) struct SigState {
    /// Whether requests on this signal are served.
    pub active: AtomicBool,
    /// Whether the previous action runs too.
    pub chain: AtomicBool,
    /// Requests not served yet.
    pub pending: AtomicU32,
    /// The sender of the last request.
    pub pid: AtomicI32,
    /// The previous action was SIG_DFL and `chain` asked for it: the
    /// dumper carries it out.
    pub run_default: AtomicBool,
    /// The program installed a handler of its own for the signal through
    /// the preload's interposer: it runs after each request is noted.
    pub program_handler: AtomicBool,
    prev_valid: AtomicBool,
    prev: RacyCell<Action>,
}

static SIGS: [SigState; NSIG] = [const {
    SigState {
        active: AtomicBool::new(false),
        chain: AtomicBool::new(false),
        pending: AtomicU32::new(0),
        pid: AtomicI32::new(0),
        run_default: AtomicBool::new(false),
        program_handler: AtomicBool::new(false),
        prev_valid: AtomicBool::new(false),
        prev: RacyCell::new(Action::ZERO),
    }
}; NSIG];

/// The eventfd that wakes the dumper thread, -1 until it runs.
pub(crate) static EVENT_FD: AtomicI32 = AtomicI32::new(-1);

impl SigState {
    /// Remember `prev` as the action from before ours. Normal context,
    /// while our handler is not installed for this signal.
    pub(crate) fn save_previous(&self, prev: Action) {
        self.prev_valid.store(false, Ordering::Release);
        // SAFETY: the flag is clear and our handler is not installed, so
        // nobody reads the slot while it changes.
        unsafe { *self.prev.get_unsynchronized() = prev };
        self.prev_valid.store(true, Ordering::Release);
    }

    /// The preload's interposer: the program set its own action for this
    /// signal to `act` (its view; the kernel keeps ours). A handler then
    /// runs after our handler notes each request. May run in a signal
    /// handler; concurrent setters are the program's own race.
    pub(crate) fn set_program_view(&self, act: Action) {
        self.prev_valid.store(false, Ordering::Release);
        // SAFETY: the flag is clear: the handler skips the slot meanwhile.
        unsafe { *self.prev.get_unsynchronized() = act };
        self.program_handler
            .store(act.is_handler(), Ordering::Release);
        self.prev_valid.store(true, Ordering::Release);
    }

    /// The action from before ours, once saved.
    pub(crate) fn previous(&self) -> Option<Action> {
        if !self.prev_valid.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: written before the flag was set (Acquire above).
        Some(unsafe { *self.prev.get_unsynchronized() })
    }
}

/// The state of signal `sig`.
pub(crate) fn state(sig: c_int) -> Option<&'static SigState> {
    usize::try_from(sig)
        .ok()
        .filter(|&s| s >= 1)
        .and_then(|s| SIGS.get(s))
}

/// The states of every signal, by number.
pub(crate) fn states() -> impl Iterator<Item = (c_int, &'static SigState)> {
    SIGS.iter()
        .enumerate()
        .skip(1)
        .map(|(i, st)| (i as c_int, st))
}

/// Our handler, installed for `sig` with `SA_RESTART`. Not `SA_ONSTACK`:
/// the handler needs a few hundred bytes, and on the thread's own stack a
/// collection signal that lands inside it can still walk that thread
/// (on a small alternate stack it would run out of room).
pub(crate) fn action() -> Action {
    Action::handler(request_handler, libc::SA_RESTART, &[])
}

/// Whether `act` is our handler.
pub(crate) fn is_ours(act: &Action) -> bool {
    act.is(request_handler)
}

/// Note a request and wake the dumper (also called through
/// signal-hook-registry).
pub(crate) fn note_request(sig: c_int, info: &libc::siginfo_t) {
    let Some(st) = state(sig) else {
        return;
    };
    if !st.active.load(Ordering::Acquire) {
        return;
    }
    // si_pid is meaningful for sent signals (si_code <= 0); for
    // kernel-generated ones we report 0.
    let pid = if info.si_code <= 0 {
        // SAFETY: a sent signal's siginfo carries the sender's pid.
        unsafe { info.si_pid() }
    } else {
        0
    };
    st.pid.store(pid, Ordering::Relaxed);
    st.pending.fetch_add(1, Ordering::AcqRel);
    wake_dumper();
}

/// Wake the dumper thread.
pub(crate) fn wake_dumper() {
    let fd = EVENT_FD.load(Ordering::Acquire);
    if fd < 0 {
        return;
    }
    let one: u64 = 1;
    // SAFETY: writing 8 bytes from a local to the eventfd; write(2) is
    // async-signal-safe and an eventfd write does not block in practice.
    unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
}

/// The handler for registered signals (when not through the registry).
extern "C" fn request_handler(sig: c_int, info: *mut libc::siginfo_t, uc: *mut c_void) {
    let _errno = ErrnoGuard::new();
    let Some(st) = state(sig) else {
        return;
    };
    let active = st.active.load(Ordering::Acquire);
    if active && !info.is_null() {
        // SAFETY: the kernel passes a valid siginfo.
        note_request(sig, unsafe { &*info });
    }
    if active && !st.chain.load(Ordering::Acquire) && !st.program_handler.load(Ordering::Acquire) {
        return;
    }
    // Chain, or (unregistered, but somebody installed over us and chains
    // here) behave as the previous action would have.
    let Some(prev) = st.previous() else {
        return;
    };
    // SAFETY: `info` and `uc` are the kernel's; `prev` is an action the
    // kernel gave us.
    if unsafe { sys::call_handler(&prev, sig, info, uc) } == Called::Default && active {
        st.run_default.store(true, Ordering::Release);
        wake_dumper();
    }
}
