//! Dumps on request: [`register`], [`unregister`] and the [`Register`]
//! builder.
//!
//! The signal handler does almost nothing: it notes the request (and the
//! sender's pid) in atomics and writes to an eventfd. A dumper thread,
//! started at the first `register()` with every signal blocked (but the
//! crash signals, so that a fault in it is reported), reads the eventfd
//! and writes the report in normal context, where it may take its time,
//! allocate and symbolize.
//!
//! How the handler is installed depends on what was there before:
//! - if the signal is already handled through `signal-hook-registry`
//!   (signal-hook, tokio), our action is added to the registry's list, so
//!   the other listeners keep getting the signal, and `unregister` removes
//!   only our action: the disposition stays exactly what it was;
//! - otherwise our own handler is installed with `SA_SIGINFO | SA_RESTART
//!   | SA_ONSTACK`, and the previous action is remembered exactly.
//!   `unregister` puts it back (`SIG_IGN` stays ignored). A library that
//!   installs itself on the signal later (signal-hook does) chains to our
//!   handler, so it keeps working in both orders.
//!
//! With `chain`, the previous action runs too: a previous handler is
//! called from our handler; a previous `SIG_DFL` is carried out after the
//! dump (for `SIGQUIT` that means the process then dumps core, as it would
//! have without us).
//!
//! # Safety
//!
//! [`request_handler`] runs in signal context: it only touches atomics, the
//! saved previous action (written before the handler is installed) and
//! `write(2)` on the eventfd.
#![allow(unsafe_code)]

use crate::error::Error;
use crate::racy::RacyCell;
use crate::report::DumpHeader;
use crate::signals::{self, FATAL_SIGNALS};
use crate::sys::{self, ErrnoGuard};
use crate::{dump, threads};
use core::ffi::{c_int, c_void};
use core::mem::MaybeUninit;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Signals 1..=64 have a state each.
const NSIG: usize = 65;

/// What the handler needs for one signal.
struct SigState {
    active: AtomicBool,
    chain: AtomicBool,
    pending: AtomicU32,
    pid: AtomicI32,
    run_default: AtomicBool,
    prev_valid: AtomicBool,
    prev: RacyCell<MaybeUninit<libc::sigaction>>,
}

static SIGS: [SigState; NSIG] = [const {
    SigState {
        active: AtomicBool::new(false),
        chain: AtomicBool::new(false),
        pending: AtomicU32::new(0),
        pid: AtomicI32::new(0),
        run_default: AtomicBool::new(false),
        prev_valid: AtomicBool::new(false),
        prev: RacyCell::new(MaybeUninit::uninit()),
    }
}; NSIG];

/// The eventfd that wakes the dumper thread, -1 until it runs.
static EVENT_FD: AtomicI32 = AtomicI32::new(-1);

enum Via {
    Direct,
    Registry(signal_hook_registry::SigId),
}

struct Entry {
    sig: c_int,
    fd: Option<Arc<OwnedFd>>,
    all_threads: bool,
    via: Via,
}

struct State {
    entries: Vec<Entry>,
    dumper_started: bool,
}

static STATE: Mutex<State> = Mutex::new(State {
    entries: Vec::new(),
    dumper_started: false,
});

fn lock() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Settings for a dump on request, applied with [`Register::install`].
///
/// ```no_run
/// let log = std::fs::File::create("/tmp/stacks.log")?;
/// faulthandler::Register::new(libc::SIGUSR1)
///     .fd(log.into())
///     .all_threads(true)
///     .chain(false)
///     .install()?;
/// // `kill -USR1 <pid>` now appends every thread's stack to the log.
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Register {
    sig: c_int,
    fd: Option<OwnedFd>,
    all_threads: bool,
    chain: bool,
}

impl Register {
    /// Dump on signal `signum`, to stderr, every thread, without chaining.
    ///
    /// ```
    /// let r = faulthandler::Register::new(libc::SIGUSR2);
    /// # drop(r);
    /// ```
    pub fn new(signum: i32) -> Self {
        Register {
            sig: signum,
            fd: None,
            all_threads: true,
            chain: false,
        }
    }

