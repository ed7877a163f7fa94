//! Async-signal-safe. The signal table: which signals are fatal, with
//! each one's name, whether it has a fault address, what its `si_code`
//! values mean, and the action it had before ours; plus the names of every
//! other signal.
//!
//! Like CPython's `faulthandler_handlers[]` and folly's `kFatalSignals[]`,
//! one table drives the fatal signals: installation, chaining and the
//! report all read [`FATAL`].
//!
//! # Safety
//!
//! A saved previous action is written only while our handler is not
//! installed for that signal and its `valid` flag is clear (see
//! [`Fatal::save_previous`]); readers check the flag first (Acquire).
#![allow(unsafe_code)]

use crate::runtime::racy::RacyCell;
use crate::runtime::sys::{self, Action};
use core::ffi::c_int;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};

/// One fatal signal.
pub(crate) struct Fatal {
    /// Its number.
    pub sig: c_int,
    /// Its name, as reports spell it.
    pub name: &'static str,
    /// Whether the kernel gives a fault address in `si_addr`.
    pub has_address: bool,
    /// `si_code` values: (code, meaning, name).
    pub codes: &'static [(c_int, &'static str, &'static str)],
    prev: RacyCell<Action>,
    /// The action from before our first install, while our handler stays
    /// in someone else's chain (see [`Fatal::save_previous`]).
    base: RacyCell<Action>,
    prev_valid: AtomicBool,
    /// Set when `disable()` found another handler installed over ours:
    /// ours stays in their chain, so the next install keeps `base`.
    displaced: AtomicBool,
    /// Set when the program's handler, installed with `SA_RESETHAND`, was
    /// run once: the program's action is `SIG_DFL` from then on.
    reset: AtomicBool,
    /// The action from before ours is Rust std's stack-overflow handler
    /// (see `fatal::note_rust_std`).
    rust_std: AtomicBool,
    /// Taken by [`Fatal::set_program_view`]'s writers.
    view_lock: AtomicBool,
}

impl Fatal {
    const fn new(
        sig: c_int,
        name: &'static str,
        has_address: bool,
        codes: &'static [(c_int, &'static str, &'static str)],
    ) -> Fatal {
        Fatal {
            sig,
            name,
            has_address,
            codes,
            prev: RacyCell::new(Action::ZERO),
            base: RacyCell::new(Action::ZERO),
            prev_valid: AtomicBool::new(false),
            displaced: AtomicBool::new(false),
            reset: AtomicBool::new(false),
            rust_std: AtomicBool::new(false),
            view_lock: AtomicBool::new(false),
        }
    }

    /// The action this signal had before ours, once saved.
    pub(crate) fn previous(&self) -> Option<Action> {
        if !self.prev_valid.load(Ordering::Acquire) {
            return None;
        }
        if self.reset.load(Ordering::Acquire) {
            return Some(Action::default_action());
        }
        // SAFETY: the slot is written only while the flag is clear (see
        // `save_previous`), and we saw it set.
        Some(unsafe { *self.prev.get_unsynchronized() })
    }

    /// The preload library's interposed `sigaction` set the program's
    /// own action to `act`: it is what our handler runs first and chains
    /// to, and what the program reads back. May run in a signal handler
    /// (a program's handler that resets its action); a writer that finds
    /// another writer busy waits a bounded time, then writes anyway.
    pub(crate) fn set_program_view(&self, act: Action) {
        let mut spins = 0u32;
        while self
            .view_lock
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
            && spins < 1_000_000
        {
            spins += 1;
            core::hint::spin_loop();
        }
        self.prev_valid.store(false, Ordering::Release);
        // SAFETY: the flag is clear, so readers skip the slots; writers
        // take `view_lock` (bounded, see above).
        unsafe {
            *self.prev.get_unsynchronized() = act;
            *self.base.get_unsynchronized() = act;
        }
        self.reset.store(false, Ordering::Release);
        self.rust_std.store(false, Ordering::Release);
        self.prev_valid.store(true, Ordering::Release);
        self.view_lock.store(false, Ordering::Release);
    }

