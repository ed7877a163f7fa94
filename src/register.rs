//! Dumps on request: [`register`], [`unregister`] and the [`Register`]
//! builder.
//!
//! Normal context. The signal handler (`signal::request`) does almost
//! nothing: it notes the request (and the sender's pid) in atomics and
//! writes to an eventfd. A dumper thread,
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
#![allow(unsafe_code)]

use crate::dump;
use crate::error::Error;
use crate::report::DumpHeader;
use crate::runtime::sys::{self, Action};
use crate::settings;
use crate::setup::helpers::{self, Helper};
use crate::signal::collector as threads;
use crate::signal::request;
use core::ffi::c_int;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

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

    /// Dump every thread (the default), or with `false` only the thread
    /// that took the signal, as CPython dumps the current thread (the
    /// kernel picks that thread for a signal sent to the process; `raise`
    /// and `pthread_kill` choose it). Its block is headed `Thread TID`.
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
        let state = request::state(sig)
            .ok_or_else(|| Error::invalid(format!("{sig} is not a signal number")))?;
        let raw_fd = self.fd.as_ref().map_or(-1, |f| f.as_raw_fd());
        state.fd.store(raw_fd, Ordering::Release);
        state.all_threads.store(self.all_threads, Ordering::Release);
        if let Some(e) = st.entries.iter_mut().find(|e| e.sig == sig) {
            e.fd = self.fd.map(Arc::new);
            e.all_threads = self.all_threads;
            state.chain.store(self.chain, Ordering::Release);
            return Ok(());
        }
        let prev = sys::query_action(sig);
        let registry = threads::registry_handler();
        let via = if registry != 0 && prev.handler_addr() == registry {
            state.chain.store(self.chain, Ordering::Release);
            state.active.store(true, Ordering::Release);
            // SAFETY: the action only touches atomics and writes to the
            // eventfd, which is async-signal-safe.
            let id = unsafe {
                signal_hook_registry::register_sigaction(sig, move |info| {
                    request::note_request(sig, info, core::ptr::null_mut())
                })
            }
            .map_err(|e| {
                state.active.store(false, Ordering::Release);
                Error::with_io("registering with signal-hook-registry", e)
            })?;
            Via::Registry(id)
        } else {
            // Our handler is not installed for `sig` (the current action
            // is `prev`), so nobody reads the slot while it changes.
            state.save_previous(prev);
            state.chain.store(self.chain, Ordering::Release);
            state.active.store(true, Ordering::Release);
            if let Err(e) = sys::set_action(sig, &request::action()) {
                state.active.store(false, Ordering::Release);
                return Err(Error::from_raw_os("sigaction", e));
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
    let state = request::state(signum)
        .ok_or_else(|| Error::invalid(format!("{signum} is not a signal number")))?;
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
            if request::is_ours(&sys::query_action(signum)) {
                if let Some(prev) = state.previous() {
                    sys::set_action(signum, &prev)
                        .map_err(|e| Error::from_raw_os("sigaction", e))?;
                }
            }
        }
    }
    Ok(true)
}

fn name(sig: c_int) -> String {
    let mut b = crate::runtime::fmt::Buf::<32>::new();
    crate::runtime::signals::write_name(&mut b, sig);
    String::from_utf8_lossy(b.as_bytes()).into_owned()
}

fn check_signal(sig: c_int) -> Result<(), Error> {
    crate::signal::check_dump_signal(sig).map_err(|why| {
        if sig < 1 || sig > libc::SIGRTMAX() {
            Error::invalid(format!("{sig} {why}"))
        } else {
            Error::invalid(format!("signal {sig} ({}) {why}", name(sig)))
        }
    })
}

fn start_dumper() -> Result<(), Error> {
    // SAFETY: eventfd takes plain integers.
    let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if efd < 0 {
        return Err(Error::os("eventfd"));
    }
    request::EVENT_FD.store(efd, Ordering::Release);
    request::DUMPER_PID.store(sys::getpid(), Ordering::Release);
    helpers::spawn_internal(Helper::Dumper, move || {
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

/// Wait until no thread is inside our request handler (or the handler it
/// chains to), at most the collection deadline: a thread walked while it
/// is in there would show those frames. (The collector signal is blocked
/// in the handler, so a thread that is still there answers late rather
/// than from inside.)
fn wait_for_handlers() {
    let deadline = sys::monotonic_ms().saturating_add(settings::thread_timeout_ms());
    while request::IN_HANDLER.load(Ordering::Acquire) != 0 && sys::monotonic_ms() < deadline {
        sys::sleep_ms(1);
    }
}

fn serve_requests() {
    for (sig, st) in request::states() {
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
                wait_for_handlers();
                let (raw, copy) = match &fd {
                    Some(f) => (f.as_raw_fd(), -1),
                    None => dump::default_destinations(),
                };
                let pid = st.pid.load(Ordering::Relaxed);
                // Without all_threads: the thread that took the signal,
                // as CPython dumps the current thread.
                let only = st.tid.load(Ordering::Relaxed);
                let header = DumpHeader::Request { sig, pid };
                let _ = dump::write_dump(raw, copy, header, None, all, only);
            }
        }
        if st.run_default.swap(false, Ordering::AcqRel) {
            // The previous action was SIG_DFL and `chain` asked for it:
            // carry it out now, as it would have happened without us.
            let _ = unregister(sig);
            let _ = sys::set_action(sig, &Action::default_action());
            // SAFETY: kill takes plain integers. Every signal is blocked
            // on this thread, so another thread takes it.
            unsafe { libc::kill(sys::getpid(), sig) };
        }
    }
}