    /// Write the dumps to this fd instead of stderr. It is closed when the
    /// signal is unregistered or registered again with another fd.
    ///
    /// ```no_run
    /// let log = std::fs::File::create("/tmp/stacks.log")?;
    /// faulthandler::Register::new(libc::SIGUSR1).fd(log.into()).install()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fd(mut self, fd: OwnedFd) -> Self {
        self.fd = Some(fd);
        self
    }

    /// Dump every thread (the default), or none: with `false` the report
    /// has its header only, as the thread that receives a signal is
    /// arbitrary.
    ///
    /// ```
    /// let r = faulthandler::Register::new(libc::SIGUSR1).all_threads(true);
    /// # drop(r);
    /// ```
    pub fn all_threads(mut self, all: bool) -> Self {
        self.all_threads = all;
        self
    }

    /// Also run the action that was installed before (default `false`):
    /// a previous handler is called, a previous `SIG_DFL` is carried out
    /// after the dump. When the signal was already handled through
    /// `signal-hook-registry`, its listeners always run.
    ///
    /// ```
    /// let r = faulthandler::Register::new(libc::SIGQUIT).chain(true);
    /// # drop(r);
    /// ```
    pub fn chain(mut self, chain: bool) -> Self {
        self.chain = chain;
        self
    }

    /// Install it. Registering a signal again replaces its settings (the
    /// previous action remembered stays the one from before the first
    /// registration).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for a
    /// signal that cannot be used: not a signal number, a crash signal
    /// (`SIGSEGV`, `SIGBUS`, `SIGILL`, `SIGFPE`, `SIGABRT`: those are
    /// [`enable`](crate::enable)'s), `SIGKILL`, `SIGSTOP`, or the
    /// real-time signal faulthandler uses internally to collect stacks.
    /// [`ErrorKind::Os`](crate::ErrorKind::Os) when a system call fails.
    ///
    /// ```
    /// faulthandler::Register::new(libc::SIGUSR2).chain(false).install()?;
    /// # faulthandler::unregister(libc::SIGUSR2)?;
    /// # Ok::<(), faulthandler::Error>(())
    /// ```
    pub fn install(self) -> Result<(), Error> {
        let sig = self.sig;
        check_signal(sig)?;
        dump::prepare()?;
        if threads::signal() == Some(sig) {
            return Err(Error::invalid(format!(
                "signal {sig} ({}) is the one faulthandler uses internally to collect stacks",
                name(sig)
            )));
        }
        let mut st = lock();
        if !st.dumper_started {
            start_dumper()?;
            st.dumper_started = true;
        }
        let state = sig_state(sig)?;
        if let Some(e) = st.entries.iter_mut().find(|e| e.sig == sig) {
            e.fd = self.fd.map(Arc::new);
            e.all_threads = self.all_threads;
            state.chain.store(self.chain, Ordering::Release);
            return Ok(());
        }
        let prev = query(sig);
        let registry = threads::registry_handler();
        let via = if registry != 0 && prev.sa_sigaction == registry {
            state.chain.store(self.chain, Ordering::Release);
            state.active.store(true, Ordering::Release);
            // SAFETY: the action only touches atomics and writes to the
            // eventfd, which is async-signal-safe.
            let id = unsafe {
                signal_hook_registry::register_sigaction(sig, move |info| note_request(sig, info))
            }
            .map_err(|e| {
                state.active.store(false, Ordering::Release);
                Error::with_io("registering with signal-hook-registry", e)
            })?;
            Via::Registry(id)
        } else {
            // SAFETY: our handler is not installed for `sig` (checked
            // above: the current action is `prev`), so nobody reads the
            // slot while we write it.
            unsafe { state.prev.get_unsynchronized().write(prev) };
            state.prev_valid.store(true, Ordering::Release);
            state.chain.store(self.chain, Ordering::Release);
            state.active.store(true, Ordering::Release);
            // SAFETY: an all-zero sigaction is a valid value to fill in.
            let mut act: libc::sigaction = unsafe { core::mem::zeroed() };
            act.sa_sigaction = request_handler as *const () as usize;
            act.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART | libc::SA_ONSTACK;
            // SAFETY: emptying a sigset we own.
            unsafe { libc::sigemptyset(&mut act.sa_mask) };
            // SAFETY: `act` is fully initialised.
            if unsafe { libc::sigaction(sig, &act, core::ptr::null_mut()) } != 0 {
                state.active.store(false, Ordering::Release);
                return Err(Error::os("sigaction"));
            }
            Via::Direct
        };
        st.entries.push(Entry {
            sig,
            fd: self.fd.map(Arc::new),
            all_threads: self.all_threads,
            via,
        });
        Ok(())
    }
}