    /// Whether the action from before ours is Rust std's stack-overflow
    /// handler.
    pub(crate) fn is_rust_std(&self) -> bool {
        self.rust_std.load(Ordering::Acquire)
    }

    /// Mark (or unmark) the action from before ours as Rust std's.
    pub(crate) fn set_rust_std(&self, yes: bool) {
        self.rust_std.store(yes, Ordering::Release);
    }

    /// The program's handler (`SA_RESETHAND`) runs now: from now on its
    /// action is `SIG_DFL`, as the kernel would have made it.
    pub(crate) fn reset_hand(&self) {
        self.reset.store(true, Ordering::Release);
    }

    /// The action from before our first install: what a chain that
    /// reaches our handler from below ends in. The same as
    /// [`Fatal::previous`] unless we were installed again over a handler
    /// that chains to ours.
    pub(crate) fn base(&self) -> Action {
        if !self.prev_valid.load(Ordering::Acquire) {
            return Action::default_action();
        }
        if self.reset.load(Ordering::Acquire) {
            return Action::default_action();
        }
        // SAFETY: as in `previous`.
        unsafe { *self.base.get_unsynchronized() }
    }

    /// Remember `prev` as the action from before ours. Normal context,
    /// under the install lock, while our handler is not installed for this
    /// signal: the flag is cleared first, so no reader uses the slots
    /// while they change.
    ///
    /// When our handler was displaced (someone installed over it and it
    /// could not be put back), it is still in their chain: `prev` becomes
    /// theirs, and `base` keeps the action from before our first install,
    /// so that their handler calling ours ends there instead of looping
    /// between the two.
    pub(crate) fn save_previous(&self, prev: Action) {
        let keep_base =
            self.prev_valid.load(Ordering::Acquire) && self.displaced.swap(false, Ordering::AcqRel);
        self.prev_valid.store(false, Ordering::Release);
        self.reset.store(false, Ordering::Release);
        // SAFETY: the flag is clear, so no reader touches the slots, and
        // only the install-lock holder writes them.
        unsafe {
            *self.prev.get_unsynchronized() = prev;
            if !keep_base {
                *self.base.get_unsynchronized() = prev;
            }
        }
        self.prev_valid.store(true, Ordering::Release);
    }

    /// Note whether `disable()` left our handler in someone else's chain.
    pub(crate) fn set_displaced(&self, displaced: bool) {
        self.displaced.store(displaced, Ordering::Release);
    }

    /// The meaning and name of `si_code` `code` for this signal.
    pub(crate) fn describe(&self, code: c_int) -> (&'static str, &'static str) {
        self.codes
            .iter()
            .find(|c| c.0 == code)
            .map_or(("unknown fault code", "?"), |c| (c.1, c.2))
    }
}

/// The fatal signals, in the order they are installed.
pub(crate) static FATAL: [Fatal; 5] = [
    Fatal::new(
        libc::SIGSEGV,
        "SIGSEGV",
        true,
        &[
            (1, "address not mapped to object", "SEGV_MAPERR"),
            (2, "invalid permissions for mapped object", "SEGV_ACCERR"),
            (3, "failed address bound checks", "SEGV_BNDERR"),
            (4, "access denied by protection keys", "SEGV_PKUERR"),
            (8, "memory tag check failed", "SEGV_MTESERR"),
            (10, "control protection fault", "SEGV_CPERR"),
        ],
    ),
    Fatal::new(
        libc::SIGBUS,
        "SIGBUS",
        true,
        &[
            (1, "invalid address alignment", "BUS_ADRALN"),
            (2, "nonexistent physical address", "BUS_ADRERR"),
            (3, "object-specific hardware error", "BUS_OBJERR"),
            (4, "hardware memory error consumed", "BUS_MCEERR_AR"),
            (5, "hardware memory error detected", "BUS_MCEERR_AO"),
        ],
    ),
    Fatal::new(
        libc::SIGILL,
        "SIGILL",
        true,
        &[
            (1, "illegal opcode", "ILL_ILLOPC"),
            (2, "illegal operand", "ILL_ILLOPN"),
            (3, "illegal addressing mode", "ILL_ILLADR"),
            (4, "illegal trap", "ILL_ILLTRP"),
            (5, "privileged opcode", "ILL_PRVOPC"),
            (6, "privileged register", "ILL_PRVREG"),
            (7, "coprocessor error", "ILL_COPROC"),
            (8, "internal stack error", "ILL_BADSTK"),
        ],
    ),
    Fatal::new(
        libc::SIGFPE,
        "SIGFPE",
        true,
        &[
            (1, "integer divide by zero", "FPE_INTDIV"),
            (2, "integer overflow", "FPE_INTOVF"),
            (3, "floating-point divide by zero", "FPE_FLTDIV"),
            (4, "floating-point overflow", "FPE_FLTOVF"),
            (5, "floating-point underflow", "FPE_FLTUND"),
            (6, "floating-point inexact result", "FPE_FLTRES"),
            (7, "invalid floating-point operation", "FPE_FLTINV"),
            (8, "subscript out of range", "FPE_FLTSUB"),
        ],
    ),
    Fatal::new(libc::SIGABRT, "SIGABRT", false, &[]),
];

