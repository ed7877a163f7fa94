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
    /// The thread that took the last request.
    pub tid: AtomicI32,
    /// The previous action was SIG_DFL and `chain` asked for it: the
    /// dumper carries it out.
    pub run_default: AtomicBool,
    /// Where its dumps go (-1: stderr), and whether they show every
    /// thread: copies of the registration, for a dump written by the
    /// handler itself (see [`note_request`]).
    pub fd: AtomicI32,
    pub all_threads: AtomicBool,
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
        tid: AtomicI32::new(0),
        run_default: AtomicBool::new(false),
        fd: AtomicI32::new(-1),
        all_threads: AtomicBool::new(true),
        program_handler: AtomicBool::new(false),
        prev_valid: AtomicBool::new(false),
        prev: RacyCell::new(Action::ZERO),
    }
}; NSIG];

/// The eventfd that wakes the dumper thread, -1 until it runs.
pub(crate) static EVENT_FD: AtomicI32 = AtomicI32::new(-1);
/// The process the dumper thread runs in (0 until it runs). A child that
/// `fork()` made has no dumper: its requests are served by the handler.
pub(crate) static DUMPER_PID: AtomicI32 = AtomicI32::new(0);

/// Threads inside [`request_handler`] (or [`note_request`]) right now:
/// the dumper waits, a bounded time, until they are out before it
/// collects, so that no stack shows our handler, the handler it chains
/// to, or the signal trampoline.
pub(crate) static IN_HANDLER: AtomicU32 = AtomicU32::new(0);

/// Counts a thread in [`IN_HANDLER`] for as long as it lives.
struct InHandler;

impl InHandler {
    fn enter() -> InHandler {
        IN_HANDLER.fetch_add(1, Ordering::AcqRel);
        InHandler
    }
}

impl Drop for InHandler {
    fn drop(&mut self) {
        IN_HANDLER.fetch_sub(1, Ordering::AcqRel);
    }
}

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
/// the handler needs a few hundred bytes, and runs on the thread's own
/// stack. The stack collector's signal is blocked while it runs: a
/// collection that asks this thread meanwhile gets its answer once the
/// handler has returned (the signal is delivered as `sigreturn` restores
/// the mask), from the interrupted code, so the stack shows neither our
/// handler nor the trampoline.
pub(crate) fn action() -> Action {
    let mut act = Action::handler(request_handler, libc::SA_RESTART, &[]);
    if let Some(collector) = super::collector::signal() {
        act.also_block(collector);
    }
    act
}

/// Whether `act` is our handler.
pub(crate) fn is_ours(act: &Action) -> bool {
    act.is(request_handler)
}

/// Note a request and wake the dumper (also called through
/// signal-hook-registry, with a null `uc`). In a process without the
/// dumper thread (a forked child), write the dump here and now instead.
pub(crate) fn note_request(sig: c_int, info: &libc::siginfo_t, uc: *mut c_void) {
    let _in = InHandler::enter();
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
    if !dumper_here() {
        let fd = match st.fd.load(Ordering::Acquire) {
            -1 => libc::STDERR_FILENO,
            fd => fd,
        };
        super::own_dump::dump_here(sig, pid, fd, st.all_threads.load(Ordering::Acquire), uc);
        return;
    }
    st.pid.store(pid, Ordering::Relaxed);
    st.tid.store(sys::gettid(), Ordering::Relaxed);
    st.pending.fetch_add(1, Ordering::AcqRel);
    wake_dumper();
}

/// Whether the dumper thread runs in this process.
fn dumper_here() -> bool {
    let pid = DUMPER_PID.load(Ordering::Acquire);
    pid == 0 || pid == sys::getpid()
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
    let _in = InHandler::enter();
    let Some(st) = state(sig) else {
        return;
    };
    let active = st.active.load(Ordering::Acquire);
    if active && !info.is_null() {
        // SAFETY: the kernel passes a valid siginfo.
        note_request(sig, unsafe { &*info }, uc);
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
        if dumper_here() {
            st.run_default.store(true, Ordering::Release);
            wake_dumper();
        } else {
            // No dumper to carry the default action out after the dump:
            // the dump is written already; do it now.
            let _ = sys::set_action(sig, &Action::default_action());
            sys::requeue_to_self(sig, info);
        }
    }
}