/// Dump every thread's stack to stderr whenever the process receives
/// `signum`, and go on running. The report starts with `Dump requested by
/// signal N (SIGNAME) from pid P`. See [`Register`] for the other settings.
///
/// # Errors
///
/// See [`Register::install`].
///
/// ```
/// faulthandler::register(libc::SIGUSR1)?;
/// // `kill -USR1 <pid>` now prints every thread's stack.
/// # faulthandler::unregister(libc::SIGUSR1)?;
/// # Ok::<(), faulthandler::Error>(())
/// ```
pub fn register(signum: i32) -> Result<(), Error> {
    Register::new(signum).install()
}

/// Stop dumping on `signum` and put back the action that was installed
/// before [`register`], exactly (a signal that was ignored is ignored
/// again). Returns whether it was registered.
///
/// When a library installed its own handler over ours after `register()`
/// (signal-hook does, and chains to ours), that handler is left in place,
/// and ours then only forwards to the action from before.
///
/// # Errors
///
/// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for a number
/// that is not a signal; [`ErrorKind::Os`](crate::ErrorKind::Os) when the
/// previous action cannot be put back.
///
/// ```
/// faulthandler::register(libc::SIGUSR1)?;
/// assert!(faulthandler::unregister(libc::SIGUSR1)?);
/// assert!(!faulthandler::unregister(libc::SIGUSR1)?);
/// # Ok::<(), faulthandler::Error>(())
/// ```
pub fn unregister(signum: i32) -> Result<bool, Error> {
    let state = sig_state(signum)?;
    let mut st = lock();
    let Some(pos) = st.entries.iter().position(|e| e.sig == signum) else {
        return Ok(false);
    };
    let entry = st.entries.remove(pos);
    state.active.store(false, Ordering::Release);
    match entry.via {
        Via::Registry(id) => {
            signal_hook_registry::unregister(id);
        }
        Via::Direct => {
            let cur = query(signum);
            if cur.sa_sigaction == request_handler as *const () as usize {
                // SAFETY: written before our handler was installed.
                let prev = unsafe { *state.prev.get_unsynchronized().assume_init_ref() };
                // SAFETY: `prev` is an action the kernel gave us.
                if unsafe { libc::sigaction(signum, &prev, core::ptr::null_mut()) } != 0 {
                    return Err(Error::os("sigaction"));
                }
            }
        }
    }
    Ok(true)
}

fn name(sig: c_int) -> String {
    let mut b = crate::fmt::Buf::<32>::new();
    signals::write_name(&mut b, sig);
    String::from_utf8_lossy(b.as_bytes()).into_owned()
}

fn check_signal(sig: c_int) -> Result<(), Error> {
    if sig < 1 || sig > libc::SIGRTMAX() || sig as usize >= NSIG {
        return Err(Error::invalid(format!("{sig} is not a signal number")));
    }
    if FATAL_SIGNALS.contains(&sig) {
        return Err(Error::invalid(format!(
            "signal {sig} ({}) is a crash signal; faulthandler::enable() reports those",
            name(sig)
        )));
    }
    if sig == libc::SIGKILL || sig == libc::SIGSTOP {
        return Err(Error::invalid(format!(
            "signal {sig} ({}) cannot be caught",
            name(sig)
        )));
    }
    Ok(())
}