/// The process id our state belongs to: set at `enable()` and in every
/// child that `fork()` makes (through a `pthread_atfork` handler). A
/// process whose pid differs shares our memory without being us: a child
/// of `vfork()` (or of a raw `clone` with `CLONE_VM`), which must leave
/// everything as it found it, since the parent resumes with it.
static PROCESS: AtomicI32 = AtomicI32::new(0);

/// Record the calling process as the owner of our state. Normal context
/// (`enable()`), or the child side of `fork()`.
pub(crate) fn note_process() {
    PROCESS.store(sys::getpid(), Ordering::Release);
}

/// Whether `pid` is the calling process's: the recorded owner (no system
/// call), or else what the kernel says (a process whose record is stale,
/// a raw `clone` child).
pub(crate) fn is_own_pid(pid: i32) -> bool {
    (pid != 0 && pid == PROCESS.load(Ordering::Acquire)) || pid == sys::getpid()
}

/// Whether we run in a process that shares our memory but is not the one
/// it belongs to (see [`PROCESS`]).
pub(crate) fn in_borrowed_memory() -> bool {
    let owner = PROCESS.load(Ordering::Acquire);
    owner != 0 && owner != sys::getpid()
}

/// Whether the crash handlers are installed and should report.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Threads that entered the fatal handler, as `tid << 8 | signal` (0:
/// free): a collection names them "crashed too" rather than "blocks the
/// dump signal" (the handler's mask blocks it). Entries are never cleared:
/// in a process that survives a fault (its own handler recovered), a later
/// thread that reuses such a tid and masks the signal is still said to have
/// crashed. The table is full after 32 crashing threads; later ones read as
/// blocking the signal, as before.
static CRASHED: [AtomicU64; 32] = [const { AtomicU64::new(0) }; 32];

/// Note that thread `tid` entered the fatal handler with `sig`.
pub(crate) fn note_crashed(tid: i32, sig: c_int) {
    let v = (u64::from(tid as u32) << 8) | u64::from(sig as u8);
    for slot in &CRASHED {
        if slot
            .compare_exchange(0, v, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            return;
        }
    }
}

/// The signal thread `tid` crashed with, if it entered the fatal handler.
pub(crate) fn crashed_with(tid: i32) -> Option<c_int> {
    CRASHED.iter().find_map(|slot| {
        let v = slot.load(Ordering::Acquire);
        (v != 0 && (v >> 8) as u32 == tid as u32).then_some((v & 0xff) as c_int)
    })
}

/// Set when the preload library's interposer keeps the program's view of
/// the crash signals: the kernel always has our handler.
static INTERPOSED: AtomicBool = AtomicBool::new(false);

/// Whether the preload library's interposer keeps the program's view.
pub(crate) fn interposed() -> bool {
    INTERPOSED.load(Ordering::Acquire)
}

/// The preload library's interposer keeps the program's view from now on.
pub(crate) fn set_interposed() {
    INTERPOSED.store(true, Ordering::Release);
}