fn sig_state(sig: c_int) -> Result<&'static SigState, Error> {
    usize::try_from(sig)
        .ok()
        .filter(|&s| s >= 1)
        .and_then(|s| SIGS.get(s))
        .ok_or_else(|| Error::invalid(format!("{sig} is not a signal number")))
}

fn query(sig: c_int) -> libc::sigaction {
    // SAFETY: an all-zero sigaction is a valid value to overwrite.
    let mut cur: libc::sigaction = unsafe { core::mem::zeroed() };
    // SAFETY: a null new action only queries.
    unsafe { libc::sigaction(sig, core::ptr::null(), &mut cur) };
    cur
}

/// Async-signal-safe. Note a request and wake the dumper.
fn note_request(sig: c_int, info: &libc::siginfo_t) {
    let Some(st) = usize::try_from(sig).ok().and_then(|s| SIGS.get(s)) else {
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

fn wake_dumper() {
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
    let Some(st) = usize::try_from(sig).ok().and_then(|s| SIGS.get(s)) else {
        return;
    };
    let active = st.active.load(Ordering::Acquire);
    if active && !info.is_null() {
        // SAFETY: the kernel passes a valid siginfo.
        note_request(sig, unsafe { &*info });
    }
    if active && !st.chain.load(Ordering::Acquire) {
        return;
    }
    // Chain, or (unregistered, but somebody installed over us and chains
    // here) behave as the previous action would have.
    if !st.prev_valid.load(Ordering::Acquire) {
        return;
    }
    // SAFETY: written before our handler was installed (flag checked).
    let prev = unsafe { *st.prev.get_unsynchronized().assume_init_ref() };
    let h = prev.sa_sigaction;
    if h == libc::SIG_IGN {
    } else if h == libc::SIG_DFL {
        if active {
            st.run_default.store(true, Ordering::Release);
            wake_dumper();
        }
    } else {
        sys::call_handler(&prev, sig, info, uc);
    }
}

fn start_dumper() -> Result<(), Error> {
    // SAFETY: eventfd takes plain integers.
    let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if efd < 0 {
        return Err(Error::os("eventfd"));
    }
    EVENT_FD.store(efd, Ordering::Release);
    threads::spawn_internal("fh-dumper", 0, move || {
        loop {
            let mut v: u64 = 0;
            // SAFETY: reading 8 bytes into a local.
            let n = unsafe { libc::read(efd, (&mut v as *mut u64).cast(), 8) };
            if n != 8 {
                if sys::errno() == libc::EINTR {
                    continue;
                }
                return;
            }
            serve_requests();
        }
    })
}

fn serve_requests() {
    for (sig, st) in SIGS.iter().enumerate() {
        let sig = sig as c_int;
        let n = st.pending.swap(0, Ordering::AcqRel);
        if n > 0 {
            let target = {
                let s = lock();
                s.entries
                    .iter()
                    .find(|e| e.sig == sig)
                    .map(|e| (e.fd.clone(), e.all_threads))
            };
            if let Some((fd, all)) = target {
                let raw = fd.as_ref().map_or(libc::STDERR_FILENO, |f| f.as_raw_fd());
                let pid = st.pid.load(Ordering::Relaxed);
                let _ = dump::write_dump(raw, DumpHeader::Request { sig, pid }, None, all);
            }
        }
        if st.run_default.swap(false, Ordering::AcqRel) {
            // The previous action was SIG_DFL and `chain` asked for it:
            // carry it out now, as it would have happened without us.
            let _ = unregister(sig);
            // SAFETY: plain calls with integer arguments. Every signal is
            // blocked on this thread, so another thread takes it.
            unsafe {
                libc::signal(sig, libc::SIG_DFL);
                libc::kill(sys::getpid(), sig);
            }
        }
    }
}