/// Whether the crash handlers are installed and should report.
pub(crate) fn enabled() -> bool {
    ENABLED.load(Ordering::Acquire)
}

/// Mark the crash handlers installed (or not).
pub(crate) fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Release);
}

/// The entry for `sig`, if it is fatal.
pub(crate) fn fatal(sig: c_int) -> Option<&'static Fatal> {
    FATAL.iter().find(|f| f.sig == sig)
}

/// Whether `sig` may be a dump-on-request signal: a signal number that is
/// not a crash signal, `SIGKILL` or `SIGSTOP`.
pub(crate) fn check_dump_signal(sig: c_int) -> Result<(), &'static str> {
    if sig < 1 || sig > libc::SIGRTMAX() {
        return Err("is not a signal number");
    }
    if fatal(sig).is_some() {
        return Err("is a crash signal; faulthandler::enable() reports those");
    }
    if sig == libc::SIGKILL || sig == libc::SIGSTOP {
        return Err("cannot be caught");
    }
    Ok(())
}

/// The numbers of the fatal signals, in table order (for signal sets).
pub(crate) const FATAL_SIGNALS: [c_int; 5] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGILL,
    libc::SIGFPE,
    libc::SIGABRT,
];

/// The conventional name of a standard signal (`SIGSEGV`), or `None` for
/// real-time and unknown signals (see [`write_name`]).
pub(crate) fn name(sig: c_int) -> Option<&'static str> {
    if let Some(f) = fatal(sig) {
        return Some(f.name);
    }
    Some(match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSTKFLT => "SIGSTKFLT",
        libc::SIGCHLD => "SIGCHLD",
        libc::SIGCONT => "SIGCONT",
        libc::SIGSTOP => "SIGSTOP",
        libc::SIGTSTP => "SIGTSTP",
        libc::SIGTTIN => "SIGTTIN",
        libc::SIGTTOU => "SIGTTOU",
        libc::SIGURG => "SIGURG",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGVTALRM => "SIGVTALRM",
        libc::SIGPROF => "SIGPROF",
        libc::SIGWINCH => "SIGWINCH",
        libc::SIGIO => "SIGIO",
        libc::SIGPWR => "SIGPWR",
        libc::SIGSYS => "SIGSYS",
        _ => return None,
    })
}

/// Append the spelled-out name of any signal: `SIGSEGV`, or `SIGRTMIN+3`
/// for real-time signals, or `SIG?` when the number means nothing.
pub(crate) fn write_name<const N: usize>(out: &mut crate::runtime::fmt::Buf<N>, sig: c_int) {
    if let Some(n) = name(sig) {
        out.str(n);
        return;
    }
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    if (min..=max).contains(&sig) {
        out.str("SIGRTMIN+").dec((sig - min) as u64);
    } else {
        out.str("SIG?");
    }
}

/// Parse a signal given by name or number: `QUIT`, `SIGQUIT`, `sigusr1`,
/// `RTMIN+2`, `SIGRTMIN+2` or `3`. Allocation-free.
pub(crate) fn parse(spec: &str) -> Option<c_int> {
    let s = spec.trim();
    if let Ok(n) = s.parse::<c_int>() {
        return (1..=libc::SIGRTMAX()).contains(&n).then_some(n);
    }
    let b = s.as_bytes();
    let bare = match b.get(..3) {
        Some(p) if p.eq_ignore_ascii_case(b"SIG") => b.get(3..).unwrap_or(&[]),
        _ => b,
    };
    if bare.eq_ignore_ascii_case(b"RTMIN") {
        return Some(libc::SIGRTMIN());
    }
    if let Some(p) = bare.get(..6).filter(|p| p.eq_ignore_ascii_case(b"RTMIN+")) {
        let _ = p;
        let off = core::str::from_utf8(bare.get(6..)?)
            .ok()?
            .parse::<c_int>()
            .ok()?;
        let n = libc::SIGRTMIN().checked_add(off)?;
        return (off >= 0 && n <= libc::SIGRTMAX()).then_some(n);
    }
    (1..libc::SIGRTMIN()).find(|&n| {
        name(n).is_some_and(|full| {
            full.as_bytes().get(3..) == Some(bare) || {
                full.as_bytes()
                    .get(3..)
                    .is_some_and(|f| f.eq_ignore_ascii_case(bare))
            }
        })
    })
}

/// What a siginfo says about where a signal came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The kernel raised it for an instruction (`si_code > 0`): a real fault.
    /// Carries the meaning of the code and its symbolic name.
    Fault {
        desc: &'static str,
        code_name: &'static str,
    },
    /// Sent by a process: kill, tgkill, raise, sigqueue (`si_code <= 0`).
    Sent { pid: i32, uid: u32 },
    /// Sent by the crashing thread to itself with `tgkill`, as `abort()`
    /// and `raise()` do (`SI_TKILL` from our own pid, and the thread's
    /// registers still hold that very call; see the fatal handler).
    RaisedHere,
    /// Raised by the kernel itself (`SI_KERNEL`), e.g. a general protection
    /// fault on a non-canonical address; there is no useful address.
    Kernel,
}

/// Classify a signal's origin from its number and `si_code`.
///
/// `pid` and `uid` are the siginfo's sender fields, which are only
/// meaningful for sent signals.
pub(crate) fn origin(sig: c_int, code: c_int, pid: i32, uid: u32) -> Origin {
    if code == libc::SI_KERNEL {
        return Origin::Kernel;
    }
    if code <= 0 {
        return Origin::Sent { pid, uid };
    }
    let (desc, code_name) = fatal(sig).map_or(("unknown fault code", "?"), |f| f.describe(code));
    Origin::Fault { desc, code_name }
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
    use crate::runtime::fmt::Buf;

    #[test]
    fn names() {
        assert_eq!(name(libc::SIGSEGV), Some("SIGSEGV"));
        assert_eq!(name(libc::SIGABRT), Some("SIGABRT"));
        let mut b = Buf::<32>::new();
        write_name(&mut b, libc::SIGRTMIN() + 3);
        assert_eq!(b.as_bytes(), b"SIGRTMIN+3");
        b.clear();
        write_name(&mut b, 200);
        assert_eq!(b.as_bytes(), b"SIG?");
    }

    #[test]
    fn parsing() {
        assert_eq!(parse("QUIT"), Some(libc::SIGQUIT));
        assert_eq!(parse("SIGUSR2"), Some(libc::SIGUSR2));
        assert_eq!(parse("usr1"), Some(libc::SIGUSR1));
        assert_eq!(parse(" 10 "), Some(10));
        assert_eq!(parse("RTMIN+2"), Some(libc::SIGRTMIN() + 2));
        assert_eq!(parse("SIGRTMIN+99"), None);
        assert_eq!(parse("BOGUS"), None);
        assert_eq!(parse("0"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin(libc::SIGSEGV, 1, 0, 0),
            Origin::Fault {
                desc: "address not mapped to object",
                code_name: "SEGV_MAPERR"
            }
        );
        assert_eq!(
            origin(libc::SIGFPE, 1, 0, 0),
            Origin::Fault {
                desc: "integer divide by zero",
                code_name: "FPE_INTDIV"
            }
        );
        assert_eq!(
            origin(libc::SIGABRT, libc::SI_TKILL, 42, 7),
            Origin::Sent { pid: 42, uid: 7 }
        );
        assert_eq!(origin(libc::SIGSEGV, libc::SI_KERNEL, 0, 0), Origin::Kernel);
        assert!(FATAL_SIGNALS.iter().all(|&s| fatal(s).is_some()));
        assert!(FATAL
            .iter()
            .zip(FATAL_SIGNALS)
            .all(|(f, s)| f.sig == s && name(s) == Some(f.name)));
        assert!(fatal(libc::SIGQUIT).is_none());
        assert!(check_dump_signal(libc::SIGUSR1).is_ok());
        assert!(check_dump_signal(libc::SIGSEGV).is_err());
        assert!(check_dump_signal(libc::SIGKILL).is_err());
        assert!(check_dump_signal(0).is_err());
    }
}
